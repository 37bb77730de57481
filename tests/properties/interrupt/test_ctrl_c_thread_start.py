"""Defects where pygochan meets CPython, each reproduced the way a user hits
it: a Ctrl-C inside Thread.start(), the garbage collector walking a pool,
an exception in a WaitGroup task at exit, extreme Ticker intervals, and a
thread limit reached while after_func callbacks are due."""
import gc as pygc
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import pygochan as gc
from conftest import JOIN_TIMEOUT, seed_from_env, storm_seconds


def run_python(code, timeout=180):
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
    )
    return proc.returncode, proc.stdout.split(), proc.stderr


# ---- the garbage collector walks a pool's queued jobs ----------------------

def test_gc_sees_the_futures_queued_in_a_pool():
    release = threading.Event()
    with gc.Pool(max_workers=1, queue_size=4) as pool:
        busy = pool.submit(release.wait, 10)
        queued = [pool.submit(int, i) for i in range(3)]
        # The pool shows its work (shared with the workers), which shows
        # the queued futures.
        assert any(r is pool._work for r in pygc.get_referents(pool))
        referents = pygc.get_referents(pool._work)
        pygc.collect()
        release.set()
        assert all(any(f is r for r in referents) for f in queued)
        assert [f.result(timeout=10) for f in queued] == [0, 1, 2]
        assert busy.result(timeout=10) is True


# ---- WaitGroup.go reports a task's exception before it counts as done ------

def test_waitgroup_task_exception_is_reported_before_wait_returns(monkeypatch):
    reported = []
    monkeypatch.setattr(threading, "excepthook", lambda args: reported.append(args))

    def fail(i):
        raise ValueError(f"task {i} failed")

    wg = gc.WaitGroup()
    for i in range(20):
        wg.go(fail, i)
    wg.wait(timeout=JOIN_TIMEOUT)
    # no sleep: the reports happened before each task counted as done
    assert sorted(str(a.exc_value) for a in reported) == sorted(
        f"task {i} failed" for i in range(20))
    assert all(a.exc_type is ValueError and a.thread is not None for a in reported)


def test_waitgroup_task_exception_is_printed_when_the_program_ends_at_once():
    code, out, err = run_python("""
        import pygochan as gc
        def fail():
            raise ValueError("lost at exit")
        wg = gc.WaitGroup()
        wg.go(fail)
        wg.wait()
    """)
    assert code == 0
    assert "ValueError: lost at exit" in err


# ---- Ticker intervals out of range ---------------------------------------

def test_ticker_with_a_huge_interval_never_ticks():
    tk = gc.Ticker(1e10)
    with pytest.raises(TimeoutError):
        tk.c.recv(timeout=0.05)
    tk.reset(1e300)
    with pytest.raises(TimeoutError):
        tk.c.recv(timeout=0.05)
    tk.stop()


@pytest.mark.parametrize("interval", [1e-9, 1e-300, 5e-5])
def test_ticker_with_a_tiny_interval_ticks_every_100_us(interval):
    """Ticks fire on a grid of the (clamped) period starting one period
    after the ticker starts, and each tick received is from another grid
    point, so the n-th arrives no sooner than n periods after the start,
    however fast they are drained (an unclamped 1 ns ticker delivers 200
    ticks in a fraction of that)."""
    for make in (gc.Ticker, lambda i: reset_ticker(gc.Ticker(1.0), i)):
        started = time.monotonic()
        tk = make(interval)
        ticks = [tk.c.recv(timeout=10) for _ in range(200)]
        tk.stop()
        assert ticks[-1] - started >= 200 * 100e-6 * 0.999


def reset_ticker(tk, interval):
    tk.reset(interval)
    return tk


# ---- the after_func runner survives a thread limit ---------------------------

def test_after_func_runs_even_if_starting_its_thread_fails_for_a_while(monkeypatch):
    real_start = threading.Thread.start
    failures = [3]

    def start(self):
        if self.name == "pygochan-after-func" and failures[0] > 0:
            failures[0] -= 1
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    ran = [threading.Event() for _ in range(3)]
    ctx, cancel = gc.with_cancel(gc.background())
    for event in ran:
        ctx.after_func(event.set)
    cancel()
    for event in ran:
        assert event.wait(JOIN_TIMEOUT)
    assert failures == [0]
    # and the runner is still there for the next context
    later = threading.Event()
    ctx2, cancel2 = gc.with_cancel(gc.background())
    ctx2.after_func(later.set)
    cancel2()
    assert later.wait(JOIN_TIMEOUT)


# ---- Ctrl-C inside Thread.start() ------------------------------------------

# A SIGINT storm whose handler would raise KeyboardInterrupt only where
# Ctrl-C breaks Thread.start(): in its wait for the new thread to begin (the
# lock acquire inside Condition.wait, under Event.wait, under start), when
# the OS thread already exists.  threading cannot survive an exception there
# (its Event's lock is left released or taken), so pygochan starts threads
# with SIGINT held off: the handler never runs at that moment, and the
# signals come after the call.  Each storm checks that signals did arrive,
# none of them there, and the starters' accounting.
STORM_PRELUDE = """
import inspect, os, random, signal, threading, time
import pygochan as gc

rng = random.Random({seed})
STORM_SECONDS = {seconds}
_lines, _first = inspect.getsourcelines(threading.Condition.wait)
_blocking_acquire = [_first + i for i, line in enumerate(_lines)
                     if line.strip() == "waiter.acquire()"][1]

signals = 0

def on_sigint(signum, frame):
    global signals
    signals += 1
    if (frame is not None and frame.f_code is threading.Condition.wait.__code__
            and frame.f_lineno == _blocking_acquire
            and frame.f_back.f_back.f_code is threading.Thread.start.__code__):
        raise KeyboardInterrupt

signal.signal(signal.SIGINT, on_sigint)
stop_storm, storm_started = threading.Event(), threading.Event()

def storm():
    storm_started.wait()  # not while its own start() is waiting
    while not stop_storm.is_set():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(rng.uniform(0.0005, 0.003))

stormer = threading.Thread(target=storm, daemon=True)
stormer.start()
storm_started.set()
interrupts = 0
"""


def run_storm(body, seed):
    code, out, err = run_python(STORM_PRELUDE.format(seed=seed, seconds=storm_seconds(2.0)) + textwrap.dedent(body))
    assert code == 0, err
    assert "Traceback" not in err, err
    return out


def test_ctrl_c_storm_while_waitgroup_go_starts_threads():
    seed = seed_from_env()
    print(f"PYGOCHAN_SEED={seed}")
    out = run_storm("""
        lock = threading.Lock()
        started = finished = 0
        def task():
            global started, finished
            with lock:
                started += 1
            time.sleep(rng.uniform(0, 0.002))
            with lock:
                finished += 1
        wg = gc.WaitGroup()
        end = time.monotonic() + STORM_SECONDS
        calls = 0
        while time.monotonic() < end:
            calls += 1
            try:
                wg.go(task)
            except KeyboardInterrupt:
                interrupts += 1
        stop_storm.set(); stormer.join()
        wg.wait(timeout=30)
        with lock:
            print(calls, interrupts, signals, started, finished, wg.count)
    """, seed)
    calls, interrupts, signals, started, finished, count = map(int, out)
    print(f"{calls} go() calls, {signals} SIGINTs, {interrupts} inside start()")
    assert signals > 0 and interrupts == 0
    assert started == finished == calls and count == 0


def test_ctrl_c_storm_while_errgroup_go_starts_threads():
    seed = seed_from_env()
    print(f"PYGOCHAN_SEED={seed}")
    out = run_storm("""
        g = gc.ErrGroup(limit=4)
        end = time.monotonic() + STORM_SECONDS
        calls = 0
        while time.monotonic() < end:
            calls += 1
            try:
                g.go(time.sleep, rng.uniform(0, 0.002))
            except KeyboardInterrupt:
                interrupts += 1
        stop_storm.set(); stormer.join()
        g.wait(timeout=30)      # every slot came back: no thread stuck on it
        print(calls, interrupts, signals, len(g._slots))
    """, seed)
    calls, interrupts, signals, slots_taken = map(int, out)
    print(f"{calls} go() calls, {signals} SIGINTs, {interrupts} inside start()")
    assert signals > 0 and interrupts == 0
    assert slots_taken == 0


def test_ctrl_c_storm_while_pool_submit_starts_workers():
    seed = seed_from_env()
    print(f"PYGOCHAN_SEED={seed}")
    out = run_storm("""
        pool = gc.Pool(max_workers=4, idle_timeout=0.001)
        futures = []
        start = time.monotonic()
        calls = 0
        while time.monotonic() < start + STORM_SECONDS:
            calls += 1
            try:
                futures.append(pool.submit(time.sleep, rng.uniform(0, 0.001)))
            except KeyboardInterrupt:
                interrupts += 1
            if calls % 4 == 0:
                time.sleep(0.004)   # let the workers retire, so new ones start
        stop_storm.set(); stormer.join()
        for f in futures:
            f.result(timeout=30)
        # the pool still starts workers and runs tasks
        later = [pool.submit(pow, 2, i) for i in range(20)]
        assert [f.result(timeout=30) for f in later] == [2 ** i for i in range(20)]
        pool.shutdown(wait=True)
        print(calls, interrupts, signals, pool.stats()["workers_started"], pool.running, pool.idle)
    """, seed)
    calls, interrupts, signals, workers_started, running, idle = map(int, out)
    print(f"{calls} submit() calls starting {workers_started} workers, {signals} SIGINTs, "
          f"{interrupts} inside start()")
    assert signals > 0 and workers_started > 1 and interrupts == 0
    assert (running, idle) == (0, 0)


# The same moments, made deterministic: Thread.start() raising
# KeyboardInterrupt after the thread began, or before it could.  A thread
# that began races the starter's undo for its books: either it runs its task
# and settles them, or the undo takes them back and it returns having run
# nothing (which wins depends on scheduling, on the free-threaded build
# especially).  Either way the books agree with what ran, once.

def runs_at_most_once_of_those_started(ran, outcomes):
    assert len(ran) == len(set(ran))
    assert set(ran) <= {i for i, outcome in enumerate(outcomes) if outcome == "started"}

@pytest.fixture
def interrupted_starts(monkeypatch):
    """Every pygochan thread start raises KeyboardInterrupt, alternately
    after starting the thread and without starting it; returns the list of
    outcomes ("started" / "not started") in order."""
    real_start = threading.Thread.start
    outcomes = []

    def start(self):
        if not self.name.startswith("pygochan-") or "runner" in self.name:
            return real_start(self)
        if len(outcomes) % 2 == 0:
            real_start(self)
            outcomes.append("started")
        else:
            outcomes.append("not started")
        raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", start)
    return outcomes


def test_waitgroup_go_interrupted_in_start_keeps_count(interrupted_starts):
    ran = []
    wg = gc.WaitGroup()
    for i in range(20):
        with pytest.raises(KeyboardInterrupt):
            wg.go(ran.append, i)
    wg.wait(timeout=JOIN_TIMEOUT)
    assert wg.count == 0
    runs_at_most_once_of_those_started(ran, interrupted_starts)


def test_errgroup_go_interrupted_in_start_gives_each_slot_back_once(interrupted_starts):
    ran = []
    g = gc.ErrGroup(limit=2)
    for i in range(20):
        with pytest.raises(KeyboardInterrupt):
            g.go(ran.append, i)
    g.wait(timeout=JOIN_TIMEOUT)
    assert len(g._slots) == 0
    runs_at_most_once_of_those_started(ran, interrupted_starts)


def test_pool_submit_interrupted_in_start_keeps_the_worker_count(interrupted_starts, monkeypatch):
    ran = []
    pool = gc.Pool(max_workers=2, idle_timeout=0.001, name="pygochan-test")
    for i in range(10):
        with pytest.raises(KeyboardInterrupt):
            pool.submit(ran.append, i)
        # let a started worker finish and retire, so the next submit starts one
        deadline = time.monotonic() + JOIN_TIMEOUT
        while pool.running + pool.idle and time.monotonic() < deadline:
            time.sleep(0.001)
    monkeypatch.undo()
    runs_at_most_once_of_those_started(ran, interrupted_starts)
    assert [f.result(timeout=JOIN_TIMEOUT) for f in [pool.submit(pow, 2, i) for i in range(8)]] == [
        2 ** i for i in range(8)]
    pool.shutdown(wait=True)
    assert (pool.running, pool.idle) == (0, 0)
