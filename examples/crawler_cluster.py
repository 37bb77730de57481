"""A crawler whose CPU-heavy parse stage runs on a Dask cluster.

Fetcher threads take URLs from a frontier channel and hand pages over a
channel; the coordinator sends each page to the cluster to be parsed, keeps
at most WINDOW parses in flight (a nil case stops it taking pages while the
window is full), and feeds the links the cluster found back into the
frontier.  The cluster's futures come back into the same select as the
pages: each future's done-callback sends it on a channel.

One context shuts everything down: Ctrl-C (signal_context), the deadline,
or a parse failure cancels it; the fetchers see ctx.done(), and the parses
the cluster has not started are cancelled there.  Channels stay in this
process: the cluster only ever sees parse(url, html) and its result.

Without the `cluster` extra (pip install 'pygochan[cluster]') the same
program runs its parse stage on a local ProcessPoolExecutor.

Go (the shape; Go has no cluster executor):
    g, ctx := errgroup.WithContext(ctx)
    for i := 0; i < fetchers; i++ { g.Go(func() error { return fetchLoop(ctx, frontier, pages) }) }
    for outstanding > 0 {
        var in <-chan Page
        if len(inFlight) < window { in = pages }
        select {
        case p := <-in:        submit(parse, p)
        case r := <-parsed:    record(r); enqueue(r.Links)
        case <-ctx.Done():     return ctx.Err()
        }
    }
"""
import concurrent.futures as cf
import hashlib
import re
import time
from collections import deque
from typing import Any, Dict, Iterator, List, Set, Tuple

import pygochan as gc

PAGES = 48
WINDOW = 6
FETCHERS = 4
LINK = re.compile(r'href="(page/\d+)"')


def links_of(n: int) -> List[int]:
    return [(3 * n + 1) % PAGES, (n * n + 7) % PAGES, (n + PAGES // 2) % PAGES]


def fetch(url: str) -> str:
    """A stand-in for an HTTP GET: a little I/O wait, then the page."""
    time.sleep(0.002)
    n = int(url.split("/")[1])
    anchors = " ".join(f'<a href="page/{k}">page {k}</a>' for k in links_of(n))
    return f"<html><body><p>{'lorem ipsum ' * (n + 1)}</p>{anchors}</body></html>"


def parse(url: str, html: str) -> Tuple[str, List[str], str]:
    """The CPU-heavy stage, run on the cluster: links and a content digest."""
    digest = hashlib.sha256(html.encode())
    for _ in range(2000):
        digest = hashlib.sha256(digest.digest())
    return url, LINK.findall(html), digest.hexdigest()[:12]


class StopCrawl(Exception):
    """Raised by crawl() itself when it has parsed enough pages."""


def fetch_loop(frontier: "gc.Channel[str]", pages: "gc.Channel[Tuple[str, str]]", ctx: gc.Context) -> None:
    for url in frontier:
        pages.send((url, fetch(url)), ctx=ctx)


def crawl(executor: Any, seed: str, ctx: gc.Context, stop_after: int = PAGES) -> Dict[str, str]:
    """Crawl from seed; return {url: digest}.  Stops early (raising
    ctx.err()) when ctx is done; stop_after cancels the crawl itself."""
    frontier: "gc.Channel[str]" = gc.Channel(gc.UNBOUNDED)
    pages: "gc.Channel[Tuple[str, str]]" = gc.Channel()
    parsed: "gc.Channel[cf.Future[Tuple[str, List[str], str]]]" = gc.Channel(gc.UNBOUNDED)
    digests: Dict[str, str] = {}
    in_flight: Set[Any] = set()
    seen = {seed}
    with gc.ErrGroup(ctx) as fetchers:
        for _ in range(FETCHERS):
            fetchers.go(fetch_loop, frontier, pages, fetchers.ctx)
        frontier.send(seed)
        outstanding = 1  # URLs in the frontier, being fetched or parsed
        try:
            while outstanding:
                accepting = pages if len(in_flight) < WINDOW else None
                index, value, _ = gc.select(gc.recv(accepting), gc.recv(parsed), ctx=fetchers.ctx)
                if index == 0:
                    url, html = value
                    fut = executor.submit(parse, url, html)
                    in_flight.add(fut)
                    fut.add_done_callback(parsed.send)  # never blocks: unbounded
                    continue
                in_flight.discard(value)
                url, links, digest = value.result()  # a parse failure raises here
                digests[url] = digest
                outstanding -= 1
                if len(digests) == stop_after:
                    raise StopCrawl(len(digests))
                for link in links:
                    if link not in seen:
                        seen.add(link)
                        frontier.send(link)
                        outstanding += 1
        finally:
            frontier.close()  # the fetchers' loops end
            for fut in in_flight:
                fut.cancel()  # parses not started never run
    return digests


def reachable(seed: int) -> Set[str]:
    seen, todo = {seed}, deque([seed])
    while todo:
        for k in links_of(todo.popleft()):
            if k not in seen:
                seen.add(k)
                todo.append(k)
    return {f"page/{n}" for n in seen}


def executors() -> Iterator[Tuple[str, Any]]:
    try:
        import distributed
    except ImportError:
        print("distributed is not installed (pip install 'pygochan[cluster]'): "
              "the parse stage runs on a local ProcessPoolExecutor")
        with cf.ProcessPoolExecutor(2) as pool:
            yield "a local ProcessPoolExecutor", pool
        return
    # Dask's constructors carry no annotations: call them through Any, so that
    # mypy --strict passes wherever it runs, with or without this project's
    # config (which excludes them from no-untyped-call).
    dask: Any = distributed
    with dask.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                           dashboard_address=None, worker_dashboard_address=None) as cluster, \
            dask.Client(cluster) as client:
        yield "a Dask LocalCluster with 2 worker processes", client.get_executor(pure=False)


def main() -> None:
    for where, executor in executors():
        # One context for the whole program: Ctrl-C or a minute, whichever first.
        with gc.signal_context(gc.background()) as interrupted, \
                gc.with_timeout(interrupted, 60.0) as ctx:
            digests = crawl(executor, "page/0", ctx)
            assert set(digests) == reachable(0), sorted(reachable(0) - set(digests))
            assert digests["page/0"] == parse("page/0", fetch("page/0"))[2]

            # A crawl that stops itself part way: everything still shuts down.
            try:
                crawl(executor, "page/0", ctx, stop_after=5)
                raise AssertionError("the crawl did not stop")
            except StopCrawl:
                pass
        print(f"crawled {len(digests)} pages, parsed on {where}; a crawl stopped after 5 pages shut down cleanly")


if __name__ == "__main__":
    main()
