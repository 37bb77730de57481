"""``python -m pygochan ps PID`` against real child processes: on CPython
3.14+ through sys.remote_exec (PEP 768), elsewhere the explanation of
gc.dump_on_signal()."""
import json
import os
import pathlib
import queue
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading

import pytest

from conftest import FREE_THREADED, ROOT, wait_for

HAS_REMOTE_EXEC = hasattr(sys, "remote_exec")
needs_remote_exec = pytest.mark.skipif(
    not HAS_REMOTE_EXEC, reason="ps needs sys.remote_exec (PEP 768, CPython 3.14+)")
needs_linux_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self"), reason="the child's PID is inspected through /proc (Linux)")


class Target:
    """A child program (a file, so that stacks name it) that prints 'ready'
    once it is where the test wants it; lines are read with a timeout."""

    def __init__(self, tmp_path, code, env=None, args=(), executable=None):
        path = tmp_path / "target.py"
        path.write_text(textwrap.dedent(code))
        self.path = str(path)
        full_env = dict(os.environ)
        full_env.pop("PYTHON_DISABLE_REMOTE_DEBUG", None)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [executable or sys.executable, *args, self.path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=full_env, cwd=str(ROOT),
        )
        self.lines: "queue.Queue" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def readline(self, timeout=30.0):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return f"<no answer within {timeout:.0f} s>"

    def tell(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self):
        self.proc.kill()
        self.proc.wait(30)
        return self.proc.stderr.read()


@pytest.fixture
def targets():
    started = []
    yield started
    for t in started:
        if t.proc.poll() is None:
            t.stop()


def ps(*args, user=None, timeout=60, tmpdir=None):
    env = dict(os.environ)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run(
        [sys.executable, "-m", "pygochan", "ps", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, cwd=str(ROOT), user=user, env=env,
    )


# Blocked in several ways: the main thread in a receive, a sender on a full
# channel, a select over a receive and a send, a WaitGroup wait, two idle
# pool workers; a thread reading stdin (not in pygochan) drives it.
SEVERAL_WAYS = """
import sys, threading, time
import pygochan as gc

requests = gc.Channel()
full = gc.Channel(1)
full.send("first")
a, b = gc.Channel(), gc.Channel()
group = gc.WaitGroup()
group.add(1)
pool = gc.Pool(2, idle_timeout=600)
list(pool.map(time.sleep, [0.05, 0.05]))   # two workers, idle now

def selector():
    index, value, ok = gc.select(gc.recv(a), gc.send(b, "to b"))
    print("selected", index, value, flush=True)

threads = [
    threading.Thread(target=full.send, args=("second",), name="sender", daemon=True),
    threading.Thread(target=selector, name="selector", daemon=True),
    threading.Thread(target=group.wait, name="waiter", daemon=True),
]
for t in threads:
    t.start()

def commands():
    for line in sys.stdin:
        if line.strip() == "a":
            a.send("from stdin")
        elif line.strip() == "quit":
            requests.close()

def announce():
    while len(gc.blocked()) < 6:
        time.sleep(0.01)
    print("ready", flush=True)

threading.Thread(target=commands, name="commands", daemon=True).start()
threading.Thread(target=announce, name="announce", daemon=True).start()

def main_loop():
    for request in requests:
        pass

main_loop()
print("done", flush=True)
"""


@needs_remote_exec
@needs_linux_proc
def test_ps_reports_a_process_blocked_in_several_ways(tmp_path, targets):
    target = Target(tmp_path, SEVERAL_WAYS)
    targets.append(target)
    assert target.readline() == "ready"
    result = ps(target.proc.pid)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"PID {target.proc.pid}: Python " in text
    assert "6 thread(s) blocked in pygochan calls" in text, text
    by_thread = {line.split("'")[1]: line for line in text.splitlines() if line.startswith("thread '")}
    assert by_thread["MainThread"].split(": ", 1)[1].startswith("recv"), text
    assert by_thread["sender"].split(": ", 1)[1].startswith("send"), text
    assert by_thread["selector"].split(": ", 1)[1].startswith("select"), text
    assert by_thread["waiter"].split(": ", 1)[1].startswith("wait"), text
    idle = [line for line in text.splitlines() if ": idle worker" in line]
    assert len(idle) == 2, text
    # the main thread's stack is the program's, without ps's own frames
    main_at = text.index(by_thread["MainThread"])
    stack = text[main_at:].splitlines()[1:4]
    assert any(target.path in line and "main_loop" in line for line in stack), text
    assert "request.py" not in text and "_ps.py" not in text
    if not FREE_THREADED:  # there blocked() leaves the objects out
        assert "<pygochan.Pool " in idle[0]
        assert "channels in those waits:" in text
        assert "capacity=1 len=1" in text  # `full`, its sender waiting
        assert "pools:" in text and "max_workers=2" in text

    # The program goes on as before: its select completes when `a` gets a value.
    target.tell("a")
    assert target.readline() == "selected 0 from stdin"
    # and a second request is answered too, as JSON
    result = ps(target.proc.pid, "--json")
    assert result.returncode == 0, result.stderr
    snap = json.loads(result.stdout)
    assert snap["pid"] == target.proc.pid
    operations = sorted(w["operation"] for w in snap["blocked"])
    assert operations == ["idle worker", "idle worker", "recv", "send", "wait"], snap
    target.tell("quit")
    assert target.readline() == "done"
    assert target.proc.wait(30) == 0
    # nothing of ps's is left in the program's stderr (no unraisable error)
    assert target.proc.stderr.read() == ""


@needs_remote_exec
@needs_linux_proc
def test_ps_answers_while_the_main_thread_is_busy_in_python(tmp_path, targets):
    target = Target(tmp_path, """
        import time
        import pygochan as gc
        ch = gc.Channel(4)
        ch.send(1)
        print("ready", flush=True)
        while True:
            sum(range(1000))
    """)
    targets.append(target)
    assert target.readline() == "ready"
    result = ps(target.proc.pid)
    assert result.returncode == 0, result.stderr
    assert "0 thread(s) blocked in pygochan calls" in result.stdout


@needs_remote_exec
@needs_linux_proc
def test_ps_target_that_is_not_python(targets):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        result = ps(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.returncode == 1
    assert f"PID {sleeper.pid} does not look like a CPython 3.14+ process" in result.stderr, result.stderr


@needs_remote_exec
def test_ps_no_such_process():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    result = ps(gone.pid)
    assert result.returncode == 1
    assert f"no process with PID {gone.pid}" in result.stderr


def idle_target(tmp_path, targets, executable=None):
    """A running Python that never imports pygochan, once it is ready."""
    target = Target(tmp_path, """
        import time
        print("ready", flush=True)
        while True:
            time.sleep(0.01)
    """, executable=executable)
    targets.append(target)
    assert target.readline() == "ready"
    return target


@needs_remote_exec
@needs_linux_proc
def test_ps_pygochan_not_imported(tmp_path, targets):
    target = idle_target(tmp_path, targets)
    result = ps(target.proc.pid)
    assert result.returncode == 1
    assert "has not imported pygochan" in result.stderr, result.stderr


READY_AND_BLOCK = """
    import pygochan as gc
    print("ready", flush=True)
    gc.Channel().recv(timeout=600)
"""


@needs_remote_exec
@needs_linux_proc
@pytest.mark.parametrize("how", ["environment", "option"])
def test_ps_remote_debugging_disabled(tmp_path, targets, how):
    if how == "environment":
        target = Target(tmp_path, READY_AND_BLOCK, env={"PYTHON_DISABLE_REMOTE_DEBUG": "1"})
    else:
        target = Target(tmp_path, READY_AND_BLOCK, args=["-X", "disable-remote-debug"])
    targets.append(target)
    assert target.readline() == "ready"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = ps(target.proc.pid, tmpdir=scratch)
    assert result.returncode == 1
    assert f"remote debugging is disabled in PID {target.proc.pid}" in result.stderr, result.stderr
    assert list(scratch.iterdir()) == []  # nothing sent, nothing left behind
    assert "dump_on_signal" in result.stderr


@needs_remote_exec
@needs_linux_proc
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="runs ps as another user, which needs root")
def test_ps_permission_denied(tmp_path, targets):
    target = Target(tmp_path, READY_AND_BLOCK)
    targets.append(target)
    assert target.readline() == "ready"
    result = ps(target.proc.pid, user=65534)  # nobody, inspecting root's process
    assert result.returncode == 1, result.stdout
    assert f"permission denied to inspect PID {target.proc.pid}" in result.stderr, result.stderr


@needs_remote_exec
@needs_linux_proc
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="starts a program as another user, which needs root")
def test_ps_as_root_reports_another_users_process(tmp_path):
    """ps's private directory opens just enough for the program's user to
    read the request and write the answer."""
    code = textwrap.dedent(READY_AND_BLOCK)
    env = dict(os.environ)
    env.pop("PYTHON_DISABLE_REMOTE_DEBUG", None)
    target = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=str(ROOT), user=65534,
                              env=env)
    scratch = None
    try:
        assert target.stdout.readline().strip() == "ready", target.stderr.read()
        # a temporary directory anyone can traverse, as /tmp is (pytest's are private)
        scratch = pathlib.Path(tempfile.mkdtemp(prefix="test-ps-"))
        scratch.chmod(0o755)
        result = ps(target.pid, tmpdir=scratch)
        assert result.returncode == 0, result.stderr
        assert "1 thread(s) blocked in pygochan calls" in result.stdout
        assert list(scratch.iterdir()) == []
    finally:
        target.kill()
        target.wait(30)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


@needs_remote_exec
@needs_linux_proc
def test_ps_main_thread_outside_python_times_out_with_the_reason(tmp_path, targets):
    target = Target(tmp_path, """
        import sys, threading, time
        import pygochan as gc
        ch = gc.Channel()
        threading.Thread(target=ch.recv, daemon=True).start()
        t = threading.Thread(target=sys.stdin.readline)
        t.start()
        print("ready", flush=True)
        t.join()            # the main thread runs no bytecode in here
        print("joined", flush=True)
        while True:
            time.sleep(0.01)
    """)
    targets.append(target)
    assert target.readline() == "ready"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = ps(target.proc.pid, "--timeout", "0.5", tmpdir=scratch)
    assert result.returncode == 1
    assert "did not answer within 0.5 s" in result.stderr
    assert "Thread.join()" in result.stderr
    # The request stays pending; once the main thread is back in Python it
    # runs, finds nobody waiting and removes its directory.
    [left] = list(scratch.iterdir())
    assert (left / "request.py").exists() and not (left / "waiting").exists()
    target.tell("go")
    assert target.readline() == "joined"
    wait_for(lambda: not left.exists(), what="the late request removing its directory")
    assert target.stop() == ""


@needs_remote_exec
@needs_linux_proc
@pytest.mark.skipif(shutil.which("python3.15") is None or sys.version_info[:2] == (3, 15),
                    reason="needs a python3.15 beside this 3.14 to run a target of another version")
def test_ps_target_on_another_cpython_version(tmp_path, targets):
    target = idle_target(tmp_path, targets, executable=shutil.which("python3.15"))
    result = ps(target.proc.pid)
    assert result.returncode == 1
    assert f"PID {target.proc.pid} runs another CPython version than this one" in result.stderr, result.stderr


@pytest.mark.skipif(HAS_REMOTE_EXEC, reason="this CPython has sys.remote_exec (3.14+)")
def test_ps_on_an_older_cpython_explains_dump_on_signal():
    result = ps(os.getpid())
    assert result.returncode == 2
    v = sys.version_info
    assert f"needs CPython 3.14 or newer" in result.stderr
    assert f"this is cpython {v.major}.{v.minor}.{v.micro}" in result.stderr
    assert "gc.dump_on_signal()" in result.stderr
    assert f"kill -QUIT {os.getpid()}" in result.stderr
    assert result.stdout == ""


def test_ps_bad_arguments():
    result = ps("not-a-pid")
    assert result.returncode == 2
    assert "invalid int value" in result.stderr


def test_the_demo_still_runs_without_a_subcommand():
    result = subprocess.run([sys.executable, "-m", "pygochan", "--jobs", "10", "--workers", "2"],
                            capture_output=True, text=True, timeout=120, cwd=str(ROOT))
    assert result.returncode == 0, result.stderr
    assert "collected 10 results" in result.stdout


MAIN_WAITS = {
    "recv": ("gc.Channel().recv()", "recv"),
    "select": ("gc.select(gc.recv(gc.Channel()), gc.send(gc.Channel(), 1))", "select"),
    "waitgroup": ("wg = gc.WaitGroup(); wg.add(1); wg.wait()", "wait"),
    "future": ("pool = gc.Pool(1); pool.submit(gc.Channel().recv).result()", "result"),
    "timed recv": ("gc.Channel().recv(timeout=600)", "recv"),
}


@needs_remote_exec
@needs_linux_proc
@pytest.mark.parametrize("wait", sorted(MAIN_WAITS))
def test_ps_reaches_a_main_thread_parked_in_any_pygochan_wait(tmp_path, targets, wait):
    """The main thread runs no bytecode while parked: the request runs at
    the wait's periodic wake-up."""
    statement, operation = MAIN_WAITS[wait]
    target = Target(tmp_path, f"""
        import threading, time
        import pygochan as gc
        def announce():
            me = threading.main_thread().ident
            while not any(w.ident == me for w in gc.blocked()):
                time.sleep(0.01)
            print("ready", flush=True)
        threading.Thread(target=announce, daemon=True).start()
        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()  # no deadlock
        {statement}
    """)
    targets.append(target)
    assert target.readline() == "ready"
    result = ps(target.proc.pid, "--json")
    assert result.returncode == 0, result.stderr
    snap = json.loads(result.stdout)
    main = [w for w in snap["blocked"] if w["thread"] == "MainThread"]
    assert [w["operation"] for w in main] == [operation], snap
