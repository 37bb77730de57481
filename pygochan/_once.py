"""Go's ``sync.Once`` and its Go 1.21 helpers ``OnceFunc`` and ``OnceValue``."""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Optional, TypeVar

__all__ = ["Once", "once_func", "once_value"]

R = TypeVar("R")


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
