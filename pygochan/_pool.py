"""WaitGroup, Pool and ErrGroup: the Python halves of their C cores.

The blocking parts (waiting for a counter, handing tasks to workers, the
worker loop, futures) are C; this module adds what is naturally Python:
starting threads, ``map``, context managers and exception bookkeeping.
"""

from __future__ import annotations

import collections
import concurrent.futures as _cf
import itertools
import os
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, Optional, Tuple, TypeVar, overload

from . import _aio, _core, _executors
from ._context import _DAEMON, with_cancel_cause

__all__ = ["ErrGroup", "Future", "Pool", "WaitGroup"]

_R = TypeVar("_R")
_A = TypeVar("_A")
_B = TypeVar("_B")
if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    _P = ParamSpec("_P")

Future = _core.Future


def _report_thread_exception(exc: BaseException) -> None:
    """What ``threading.Thread`` does with an exception escaping ``run()``:
    ``threading.excepthook`` (SystemExit is silent)."""
    if isinstance(exc, SystemExit):
        return
    threading.excepthook(threading.ExceptHookArgs(
        (type(exc), exc, exc.__traceback__, threading.current_thread())))


class WaitGroup(_core._WaitGroupBase):
    """Go's ``sync.WaitGroup``: wait for a collection of threads to finish::

        wg = gc.WaitGroup()
        for url in urls:
            wg.go(fetch, url)          # add(1), run in a new thread, done()
        wg.wait(timeout=30)

    ``with gc.WaitGroup() as wg:`` waits on exit.  ``wait`` releases the GIL,
    takes ``timeout=``/``ctx=`` and answers Ctrl-C; a counter below zero is a
    ``ValueError``.
    """

    __slots__ = ()

    wait_async = _aio.wait_group_wait_async

    def go(self, fn: Callable[_P, Any], /, *args: _P.args, **kwargs: _P.kwargs) -> threading.Thread:
        """Run ``fn(*args, **kwargs)`` in a new thread counted by the group.

        The counter goes up before the thread starts and down when ``fn``
        returns or raises; an exception is reported by ``threading.excepthook``
        like any thread's, before the task counts as done, so ``wait()``
        returns after the report.  Returns the started thread.  A Ctrl-C
        that interrupts ``go`` after the thread began still raises, and the
        task runs and counts as usual.
        """
        if not callable(fn):
            raise TypeError(f"go() needs a callable, not {type(fn).__name__}")

        def run() -> None:
            try:
                fn(*args, **kwargs)
            except BaseException as exc:
                _report_thread_exception(exc)

        # One C call counts the task and starts its thread: a Ctrl-C landing
        # anywhere in it either leaves both undone or the thread owning the
        # count (see csrc/py/start.c).
        thread: threading.Thread = _core._go(self, run, f"pygochan-wg-{_name(fn)}", _DAEMON)
        return thread


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


# ---- Pool ---------------------------------------------------------------

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
    ) -> None:
        # ThreadPoolExecutor.__init__ is not called: this class keeps none
        # of its machinery, only its type (asyncio's set_default_executor
        # requires one).
        if max_workers is None:
            max_workers = _default_max_workers()
        self._configure(max_workers, idle_timeout, queue_size)
        self._name = name or f"pygochan-pool-{next(_pool_numbers)}"
        # changed by single set operations only (C adds a worker before it
        # starts, the worker discards itself at its end): read it by copy
        self._worker_threads: set[threading.Thread] = set()
        self._worker_numbers = itertools.count(1)
        self._ctx, self._cancel_ctx = with_cancel_cause(_core.background())
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
        return f"{self._name}-worker-{next(self._worker_numbers)}"

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

    asubmit = _aio.pool_asubmit
    arun = _aio.pool_arun

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
    import time

    return time.monotonic()


def _remaining(deadline: Optional[float]) -> Optional[float]:
    if deadline is None:
        return None
    return max(0.0, deadline - _monotonic())


# ---- ErrGroup -----------------------------------------------------------


class ErrGroup:
    """Go's ``errgroup.Group``: run tasks in threads; the first failure
    cancels ``g.ctx`` (with that exception as the cause) and is raised by
    ``wait()``::

        with gc.ErrGroup(ctx) as g:
            for url in urls:
                g.go(fetch, url, ctx=g.ctx)
        # every task has finished here; the first exception was raised

    ``limit`` bounds the tasks running at once: ``go`` then blocks (GIL
    released, Ctrl-C answered) and ``try_go`` returns False.  ``wait()``
    raises the first exception; its ``exceptions`` attribute lists every
    task's exception, itself first, and a note lists the others;
    ``KeyboardInterrupt``/``SystemExit`` raised by a
    task are re-raised as they are.  An exception in the ``with`` body
    cancels ``g.ctx`` and waits for the tasks before propagating.  ``go``
    after ``wait()`` returned raises ``RuntimeError``.

    ``executor=`` (any ``concurrent.futures.Executor``, a Dask
    ``distributed.Client`` or its ``get_executor()``) submits the tasks
    there instead of starting threads; when ``g.ctx`` is done its pending
    futures are cancelled, so tasks the executor has not started never run::

        with gc.ErrGroup(executor=client.get_executor(pure=False)) as g:
            for page in pages:
                g.go(parse, page)
    """

    def __init__(
        self,
        ctx: Optional[_core.Context] = None,
        limit: Optional[int] = None,
        *,
        executor: Optional[_executors.SubmitsTasks] = None,
    ) -> None:
        if ctx is None:
            ctx = _core.background()
        elif not isinstance(ctx, _core.Context):
            raise TypeError(f"ctx must be a Context, not {type(ctx).__name__}")
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int):
                raise TypeError(f"limit must be an int or None, not {type(limit).__name__}")
            if limit < 1:
                raise ValueError("limit must be >= 1")
        self.ctx, self._cancel = with_cancel_cause(ctx)
        self._limit = limit
        self._slots: Optional[_core.Channel[None]] = _core.Channel(limit) if limit is not None else None
        self._wg = WaitGroup()
        self._lock = threading.Lock()
        self._errors: list[BaseException] = []
        self._waited = False
        self._executor_tasks = None if executor is None else _executors.GroupTasks(executor, self.ctx)

    def __repr__(self) -> str:
        return (
            f"<pygochan.ErrGroup running={self._wg.count} "
            f"failed={len(self._errors)} limit={self._limit}>"
        )

    def set_limit(self, n: Optional[int]) -> None:
        """Go's ``Group.SetLimit``: at most ``n`` tasks at once from now on
        (``None``: no limit).  Refused with ``RuntimeError`` while tasks run,
        as in Go::

            g = gc.ErrGroup()
            g.set_limit(4)
        """
        if n is not None:
            if isinstance(n, bool) or not isinstance(n, int):
                raise TypeError(f"limit must be an int or None, not {type(n).__name__}")
            if n < 1:
                raise ValueError("limit must be >= 1")
        with self._lock:
            if self._wg.count or (self._slots is not None and len(self._slots)):
                raise RuntimeError("set_limit() while tasks of the group are running")
            self._limit = n
            self._slots = _core.Channel(n) if n is not None else None

    def _check_open(self) -> None:
        if self._waited:
            raise RuntimeError("go() after wait() returned")

    def go(self, fn: Callable[_P, Any], /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        """Run ``fn(*args, **kwargs)`` in a new thread; with a ``limit``,
        first wait for a free slot."""
        self._check_open()
        if not callable(fn):
            raise TypeError(f"go() needs a callable, not {type(fn).__name__}")
        self._start(fn, args, kwargs, True)

    def try_go(self, fn: Callable[_P, Any], /, *args: _P.args, **kwargs: _P.kwargs) -> bool:
        """Like ``go``, but return False instead of waiting for a slot."""
        self._check_open()
        if not callable(fn):
            raise TypeError(f"try_go() needs a callable, not {type(fn).__name__}")
        return self._start(fn, args, kwargs, False)

    def _start(self, fn: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any],
               block: bool) -> bool:
        """Take a slot (waiting for one if ``block``; False if none is free)
        and start the task.  The slot is the one of the channel in place now:
        it is given back there."""
        slots = self._slots
        if self._executor_tasks is not None:
            # The slot is taken and the task submitted in one C call, with
            # Ctrl-C held off from the slot to the submit's bookkeeping (an
            # executor whose submit blocks delays Ctrl-C until it returns).
            if slots is None:
                _core._holding_sigint(self._executor_tasks.start, self, fn, args, kwargs, None)
                return True
            return _core._with_slot(slots, block, self._executor_tasks.start,
                                    self, fn, args, kwargs, slots) is True

        def run() -> None:
            try:
                fn(*args, **kwargs)
            except BaseException as exc:  # recorded, re-raised by wait()
                self._fail(exc)

        # One C call takes the slot, counts the task and starts its thread,
        # so that no Ctrl-C leaves a slot or a count without a thread.
        thread = _core._go(self._wg, run, f"pygochan-errgroup-{_name(fn)}", _DAEMON,
                           slots=slots, block=block)
        return thread is not None

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(exc)
            first = len(self._errors) == 1
        if first:
            self._cancel(exc)

    def wait(self, *, timeout: Optional[float] = None, ctx: Optional[_core.Context] = None) -> None:
        """Wait for every task; raise the first exception (if any).

        ``timeout`` raises ``TimeoutError`` and a done ``ctx`` its error;
        either way the group keeps running and ``wait`` may be called again.
        """
        self._wg.wait(timeout=timeout, ctx=ctx)
        self._waited = True
        self._cancel(None)
        self._raise_first()

    @property
    def exceptions(self) -> list[BaseException]:
        """Every exception the tasks raised so far, first first."""
        with self._lock:
            return list(self._errors)

    def _raise_first(self) -> None:
        with self._lock:
            errors = list(self._errors)
        if not errors:
            return
        # KeyboardInterrupt / SystemExit from a task win over ordinary errors.
        fatal = [e for e in errors if not isinstance(e, Exception)]
        first = fatal[0] if fatal else errors[0]
        if isinstance(first, Exception):
            first.exceptions = errors  # type: ignore[attr-defined]
            others = [e for e in errors if e is not first]
            if others:
                note = f"pygochan.ErrGroup: {len(others)} more task(s) failed: " + ", ".join(
                    f"{type(e).__name__}: {e}" for e in others
                )
                _add_note(first, note)
        raise first

    def __enter__(self) -> "ErrGroup":
        return self

    wait_async = _aio.err_group_wait_async
    __aenter__ = _aio._err_group_aenter
    __aexit__ = _aio._err_group_aexit

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            try:
                self.wait()
            except KeyboardInterrupt as interrupt:
                # Ctrl-C while waiting stops the tasks too (an executor's
                # pending futures are cancelled) before it propagates.
                self._cancel(interrupt)
                raise
            return
        # The body failed: stop the tasks and wait for them, then let the
        # body's exception propagate (task exceptions stay in .exceptions).
        self._cancel(exc)
        try:
            self._wg.wait()
        finally:
            self._waited = True


def _add_note(exc: BaseException, note: str) -> None:
    if sys.version_info >= (3, 11):
        exc.add_note(note)
    else:
        notes = getattr(exc, "__notes__", None)
        if notes is None:
            try:
                exc.__notes__ = [note]  # type: ignore[attr-defined]
            except AttributeError:
                pass
        else:
            notes.append(note)
