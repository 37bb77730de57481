"""ErrGroup: Go's semantics, Python's exceptions."""
import threading
import time

import pytest

import pygochan as gc
from conftest import WAIT_TIMEOUT, join_all, start


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
