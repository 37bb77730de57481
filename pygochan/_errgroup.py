"""Go's ``errgroup.Group``: tasks in threads (or on an executor) whose first
failure cancels the group's context and is raised by ``wait()``.

The waiting is C (a WaitGroup, a channel of slots); this module adds what is
naturally Python: starting tasks, context managers and exception
bookkeeping.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

from . import _aio, _core, _executors
from ._context import _DAEMON, with_cancel_cause
from ._waitgroup import WaitGroup, _name

__all__ = ["ErrGroup"]

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    _P = ParamSpec("_P")


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

    async def wait_async(self, *, timeout: Optional[float] = None) -> None:
        """``wait()`` for coroutines: suspend until every task ends, then raise
        the first exception (if any)::

            await g.wait_async()
        """
        await _aio._wait_closed(self._wg, timeout, None)
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

    async def __aenter__(self) -> "ErrGroup":
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        _aio._bind_asyncio()
        if exc_type is None:
            await self.wait_async()
            return
        # The body failed (or the task was cancelled): stop the tasks, wait for
        # them without blocking the loop, then let the body's exception go on.
        self._cancel(exc)
        try:
            while True:
                try:
                    await _aio._wait_closed(self._wg, None, None)
                    break
                except _aio._CancelledError:
                    continue  # the tasks are already told to stop
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
