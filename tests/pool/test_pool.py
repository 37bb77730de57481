"""Pool: concurrent.futures compatibility, worker management, submit's
blocking rules, map, shutdown, resize, and peers' bugs."""
import asyncio
import concurrent.futures as cf
import contextvars
import gc as pygc
import itertools
import queue
import subprocess
import sys
import threading
import time
import weakref

import pytest

import pygochan as gc
from conftest import FREE_THREADED, join_all, start, wait_for


def pool_threads(pool):
    return [t for t in threading.enumerate() if t.name.startswith(pool._name + "-worker")]


# ---- Pool basics ------------------------------------------------------------------


def test_submit_result_args_and_submit_options_not_passed_on():
    def f(*args, **kwargs):
        return args, kwargs

    with gc.Pool(2) as pool:
        assert isinstance(pool, cf.Executor) and isinstance(pool, cf.ThreadPoolExecutor)
        fut = pool.submit(f, 1, 2, x=3, submit_timeout=5, submit_ctx=gc.background())
        assert isinstance(fut, cf.Future)
        assert fut.result(timeout=10) == ((1, 2), {"x": 3})
        assert "state=finished" in repr(fut)


def test_bad_arguments():
    with pytest.raises(TypeError):
        gc.Pool(max_workers="2")
    for number in (0, -1):
        with pytest.raises(ValueError, match="max_workers must be greater than 0"):
            gc.Pool(max_workers=number)
    with pytest.raises(TypeError):
        gc.Pool(max_workers=True)
    with pytest.raises(ValueError):
        gc.Pool(idle_timeout=-1)
    with pytest.raises(TypeError):
        gc.Pool(idle_timeout="1")
    with pytest.raises(ValueError):
        gc.Pool(queue_size=-2)
    with pytest.raises(TypeError):
        gc.Pool(queue_size=1.0)
    with gc.Pool(1) as pool:
        with pytest.raises(TypeError):
            pool.submit()
        with pytest.raises(TypeError):
            pool.submit(42)
        with pytest.raises(ValueError):
            pool.submit(print, submit_timeout=-1)
        with pytest.raises(TypeError):
            pool.submit(print, submit_ctx=3)
        with pytest.raises(TypeError):
            pool.try_submit(print, submit_timeout=1)
        with pytest.raises(ValueError):
            pool.resize(0)
        with pytest.raises(TypeError):
            list(pool.map(42, [1]))
        with pytest.raises(ValueError, match="buffersize must be None or > 0"):
            pool.map(abs, [1], buffersize=0)
        with pytest.raises(TypeError, match="buffersize must be an integer or None"):
            pool.map(abs, [1], buffersize=2.0)
        assert pool.stats()["submitted"] == 0  # nothing above had an effect


def test_defaults_are_thread_pool_executors():
    import os

    cpus = getattr(os, "process_cpu_count", os.cpu_count)() or 1
    with gc.Pool() as pool:
        assert pool.max_workers == pool._max_workers == min(32, cpus + 4)
        assert pool.queue_size == gc.UNBOUNDED and pool.idle_timeout == 10.0


def test_exceptions_never_kill_a_worker_and_land_in_the_future():
    def raise_(exc):
        raise exc

    with gc.Pool(1) as pool:
        first = pool.submit(threading.get_ident).result()
        for exc in (ValueError("v"), SystemExit(3), KeyboardInterrupt(), GeneratorExit()):
            fut = pool.submit(raise_, exc)
            assert fut.exception(timeout=10) is exc
        assert pool.submit(threading.get_ident).result() == first
        assert pool.workers == 1
        assert pool.stats()["failed"] == 4


def test_workers_start_on_demand_up_to_max_and_never_exceed_it():
    active, peak = [0], [0]
    lock = threading.Lock()

    def task():
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.01)
        with lock:
            active[0] -= 1

    with gc.Pool(3, queue_size=gc.UNBOUNDED) as pool:
        assert pool.workers == 0
        futs = [pool.submit(task) for _ in range(30)]
        for f in futs:
            f.result(timeout=10)
        assert peak[0] == 3
        assert pool.stats()["workers_started"] == 3


def test_most_recently_idle_worker_is_reused_first():
    gate = threading.Event()
    with gc.Pool(4, idle_timeout=None) as pool:
        blockers = [pool.submit(gate.wait, 10) for _ in range(4)]
        wait_for(lambda: pool.running == 4)
        gate.set()
        for f in blockers:
            f.result(timeout=10)
        wait_for(lambda: pool.idle == 4 and pool.stats()["blocked_submitters"] == 0)
        time.sleep(0.02)
        idents = set()
        for _ in range(20):
            idents.add(pool.submit(threading.get_ident).result(timeout=10))
            # The worker counts as idle before it parks again, and reuse is
            # newest-first among parked workers: let it park.
            wait_for(lambda: pool.idle == 4)
            time.sleep(0.005)
        assert len(idents) == 1
        assert pool.stats()["workers_started"] == 4


def test_idle_workers_exit_after_idle_timeout():
    pool = gc.Pool(3, idle_timeout=0.05)
    futs = [pool.submit(time.sleep, 0.02) for _ in range(3)]
    for f in futs:
        f.result(timeout=10)
    # (how many are still alive now depends on the machine's load)
    assert pool.stats()["workers_started"] >= 1
    wait_for(lambda: pool.workers == 0, what="idle workers to exit")
    wait_for(lambda: not pool_threads(pool), what="worker threads to end")
    assert pool.stats()["workers_exited"] == pool.stats()["workers_started"]
    assert pool.submit(abs, -1).result(timeout=10) == 1  # starts one again
    pool.shutdown()


@pytest.mark.parametrize("idle_timeout", [None, 3600])
def test_an_idle_worker_shows_in_blocked_as_an_idle_worker_of_its_pool(idle_timeout):
    pool = gc.Pool(2, idle_timeout=idle_timeout, name="shown-idle-pool")
    try:
        both_started = threading.Barrier(3, timeout=10)  # two workers, not one twice
        futs = [pool.submit(both_started.wait) for _ in range(2)]
        both_started.wait()
        for f in futs:
            f.result(timeout=10)
        workers = set(pool_threads(pool))
        assert len(workers) == 2

        def idle_waits():
            return [w for w in gc.blocked() if w.thread in workers]

        wait_for(lambda: len(idle_waits()) == 2, what="both idle workers in blocked()")
        for w in idle_waits():
            assert w.operation == "idle worker"
            # with an idle deadline the wait ends by itself
            assert w.timed is (idle_timeout is not None)
            # the Pool, by its repr (objects are left out without a GIL)
            assert FREE_THREADED or (len(w.objects) == 1 and
                                     w.objects[0].startswith("<pygochan.Pool 'shown-idle-pool' open"))
        # a worker running a task shows what the task waits on; once done
        # it is an idle worker again
        gate = gc.Channel()
        fut = pool.submit(gate.recv, timeout=10)
        wait_for(lambda: sorted(w.operation for w in idle_waits()) == ["idle worker", "recv"],
                 what="one worker in the task's recv, the other idle")
        gate.send("go")
        assert fut.result(timeout=10) == "go"
        wait_for(lambda: [w.operation for w in idle_waits()] == ["idle worker"] * 2,
                 what="both idle again")
    finally:
        pool.shutdown()
    assert [w for w in gc.blocked() if w.thread in workers] == []


def test_tasks_run_with_a_copy_of_the_submitters_contextvars():
    var = contextvars.ContextVar("var", default="unset")

    def read_and_set():
        value = var.get()
        var.set("changed by task")
        return value

    with gc.Pool(1) as pool:
        var.set("submitter")
        assert pool.submit(read_and_set).result() == "submitter"
        assert var.get() == "submitter"
        var.set("second")
        assert pool.submit(read_and_set).result() == "second"


def test_asyncio_wrap_future_and_run_in_executor():
    async def main(pool):
        loop = asyncio.get_running_loop()
        a = await loop.run_in_executor(pool, pow, 2, 8)
        b = await asyncio.wrap_future(pool.submit(sum, [1, 2, 3]))
        with pytest.raises(ZeroDivisionError):
            await asyncio.wrap_future(pool.submit(lambda: 1 / 0))
        return a, b

    pygc.collect()  # earlier tests' garbage reports to the usual hook
    reports = []
    hook = sys.unraisablehook
    sys.unraisablehook = reports.append
    try:
        with gc.Pool(2) as pool:
            assert asyncio.run(main(pool)) == (256, 6)
        pygc.collect()
    finally:
        sys.unraisablehook = hook
    # asyncio read the failed future's exception: nothing to report
    assert reports == []


def test_introspection_and_stats():
    gate = threading.Event()
    with gc.Pool(2, queue_size=4) as pool:
        futs = [pool.submit(gate.wait, 10) for _ in range(5)]
        wait_for(lambda: pool.running == 2)
        assert pool.pending == 3 and pool.idle == 0 and pool.workers == 2
        assert "running=2" in repr(pool) and "pending=3" in repr(pool)
        gate.set()
        for f in futs:
            f.result(timeout=10)
        wait_for(lambda: pool.idle == 2)
        s = pool.stats()
        assert s["submitted"] == s["started"] == s["completed"] == 5
        assert s["running"] == 0 and s["pending"] == 0 and s["failed"] == 0


# ---- blocking submit -----------------------------------------------------------------


def test_hand_off_submit_blocks_until_a_worker_takes_it():
    gate = threading.Event()
    ran = []
    with gc.Pool(1, queue_size=0) as pool:
        busy = pool.submit(gate.wait, 10)
        wait_for(lambda: pool.running == 1)
        with pytest.raises(TimeoutError):
            pool.submit(ran.append, "timed out", submit_timeout=0.05)
        assert pool.try_submit(ran.append, "refused") is None
        ctx, cancel = gc.with_cancel(gc.background())
        threading.Timer(0.02, cancel).start()
        with pytest.raises(gc.Canceled):
            pool.submit(ran.append, "canceled", submit_ctx=ctx)
        blocked = start(lambda: pool.submit(ran.append, "taken").result(timeout=10))
        wait_for(lambda: pool.stats()["blocked_submitters"] == 1)
        assert pool.pending == 0
        gate.set()
        join_all([blocked])
        busy.result()
    assert ran == ["taken"]  # the calls that raised had no effect


def test_buffered_queue_accepts_exactly_queue_size():
    gate = threading.Event()
    with gc.Pool(1, queue_size=2) as pool:
        pool.submit(gate.wait, 10)
        wait_for(lambda: pool.running == 1)
        queued = [pool.submit(abs, -i, submit_timeout=1) for i in range(2)]
        assert pool.pending == 2
        assert pool.try_submit(abs, 0) is None
        with pytest.raises(TimeoutError):
            pool.submit(abs, 0, submit_timeout=0)
        gate.set()
        assert [f.result(timeout=10) for f in queued] == [0, 1]


def test_nested_submit_into_a_saturated_pool_raises_instead_of_deadlocking():
    with gc.Pool(1, queue_size=0) as pool:

        def nested():
            return pool.submit(abs, -1).result()

        fut = pool.submit(nested)
        with pytest.raises(RuntimeError, match="would wait forever"):
            fut.result(timeout=10)

        def nested_try():
            return pool.try_submit(abs, -1)

        assert pool.submit(nested_try).result(timeout=10) is None


def test_nested_submit_with_room_works():
    with gc.Pool(2, queue_size=gc.UNBOUNDED) as pool:
        assert pool.submit(lambda: pool.submit(abs, -5).result(timeout=10)).result(timeout=10) == 5


def test_blocking_submit_racing_shutdown_has_no_effect_or_runs(rng):
    for _ in range(50):
        gate = threading.Event()
        ran = []
        pool = gc.Pool(1, queue_size=rng.choice([0, 1]))
        pool.submit(gate.wait, 10)
        if pool.queue_size:
            pool.submit(ran.append, "queued")
        outcome = []

        def submitter():
            try:
                outcome.append(pool.submit(ran.append, "late"))
            except RuntimeError:
                outcome.append("refused")

        t = start(submitter)
        time.sleep(rng.random() * 0.002)
        pool.shutdown(wait=False)
        gate.set()
        join_all([t])
        pool.shutdown(wait=True)
        if outcome == ["refused"]:
            assert "late" not in ran
        else:
            assert outcome[0].result(timeout=10) is None and "late" in ran
        with pytest.raises(RuntimeError):
            pool.submit(abs, 1)


def test_submitter_blocked_while_shutdown_runs_and_workers_expire():
    gate = threading.Event()
    pool = gc.Pool(1, idle_timeout=0.01, queue_size=0)
    busy = pool.submit(gate.wait, 10)
    wait_for(lambda: pool.running == 1)
    errors = []
    t = start(lambda: errors.append(pytest.raises(RuntimeError, pool.submit, abs, 1)))
    wait_for(lambda: pool.stats()["blocked_submitters"] == 1)
    pool.shutdown(wait=False)
    join_all([t])
    gate.set()
    busy.result(timeout=10)
    pool.shutdown(wait=True)
    assert pool.workers == 0 and not pool_threads(pool)


def test_context_canceled_with_queued_tasks_then_shutdown_wait():
    ctx, cancel = gc.with_cancel(gc.background())
    pool = gc.Pool(2, queue_size=gc.UNBOUNDED)
    futs = [pool.submit(ctx.wait, timeout=10) for _ in range(20)]
    cancel()
    pool.shutdown(wait=True)
    assert all(f.done() and f.exception() is None for f in futs)
    assert not pool_threads(pool)


# ---- shutdown ------------------------------------------------------------------------


def test_shutdown_wait_finishes_queued_tasks_and_leaves_no_threads():
    pool = gc.Pool(2, queue_size=gc.UNBOUNDED)
    futs = [pool.submit(time.sleep, 0.002) for _ in range(20)]
    pool.shutdown(wait=True)
    assert all(f.done() and not f.cancelled() for f in futs)
    assert not pool_threads(pool) and pool.workers == 0
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(abs, 1)
    with pytest.raises(RuntimeError):
        pool.try_submit(abs, 1)
    pool.shutdown()  # idempotent


def test_shutdown_cancel_futures_cancels_what_is_queued():
    gate = threading.Event()
    started = []
    pool = gc.Pool(1, queue_size=gc.UNBOUNDED)
    running = pool.submit(gate.wait, 10)
    wait_for(lambda: pool.running == 1)
    queued = [pool.submit(started.append, i) for i in range(10)]
    pool.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    gate.set()
    pool.shutdown(wait=True)
    assert started == [] and running.result() is True
    assert pool.stats()["cancelled"] == 10


def test_queued_tasks_references_are_freed():
    class Payload:
        pass

    gate = threading.Event()
    pool = gc.Pool(1, queue_size=gc.UNBOUNDED)
    pool.submit(gate.wait, 10)
    payloads = [Payload() for _ in range(5)]
    refs = [weakref.ref(p) for p in payloads]
    futs = [pool.submit(id, p) for p in payloads]
    futs[0].cancel()  # cancelled while queued: freed at once
    del payloads
    pygc.collect()
    assert refs[0]() is None and all(r() is not None for r in refs[1:])
    gate.set()
    for f in futs[1:]:
        f.result(timeout=10)
    pygc.collect()
    assert all(r() is None for r in refs)  # run: freed, though futures live
    pool.shutdown()


def test_with_block_body_exception_cancels_queued_and_waits_for_running():
    gate = threading.Event()
    started = []
    with pytest.raises(LookupError):
        with gc.Pool(1, queue_size=gc.UNBOUNDED) as pool:
            running = pool.submit(lambda: (gate.wait(10), started.append("running")))
            wait_for(lambda: pool.running == 1)
            queued = [pool.submit(started.append, i) for i in range(5)]
            threading.Timer(0.05, gate.set).start()
            raise LookupError
    assert started == ["running"] and running.done()
    assert all(f.cancelled() for f in queued)


# ---- map -----------------------------------------------------------------------------


def test_map_ordered_unordered_and_multiple_iterables():
    with gc.Pool(4) as pool:
        assert list(pool.map(pow, [2, 3, 4], [2, 2, 2])) == [4, 9, 16]

        def slow_square(x):
            time.sleep(0.001 * (x % 5))
            return x * x

        assert list(pool.map(slow_square, range(100))) == [x * x for x in range(100)]
        assert sorted(pool.map(slow_square, range(100), ordered=False)) == [x * x for x in range(100)]
        assert list(pool.map(abs, [])) == []


def test_map_consumes_an_endless_generator_lazily_and_break_cancels_the_rest():
    pulled = itertools.count()
    started = []

    def numbers():
        for i in itertools.count():
            next(pulled)
            yield i

    def task(x):
        started.append(x)
        time.sleep(0.001)
        return x

    with gc.Pool(2, queue_size=gc.UNBOUNDED) as pool:
        for ordered in (True, False):
            pulled = itertools.count()
            started.clear()
            results = []
            for r in pool.map(task, numbers(), ordered=ordered, buffersize=8):
                results.append(r)
                if len(results) == 20:
                    break
            n_pulled = next(pulled)
            assert n_pulled <= 20 + 8 + 1
            wait_for(lambda: pool.running == 0)
            assert len(started) < n_pulled or n_pulled <= 21  # the rest never started
            assert pool.pending == 0
            if ordered:
                assert results == list(range(20))


def test_map_raises_the_first_exception_and_cancels_the_rest():
    started = []

    def task(x):
        started.append(x)
        if x == 3:
            raise ValueError(x)
        time.sleep(0.002)
        return x

    with gc.Pool(1, queue_size=gc.UNBOUNDED) as pool:
        got = []
        with pytest.raises(ValueError):
            for r in pool.map(task, range(1000), buffersize=10):
                got.append(r)
        assert got == [0, 1, 2]
        wait_for(lambda: pool.running == 0)
        assert max(started) < 20


def test_map_timeout():
    with gc.Pool(1) as pool:
        for ordered in (True, False):
            # both spellings catch it (they differ before Python 3.11)
            with pytest.raises(TimeoutError):
                list(pool.map(time.sleep, [0.5, 0.5], timeout=0.05, ordered=ordered))
            with pytest.raises(cf.TimeoutError):
                list(pool.map(time.sleep, [0.5, 0.5], timeout=0.05, ordered=ordered))


# ---- resize ---------------------------------------------------------------------------


def test_resize_up_and_down_under_load():
    gate = threading.Event()
    done = []
    with gc.Pool(1, queue_size=gc.UNBOUNDED, idle_timeout=None) as pool:
        futs = [pool.submit(lambda i=i: (gate.wait(10), done.append(i))) for i in range(8)]
        wait_for(lambda: pool.running == 1)
        pool.resize(4)
        assert pool.max_workers == 4
        wait_for(lambda: pool.running == 4, what="resize up to start workers for queued tasks")
        pool.resize(2)  # running tasks are not interrupted
        assert pool.running == 4
        gate.set()
        for f in futs:
            f.result(timeout=10)
        assert sorted(done) == list(range(8))
        wait_for(lambda: pool.workers == 2, what="busy workers to retire after their task")
        pool.resize(1)
        wait_for(lambda: pool.workers == 1, what="an idle worker to retire at once")
        assert pool.submit(abs, -3).result(timeout=10) == 3


def test_stress_random_submits_timeouts_and_resizes(rng):
    counts = {}
    lock = threading.Lock()

    def task(key):
        with lock:
            counts[key] = counts.get(key, 0) + 1
        if key[1] % 7 == 0:
            time.sleep(0.0005)

    pool = gc.Pool(3, idle_timeout=0.002, queue_size=rng.choice([0, 2, gc.UNBOUNDED]))
    accepted = [[] for _ in range(4)]

    def submitter(n, seed):
        import random

        r = random.Random(seed)
        for i in range(400):
            try:
                fut = pool.submit(task, (n, i), submit_timeout=r.choice([None, 0, 0.001]))
                accepted[n].append(((n, i), fut))
            except TimeoutError:
                pass

    threads = [start(submitter, n, rng.random()) for n in range(4)]
    for _ in range(20):
        time.sleep(0.005)
        pool.resize(rng.randrange(1, 5))
    join_all(threads)
    pool.shutdown(wait=True)
    keys = [k for acc in accepted for k, _ in acc]
    assert all(f.done() for acc in accepted for _, f in acc)
    assert sorted(counts) == sorted(keys)
    assert set(counts.values()) == {1}
    assert not pool_threads(pool)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_pool_is_shut_down_in_a_forked_child():
    import os

    gate = threading.Event()
    pool = gc.Pool(1, queue_size=gc.UNBOUNDED)
    pool.submit(gate.wait, 10)
    queued = pool.submit(abs, -1)
    wait_for(lambda: pool.running == 1)
    pid = os.fork()
    if pid == 0:  # the child: no workers; nothing may be handed to them
        code = 1
        try:
            try:
                pool.submit(abs, -2)
            except RuntimeError:
                code = 0 if queued.cancelled() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    gate.set()
    assert queued.result(timeout=10) == 1  # the parent's pool is untouched
    pool.shutdown()


# ---- a drop-in ThreadPoolExecutor ------------------------------------------------------


def run_with_watchdog(fn, timeout=30):
    """Run fn in a thread; a deadlock fails the test instead of hanging it."""
    t = start(fn)
    t.join(timeout)
    assert not t.is_alive(), f"{fn.__name__} deadlocked"
    join_all([t])


def test_submit_never_blocks_by_default_tasks_writing_to_a_bounded_queue():
    results = queue.Queue(maxsize=2)

    def program():
        with gc.Pool(4) as pool:
            for i in range(40):  # all submitted before anything is read
                pool.submit(results.put, i)
            got = sorted(results.get(timeout=10) for _ in range(40))
        assert got == list(range(40))

    run_with_watchdog(program)


def test_shutdown_cancel_futures_cancels_every_queued_task_by_default():
    gate = threading.Event()
    pool = gc.Pool(4)
    futs = [pool.submit(gate.wait, 10) for _ in range(40)]
    wait_for(lambda: pool.running == 4, what="four tasks running")
    pool.shutdown(wait=False, cancel_futures=True)
    gate.set()
    pool.shutdown()
    cancelled = [f for f in futs if f.cancelled()]
    ran = [f for f in futs if not f.cancelled()]
    assert len(ran) == 4 and len(cancelled) == 36
    assert all(f.done() and f.result() is True for f in ran)
    assert pool.ctx.err() is not None


def test_map_submits_everything_at_call_time():
    finished = []
    pool = gc.Pool(3)
    pool.map(finished.append, range(10))  # the iterator is never consumed
    pool.shutdown(wait=True)
    assert sorted(finished) == list(range(10))


def test_map_buffersize_bounds_what_is_in_flight():
    pulled = []

    def numbers():
        for i in itertools.count():
            pulled.append(i)
            yield i

    with gc.Pool(2) as pool:
        it = pool.map(abs, numbers(), buffersize=5)
        assert len(pulled) == 5
        assert [next(it) for _ in range(10)] == list(range(10))
        assert len(pulled) <= 10 + 5
        del it


def test_a_submit_after_a_result_reuses_the_worker():
    with gc.Pool() as pool:
        for _ in range(50):
            pool.submit(pow, 2, 3).result()
        assert len(pool._threads) == 1 and pool.stats()["workers_started"] == 1


def test_a_submit_after_a_result_waits_for_the_worker_still_finishing_it():
    # The worker publishes the result, then runs the done-callbacks: a submit
    # made meanwhile (here: certainly, as the callback sleeps) goes to that
    # worker, not to a second thread, however late the worker comes back.
    for _ in range(5):
        gate = threading.Event()
        with gc.Pool() as pool:
            fut = pool.submit(gate.wait, 10)
            fut.add_done_callback(lambda _: time.sleep(0.02))
            gate.set()
            fut.result()
            assert pool.submit(pow, 2, 3).result() == 8
            assert pool.stats()["workers_started"] == 1


def test_a_non_blocking_submit_does_not_wait_for_a_finishing_worker():
    gate, finishing = threading.Event(), threading.Event()
    with gc.Pool(queue_size=0) as pool:
        fut = pool.submit(gate.wait, 10)
        fut.add_done_callback(lambda _: finishing.wait(10))
        gate.set()
        fut.result()
        # try_submit cannot wait for the worker stuck in its callback: with
        # room for another worker it starts one.
        assert pool.try_submit(pow, 2, 3).result(timeout=10) == 8
        assert pool.stats()["workers_started"] == 2
        finishing.set()


def test_threads_and_max_workers_read_like_thread_pool_executor():
    gate = threading.Event()
    with gc.Pool(4) as pool:
        futs = [pool.submit(gate.wait, 10) for _ in range(60)]
        threads = pool._threads
        assert len(threads) == pool._max_workers == 4
        assert all(isinstance(t, threading.Thread) and t.is_alive() for t in threads)
        with pytest.raises(AttributeError):
            pool._max_workers = 8
        gate.set()
        for f in futs:
            f.result(timeout=10)


class Payload:
    pass


def make_payload(*_):
    return Payload()


class TaskError(Exception):
    pass  # unlike ValueError, weak-referenceable


def fail_with(payload):
    raise TaskError(payload)


@pytest.mark.parametrize("path", ["success", "first_job", "exception", "cancel", "shutdown", "map"])
def test_done_and_dropped_future_keeps_nothing_alive(path):
    gate = threading.Event()
    pool = gc.Pool(1, idle_timeout=None)
    arg = Payload()
    fn = lambda payload: make_payload()  # noqa: E731 - a callable to watch
    refs = [weakref.ref(arg), weakref.ref(fn)]
    if path != "first_job":
        pool.submit(abs, 1).result(timeout=10)  # a worker exists
    if path in ("success", "first_job"):
        fut = pool.submit(fn, arg)
        refs.append(weakref.ref(fut.result(timeout=10)))
    elif path == "exception":
        fut = pool.submit(fail_with, arg)
        refs.append(weakref.ref(fut.exception(timeout=10)))
    elif path == "map":
        for result in pool.map(fn, [arg]):
            refs.append(weakref.ref(result))
        del result
        fut = None
    else:
        pool.submit(gate.wait, 10)
        wait_for(lambda: pool.running == 1)
        fut = pool.submit(fn, arg)
        if path == "cancel":
            assert fut.cancel()
        else:
            pool.shutdown(wait=False, cancel_futures=True)
        assert fut.cancelled()
    del arg, fn, fut
    pygc.collect()
    alive = [r for r in refs if r() is not None]
    gate.set()
    pool.shutdown()
    assert alive == [], f"{path}: still referenced: {[r() for r in alive]}"


def test_set_default_executor_run_in_executor_and_shutdown_default_executor():
    import warnings

    async def main(pool):
        loop = asyncio.get_running_loop()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # 3.9/3.10 warn for other executors
            loop.set_default_executor(pool)
        names = await asyncio.gather(
            *[loop.run_in_executor(None, lambda: threading.current_thread().name) for _ in range(8)]
        )
        await loop.shutdown_default_executor()
        return names

    pool = gc.Pool(2)
    names = asyncio.run(main(pool))
    assert all(name.startswith(pool._name) for name in names)
    assert pool._shut_down and pool.workers == 0
    with pytest.raises(RuntimeError):
        pool.submit(abs, 1)


def test_asyncio_run_shuts_a_default_pool_down():
    pool = gc.Pool(2)

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_default_executor(pool)
        return await loop.run_in_executor(None, pow, 3, 3)

    assert asyncio.run(main()) == 27  # asyncio.run calls shutdown_default_executor
    assert pool._shut_down and pool.workers == 0


def test_a_dropped_pool_that_never_idles_out_lets_its_workers_exit():
    pool = gc.Pool(4, idle_timeout=None, name="dropped-idle-pool")
    futs = [pool.submit(time.sleep, 0.01) for _ in range(4)]
    for f in futs:
        f.result(timeout=10)
    ref = weakref.ref(pool)
    assert pool_threads(pool)
    del pool, futs, f
    pygc.collect()
    assert ref() is None  # idle workers do not keep the pool alive
    wait_for(lambda: not [t for t in threading.enumerate()
                          if t.name.startswith("dropped-idle-pool-worker")],
             what="a dropped pool's idle workers to exit")


@pytest.mark.parametrize("round_", range(30))
def test_a_dropped_pool_still_runs_every_queued_task(round_):
    # Thirty rounds: on the free-threaded build a collection can hand the
    # last reference to the pool to a worker about to park, which used to
    # keep the pool (and so that worker) alive for good about once in
    # twenty-five drops.
    gate = threading.Event()
    ran = []
    name = f"dropped-busy-pool-{round_}"
    pool = gc.Pool(2, idle_timeout=None, name=name)
    for i in range(50):
        if i % 2:
            pool.submit(lambda i=i: (gate.wait(10), ran.append(i)))
        else:  # a queued task that refers to its pool is no reason to cancel it
            pool.submit(lambda i=i, pool=pool: (gate.wait(10), ran.append(i), pool)[1])
    assert pool.pending > 0
    del pool
    pygc.collect()
    gate.set()
    wait_for(lambda: not [t for t in threading.enumerate()
                          if t.name.startswith(name + "-worker")],
             what="a dropped pool's workers to finish and exit")
    assert sorted(ran) == list(range(50))


# ---- the garbage collector walks a pool's queued jobs ----------------------

def test_gc_sees_the_futures_queued_in_a_pool():
    release = threading.Event()
    with gc.Pool(max_workers=1, queue_size=4) as pool:
        busy = pool.submit(release.wait, 10)
        queued = [pool.submit(int, i) for i in range(3)]
        # The pool shows its work (shared with the workers), which shows
        # the queued futures.
        assert any(r is pool._work for r in pygc.get_referents(pool))
        referents = pygc.get_referents(pool._work)
        pygc.collect()
        release.set()
        assert all(any(f is r for r in referents) for f in queued)
        assert [f.result(timeout=10) for f in queued] == [0, 1, 2]
        assert busy.result(timeout=10) is True
