"""Shared helpers.  Every blocking call in the tests has a timeout, and every
thread is joined with one, so a bug fails a test instead of hanging the run.

Test modules in every folder import them with `from conftest import ...`:
pytest's default import mode puts this directory on sys.path when it loads
this file, before any test module.  See README.md here for the layout."""
import contextlib
import os
import pathlib
import queue
import random
import signal
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time

import pytest

# The checkout's root, where README.md and docs/ are.
ROOT = pathlib.Path(__file__).resolve().parent.parent

# A build without the GIL (3.13t and later).
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))

# Tests that need a feature some platform lacks are skipped there, and only
# there, each saying why.
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX; Windows has no fork)")
needs_sigusr1 = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1 (POSIX; Windows has none)")
needs_proc_fd = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"),
                                   reason="counts descriptors in /proc/self/fd (Linux)")
needs_kill_signal = pytest.mark.skipif(os.name != "posix", reason=(
    "sends SIGINT with os.kill, which on Windows terminates the process instead"))

# Generous limits: they only turn a hang into a failure.
JOIN_TIMEOUT = 30.0
WAIT_TIMEOUT = 10.0


def storm_seconds(default):
    """How long a SIGINT storm test storms: `default`, or
    PYGOCHAN_STORM_SECONDS (CI shortens them on the extra interpreters)."""
    value = os.environ.get("PYGOCHAN_STORM_SECONDS")
    return float(value) if value else default


def seed_from_env():
    """The seed in PYGOCHAN_SEED, or a fresh random one."""
    value = os.environ.get("PYGOCHAN_SEED")
    return int(value) if value else random.randrange(2**32)


@pytest.fixture
def rng(request):
    """A seeded random.Random; the seed is printed (pytest shows it with a
    failure) so the run can be replayed with PYGOCHAN_SEED=<seed>."""
    seed = seed_from_env()
    print(f"\n{request.node.name}: PYGOCHAN_SEED={seed}")
    return random.Random(seed)


# ---- threads -----------------------------------------------------------------


class Worker(threading.Thread):
    """A daemon thread that keeps the exception its target raised, so that
    join_all() can report it in the test instead of on stderr."""

    def __init__(self, fn, args=(), kwargs=None):
        super().__init__(daemon=True)
        self.fn, self.fn_args, self.fn_kwargs = fn, args, kwargs or {}
        self.result = None
        self.error = None

    def run(self):
        try:
            self.result = self.fn(*self.fn_args, **self.fn_kwargs)
        except BaseException as e:  # reported by join_all
            self.error = e


def start(fn, *args, **kwargs):
    """Start a daemon thread running fn(*args, **kwargs); returns the thread."""
    t = Worker(fn, args, kwargs)
    t.start()
    return t


def join_all(threads, timeout=JOIN_TIMEOUT, check_errors=True):
    """Join threads, failing the test (instead of hanging) if one is stuck;
    re-raise the first exception a Worker's target raised."""
    end = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
        assert not t.is_alive(), f"thread {t.name} did not finish within {timeout} s"
    if check_errors:
        for t in threads:
            if isinstance(t, Worker) and t.error is not None:
                raise t.error


def wait_for(predicate, timeout=WAIT_TIMEOUT, what="condition"):
    """Poll until predicate() is true; fail the test after timeout seconds."""
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"{what} not reached within {timeout} s"
        time.sleep(0.001)


@contextlib.contextmanager
def fails_if_stuck(timeout=WAIT_TIMEOUT):
    """Turn a main-thread wait that never ends into a failure: after timeout
    seconds SIGALRM's handler raises (pygochan runs signal handlers while the
    main thread waits).  A hang detector, not a speed limit; a no-op off the
    main thread or without setitimer."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise AssertionError(f"still waiting after {timeout} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---- channels ----------------------------------------------------------------


def waiting(ch):
    """(waiting_senders, waiting_receivers) parsed from repr(ch)."""
    text = repr(ch)
    senders = int(text.split("waiting_senders=")[1].split()[0])
    receivers = int(text.split("waiting_receivers=")[1].split(">")[0])
    return senders, receivers


def wait_blocked(ch, senders=None, receivers=None, timeout=WAIT_TIMEOUT):
    """Wait until ch has exactly this many blocked senders / receivers."""

    def ok():
        s, r = waiting(ch)
        return (senders is None or s == senders) and (receivers is None or r == receivers)

    wait_for(ok, timeout, what=f"{senders} blocked senders / {receivers} receivers on {ch!r}")


# ---- asyncio -----------------------------------------------------------------


def run_coroutine(coro_fn, *args):
    """asyncio.run(coro_fn(*args)), failing instead of hanging after 60 s."""
    import asyncio

    return asyncio.run(asyncio.wait_for(coro_fn(*args), 60))


async def parked(ch, receivers=0, senders=0):
    """Yield to the loop until ch shows the expected parked waiters."""
    import asyncio

    for _ in range(10000):
        r = repr(ch)
        if f"waiting_receivers={receivers}" in r and f"waiting_senders={senders}" in r:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never parked: {ch!r}")


def in_loop_thread(coro_fn, *args):
    """Run coro_fn(*args) with asyncio.run in a new thread."""
    import asyncio

    return start(lambda: asyncio.run(coro_fn(*args)))


def assert_no_parked_waiters():
    import pygochan as gc

    stats = gc.aio_stats()
    assert stats["parked"] == 0, stats
    assert stats["redeliver"] == 0, stats


# ---- child processes ---------------------------------------------------------


class Child:
    """A Python subprocess whose stdout lines are read with a timeout, so a
    child that never answers fails the test instead of hanging it."""

    # A shell starting a background job hands it SIGINT ignored, and Python
    # then installs no KeyboardInterrupt handler: give the child the default.
    PRELUDE = "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"

    def __init__(self, code):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.PRELUDE + textwrap.dedent(code)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def readline(self, timeout=10.0):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return "<no answer within %.0f s>" % timeout

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def finish(self):
        try:
            self.proc.wait(30)
        finally:
            self.proc.kill()
        return self.proc.returncode, self.proc.stderr.read()


def run_child(code):
    return Child(code)


def interrupt_when_blocked(child, sig=signal.SIGINT):
    """Wait for the child's 'ready', let it block, send sig; returns (the
    child's next line, returncode, stderr)."""
    assert child.readline() == "ready"
    time.sleep(0.2)  # let it block
    child.send_signal(sig)
    line = child.readline()
    returncode, stderr = child.finish()
    return line, returncode, stderr


def assert_interrupted(child):
    """The child printed 'ready', blocked in a call with no timeout, and
    answered one SIGINT with 'interrupted', then exited cleanly.  Nothing
    but the signal ends such a call, so the answer is the proof; the time
    the test waits for it only turns a hang into a failure."""
    line, returncode, stderr = interrupt_when_blocked(child)
    assert line == "interrupted", stderr
    assert returncode == 0, stderr


def run_python(code, timeout=180):
    """Run code in a fresh interpreter: (returncode, stdout's words, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
    )
    return proc.returncode, proc.stdout.split(), proc.stderr
