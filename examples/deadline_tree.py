"""A context-deadline tree: one request's deadline bounds every call it makes.

A handler serves a request with a deadline by calling several backends at
once, each under a per-call timeout derived from the request's context
(gc.with_timeout(request_ctx, per_call)).  A child's deadline is never later
than its parent's, so a slow backend is cut off by whichever comes first:
its own timeout, or the request's deadline.  The handler answers with what
arrived in time.  Inside a testing bubble the backends' latencies and the
deadlines all pass in virtual time, exactly.

Go:
    ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
    defer cancel()
    for _, b := range backends {
        go func() {
            cctx, cancel := context.WithTimeout(ctx, perCall)
            defer cancel()
            results <- b.Call(cctx)
        }()
    }
"""
from typing import Dict, Union

import pygochan as gc

Outcome = Union[str, BaseException]


def call_backend(ctx: gc.Context, name: str, latency: float) -> str:
    """A backend that answers after `latency` seconds, unless ctx ends first."""
    gc.sleep(latency, ctx=ctx)
    return f"{name}: ok"


def handle(request_ctx: gc.Context, latencies: Dict[str, float],
           per_call: float) -> Dict[str, Outcome]:
    """Call every backend at once; each outcome is its answer or its error."""
    outcomes: Dict[str, Outcome] = {}

    def one(name: str, latency: float) -> None:
        with gc.with_timeout(request_ctx, per_call) as ctx:
            try:
                outcomes[name] = call_backend(ctx, name, latency)
            except gc.ContextError as exc:
                outcomes[name] = exc

    with gc.WaitGroup() as wg:
        for name, latency in latencies.items():
            wg.go(one, name, latency)
    return outcomes


def main() -> None:
    latencies = {"cache": 0.05, "db": 2.0, "search": 30.0}
    with gc.testing.bubble() as b:
        # the request's deadline (3 s) comes before search's own timeout (5 s)
        start = b.now()
        with gc.with_timeout(gc.background(), 3.0) as request:
            outcomes = handle(request, latencies, per_call=5.0)
        assert b.now() - start == 3.0
        assert outcomes["cache"] == "cache: ok" and outcomes["db"] == "db: ok"
        assert isinstance(outcomes["search"], gc.DeadlineExceeded)

        # a generous request: search's own 5 s timeout cuts it off
        start = b.now()
        with gc.with_timeout(gc.background(), 60.0) as request:
            outcomes = handle(request, latencies, per_call=5.0)
            assert request.err() is None
        assert b.now() - start == 5.0
        assert isinstance(outcomes["search"], gc.DeadlineExceeded)

        # the caller gives up: every call ends at once
        request, cancel = gc.with_cancel(gc.background())
        gc.after_func(1.0, cancel)
        start = b.now()
        outcomes = handle(request, latencies, per_call=5.0)
        assert b.now() - start == 1.0
        assert outcomes["cache"] == "cache: ok"
        assert isinstance(outcomes["db"], gc.Canceled)
        assert isinstance(outcomes["search"], gc.Canceled)
    print("deadline tree:", ", ".join(f"{k}={v!r}" for k, v in sorted(outcomes.items())))


if __name__ == "__main__":
    main()
