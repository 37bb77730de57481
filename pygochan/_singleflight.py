"""Go's ``singleflight.Group`` (``golang.org/x/sync/singleflight``):
concurrent calls with the same key share one call's result.

A caller that waits for another's call waits on a pygochan channel, so it
follows the common rules (GIL released, ``timeout=``/``ctx=``, Ctrl-C, no
effect when it raises) and shows up in ``blocked()``.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, Generic, Optional, Tuple, TypeVar

from . import _core
from ._core import Channel, Context

__all__ = ["Singleflight"]

T = TypeVar("T")


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
