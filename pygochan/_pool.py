"""The worker Pool, a ``concurrent.futures.ThreadPoolExecutor`` drop-in,
with its ``map`` and the hooks that shut pools down at exit and in a forked
child.

Handing tasks to workers, the worker loop and the futures are C
(``_core._PoolBase``); this module adds what is naturally Python: the pool's
context, ``map``, ``shutdown``, the context manager, and ``asubmit`` and
``arun`` for coroutines.
"""

from __future__ import annotations

import collections
import concurrent.futures as _cf
import itertools
import os
import threading
import weakref
from typing import Any, Callable, Iterable, Iterator, Optional, Tuple, TypeVar, overload

from . import _aio, _core
from ._context import with_cancel_cause
from .testing._bubble import _start_thread_named_in

__all__ = ["Pool"]

_R = TypeVar("_R")
_A = TypeVar("_A")
_B = TypeVar("_B")


_live_pools: "weakref.WeakSet[Pool]" = weakref.WeakSet()
_exit_hook_lock = threading.Lock()
_exit_hook_installed = False


def _install_exit_hook() -> None:
    """Shut every pool down (finishing queued tasks) before the interpreter
    joins threads at exit, as concurrent.futures does."""
    global _exit_hook_installed
    with _exit_hook_lock:
        if _exit_hook_installed:
            return
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            register(_shutdown_all_pools)
        else:  # pragma: no cover - every supported CPython has it
            import atexit

            atexit.register(_shutdown_all_pools)
        _exit_hook_installed = True


def _shutdown_all_pools() -> None:
    # Queued tasks still run, as in concurrent.futures; tasks blocked on
    # pygochan calls with ctx=pool.ctx return, so exit cannot hang on them.
    for pool in list(_live_pools):
        pool._cancel_ctx(None)
        pool.shutdown(wait=True)


_pool_numbers = itertools.count(1)


def _pools_after_fork_in_child() -> None:
    """fork() keeps only the calling thread: a pool's workers are gone in
    the child, so every pool is shut down there (submit raises RuntimeError,
    queued futures are cancelled) instead of handing tasks to nobody."""
    global _exit_hook_lock
    _exit_hook_lock = threading.Lock()
    for pool in list(_live_pools):
        pool._worker_threads = set()
        pool._close(True)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pools_after_fork_in_child)


def _default_max_workers() -> int:
    """ThreadPoolExecutor's default: I/O-bound work wants more threads than
    CPUs, and more than 32 rarely helps."""
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return min(32, (count or 1) + 4)


class Pool(_core._PoolBase, _cf.ThreadPoolExecutor):
    """A worker pool that is a ``concurrent.futures.ThreadPoolExecutor``::

        with gc.Pool(max_workers=8) as pool:
            fut = pool.submit(fetch, url)                 # a Future
            for page in pool.map(fetch, urls):            # in order
                ...

    The defaults are ThreadPoolExecutor's: ``submit`` never blocks (the
    queue is unbounded), ``map`` submits every item at once,
    ``shutdown(cancel_futures=True)`` cancels what is queued, and
    ``max_workers`` defaults to ``min(32, cpu count + 4)``.  Workers start
    on demand up to ``max_workers``, wait for work with the GIL released,
    the most recently idle one takes the next task, and each exits after
    ``idle_timeout`` seconds idle (``None``: never).

    Go's work channel is an option: ``queue_size=0`` hands each task
    straight to a worker (``submit`` blocks while all are busy), ``n > 0``
    buffers ``n`` tasks.  A blocking ``submit`` takes ``submit_timeout=``
    and ``submit_ctx=``, answers Ctrl-C, and has no effect when it raises.

    ``pool.ctx`` is canceled by ``shutdown(cancel_futures=True)``, by a
    ``KeyboardInterrupt`` leaving ``with pool:`` and at interpreter exit;
    tasks pass it to their blocking calls so that one Ctrl-C stops them.

    ``pool.stats()`` reports the workers' busy time always;
    ``measure_queue_wait=True`` adds the tasks' time in the queue
    (``queue_wait_seconds``), at the cost of reading the clock at every
    submit and every start.

    Tasks run with a copy of the submitter's ``contextvars``.  A task's
    exception lands in its future and never kills a worker; a failed future
    garbage-collected unread is reported through ``sys.unraisablehook``.
    """

    def __init__(
        self,
        max_workers: Optional[int] = None,
        idle_timeout: Optional[float] = 10.0,
        queue_size: int = _core.UNBOUNDED,
        *,
        name: Optional[str] = None,
        measure_queue_wait: bool = False,
    ) -> None:
        # ThreadPoolExecutor.__init__ is not called: this class keeps none
        # of its machinery, only its type (asyncio's set_default_executor
        # requires one).
        if max_workers is None:
            max_workers = _default_max_workers()
        self._configure(max_workers, idle_timeout, queue_size, bool(measure_queue_wait))
        self._name = name or f"pygochan-pool-{next(_pool_numbers)}"
        # changed by single set operations only (C adds a worker before it
        # starts, the worker discards itself at its end): read it by copy
        self._worker_threads: set[threading.Thread] = set()
        self._worker_numbers = itertools.count(1)
        self._ctx, self._cancel_ctx = with_cancel_cause(_core.background())
        # Its workers belong to the testing bubble it was made in, if any,
        # whoever's submit starts them (pygochan/testing/_bubble.py).
        self._bubble = _core._bubble_current()
        _live_pools.add(self)
        _install_exit_hook()

    def __repr__(self) -> str:
        state = "shut down" if self._shut_down else "open"
        return (
            f"<pygochan.Pool {self._name!r} {state}: max_workers={self.max_workers} "
            f"running={self.running} idle={self.idle} pending={self.pending}>"
        )

    @property
    def ctx(self) -> _core.Context:
        """Canceled by ``shutdown(cancel_futures=True)``, by a
        ``KeyboardInterrupt`` leaving ``with pool:`` and at interpreter exit.
        Tasks pass it to their blocking calls::

            def task(pool, jobs):
                while True:
                    handle(jobs.recv(ctx=pool.ctx))   # Canceled on Ctrl-C
        """
        return self._ctx

    @property
    def _max_workers(self) -> int:  # type: ignore[override]  # read-only here
        """ThreadPoolExecutor's name for ``max_workers`` (read-only)."""
        return self.max_workers

    @property
    def _threads(self) -> "frozenset[threading.Thread]":  # type: ignore[override]
        """The worker threads alive now, as ThreadPoolExecutor's ``_threads``
        (a snapshot; workers that exit after ``idle_timeout`` leave it)."""
        return frozenset(self._worker_threads)

    # The C core starts a worker whenever it decides one is needed; the
    # thread is in _worker_threads while it lives.  The thread keeps the
    # pool's core, never the Pool: a Pool dropped without shutdown() is
    # collected, shuts down, and lets its idle workers exit once the queue
    # is drained.
    def _worker_name(self) -> str:
        # called by C on the starting thread right before the worker starts
        name = f"{self._name}-worker-{next(self._worker_numbers)}"
        _start_thread_named_in(name, self._bubble)
        return name

    @staticmethod
    def _thread_upkeep() -> None:
        """Does nothing.  A worker calls it while it waits for a job:
        running Python code lets the interpreter do the thread's pending
        work, which on the free-threaded build includes freeing objects this
        thread owns and other threads dropped (a dropped Pool among them)."""

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new tasks; with ``cancel_futures`` cancel the queued ones
        and ``pool.ctx``; with ``wait`` block until every worker has exited
        (queued tasks run first unless cancelled).  A Ctrl-C during the wait
        cancels what is still queued and ``pool.ctx``, and propagates."""
        self._close(cancel_futures)
        if cancel_futures:
            self._cancel_ctx(None)
        if not wait:
            return
        try:
            while True:
                current = threading.current_thread()
                threads = [t for t in self._worker_threads.copy() if t is not current]
                if not threads:
                    break
                for thread in threads:
                    thread.join()
        except BaseException as exc:
            self._cancel_queued()
            self._cancel_ctx(exc)
            raise

    async def asubmit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """``submit()`` for coroutines: returns the job's Future.

        With a bounded ``queue_size`` that is full the task (not the loop) waits
        on the pool's job channel, like ``ch.asend``; ``submit_timeout=`` and
        ``submit_ctx=`` bound that wait as for ``submit()``.  A cancelled or
        timed-out asubmit queued nothing: its job never runs::

            fut = await pool.asubmit(parse, page, submit_timeout=5)
            value = await fut
        """
        if _aio._redeliver:
            _aio._pending_cancel()
        sent = self._asubmit_op(fn, *args, **kwargs)
        if type(sent) is _aio._AsyncOp:
            sent = await sent  # the hand-off to a worker or the queue
        return sent

    async def arun(self, fn: Any, /, *args: Any, abandon_on_cancel: bool = False,
                   **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` in the pool and await its result.

        Cancelled while queued, the job never runs.  Cancelled while running:
        by default the await keeps waiting, returns the job's result and the
        cancellation reaches the task at its next suspension point (the
        hand-off rule); with ``abandon_on_cancel=True`` it raises at once and
        the job runs on unobserved (``asyncio.to_thread``'s behaviour)::

            text = await pool.arun(render, page)
        """
        _aio._bind_asyncio()
        fut = await self.asubmit(fn, *args, **kwargs)
        try:
            return await fut
        except _aio._CancelledError as exc:
            if fut.cancel() or abandon_on_cancel:
                raise  # never started (no effect), or abandoned on purpose
            cancel = exc
        # Started: the job's outcome is the hand-off.  Wait it out, then
        # deliver the cancellation later, like a channel operation that won.
        while True:
            try:
                await _aio._wait_closed(fut, None, None)
                break
            except _aio._CancelledError as again:
                cancel = again
        _aio._hub_for(_aio._get_running_loop()).absorb(_aio._current_task(), cancel)
        return fut.result(timeout=0)

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.shutdown(wait=True)
        elif issubclass(exc_type, KeyboardInterrupt):
            # Ctrl-C: nothing queued starts, running tasks are asked to stop
            # through pool.ctx, and nobody waits for them here (exit joins
            # them).
            self._close(True)
            self._cancel_ctx(exc)
        else:
            self.shutdown(wait=True, cancel_futures=True)

    # As builtins.map: fn's parameters are checked against the items (so
    # map(fn) without an iterable, which Executor allows, is not accepted).
    @overload  # type: ignore[override]
    def map(
        self,
        fn: Callable[[_A], _R],
        iterable: Iterable[_A],
        /,
        *,
        timeout: Optional[float] = None,
        chunksize: int = 1,
        buffersize: Optional[int] = None,
        ordered: bool = True,
    ) -> Iterator[_R]: ...

    @overload
    def map(
        self,
        fn: Callable[[_A, _B], _R],
        iterable1: Iterable[_A],
        iterable2: Iterable[_B],
        /,
        *,
        timeout: Optional[float] = None,
        chunksize: int = 1,
        buffersize: Optional[int] = None,
        ordered: bool = True,
    ) -> Iterator[_R]: ...

    @overload
    def map(
        self,
        fn: Callable[..., _R],
        iterable1: Iterable[Any],
        iterable2: Iterable[Any],
        iterable3: Iterable[Any],
        /,
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
        buffersize: Optional[int] = None,
        ordered: bool = True,
    ) -> Iterator[_R]: ...

    def map(
        self,
        fn: Callable[..., _R],
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
        buffersize: Optional[int] = None,
        ordered: bool = True,
    ) -> Iterator[_R]:
        """Yield ``fn(*args)`` for args taken from ``zip(*iterables)``.

        As in ThreadPoolExecutor, every task is submitted before ``map``
        returns; ``buffersize=n`` (Python 3.14's name) instead keeps at most
        ``n`` tasks in flight, submitting one more as each result is taken,
        so an endless generator works.  ``ordered=False`` yields results as
        they complete.  ``timeout`` bounds the whole iteration from the call
        (``TimeoutError``).  The first exception raised by ``fn`` is raised
        from the iterator; leaving the loop early (``break``, an exception,
        Ctrl-C) cancels every task that has not started.  ``chunksize`` is
        accepted for ThreadPoolExecutor compatibility and ignored.

            for size in pool.map(len, pages, ordered=False):
                total += size
        """
        if not callable(fn):
            raise TypeError(f"map() needs a callable, not {type(fn).__name__}")
        if buffersize is not None:
            if isinstance(buffersize, bool) or not isinstance(buffersize, int):
                raise TypeError("buffersize must be an integer or None")
            if buffersize < 1:
                raise ValueError("buffersize must be None or > 0")
        end_time = None
        if timeout is not None:
            end_time = _monotonic() + timeout
        args_iter = zip(*iterables)
        submit = self.submit
        fs: "list[_cf.Future[_R]]"
        if buffersize is None:
            fs = [submit(fn, *args) for args in args_iter]
            refill = None
        else:
            fs = [submit(fn, *args) for args in itertools.islice(args_iter, buffersize)]
            refill = _Refill(weakref.ref(self), fn, args_iter)
        if ordered:
            return _ordered_results(fs, refill, end_time)
        return _unordered_results(fs, refill, end_time)


class _Refill:
    """The lazy half of ``map(buffersize=n)``: submit the next item, if the
    pool is still alive and there is one.  Holds the pool weakly, as
    ThreadPoolExecutor.map does, so a forgotten iterator keeps nothing."""

    __slots__ = ("pool", "fn", "args_iter")

    def __init__(self, pool: "weakref.ref[Pool]", fn: Callable[..., Any], args_iter: Iterator[Tuple[Any, ...]]):
        self.pool, self.fn, self.args_iter = pool, fn, args_iter

    def next_future(self) -> Optional[_cf.Future[Any]]:
        pool = self.pool()
        if pool is None:
            return None
        args = next(self.args_iter, None)  # zip yields tuples, never None
        if args is None:
            return None
        return pool.submit(self.fn, *args)


def _result_or_cancel(fut: "_cf.Future[_R]", end_time: Optional[float]) -> _R:
    # The caller passes its last reference: none is kept once this returns.
    try:
        return fut.result(_remaining(end_time))
    finally:
        fut.cancel()
        del fut


def _ordered_results(
    fs: "list[_cf.Future[_R]]", refill: Optional[_Refill], end_time: Optional[float]
) -> Iterator[_R]:
    pending = collections.deque(fs)
    del fs
    try:
        while pending:
            if refill is not None:
                more = refill.next_future()
                if more is not None:
                    pending.append(more)
                del more
            # no local holds the future or its result across the yield
            yield _result_or_cancel(pending.popleft(), end_time)
    finally:
        for fut in pending:
            fut.cancel()


def _unordered_results(
    fs: "list[_cf.Future[_R]]", refill: Optional[_Refill], end_time: Optional[float]
) -> Iterator[_R]:
    finished: _core.Channel[_cf.Future[_R]] = _core.Channel(_core.UNBOUNDED)
    pending: "set[_cf.Future[_R]]" = set()

    def start(fut: "_cf.Future[_R]") -> None:
        pending.add(fut)
        fut.add_done_callback(finished.send)

    while fs:
        start(fs.pop())
    del fs

    def next_done() -> "_cf.Future[_R]":
        try:
            done = finished.recv(timeout=_remaining(end_time))
        except TimeoutError:
            # the class result() raises: before 3.11 both spellings catch it
            raise _core._FutureTimeoutError() from None
        pending.discard(done)
        return done

    try:
        while pending:
            if refill is not None:
                more = refill.next_future()
                if more is not None:
                    start(more)
                del more
            yield _result_or_cancel(next_done(), None)
    finally:
        for fut in pending:
            fut.cancel()


def _monotonic() -> float:
    return _core._monotonic()  # a testing bubble's clock on its threads


def _remaining(deadline: Optional[float]) -> Optional[float]:
    if deadline is None:
        return None
    return max(0.0, deadline - _monotonic())
