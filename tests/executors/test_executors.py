"""Futures from any executor in channels and select: gc.done, gc.as_completed,
gc.map_on, ErrGroup(executor=...), on local executors (the cluster versions
are in test_cluster.py)."""
import asyncio
import concurrent.futures as cf
import signal
import threading
import time

import pytest

import pygochan as gc
from conftest import JOIN_TIMEOUT, WAIT_TIMEOUT, Child, join_all, start, wait_for


class CountingExecutor:
    """Wraps an executor; counts tasks submitted and not yet settled."""

    def __init__(self, inner):
        self.inner = inner
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.submitted = []

    def submit(self, fn, *args, **kwargs):
        fut = self.inner.submit(fn, *args, **kwargs)
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.submitted.append(fut)
        fut.add_done_callback(self._settled)
        return fut

    def _settled(self, _fut):
        with self.lock:
            self.in_flight -= 1


class Gate:
    """Tasks that block until the test opens the gate, recording which ran."""

    def __init__(self):
        self.opened = threading.Event()
        self.lock = threading.Lock()
        self.ran = []

    def task(self, i):
        with self.lock:
            self.ran.append(i)
        assert self.opened.wait(JOIN_TIMEOUT), "gate never opened"
        return i * i

    def fail(self, i):
        with self.lock:
            self.ran.append(i)
        raise ValueError(f"task {i} failed")


# ---- gc.done ---------------------------------------------------------------


def test_done_is_closed_when_the_future_settles_from_another_thread(rng):
    for _ in range(20):
        fut = cf.Future()
        other = gc.Channel()
        delay = rng.random() * 0.01
        t = start(lambda: (time.sleep(delay), fut.set_result("value")))
        idx, value, ok = gc.select(gc.recv(other), gc.recv(gc.done(fut)), timeout=WAIT_TIMEOUT)
        assert (idx, value, ok) == (1, None, False)
        assert fut.result(timeout=0) == "value"
        join_all([t])


@pytest.mark.parametrize("settle", ["result", "exception", "cancel"])
def test_done_of_a_settled_future_is_closed_at_once(settle):
    fut = cf.Future()
    if settle == "result":
        fut.set_result(1)
    elif settle == "exception":
        fut.set_exception(ValueError("x"))
    else:
        fut.cancel()
    ch = gc.done(fut)
    assert ch.closed
    assert ch.recv_ok(timeout=0) == (None, False)


def test_done_returns_one_channel_per_future_and_adds_one_callback():
    fut = cf.Future()
    channels = {id(gc.done(fut)) for _ in range(1000)}
    assert len(channels) == 1
    assert len(fut._done_callbacks) == 1
    fut.set_result(None)
    assert gc.done(fut).closed


def test_done_is_receive_only():
    fut = cf.Future()
    ch = gc.done(fut)
    with pytest.raises(TypeError):
        ch.send(None, timeout=0)
    with pytest.raises(TypeError):
        ch.close()
    with pytest.raises(TypeError):
        gc.select(gc.send(ch, None), default=True)
    assert not ch.closed  # nothing above had an effect
    fut.set_result(None)
    assert ch.closed


def test_done_keeps_no_future_alive():
    import gc as collector
    import weakref

    from pygochan import _executors

    collector.collect()
    cached_before = len(_executors._done_channels)
    futures = [cf.Future() for _ in range(10)]
    channels = [gc.done(f) for f in futures]  # the channels outlive their futures
    refs = [weakref.ref(f) for f in futures]
    del futures
    collector.collect()
    assert [r() for r in refs] == [None] * 10
    assert not any(ch.closed for ch in channels)
    assert len(_executors._done_channels) == cached_before


def test_done_waits_on_futures_of_every_executor_kind():
    with gc.Pool(max_workers=2) as pool, cf.ThreadPoolExecutor(2) as tpe, cf.ProcessPoolExecutor(1) as ppe:
        futures = [pool.submit(time.sleep, 0.01), tpe.submit(time.sleep, 0.01), ppe.submit(abs, -3)]
        pending = list(futures)
        while pending:
            idx, _, ok = gc.select(*[gc.recv(gc.done(f)) for f in pending], timeout=JOIN_TIMEOUT)
            assert not ok and pending[idx].done()
            del pending[idx]
        assert futures[2].result() == 3


def test_done_follows_the_common_rules_for_timeout_and_ctx():
    fut = cf.Future()
    with pytest.raises(TimeoutError):
        gc.done(fut).recv(timeout=0.01)
    with pytest.raises(TimeoutError):
        gc.select(gc.recv(gc.done(fut)), timeout=0.01)
    ctx, cancel = gc.with_cancel(gc.background())
    threading.Timer(0.01, cancel).start()
    with pytest.raises(gc.Canceled):
        gc.select(gc.recv(gc.done(fut)), ctx=ctx)
    assert not fut.done() and not gc.done(fut).closed


def test_done_refuses_what_is_not_a_concurrent_future():
    with pytest.raises(TypeError, match="future"):
        gc.done(42)
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(TypeError, match="asyncio"):
            gc.done(loop.create_future())
    finally:
        loop.close()


def test_ctrl_c_interrupts_a_select_on_a_future():
    child = Child("""
        import concurrent.futures as cf
        import pygochan as gc
        fut = cf.Future()
        try:
            print("waiting", flush=True)  # inside the try: the SIGINT comes after it
            gc.select(gc.recv(gc.done(fut)), gc.recv(gc.Channel()))
        except KeyboardInterrupt:
            print("interrupted", fut.done(), flush=True)
    """)
    try:
        assert child.readline() == "waiting"
        time.sleep(0.1)  # let it block; a signal that comes earlier is also answered
        child.send_signal(signal.SIGINT)
        assert child.readline() == "interrupted False"
    finally:
        returncode, errors = child.finish()
    assert returncode == 0, errors


# ---- gc.as_completed ---------------------------------------------------------


def test_as_completed_delivers_futures_in_completion_order_then_closes(rng):
    seed_delays = [rng.random() * 0.05 for _ in range(12)]
    with gc.Pool(max_workers=12) as pool:
        futures = [pool.submit(lambda d=d: (time.sleep(d), d)[1]) for d in seed_delays]
        settled = gc.as_completed(futures + futures[:3])  # duplicates come once
        got = [settled.recv(timeout=JOIN_TIMEOUT) for _ in futures]
        assert settled.recv_ok(timeout=WAIT_TIMEOUT) == (None, False)
    assert sorted(map(id, got)) == sorted(map(id, futures))
    # Completion order: each future was done when it was received, and the
    # channel order matches the order the callbacks ran in.
    assert all(f.done() for f in got)


def test_as_completed_hands_over_failed_and_cancelled_futures():
    ok, bad, dropped = cf.Future(), cf.Future(), cf.Future()
    settled = gc.as_completed([ok, bad, dropped])
    bad.set_exception(ValueError("bad"))
    dropped.cancel()
    ok.set_result(1)
    assert list(settled) == [bad, dropped, ok]
    with pytest.raises(ValueError):
        bad.result()


def test_as_completed_of_nothing_is_closed():
    assert gc.as_completed([]).closed


def test_as_completed_mixes_with_a_context_in_select():
    fut = cf.Future()
    ctx, cancel = gc.with_cancel(gc.background())
    settled = gc.as_completed([fut])
    threading.Timer(0.01, cancel).start()
    idx, _, _ = gc.select(gc.recv(settled), gc.recv(ctx.done()), timeout=WAIT_TIMEOUT)
    assert idx == 1
    fut.set_result(None)
    assert settled.recv(timeout=WAIT_TIMEOUT) is fut


# ---- gc.map_on -------------------------------------------------------------


@pytest.mark.parametrize("ordered", [True, False])
def test_map_on_keeps_at_most_window_tasks_in_flight(rng, ordered):
    with cf.ThreadPoolExecutor(8) as tpe:
        executor = CountingExecutor(tpe)
        delays = [rng.random() * 0.005 for _ in range(60)]
        results = list(gc.map_on(executor, lambda i, d: (time.sleep(d), i)[1], range(60), delays,
                                 window=5, ordered=ordered, timeout=JOIN_TIMEOUT))
    assert executor.most_in_flight <= 5
    assert len(executor.submitted) == 60
    assert results == list(range(60)) if ordered else sorted(results) == list(range(60))


def test_map_on_submits_nothing_before_iteration_and_works_on_an_endless_input():
    import itertools

    with cf.ThreadPoolExecutor(2) as tpe:
        executor = CountingExecutor(tpe)
        squares = gc.map_on(executor, lambda i: i * i, itertools.count(), window=3)
        assert executor.submitted == []
        assert list(itertools.islice(squares, 10)) == [i * i for i in range(10)]
        squares.close()
        assert len(executor.submitted) <= 13


def test_map_on_raises_the_first_failure_and_cancels_the_rest():
    gate = Gate()
    with cf.ThreadPoolExecutor(1) as tpe:
        executor = CountingExecutor(tpe)
        with pytest.raises(ValueError, match="task 0"):
            for _ in gc.map_on(executor, lambda i: gate.fail(i) if i == 0 else gate.task(i), range(10), window=4):
                pass
        gate.opened.set()
    # The executor's one worker may have started task 1 before the failure
    # was seen (a running task cannot be cancelled); nothing after it ran.
    assert gate.ran in ([0], [0, 1])
    assert all(f.cancelled() for f in executor.submitted[len(gate.ran):])


def test_map_on_ctx_cancellation_cancels_pending_tasks_while_the_caller_is_busy():
    gate = Gate()
    ctx, cancel = gc.with_cancel(gc.background())
    with cf.ThreadPoolExecutor(2) as tpe:
        executor = CountingExecutor(tpe)
        results = gc.map_on(executor, lambda i: i if i == 0 else gate.task(i), range(10), window=6, ctx=ctx)
        assert next(results) == 0
        # The caller is busy with its first result: nothing waits in map_on.
        wait_for(lambda: len(gate.ran) == 2, what="two tasks running")
        cancel()
        wait_for(lambda: all(f.done() for f in executor.submitted[3:]), what="pending futures cancelled")
        gate.opened.set()
        with pytest.raises(gc.Canceled):
            next(results)
    assert sorted(gate.ran) == [1, 2]
    assert len(executor.submitted) == 7  # the window refilled once, after the first result
    assert all(f.cancelled() for f in executor.submitted[3:])


def test_map_on_deadline_and_timeout_cancel_the_queued_tasks():
    for limit in ["ctx", "timeout"]:
        gate = Gate()
        with cf.ThreadPoolExecutor(1) as tpe:
            if limit == "ctx":
                ctx, _ = gc.with_timeout(gc.background(), 0.05)
                with pytest.raises(gc.DeadlineExceeded):
                    list(gc.map_on(tpe, gate.task, range(5), window=2, ctx=ctx))
            else:
                with pytest.raises(TimeoutError):
                    list(gc.map_on(tpe, gate.task, range(5), window=2, timeout=0.05))
            gate.opened.set()
        assert gate.ran == [0]  # task 1 was queued behind it and got cancelled


def test_map_on_checks_its_arguments():
    with cf.ThreadPoolExecutor(1) as tpe:
        with pytest.raises(TypeError):
            gc.map_on(object(), abs, [1])
        with pytest.raises(TypeError):
            gc.map_on(tpe, 3, [1])
        with pytest.raises(ValueError):
            gc.map_on(tpe, abs, [1], window=0)
        with pytest.raises(TypeError):
            gc.map_on(tpe, abs, [1], window=2.0)
        with pytest.raises(ValueError):
            gc.map_on(tpe, abs, [1], timeout=-1)
        with pytest.raises(TypeError):
            gc.map_on(tpe, abs, [1], ctx="ctx")
        assert list(gc.map_on(tpe, pow, [2, 3], [3, 2])) == [8, 9]


# ---- ErrGroup(executor=...) --------------------------------------------------


@pytest.mark.parametrize("make_executor", [cf.ThreadPoolExecutor, gc.Pool])
def test_errgroup_on_an_executor_runs_every_task(make_executor):
    results = gc.Channel(gc.UNBOUNDED)
    with make_executor(4) as executor:
        with gc.ErrGroup(executor=executor) as g:
            for i in range(50):
                g.go(results.send, i)
    results.close()
    assert sorted(results) == list(range(50))


def test_errgroup_first_failure_cancels_ctx_and_pending_futures():
    gate = Gate()
    fail_now = threading.Event()

    def fail_when_told(i):
        with gate.lock:
            gate.ran.append(i)
        assert fail_now.wait(JOIN_TIMEOUT)
        raise ValueError(f"task {i} failed")

    with cf.ThreadPoolExecutor(2) as tpe:
        executor = CountingExecutor(tpe)
        g = gc.ErrGroup(executor=executor)
        g.go(gate.task, 1)
        g.go(fail_when_told, 0)
        for i in range(2, 10):
            g.go(gate.task, i)  # queued behind the two
        wait_for(lambda: len(gate.ran) == 2, what="two tasks running")
        fail_now.set()
        assert g.ctx.wait(timeout=WAIT_TIMEOUT) is None
        assert isinstance(gc.cause(g.ctx), ValueError)
        wait_for(lambda: all(f.done() for f in executor.submitted[3:]), what="pending futures cancelled")
        gate.opened.set()
        with pytest.raises(ValueError, match="task 0"):
            g.wait(timeout=JOIN_TIMEOUT)
    # The failed task's worker may take one queued task before the
    # cancellation lands; every other queued task never ran.
    started_late = set(gate.ran) - {0, 1}
    assert len(started_late) <= 1
    for i, fut in zip(range(2, 10), executor.submitted[2:]):
        assert fut.cancelled() == (i not in started_late)


def test_errgroup_parent_cancellation_cancels_pending_futures_without_failing():
    gate = Gate()
    parent, cancel = gc.with_cancel(gc.background())
    with cf.ThreadPoolExecutor(1) as tpe:
        executor = CountingExecutor(tpe)
        g = gc.ErrGroup(parent, executor=executor)
        for i in range(5):
            g.go(gate.task, i)
        wait_for(lambda: gate.ran == [0], what="first task running")
        cancel()
        wait_for(lambda: all(f.cancelled() for f in executor.submitted[1:]), what="pending futures cancelled")
        gate.opened.set()
        g.wait(timeout=JOIN_TIMEOUT)  # cancelled futures are not failures
        with pytest.raises(RuntimeError):
            g.go(gate.task, 99)
    assert gate.ran == [0]


def test_errgroup_on_an_executor_go_after_cancellation_never_runs_the_task():
    ran = []
    with cf.ThreadPoolExecutor(1) as tpe:
        blocker = threading.Event()
        tpe.submit(blocker.wait, JOIN_TIMEOUT)  # the task below stays queued
        ctx, cancel = gc.with_cancel(gc.background())
        cancel()
        g = gc.ErrGroup(ctx, executor=tpe)
        g.go(ran.append, 1)
        blocker.set()
        g.wait(timeout=JOIN_TIMEOUT)
    assert ran == []


def test_errgroup_limit_holds_a_slot_until_the_future_settles():
    gate = Gate()
    with cf.ThreadPoolExecutor(4) as tpe:
        g = gc.ErrGroup(limit=2, executor=tpe)
        assert g.try_go(gate.task, 1) and g.try_go(gate.task, 2)
        assert not g.try_go(gate.task, 3)
        gate.opened.set()
        g.go(gate.task, 4)  # waits for a slot
        g.wait(timeout=JOIN_TIMEOUT)
    assert sorted(gate.ran) == [1, 2, 4]


def test_errgroup_future_cancelled_by_someone_else_is_a_failure():
    with cf.ThreadPoolExecutor(1) as tpe:
        blocker = threading.Event()
        tpe.submit(blocker.wait, JOIN_TIMEOUT)
        executor = CountingExecutor(tpe)
        g = gc.ErrGroup(executor=executor)
        g.go(abs, -1)
        assert executor.submitted[0].cancel()
        blocker.set()
        with pytest.raises(cf.CancelledError):
            g.wait(timeout=JOIN_TIMEOUT)


def test_errgroup_go_on_a_shut_down_executor_raises_and_leaves_no_task():
    tpe = cf.ThreadPoolExecutor(1)
    tpe.shutdown()
    g = gc.ErrGroup(limit=1, executor=tpe)
    for _ in range(3):  # the slot and the count were given back each time
        with pytest.raises(RuntimeError):
            g.go(abs, -1)
    g.wait(timeout=WAIT_TIMEOUT)


def test_errgroup_executor_must_submit():
    with pytest.raises(TypeError, match="submit"):
        gc.ErrGroup(executor=object())


def test_errgroup_on_an_executor_under_many_threads(rng):
    seed_delays = [rng.random() * 0.002 for _ in range(200)]
    total = []
    lock = threading.Lock()

    def add(i, delay):
        time.sleep(delay)
        with lock:
            total.append(i)

    with gc.Pool(max_workers=8) as pool:
        g = gc.ErrGroup(limit=16, executor=pool)
        threads = [start(lambda k=k: [g.go(add, i, seed_delays[i]) for i in range(k, 200, 4)]) for k in range(4)]
        join_all(threads)
        g.wait(timeout=JOIN_TIMEOUT)
    assert sorted(total) == list(range(200))


def test_ctrl_c_leaving_an_executor_group_cancels_its_pending_futures():
    child = Child("""
        import threading, concurrent.futures as cf
        import pygochan as gc
        release = threading.Event()
        submitted = []

        class Recording(cf.ThreadPoolExecutor):
            def submit(self, fn, *args, **kwargs):
                fut = super().submit(fn, *args, **kwargs)
                submitted.append(fut)
                return fut

        with Recording(1) as tpe:
            try:
                with gc.ErrGroup(executor=tpe) as g:
                    for _ in range(5):
                        g.go(release.wait, 60)
                    print("waiting", flush=True)
            except KeyboardInterrupt:
                print("interrupted", gc.cause(g.ctx).__class__.__name__, flush=True)
            gc.select(gc.recv(gc.done(submitted[-1])), timeout=20)
            print(sum(f.cancelled() for f in submitted), flush=True)
            release.set()
    """)
    try:
        assert child.readline() == "waiting"
        time.sleep(0.1)
        child.send_signal(signal.SIGINT)
        assert child.readline() == "interrupted KeyboardInterrupt"
        assert child.readline(JOIN_TIMEOUT) == "4"  # every queued task cancelled
    finally:
        returncode, errors = child.finish()
    assert returncode == 0, errors
