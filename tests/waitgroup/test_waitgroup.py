"""WaitGroup: Go's semantics, Python's exceptions."""
import threading
import time

import pytest

import pygochan as gc
from conftest import JOIN_TIMEOUT, join_all, run_python, start, wait_for


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
