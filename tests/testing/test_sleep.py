"""gc.sleep: Go's time.Sleep (outside a bubble: real time)."""
import threading
import time

import pytest

import pygochan as gc
from conftest import assert_interrupted, needs_kill_signal, run_child, start, join_all


def test_sleep_sleeps_at_least_the_time_asked():
    t0 = time.monotonic()
    assert gc.sleep(0.05) is None
    assert time.monotonic() - t0 >= 0.05


def test_sleep_zero_returns_at_once():
    assert gc.sleep(0) is None
    assert gc.sleep(0.0) is None


def test_sleep_releases_the_gil():
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = start(count)
    gc.sleep(0.1)
    stop.set()
    join_all([t])
    assert len(ticks) > 5


def test_sleep_ends_early_with_the_contexts_error():
    ctx, cancel = gc.with_cancel_cause(gc.background())
    cause = ValueError("stop")
    t = start(lambda: (gc.sleep(0.05), cancel(cause)))
    with pytest.raises(gc.Canceled) as info:
        gc.sleep(3600, ctx=ctx)
    assert info.value.__cause__ is cause
    join_all([t])


def test_sleep_with_a_deadline_context_raises_deadline_exceeded():
    with gc.with_timeout(gc.background(), 0.02) as ctx:
        with pytest.raises(gc.DeadlineExceeded):
            gc.sleep(3600, ctx=ctx)


def test_sleep_with_a_done_context_raises_even_for_zero():
    ctx, cancel = gc.with_cancel(gc.background())
    cancel()
    with pytest.raises(gc.Canceled):
        gc.sleep(0, ctx=ctx)


def test_sleep_shorter_than_the_context_returns_none():
    with gc.with_timeout(gc.background(), 3600) as ctx:
        assert gc.sleep(0.01, ctx=ctx) is None


@pytest.mark.parametrize("bad", ["1", None, [1], True])
def test_sleep_rejects_what_is_not_a_number(bad):
    with pytest.raises(TypeError):
        gc.sleep(bad)


@pytest.mark.parametrize("bad", [-1, -0.001, float("nan")])
def test_sleep_rejects_negative_and_nan(bad):
    with pytest.raises(ValueError):
        gc.sleep(bad)


def test_sleep_rejects_a_ctx_that_is_not_a_context():
    with pytest.raises(TypeError):
        gc.sleep(1, ctx="ctx")
    with pytest.raises(TypeError):
        gc.sleep(1, timeout=1)  # no such keyword
    with pytest.raises(TypeError):
        gc.sleep()


@needs_kill_signal
def test_ctrl_c_ends_a_sleep():
    assert_interrupted(run_child("""
        import pygochan as gc
        print("ready", flush=True)
        try:
            gc.sleep(3600)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """))


def test_sleep_shows_in_blocked():
    t = start(gc.sleep, 0.3)
    from conftest import wait_for
    wait_for(lambda: any(w.operation == "sleep" for w in gc.blocked()), what="sleep in blocked()")
    join_all([t])
