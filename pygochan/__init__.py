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
    Channel,
    ChannelClosed,
    RecvCase,
    SelectResult,
    SendCase,
    Ticker,
    Timer,
    after,
    recv,
    select,
    send,
)

__version__ = "0.1.0"

__all__ = [
    "UNBOUNDED",
    "Channel",
    "ChannelClosed",
    "RecvCase",
    "SelectResult",
    "SendCase",
    "Ticker",
    "Timer",
    "after",
    "recv",
    "select",
    "send",
]
