"""``python -m pygochan``: a small, real pipeline, and what happened in it.

A producer feeds jobs into an unbuffered channel; N workers range over it and
send results on; the last worker to finish closes the results channel; the
main thread collects with a ``select`` that also wakes on a progress ticker
channel and gives up after a timeout.

    python -m pygochan --workers 4 --jobs 200

``python -m pygochan ps PID`` prints who waits on what in another process
(CPython 3.14+; see pygochan/_ps.py).
"""
import argparse
import collections
import hashlib
import random
import sys
import threading
import time
from typing import Optional, Sequence, Tuple

import pygochan as gc

Result = Tuple[int, int, str]  # (worker, job, digest)


def produce(jobs: "gc.Channel[int]", count: int) -> None:
    for n in range(count):
        jobs.send(n)
    jobs.close()  # workers' `for job in jobs` loops end once drained


def work(worker: int, jobs: "gc.Channel[int]", results: "gc.Channel[Result]",
         finished: "gc.Channel[int]") -> None:
    rng = random.Random(worker)
    for job in jobs:
        time.sleep(rng.uniform(0.001, 0.01))  # pretend I/O: the GIL is free
        digest = hashlib.sha256(str(job).encode()).hexdigest()[:8]
        results.send((worker, job, digest))
    finished.send(worker)


def close_when_all_finished(finished: "gc.Channel[int]", workers: int,
                            results: "gc.Channel[Result]") -> None:
    # Only the sender side may close: wait until every worker has stopped
    # sending, then close results so the collector's loop ends.
    for _ in range(workers):
        finished.recv()
    results.close()


def tick(ticks: "gc.Channel[float]", stop: "gc.Channel[None]", every: float) -> None:
    while True:
        index, _, _ = gc.select(gc.recv(stop), default=True)
        if index == 0:
            return
        time.sleep(every)
        # drop the tick if the collector has not taken the previous one
        gc.select(gc.send(ticks, time.monotonic()), default=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["ps"]:
        from . import _ps

        return _ps.main(arguments[1:])
    parser = argparse.ArgumentParser(
        prog="python -m pygochan", description=__doc__.splitlines()[0],
        epilog="python -m pygochan ps PID: who waits on what in another process (CPython 3.14+)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="give up if no result arrives for this long")
    args = parser.parse_args(arguments)

    jobs: "gc.Channel[int]" = gc.Channel()            # unbuffered: hand-off
    results: "gc.Channel[Result]" = gc.Channel(16)
    finished: "gc.Channel[int]" = gc.Channel(args.workers)
    ticks: "gc.Channel[float]" = gc.Channel(1)
    stop_ticker: "gc.Channel[None]" = gc.Channel()

    started = time.monotonic()
    threads = [threading.Thread(target=produce, args=(jobs, args.jobs))]
    threads += [threading.Thread(target=work, args=(w, jobs, results, finished))
                for w in range(args.workers)]
    threads.append(threading.Thread(target=close_when_all_finished,
                                    args=(finished, args.workers, results)))
    ticker = threading.Thread(target=tick, args=(ticks, stop_ticker, 0.25))
    for t in threads + [ticker]:
        t.start()

    print(f"pygochan {gc.__version__}: {args.jobs} jobs, {args.workers} workers")
    per_worker: "collections.Counter[int]" = collections.Counter()
    seen = set()
    while True:
        try:
            index, value, ok = gc.select(gc.recv(results), gc.recv(ticks),
                                         timeout=args.timeout)
        except TimeoutError:
            print(f"no result for {args.timeout} s: giving up", file=sys.stderr)
            return 1
        if index == 0:
            if not ok:  # closed and drained: every worker is done
                break
            worker, job, _digest = value
            per_worker[worker] += 1
            seen.add(job)
        else:
            print(f"  progress: {len(seen)}/{args.jobs} results after "
                  f"{value - started:.2f} s")
    stop_ticker.close()
    for t in threads + [ticker]:
        t.join()

    elapsed = time.monotonic() - started
    print(f"collected {len(seen)} results in {elapsed:.2f} s")
    for worker in sorted(per_worker):
        print(f"  worker {worker}: {per_worker[worker]} jobs")
    print(f"channels at the end: {results!r}")
    if seen != set(range(args.jobs)):
        print("some jobs were lost", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
