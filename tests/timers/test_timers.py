"""after, Timer and Ticker with Go 1.23 semantics."""
import gc as pygc
import subprocess
import sys
import threading
import time
import tracemalloc
import weakref

import pytest

import pygochan as gc
from conftest import WAIT_TIMEOUT, join_all, needs_fork, run_child, start


def test_after_delivers_the_fire_time_once():
    start_time = time.monotonic()
    ch = gc.after(0.02)
    fired = ch.recv(timeout=5)
    assert isinstance(fired, float)
    assert start_time + 0.02 <= fired <= time.monotonic()
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.05)


def test_after_zero_fires_at_once():
    assert gc.after(0).recv(timeout=5) <= time.monotonic()


def test_after_in_a_select_is_a_timeout_case():
    never = gc.Channel()
    index, value, ok = gc.select(gc.recv(never), gc.recv(gc.after(0.01)), timeout=5)
    assert index == 1 and ok and value <= time.monotonic()


def test_timer_fires_once():
    t = gc.Timer(0.01)
    assert t.c.recv(timeout=5) <= time.monotonic()
    with pytest.raises(TimeoutError):
        t.c.recv(timeout=0.03)
    assert t.stop() is False  # already fired and received


def test_timer_stop_before_firing():
    t = gc.Timer(0.05)
    assert t.stop() is True
    assert t.stop() is False
    with pytest.raises(TimeoutError):
        t.c.recv(timeout=0.1)


def test_no_stale_value_after_stop():
    t = gc.Timer(0.001)
    time.sleep(0.03)            # fired; the value waits in c
    assert t.stop() is True     # Go 1.23: an unreceived value counts as not fired
    with pytest.raises(TimeoutError):
        t.c.recv(timeout=0.05)


def test_no_stale_value_after_reset():
    t = gc.Timer(0.001)
    time.sleep(0.03)
    before = time.monotonic()
    assert t.reset(0.05) is True
    fired = t.c.recv(timeout=5)
    assert fired >= before + 0.05  # the new firing, not the stale one


def test_reset_after_receive_and_after_stop():
    t = gc.Timer(0.005)
    t.c.recv(timeout=5)
    assert t.reset(0.005) is False
    assert t.c.recv(timeout=5) > 0
    t.stop()
    assert t.reset(0.005) is False
    assert t.c.recv(timeout=5) > 0


def test_timer_stop_racing_the_fire_never_delivers_after_stop(rng):
    for _ in range(300):
        t = gc.Timer(rng.random() * 0.002)
        time.sleep(rng.random() * 0.002)
        stopped = t.stop()
        try:
            t.c.recv(timeout=0)
            delivered = True
        except TimeoutError:
            delivered = False
        assert not delivered, "a value arrived after stop() returned"
        assert stopped in (True, False)


def test_timer_channel_is_receive_only():
    t = gc.Timer(10)
    with pytest.raises(TypeError, match="receive-only"):
        t.c.send(1)
    with pytest.raises(TypeError, match="receive-only"):
        t.c.close()
    with pytest.raises(TypeError, match="receive-only"):
        gc.send(t.c, 1)
    t.stop()


def test_ticker_ticks_on_its_grid():
    tk = gc.Ticker(0.02)
    ticks = [tk.c.recv(timeout=5) for _ in range(5)]
    tk.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert all(g > 0.01 for g in gaps), gaps
    assert ticks[-1] - ticks[0] >= 0.06


def test_ticker_drops_ticks_for_a_slow_reader():
    tk = gc.Ticker(0.005)
    time.sleep(0.1)                     # ~20 ticks pass
    assert len(tk.c) == 1               # c holds one tick, the rest were dropped
    first = tk.c.recv()
    second = tk.c.recv(timeout=5)
    assert second - first >= 0.004
    tk.stop()


def test_ticker_stop_and_reset():
    tk = gc.Ticker(0.005)
    tk.c.recv(timeout=5)
    tk.stop()
    with pytest.raises(TimeoutError):
        tk.c.recv(timeout=0.05)
    tk.reset(0.01)
    a = tk.c.recv(timeout=5)
    b = tk.c.recv(timeout=5)
    assert b - a >= 0.008
    tk.stop()


@pytest.mark.parametrize("bad", [0, -1, float("nan")])
def test_ticker_needs_a_positive_interval(bad):
    with pytest.raises(ValueError, match="interval"):
        gc.Ticker(bad)
    tk = gc.Ticker(1)
    with pytest.raises(ValueError):
        tk.reset(bad)
    tk.stop()


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


@pytest.mark.parametrize("bad", ["1", None, True, [1]])
def test_durations_must_be_numbers(bad):
    with pytest.raises(TypeError, match="seconds"):
        gc.after(bad)
    with pytest.raises(TypeError, match="seconds"):
        gc.Timer(bad)
    with pytest.raises(TypeError, match="interval"):
        gc.Ticker(bad)


def test_negative_timer_duration():
    with pytest.raises(ValueError):
        gc.Timer(-1)
    with pytest.raises(ValueError):
        gc.after(-0.5)


def test_blocked_receiver_wakes_when_the_timer_fires():
    t = gc.Timer(0.05)
    results = []
    th = start(lambda: results.append(t.c.recv(timeout=10)))
    join_all([th])
    assert len(results) == 1


def test_many_receivers_on_one_ticker_share_ticks():
    tk = gc.Ticker(0.002)
    got = []
    lock = threading.Lock()

    def take():
        for _ in range(10):
            v = tk.c.recv(timeout=10)
            with lock:
                got.append(v)

    threads = [start(take) for _ in range(4)]
    join_all(threads)
    tk.stop()
    assert len(got) == 40 and len(set(got)) == 40  # each tick received once


def test_hundred_thousand_pending_timers_are_cheap():
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        t0 = time.perf_counter()
        timers = [gc.Timer(3600) for _ in range(100_000)]
        created = time.perf_counter() - t0
        after_create, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert threading.active_count() < 50  # no thread per timer
    # Python-side objects only (the C heap is not traced): a few hundred bytes each
    assert (after_create - before) / len(timers) < 1000
    t0 = time.perf_counter()
    assert all(t.stop() for t in timers)
    stopped = time.perf_counter() - t0
    print(f"100k timers: created in {created:.3f}s, stopped in {stopped:.3f}s")


def test_dropped_timer_and_channel_are_freed_and_stop():
    t = gc.Timer(0.01)
    ch_ref = weakref.ref(t.c)
    t_ref = weakref.ref(t)
    del t
    pygc.collect()
    assert t_ref() is None and ch_ref() is None
    time.sleep(0.03)  # the timer was stopped with its channel: nothing fires into freed memory
    ch = gc.after(0.01)
    ref = weakref.ref(ch)
    del ch
    assert ref() is None
    time.sleep(0.03)


def test_timer_repr_and_attributes():
    t = gc.Timer(10)
    assert repr(t).startswith("<pygochan.Timer c=<pygochan.Channel capacity=1")
    with pytest.raises(AttributeError):
        t.c = gc.Channel()
    t.stop()


def test_timer_churn_does_not_grow_memory():
    def churn(n):
        for i in range(n):
            t = gc.Timer(0 if i % 2 else 3600)
            if i % 2:
                t.c.recv(timeout=5)
            t.reset(3600)
            t.stop()
            gc.after(3600)

    churn(2000)
    tracemalloc.start()
    try:
        churn(2000)
        first, _ = tracemalloc.get_traced_memory()
        churn(10_000)
        second, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert second - first < 64 * 1024, (first, second)


@needs_fork
def test_pending_timers_fire_in_a_forked_child():
    child = run_child("""
        import os, pygochan as gc
        t = gc.Timer(0.05)
        ctx, cancel = gc.with_timeout(gc.background(), 0.05)
        pid = os.fork()
        if pid == 0:
            ok = t.c.recv(timeout=5) > 0 and ctx.wait(timeout=5) is None
            os._exit(0 if ok and isinstance(ctx.err(), gc.DeadlineExceeded) else 1)
        _, status = os.waitpid(pid, 0)
        print('child', os.waitstatus_to_exitcode(status) if hasattr(os, 'waitstatus_to_exitcode') else status >> 8, flush=True)
    """)
    line = child.readline(timeout=20)
    returncode, stderr = child.finish()
    assert line == "child 0", stderr


# ---- after_func ------------------------------------------------------------------------

def test_after_func_runs_on_a_python_thread():
    ran = gc.Channel(1)
    t = gc.after_func(0.02, lambda: ran.send(threading.current_thread()))
    thread = ran.recv(timeout=WAIT_TIMEOUT)
    assert thread is not threading.main_thread()
    # a thread the threading module started, not one it only heard of
    # (current_thread() on a foreign thread makes a _DummyThread)
    assert not isinstance(thread, threading._DummyThread)
    assert thread.name.startswith("pygochan-after-func")
    assert t.stop() is False  # it has run


def test_after_func_stop_and_reset():
    ran = gc.Channel(gc.UNBOUNDED)
    t = gc.after_func(60, lambda: ran.send("late"))
    assert t.stop() is True
    assert t.stop() is False
    assert t.reset(0.01) is False  # it was stopped
    assert ran.recv(timeout=WAIT_TIMEOUT) == "late"
    t2 = gc.after_func(60, lambda: ran.send("moved"))
    assert t2.reset(0.01) is True
    assert ran.recv(timeout=WAIT_TIMEOUT) == "moved"
    with pytest.raises(TimeoutError):
        ran.recv(timeout=0.1)  # the first schedule never fires
    with pytest.raises(TypeError):
        gc.after_func(1, "not callable")
    with pytest.raises(ValueError):
        gc.after_func(-1, lambda: None)


def test_many_after_funcs_each_run_exactly_once(rng):
    ran = gc.Channel(gc.UNBOUNDED)
    timers = [gc.after_func(rng.random() * 0.05, lambda i=i: ran.send(i)) for i in range(50)]
    stopped = {i for i, t in enumerate(timers) if i % 3 == 0 and t.stop()}
    got = [ran.recv(timeout=WAIT_TIMEOUT) for _ in range(50 - len(stopped))]
    assert sorted(got) == sorted(set(range(50)) - stopped)
    with pytest.raises(TimeoutError):
        ran.recv(timeout=0.1)


# ---- handles a program may drop --------------------------------------------------

def test_after_func_whose_timer_is_dropped_still_runs():
    # Go's time.AfterFunc always fires; the timer is only a handle to stop it
    ran = threading.Event()
    gc.after_func(0.05, ran.set)
    pygc.collect()
    assert ran.wait(10), "fn of a dropped after_func timer never ran"


DROPPED_AFTER_FUNC_IS_NO_DEADLOCK = """
import pygochan as gc
gc.set_deadlock_detection(True, grace=0.1)
done = gc.Channel()
gc.after_func(0.5, done.close)       # the timer is dropped at once
print(done.recv_ok())
"""


def test_a_pending_after_func_whose_timer_is_dropped_is_no_deadlock():
    proc = subprocess.run([sys.executable, "-c", DROPPED_AFTER_FUNC_IS_NO_DEADLOCK],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "(None, False)"
