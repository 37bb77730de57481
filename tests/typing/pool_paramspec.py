"""Checked by mypy --strict in CI, never run: each wrong call carries the
exact ``type: ignore`` its error needs, and --strict's warn_unused_ignores
fails the check if that error ever stops being reported."""
import pygochan as gc


def add(a: int, b: int) -> int:
    return a + b


def calls(pool: gc.Pool, wg: gc.WaitGroup, group: gc.ErrGroup) -> int:
    total: int = pool.submit(add, 1, 2).result()
    pool.submit(add, 1, "2")  # type: ignore[call-overload]
    pool.submit(add, 1)  # type: ignore[call-overload]
    pool.submit(add, 1, 2, submit_timeout=1.0)  # the blocking-submit options
    pool.submit(add, 1, 2, submit_ctx=gc.background())
    fut = pool.try_submit(add, 1, 2)
    pool.try_submit(add, "1", 2)  # type: ignore[arg-type]
    total += sum(pool.map(add, [1, 2], [3, 4], buffersize=2))
    pool.map(add, ["x"], [2])  # type: ignore[arg-type]
    wg.go(add, 1, 2)
    wg.go(add, 1, "2")  # type: ignore[arg-type]
    group.go(add, 1, 2)
    group.go(add, "1", 2)  # type: ignore[arg-type]
    group.try_go(add, 1)  # type: ignore[call-arg]
    return total + (fut.result() if fut else 0)
