"""Futures, two ways.

Go has no future type: a function starts a goroutine and returns a channel
of capacity 1 the result will arrive on; the caller does other work and
receives when it needs the value.  `select` over several such channels takes
whichever finishes first.  pygochan also has gc.Future, a
concurrent.futures.Future whose waits take timeout= and ctx= and answer
Ctrl-C; Pool.submit returns one.

Go:
    func fetchAsync(url string) <-chan int {
        ch := make(chan int, 1)
        go func() { ch <- fetch(url) }()
        return ch
    }
    a, b := fetchAsync("a"), fetchAsync("b")
    select { case v := <-a: ...; case v := <-b: ...; case <-time.After(time.Second): ... }
"""
import threading
import time
from typing import Dict

import pygochan as gc

DELAYS: Dict[str, float] = {"fast mirror": 0.01, "slow mirror": 0.3}


def fetch(name: str) -> str:
    time.sleep(DELAYS.get(name, 0.0))
    return f"page from {name}"


def fetch_async(name: str) -> "gc.Channel[str]":
    result: "gc.Channel[str]" = gc.Channel(1)  # the sender never waits
    threading.Thread(target=lambda: result.send(fetch(name)), daemon=True).start()
    return result


def main() -> None:
    # Go's idiom: a channel is the future; select takes the first to finish.
    fast, slow = fetch_async("fast mirror"), fetch_async("slow mirror")
    index, page, _ = gc.select(gc.recv(fast), gc.recv(slow), timeout=5)
    assert (index, page) == (0, "page from fast mirror")
    assert slow.recv(timeout=5) == "page from slow mirror"  # still delivered

    # A bare gc.Future, settled by another thread.
    answer: "gc.Future[int]" = gc.Future()
    threading.Thread(target=lambda: answer.set_result(42)).start()
    assert answer.result(timeout=5) == 42

    # A Pool's futures, and a timeout that leaves the work running.
    with gc.Pool(max_workers=2) as pool:
        quick, lengthy = pool.submit(fetch, "fast mirror"), pool.submit(fetch, "slow mirror")
        assert quick.result(timeout=5) == "page from fast mirror"
        try:
            lengthy.result(timeout=0.001)
            waited = "no"
        except TimeoutError:
            waited = "timed out, still running"
        assert lengthy.result(timeout=5) == "page from slow mirror"
    print(f"first of two: {page!r}; bare future: {answer.result()}; pool future: {waited}, then done")


if __name__ == "__main__":
    main()
