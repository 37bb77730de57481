"""Bubbles: threads on a virtual clock that moves only when they all wait.

The bubble itself (membership, parking, the clock and its timers) is in the
core (csrc/core/gc_bubble.c); this module adds what Python sees: the
``with`` block, threads started inside joining it, and ``patch_time``.
"""

from __future__ import annotations

import operator
import threading
import time as _time
from types import TracebackType
from typing import Any, Callable, Optional, SupportsIndex, Type, cast

from .. import _core
from .._debug import Deadlock

__all__ = ["Bubble", "bubble", "current"]


class Bubble(_core._Bubble):
    """A testing bubble (Go's ``synctest`` bubble); made by :func:`bubble`.

    Threads started by its threads belong to it; pygochan's clock there is
    the bubble's virtual clock, which moves only when every thread of the
    bubble is durably blocked in pygochan.

    >>> with gc.testing.bubble() as b:
    ...     t0 = b.now()
    ...     gc.after(10).recv()
    ...     assert b.now() == t0 + 10
    """

    # ``now()`` (its virtual time.monotonic()), ``wait()`` and ``members``
    # come from the C part.
    _patch_time: bool = False
    _used: bool = False
    _over: bool = False
    _root: Any = None
    _wall_offset: float = 0.0

    def __enter__(self) -> "Bubble":
        if self._used:
            raise RuntimeError("a bubble is entered once; make a new one with bubble()")
        self._used = True
        if _core._bubble_current() is not None:
            raise RuntimeError(
                "bubbles do not nest: this thread is in a testing bubble already"
            )
        _install_thread_hook()
        # Wall-clock time in the bubble (patch_time) moves with its clock.
        self._wall_offset = _real_time() - self.now()
        # Ctrl-C held off: the thread is in the bubble exactly when
        # __exit__ will take it out.
        _core._holding_sigint(self._enter_root)
        return self

    def _enter_root(self) -> None:
        root = self._add()
        root.enter(threading.current_thread().name)
        self._root = root
        if self._patch_time:
            _patch_time(True)

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        deadlock: Optional[BaseException] = None
        # Ctrl-C (or SystemExit) leaving the block does not wait: the
        # bubble's other threads go on without this one.
        interrupted = exc_type is not None and not issubclass(exc_type, Exception)
        try:
            # Until every other thread has ended.  If they can never end,
            # every waiting thread gets Deadlock (its report names who waits
            # on what) and this goes on waiting for them to leave.
            while not interrupted:
                try:
                    self._join_others()
                    break
                except Deadlock as e:
                    if deadlock is None:
                        deadlock = e
        finally:
            if self._patch_time:
                _patch_time(False)
            root, self._root = self._root, None
            root.leave()
            self._over = True  # threads started later run outside
        if deadlock is not None and exc_type is None:
            raise deadlock

    def __repr__(self) -> str:
        return f"<pygochan.testing.Bubble now={self.now():.6f} members={self.members}>"

    def time(self) -> float:
        """The bubble's virtual ``time.time()`` (what ``patch_time`` shows)."""
        return self.now() + self._wall_offset


def bubble(*, patch_time: bool = False) -> Bubble:
    """A testing bubble (Go's ``synctest.Test``), to use in a ``with`` block.

    Inside, every pygochan clock read (``timeout=``, contexts, ``after``,
    ``Timer``, ``Ticker``, ``after_func``, ``gc.sleep``) uses the bubble's
    virtual monotonic clock, which starts at the real ``time.monotonic()``
    and jumps to the next deadline once every thread of the bubble is
    durably blocked in pygochan.  Leaving the block waits for the threads
    started inside.  ``patch_time=True`` also makes ``time.sleep``,
    ``time.monotonic`` and ``time.time`` virtual on the bubble's threads.

    >>> with gc.testing.bubble() as b:
    ...     with gc.with_timeout(gc.background(), 30) as ctx:
    ...         ctx.wait()                      # 30 virtual seconds, at once
    ...     b.now()
    """
    if not isinstance(patch_time, bool):
        raise TypeError(f"patch_time must be a bool, not {type(patch_time).__name__}")
    b = Bubble()
    b._patch_time = patch_time
    return b


def current() -> Optional[Bubble]:
    """The bubble the calling thread belongs to, or None.

    >>> with gc.testing.bubble() as b:
    ...     assert gc.testing.current() is b
    """
    return cast(Optional[Bubble], _core._bubble_current())


# ---- threads started inside join the bubble ----------------------------------

_hook_lock = threading.Lock()
_original_start: Optional[Callable[[threading.Thread], None]] = None
_original_join: Optional[Callable[..., None]] = None


def _install_thread_hook() -> None:
    """Wrap ``threading.Thread.start`` and ``join`` once: outside a bubble
    they cost one C call per start and one attribute look-up per join."""
    global _original_start, _original_join
    with _hook_lock:
        if _original_start is None:
            _original_start = threading.Thread.start
            _original_join = threading.Thread.join
            threading.Thread.start = _start  # type: ignore[method-assign]
            threading.Thread.join = _join  # type: ignore[method-assign]


def _join(self: threading.Thread, timeout: Optional[float] = None) -> None:
    # A bubble thread joining another one waits in pygochan, durably, and
    # on the virtual clock: a join is how most tests wait for a thread.
    ended = self.__dict__.get("_pygochan_bubble_ended")
    assert _original_join is not None
    if ended is not None and _core._bubble_current() is not None:
        if timeout is not None and timeout < 0:
            timeout = 0
        try:
            ended.recv_ok(timeout=timeout)
        except TimeoutError:
            return  # join(timeout) returns quietly; is_alive() tells
    _original_join(self, timeout)


# A thread-local override of the bubble that the thread of a given name,
# started next here, joins: a Pool's workers belong to the bubble the Pool
# was made in (or none), whichever thread's submit happens to start them.
# Keyed by the name, so that an override whose thread never started (the
# start failed, or Ctrl-C came first) cannot send another thread elsewhere.
_next_start = threading.local()


def _start_thread_named_in(name: str, owner: "Optional[_core._Bubble]") -> None:
    # Before the first bubble there is no hook to read it, and no bubble
    # for a Pool to belong to: nothing to record.
    if _original_start is not None:
        _next_start.pending = (name, owner)


def _start(self: threading.Thread) -> None:
    owner = _core._bubble_current()
    pending = _next_start.__dict__.pop("pending", None)
    if pending is not None and pending[0] == self.name:
        owner = pending[1]
    assert _original_start is not None
    if owner is None or getattr(owner, "_over", False):
        return _original_start(self)
    # Counted before it exists, so that time cannot move before it runs;
    # Ctrl-C held off so that the count is always given back.
    _core._holding_sigint(_start_member, self, owner)


def _start_member(thread: threading.Thread, owner: Bubble) -> None:
    member = owner._add()
    run = thread.run
    ended: "_core.Channel[None]" = _core.Channel()  # the bubble's: closed as it leaves
    thread.__dict__["_pygochan_bubble_ended"] = ended

    def run_in_bubble() -> None:
        if not member.enter(thread.name):
            ended.close()
            return run()
        try:
            run()
        finally:
            thread.__dict__.pop("run", None)
            ended.close()
            member.leave()

    thread.run = run_in_bubble  # type: ignore[method-assign]
    try:
        assert _original_start is not None
        _original_start(thread)
    except BaseException:
        if member.cancel():
            thread.__dict__.pop("run", None)
            thread.__dict__.pop("_pygochan_bubble_ended", None)
        raise


# ---- patch_time ---------------------------------------------------------------

_real_sleep = _time.sleep
_real_monotonic = _time.monotonic
_real_monotonic_ns = _time.monotonic_ns
_real_time = _time.time
_real_time_ns = _time.time_ns
_patched = 0  # bubbles with patch_time open, guarded by _hook_lock


def _patching_bubble() -> Optional[Bubble]:
    b = current()
    if b is not None and b._patch_time:
        return b
    return None


def _sleep(seconds: "float | SupportsIndex") -> None:
    b = _patching_bubble()
    if b is None:
        return _real_sleep(seconds)
    if not isinstance(seconds, (int, float)):
        seconds = operator.index(seconds)  # what time.sleep takes besides numbers
    _core.sleep(seconds)


def _monotonic() -> float:
    b = _patching_bubble()
    return _real_monotonic() if b is None else b.now()


def _monotonic_ns() -> int:
    b = _patching_bubble()
    return _real_monotonic_ns() if b is None else round(b.now() * 1e9)


def _wall_time() -> float:
    b = _patching_bubble()
    return _real_time() if b is None else b.time()


def _wall_time_ns() -> int:
    b = _patching_bubble()
    return _real_time_ns() if b is None else round(b.time() * 1e9)


def _patch_time(on: bool) -> None:
    """Route the time module's clock functions through the bubble while any
    bubble with patch_time is open; threads outside bubbles see the real
    functions' results."""
    global _patched
    with _hook_lock:
        _patched += 1 if on else -1
        if on and _patched == 1:
            _time.sleep = _sleep
            _time.monotonic = _monotonic
            _time.monotonic_ns = _monotonic_ns
            _time.time = _wall_time
            _time.time_ns = _wall_time_ns
        elif not on and _patched == 0:
            _time.sleep = _real_sleep
            _time.monotonic = _real_monotonic
            _time.monotonic_ns = _real_monotonic_ns
            _time.time = _real_time
            _time.time_ns = _real_time_ns
