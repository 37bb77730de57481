"""Go's ``time.AfterFunc``: a function run in its own thread after a delay,
with a timer to stop or reset it."""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from . import _core
from ._core import Context, DeadlineExceeded, background

__all__ = ["AfterFuncTimer", "after_func"]


class AfterFuncTimer:
    """What ``after_func`` returns: Go's ``*time.Timer`` made by AfterFunc."""

    __slots__ = ("_fn", "_lock", "_stop_fn", "_ctx", "__weakref__")

    def __init__(self, seconds: float, fn: Callable[[], Any]) -> None:
        if not callable(fn):
            raise TypeError(f"after_func() needs a callable, not {type(fn).__name__}")
        self._fn = fn
        self._lock = threading.Lock()
        self._stop_fn: Optional[Callable[[], bool]] = None
        self._ctx: Optional[Context] = None
        self._arm(seconds)

    def _arm(self, seconds: float) -> None:
        # A context whose deadline is the timer: its after_func machinery
        # already runs functions on a Python thread when the timer thread
        # expires it, so nothing Python runs on the timer thread.
        from ._context import _deadline_in

        deadline = _deadline_in(seconds)
        if seconds < 0:
            raise ValueError("seconds must be a non-negative number of seconds")
        # Registered and recorded with Ctrl-C held off: the timer never runs
        # a function it has no handle to stop.
        _core._holding_sigint(self._register, deadline)

    def _register(self, deadline: float) -> None:
        ctx = _core._new_context(background(), deadline)
        self._ctx = ctx
        if _core._bubble_current() is not None:
            self._stop_fn = _wait_in_bubble(ctx, self._fn)
        else:
            self._stop_fn = ctx.after_func(self._fn)

    def _disarm(self) -> bool:
        assert self._stop_fn is not None and self._ctx is not None
        stopped = self._stop_fn()
        self._ctx._cancel(None)  # frees its timer; fn is unregistered already
        return stopped

    def stop(self) -> bool:
        """Stop the timer: True if that prevented ``fn`` from running,
        False if it had already run (or started) or been stopped."""
        with self._lock:
            return self._disarm()

    def reset(self, seconds: float) -> bool:
        """Run ``fn`` ``seconds`` from now instead; True if the timer was
        still pending (its earlier run will not happen)."""
        with self._lock:
            from ._context import _deadline_in

            deadline = _deadline_in(seconds)
            if seconds < 0:
                raise ValueError("seconds must be a non-negative number of seconds")
            # no Ctrl-C between the two: a reset timer is never left stopped
            return _core._holding_sigint(self._rearm, deadline)

    def _rearm(self, deadline: float) -> bool:
        was_pending = self._disarm()
        self._register(deadline)
        return was_pending

    def __repr__(self) -> str:
        ctx = self._ctx
        state = "pending" if ctx is not None and ctx.err() is None else "fired or stopped"
        return f"<pygochan.AfterFuncTimer {state} fn={self._fn!r}>"


def _wait_in_bubble(ctx: Context, fn: Callable[[], Any]) -> Callable[[], bool]:
    """after_func on a testing bubble's thread: a thread of the bubble waits
    for the deadline (durably, on the virtual clock) and runs fn, so that fn
    runs at its virtual time before the clock moves on -- the process-wide
    runner thread may be outside the bubble.  Returns stop()."""
    lock = threading.Lock()
    claimed = [False]  # by the run or by stop(), whichever comes first

    def claim() -> bool:
        with lock:
            first = not claimed[0]
            claimed[0] = True
            return first

    def wait_and_run() -> None:
        ctx.wait()
        if isinstance(ctx.err(), DeadlineExceeded) and claim():
            fn()

    threading.Thread(target=wait_and_run, name="pygochan-after-func", daemon=True).start()
    return claim


def after_func(seconds: float, fn: Callable[[], Any]) -> AfterFuncTimer:
    """Go's ``time.AfterFunc``: run ``fn()`` in its own Python thread after
    ``seconds``; returns a timer with ``stop()`` and ``reset(seconds)``::

        t = gc.after_func(5.0, lambda: print("too slow"))
        do_work()
        t.stop()
    """
    return AfterFuncTimer(seconds, fn)
