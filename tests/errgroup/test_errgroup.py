"""WaitGroup and ErrGroup: Go's semantics, Python's exceptions."""
import threading
import time

import pytest

import pygochan as gc
from conftest import join_all, start, wait_for


# ---- WaitGroup ------------------------------------------------------------


def test_wait_returns_at_once_at_zero_and_after_every_done():
    wg = gc.WaitGroup()
    wg.wait()
    wg.add(3)
    assert wg.count == 3
    for _ in range(3):
        with pytest.raises(TimeoutError):
            wg.wait(timeout=0)
        wg.done()
    wg.wait(timeout=0)
    assert wg.count == 0 and "count=0" in repr(wg)


def test_counter_below_zero_is_a_value_error_and_changes_nothing():
    wg = gc.WaitGroup()
    with pytest.raises(ValueError):
        wg.done()
    wg.add(2)
    with pytest.raises(ValueError):
        wg.add(-3)
    assert wg.count == 2
    with pytest.raises(ValueError):
        wg.add(2**80)
    assert wg.count == 2
    wg.add(delta=-2)
    assert wg.count == 0


@pytest.mark.parametrize("bad", [True, 1.0, "1", None])
def test_add_wants_an_int(bad):
    with pytest.raises(TypeError):
        gc.WaitGroup().add(bad)


def test_wait_takes_timeout_and_ctx_and_rejects_bad_ones():
    wg = gc.WaitGroup()
    wg.add()
    with pytest.raises(TimeoutError):
        wg.wait(timeout=0.02)
    ctx, cancel = gc.with_cancel(gc.background())
    threading.Timer(0.02, cancel).start()
    with pytest.raises(gc.Canceled):
        wg.wait(ctx=ctx)
    with pytest.raises(ValueError):
        wg.wait(timeout=-1)
    with pytest.raises(TypeError):
        wg.wait(ctx="ctx")
    with pytest.raises(TypeError):
        gc.WaitGroup(1)


def test_go_runs_every_function_and_wait_sees_all_of_them():
    results = []
    lock = threading.Lock()

    def work(i, *, scale):
        time.sleep(0.001 * (i % 3))
        with lock:
            results.append(i * scale)

    wg = gc.WaitGroup()
    threads = [wg.go(work, i, scale=2) for i in range(50)]
    wg.wait(timeout=30)
    assert sorted(results) == [2 * i for i in range(50)]
    join_all(threads)


def test_with_block_waits_on_exit():
    done = []
    with gc.WaitGroup() as wg:
        wg.go(lambda: (time.sleep(0.05), done.append(1)))
    assert done == [1]


def test_go_counts_down_even_when_the_function_raises(monkeypatch):
    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_type))
    wg = gc.WaitGroup()
    wg.go(lambda: 1 / 0)
    wg.wait(timeout=10)
    wait_for(lambda: seen == [ZeroDivisionError])
    with pytest.raises(TypeError):
        wg.go("not callable")
    assert wg.count == 0


def test_many_cycles_with_concurrent_waiters(rng):
    wg = gc.WaitGroup()
    for _ in range(200):
        n = rng.randrange(1, 8)
        wg.add(n)
        waiters = [start(wg.wait, timeout=30) for _ in range(rng.randrange(1, 4))]
        doers = [start(wg.done) for _ in range(n)]
        join_all(waiters + doers)
        assert wg.count == 0


def test_wait_group_is_not_picklable_and_weakrefable():
    import pickle
    import weakref

    wg = gc.WaitGroup()
    assert weakref.ref(wg)() is wg
    with pytest.raises(TypeError):
        pickle.dumps(wg)


# ---- ErrGroup ---------------------------------------------------------------


def test_all_tasks_succeed():
    out = []
    with gc.ErrGroup() as g:
        for i in range(10):
            g.go(out.append, i)
    assert sorted(out) == list(range(10))
    assert g.exceptions == []
    assert g.ctx.err() is not None  # like Go: the group's context ends at wait


def test_first_failure_cancels_ctx_with_cause_and_is_raised_with_the_others():
    started = threading.Barrier(3)

    def fail(exc):
        started.wait(5)
        raise exc

    def observe(g):
        started.wait(5)
        g.ctx.wait(timeout=10)
        raise KeyError("after cancel")

    first = ValueError("first")
    g = gc.ErrGroup()
    g.go(fail, first)
    g.go(observe, g)
    with pytest.raises(ValueError) as info:
        started.wait(5)
        g.wait()
    assert info.value is first
    assert isinstance(g.ctx.err(), gc.Canceled)
    assert gc.cause(g.ctx) is first
    assert [type(e) for e in first.exceptions] == [ValueError, KeyError]
    assert any("1 more task(s) failed: KeyError" in n for n in getattr(first, "__notes__", []))


def test_limit_blocks_go_and_try_go_refuses():
    release = threading.Event()
    running = []
    peak = []
    lock = threading.Lock()

    def task():
        with lock:
            running.append(1)
            peak.append(len(running))
        release.wait(10)
        with lock:
            running.pop()

    g = gc.ErrGroup(limit=2)
    g.go(task)
    g.go(task)
    assert g.try_go(task) is False
    t = start(g.go, task)  # blocks until a slot frees
    time.sleep(0.05)
    assert t.is_alive()
    release.set()
    join_all([t])
    g.wait()
    assert max(peak) <= 2
    assert len(peak) == 3


def test_blocked_go_takes_no_slot_when_interrupted_in_a_subprocess():
    from conftest import run_child
    from conftest import assert_interrupted

    child = run_child("""
        import pygochan as gc, threading
        g = gc.ErrGroup(limit=1)
        stop = threading.Event()
        g.go(stop.wait)
        print('ready', flush=True)
        try:
            g.go(print, 'never')
        except KeyboardInterrupt:
            stop.set()
            g.wait()
            print('interrupted', flush=True)
    """)
    assert_interrupted(child)


def test_go_after_wait_is_a_runtime_error():
    g = gc.ErrGroup()
    g.go(lambda: None)
    g.wait()
    with pytest.raises(RuntimeError):
        g.go(lambda: None)
    with pytest.raises(RuntimeError):
        g.try_go(lambda: None)


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_keyboard_interrupt_and_system_exit_from_a_task_propagate(exc_type):
    g = gc.ErrGroup()
    g.go(lambda: 1 / 0)
    time.sleep(0.02)

    def fatal():
        raise exc_type()

    g.go(fatal)
    with pytest.raises(exc_type):
        g.wait()


def test_exception_in_the_with_body_cancels_and_waits():
    finished = []

    def worker(ctx):
        ctx.wait(timeout=10)
        time.sleep(0.02)
        finished.append(1)

    with pytest.raises(LookupError):
        with gc.ErrGroup() as g:
            g.go(worker, g.ctx)
            g.go(worker, g.ctx)
            raise LookupError("body")
    assert finished == [1, 1]
    assert isinstance(gc.cause(g.ctx), LookupError)


def test_parent_cancel_reaches_the_group_ctx():
    parent, cancel = gc.with_cancel(gc.background())
    with gc.ErrGroup(parent) as g:
        g.go(lambda: g.ctx.wait(timeout=10))
        cancel()
    assert isinstance(g.ctx.err(), gc.Canceled)


def test_errgroup_bad_arguments():
    with pytest.raises(TypeError):
        gc.ErrGroup(ctx="nope")
    with pytest.raises(ValueError):
        gc.ErrGroup(limit=0)
    with pytest.raises(TypeError):
        gc.ErrGroup(limit=1.5)
    with pytest.raises(TypeError):
        gc.ErrGroup().go(42)
    assert "ErrGroup" in repr(gc.ErrGroup())
