"""The rest of Go's toolkit: Once, Semaphore and Singleflight."""
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import pygochan as gc

from conftest import WAIT_TIMEOUT, join_all, start


# ---- Once ----------------------------------------------------------------------

def test_once_runs_its_function_once_under_many_threads(rng):
    once = gc.Once()
    calls = []
    gate = threading.Barrier(16)

    def fn():
        time.sleep(rng.random() * 0.01)
        calls.append(1)

    def racer():
        gate.wait()
        once.do(fn)
        assert calls == [1]  # every caller returns after the one call

    join_all([start(racer) for _ in range(16)])
    assert calls == [1] and once.done


def test_once_counts_a_raising_function_as_done():
    once = gc.Once()
    with pytest.raises(ZeroDivisionError):
        once.do(lambda: 1 / 0)
    once.do(lambda: pytest.fail("ran twice"))
    with pytest.raises(RuntimeError):
        inner = gc.Once()
        inner.do(lambda: inner.do(lambda: None))


def test_once_func_and_once_value():
    seen = []

    @gc.once_value
    def config():
        seen.append(1)
        return {"x": 1}

    assert config() is config() and seen == [1]

    @gc.once_func
    def boom():
        seen.append(2)
        raise KeyError("k")

    for _ in range(2):
        with pytest.raises(KeyError):
            boom()
    assert seen == [1, 2]


# ---- Semaphore ------------------------------------------------------------------

def test_semaphore_bounds_what_is_held_at_once(rng):
    sem = gc.Semaphore(5)
    held = [0]
    peak = [0]
    lock = threading.Lock()

    def worker():
        for _ in range(30):
            n = rng.randint(1, 3)
            sem.acquire(n, timeout=WAIT_TIMEOUT)
            with lock:
                held[0] += n
                peak[0] = max(peak[0], held[0])
                assert held[0] <= 5
            time.sleep(rng.random() * 0.001)
            with lock:
                held[0] -= n
            sem.release(n)

    join_all([start(worker) for _ in range(8)])
    assert held[0] == 0 and 1 <= peak[0] <= 5
    assert sem.try_acquire(5)
    sem.release(5)


def test_semaphore_is_fifo_a_big_request_is_not_starved():
    sem = gc.Semaphore(3)
    sem.acquire(2)
    order = gc.Channel(gc.UNBOUNDED)
    big = start(lambda: (sem.acquire(3, timeout=WAIT_TIMEOUT), order.send("big")))
    while "waiting=1" not in repr(sem):
        time.sleep(0.002)
    # one unit is free, but the head of the queue wants three: wait behind it
    assert not sem.try_acquire(1)
    small = start(lambda: (sem.acquire(1, timeout=WAIT_TIMEOUT), order.send("small")))
    while "waiting=2" not in repr(sem):
        time.sleep(0.002)
    sem.release(2)
    assert order.recv(timeout=WAIT_TIMEOUT) == "big"
    sem.release(3)
    assert order.recv(timeout=WAIT_TIMEOUT) == "small"
    sem.release(1)
    join_all([big, small])


def test_semaphore_acquire_that_raises_holds_nothing():
    sem = gc.Semaphore(2)
    sem.acquire(2)
    with pytest.raises(TimeoutError):
        sem.acquire(1, timeout=0.02)
    ctx, cancel = gc.with_cancel(gc.background())
    cancel()
    with pytest.raises(gc.Canceled):
        sem.acquire(1, ctx=ctx)
    assert "waiting=0" in repr(sem)
    sem.release(2)
    assert sem.try_acquire(2)
    sem.release(2)


def test_semaphore_a_waiter_leaving_the_head_lets_the_next_one_in():
    sem = gc.Semaphore(3)
    sem.acquire(2)
    got = gc.Channel(1)
    big = start(lambda: sem.acquire(3, timeout=0.2))
    while "waiting=1" not in repr(sem):
        time.sleep(0.002)
    small = start(lambda: (sem.acquire(1, timeout=WAIT_TIMEOUT), got.send("small")))
    assert got.recv(timeout=WAIT_TIMEOUT) == "small"  # once big gave up
    with pytest.raises(TimeoutError):
        join_all([big])
    join_all([small])
    sem.release(3)


def test_semaphore_checks_its_arguments():
    with pytest.raises(ValueError):
        gc.Semaphore(0)
    with pytest.raises(TypeError):
        gc.Semaphore(1.5)
    sem = gc.Semaphore(2)
    with pytest.raises(ValueError):
        sem.acquire(3)
    with pytest.raises(ValueError):
        sem.release()
    with pytest.raises(ValueError):
        sem.acquire(0)
    with sem:
        assert "held=1" in repr(sem)
    assert "held=0" in repr(sem)


def test_semaphore_acquire_answers_ctrl_c_and_holds_nothing():
    code = textwrap.dedent("""
        import signal, sys, threading, time
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import pygochan as gc
        sem = gc.Semaphore(1)
        sem.acquire()
        try:
            # started inside the try: its SIGINT cannot come before it
            threading.Timer(0.2, lambda: signal.raise_signal(signal.SIGINT)).start()
            sem.acquire(timeout=30)
        except KeyboardInterrupt:
            sem.release()
            assert sem.try_acquire() and 'waiting=0' in repr(sem)
            print('interrupted')
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "interrupted", out.stderr


# ---- Singleflight -------------------------------------------------------------------

def test_singleflight_collapses_concurrent_calls(rng):
    flights = gc.Singleflight()
    release = gc.Channel()
    calls = []

    def fetch():
        calls.append(1)
        release.recv(timeout=WAIT_TIMEOUT)
        return "body"

    results = gc.Channel(gc.UNBOUNDED)
    threads = [start(lambda: results.send(flights.do("url", fetch, timeout=WAIT_TIMEOUT)))
               for _ in range(8)]
    while len(calls) < 1 or "in_flight=1" not in repr(flights):
        time.sleep(0.002)
    time.sleep(0.05 + rng.random() * 0.05)  # let the others join the call
    release.send(None)
    join_all(threads)
    got = [results.recv(timeout=0) for _ in range(8)]
    assert calls == [1]
    assert all(value == "body" and shared for value, shared in got)
    assert flights.do("url", lambda: "again") == ("again", False)


def test_singleflight_raises_the_error_in_every_caller_and_forget_starts_anew():
    flights = gc.Singleflight()
    gate = gc.Channel()
    calls = []

    def failing():
        calls.append("fail")
        gate.recv(timeout=WAIT_TIMEOUT)
        raise OSError("down")

    leader = start(flights.do, "k", failing)
    while "in_flight=1" not in repr(flights):
        time.sleep(0.002)
    follower = start(flights.do, "k", lambda: pytest.fail("not shared"))
    time.sleep(0.05)
    flights.forget("k")
    assert flights.do("k", lambda: 7) == (7, False)  # a new call, not the one in flight
    gate.send(None)
    for t in (leader, follower):
        with pytest.raises(OSError):
            join_all([t])
    assert calls == ["fail"]
