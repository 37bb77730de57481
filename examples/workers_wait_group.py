"""Fixed workers over a job channel; close results only after the WaitGroup.

N workers range over `jobs` and send to `results`.  `results` may be closed
only when no worker can send any more, i.e. after wg.wait(); and main must
be reading `results` while it waits, so the wait-then-close runs in its own
thread.

The version that deadlocks calls wg.wait() in main *before* reading the
unbuffered results: every worker blocks in results.send(), nobody reads, and
wg.wait() can never return.  Go reports "all goroutines are asleep"; so
does pygochan: without a timeout, that wg.wait() in the main thread raises
gc.Deadlock after about a second, listing who waits on what.  The check runs
only in the main thread's untimed waits and is off on the free-threaded
build; a wait elsewhere just waits, which is why every pygochan wait takes a
timeout and answers Ctrl-C.  Below, the mistake waits with a timeout, so the
program can show it and then recover on every build.

Go:
    for w := 0; w < 3; w++ { wg.Add(1); go worker(jobs, results, &wg) }
    go func() { wg.Wait(); close(results) }()
    for r := range results { ... }
"""
import threading
from typing import List

import pygochan as gc

WORKERS = 3


def worker(jobs: "gc.Channel[int]", results: "gc.Channel[int]") -> None:
    for n in jobs:
        results.send(n * n)


def feed(jobs: "gc.Channel[int]", count: int) -> None:
    for n in range(count):
        jobs.send(n)
    jobs.close()


def close_after(wg: gc.WaitGroup, results: "gc.Channel[int]") -> None:
    wg.wait()
    results.close()  # no worker can send any more


def correct(count: int) -> List[int]:
    jobs: "gc.Channel[int]" = gc.Channel()
    results: "gc.Channel[int]" = gc.Channel()
    wg = gc.WaitGroup()
    for _ in range(WORKERS):
        wg.go(worker, jobs, results)
    threading.Thread(target=feed, args=(jobs, count)).start()
    threading.Thread(target=close_after, args=(wg, results)).start()
    return sorted(results)  # ranges until closed


def deadlocking(count: int) -> str:
    jobs: "gc.Channel[int]" = gc.Channel()
    results: "gc.Channel[int]" = gc.Channel()
    wg = gc.WaitGroup()
    for _ in range(WORKERS):
        wg.go(worker, jobs, results)
    feeder = threading.Thread(target=feed, args=(jobs, count))
    feeder.start()
    try:
        wg.wait(timeout=0.2)  # the mistake: nobody is reading results
        outcome = "finished (impossible with an unbuffered results channel)"
    except TimeoutError:
        outcome = "stuck: every worker is blocked sending, main is blocked waiting"
    # Unstick it the right way round: read, and close after the WaitGroup.
    threading.Thread(target=close_after, args=(wg, results)).start()
    drained = sum(1 for _ in results)
    feeder.join()
    assert drained == count
    return outcome


def main() -> None:
    squares = correct(50)
    assert squares == sorted(n * n for n in range(50))
    outcome = deadlocking(20)
    assert outcome.startswith("stuck"), outcome
    print(f"correct: {len(squares)} results, results closed after the WaitGroup")
    print(f"wait-before-read: {outcome}")


if __name__ == "__main__":
    main()
