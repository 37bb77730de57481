"""The rest of Go's toolkit: ContextError, *_cause contexts, ctx-bound
iteration, Once, Semaphore, Singleflight, ErrGroup.set_limit/wait(ctx=),
after_func and channel direction views."""
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import pygochan as gc

from conftest import WAIT_TIMEOUT, join_all, start


# ---- errors ------------------------------------------------------------------

def test_context_error_is_the_base_of_both_context_errors():
    assert issubclass(gc.Canceled, gc.ContextError)
    assert issubclass(gc.DeadlineExceeded, gc.ContextError)
    assert issubclass(gc.DeadlineExceeded, TimeoutError)
    assert not issubclass(gc.Canceled, TimeoutError)


@pytest.mark.parametrize("how", ["cancel", "deadline"])
def test_a_worker_catching_context_error_stops_whatever_the_reason(how):
    if how == "cancel":
        ctx, cancel = gc.with_cancel(gc.background())
    else:
        ctx, cancel = gc.with_timeout(gc.background(), 0.05)
    jobs = gc.Channel()
    stopped = gc.Channel(1)

    def worker():
        try:
            while True:
                jobs.recv(ctx=ctx)
        except gc.ContextError as e:
            stopped.send(type(e))

    t = start(worker)
    if how == "cancel":
        cancel()
    kind = stopped.recv(timeout=WAIT_TIMEOUT)
    assert kind is (gc.Canceled if how == "cancel" else gc.DeadlineExceeded)
    join_all([t])
    cancel()


# ---- *_cause contexts ------------------------------------------------------------

def test_with_timeout_cause_gives_its_cause_once_the_deadline_passes():
    why = TimeoutError("the backend is slow")
    ctx, cancel = gc.with_timeout_cause(gc.background(), 0.05, why)
    assert gc.cause(ctx) is None
    ctx.wait(timeout=WAIT_TIMEOUT)
    assert isinstance(ctx.err(), gc.DeadlineExceeded)
    assert gc.cause(ctx) is why
    cancel()
    assert gc.cause(ctx) is why  # fixed once done


def test_children_of_an_expired_cause_context_report_its_cause():
    why = ValueError("quota")
    ctx, cancel = gc.with_deadline_cause(gc.background(), time.monotonic() + 0.05, why)
    child, child_cancel = gc.with_cancel(ctx)
    valued = gc.with_value(child, "k", 1)
    later, later_cancel = gc.with_timeout(ctx, 60)  # its deadline is ctx's
    ch = gc.Channel()
    with pytest.raises(gc.DeadlineExceeded):
        ch.recv(ctx=valued)
    assert gc.cause(child) is why
    assert gc.cause(valued) is why
    assert gc.cause(later) is why
    for c in (cancel, child_cancel, later_cancel):
        c()


def test_canceling_before_the_deadline_keeps_canceled_and_no_deadline_cause():
    ctx, cancel = gc.with_timeout_cause(gc.background(), 60, ValueError("unused"))
    cancel()
    assert isinstance(ctx.err(), gc.Canceled)
    assert isinstance(gc.cause(ctx), gc.Canceled)


def test_a_child_that_expires_by_its_own_deadline_has_no_parents_cause():
    parent, cancel = gc.with_timeout_cause(gc.background(), 60, ValueError("parent"))
    child, child_cancel = gc.with_timeout(parent, 0.02)
    child.wait(timeout=WAIT_TIMEOUT)
    assert isinstance(gc.cause(child), gc.DeadlineExceeded)
    child_cancel()
    cancel()


def test_a_parent_deadline_earlier_than_the_cause_deadline_wins():
    parent, cancel = gc.with_timeout(gc.background(), 0.02)
    child, child_cancel = gc.with_timeout_cause(parent, 60, ValueError("late"))
    child.wait(timeout=WAIT_TIMEOUT)
    assert isinstance(gc.cause(child), gc.DeadlineExceeded)  # Go: the parent's
    child_cancel()
    cancel()


class SlowBackend(Exception):
    pass


def test_a_blocking_call_that_hits_a_cause_deadline_is_chained_to_the_cause():
    why = SlowBackend("no reply")
    ctx, cancel = gc.with_timeout_cause(gc.background(), 0.01, why)
    ch = gc.Channel()
    with pytest.raises(gc.DeadlineExceeded) as info:
        ch.recv(ctx=ctx)
    assert info.value.__cause__ is why
    with pytest.raises(gc.DeadlineExceeded) as info:  # and once it is done
        ch.send(1, ctx=ctx)
    assert info.value.__cause__ is why
    cancel()


def test_children_of_a_cause_deadline_chain_their_errors_to_it():
    why = SlowBackend("quota")
    ctx, cancel = gc.with_timeout_cause(gc.background(), 0.01, why)
    child, child_cancel = gc.with_cancel(ctx)
    valued = gc.with_value(child, "k", 1)
    later, later_cancel = gc.with_timeout(ctx, 60)  # its deadline is ctx's
    ch = gc.Channel()
    for c in (child, valued, later):
        with pytest.raises(gc.DeadlineExceeded) as info:
            ch.recv(ctx=c)
        assert info.value.__cause__ is why
    for c in (cancel, child_cancel, later_cancel):
        c()


def test_select_and_waitgroup_wait_chain_to_the_deadline_cause():
    why = SlowBackend("select")
    ctx, cancel = gc.with_timeout_cause(gc.background(), 0.01, why)
    ch = gc.Channel()
    with pytest.raises(gc.DeadlineExceeded) as info:
        gc.select(gc.recv(ch), ctx=ctx)
    assert info.value.__cause__ is why
    wg = gc.WaitGroup()
    wg.add(1)
    with pytest.raises(gc.DeadlineExceeded) as info:
        wg.wait(ctx=ctx)
    assert info.value.__cause__ is why
    wg.done()
    cancel()


def test_a_child_deadline_cause_earlier_than_its_parents_is_the_childs():
    parent, cancel = gc.with_timeout_cause(gc.background(), 60, SlowBackend("parent"))
    mine = SlowBackend("child")
    child, child_cancel = gc.with_timeout_cause(parent, 0.01, mine)
    with pytest.raises(gc.DeadlineExceeded) as info:
        gc.Channel().recv(ctx=child)
    assert info.value.__cause__ is mine and gc.cause(child) is mine
    assert parent.err() is None and gc.cause(parent) is None
    child_cancel()
    cancel()


def test_a_cancel_cause_wins_over_the_deadline_cause():
    ctx, cancel = gc.with_timeout_cause(gc.background(), 60, SlowBackend("unused"))
    child, child_cancel = gc.with_timeout_cause(ctx, 30, SlowBackend("unused too"))
    parent_cause_ctx, parent_cancel = gc.with_cancel_cause(gc.background())
    timed, timed_cancel = gc.with_timeout_cause(parent_cause_ctx, 60, SlowBackend("no"))
    why = ValueError("stopped")
    parent_cancel(why)
    cancel()
    with pytest.raises(gc.Canceled) as info:
        gc.Channel().recv(ctx=child)
    assert info.value.__cause__ is None
    with pytest.raises(gc.Canceled) as info:
        gc.Channel().recv(ctx=timed)
    assert info.value.__cause__ is why
    for c in (child_cancel, timed_cancel):
        c()


def test_many_threads_each_see_their_own_deadline_cause(rng):
    parent_cause = SlowBackend("parent")
    parent, parent_cancel = gc.with_timeout_cause(gc.background(), rng.uniform(0.01, 0.05),
                                                  parent_cause)
    plans = [(i, rng.uniform(0.0, 0.06), rng.random() < 0.7) for i in range(16)]

    def worker(i, seconds, with_cause):
        why = SlowBackend(i)
        if with_cause:
            ctx, cancel = gc.with_timeout_cause(parent, seconds, why)
        else:
            ctx, cancel = gc.with_cancel(parent)
        # the child's own deadline if it is earlier than the parent's
        expected = why if ctx.deadline() < parent.deadline() else parent_cause
        with pytest.raises(gc.DeadlineExceeded) as info:
            gc.Channel().recv(ctx=ctx)
        cancel()
        assert info.value.__cause__ is expected, (i, seconds, info.value.__cause__)
        assert gc.cause(ctx) is expected

    threads = [start(worker, *plan) for plan in plans]
    join_all(threads)
    parent_cancel()


def test_cause_constructors_check_their_arguments():
    with pytest.raises(TypeError):
        gc.with_timeout_cause(gc.background(), "1", ValueError())
    with pytest.raises(TypeError):
        gc.with_deadline_cause(object(), 1.0, ValueError())


# ---- iteration bound to a context -------------------------------------------------

def test_iter_with_ctx_ends_when_the_channel_is_closed_and_drained():
    ch = gc.Channel(3)
    for i in range(3):
        ch.send(i)
    ch.close()
    ctx, cancel = gc.with_cancel(gc.background())
    assert [v for v in ch.iter(ctx=ctx)] == [0, 1, 2]
    cancel()


def test_iter_with_ctx_raises_the_context_error_and_takes_nothing():
    ch = gc.Channel(gc.UNBOUNDED)
    ctx, cancel = gc.with_cancel(gc.background())
    got = []
    ch.send("a")

    def consumer():
        for v in ch.iter(ctx=ctx):
            got.append(v)

    t = start(consumer)
    deadline = time.monotonic() + WAIT_TIMEOUT
    while not got and time.monotonic() < deadline:
        time.sleep(0.005)
    cancel()
    with pytest.raises(gc.Canceled):
        join_all([t])
    ch.send("after")
    assert got == ["a"]
    assert ch.recv(timeout=0) == "after"


def test_iter_without_ctx_is_plain_iteration_and_refuses_a_send_only_view():
    ch = gc.Channel(1)
    ch.send(5)
    ch.close()
    assert list(ch.iter()) == [5]
    with pytest.raises(TypeError):
        ch.send_only().iter()
    with pytest.raises(TypeError):
        ch.iter(ctx="nope")


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


# ---- ErrGroup.set_limit and wait(ctx=) ---------------------------------------------------

def test_errgroup_set_limit_bounds_running_tasks_and_shows_in_repr(rng):
    g = gc.ErrGroup()
    g.set_limit(2)
    assert "limit=2" in repr(g)
    running = [0]
    peak = [0]
    lock = threading.Lock()

    def task():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(rng.random() * 0.01)
        with lock:
            running[0] -= 1

    for _ in range(10):
        g.go(task)
    g.wait(timeout=WAIT_TIMEOUT)
    assert peak[0] <= 2


def test_errgroup_set_limit_is_refused_while_tasks_run():
    g = gc.ErrGroup()
    gate = gc.Channel()
    g.go(gate.recv, timeout=WAIT_TIMEOUT)
    with pytest.raises(RuntimeError):
        g.set_limit(1)
    gate.send(None)
    g.wait(timeout=WAIT_TIMEOUT)
    g2 = gc.ErrGroup(limit=1)
    g2.set_limit(None)
    assert "limit=None" in repr(g2)
    with pytest.raises(ValueError):
        g2.set_limit(0)


def test_errgroup_wait_takes_ctx_and_timeout_and_leaves_the_group_running():
    g = gc.ErrGroup()
    gate = gc.Channel()
    g.go(gate.recv, timeout=WAIT_TIMEOUT)
    ctx, cancel = gc.with_cancel(gc.background())
    cancel()
    with pytest.raises(gc.Canceled):
        g.wait(ctx=ctx)
    with pytest.raises(TimeoutError):
        g.wait(timeout=0.01)
    gate.send(None)
    g.wait(timeout=WAIT_TIMEOUT)


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


# ---- channel direction views --------------------------------------------------------------

def test_views_share_the_channel():
    ch = gc.Channel(4)
    out, into = ch.recv_only(), ch.send_only()
    into.send(1)
    assert out.recv() == 1
    ch.send(2)
    assert gc.select(gc.recv(out)) == (0, 2, True)
    gc.select(gc.send(into, 3))
    assert len(out) == len(into) == len(ch) == 1
    assert out.capacity == into.capacity == 4
    into.close()  # closing is the sender's side
    assert ch.closed and out.closed
    assert list(out) == [3]
    assert out.recv_ok() == (None, False)


def test_views_refuse_the_other_direction():
    ch = gc.Channel(1)
    out, into = ch.recv_only(), ch.send_only()
    for bad in (lambda: out.send(1), out.close, lambda: gc.send(out, 1),
                into.recv, into.recv_ok, lambda: next(iter(into)), lambda: gc.recv(into),
                into.recv_only, out.send_only, gc.after(1).send_only):
        with pytest.raises(TypeError):
            bad()
    assert len(ch) == 0 and not ch.closed
    assert "receive-only view" in repr(out) and "send-only view" in repr(into)
    assert isinstance(out.recv_only(), gc.Channel)


def test_a_view_keeps_its_channel_alive_and_threads_use_both_ends(rng):
    ch = gc.Channel(2)
    out, into = ch.recv_only(), ch.send_only()
    del ch
    n = 200

    def producer():
        for i in range(n):
            if rng.random() < 0.1:
                time.sleep(0.0005)
            into.send(i, timeout=WAIT_TIMEOUT)
        into.close()

    t = start(producer)
    assert list(out.iter()) == list(range(n))
    join_all([t])


MYPY_SNIPPET = """
import pygochan as gc

def consume(results: gc.RecvOnlyChannel[int]) -> int:
    total = 0
    for v in results:
        total += v
    results.send(1)
    return total

def produce(out: gc.SendOnlyChannel[int]) -> None:
    out.send(1)
    out.close()

ch: gc.Channel[int] = gc.Channel(1)
produce(ch.send_only())
consume(ch.recv_only())
consume(ch)
gc.select(gc.recv(ch.recv_only()), gc.send(ch.send_only(), 2))
"""


def test_mypy_rejects_a_send_on_a_receive_only_view(tmp_path):
    mypy = pytest.importorskip("mypy.api")
    path = tmp_path / "views.py"
    path.write_text(MYPY_SNIPPET)
    stdout, stderr, status = mypy.run([str(path), "--no-incremental", "--cache-dir", str(tmp_path / "c")])
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, stdout + stderr
    assert "views.py:8:" in errors[0] and '"send"' in errors[0], stdout


def test_views_and_iterators_are_collected_with_their_channel():
    import gc as pygc
    import weakref

    ch = gc.Channel(gc.UNBOUNDED)
    ref = weakref.ref(ch)
    view = ch.recv_only()
    ch.send(view)            # a cycle: the channel buffers its own view
    ch.send(ch.send_only())
    ctx, cancel = gc.with_cancel(gc.background())
    it = ch.iter(ctx=ctx)
    ch.send(it)              # and an iterator that holds it
    del ch, view, it
    pygc.collect()
    assert ref() is None
    cancel()


def test_blocked_and_views_do_not_leak(rng):
    import tracemalloc

    ch = gc.Channel(1)

    def churn():
        for _ in range(300):
            v = ch.recv_only()
            assert len(ch.send_only()) == 0
            with pytest.raises(TimeoutError):
                v.recv(timeout=0.0001 * rng.random())
            gc.blocked()

    churn()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    churn()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 64 * 1024, grown
