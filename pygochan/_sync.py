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
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Tuple, TypeVar

from . import _core
from ._context import with_cancel_cause

__all__ = ["ErrGroup", "Future", "Pool", "WaitGroup"]

_R = TypeVar("_R")

Future = _core.Future


class _StartToken:
    """Settles who owns a new thread's bookkeeping when starting it raises.

    ``Thread.start()`` can raise after the OS thread exists and will run:
    Ctrl-C lands in its wait for the thread to begin.  So the starter's undo
    and the new thread each claim the token, and only the first acts: the
    thread, which then runs its task and its own cleanup, or the undo, which
    takes the accounting back while the thread returns having run nothing::

        token = _StartToken()
        thread = threading.Thread(target=lambda: token.claim() and task())
        interrupted = _start_thread(thread, token, undo)
    """

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def claim(self) -> bool:
        """True for the first caller only."""
        return self._lock.acquire(blocking=False)


def _start_thread(thread: threading.Thread, token: _StartToken,
                  undo: Callable[[], None]) -> Optional[BaseException]:
    """Start ``thread``, whose target claims ``token`` first: None once
    started.  If ``start()`` raises: when the thread has not claimed,
    ``undo()`` and re-raise; when it has (it runs), return the exception,
    for the caller to raise without undoing anything."""
    try:
        thread.start()
    except BaseException as exc:
        if token.claim():
            undo()
            raise
        return exc
    return None


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

    def go(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> threading.Thread:
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
        self.add(1)
        token = _StartToken()

        def run() -> None:
            if not token.claim():
                return  # go() raised and took the count back
            try:
                fn(*args, **kwargs)
            except BaseException as exc:
                _report_thread_exception(exc)
            finally:
                self.done()

        thread = threading.Thread(target=run, name=f"pygochan-wg-{_name(fn)}", daemon=True)
        interrupted = _start_thread(thread, token, self.done)
        if interrupted is not None:
            raise interrupted
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
    for pool in list(_live_pools):
        pool.shutdown(wait=True)


_pool_numbers = itertools.count(1)


def _pools_after_fork_in_child() -> None:
    """fork() keeps only the calling thread: a pool's workers are gone in
    the child, so every pool is shut down there (submit raises RuntimeError,
    queued futures are cancelled) instead of handing tasks to nobody."""
    global _exit_hook_lock
    _exit_hook_lock = threading.Lock()
    for pool in list(_live_pools):
        pool._threads_lock = threading.Lock()
        pool._threads = set()
        pool._close(True)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pools_after_fork_in_child)


class Pool(_core._PoolBase, _cf.Executor):
    """A worker pool that is a ``concurrent.futures.Executor``::

        with gc.Pool(max_workers=8) as pool:
            fut = pool.submit(fetch, url)                 # a Future
            for page in pool.map(fetch, urls):            # lazy, in order
                ...

    Workers start on demand up to ``max_workers`` (default ``os.cpu_count()``),
    wait for work with the GIL released, the most recently idle one takes the
    next task, and each exits after ``idle_timeout`` seconds idle (``None``:
    never).  ``queue_size=0`` hands each task straight to a worker (``submit``
    blocks while all are busy); ``n > 0`` buffers ``n`` tasks; ``UNBOUNDED``
    never blocks.  A blocking ``submit`` takes ``submit_timeout=`` and
    ``submit_ctx=``, answers Ctrl-C, and has no effect when it raises.

    Tasks run with a copy of the submitter's ``contextvars``.  A task's
    exception lands in its future and never kills a worker; a failed future
    garbage-collected unread is reported through ``sys.unraisablehook``.
    """

    def __init__(
        self,
        max_workers: Optional[int] = None,
        idle_timeout: Optional[float] = 10.0,
        queue_size: int = 0,
        *,
        name: Optional[str] = None,
    ) -> None:
        if max_workers is None:
            max_workers = os.cpu_count() or 1
        self._configure(max_workers, idle_timeout, queue_size)
        self._name = name or f"pygochan-pool-{next(_pool_numbers)}"
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()
        self._worker_numbers = itertools.count(1)
        _live_pools.add(self)
        _install_exit_hook()

    def __repr__(self) -> str:
        state = "shut down" if self._shut_down else "open"
        return (
            f"<pygochan.Pool {self._name!r} {state}: max_workers={self.max_workers} "
            f"running={self.running} idle={self.idle} pending={self.pending}>"
        )

    # Called by the C core whenever it decides a new worker is needed.  It
    # returns None once started, raises if the worker will not run (the core
    # then undoes its count), and returns the exception that interrupted
    # start() after the worker began (the core raises it, undoing nothing).
    def _start_worker(self, first: Optional[Future[Any]]) -> Optional[BaseException]:
        token = _StartToken()
        thread = threading.Thread(
            target=self._worker_main,
            args=(first, token),
            name=f"{self._name}-worker-{next(self._worker_numbers)}",
        )
        with self._threads_lock:
            self._threads.add(thread)

        def forget() -> None:
            with self._threads_lock:
                self._threads.discard(thread)

        return _start_thread(thread, token, forget)

    def _worker_main(self, first: Optional[Future[Any]], token: _StartToken) -> None:
        try:
            if token.claim():
                self._work(first)
        finally:
            with self._threads_lock:
                self._threads.discard(threading.current_thread())

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new tasks; with ``cancel_futures`` cancel the queued ones;
        with ``wait`` block until every worker has exited (queued tasks run
        first unless cancelled).  A Ctrl-C during the wait cancels what is
        still queued and propagates."""
        self._close(cancel_futures)
        if not wait:
            return
        try:
            while True:
                with self._threads_lock:
                    threads = [t for t in self._threads if t is not threading.current_thread()]
                if not threads:
                    break
                for thread in threads:
                    thread.join()
        except BaseException:
            self._cancel_queued()
            raise

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.shutdown(wait=True)
        elif issubclass(exc_type, KeyboardInterrupt):
            # Ctrl-C: nothing queued starts, and nobody waits for running
            # tasks (they finish in the background; exit joins them).
            self.shutdown(wait=False, cancel_futures=True)
        else:
            self.shutdown(wait=True, cancel_futures=True)

    def map(
        self,
        fn: Callable[..., _R],
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
        ordered: bool = True,
        window: Optional[int] = None,
    ) -> Iterator[_R]:
        """Lazily yield ``fn(*args)`` for args taken from ``zip(*iterables)``.

        At most ``window`` tasks (default ``4 * max_workers``, at least 64)
        are in flight, so an endless generator works.  ``ordered=False``
        yields results as they complete.  ``timeout`` bounds the whole
        iteration (``TimeoutError``).  The first exception raised by ``fn``
        is raised from the iterator; leaving the loop early (``break``, an
        exception, Ctrl-C) cancels every task that has not started.

            for size in pool.map(len, pages, ordered=False):
                total += size
        """
        if not callable(fn):
            raise TypeError(f"map() needs a callable, not {type(fn).__name__}")
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1")
        if window is None:
            window = max(64, 4 * self.max_workers)
        elif isinstance(window, bool) or not isinstance(window, int):
            raise TypeError("window must be an int")
        elif window < 1:
            raise ValueError("window must be >= 1")
        deadline = None
        if timeout is not None:
            if timeout < 0:
                raise ValueError("timeout must be a non-negative number of seconds")
            deadline = _monotonic() + timeout
        args_iter = zip(*iterables)
        if ordered:
            return self._map_ordered(fn, args_iter, window, deadline)
        return self._map_unordered(fn, args_iter, window, deadline)

    def _map_ordered(
        self, fn: Callable[..., _R], args_iter: Iterator[Tuple[Any, ...]], window: int, deadline: Optional[float]
    ) -> Iterator[_R]:
        in_flight: "collections.deque[Future[_R]]" = collections.deque()
        submit, append, popleft = self.submit, in_flight.append, in_flight.popleft
        try:
            for args in itertools.islice(args_iter, window):
                append(submit(fn, *args))
            while in_flight:
                fut = popleft()
                result = fut.result() if deadline is None else fut.result(_remaining(deadline))
                more = next(args_iter, None)  # zip yields tuples, never None
                if more is not None:
                    append(submit(fn, *more))
                yield result
                del result
        finally:
            for fut in in_flight:
                fut.cancel()

    def _map_unordered(
        self, fn: Callable[..., _R], args_iter: Iterator[Tuple[Any, ...]], window: int, deadline: Optional[float]
    ) -> Iterator[_R]:
        finished: _core.Channel[_cf.Future[_R]] = _core.Channel(_core.UNBOUNDED)
        on_done, next_done = finished.send, finished.recv
        in_flight: set[_cf.Future[_R]] = set()
        submit = self.submit

        def start(args: Tuple[Any, ...]) -> None:
            fut = submit(fn, *args)
            in_flight.add(fut)
            fut.add_done_callback(on_done)

        try:
            for args in itertools.islice(args_iter, window):
                start(args)
            while in_flight:
                fut = next_done() if deadline is None else next_done(timeout=_remaining(deadline))
                in_flight.discard(fut)
                result = fut.result()
                more = next(args_iter, None)  # zip yields tuples, never None
                if more is not None:
                    start(more)
                yield result
                del result
        finally:
            for fut in in_flight:
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
    raises the first exception, with the others in its ``exceptions``
    attribute and a note; ``KeyboardInterrupt``/``SystemExit`` raised by a
    task are re-raised as they are.  An exception in the ``with`` body
    cancels ``g.ctx`` and waits for the tasks before propagating.  ``go``
    after ``wait()`` returned raises ``RuntimeError``.
    """

    def __init__(self, ctx: Optional[_core.Context] = None, limit: Optional[int] = None) -> None:
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

    def __repr__(self) -> str:
        return (
            f"<pygochan.ErrGroup running={self._wg.count} "
            f"failed={len(self._errors)} limit={self._limit}>"
        )

    def _check_open(self) -> None:
        if self._waited:
            raise RuntimeError("go() after wait() returned")

    def go(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Run ``fn(*args, **kwargs)`` in a new thread; with a ``limit``,
        first wait for a free slot."""
        self._check_open()
        if not callable(fn):
            raise TypeError(f"go() needs a callable, not {type(fn).__name__}")
        if self._slots is not None:
            self._slots.send(None)
        self._start(fn, args, kwargs)

    def try_go(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bool:
        """Like ``go``, but return False instead of waiting for a slot."""
        self._check_open()
        if not callable(fn):
            raise TypeError(f"try_go() needs a callable, not {type(fn).__name__}")
        if self._slots is not None:
            try:
                self._slots.send(None, timeout=0)
            except TimeoutError:
                return False
        self._start(fn, args, kwargs)
        return True

    def _start(self, fn: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
        self._wg.add(1)
        token = _StartToken()

        def finished() -> None:
            if self._slots is not None:
                self._slots.recv()
            self._wg.done()

        def run() -> None:
            if not token.claim():
                return  # go() raised and gave the slot back
            try:
                fn(*args, **kwargs)
            except BaseException as exc:  # recorded, re-raised by wait()
                self._fail(exc)
            finally:
                finished()

        thread = threading.Thread(target=run, name=f"pygochan-errgroup-{_name(fn)}", daemon=True)
        interrupted = _start_thread(thread, token, finished)
        if interrupted is not None:
            raise interrupted

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(exc)
            first = len(self._errors) == 1
        if first:
            self._cancel(exc)

    def wait(self, *, timeout: Optional[float] = None) -> None:
        """Wait for every task; raise the first exception (if any).

        ``timeout`` raises ``TimeoutError`` and leaves the group running.
        """
        self._wg.wait(timeout=timeout)
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

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.wait()
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
