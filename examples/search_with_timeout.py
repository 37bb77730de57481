"""A search with a timeout: fan out to replicas, take the first answer,
give up at the deadline, and stop the losers.

Go:
    ctx, cancel := context.WithTimeout(ctx, 80*time.Millisecond)
    defer cancel()
    for _, r := range replicas { go func() { c <- r.Search(ctx, q) }() }
    select { case res := <-c: ...; case <-ctx.Done(): ... }
"""
import threading

import pygochan as gc


def replica(ctx: gc.Context, name: str, delay: float, out: "gc.Channel[str]") -> None:
    try:
        # the "work": wait delay seconds unless the context ends first
        gc.select(gc.recv(gc.after(delay)), ctx=ctx)
        out.send(f"{name} answered", ctx=ctx)
    except gc.Canceled:
        pass                                  # the search is over: stop quietly
    except gc.DeadlineExceeded:
        pass


def search(delays: "list[float]", timeout: float) -> str:
    with gc.with_timeout(gc.background(), timeout) as ctx:
        out: "gc.Channel[str]" = gc.Channel()
        threads = [threading.Thread(target=replica, args=(ctx, f"replica-{i}", d, out))
                   for i, d in enumerate(delays)]
        for t in threads:
            t.start()
        try:
            return out.recv(ctx=ctx)
        except gc.DeadlineExceeded:
            return "timed out"
    # leaving the with block cancels ctx, which stops the replicas still working


def main() -> None:
    fast = search([0.2, 0.01, 0.3], timeout=1.0)
    assert fast == "replica-1 answered", fast
    slow = search([0.5, 0.6], timeout=0.05)
    assert slow == "timed out", slow
    print(f"fast search: {fast}; slow search: {slow}")


if __name__ == "__main__":
    main()
