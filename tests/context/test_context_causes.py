"""ContextError, the base of both context errors, and contexts whose
deadline carries a cause (with_timeout_cause, with_deadline_cause): what
gc.cause() reports and what the errors of blocking calls are chained to."""
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
