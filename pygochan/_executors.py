"""Futures from any executor as channels: ``done``, ``as_completed``,
``map_on``, and the executor side of ``ErrGroup(executor=...)``.

A future here is anything with the ``concurrent.futures.Future`` protocol
that matters for waiting: ``add_done_callback(fn)`` (``fn(future)`` runs
once it settles), ``done()``, ``cancel()``, ``cancelled()``, ``result()``
and ``exception()``.  That covers every ``concurrent.futures.Future``
(``gc.Pool``, ``ThreadPoolExecutor``, ``ProcessPoolExecutor``,
``distributed.Client.get_executor()``) and ``distributed.Future`` itself.

Nothing here polls: a future's done-callback closes or feeds a channel,
and the waiting happens in the C core (GIL released, ``timeout=``/``ctx=``,
Ctrl-C).  A done-callback may run on whatever thread settles the future
(an executor's worker, Dask's event loop), so the callbacks below never
block and never cancel another future: cancelling a Dask future is itself
a blocking round trip to the scheduler.
"""

from __future__ import annotations

import collections
import concurrent.futures as _cf
import functools
import sys
import threading
import weakref
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Protocol,
    Tuple,
    TypeVar,
)

from . import _core
from ._directions import RecvOnlyChannel

if TYPE_CHECKING:
    from ._errgroup import ErrGroup

__all__ = ["FutureLike", "as_completed", "done", "map_on"]

_T = TypeVar("_T")
_R = TypeVar("_R")


class FutureLike(Protocol):
    """What ``done``, ``as_completed``, ``map_on`` and ``ErrGroup(executor=)``
    need from a future: the waiting half of ``concurrent.futures.Future``."""

    def add_done_callback(self, fn: Callable[[Any], Any], /) -> Any: ...
    def done(self) -> bool: ...
    def cancel(self) -> Any: ...
    def cancelled(self) -> bool: ...
    def result(self) -> Any: ...
    def exception(self) -> Any: ...


class SubmitsTasks(Protocol):
    """An executor: ``submit(fn, *args, **kwargs)`` returns a future.
    ``concurrent.futures.Executor`` and ``distributed.Client`` both are."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any: ...


def _check_future(fut: Any, what: str) -> None:
    asyncio = sys.modules.get("asyncio")  # not imported: fut is no asyncio future
    if asyncio is not None and asyncio.isfuture(fut) and not isinstance(fut, _cf.Future):
        # asyncio futures are not thread-safe: their callbacks belong to
        # their event loop, so a channel cannot be closed from them here.
        raise TypeError(f"{what}() needs a concurrent.futures.Future, not an asyncio future (await it instead)")
    if not callable(getattr(fut, "add_done_callback", None)) or not callable(getattr(fut, "done", None)):
        raise TypeError(f"{what}() needs a future (with add_done_callback and done), not {type(fut).__name__}")


# ---- done(fut) ---------------------------------------------------------

# One done-channel per future, so a select loop that calls done(fut) on
# every turn adds one callback to the future, not one per turn.  The
# channel never refers to its future (that would keep the key alive).
_done_channels: "weakref.WeakKeyDictionary[Any, RecvOnlyChannel[None]]" = weakref.WeakKeyDictionary()
_done_channels_lock = threading.Lock()


def _close_done_channel(channel: "_core.Channel[None]", _fut: Any) -> None:
    channel.close()


def done(fut: FutureLike) -> "RecvOnlyChannel[None]":
    """A channel closed when ``fut`` settles (result, exception or
    cancellation), so ``select`` waits on futures next to channels::

        fut = pool.submit(parse, page)
        idx, _, _ = gc.select(gc.recv(gc.done(fut)), gc.recv(ctx.done()), timeout=5)
        if idx == 0:
            tree = fut.result()

    ``fut`` is any ``concurrent.futures.Future`` (gc.Pool, ThreadPoolExecutor,
    ProcessPoolExecutor, ``distributed.Client.get_executor()``) or a
    ``distributed.Future``.  The future's done-callback closes the channel
    (no polling); for a future that is already done it is closed at once.
    Calling ``done`` again on the same future returns the same channel.

    The channel is a receive-only view (``send`` and ``close`` raise
    ``TypeError``): it never carries a value, like ``ctx.done()``.
    """
    _check_future(fut, "done")
    channel: "Optional[_core.Channel[None]]" = None
    try:
        with _done_channels_lock:
            view = _done_channels.get(fut)
            if view is None:
                channel = _core.Channel()
                view = _done_channels[fut] = channel.recv_only()
    except TypeError:  # not weak-referenceable: a channel of its own each time
        channel = _core.Channel()
        view = channel.recv_only()
    if channel is not None:
        if fut.done():
            channel.close()
        else:
            fut.add_done_callback(functools.partial(_close_done_channel, channel))
    return view


# ---- as_completed(futures) ------------------------------------------------


def as_completed(futures: Iterable[_T]) -> "_core.Channel[_T]":
    """A channel that receives each future of ``futures`` as it settles,
    in completion order, and is closed after the last one: the channel
    analogue of ``concurrent.futures.as_completed``::

        for fut in gc.as_completed(pool.submit(parse, p) for p in pages):
            trees.append(fut.result())        # raises what parse raised

    The futures themselves are delivered (a failed or cancelled one too),
    so the receiver decides what one failure means.  Duplicates are
    delivered once.  Being a channel, it mixes with others in ``select``;
    its buffer is unbounded (it holds at most the futures given), so no
    done-callback ever waits for the receiver.
    """
    unique: List[Any] = list(dict.fromkeys(futures))
    for fut in unique:
        _check_future(fut, "as_completed")
    settled: "_core.Channel[_T]" = _core.Channel(_core.UNBOUNDED)
    if not unique:
        settled.close()
        return settled
    remaining = [len(unique)]
    lock = threading.Lock()

    def on_settled(fut: Any) -> None:
        settled.send(fut)
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            settled.close()

    for fut in unique:
        fut.add_done_callback(on_settled)
    return settled


# ---- map_on(executor, fn, iterable) ----------------------------------------


def _raise_if_done(ctx: Optional[_core.Context]) -> None:
    if ctx is not None and ctx.err() is not None:
        # select raises ctx.err()'s type chained to the cause, as every
        # blocking call does; with no cases and default=True it only checks.
        _core.select(default=True, ctx=ctx)


def _remaining(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else max(0.0, deadline - _core._monotonic())


class _InFlight:
    """The futures a fan-out has submitted and not yet handed back.
    Cancelled as one when the fan-out ends early or its context is done
    (``after_func`` runs that on a thread of its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _futures
        self._futures: Dict[Any, None] = {}  # insertion-ordered set

    def add(self, fut: Any) -> None:
        with self._lock:
            self._futures[fut] = None

    def discard(self, fut: Any) -> None:
        with self._lock:
            self._futures.pop(fut, None)

    def cancel_all(self) -> None:
        # cancel() outside the lock: it runs done-callbacks, and a Dask
        # future's cancel waits for the scheduler.
        with self._lock:
            futures = list(self._futures)
        for fut in futures:
            fut.cancel()


def map_on(
    executor: SubmitsTasks,
    fn: Callable[..., _R],
    *iterables: Iterable[Any],
    window: int = 64,
    ordered: bool = True,
    timeout: Optional[float] = None,
    ctx: Optional[_core.Context] = None,
) -> Iterator[_R]:
    """``Pool.map`` on any executor, with at most ``window`` tasks in flight::

        executor = client.get_executor(pure=False)      # a Dask cluster
        for tree in gc.map_on(executor, parse, pages, window=8, ctx=ctx):
            ...

    Yields ``fn(*args)`` for args from ``zip(*iterables)``, in input order
    (``ordered=False``: as tasks complete).  Nothing is submitted until the
    iteration starts; each result taken lets one more task in, so an
    endless iterable works and the executor (or the cluster's scheduler)
    never holds more than ``window`` of these tasks.

    ``ctx`` done (or ``timeout``, for the whole iteration, passed) raises as
    every blocking call does and cancels the futures in flight, at once,
    even while the caller is busy with a result: tasks the executor has not
    started never run.  The first exception ``fn`` raises is raised from the
    iterator; leaving the loop early (``break``, an exception, Ctrl-C)
    cancels the rest too.  A running task cannot be stopped: a thread pool
    finishes it, Dask discards its result.
    """
    if not callable(getattr(executor, "submit", None)):
        raise TypeError(f"map_on() needs an executor (with submit), not {type(executor).__name__}")
    if not callable(fn):
        raise TypeError(f"map_on() needs a callable, not {type(fn).__name__}")
    if isinstance(window, bool) or not isinstance(window, int):
        raise TypeError(f"window must be an int, not {type(window).__name__}")
    if window < 1:
        raise ValueError("window must be >= 1")
    if ctx is not None and not isinstance(ctx, _core.Context):
        raise TypeError(f"ctx must be a Context, not {type(ctx).__name__}")
    deadline = None
    if timeout is not None:
        if timeout < 0:
            raise ValueError("timeout must be a non-negative number of seconds")
        deadline = _core._monotonic() + timeout
    return _map_on(executor, fn, zip(*iterables), window, ordered, deadline, ctx)


def _map_on(
    executor: SubmitsTasks,
    fn: Callable[..., _R],
    args_iter: Iterator[Tuple[Any, ...]],
    window: int,
    ordered: bool,
    deadline: Optional[float],
    ctx: Optional[_core.Context],
) -> Iterator[_R]:
    in_flight = _InFlight()
    order: "collections.deque[Any]" = collections.deque()  # ordered: submission order
    finished: "_core.Channel[Any]" = _core.Channel(_core.UNBOUNDED)  # unordered: completion order
    stop_cancelling = ctx.after_func(in_flight.cancel_all) if ctx is not None else None
    count = 0

    def submit_next() -> bool:
        args = next(args_iter, None)  # zip yields tuples, never None
        if args is None:
            return False
        _raise_if_done(ctx)
        fut = executor.submit(fn, *args)
        in_flight.add(fut)
        if ordered:
            order.append(fut)
        else:
            fut.add_done_callback(finished.send)
        return True

    try:
        while count < window and submit_next():
            count += 1
        while count:
            if ordered:
                fut = order.popleft()
                done(fut).recv_ok(timeout=_remaining(deadline), ctx=ctx)
            else:
                fut = finished.recv(timeout=_remaining(deadline), ctx=ctx)
            in_flight.discard(fut)
            count -= 1
            _raise_if_done(ctx)  # a cancelled future's CancelledError would hide why
            result = fut.result()
            del fut
            if submit_next():
                count += 1
            yield result
            del result
    finally:
        if stop_cancelling is not None:
            stop_cancelling()
        in_flight.cancel_all()


# ---- ErrGroup(executor=...) ------------------------------------------------


class GroupTasks:
    """The futures an ``ErrGroup(executor=...)`` has submitted and not
    seen settle.  When the group's context is done (the first failure, the
    parent's cancellation or deadline, the ``with`` body raising) the
    pending ones are cancelled: a task the executor has not started never
    runs.  A future settled by cancellation counts as finished; one
    cancelled while the group's context was not done is a failure
    (``concurrent.futures.CancelledError``)."""

    def __init__(self, executor: SubmitsTasks, ctx: _core.Context) -> None:
        if not callable(getattr(executor, "submit", None)):
            raise TypeError(f"executor must have submit(), not {type(executor).__name__}")
        self.executor = executor
        self._ctx = ctx
        self._pending = _InFlight()
        ctx.after_func(self._pending.cancel_all)

    def start(
        self,
        group: "ErrGroup",
        fn: Callable[..., Any],
        args: Tuple[Any, ...],
        kwargs: Dict[str, Any],
        slots: "Optional[_core.Channel[None]]",
    ) -> bool:
        """Submit ``fn(*args, **kwargs)`` for ``group``, counted by its
        WaitGroup and holding its limit slot (if any, taken already) until
        it settles; True.  Called with Ctrl-C held off (ErrGroup._start)."""
        group._wg.add(1)
        try:
            fut = self.executor.submit(fn, *args, **kwargs)
        except BaseException:
            self._release(group, slots)
            raise
        self._pending.add(fut)
        fut.add_done_callback(lambda f: self._settled(group, f, slots))
        # A cancellation that came before add() has already swept _pending.
        if self._ctx.err() is not None:
            fut.cancel()
        return True

    def _settled(self, group: "ErrGroup", fut: Any, slots: "Optional[_core.Channel[None]]") -> None:
        self._pending.discard(fut)
        try:
            if fut.cancelled():
                if self._ctx.err() is None:
                    group._fail(_cf.CancelledError(f"{fut!r} was cancelled outside the group"))
            else:
                error = fut.exception()
                if error is not None:
                    group._fail(error)
        finally:
            self._release(group, slots)

    @staticmethod
    def _release(group: "ErrGroup", slots: "Optional[_core.Channel[None]]") -> None:
        # mirrors the end of a thread task in ErrGroup._start: the slot goes
        # back to the channel it was taken from, even after a set_limit
        if slots is not None:
            slots.recv()
        group._wg.done()
