"""Cycles through references a context's C side holds (its cancel cause,
pending after_func functions) are found and collected by the garbage
collector, and nothing leaks when an ErrGroup's task raises."""
import gc as pygc
import sys
import threading
import weakref

import pytest

import pygochan as gc


class Cause(Exception):
    pass


def collect():
    for _ in range(3):
        pygc.collect()


def test_cause_referring_back_to_its_context_is_collected():
    ctx, cancel = gc.with_cancel_cause(gc.background())
    cause = Cause("stop")
    cause.ctx = ctx           # the cause leads back to the context
    cancel(cause)
    assert gc.cause(ctx) is cause
    ctx_ref, cause_ref = weakref.ref(ctx), weakref.ref(cause)
    del ctx, cancel, cause
    collect()
    assert ctx_ref() is None and cause_ref() is None


def test_cause_reached_through_a_traceback_is_collected():
    ctx, cancel = gc.with_cancel_cause(gc.background())

    def fail():
        local_ctx = ctx          # the frame keeps the context
        raise Cause(local_ctx)

    try:
        fail()
    except Cause as exc:
        cancel(exc)
    ctx_ref = weakref.ref(ctx)
    del ctx, cancel
    collect()
    assert ctx_ref() is None


def register_closure(ctx, ran):
    # the function is the only way back to the context
    return ctx.after_func(lambda: ran.append(ctx.err()))


def test_after_func_closure_referring_to_its_context_is_collected():
    ctx, cancel = gc.with_cancel(gc.background())
    ran = []
    register_closure(ctx, ran)
    ctx_ref = weakref.ref(ctx)
    del ctx, cancel
    collect()
    assert ctx_ref() is None
    assert ran == []


def test_pending_after_func_still_runs_when_the_context_is_kept():
    ctx, cancel = gc.with_cancel(gc.background())
    done = threading.Event()
    ctx.after_func(lambda: done.set() if ctx.err() else None)
    collect()                  # reachable: the GC must not clear it
    cancel()
    assert done.wait(10)


def test_cause_of_a_with_value_child_is_visited_once():
    # with_value shares the C context: the cause is shown to the GC by one
    # holder only, so a live child keeps everything alive and a dead tree
    # goes as a whole
    ctx, cancel = gc.with_cancel_cause(gc.background())
    child = gc.with_value(ctx, "k", "v")
    cause = Cause()
    cause.back = (ctx, child)
    cancel(cause)
    del ctx, cancel, cause
    collect()
    assert isinstance(gc.cause(child), Cause)
    child_ref = weakref.ref(child)
    del child
    collect()
    assert child_ref() is None


def test_deadline_cause_referring_back_to_its_context_is_collected():
    # before and after the deadline: the cause is the C context's, shown to
    # the GC through the context that made it
    for seconds in (60, 0):
        ctx, cancel = gc.with_timeout_cause(gc.background(), seconds, Cause())
        gc.cause(ctx)  # may be None (alive) or the cause
        child, child_cancel = gc.with_cancel(ctx)
        if seconds == 0:
            with pytest.raises(gc.DeadlineExceeded) as info:
                gc.Channel().recv(ctx=child)
            info.value.__cause__.back = (ctx, cancel, child, child_cancel)
            del info
        ctx_ref, child_ref = weakref.ref(ctx), weakref.ref(child)
        del ctx, cancel, child, child_cancel
        collect()
        assert ctx_ref() is None and child_ref() is None


def make_cyclic_deadline_cause(seconds):
    cause = Cause()
    ctx, cancel = gc.with_timeout_cause(gc.background(), seconds, cause)
    cause.ctx = ctx
    return weakref.ref(ctx), weakref.ref(cause)


def test_deadline_cause_cycle_is_collected_alive_or_expired():
    for seconds in (60, 0):
        ctx_ref, cause_ref = make_cyclic_deadline_cause(seconds)
        collect()
        assert ctx_ref() is None and cause_ref() is None


def test_deadline_cause_of_a_with_value_child_is_visited_once():
    ctx, cancel = gc.with_timeout_cause(gc.background(), 0, Cause())
    child = gc.with_value(ctx, "k", "v")
    gc.cause(ctx).back = (ctx, child)
    del ctx, cancel
    collect()  # the child keeps the tree, and so the cause, alive
    with pytest.raises(gc.DeadlineExceeded) as info:
        gc.Channel().recv(ctx=child)
    assert isinstance(info.value.__cause__, Cause)
    del info
    child_ref = weakref.ref(child)
    del child
    collect()
    assert child_ref() is None


def failing_group():
    g = gc.ErrGroup()

    def task():
        raise ValueError("boom")

    g.go(task)
    try:
        g.wait()
    except ValueError:
        pass
    return weakref.ref(g), weakref.ref(g.ctx)


def test_errgroup_whose_task_raised_is_collected():
    group_ref, ctx_ref = failing_group()
    collect()
    assert group_ref() is None and ctx_ref() is None


@pytest.mark.skipif(not hasattr(sys, "gettotalrefcount"), reason="needs a debug CPython")
def test_failing_errgroups_do_not_grow_the_total_refcount():
    for _ in range(20):
        failing_group()
    collect()
    before = sys.gettotalrefcount()
    for _ in range(200):
        failing_group()
    collect()
    assert sys.gettotalrefcount() - before < 200


def test_failing_errgroups_leave_no_objects_behind():
    for _ in range(20):
        failing_group()
    collect()
    before = len(pygc.get_objects())
    for _ in range(200):
        failing_group()
    collect()
    # 200 leaked groups would leave thousands of objects
    assert len(pygc.get_objects()) - before < 200
