"""Debugging a hang: who waits on what (``blocked``, ``dump_blocked``,
``dump_on_signal``) and Go's deadlock detector (``Deadlock``,
``set_deadlock_detection``).

The C core links a record of every wait that parks (never of one that
completes at once) into a per-interpreter registry; this module turns the
records into something to read.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
import weakref
from typing import IO, Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple, Union

from . import _core

__all__ = [
    "BlockedWait",
    "Deadlock",
    "blocked",
    "dump_blocked",
    "dump_on_signal",
    "set_deadlock_detection",
]

Deadlock = _core.Deadlock


class BlockedWait(NamedTuple):
    """One thread parked in a pygochan call, as ``blocked()`` reports it."""

    thread: Optional[threading.Thread]  #: None for a thread threading does not know
    ident: int  #: the thread's ident
    operation: str  #: "recv", "send", "select", "wait", "result", "submit", "idle worker", ...
    objects: Tuple[str, ...]  #: the reprs of what it waits on (select: its cases)
    since: float  #: when it parked, on the time.monotonic() clock
    timed: bool  #: the call has a timeout (it ends by itself)


def blocked() -> List[BlockedWait]:
    """Every thread parked in a pygochan call right now, longest first.

    >>> for w in gc.blocked():
    ...     print(w.thread.name, w.operation, *w.objects)
    worker-1 recv <pygochan.Channel capacity=0 len=0 closed=False ...>
    """
    threads = {t.ident: t for t in threading.enumerate()}
    pools: Optional[Dict[int, Any]] = None
    waits = []
    for ident, op, objects, since, timed in _core._blocked():
        if op == "idle worker":
            if pools is None:
                pools = _pools_by_work()
            objects = tuple(_pool_of(o, pools) for o in objects)
        waits.append(
            BlockedWait(threads.get(ident), ident, op, tuple(_safe_repr(o) for o in objects), since, timed)
        )
    waits.sort(key=lambda w: w.since)
    return waits


def _pools_by_work() -> Dict[int, Any]:
    """id(pool._work) -> pool, for every Pool alive."""
    from . import _pool  # lazily: the package imports this module first

    return {id(pool._work): pool for pool in list(_pool._live_pools)}


def _pool_of(work: Any, pools: Dict[int, Any]) -> Any:
    """An idle worker waits on its pool's _PoolWork, as it never holds the
    Pool itself: show the Pool.  Once the Pool is gone (its workers are
    then leaving), the _PoolWork is all there is."""
    pool = pools.get(id(work))
    return pool if pool is not None and pool._work is work else work


def _safe_repr(obj: Any) -> str:
    try:
        return repr(obj)
    except Exception as exc:  # a broken __repr__ must not hide the dump
        return f"<{type(obj).__name__} object, repr raised {type(exc).__name__}>"


def _frames() -> Dict[int, Any]:
    """Thread ident -> its current frame, for the stacks in a report."""
    if _core._IN_MAIN_INTERPRETER:
        return sys._current_frames()
    # sys._current_frames() walks the threads of every interpreter and makes
    # frame objects of the others' frames: inside a subinterpreter that
    # corrupts memory (a crash at exit).  Only this thread's own is safe.
    return {threading.get_ident(): sys._getframe(1)}


def _describe(waits: List[BlockedWait], now: float) -> List[str]:
    frames = _frames()
    lines = []
    for w in waits:
        name = w.thread.name if w.thread is not None else "?"
        what = ", ".join(w.objects) if w.objects else ""
        timed = ", with a timeout" if w.timed else ""
        lines.append(f"thread {name!r} (ident {w.ident}): {w.operation} {what} [{now - w.since:.1f} s{timed}]")
        frame = frames.get(w.ident)
        if frame is not None:
            stack = [e for e in traceback.extract_stack(frame) if e.filename != __file__]
            for entry in stack[-3:]:
                lines.append(f'    File "{entry.filename}", line {entry.lineno}, in {entry.name}')
    return lines


def dump_blocked(file: Optional[IO[str]] = None) -> None:
    """Write who waits on what, like faulthandler writes tracebacks.

    >>> gc.dump_blocked()                 # to sys.stderr
    """
    if file is None:
        file = sys.stderr
    waits = blocked()
    now = time.monotonic()
    header = f"pygochan: {len(waits)} thread(s) blocked in pygochan calls"
    print("\n".join([header, *_describe(waits, now)]), file=file, flush=True)


def _dump_handler(signum: int, frame: Any) -> None:
    dump_blocked()


_dump_handler._pygochan_dump = True  # type: ignore[attr-defined]

_Handler = Union[Callable[[int, Any], Any], int, None]


def _dump_signal_name(platform: str) -> str:
    """The signal dump_on_signal() listens to by default on ``platform``
    (a ``sys.platform`` value): SIGQUIT, Go's goroutine dump (Ctrl-\\ in a
    terminal), where it exists; on Windows, which has no SIGQUIT, SIGBREAK
    (Ctrl-Break), so that Ctrl-C stays KeyboardInterrupt."""
    return "SIGBREAK" if platform == "win32" else "SIGQUIT"


_DUMP_SIGNAL: int = getattr(signal, _dump_signal_name(sys.platform))


def dump_on_signal(signum: int = _DUMP_SIGNAL) -> _Handler:
    """Dump ``blocked()`` to stderr whenever ``signum`` arrives (opt in; the
    default is SIGQUIT, Go's goroutine dump, Ctrl-\\ in a terminal; on
    Windows, SIGBREAK, Ctrl-Break).  Call it from the main thread; returns
    the previous handler.

        >>> gc.dump_on_signal(signal.SIGUSR1)   # then: kill -USR1 <pid>
    """
    return signal.signal(signum, _dump_handler)


# ---- deadlock detection ---------------------------------------------------------


_ignored_threads: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet()


def set_deadlock_detection(
    enabled: bool,
    *,
    grace: Optional[float] = None,
    ignore_threads: Optional[Iterable[threading.Thread]] = None,
) -> None:
    """Turn deadlock detection on or off (on by default, as in Go), and set
    how long (seconds, default 1.0) the "nothing can wake anyone" state must
    hold before the main thread's wait raises ``Deadlock``::

        gc.set_deadlock_detection(False)   # waits on things pygochan cannot see

    ``ignore_threads`` names service threads that never wake a pygochan
    wait, so that they do not count as progress (added to the ones already
    ignored: a Jupyter kernel's own threads are, when pygochan is imported
    in the kernel); a thread is ignored while it runs, and forgotten when it
    ends (a new thread that gets its ident counts).  After the main thread's
    wait raised ``Deadlock``, the exit ends the waits of the non-daemon
    threads still parked for good, with ``Deadlock``, so that the program
    exits (docs/debugging.md).  ``PYGOCHAN_DEADLOCK_DETECTION=0`` in the environment
    turns detection off at import.  Threads created outside Python that call
    in later (callbacks from a C library) are invisible until they do: turn
    detection off when a program waits for such a callback with no timeout.
    """
    if grace is None:
        grace = _core._deadlock_detection()[1]
    if ignore_threads is not None:
        threads = list(ignore_threads)
        for t in threads:
            if not isinstance(t, threading.Thread):
                raise TypeError(f"ignore_threads must hold Threads, not {type(t).__name__}")
        _ignored_threads.update(threads)
    _core._set_deadlock_detection(bool(enabled), grace)
    _refresh_ignored()


def _refresh_ignored() -> None:
    """Tell the core which running threads to ignore.  It remembers each by
    its thread state, never by ident: the next thread often gets the ident
    of one that ended (and a fork() child's new threads those of the
    parent's threads), and must not be ignored for it.  Threads that ended
    are forgotten."""
    known = list(_ignored_threads)
    # (one not started yet is kept for a later call, as its ident is unknown)
    _ignored_threads.difference_update(t for t in known if t.ident is not None and not t.is_alive())
    threads = [t for t in known if t.is_alive()]
    while True:
        _core._set_deadlock_ignored(tuple(t.ident for t in threads if t.ident is not None))
        # Alive now, so alive when the core looked: the thread states it
        # found under their idents were theirs, not a successor's.
        alive = [t for t in threads if t.is_alive()]
        if len(alive) == len(threads):
            return
        threads = alive


def _kernel_service_threads() -> List[threading.Thread]:
    """The threads a Jupyter (ipykernel) kernel runs for itself: IOPub,
    heartbeat, control, shell channel, the output pipe watchers, the parent
    poller (ParentPollerUnix; ParentPollerWindows on Windows) and IPython's
    history saver.  None of them runs user code or
    touches the user's channels while a cell is executing."""
    if "ipykernel" not in sys.modules:
        return []
    names = {"IOPub", "Heartbeat", "Control", "Shell channel"}
    kinds = {"Heartbeat", "ControlThread", "ShellChannelThread", "ParentPollerUnix",
             "ParentPollerWindows", "HistorySavingThread"}
    found = []
    for t in threading.enumerate():
        target = getattr(getattr(t, "_target", None), "__name__", "")
        if t.name in names or type(t).__name__ in kinds or target == "_watch_pipe_fd":
            found.append(t)
    return found


def _python_signal_handler_installed() -> bool:
    # A Python handler may send on a channel or cancel a context: progress.
    # CPython runs signal handlers only in the main thread of the main
    # interpreter, so in a subinterpreter none can ever run there (what
    # signal.getsignal() reports is the process's handlers, installed by
    # the main interpreter).
    if not _core._IN_MAIN_INTERPRETER:
        return False
    for signum in signal.valid_signals():
        try:
            handler = signal.getsignal(signum)
        except (ValueError, OSError):
            continue
        if handler in (None, signal.SIG_DFL, signal.SIG_IGN):
            continue
        if signum == signal.SIGINT and handler is signal.default_int_handler:
            continue
        if getattr(handler, "_pygochan_dump", False):
            continue
        return True
    return False


def _deadlock_report() -> Optional[str]:
    """Called by the main thread's wait once every thread has been parked
    with no way to wake for the grace period: the message, or None if a
    Python signal handler could still make progress."""
    if _python_signal_handler_installed():
        return None
    _install_exit_hook()
    waits = blocked()
    lines = ["all threads are asleep - deadlock!", ""]
    lines += _describe(waits, time.monotonic())
    lines += ["", "(pygochan.set_deadlock_detection(False) turns this check off)"]
    return "\n".join(lines)


_exit_hook_installed = False


def _install_exit_hook() -> None:
    """Once a deadlock is found: have threading run _end_deadlock_at_exit
    at exit, before it joins the non-daemon threads.  Installed this late,
    it runs before the hooks installed earlier (a Pool's, which could wait
    for tasks parked for good)."""
    global _exit_hook_installed
    if _exit_hook_installed:
        return
    register = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - every supported CPython has it
        return
    try:
        register(_end_deadlock_at_exit)
    except RuntimeError:  # the interpreter is already exiting
        return
    _exit_hook_installed = True


def _end_deadlock_at_exit() -> None:
    """Go ends a deadlocked program; the interpreter would wait forever for
    its non-daemon threads parked for good.  If the main thread's wait
    raised Deadlock and the program is still deadlocked (every other thread
    parked in pygochan with no way out, for the grace period), those
    threads' waits end with Deadlock, so that the threads unwind and the
    program exits.  Else, and in a program that never deadlocked, the exit
    waits for its threads as usual.  Watched until they end: a thread that
    deadlocks again while it unwinds is ended again."""
    me = threading.current_thread()
    ended_some = False
    while True:
        waiting = [t for t in threading.enumerate() if t is not me and not t.daemon and t.ident is not None]
        if not waiting or _python_signal_handler_installed():
            return
        if _core._end_deadlocked_waits(tuple(t.ident for t in waiting if t.ident is not None)):
            ended_some = True
        elif not ended_some:
            return  # not deadlocked: the usual join
        else:
            waiting[0].join(0.05)  # unwinding: look again shortly


_core._set_deadlock_reporter(_deadlock_report)
_ignored_threads.update(_kernel_service_threads())
_refresh_ignored()
if os.environ.get("PYGOCHAN_DEADLOCK_DETECTION", "1").strip().lower() in ("0", "false", "no", "off"):
    set_deadlock_detection(False)
