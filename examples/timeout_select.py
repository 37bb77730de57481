"""A search with a timeout: take the answer if it comes in time.

Go:
    select {
    case r := <-result: use(r)
    case <-time.After(100 * time.Millisecond): give up
    }
"""
import threading
import time

import pygochan as gc


def search(query: str, delay: float) -> "gc.Channel[str]":
    # Capacity 1, so the searcher never blocks (and leaks) if nobody waits.
    result: "gc.Channel[str]" = gc.Channel(1)

    def run() -> None:
        time.sleep(delay)
        result.send(f"result for {query!r}")

    threading.Thread(target=run, daemon=True).start()
    return result


def main() -> None:
    fast = gc.select(gc.recv(search("fast", 0.01)), timeout=1.0)
    assert fast.value == "result for 'fast'"
    print("fast search:", fast.value)
    try:
        gc.select(gc.recv(search("slow", 2.0)), timeout=0.1)
        raise AssertionError("the slow search should have timed out")
    except TimeoutError:
        print("slow search: timed out after 0.1 s")


if __name__ == "__main__":
    main()
