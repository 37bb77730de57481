"""A crawler with an async fetch stage and a thread parse stage.

Fetching is I/O: many coroutines on one event loop await it.  Parsing is CPU
work: a few threads do it.  One channel joins the stages -- coroutines send
pages with `await pages.asend(...)`, threads receive with a plain
`for page in pages` -- and a second channel brings the links back to the
loop, where `async for` consumes them.  Closing each channel ends the stage
after it.

Go:
    for u := range urls { go func() { pages <- fetch(u) }() }
    for p := range pages { links <- parse(p) }
"""
import asyncio
import threading
from typing import Dict, List, Tuple

import pygochan as gc

SITE: Dict[str, List[str]] = {
    f"/page{i}": [f"/page{(i * 3 + k) % 40}" for k in range(3)] for i in range(40)
}


async def fetch(url: str) -> str:
    await asyncio.sleep(0.001)  # the network
    return " ".join(f'<a href="{link}">' for link in SITE[url])


def parse(html: str) -> List[str]:
    return [part.split('"')[1] for part in html.split() if part.startswith("href=")]


async def crawl(start: str, parsers: int = 3) -> int:
    pages: "gc.Channel[Tuple[str, str]]" = gc.Channel(16)
    links: "gc.Channel[Tuple[str, List[str]]]" = gc.Channel(16)

    def parse_stage() -> None:
        for url, html in pages:  # a thread: blocks, GIL released while waiting
            links.send((url, parse(html)))

    workers = [threading.Thread(target=parse_stage) for _ in range(parsers)]
    for w in workers:
        w.start()

    seen = {start}
    in_flight = 1

    async def fetch_one(url: str) -> None:
        await pages.asend((url, await fetch(url)))

    tasks = {asyncio.ensure_future(fetch_one(start))}
    async for url, found in links:
        in_flight -= 1
        for link in found:
            if link not in seen:
                seen.add(link)
                in_flight += 1
                tasks.add(asyncio.ensure_future(fetch_one(link)))
        if in_flight == 0:
            break
    await asyncio.gather(*tasks)
    pages.close()
    for w in workers:
        w.join()
    return len(seen)


def main() -> None:
    count = asyncio.run(crawl("/page0"))
    assert count == 40, count
    print(f"crawled {count} pages")


if __name__ == "__main__":
    main()
