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
    ChannelStats,
    Context,
    ContextError,
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
    sleep,
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
    with_deadline_cause,
    with_timeout,
    with_timeout_cause,
)
from ._debug import (
    BlockedWait,
    Deadlock,
    blocked,
    dump_blocked,
    dump_on_signal,
    set_deadlock_detection,
)
from ._directions import RecvOnlyChannel, SendOnlyChannel
from ._once import Once, once_func, once_value
from ._semaphore import Semaphore
from ._singleflight import Singleflight
from ._after_func import AfterFuncTimer, after_func
from ._waitgroup import WaitGroup
from ._futures import Future
from ._pool import Pool
from ._report import Bottleneck, Report, install_html_reprs as _install_html_reprs, report
from ._errgroup import ErrGroup
from ._executors import as_completed, done, map_on
from ._aio import aselect, release_loop
from ._trace import trace
from ._aio import stats as aio_stats
from . import testing  # gc.testing: virtual time and leak checks (docs/testing.md)
_install_html_reprs()
from . import _fork  # noqa: F401  imported last: its at-fork hook runs after the others

__version__ = "0.1.0"

__all__ = [
    "UNBOUNDED",
    "AfterFuncTimer",
    "BlockedWait",
    "Bottleneck",
    "CancelPair",
    "Canceled",
    "Channel",
    "ChannelClosed",
    "ChannelStats",
    "Context",
    "ContextError",
    "DeadlineExceeded",
    "Deadlock",
    "ErrGroup",
    "Future",
    "Once",
    "Pool",
    "RecvOnlyChannel",
    "Report",
    "Semaphore",
    "SendOnlyChannel",
    "Singleflight",
    "WaitGroup",
    "SignalReceived",
    "RecvCase",
    "SelectResult",
    "SendCase",
    "Ticker",
    "Timer",
    "after",
    "as_completed",
    "after_func",
    "aio_stats",
    "aselect",
    "background",
    "blocked",
    "cause",
    "done",
    "map_on",
    "dump_blocked",
    "dump_on_signal",
    "once_func",
    "once_value",
    "recv",
    "release_loop",
    "report",
    "select",
    "send",
    "set_deadlock_detection",
    "signal_context",
    "sleep",
    "testing",
    "trace",
    "with_cancel",
    "with_cancel_cause",
    "with_deadline",
    "with_deadline_cause",
    "with_timeout",
    "with_timeout_cause",
    "with_value",
    "without_cancel",
]
