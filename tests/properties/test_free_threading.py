"""No reliance on the GIL: the binding's own state under threads racing on one
object (Future transitions, lazily made done channels, module state).  These
races are what a free-threaded build exposes; on a GIL build they still check
the same outcomes.  Importing pygochan on a free-threaded build keeps the GIL
off."""
import concurrent.futures as cf
import os
import subprocess
import sys
import threading

import pytest

import pygochan as gc
from conftest import FREE_THREADED, join_all, start


def run_together(n, fn):
    """Start n threads that call fn(i) as close to the same moment as a
    barrier allows; return their results in order."""
    barrier = threading.Barrier(n)

    def body(i):
        barrier.wait(timeout=30)
        return fn(i)

    threads = [start(body, i) for i in range(n)]
    join_all(threads)
    return [t.result for t in threads]


@pytest.mark.skipif(not FREE_THREADED, reason="needs a free-threaded CPython")
def test_import_keeps_the_gil_off():
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c",
         "import sys, pygochan; print(sys._is_gil_enabled())"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", out.stderr


def test_one_of_many_racing_settlers_wins(rng):
    for round_ in range(100):
        fut = gc.Future()
        kinds = [rng.choice(["result", "exception", "cancel"]) for _ in range(6)]

        def settle(i):
            try:
                if kinds[i] == "result":
                    fut.set_result(i)
                elif kinds[i] == "exception":
                    fut.set_exception(ValueError(i))
                else:
                    return fut.cancel()
                return True
            except cf.InvalidStateError:
                return False

        won = run_together(len(kinds), settle)
        assert fut.done()
        if fut.cancelled():
            # every cancel reports success; no set_* did
            assert all(won[i] == (kinds[i] == "cancel") for i in range(len(kinds))), round_
        else:
            winners = [i for i in range(len(kinds)) if won[i] and kinds[i] != "cancel"]
            assert len(winners) == 1, (round_, kinds, won)
            i = winners[0]
            if kinds[i] == "result":
                assert fut.result(timeout=0) == i
            else:
                assert fut.exception(timeout=0).args == (i,)


def test_waiters_arriving_while_the_future_settles_all_wake(rng):
    # A lost wake-up (a waiter making the done channel just after the settle
    # looked for it) would leave a waiter blocked: it would time out here.
    for _ in range(100):
        fut = gc.Future()
        delay = rng.random() * 0.001

        def wait(i):
            if i == 0:
                threading.Event().wait(delay)
                fut.set_result("v")
                return "v"
            return fut.result(timeout=10)

        assert run_together(6, wait) == ["v"] * 6


def test_callbacks_added_while_settling_run_exactly_once(rng):
    for _ in range(100):
        fut = gc.Future()
        calls = []
        lock = threading.Lock()

        def record(f, tag):
            with lock:
                calls.append(tag)

        def act(i):
            if i == 0:
                fut.set_result(None)
            else:
                for k in range(5):
                    fut.add_done_callback(lambda f, tag=(i, k): record(f, tag))

        run_together(5, act)
        assert sorted(calls) == sorted((i, k) for i in range(1, 5) for k in range(5))


def test_concurrent_futures_wait_racing_settlers_never_misses_one(rng):
    for _ in range(100):
        futs = [gc.Future() for _ in range(4)]

        def act(i):
            if i < len(futs):
                futs[i].set_result(i)
                return None
            return cf.wait(futs, timeout=10)

        done, not_done = run_together(len(futs) + 1, act)[-1]
        assert not not_done and len(done) == 4


def test_pool_tasks_cancelled_while_workers_claim_them_run_or_cancel_once(rng):
    for _ in range(20):
        ran = []
        with gc.Pool(4) as pool:
            futs = [pool.submit(ran.append, i) for i in range(50)]
            run_together(4, lambda i: [f.cancel() for f in futs[i::4]])
        ran_set = set(ran)
        assert len(ran) == len(ran_set)
        for i, f in enumerate(futs):
            assert f.cancelled() != (i in ran_set)
        stats = pool.stats()
        assert stats["submitted"] == 50
        assert stats["completed"] + stats["cancelled"] == 50


def test_done_channel_of_a_context_is_made_once():
    for _ in range(50):
        ctx, cancel = gc.with_cancel(gc.background())
        channels = run_together(8, lambda i: ctx.done())
        assert all(ch is channels[0] for ch in channels)
        cancel()
        for ch in channels:
            assert ch.recv_ok(timeout=10) == (None, False)
        assert ctx.err() is not None


def test_after_func_registered_from_many_threads_each_runs_once():
    ctx, cancel = gc.with_cancel(gc.background())
    ran = gc.Channel(gc.UNBOUNDED)
    run_together(8, lambda i: [ctx.after_func(lambda i=i, k=k: ran.send((i, k))) for k in range(10)])
    cancel()
    got = sorted(ran.recv(timeout=10) for _ in range(80))
    assert got == sorted((i, k) for i in range(8) for k in range(10))
