"""Context constructors that return (ctx, cancel) pairs, the after_func
runner thread, and signal_context.  The context machinery itself is C."""
import functools
import inspect
import os
import signal
import threading
import time
from typing import Any, Callable, Optional, Tuple, TypeVar, cast

from . import _core
from ._core import Context, background

__all__ = [
    "CancelPair",
    "SignalReceived",
    "signal_context",
    "with_cancel",
    "with_cancel_cause",
    "with_deadline",
    "with_deadline_cause",
    "with_timeout",
    "with_timeout_cause",
]


class CancelPair(Tuple[Context, Callable[..., None]]):
    """``(ctx, cancel)``; also a ``with`` block that cancels on exit.

    >>> with with_timeout(background(), 1.0) as ctx:
    ...     pass
    """

    __slots__ = ()

    def __new__(cls, ctx: Context, cancel: Callable[..., None]) -> "CancelPair":
        return super().__new__(cls, (ctx, cancel))

    @property
    def ctx(self) -> Context:
        return self[0]

    @property
    def cancel(self) -> Callable[..., None]:
        return self[1]

    def __repr__(self) -> str:
        return f"CancelPair(ctx={self[0]!r}, cancel=<cancel function>)"

    def __enter__(self) -> Context:
        return self[0]

    def __exit__(self, *exc_info: Any) -> None:
        self[1]()


def _cancel_func(ctx: Context) -> Callable[[], None]:
    # cancel() takes no cause; functools.partial keeps it a C call
    return functools.partial(ctx._cancel, None)


_F = TypeVar("_F", bound=Callable[..., Any])


def _keyword_hint(hint: str) -> Callable[[_F], _F]:
    """Make a keyword the function does not take (``timeout=``, the blocking
    calls' spelling) name the right parameter.  Only a call that passes a
    keyword pays for the check; the signature, seen by mypy, ``help()`` and
    the docs, stays the function's own."""

    def decorate(fn: _F) -> _F:
        names = frozenset(inspect.signature(fn).parameters)

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if kwargs:
                wrong = [k for k in kwargs if k not in names]
                if wrong:
                    raise TypeError(
                        f"{fn.__name__}() got an unexpected keyword argument {wrong[0]!r}: "
                        f"{fn.__name__}() {hint}"
                    )
            return fn(*args, **kwargs)

        return cast(_F, checked)

    return decorate


def with_cancel(parent: Context) -> CancelPair:
    """Go's context.WithCancel: a child that cancel() (idempotent) makes done.

    >>> ctx, cancel = with_cancel(background())
    >>> cancel(); ctx.err()
    Canceled('context canceled')
    """
    ctx = _core._new_context(parent, None)
    return CancelPair(ctx, _cancel_func(ctx))


def with_cancel_cause(parent: Context) -> CancelPair:
    """Go's context.WithCancelCause: cancel(cause) records why; see cause().

    >>> ctx, cancel = with_cancel_cause(background())
    >>> cancel(ValueError("bad input")); cause(ctx)
    ValueError('bad input')
    """
    ctx = _core._new_context(parent, None)
    return CancelPair(ctx, ctx._cancel)


@_keyword_hint(
    "takes the deadline as its second argument, `deadline`, a time on the "
    "time.monotonic() clock: with_deadline(parent, time.monotonic() + 5); "
    "for a duration, with_timeout(parent, seconds)"
)
def with_deadline(parent: Context, deadline: float) -> CancelPair:
    """Go's context.WithDeadline; deadline is on the time.monotonic() clock."""
    ctx = _core._new_context(parent, deadline)
    return CancelPair(ctx, _cancel_func(ctx))


@_keyword_hint(
    "takes the duration as its second argument, `seconds`: "
    "with_timeout(parent, 5) or with_timeout(parent, seconds=5)"
)
def with_timeout(parent: Context, seconds: float) -> CancelPair:
    """Go's context.WithTimeout: done with DeadlineExceeded after seconds.

    >>> with with_timeout(background(), 0.5) as ctx:
    ...     ch.recv(ctx=ctx)
    """
    ctx = _core._new_context(parent, _deadline_in(seconds))
    return CancelPair(ctx, _cancel_func(ctx))


@_keyword_hint(
    "takes the deadline as its second argument, `deadline`, a time on the "
    "time.monotonic() clock, and the cause as its third, `cause`: "
    "with_deadline_cause(parent, time.monotonic() + 5, cause); "
    "for a duration, with_timeout_cause(parent, seconds, cause)"
)
def with_deadline_cause(parent: Context, deadline: float, cause: BaseException) -> CancelPair:
    """Go's context.WithDeadlineCause: like with_deadline, and once the
    deadline passes cause(ctx) is ``cause`` (err() stays DeadlineExceeded,
    and a blocking call's DeadlineExceeded has ``cause`` as its __cause__).

    >>> ctx, cancel = with_deadline_cause(background(), 0, TimeoutError("slow backend"))
    >>> cause(ctx)
    TimeoutError('slow backend')
    """
    ctx = _core._new_context(parent, deadline, cause)
    return CancelPair(ctx, _cancel_func(ctx))


@_keyword_hint(
    "takes the duration as its second argument, `seconds`, and the cause as "
    "its third, `cause`: with_timeout_cause(parent, 5, cause)"
)
def with_timeout_cause(parent: Context, seconds: float, cause: BaseException) -> CancelPair:
    """Go's context.WithTimeoutCause: with_timeout whose expiry has a cause.

    >>> with with_timeout_cause(background(), 2.0, TimeoutError("no reply")) as ctx:
    ...     reply = replies.recv(ctx=ctx)
    """
    ctx = _core._new_context(parent, _deadline_in(seconds), cause)
    return CancelPair(ctx, _cancel_func(ctx))


def _deadline_in(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"seconds must be a number, not {type(seconds).__name__}")
    if seconds != seconds:
        raise ValueError("seconds must not be NaN")
    return _core._monotonic() + seconds


# ---- after_func: one runner thread starts each function in its own thread ----
#
# The runner runs only while it has something to do: functions queued, or
# contexts pinned by pending after-funcs (their deadline will queue them from
# the timer thread, where no Python runs).  Otherwise it ends, so that no
# thread of pygochan lingers in an idle interpreter (before 3.12,
# _xxsubinterpreters.destroy() refuses an interpreter that has any thread).
# It is started again by whatever queues or pins: after_func() and a cancel
# from Python (see csrc/binding/context.c).

_runner_lock = threading.Lock()
_runner: Optional[threading.Thread] = None
_runner_stopped = False

# A subinterpreter cannot end while any of its threads runs, and refuses
# daemon threads (isolated ones): there, threads are ordinary ones that exit
# joins.  The main interpreter keeps daemon threads, as before.
_DAEMON = bool(_core._IN_MAIN_INTERPRETER)


# Starting a thread can fail for a while ("can't start new thread" when the
# process is at its thread limit): retry, backing off up to this, rather
# than drop the function or let the runner die.
_START_RETRY_MAX = 1.0


def _run_after_funcs() -> None:
    global _runner
    queue = _core._after_func_queue
    while True:
        try:
            # Pinned contexts will queue functions: wait for them (a stop()
            # that unpins the last one sends False to wake this).  Else
            # only take what is queued already.
            fn = queue.recv(timeout=None if _core._after_funcs_pinned() else 0)
        except TimeoutError:
            with _runner_lock:
                # pinned first: a context unpins after queueing its functions
                if _core._after_funcs_pinned() == 0 and len(queue) == 0:
                    if _runner is threading.current_thread():
                        _runner = None
                    return
            continue
        if fn is None:  # _stop_runner: the interpreter is exiting
            return
        if fn is False:  # a wake-up: look again
            continue
        assert callable(fn)  # the queue carries functions, None and False
        delay = 0.001
        while True:
            try:
                threading.Thread(target=fn, name="pygochan-after-func", daemon=_DAEMON).start()
                break
            except RuntimeError:
                if _runner_stopped:
                    return  # exiting: no thread starts any more, _stop_runner waits
                time.sleep(delay)
                delay = min(delay * 2, _START_RETRY_MAX)
        del fn  # the function's thread owns it now


def _start_runner() -> None:
    global _runner
    with _runner_lock:
        if _runner_stopped:
            return  # exiting: functions registered now never run
        if _runner is None or not _runner.is_alive():
            runner = threading.Thread(target=_run_after_funcs,
                                      name="pygochan-after-func-runner", daemon=_DAEMON)
            runner.start()
            _runner = runner


def _stop_runner() -> None:
    """At exit, before threads are joined: the runner ends, so that the
    interpreter (a subinterpreter in particular) can finish."""
    global _runner_stopped
    with _runner_lock:
        _runner_stopped = True
        runner = _runner
    if runner is not None and runner.is_alive():
        _core._after_func_queue.send(None)
        runner.join()


def _after_fork_in_child() -> None:
    # fork() keeps only the forking thread: a runner the parent had is gone,
    # and pinned contexts or queued functions need one.
    global _runner, _runner_lock
    _runner_lock = threading.Lock()  # a thread that is gone may have held it
    _runner = None
    if _core._after_funcs_pinned() or len(_core._after_func_queue):
        _start_runner()


_core._set_after_func_runner(_start_runner)
threading._register_atexit(_stop_runner)  # type: ignore[attr-defined]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# ---- signal_context ------------------------------------------------------------

class SignalReceived(Exception):
    """The cause of a signal_context canceled by a signal."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = str(signum)
        super().__init__(f"received {name}")


def signal_context(parent: Context, *signals: int) -> CancelPair:
    """Go's signal.NotifyContext: a context canceled when a signal arrives.

    The signals default to SIGINT.  Their previous handlers come back when
    the context is done: at once when a signal or stop() (which also
    cancels) ends it, and when it is canceled otherwise, as soon as the main
    thread runs Python code again (a signal arriving before that goes to the
    previous handler).  Call it, and stop(), from the main thread: Python
    runs signal handlers only there.

    >>> ctx, stop = signal_context(background())
    >>> ctx.wait()            # until Ctrl-C
    >>> stop()
    """
    if threading.current_thread() is not threading.main_thread():
        raise ValueError("signal_context() must be called from the main thread")
    signums = signals or (signal.SIGINT,)
    ctx, cancel = with_cancel_cause(parent)
    previous = {s: signal.getsignal(s) for s in signums}
    restored = False

    def restore() -> None:
        nonlocal restored
        if not restored:
            restored = True
            for s, handler in previous.items():
                signal.signal(s, handler)

    def on_signal(signum: int, frame: Any) -> None:
        if ctx.err() is not None:  # canceled some other way: pass it on
            restore()
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL and signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        cancel(SignalReceived(signum))
        restore()

    for s in signums:
        signal.signal(s, on_signal)
    # canceled by a parent or a deadline: restore from the main thread
    ctx.after_func(lambda: _core._call_on_main_thread(restore))

    def stop() -> None:
        restore()
        cancel()

    return CancelPair(ctx, stop)

