"""Go's ``sync.WaitGroup``: the counter and its wait are C
(``_core._WaitGroupBase``); this module adds ``go``, which starts a thread
the group counts, and the awaited ``wait_async``."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Optional

from . import _aio, _core
from ._context import _DAEMON

__all__ = ["WaitGroup"]

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    _P = ParamSpec("_P")


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

    async def wait_async(self, *, timeout: Optional[float] = None,
                         ctx: Optional[_core.Context] = None) -> None:
        """``wait()`` for coroutines.

        Suspends the task until the counter is zero::

            await wg.wait_async(timeout=30)
        """
        await _aio._wait_closed(self, timeout, ctx)

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
        # count (see csrc/binding/threads.c).
        thread: threading.Thread = _core._go(self, run, f"pygochan-wg-{_name(fn)}", _DAEMON)
        return thread


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__
