"""Go's concurrency toolkit for Python threads, implemented in C.

    >>> import pygochan as gc
    >>> ch = gc.Channel(2)
    >>> ch.send("hello")
    >>> gc.select(gc.recv(ch), default=True)
    SelectResult(index=0, value='hello', ok=True)

Every blocking call releases the GIL, accepts ``timeout=``, answers Ctrl-C
within 100 ms on the main thread, and has no effect when it raises.
"""

from ._core import (
    UNBOUNDED,
    Canceled,
    Channel,
    ChannelClosed,
    Context,
    DeadlineExceeded,
    RecvCase,
    SelectResult,
    SendCase,
    Ticker,
    Timer,
    after,
    background,
    cause,
    recv,
    select,
    send,
    with_value,
    without_cancel,
)
from ._context import (
    CancelPair,
    SignalReceived,
    signal_context,
    with_cancel,
    with_cancel_cause,
    with_deadline,
    with_timeout,
)
from ._sync import ErrGroup, Future, Pool, WaitGroup
from ._aio import aselect, release_loop
from ._aio import stats as aio_stats

__version__ = "0.1.0"

import os as _os

if hasattr(_os, "register_at_fork"):
    # fork() keeps only the calling thread: it becomes the child's main
    # thread (for Ctrl-C), and pending timers need the timer thread back.
    from . import _core as _core_module

    def _after_fork_in_child() -> None:
        # threading has already made the forking thread the main thread
        _core_module._refresh_main_thread()
        _core_module._resume_timers_after_fork()

    _os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = [
    "UNBOUNDED",
    "CancelPair",
    "Canceled",
    "Channel",
    "ChannelClosed",
    "Context",
    "DeadlineExceeded",
    "ErrGroup",
    "Future",
    "Pool",
    "WaitGroup",
    "SignalReceived",
    "RecvCase",
    "SelectResult",
    "SendCase",
    "Ticker",
    "Timer",
    "after",
    "aio_stats",
    "aselect",
    "background",
    "cause",
    "recv",
    "release_loop",
    "select",
    "send",
    "signal_context",
    "with_cancel",
    "with_cancel_cause",
    "with_deadline",
    "with_timeout",
    "with_value",
    "without_cancel",
]
