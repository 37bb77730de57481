"""Two servers where either failing stops both (errgroup).

Each "server" loops until its context is done.  The flaky one fails after a
few requests; the ErrGroup cancels g.ctx with that error as the cause, the
healthy one sees ctx.done() and returns, and wait() raises the first error.

Go:
    g, ctx := errgroup.WithContext(ctx)
    g.Go(func() error { return serveHealthy(ctx) })
    g.Go(func() error { return serveFlaky(ctx) })
    err := g.Wait()
"""
from typing import List

import pygochan as gc


def serve_healthy(ctx: gc.Context, log: List[str]) -> None:
    ticks = gc.Ticker(0.005)
    try:
        while True:
            index, _, _ = gc.select(gc.recv(ticks.c), gc.recv(ctx.done()))
            if index == 1:
                log.append(f"healthy: stopping ({ctx.err()!r})")
                return
    finally:
        ticks.stop()


def serve_flaky(ctx: gc.Context, log: List[str]) -> None:
    for request in range(3):
        gc.after(0.005).recv(ctx=ctx)
        log.append(f"flaky: served request {request}")
    raise OSError("flaky: disk full")


def main() -> None:
    log: List[str] = []
    try:
        with gc.ErrGroup() as g:
            g.go(serve_healthy, g.ctx, log)
            g.go(serve_flaky, g.ctx, log)
    except OSError as err:
        log.append(f"wait() raised {err!r}")
        assert gc.cause(g.ctx) is err
    else:
        raise AssertionError("the failure was lost")
    assert log[-1].startswith("wait() raised OSError")
    assert any(line.startswith("healthy: stopping") for line in log)
    print("\n".join(log))


if __name__ == "__main__":
    main()
