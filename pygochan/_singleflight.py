"""The rest of Go's toolkit: sync.Once and its Go 1.21 helpers, x/sync's
weighted semaphore and singleflight, time.AfterFunc, and the types of
channel direction views.

Everything that blocks waits on a pygochan channel, so it follows the
common rules (GIL released, ``timeout=``/``ctx=``, Ctrl-C, no effect when it
raises) and shows up in ``blocked()``.
"""

from __future__ import annotations

import functools
import threading
from typing import (
    Any,
    Callable,
    Dict,
    Generic,
    Iterator,
    Optional,
    Protocol,
    Tuple,
    TypeVar,
    Union,
)

from . import _core
from ._core import Channel, Context, background

__all__ = [
    "AfterFuncTimer",
    "Once",
    "RecvOnlyChannel",
    "Semaphore",
    "SendOnlyChannel",
    "Singleflight",
    "after_func",
    "once_func",
    "once_value",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)
R = TypeVar("R")


# ---- channel direction views -------------------------------------------------


class RecvOnlyChannel(Protocol[T_co]):
    """The type of ``ch.recv_only()`` (Go's ``<-chan T``): receiving only.

    A full ``Channel[T]`` is also a ``RecvOnlyChannel[T]``, as in Go::

        def consume(results: gc.RecvOnlyChannel[int]) -> int:
            return sum(results)
    """

    def recv(self, *, timeout: Optional[float] = None, ctx: Optional[Context] = None) -> T_co: ...
    def recv_ok(
        self, *, timeout: Optional[float] = None, ctx: Optional[Context] = None
    ) -> Union[Tuple[T_co, bool], Tuple[None, bool]]: ...
    def iter(self, *, ctx: Optional[Context] = None) -> Iterator[T_co]: ...
    def __iter__(self) -> Iterator[T_co]: ...
    def __len__(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def closed(self) -> bool: ...


class SendOnlyChannel(Protocol[T_contra]):
    """The type of ``ch.send_only()`` (Go's ``chan<- T``): sending and
    closing only::

        def produce(out: gc.SendOnlyChannel[int]) -> None:
            out.send(1)
            out.close()
    """

    def send(
        self, value: T_contra, *, timeout: Optional[float] = None, ctx: Optional[Context] = None
    ) -> None: ...
    def close(self) -> None: ...
    def __len__(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def closed(self) -> bool: ...


# ---- sync.Once ------------------------------------------------------------------


class Once:
    """Go's ``sync.Once``: ``do(fn)`` calls ``fn`` the first time only::

        setup = gc.Once()
        setup.do(load_config)     # runs load_config
        setup.do(load_config)     # does nothing

    Concurrent callers wait until the first call has returned.  A ``fn``
    that raises still counts as done (as a panic does in Go); its exception
    reaches the caller that ran it.  Calling ``do`` from inside ``fn`` is a
    ``RuntimeError`` (Go deadlocks there).
    """

    __slots__ = ("_done", "_lock", "_running_in")

    def __init__(self) -> None:
        self._done = False
        self._lock = threading.Lock()
        self._running_in: Optional[int] = None

    def do(self, fn: Callable[[], Any]) -> None:
        if self._done:
            return
        if self._running_in == threading.get_ident():
            raise RuntimeError("Once.do() called from inside its own function")
        with self._lock:
            if self._done:
                return
            self._running_in = threading.get_ident()
            try:
                fn()
            finally:
                self._running_in = None
                self._done = True

    @property
    def done(self) -> bool:
        """True once a ``do`` call has run its function."""
        return self._done

    def __repr__(self) -> str:
        return f"<pygochan.Once done={self._done}>"


def once_func(fn: Callable[[], Any]) -> Callable[[], None]:
    """Go 1.21's ``sync.OnceFunc``: a function that calls ``fn`` only the
    first time; if ``fn`` raised, every call raises that exception::

        @gc.once_func
        def init_logging() -> None: ...
    """
    call = once_value(fn)

    @functools.wraps(fn)
    def wrapper() -> None:
        call()

    return wrapper


def once_value(fn: Callable[[], R]) -> Callable[[], R]:
    """Go 1.21's ``sync.OnceValue``: call ``fn`` once and return its result
    to every caller (or raise its exception, every time)::

        @gc.once_value
        def settings() -> dict:
            return load_settings()
    """
    once = Once()
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:
            outcome.append((False, exc))
            raise

    @functools.wraps(fn)
    def wrapper() -> R:
        if not outcome:
            try:
                once.do(run)
            except BaseException:
                if not outcome:
                    raise
        ok, value = outcome[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    return wrapper


# ---- weighted semaphore (golang.org/x/sync/semaphore) ----------------------------


class Semaphore(_core._SemaphoreBase):
    """A weighted semaphore (``golang.org/x/sync/semaphore``)::

        sem = gc.Semaphore(4)             # at most 4 units held at once
        with sem:                          # acquire(1) ... release(1)
            fetch(url)
        sem.acquire(3, timeout=1.0)       # 3 units, or TimeoutError
        sem.release(3)

    Waiters are served in FIFO order: a large request at the head is not
    starved by smaller ones behind it.  ``acquire`` follows the common rules:
    ``timeout=``/``ctx=``, GIL released, Ctrl-C on the main thread, and when
    it raises it holds nothing.  A request larger than the size raises
    ``ValueError`` (in Go it would wait forever).
    """

    # acquire, try_acquire, release, __enter__ and __exit__ are C
    # (_core._SemaphoreBase): an acquire returns holding the units or raises
    # holding none, wherever a Ctrl-C lands.
    __slots__ = ()

    def __repr__(self) -> str:
        return f"<pygochan.Semaphore size={self._size} held={self._held} waiting={self._waiting}>"


# ---- singleflight (golang.org/x/sync/singleflight) ------------------------------


class _Call:
    __slots__ = ("done", "value", "error", "dups", "leader", "finished", "shared")

    def __init__(self) -> None:
        self.done: Channel[None] = Channel()  # closed when the call returns
        self.value: Any = None
        self.error: Optional[BaseException] = None
        self.dups = 0
        self.leader = False  # set when it is registered: it must finish
        self.finished = False
        self.shared = False


class Singleflight(Generic[T]):
    """Go's ``singleflight.Group``: concurrent ``do`` calls with the same key
    run ``fn`` once and all get its result::

        flights: gc.Singleflight[bytes] = gc.Singleflight()
        body, shared = flights.do(url, lambda: fetch(url))

    ``shared`` is True when the result went to more than one caller.  An
    exception from ``fn`` is raised in every caller.  The callers that wait
    for another's call take ``timeout=``/``ctx=`` (the call itself goes on).
    ``forget(key)`` makes the next ``do`` start a new call even while the
    current one runs.
    """

    __slots__ = ("_calls", "_lock")

    def __init__(self) -> None:
        self._calls: Dict[Any, _Call] = {}
        self._lock = threading.Lock()

    def do(
        self,
        key: Any,
        fn: Callable[[], T],
        *,
        timeout: Optional[float] = None,
        ctx: Optional[Context] = None,
    ) -> Tuple[T, bool]:
        # Registering a call and finishing it are bookkeeping that a Ctrl-C
        # must not cut in half (a registered call never finished would make
        # every later do() of the key wait forever), so both run with SIGINT
        # held off.  The finish is the try's last statement, and the finally
        # finishes a call an interrupt left unfinished: CPython 3.9 checks
        # for signals between a try's end and its finally, where no finish
        # placed only in the finally would run.
        mine = _Call()
        try:
            call = _core._holding_sigint(self._join, key, mine)
            if call is mine:
                try:
                    mine.value = fn()
                except BaseException as exc:
                    mine.error = exc
                _core._holding_sigint(self._finish, key, mine)
            else:
                call.done.recv_ok(timeout=timeout, ctx=ctx)
        finally:
            if mine.leader and not mine.finished:
                _core._holding_sigint(self._finish, key, mine)
        if call.error is not None:
            raise call.error
        return call.value, call is not mine or mine.shared

    def _join(self, key: Any, mine: _Call) -> _Call:
        with self._lock:
            call = self._calls.get(key)
            if call is None:
                self._calls[key] = mine
                mine.leader = True
                return mine
            call.dups += 1
            return call

    def _finish(self, key: Any, mine: _Call) -> None:
        with self._lock:
            if mine.finished:
                return
            mine.finished = True
            if self._calls.get(key) is mine:
                del self._calls[key]
            mine.shared = mine.dups > 0
        mine.done.close()

    def forget(self, key: Any) -> None:
        """Forget ``key``: a later ``do`` runs ``fn`` again, not sharing the
        call in flight."""
        with self._lock:
            self._calls.pop(key, None)

    def __repr__(self) -> str:
        return f"<pygochan.Singleflight in_flight={len(self._calls)}>"


# ---- time.AfterFunc ------------------------------------------------------------


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


def after_func(seconds: float, fn: Callable[[], Any]) -> AfterFuncTimer:
    """Go's ``time.AfterFunc``: run ``fn()`` in its own Python thread after
    ``seconds``; returns a timer with ``stop()`` and ``reset(seconds)``::

        t = gc.after_func(5.0, lambda: print("too slow"))
        do_work()
        t.stop()
    """
    return AfterFuncTimer(seconds, fn)
