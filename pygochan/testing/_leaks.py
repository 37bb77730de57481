"""Go's goroutine-leak profile for threads: which threads parked in
pygochan can never be woken (``leaked``, ``check_no_leaks``), and where
each was started (``track_thread_starts``).

A thread parked in a pygochan call waits on objects (a channel, the
channels of a select, a context, a future...).  It can only be woken by
someone who can reach one of them.  As in Go 1.27, the stacks of parked
threads are not roots: the heap is marked from the roots (the frames of
every thread not parked in pygochan, the modules, the signal handlers);
a parked thread whose wait objects get marked could be woken, so its own
stack becomes a root too; repeated until nothing changes.  The parked
threads left over are leaked: nothing that runs, or could ever run again,
holds what they wait on.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import sys
import threading
import time
import traceback
import types
import weakref
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Set, Tuple

from .. import _core
from .._core import Channel, Context, RecvCase, SendCase, background

__all__ = [
    "LeakError",
    "ParkedThread",
    "check_no_leaks",
    "format_report",
    "leaked",
    "parked",
    "started_at",
    "track_thread_starts",
]

_THIS_FILE = __file__


# ---- where threads were started ------------------------------------------------

_start_lock = threading.Lock()
# Guarded by _start_lock: how many track_thread_starts() blocks are active,
# and the start() _recording_start calls while it is in threading.Thread's
# chain of start() wrappers (None when it is not).
_tracking = 0
_original_start: Optional[Callable[[threading.Thread], None]] = None
_start_stacks: "weakref.WeakKeyDictionary[threading.Thread, traceback.StackSummary]" = (
    weakref.WeakKeyDictionary()
)


def _stack_of(frame: Optional[types.FrameType]) -> traceback.StackSummary:
    """The stack from the outermost frame down to ``frame``, as text only:
    keeping the frames would keep their locals, and so what threads wait on,
    alive and reachable.  Source lines are read when the report is printed."""
    stack = traceback.StackSummary.extract(traceback.walk_stack(frame), lookup_lines=False)
    stack.reverse()
    return stack


def _recording_start(self: threading.Thread) -> None:
    if _tracking:
        _start_stacks[self] = _stack_of(sys._getframe(1))
    start = _original_start
    assert start is not None
    start(self)


@contextlib.contextmanager
def track_thread_starts() -> Iterator[None]:
    """Record where every thread started inside the block was started, for
    the reports of ``leaked()`` and ``check_no_leaks()``::

        with gc.testing.track_thread_starts():
            run_the_code_under_test()
        gc.testing.check_no_leaks()

    While a block is active, ``threading.Thread.start`` records its caller's
    stack (file names, lines and function names, a few microseconds per
    thread); outside every block ``Thread.start`` is the original, and
    nothing is recorded.  Blocks nest and may be entered from any thread.
    """
    global _tracking, _original_start
    with _start_lock:
        if _original_start is None:
            _original_start = threading.Thread.start
            threading.Thread.start = _recording_start  # type: ignore[method-assign]
        _tracking += 1
    try:
        yield
    finally:
        with _start_lock:
            _tracking -= 1
            # Taken out of the chain only if nothing wrapped start() over it
            # meanwhile (a bubble does, for good): then it stays, recording
            # nothing until a block is active again.
            if _tracking == 0 and threading.Thread.start is _recording_start:
                threading.Thread.start = _original_start  # type: ignore[method-assign,assignment]
                _original_start = None


def started_at(thread: threading.Thread) -> Optional[traceback.StackSummary]:
    """Where ``thread`` was started, if that happened inside
    ``track_thread_starts()``; else None."""
    return _start_stacks.get(thread)


# ---- the report ------------------------------------------------------------------


class ParkedThread(NamedTuple):
    """A thread parked in a pygochan call, as ``leaked()`` and ``parked()``
    report it; ``str()`` of it is a readable paragraph."""

    thread: Optional[threading.Thread]  #: None for a thread threading does not know
    ident: int  #: the thread's ident
    name: str  #: the thread's name ("?" if unknown)
    operation: str  #: "recv", "send", "select", "wait", "result", ...
    objects: Tuple[str, ...]  #: the reprs of what it waits on (and its ctx=)
    since: float  #: when it parked, on the time.monotonic() clock
    leaked: bool  #: nothing outside the parked threads can wake it
    blocked_at: traceback.StackSummary  #: its stack, innermost frame last
    started_at: Optional[traceback.StackSummary]  #: see track_thread_starts()

    def __str__(self) -> str:
        what = ", ".join(self.objects) if self.objects else "(nothing pygochan can show)"
        state = "leaked: nothing outside the parked threads can wake it" if self.leaked else (
            "parked: something alive could still wake it")
        lines = [f"thread {self.name!r} (ident {self.ident}): {self.operation} on {what}",
                 f"  {state}, parked for {max(0.0, time.monotonic() - self.since):.1f} s",
                 "  blocked at:"]
        lines += _indent(self.blocked_at)
        if self.started_at is not None:
            lines.append("  started at:")
            lines += _indent(self.started_at)
        else:
            lines.append("  started at: unknown (started outside gc.testing.track_thread_starts())")
        return "\n".join(lines)


def _indent(stack: traceback.StackSummary) -> List[str]:
    return ["  " + line for chunk in stack.format() for line in chunk.rstrip("\n").split("\n")]


def format_report(threads: List[ParkedThread]) -> str:
    """The report for ``threads``: a header, then one paragraph each."""
    nleaked = sum(t.leaked for t in threads)
    header = (f"pygochan: {len(threads)} thread(s) parked in pygochan, {nleaked} of them leaked "
              "(nothing outside the parked threads can wake them)")
    return "\n\n".join([header, *(str(t) for t in threads)])


class LeakError(AssertionError):
    """Raised by ``check_no_leaks()``: threads remain that can never be
    woken.  ``threads`` lists them; the message is their report."""

    def __init__(self, threads: List[ParkedThread]) -> None:
        super().__init__(format_report(threads))
        self.threads = threads


# ---- the analysis ----------------------------------------------------------------


class _Wait(NamedTuple):
    ident: int
    operation: str
    objects: Tuple[Any, ...]
    ctx: Optional[Context]
    since: float
    timed: bool


def _raw_waits() -> List[_Wait]:
    """The parked waits that could leak: an idle Pool worker waits for work
    that the Pool's users may still submit, and leaves by itself once the
    Pool is gone, so it is never one."""
    return [_Wait(*w) for w in _core._blocked(True) if w[1] != "idle worker"]


def _live_frames() -> Dict[int, types.FrameType]:
    if _core._IN_MAIN_INTERPRETER:
        return sys._current_frames()
    # (inside a subinterpreter only this thread's frames can be read safely,
    # see pygochan._debug._frames)
    return {threading.get_ident(): sys._getframe()}


def _stack_frames(frame: Optional[types.FrameType]) -> List[types.FrameType]:
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames


def _ancestors(ctx: Context) -> List[Context]:
    """ctx's parents up to (without) background(), which nothing cancels.
    A Context refers to its parent; a value that is a Context is counted
    too, which only makes the answer more cautious."""
    root = background()
    found: List[Context] = []
    seen: Set[int] = set()
    todo = [ctx]
    while todo:
        c = todo.pop()
        for r in gc.get_referents(c):
            if isinstance(r, Context) and r is not root and id(r) not in seen:
                seen.add(id(r))
                found.append(r)
                todo.append(r)
    return found


def _wake_targets(wait: _Wait, done_owners: Dict[int, List[Context]]) -> Optional[List[Any]]:
    """The objects whose reachability means someone could wake this wait,
    or None if it will end by itself (or cannot be judged)."""
    if wait.timed:
        return None
    targets: List[Any] = []
    contexts: List[Context] = []
    if wait.ctx is not None:
        contexts.append(wait.ctx)
    if not wait.objects and wait.ctx is None:
        return None  # nothing recorded (the free-threaded build): never guess
    for obj in wait.objects:
        if isinstance(obj, (RecvCase, SendCase)):
            channels = [r for r in gc.get_referents(obj) if isinstance(r, Channel)]
        elif isinstance(obj, Channel):
            channels = [obj]
        elif isinstance(obj, Context):
            contexts.append(obj)
            continue
        else:  # a Future, a WaitGroup, a Pool...: whoever holds it can wake it
            running = getattr(obj, "running", None)
            if callable(running) and running() is True:
                return None  # a task runs: settling its future is its thread's job
            targets.append(obj)
            # a Pool's workers hold its queue, never the Pool: taking a job
            # frees room for a blocked submit
            work = getattr(obj, "_work", None) if isinstance(obj, _pool_types()) else None
            if work is not None:
                targets.append(work)
            continue
        for ch in channels:
            if _core._wakes_by_itself(ch):
                return None  # a pending timer, or a deadline
            # and a view's channel, whose holders send and close
            for c in [ch, *(r for r in gc.get_referents(ch) if isinstance(r, Channel))]:
                targets.append(c)
                contexts += done_owners.get(id(c), [])
    for ctx in contexts:
        if ctx.deadline() is not None:
            return None
        targets.append(ctx)
        targets += _ancestors(ctx)
    return targets


def _pool_types() -> Tuple[type, ...]:
    from .._pool import Pool

    return (Pool,)


def _done_owners(waits: List[_Wait]) -> Dict[int, List[Context]]:
    """id(channel) -> the Contexts that refer to it, for the channels the
    waits wait on: a Context's done channel closes when whoever reaches the
    Context (or cancels a parent) cancels it.  (A Context that holds the
    channel as a value is counted too: reaching it reaches the channel
    anyway.)  One pass over the objects the collector tracks."""
    channels: Dict[int, "Channel[Any]"] = {}
    for w in waits:
        for obj in w.objects:
            found = [obj] if isinstance(obj, Channel) else [
                r for r in gc.get_referents(obj) if isinstance(r, Channel)
            ] if isinstance(obj, (RecvCase, SendCase)) else []
            for ch in found:  # and the channel a view views
                for c in [ch, *(r for r in gc.get_referents(ch) if isinstance(r, Channel))]:
                    channels[id(c)] = c
    owners: Dict[int, List[Context]] = {}
    if not channels:
        return owners
    for ref in gc.get_referrers(*channels.values()):
        if isinstance(ref, Context):
            for r in gc.get_referents(ref):
                if id(r) in channels:
                    owners.setdefault(id(r), []).append(ref)
    return owners


def _signal_handlers() -> List[Any]:
    if not _core._IN_MAIN_INTERPRETER:
        return []
    handlers = []
    for signum in signal.valid_signals():
        try:
            handler = signal.getsignal(signum)
        except (ValueError, OSError):
            continue
        if callable(handler):
            handlers.append(handler)
    return handlers


# Since 3.11 a running frame's traversal leaves its locals out: they are
# read through f_locals (on 3.11 and 3.12 a snapshot dict the frame keeps
# until it next makes one, as for a debugger; a proxy from 3.13 on).
_LOCALS_THROUGH_F_LOCALS = sys.version_info >= (3, 11)


def _frame_referents(frame: types.FrameType) -> List[Any]:
    """What a frame holds: its arguments, locals and closure cells."""
    found: List[Any] = list(gc.get_referents(frame))
    if _LOCALS_THROUGH_F_LOCALS:
        try:
            found += list(frame.f_locals.values())
        except Exception:  # a broken locals mapping: its traversal is all there is
            pass
    found.append(frame.f_globals)
    return found


def _module_referents(module: types.ModuleType) -> List[Any]:
    """What Python code can reach through a module: its namespace.  Never
    the module's traversal, which also runs the extension's own traverse
    function over its C state, and some visit raw memory: _asyncio's on
    CPython 3.12.0-3.12.5 visits its free list of FutureIters, and an
    object taken from that is freed again when dropped (gh-122695), which
    corrupts the heap.  What an extension keeps only in its C state is
    not seen (the docs list it among what the analysis misses)."""
    namespace = getattr(module, "__dict__", None)
    return [namespace] if namespace is not None else []


def _analyze() -> List[ParkedThread]:
    """Every parked wait (but idle Pool workers), each marked leaked or not."""
    waits = _raw_waits()
    if not waits:
        return []
    frames = _live_frames()
    threads = {t.ident: t for t in threading.enumerate()}
    by_ident = {w.ident: w for w in waits}

    # A parked thread's stack: its frames and its Thread (whose target and
    # arguments its run() still holds).  Not roots, until the thread is found
    # reachable; what else refers to them (threading's table of threads) does
    # not reach past them.
    stacks: Dict[int, List[Any]] = {}
    fence: Dict[int, int] = {}  # id(frame or Thread) -> the parked thread's ident
    for ident in by_ident:
        own = [f for f in _stack_frames(frames.get(ident)) if f.f_code.co_filename != _THIS_FILE]
        thread = threads.get(ident)
        stack: List[Any] = list(own)
        if thread is not None:
            stack.append(thread)
        stacks[ident] = stack
        for obj in stack:
            fence[id(obj)] = ident

    done_owners = _done_owners(waits)
    wakers: Dict[int, List[int]] = {}  # id(target) -> parked idents it can wake
    keep: List[Any] = []  # the targets, kept alive while their ids are used
    reachable: Set[int] = set()
    for w in waits:
        targets = _wake_targets(w, done_owners)
        if targets is None:
            reachable.add(w.ident)
            continue
        keep.extend(targets)
        for t in targets:
            wakers.setdefault(id(t), []).append(w.ident)

    roots: List[Any] = [sys.modules, *_signal_handlers()]
    for ident, frame in frames.items():
        if ident not in by_ident:
            roots += [f for f in _stack_frames(frame) if f.f_code.co_filename != _THIS_FILE]
    for ident in reachable:
        roots += stacks[ident]

    is_tracked = gc.is_tracked
    seen: Set[int] = set()
    marked: List[Any] = []  # keeps what was marked alive, so no id is reused meanwhile
    frontier = roots
    while frontier:
        expand: List[Any] = []
        released: List[Any] = []
        for obj in frontier:
            if not is_tracked(obj) and type(obj) is not types.FrameType:
                # holds no tracked object, and every wait object and Thread
                # is tracked: nothing to learn from it (a running frame is
                # not tracked, and holds its locals)
                continue
            key = id(obj)
            if key in seen:
                continue
            owner = fence.get(key)
            if owner is not None and owner not in reachable:
                continue  # a parked thread's own stack: only once it is reachable
            seen.add(key)
            marked.append(obj)
            if key in wakers:
                for ident in wakers[key]:
                    if ident not in reachable:
                        reachable.add(ident)
                        released += stacks[ident]
            if type(obj) is types.FrameType:
                released += _frame_referents(obj)
            elif isinstance(obj, types.ModuleType):
                released += _module_referents(obj)
            else:
                expand.append(obj)
        frontier = released + (gc.get_referents(*expand) if expand else [])
    del marked, keep

    report = []
    for w in waits:
        thread = threads.get(w.ident)
        shown = [_safe_repr(o) for o in w.objects]
        if w.ctx is not None:
            shown.append(f"ctx={_safe_repr(w.ctx)}")
        top = frames.get(w.ident)
        report.append(ParkedThread(
            thread=thread,
            ident=w.ident,
            name=thread.name if thread is not None else "?",
            operation=w.operation,
            objects=tuple(shown),
            since=w.since,
            leaked=w.ident not in reachable,
            blocked_at=_without_bootstrap(_stack_of(top)) if top is not None else traceback.StackSummary(),
            started_at=_without_runner(_start_stacks.get(thread)) if thread is not None else None,
        ))
    report.sort(key=lambda p: p.since)
    return report


def _without_bootstrap(stack: traceback.StackSummary) -> traceback.StackSummary:
    """The stack less threading's own frames that start every thread
    (_bootstrap, _bootstrap_inner, run)."""
    skip = 0
    while skip < len(stack) - 1 and stack[skip].filename == threading.__file__:
        skip += 1
    return traceback.StackSummary.from_list(stack[skip:])


_RUNNER_PARTS = ("/_pytest/", "/pluggy/", "/pytest/", "<frozen runpy>", "/runpy.py")


def _without_runner(stack: Optional[traceback.StackSummary]) -> Optional[traceback.StackSummary]:
    """The stack less its outermost frames that belong to the test runner
    (pytest, pluggy, runpy): they are the same for every test."""
    if stack is None:
        return None
    skip = 0
    while skip < len(stack) - 1 and any(
            part in stack[skip].filename.replace("\\", "/") for part in _RUNNER_PARTS):
        skip += 1
    return traceback.StackSummary.from_list(stack[skip:])


def _safe_repr(obj: Any) -> str:
    try:
        return repr(obj)
    except Exception as exc:  # a broken __repr__ must not hide the report
        return f"<{type(obj).__name__} object, repr raised {type(exc).__name__}>"


def parked() -> List[ParkedThread]:
    """Every thread parked in a pygochan call now (idle Pool workers
    aside), longest first, each with ``leaked`` telling whether anything
    outside the parked threads can still wake it."""
    return _analyze()


def leaked() -> List[ParkedThread]:
    """The threads parked in pygochan that can never be woken, longest
    first: nothing outside the parked threads can reach what they wait on
    (Go 1.27's goroutine-leak rule; docs/testing.md says what it cannot
    see)::

        for t in gc.testing.leaked():
            print(t)        # thread, operation, object, blocked at, started at
    """
    return [p for p in _analyze() if p.leaked]


def _check_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not timeout >= 0:
        raise ValueError("timeout must be a non-negative number of seconds")
    return float(timeout)


# How long the set of parked waits stays the same before it is analyzed:
# threads that are about to end, or to be woken, get this long.
_SETTLE_SECONDS = 0.02
_POLL_SECONDS = 0.01


def _settle(timeout: float, counts: Callable[[int], bool],
            fails: Callable[[List[ParkedThread]], List[ParkedThread]]) -> None:
    """Wait up to ``timeout`` until no parked wait ``counts`` (by thread
    ident).  Raise LeakError with what ``fails`` picks from the analysis of
    the waits that count: at once when it picks a leaked one (a leaked
    thread stays leaked), else once the time is up."""
    deadline = time.monotonic() + timeout
    last_key: Optional[frozenset[Tuple[int, float]]] = None
    last_change = time.monotonic()
    analyzed_key: Optional[frozenset[Tuple[int, float]]] = None
    while True:
        waits = [(w[0], w[3]) for w in _core._blocked() if w[1] != "idle worker" and counts(w[0])]
        if not waits:
            return
        key = frozenset(waits)
        now = time.monotonic()
        if key != last_key:
            last_key, last_change = key, now
        if now >= deadline or (key != analyzed_key and now - last_change >= _SETTLE_SECONDS):
            analyzed_key = key
            found = [p for p in _analyze() if counts(p.ident)]
            failed = fails(found)
            if failed and (now >= deadline or any(p.leaked for p in failed)):
                raise LeakError(failed)
            if now >= deadline:
                return
        time.sleep(_POLL_SECONDS)


def check_no_leaks(timeout: float = 1.0) -> None:
    """Wait up to ``timeout`` seconds for the threads parked in pygochan to
    be woken or to end; raise ``LeakError`` (an ``AssertionError``) with the
    report as soon as one is found that can never be woken::

        gc.testing.check_no_leaks(timeout=1.0)

    Threads parked where something alive could still wake them (a channel
    the caller holds) are not leaks and do not make it fail; while any is
    parked, it waits the whole ``timeout`` for a leak to show.
    """
    _check_timeout(timeout)
    _settle(timeout, lambda ident: True, lambda found: [p for p in found if p.leaked])
