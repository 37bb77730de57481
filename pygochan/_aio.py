"""Channels, select and the rest of pygochan awaited from asyncio.

One channel serves threads and any number of event loops at once::

    async def consumer(ch):
        async for job in ch:           # ends when ch is closed and drained
            await handle(job)

    v = await ch.arecv(timeout=1.0)    # the thread semantics, awaited
    idx, value, ok = await gc.aselect(gc.recv(results), gc.send(jobs, job))

How a wake-up reaches a loop: a parked operation's waiter names the loop's
hub (``_core._Hub``).  Whoever completes it -- a thread's send, the timer
thread, a context's deadline, a select on another loop -- pushes it onto
the hub in C, without the GIL, and writes the hub's eventfd once per burst.
The loop watches that descriptor with one ``add_reader`` and drains the
batch on its own thread.  No Python runs in the waker.

Cancellation: ``task.cancel()`` is the operation's abort, run inside
``cancel()`` itself.  If it wins, the await raises ``CancelledError`` and
nothing happened: nothing done after ``cancel()`` returned, by any thread,
completes it.  If the hand-off committed before ``cancel()`` was called,
the await returns the committed result and the cancellation is delivered at
the task's next suspension point or next pygochan call -- unless whoever
cancelled has withdrawn it meanwhile (``asyncio.timeout``, ``wait_for``,
``TaskGroup``; seen through ``Task.cancelling()`` on 3.11+).
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any, Dict, Optional

if TYPE_CHECKING:
    import asyncio

from . import _core

__all__ = ["aselect", "release_loop", "stats"]

_HAS_CANCELLING = sys.version_info >= (3, 11)
# asyncio is imported when first awaited through pygochan, not with it: a
# program that never awaits does not pay for it, and CPython 3.12's
# _asyncio makes the finalization of an isolated subinterpreter that
# imported it corrupt the process's memory.
_CancelledError: Any = None
_current_task: Any = None
_get_running_loop: Any = None
_ParkedFuture: Any = None


def _bind_asyncio() -> None:
    global _CancelledError, _current_task, _get_running_loop, _ParkedFuture
    if _get_running_loop is not None:
        return
    import asyncio

    _CancelledError = asyncio.CancelledError
    _current_task = asyncio.current_task
    _ParkedFuture = _parked_future_type(asyncio.Future)
    _get_running_loop = asyncio.get_running_loop


def _parked_future_type(base: Any) -> Any:
    class _ParkedFuture(base):  # type: ignore[misc]
        """What a task awaits while one operation is parked.

        ``Task.cancel()`` calls the awaited object's ``cancel()`` at once, on
        the loop's thread: here that is the operation's abort.  If the abort
        wins, the operation leaves its channels (offered values released,
        nothing queued, the timeout cancelled) before ``task.cancel()``
        returns, so nothing any thread does afterwards completes it -- as
        asyncio's Queue, Lock and Event withdraw their waiters.  If a
        hand-off committed first, ``cancel()`` returns False: the task then
        marks itself to be cancelled, the hub hands the outcome back, and
        _park absorbs the cancellation and re-delivers it later.
        """

        __slots__ = ("op", "timer")

        def cancel(self, msg: Any = None) -> bool:
            # The C Task passes msg positionally, the Python Task by keyword.
            op = getattr(self, "op", None)
            if op is not None and not self.done():
                if not op.abort():
                    return False  # the hand-off won
                timer = getattr(self, "timer", None)
                if timer is not None:
                    timer.cancel()
            return bool(super().cancel(msg))

    return _ParkedFuture


_AsyncOp = _core._AsyncOp
_MISSING = object()
# How long a fallback watcher sleeps before it looks at its loop again.
_WATCH_TIMEOUT = 1.0
# A subinterpreter refuses daemon threads (isolated ones) and cannot end
# while a thread runs: there the watcher is an ordinary thread, which ends
# once its loop's operations do (see _fallback_main).
_DAEMON = bool(_core._IN_MAIN_INTERPRETER)


class _LoopHub:
    """The per-loop half of a hub: its reader, and cancellations to re-deliver.

    Created on the loop's thread by the first operation awaited there; every
    method runs on that thread.
    """

    __slots__ = ("core", "_loop", "fallback", "_watcher", "_watch_lock", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.core = _core._Hub()
        # weak: the registry maps the loop to this hub, which must not keep
        # the loop alive
        self._loop = weakref.ref(loop)
        # A loop without add_reader (Windows' proactor, some GUI loops): a
        # thread watches the descriptor for it while operations wait (watch).
        self.fallback = False
        # The watcher that will see any operation parked from now on, or
        # None: none runs, or the one running has committed to exit.
        # Written under _watch_lock only.
        self._watcher: Optional[threading.Thread] = None
        self._watch_lock = threading.Lock()
        try:
            loop.add_reader(self.core.fileno(), self.drain)
        except NotImplementedError:
            self.fallback = True
        _release_on_close(loop, self)

    def watch(self) -> None:
        """An operation of this fallback loop parked: make sure a thread
        watches the descriptor until that operation has been handed back.

        Called after op.park().  A watcher exits only when, under the lock,
        the hub is idle: so either it saw this operation and stays, or it
        had committed to exit (cleared _watcher) and a new one starts here.
        """
        with self._watch_lock:
            if self._watcher is not None:
                return
            watcher = threading.Thread(
                target=_fallback_main,
                args=(weakref.ref(self), self.core),
                name="pygochan-aio-hub",
                daemon=_DAEMON,
            )
            watcher.start()
            # Recorded only once it runs: interrupted before this line, the
            # next park starts another (two watchers for a while, no hang).
            self._watcher = watcher

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop()
        if loop is None:
            raise RuntimeError("the event loop of this hub is gone")
        return loop

    def drain(self) -> None:
        for op in self.core.take():
            fut = op.future
            if fut is not None and not fut.done():
                fut.set_result(None)

    def absorb(self, task: Optional[asyncio.Task[Any]], exc: BaseException) -> None:
        """A cancellation lost to a hand-off: deliver it later."""
        if task is None:
            return  # driven by hand, not by a Task: nobody to re-deliver to
        _redeliver[task] = exc.args[0] if exc.args else None
        self.loop.call_soon(self._redeliver, task)

    def _redeliver(self, task: asyncio.Task[Any]) -> None:
        msg = _redeliver.pop(task, _MISSING)
        if msg is _MISSING or task.done():
            return
        if _HAS_CANCELLING:
            if task.cancelling() == 0:
                return  # the canceller withdrew (a timeout scope exited)
            # The original request is still counted: re-arm it without
            # adding a second one, which scopes would take for an outer cancel.
            task.cancel(msg)
            task.uncancel()
        else:
            task.cancel(msg)


def _fallback_main(hub_ref: "weakref.ref[_LoopHub]", core: Any) -> None:
    """A fallback loop's watcher: while its operations wait, sleep on the
    hub's descriptor (GIL released) and schedule one drain per burst; exit
    when, after a sleep (up to _WATCH_TIMEOUT) that brought nothing to take,
    none waits any more: no parked operation, nothing left to take.

    Holds the core, not the hub: a dropped hub or loop ends the watcher
    within one timeout, and the descriptor stays open while it waits.
    """
    me = threading.current_thread()
    drained: Optional[threading.Event] = None  # the drain scheduled, until it ran
    hub: Optional[_LoopHub] = None
    loop: Optional[asyncio.AbstractEventLoop] = None
    try:
        while True:
            hub = loop = None  # a dropped loop is not kept alive by its watcher
            if drained is not None:
                drained.wait(_WATCH_TIMEOUT)
                if drained.is_set():
                    # Posts after that take signalled again: back to the
                    # descriptor.  Idle only after a wait with nothing to
                    # take, so a loop that parks again at once keeps its
                    # watcher rather than start one per operation.
                    drained = None
                    continue
                pending = False  # still queued: is that loop running at all?
            else:
                pending = core.wait(_WATCH_TIMEOUT)
            hub = hub_ref()
            loop = hub._loop() if hub is not None else None
            if hub is None or loop is None or loop.is_closed():
                return
            if pending:
                drained = threading.Event()
                try:
                    loop.call_soon_threadsafe(_drain_and_set, hub, drained)
                except RuntimeError:
                    return  # the loop closed
                continue
            with hub._watch_lock:
                # An operation that waits calls watch() after it parked,
                # and watch() takes this lock: a park not seen here finds
                # _watcher cleared and starts a new watcher.  A completed operation stays parked until it
                # is taken, so idle also means nothing is left to drain.
                if core.idle():
                    if hub._watcher is me:
                        hub._watcher = None
                    return
    finally:
        hub = hub_ref()
        if hub is not None and hub._watcher is me:
            # Ended some other way (the loop closed, an error): the next
            # park, if any, starts a new watcher.
            with hub._watch_lock:
                if hub._watcher is me:
                    hub._watcher = None


def _drain_and_set(hub: _LoopHub, drained: threading.Event) -> None:
    try:
        hub.drain()
    finally:
        drained.set()


# task -> the message of a cancellation absorbed by a hand-off and not yet
# re-delivered.  Tasks are touched only on their own loop's thread; the
# dict itself is shared (atomic item operations, also without the GIL).
_redeliver: Dict["asyncio.Task[Any]", Any] = {}


def _pending_cancel() -> None:
    """At the start of an operation: deliver an absorbed cancellation."""
    task = _current_task()
    msg = _redeliver.pop(task, _MISSING)
    if msg is _MISSING:
        return
    if _HAS_CANCELLING and task is not None and task.cancelling() == 0:
        return
    raise _CancelledError(msg) if msg is not None else _CancelledError()


# loop -> its hub.  Written under _registry_lock; a per-thread cache makes
# the common lookup lock-free (a loop runs in one thread at a time).
_registry: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopHub]" = (
    weakref.WeakKeyDictionary()
)
_registry_lock = threading.Lock()
_cache = threading.local()


def _release_on_close(loop: asyncio.AbstractEventLoop, hub: _LoopHub) -> None:
    """Make loop.close() release the hub: its descriptor closes with the
    loop's own, and operations a closed loop can never resume are undone."""
    original_close = loop.close
    hub_ref = weakref.ref(hub)

    def close() -> None:
        h = hub_ref()
        if h is not None and not loop.is_running() and not loop.is_closed():
            _release(loop, h)
        original_close()

    try:
        loop.close = close  # type: ignore[method-assign]
    except (AttributeError, TypeError):
        pass  # a loop type without instance attributes: release_loop() by hand


def _hub_for(loop: asyncio.AbstractEventLoop) -> _LoopHub:
    hub = getattr(_cache, "hub", None)
    if hub is not None and hub.loop is loop:
        return hub  # type: ignore[no-any-return]
    with _registry_lock:
        hub = _registry.get(loop)
        if hub is None:
            hub = _LoopHub(loop)
            _registry[loop] = hub
    _cache.hub = hub
    return hub


def _forget_hubs_after_fork() -> None:
    # The child has no running loops; the descriptors are the parent's.
    global _registry, _registry_lock, _cache
    for hub in list(_registry.values()):
        hub.core._forget_fd_after_fork()
    _registry = weakref.WeakKeyDictionary()
    _redeliver.clear()
    _registry_lock = threading.Lock()
    _cache = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_hubs_after_fork)


def _on_timeout(op: Any, fut: "asyncio.Future[None]") -> None:
    # timeout= is the operation's own abort, as for a thread: if a waker
    # committed first, the op is settled and its result is returned.
    op.abort()
    if not fut.done():
        fut.set_result(None)


async def _run(op: Any) -> Any:
    """Await one operation (an ``_AsyncOp``: a coroutine of its own)."""
    return await op


async def _park(op: Any) -> Any:
    """The slow half of _run: the first attempt found nothing ready.

    Every awaited operation that found nothing ready at its first step
    (in C: a cancellation absorbed earlier delivered, one attempt) parks
    here, and the task awaits a _ParkedFuture whose cancel() is the
    operation's abort.
    """
    _bind_asyncio()  # before the first wait: _redeliver stays empty until then
    loop = _get_running_loop()
    hub = _hub_for(loop)
    task = _current_task()
    fut = _ParkedFuture(loop=loop)
    if not op.park(hub.core, fut):
        return op.result()  # committed while registering
    delay = op.delay
    timer = loop.call_later(delay, _on_timeout, op, fut) if delay is not None else None
    fut.op, fut.timer = op, timer  # from here task.cancel() aborts op
    try:
        if hub.fallback:
            hub.watch()  # inside the try: failing to start a watcher aborts the op
        await fut
    except _CancelledError as exc:
        if op.abort():
            raise  # the cancel won (in fut.cancel()): nothing happened anywhere
        # The hand-off committed before task.cancel() was called.  op is
        # settled; the hub hands it back now.
        hub.drain()
        if not op.moved:
            raise  # closed, or the ctx case: nothing to keep, honour the cancel
        hub.absorb(task, exc)
        return op.result()
    except BaseException:
        # GeneratorExit (the coroutine is closed) or an error thrown in by
        # hand: leave with no effect, undoing a receive that committed.
        if not op.abort():
            hub.drain()
            op.give_back()
        raise
    finally:
        fut.op = fut.timer = None  # no cycle op -> fut -> op
        if timer is not None:
            timer.cancel()
    return op.result()


def _park_await(op: Any) -> Any:
    # The C half's hand-over: the operation forwards its steps to this.
    return _park(op).__await__()


_core._set_loop_driver(_park_await, _redeliver, _pending_cancel)
aselect = _core.aselect


def release_loop(loop: asyncio.AbstractEventLoop) -> int:
    """Release what a loop that will never run again left parked.

    Every operation still parked from ``loop`` is aborted (no effect), or,
    if a hand-off already committed it, a received value goes back to the
    head of its channel.  Returns how many operations were released.  Call
    it after ``loop.close()`` when tasks were still waiting; ``asyncio.run``
    needs none of this (it cancels every task first)::

        loop.close()
        gc.aio.release_loop(loop)
    """
    with _registry_lock:
        hub = _registry.get(loop)
    if hub is None:
        return 0
    return _release(loop, hub)


def _release(loop: asyncio.AbstractEventLoop, hub: _LoopHub) -> int:
    with _registry_lock:
        if _registry.get(loop) is hub:
            del _registry[loop]
    if getattr(_cache, "hub", None) is hub:
        _cache.hub = None
    count = 0
    for op in hub.core.parked_ops():
        count += 1
        if not op.abort():
            op.give_back()
    for op in hub.core.take():
        op.give_back()
    if not loop.is_closed():
        try:
            loop.remove_reader(hub.core.fileno())
        except (NotImplementedError, ValueError, OSError):
            pass
    return count


def stats(loop: Optional[asyncio.AbstractEventLoop] = None) -> Dict[str, int]:
    """Counters of a loop's hub (the running loop by default)::

        {'parked': 0, 'posts': 812, 'signals': 9, 'takes': 9, 'redeliver': 0}

    ``signals`` counts eventfd writes: at most one per burst of ``posts``.
    """
    if loop is None:
        _bind_asyncio()
        loop = _get_running_loop()
    with _registry_lock:
        hub = _registry.get(loop)
    if hub is None:
        return {"parked": 0, "posts": 0, "signals": 0, "takes": 0, "redeliver": 0}
    out: Dict[str, int] = hub.core.stats()
    out["redeliver"] = sum(1 for t in list(_redeliver) if t.get_loop() is loop)
    return out


# ---- the awaited waits of WaitGroup, Future, Pool and ErrGroup ------------


async def _wait_closed(obj: Any, timeout: Optional[float], ctx: Optional[_core.Context]) -> None:
    """Suspend the task until a WaitGroup is at zero or a Future settled:
    the awaited wait of WaitGroup, Future, Pool and ErrGroup's methods."""
    await _core._aop_closed(obj, timeout, ctx)
