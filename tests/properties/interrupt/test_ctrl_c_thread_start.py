"""Ctrl-C inside Thread.start(), reproduced the way a user hits it: SIGINT
storms while WaitGroup.go, ErrGroup.go and Pool.submit start threads, and
the same moments made deterministic (Thread.start() raising
KeyboardInterrupt after the thread began, or before it could)."""
import textwrap
import threading
import time

import pytest

import pygochan as gc
from conftest import JOIN_TIMEOUT, needs_kill_signal, run_python, seed_from_env, storm_seconds


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


@needs_kill_signal
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


@needs_kill_signal
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


@needs_kill_signal
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
