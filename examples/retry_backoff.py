"""A retry loop with exponential back-off, bounded by a context.

Call an operation until it succeeds: after each failure wait a back-off that
doubles up to a cap (with optional jitter), and give up after a number of
attempts or when the context is done.  The wait is gc.sleep(..., ctx=ctx),
so a canceled request stops waiting at once instead of sleeping out its
back-off -- and, inside a testing bubble, the back-offs pass in virtual time:
the test below waits out minutes of back-off in milliseconds.

Go:
    for attempt := 0; ; attempt++ {
        if err = op(); err == nil { return nil }
        select {
        case <-time.After(backoff):
        case <-ctx.Done(): return ctx.Err()
        }
        backoff = min(2*backoff, maxBackoff)
    }
"""
import random
from typing import Callable, List, Optional, TypeVar

import pygochan as gc

T = TypeVar("T")


class GaveUp(Exception):
    """Every attempt failed; the last failure is the cause."""


def retry(
    op: Callable[[], T],
    *,
    attempts: int = 5,
    first_backoff: float = 0.1,
    max_backoff: float = 10.0,
    ctx: Optional[gc.Context] = None,
    jitter: Optional[Callable[[float], float]] = None,
) -> T:
    """op() until it returns; raise GaveUp after `attempts` failures, or the
    context's error as soon as it is done (even in the middle of a back-off)."""
    backoff = first_backoff
    for attempt in range(1, attempts + 1):
        if ctx is not None and ctx.err() is not None:
            raise ctx.err()  # type: ignore[misc]
        try:
            return op()
        except Exception as exc:
            if attempt == attempts:
                raise GaveUp(f"{attempts} attempts failed") from exc
        wait = jitter(backoff) if jitter is not None else backoff
        gc.sleep(wait, ctx=ctx)
        backoff = min(backoff * 2, max_backoff)
    raise AssertionError("unreachable")


def full_jitter(rng: random.Random) -> Callable[[float], float]:
    """AWS's "full jitter": a uniform wait between 0 and the back-off."""
    return lambda backoff: rng.uniform(0, backoff)


def main() -> None:
    failures_left = 6
    calls: List[float] = []

    def flaky() -> str:
        nonlocal failures_left
        calls.append(gc.testing.current().now())  # type: ignore[union-attr]
        if failures_left:
            failures_left -= 1
            raise ConnectionError("try again")
        return "ok"

    # In a bubble the back-offs (0.1 + 0.2 + ... + 3.2 s) pass in virtual time.
    with gc.testing.bubble() as b:
        start = b.now()
        assert retry(flaky, attempts=10) == "ok"
        waited = [round(t - start, 6) for t in calls]
        assert waited == [0, 0.1, 0.3, 0.7, 1.5, 3.1, 6.3], waited

        # a context deadline ends the loop in the middle of a back-off
        with gc.with_timeout(gc.background(), 5.0) as ctx:
            t0 = b.now()
            try:
                retry(lambda: 1 / 0, attempts=100, first_backoff=1.0, ctx=ctx)
                raise AssertionError("the deadline did not stop the retries")
            except gc.DeadlineExceeded:
                assert b.now() - t0 == 5.0  # not at the end of a back-off (7 s)
    print("retry: succeeded after 6 failures in", waited[-1], "virtual seconds")


if __name__ == "__main__":
    main()
