"""pygochan against a real Dask cluster: a distributed.LocalCluster with two
worker processes, started once for the module.  Skipped where the `cluster`
extra (dask, distributed) is not installed.

Tasks that must stay pending block on a distributed.Event the test sets, so
no check depends on timing.  Whether a task ran is read from the cluster's
own records: each worker's task-state log, where a task that ran has a
transition into "executing"."""
import concurrent.futures as cf
import logging
import os
import signal
import threading
import time
import uuid

import pytest

import pygochan as gc
from conftest import Child, join_all, start

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and worker processes")

CLUSTER_TIMEOUT = 120.0  # this machine may be busy; these only turn a hang into a failure


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster, timeout=CLUSTER_TIMEOUT)
    try:
        yield client
    finally:
        client.close(timeout=CLUSTER_TIMEOUT)
        cluster.close(timeout=CLUSTER_TIMEOUT)


@pytest.fixture
def gate(client):
    """A named distributed.Event the tasks wait on; opened at the end of the
    test at the latest, and the workers are idle again before the next."""
    g = Gate(client)
    try:
        yield g
    finally:
        g.open()
        poll(lambda: sum(client.run(lambda dask_worker: len(dask_worker.state.executing)).values()) == 0,
             "workers idle")


class Gate:
    def __init__(self, client):
        self.client = client
        self.prefix = f"gated_{uuid.uuid4().hex[:8]}"
        self.event = distributed.Event(self.prefix, client=client)

    def open(self):
        self.event.set()

    def task(self, name=None):
        """A task (pickled by value) that waits for the gate, then returns
        i * i.  Its Dask key starts with the test's own prefix."""
        event_name = self.prefix

        def gated(i):
            from distributed import Event

            if not Event(event_name).wait(timeout=300):
                raise TimeoutError("gate never opened")
            return i * i

        gated.__name__ = gated.__qualname__ = name or self.prefix
        return gated

    def executed(self, name=None):
        """Keys with this prefix that reached "executing" on any worker."""
        prefix = name or self.prefix

        def started(dask_worker):
            return [
                str(entry[0])
                for entry in dask_worker.state.log
                if len(entry) > 2 and entry[2] == "executing" and str(entry[0]).startswith(prefix + "-")
            ]

        return [key for keys in self.client.run(started).values() for key in keys]

    def on_scheduler(self):
        """How many tasks with this prefix the scheduler holds."""
        prefix = self.prefix + "-"
        return self.client.run_on_scheduler(
            lambda dask_scheduler: sum(1 for key in dask_scheduler.tasks if str(key).startswith(prefix))
        )

    def executing(self):
        prefix = self.prefix + "-"

        def count(dask_worker):
            return sum(1 for ts in dask_worker.state.executing if str(ts.key).startswith(prefix))

        return sum(self.client.run(count).values())


def poll(predicate, what, timeout=CLUSTER_TIMEOUT):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"{what} not reached within {timeout} s"
        time.sleep(0.05)


class RecordingExecutor:
    """Wraps an executor (or a Client) and keeps every future it returned."""

    def __init__(self, inner):
        self.inner = inner
        self.lock = threading.Lock()
        self.submitted = []

    def submit(self, fn, *args, **kwargs):
        fut = self.inner.submit(fn, *args, **kwargs)
        with self.lock:
            self.submitted.append(fut)
        return fut


def test_select_over_a_dask_future_a_channel_and_a_timer(client, gate):
    gated = gate.task()
    dask_future = client.submit(gated, 3, pure=False)                    # distributed.Future
    executor_future = client.get_executor(pure=False).submit(gated, 4)   # concurrent.futures.Future
    assert isinstance(executor_future, cf.Future) and not isinstance(dask_future, cf.Future)
    messages = gc.Channel()
    timer = gc.Timer(0.05)
    futures = [dask_future, executor_future]

    def choose():
        return gc.select(*[gc.recv(gc.done(f)) for f in futures], gc.recv(messages), gc.recv(timer.c),
                         timeout=CLUSTER_TIMEOUT)

    assert choose().index == 3                       # the timer: both tasks wait for the gate
    sender = start(messages.send, "hello")
    assert choose() == (2, "hello", True)
    join_all([sender])
    gate.open()
    while futures:
        index, _, ok = choose()
        assert index < len(futures) and not ok and futures[index].done()
        del futures[index]
    assert dask_future.result(timeout=CLUSTER_TIMEOUT) == 9
    assert executor_future.result(timeout=0) == 16


def test_as_completed_channel_of_dask_futures(client, gate):
    gated = gate.task()
    futures = [client.submit(gated, i, pure=False) for i in range(6)]
    settled = gc.as_completed(futures)
    with pytest.raises(TimeoutError):
        settled.recv(timeout=0.2)                    # nothing settles while the gate is shut
    gate.open()
    got = [settled.recv(timeout=CLUSTER_TIMEOUT) for _ in futures]
    assert settled.recv_ok(timeout=CLUSTER_TIMEOUT) == (None, False)
    assert sorted(f.result() for f in got) == [i * i for i in range(6)]


def test_map_on_the_cluster_keeps_a_bounded_window(client, gate):
    gated = gate.task()
    executor = client.get_executor(pure=False)
    consumer = start(lambda: list(gc.map_on(executor, gated, range(12), window=4, timeout=CLUSTER_TIMEOUT)))
    poll(lambda: gate.on_scheduler() == 4, "the window's four tasks on the scheduler")
    time.sleep(0.3)  # a fan-out that overran its window would show here
    assert gate.on_scheduler() == 4
    gate.open()
    join_all([consumer], timeout=CLUSTER_TIMEOUT)
    assert consumer.result == [i * i for i in range(12)]
    poll(lambda: len(gate.executed()) == 12, "every task recorded as executed")


@pytest.mark.parametrize("executor_kind", ["get_executor", "client"])
def test_errgroup_first_failure_cancels_tasks_the_cluster_had_not_started(client, gate, executor_kind):
    gated = gate.task()
    fail_name = gate.prefix + "_fail"
    fail_gate = distributed.Event(fail_name, client=client)

    def fail_when_told(i):
        from distributed import Event

        Event(fail_name).wait(timeout=300)
        raise ValueError(f"task {i} failed")

    fail_when_told.__name__ = fail_when_told.__qualname__ = fail_name
    inner = client.get_executor(pure=False) if executor_kind == "get_executor" else client
    executor = RecordingExecutor(inner)
    g = gc.ErrGroup(executor=executor)
    g.go(gated, 1)
    g.go(fail_when_told, 0)
    for i in range(2, 14):
        g.go(gated, i)
    poll(lambda: gate.executing() == 1 and len(gate.executed(fail_name)) == 1, "one task of each kind running")
    fail_gate.set()
    assert g.ctx.wait(timeout=CLUSTER_TIMEOUT) is None
    assert isinstance(gc.cause(g.ctx), ValueError)
    poll(lambda: all(f.done() for f in executor.submitted[2:]), "pending futures cancelled")
    gate.open()
    with pytest.raises(ValueError, match="task 0 failed"):
        g.wait(timeout=CLUSTER_TIMEOUT)
    poll(lambda: gate.executing() == 0, "gated tasks finished")
    # Task 1 ran; the failed task's worker may have started one more before
    # the cancellation reached the scheduler; the other eleven never ran.
    ran = gate.executed()
    assert 1 <= len(ran) <= 2, ran
    assert all(f.cancelled() for f in executor.submitted[2:])


def test_map_on_deadline_cancels_the_tasks_on_the_cluster(client, gate):
    gated = gate.task()
    executor = RecordingExecutor(client.get_executor(pure=False))
    with gc.with_timeout(gc.background(), 1.0) as ctx:
        with pytest.raises(gc.DeadlineExceeded):
            for _ in gc.map_on(executor, gated, range(10), window=6, ctx=ctx):
                pass
    assert len(executor.submitted) == 6 and all(f.cancelled() for f in executor.submitted)
    poll(lambda: gate.on_scheduler() == 0, "the scheduler to forget the cancelled tasks")
    gate.open()
    poll(lambda: gate.executing() == 0, "gated tasks finished")
    # At most one task per worker thread had started; the queued ones never ran.
    assert len(gate.executed()) <= 2


def test_ctrl_c_in_a_process_waiting_on_cluster_tasks(client, gate):
    child = Child(f"""
        import distributed
        import pygochan as gc

        def gated(i):
            from distributed import Event
            Event({gate.prefix!r}).wait(timeout=300)
            return i

        gated.__name__ = gated.__qualname__ = {gate.prefix!r}
        client = distributed.Client({client.scheduler.address!r}, timeout=120)
        submitted = []

        class Recording:
            def submit(self, fn, *args):
                fut = client.submit(fn, *args, pure=False)
                submitted.append(fut)
                return fut

        try:
            print("waiting", flush=True)  # inside the try: the SIGINT comes after it
            for _ in gc.map_on(Recording(), gated, range(20), window=3):
                pass
        except KeyboardInterrupt:
            print("interrupted", len(submitted), all(f.cancelled() for f in submitted), flush=True)

        del submitted[:]
        try:
            with gc.ErrGroup(executor=Recording()) as g:
                for i in range(100, 120):
                    g.go(gated, i)
                print("waiting", flush=True)
        except KeyboardInterrupt:
            for f in submitted:
                gc.done(f).recv_ok(timeout=120)
            print("interrupted", len(submitted), all(f.cancelled() for f in submitted), flush=True)
        client.close()
    """)
    try:
        # map_on, then an ErrGroup leaving its with block: each interrupted
        # while the gated tasks keep it waiting.
        for tasks in (3, 20):
            assert child.readline(CLUSTER_TIMEOUT) == "waiting"
            poll(lambda: gate.on_scheduler() == tasks, f"the child's {tasks} tasks on the scheduler")
            child.send_signal(signal.SIGINT)
            assert child.readline(CLUSTER_TIMEOUT) == f"interrupted {tasks} True"
    finally:
        returncode, errors = child.finish()
    assert returncode == 0, errors
    assert len(gate.executed()) <= 2 * 2  # at most one task per worker in each phase
