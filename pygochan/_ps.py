"""``python -m pygochan ps PID``: who waits on what in another process.

On CPython 3.14+ the report is taken inside the target through
``sys.remote_exec`` (PEP 768): a small script, written to a private
temporary directory, runs in the target's main thread at its next safe
point, calls :func:`snapshot` there and writes the result as JSON next to
itself; this process waits for that file and prints it.  The target is not
stopped: the script runs between two bytecodes of its main thread, or, when
that thread is parked in a pygochan call, at the wait's periodic wake-up
(every 50 ms, where it also runs signal handlers: CPython 3.14's
``PyErr_CheckSignals`` runs a pending remote script).

On older CPythons ``ps`` says so and explains ``gc.dump_on_signal()``.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from typing import IO, Any, Dict, List, Optional, Sequence

__all__ = ["main", "snapshot", "format_snapshot", "PsError"]

#: exit status when the report could not be taken
FAILED = 1
#: exit status when this CPython cannot take it at all
UNSUPPORTED = 2

_MARKER = "__pygochan_ps__"  # a global of the injected script: its frames are left out


class PsError(Exception):
    """The report could not be taken; the message says why and what to do."""


# ---- in the target ---------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A stats snapshot (dict, NamedTuple, dataclass) as JSON-able data."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if type(value).__name__ == "ChannelStats":
        from ._report import stats_dict

        return _plain(stats_dict(value))
    as_dict = getattr(value, "_asdict", None)
    if callable(as_dict):
        return _plain(as_dict())
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None:
        return {name: _plain(getattr(value, name)) for name in fields}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _stats_of(obj: Any) -> Optional[Dict[str, Any]]:
    stats = getattr(obj, "stats", None)
    if not callable(stats):
        return None
    try:
        plain: Dict[str, Any] = _plain(stats())
        return plain
    except Exception as exc:  # a closed pool, a broken subclass: say so, go on
        return {"error": f"{type(exc).__name__}: {exc}"}


def _user_stack(frame: Any) -> List[List[Any]]:
    """The last frames of a thread's stack, without ps's own (the injected
    script and this module run on top of the main thread's wait)."""
    from . import _debug

    own = {__file__, _debug.__file__}
    while frame is not None and (frame.f_globals.get(_MARKER) or frame.f_code.co_filename in own):
        frame = frame.f_back
    if frame is None:
        return []
    return [[e.filename, e.lineno, e.name] for e in traceback.extract_stack(frame)[-5:]]


def snapshot() -> Dict[str, Any]:
    """What ``ps`` prints, taken in this process: the blocked() report with
    each thread's stack, the stats of every channel seen in those waits
    (select cases count by their channel) and of every live Pool."""
    import pygochan
    from . import _core, _debug, _pool

    channel_type = _core.Channel
    now = time.monotonic()
    threads = {t.ident: t for t in threading.enumerate()}
    frames = _debug._frames()
    pools_by_work = _debug._pools_by_work()
    waits: List[Dict[str, Any]] = []
    channels: Dict[int, Any] = {}
    for ident, op, objects, since, timed in _core._blocked():
        for obj in objects:
            target = obj if isinstance(obj, channel_type) else getattr(obj, "channel", None)
            if isinstance(target, channel_type):
                channels.setdefault(id(target), target)
        if op == "idle worker":
            objects = tuple(_debug._pool_of(o, pools_by_work) for o in objects)
        thread = threads.get(ident)
        waits.append({
            "thread": thread.name if thread is not None else None,
            "ident": ident,
            "operation": op,
            "objects": [_debug._safe_repr(o) for o in objects],
            "seconds": now - since,
            "timed": bool(timed),
            "stack": _user_stack(frames.get(ident)),
        })
    waits.sort(key=lambda w: -w["seconds"])
    channel_list = []
    for ch in channels.values():
        entry = {"repr": _debug._safe_repr(ch), "length": len(ch), "capacity": ch.capacity,
                 "closed": ch.closed}
        stats = _stats_of(ch)
        if stats is not None:
            entry["stats"] = stats
        channel_list.append(entry)
    pool_list = [{"repr": _debug._safe_repr(p), "stats": _stats_of(p)} for p in list(_pool._live_pools)]
    return {
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        "pygochan": getattr(pygochan, "__version__", "?"),
        "threads": len(threads),
        "blocked": waits,
        "channels": channel_list,
        "pools": pool_list,
    }


# The script the target runs.  It must never raise (CPython would print the
# error on the target's stderr) and leaves nothing behind in the target: its
# names live in a function's frame.  When the request is answered late (ps
# gave up and removed the `waiting` file), it removes its directory instead.
_SCRIPT = '''\
__pygochan_ps__ = True
def __pygochan_ps(directory):
    import json, os, sys
    waiting = os.path.join(directory, "waiting")
    if not os.path.exists(waiting):
        for name in ("request.py", "report.partial"):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass
        try:
            os.rmdir(directory)
        except OSError:
            pass
        return
    try:
        gc = sys.modules.get("pygochan")
        if gc is None:
            result = {{"error": "not imported", "python": sys.version.split()[0]}}
        else:
            try:
                from pygochan import _ps
            except ImportError:
                result = {{"error": "too old", "pygochan": getattr(gc, "__version__", "?")}}
            else:
                result = _ps.snapshot()
    except BaseException as exc:
        result = {{"error": "failed", "detail": "%s: %s" % (type(exc).__name__, exc)}}
    partial = os.path.join(directory, "report.partial")
    with open(partial, "w") as f:
        json.dump(result, f)
    os.replace(partial, os.path.join(directory, "report.json"))
__pygochan_ps({directory!r})
del __pygochan_ps
'''


# ---- in the caller ---------------------------------------------------------------


def _older_python_message(pid: int) -> str:
    v = sys.version_info
    return (
        f"python -m pygochan ps needs CPython 3.14 or newer (PEP 768's sys.remote_exec); "
        f"this is {sys.implementation.name} {v.major}.{v.minor}.{v.micro}.\n"
        f"Without it, have the program report itself: call gc.dump_on_signal() once, from its "
        f"main thread (at startup), then `kill -QUIT {pid}` (Ctrl-\\ in its terminal) prints who "
        f"waits on what on the program's stderr, as gc.dump_blocked() does; "
        f"gc.dump_on_signal(signal.SIGUSR1) picks another signal."
    )


def _check_process(pid: int) -> None:
    if pid <= 0:
        raise PsError(f"{pid} is not a process id")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise PsError(f"no process with PID {pid}") from None
    except PermissionError:
        # it exists; whether it may be inspected is ptrace's decision below
        pass


def _explain_remote_error(pid: int, exc: BaseException) -> str:
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, PermissionError) or getattr(exc, "errno", None) in (errno.EPERM, errno.EACCES):
        return (
            f"permission denied to inspect PID {pid} ({text}): run ps as the program's user or "
            f"as root; on Linux, /proc/sys/kernel/yama/ptrace_scope must allow it "
            f"(0, or 1 with ps started by an ancestor, or CAP_SYS_PTRACE)"
        )
    if isinstance(exc, ProcessLookupError):
        return f"no process with PID {pid}"
    if "not enabled in the remote" in lowered or ("remote process" in lowered and "disabled" in lowered):
        return (
            f"remote debugging is disabled in PID {pid} ({text}): it was started with "
            f"PYTHON_DISABLE_REMOTE_DEBUG set or -X disable-remote-debug; without it, use "
            f"gc.dump_on_signal() in the program and send it SIGQUIT"
        )
    if "not enabled" in lowered or "not been compiled" in lowered or "not supported" in lowered:
        return (
            f"this Python cannot send the request ({text}): remote debugging is disabled here "
            f"(PYTHON_DISABLE_REMOTE_DEBUG, -X disable-remote-debug) or this CPython was built "
            f"without it (--without-remote-debug)"
        )
    if "version" in lowered or "mismatch" in lowered or "can't send commands from" in lowered:
        return (
            f"PID {pid} runs another CPython version than this one ({text}): run ps with the "
            f"same python as the program (3.14+)"
        )
    if "pyruntime" in lowered or "debug offsets" in lowered:
        return (
            f"PID {pid} does not look like a CPython 3.14+ process ({text}): ps needs the "
            f"program to run on CPython 3.14 or newer, the same version as ps"
        )
    return f"sending the request to PID {pid} failed: {type(exc).__name__}: {text}"


def _private_directory(pid: int) -> str:
    directory = tempfile.mkdtemp(prefix="pygochan-ps-")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # root inspecting another user's program: it must read the script and
        # write its report here (the random name keeps others out: no listing)
        try:
            owner = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            owner = 0
        if owner != 0:
            os.chmod(directory, 0o733)
    return directory


def request(pid: int, timeout: float = 5.0) -> Dict[str, Any]:
    """Take the report of process ``pid`` (CPython 3.14+ on both sides)."""
    remote_exec = getattr(sys, "remote_exec", None)
    if remote_exec is None:
        raise PsError(_older_python_message(pid))
    _check_process(pid)
    directory = _private_directory(pid)
    answered = sent = False
    try:
        script = os.path.join(directory, "request.py")
        with open(script, "w") as f:
            f.write(_SCRIPT.format(directory=directory))
        os.chmod(script, 0o644)
        waiting = os.path.join(directory, "waiting")
        open(waiting, "w").close()
        report = os.path.join(directory, "report.json")
        try:
            remote_exec(pid, script)
        except Exception as exc:
            raise PsError(_explain_remote_error(pid, exc)) from None
        sent = True
        deadline = time.monotonic() + timeout
        while not os.path.exists(report):
            if time.monotonic() >= deadline:
                _check_process(pid)  # it may have ended meanwhile
                raise PsError(
                    f"PID {pid} did not answer within {timeout:g} s. The request runs in its "
                    f"main thread when that thread runs Python code or waits in a pygochan call; "
                    f"it waits elsewhere (Thread.join(), time.sleep(), input(), a C library call), "
                    f"and the request stays pending until it returns from there. "
                    f"Try --timeout, or use gc.dump_on_signal() in the program."
                )
            time.sleep(0.01)
        answered = True
        with open(report) as f:
            result: Dict[str, Any] = json.load(f)
    finally:
        if answered or not sent:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            # The request may still run later: the script, finding no
            # `waiting` file, removes the directory itself.
            try:
                os.unlink(os.path.join(directory, "waiting"))
            except OSError:
                pass
    error = result.get("error")
    if error == "not imported":
        raise PsError(f"PID {pid} (Python {result.get('python', '?')}) has not imported pygochan: "
                      f"nothing of pygochan's to report")
    if error == "too old":
        raise PsError(f"PID {pid} runs pygochan {result.get('pygochan', '?')}, which predates ps")
    if error is not None:
        raise PsError(f"taking the report in PID {pid} failed: {result.get('detail', error)}")
    return result


def _format_channel_stats(s: Dict[str, Any]) -> str:
    if "error" in s:
        return f"stats: {s['error']}"
    return (f"{s.get('sends', 0)} sent, {s.get('receives', 0)} received, max fill "
            f"{s.get('max_fill', 0)}; blocked: senders {s.get('send_blocked_seconds', 0.0):.3f} s, "
            f"receivers {s.get('recv_blocked_seconds', 0.0):.3f} s (waits that ended)")


def _format_pool_stats(s: Dict[str, Any]) -> str:
    if "error" in s:
        return f"stats: {s['error']}"
    line = (f"{s.get('submitted', 0)} submitted, {s.get('completed', 0)} completed, "
            f"{s.get('failed', 0)} failed")
    if s.get("queue_wait_seconds") is not None:  # None: not measured
        line += f"; tasks waited {s['queue_wait_seconds']:.3f} s for a worker"
    if "busy_seconds" in s:
        line += f"; workers busy {s['busy_seconds']:.3f} s"
        per_worker = s.get("busy_seconds_per_worker")
        if isinstance(per_worker, dict) and per_worker:
            line += " (" + ", ".join(f"{name} {seconds:.3f} s"
                                     for name, seconds in per_worker.items()) + ")"
    return line


def format_snapshot(snap: Dict[str, Any]) -> str:
    """The text ``ps`` prints for a :func:`snapshot`."""
    waits = snap.get("blocked", [])
    lines = [
        f"PID {snap.get('pid')}: Python {snap.get('python')}, pygochan {snap.get('pygochan')}, "
        f"{snap.get('threads')} thread(s)",
        f"{len(waits)} thread(s) blocked in pygochan calls",
    ]
    for w in waits:
        name = w["thread"] if w["thread"] is not None else "?"
        timed = ", with a timeout" if w["timed"] else ""
        lines.append(f"thread {name!r} (ident {w['ident']}): {w['operation']} "
                     f"{', '.join(w['objects'])} [{w['seconds']:.1f} s{timed}]")
        for filename, lineno, function in w.get("stack", [])[-3:]:
            lines.append(f'    File "{filename}", line {lineno}, in {function}')
    channels = snap.get("channels", [])
    if channels:
        lines += ["", "channels in those waits:"]
        for ch in channels:
            lines.append(f"  {ch['repr']}")
            if "stats" in ch:
                lines.append(f"    {_format_channel_stats(ch['stats'])}")
    pools = snap.get("pools", [])
    if pools:
        lines += ["", "pools:"]
        for p in pools:
            lines.append(f"  {p['repr']}")
            if p.get("stats"):
                lines.append(f"    {_format_pool_stats(p['stats'])}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None, out: Optional[IO[str]] = None,
         err: Optional[IO[str]] = None) -> int:
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    parser = argparse.ArgumentParser(
        prog="python -m pygochan ps",
        description="Print another process's gc.blocked() report and the statistics of its "
                    "channels and pools (CPython 3.14+, PEP 768; the process is not stopped).")
    parser.add_argument("pid", type=int, help="the process to inspect")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the answer (default 5)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if not hasattr(sys, "remote_exec"):
        print(_older_python_message(args.pid), file=err)
        return UNSUPPORTED
    try:
        snap = request(args.pid, args.timeout)
    except PsError as exc:
        print(f"pygochan ps: {exc}", file=err)
        return FAILED
    if args.json:
        json.dump(snap, out, indent=2)
        out.write("\n")
    else:
        print(format_snapshot(snap), file=out)
    return 0
