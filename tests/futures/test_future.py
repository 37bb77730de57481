"""Future: a concurrent.futures.Future (its waiters protocol included) whose
result() also takes ctx=, and which reports an exception nobody retrieved."""
import concurrent.futures as cf
import gc as pygc
import logging
import sys
import threading
import time

import pytest

import pygochan as gc
from conftest import join_all, start


def test_bare_future_is_a_concurrent_future():
    fut = gc.Future()
    assert isinstance(fut, cf.Future)
    assert gc.Future[int] is not None
    assert not fut.done() and not fut.running() and not fut.cancelled()
    threading.Timer(0.02, fut.set_result, args=(42,)).start()
    assert fut.result(timeout=5) == 42
    assert fut.done() and fut.exception() is None
    assert "finished returned int" in repr(fut)
    with pytest.raises(cf.InvalidStateError):
        fut.set_result(1)
    with pytest.raises(TypeError):
        gc.Future(1)


def test_a_pool_makes_futures_of_the_one_future_class():
    from pygochan import _core

    assert gc.Future.__module__ == "pygochan" and gc.Future.__qualname__ == "Future"
    with gc.Pool(1) as pool:
        assert type(pool.submit(int)) is gc.Future
    # the C core takes the class once, and only a subclass of its base
    _core._set_future_type(gc.Future)
    with pytest.raises(TypeError):
        _core._set_future_type(cf.Future)
    with pytest.raises(RuntimeError):
        _core._set_future_type(type("Other", (gc.Future,), {"__slots__": ()}))


def test_exception_is_raised_with_its_traceback():
    fut = gc.Future()
    try:
        1 / 0
    except ZeroDivisionError as e:
        fut.set_exception(e)
    with pytest.raises(ZeroDivisionError) as info:
        fut.result()
    assert info.value.__traceback__ is not None
    assert isinstance(fut.exception(), ZeroDivisionError)
    other = gc.Future()
    other.set_exception(KeyError)  # a class is instantiated
    assert isinstance(other.exception(), KeyError)
    with pytest.raises(TypeError):
        gc.Future().set_exception("nope")


def test_result_timeout_is_both_timeout_errors_and_ctx_is_obeyed():
    fut = gc.Future()
    with pytest.raises(TimeoutError):
        fut.result(timeout=0.01)
    with pytest.raises(cf.TimeoutError):
        fut.result(0)
    with pytest.raises(ValueError):
        fut.result(timeout=-1)
    ctx, cancel = gc.with_cancel(gc.background())
    threading.Timer(0.02, cancel).start()
    with pytest.raises(gc.Canceled):
        fut.exception(ctx=ctx)
    fut.set_result(1)
    assert fut.result(ctx=ctx) == 1  # a done future wins over a done ctx


def test_cancel_and_callbacks():
    fut = gc.Future()
    calls = []
    fut.add_done_callback(lambda f: calls.append(("a", f)))
    fut.add_done_callback(lambda f: calls.append(("b", f)))
    assert fut.cancel() and fut.cancel() and fut.cancelled()
    assert calls == [("a", fut), ("b", fut)]
    with pytest.raises(cf.CancelledError):
        fut.result()
    fut.add_done_callback(lambda f: calls.append(("late", f)))
    assert calls[-1] == ("late", fut)
    assert fut.set_running_or_notify_cancel() is False
    running = gc.Future()
    assert running.set_running_or_notify_cancel() is True and running.running()
    assert running.cancel() is False
    with pytest.raises(RuntimeError):
        running.set_running_or_notify_cancel()
    with pytest.raises(TypeError):
        running.add_done_callback(3)


def test_a_failing_callback_is_logged_like_concurrent_futures(caplog):
    fut = gc.Future()
    ran = []
    fut.add_done_callback(lambda f: 1 / 0)
    fut.add_done_callback(ran.append)
    with caplog.at_level(logging.ERROR, logger="concurrent.futures"):
        fut.set_result(None)
    assert ran == [fut]
    assert "exception calling callback" in caplog.text
    assert "ZeroDivisionError" in caplog.text


def test_waiters_are_told_under_the_condition_as_concurrent_futures_does(caplog):
    # concurrent.futures.wait() holds _condition while it reads _state and
    # appends a waiter to _waiters; settling tells each waiter under it
    settle = {
        "add_result": lambda f: f.set_result(1),
        "add_exception": lambda f: f.set_exception(ValueError("x")),
        "add_cancelled": lambda f: f.cancel(),
    }
    for method, act in settle.items():
        fut = gc.Future()
        told = []

        class Waiter:
            def __getattr__(self, name):
                return lambda f: told.append((name, f is fut, fut._condition._is_owned()))

        fut._waiters.append(Waiter())  # _waiters alone, as a waiter's install
        act(fut)
        assert told == [(method, True, True)]
        if not fut.cancelled():
            fut.exception()  # retrieved: no report when it goes
    # a waiter that raises is logged and the others are still told
    fut = gc.Future()
    told = []

    class Broken:
        def add_result(self, f):
            raise RuntimeError("waiter")

    class Good:
        def add_result(self, f):
            told.append(f)

    with fut._condition:
        fut._waiters.extend([Broken(), Good()])
    with caplog.at_level(logging.ERROR, logger="concurrent.futures"):
        fut.set_result(None)
    assert told == [fut]
    assert "RuntimeError: waiter" in caplog.text


def test_settling_waits_for_whoever_holds_the_condition():
    fut = gc.Future()
    with fut._condition:
        assert fut._state == "PENDING"
        settler = start(fut.set_result, 5)
        time.sleep(0.05)
        assert not fut.done() and fut._state == "PENDING"
    join_all([settler])
    assert fut._state == "FINISHED" and fut._result == 5


def test_unretrieved_exception_is_reported_and_retrieved_one_is_not(monkeypatch):
    pygc.collect()  # earlier tests' garbage (an unclosed event loop) reports elsewhere
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    fut = gc.Future()
    fut.set_exception(ValueError("lost"))
    del fut
    pygc.collect()
    assert len(reports) == 1 and isinstance(reports[0].exc_value, ValueError)
    reports.clear()
    fut = gc.Future()
    fut.set_exception(ValueError("seen"))
    assert fut.exception() is not None
    del fut
    ok = gc.Future()
    ok.set_result(1)
    del ok
    stopped = gc.Future()  # a task that obeyed its canceled context
    stopped.set_exception(gc.Canceled("context canceled"))
    del stopped
    pygc.collect()
    assert reports == []


def test_every_way_of_reading_the_exception_counts_as_retrieving_it(monkeypatch):
    pygc.collect()  # earlier tests' garbage (an unclosed event loop) reports elsewhere
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    readers = [
        lambda f: f.exception(),
        lambda f: pytest.raises(KeyError, f.result),
        lambda f: f._exception,  # what concurrent.futures' own code reads
        lambda f: f._get_snapshot(),  # what asyncio.wrap_future reads on 3.15
    ]
    for read in readers:
        fut = gc.Future()
        fut.set_exception(KeyError("seen"))
        read(fut)
        del fut
    pygc.collect()
    assert reports == []


def test_snapshot_of_each_state():
    fut = gc.Future()
    assert fut._get_snapshot() == (False, False, None, None)
    assert fut.set_running_or_notify_cancel()
    assert fut._get_snapshot() == (False, False, None, None)
    fut.set_result(7)
    assert fut._get_snapshot() == (True, False, 7, None)
    fut = gc.Future()
    assert fut.cancel()
    assert fut._get_snapshot() == (True, True, None, None)
    fut = gc.Future()
    error = ValueError("x")
    fut.set_exception(error)
    assert fut._get_snapshot() == (True, False, None, error)


def test_concurrent_futures_wait_and_as_completed_with_racing_completion(rng):
    for _ in range(200):
        futs = [gc.Future() for _ in range(4)]
        setters = [
            threading.Timer(rng.random() * 0.002, f.set_result, args=(i,)) for i, f in enumerate(futs)
        ]
        for s in setters:
            s.start()
        done, not_done = cf.wait(futs, timeout=10)
        assert not not_done and len(done) == 4
        futs = [gc.Future() for _ in range(3)]
        for i, f in enumerate(futs):
            threading.Timer(rng.random() * 0.002, f.set_result, args=(i,)).start()
        assert sorted(f.result() for f in cf.as_completed(futs, timeout=10)) == [0, 1, 2]


def test_wait_first_completed_and_cancelled_futures():
    a, b = gc.Future(), gc.Future()
    threading.Timer(0.02, a.cancel).start()
    done, not_done = cf.wait([a, b], timeout=10, return_when=cf.FIRST_COMPLETED)
    assert done == {a} and not_done == {b}
