"""Contexts, wait groups, futures, pools and groups awaited: ctx.adone,
WaitGroup.wait_async, awaiting a Future, Pool.arun and Pool.asubmit, and
async with ErrGroup."""
import asyncio
import collections
import contextlib
import random
import threading
import time

import pytest

import pygochan as gc
from conftest import WAIT_TIMEOUT, join_all, run_coroutine as run, start


def test_ctx_adone_and_wait_group_wait_async():
    async def main():
        ctx, cancel = gc.with_cancel(gc.background())
        asyncio.get_running_loop().call_later(0.01, cancel)
        await ctx.adone(timeout=WAIT_TIMEOUT)
        assert isinstance(ctx.err(), gc.Canceled)
        never, _ = gc.with_cancel(gc.background())
        with pytest.raises(TimeoutError):
            await never.adone(timeout=0.01)
        with pytest.raises(TimeoutError):
            await gc.background().adone(timeout=0.01)  # never done
        wg = gc.WaitGroup()
        await wg.wait_async()  # zero: nothing to wait for
        ev = threading.Event()
        for _ in range(3):
            wg.go(ev.wait, WAIT_TIMEOUT)
        with pytest.raises(TimeoutError):
            await wg.wait_async(timeout=0.01)
        ev.set()
        await wg.wait_async(timeout=WAIT_TIMEOUT)
        assert wg.count == 0

    run(main)


def test_await_pygochan_future_never_cancels_the_job():
    async def main():
        ev = threading.Event()
        with gc.Pool(2) as pool:
            fut = pool.submit(lambda: ev.wait(WAIT_TIMEOUT) and "done")
            t = asyncio.ensure_future(fut.aresult())
            await asyncio.sleep(0.01)
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            assert not fut.cancelled()
            ev.set()
            assert await fut == "done"
            assert await asyncio.wrap_future(pool.submit(lambda: 3)) == 3
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(pool, lambda: 4) == 4
            failing = pool.submit(lambda: 1 / 0)
            with pytest.raises(ZeroDivisionError):
                await failing

    run(main)


def test_pool_arun_cancelled_while_queued_never_runs():
    async def main():
        ran = []
        gate = threading.Event()
        with gc.Pool(1) as pool:
            blocker = pool.submit(gate.wait, WAIT_TIMEOUT)
            t = asyncio.ensure_future(pool.arun(ran.append, "queued"))
            await asyncio.sleep(0.01)
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            gate.set()
            await blocker
        assert ran == []

    run(main)


def test_pool_arun_cancelled_while_running_returns_then_cancels():
    async def main():
        started, gate = threading.Event(), threading.Event()

        def job():
            started.set()
            gate.wait(WAIT_TIMEOUT)
            return "result"

        got = []

        async def caller(pool):
            got.append(await pool.arun(job))
            await asyncio.sleep(1)

        with gc.Pool(1) as pool:
            t = asyncio.ensure_future(caller(pool))
            while not started.is_set():
                await asyncio.sleep(0.001)
            t.cancel()
            gate.set()
            with pytest.raises(asyncio.CancelledError):
                await t
        assert got == ["result"]

    run(main)


async def stat_reaches(pool, key, n):
    """Yield to the loop until pool.stats()[key] == n."""
    for _ in range(10000):
        if pool.stats()[key] == n:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"expected {key} {n}: {pool.stats()}")


async def submitters_parked(pool, n):
    """Yield to the loop until n submits wait on the pool's job channel."""
    await stat_reaches(pool, "blocked_submitters", n)


@contextlib.asynccontextmanager
async def saturated_pool(ran):
    """A Pool(1, queue_size=1) with its worker held and its queue full (a
    job appending "queued" to ran); the worker is let go on exit, and the
    pool's routing must still serve new jobs after what the body did."""
    gate = threading.Event()
    with gc.Pool(1, queue_size=1) as pool:
        running = await pool.asubmit(gate.wait, WAIT_TIMEOUT)
        queued = await pool.asubmit(ran.append, "queued")
        # The worker takes the first job in its own time: until it has,
        # the pool's counts are still moving.
        await stat_reaches(pool, "running", 1)
        try:
            yield pool
        finally:
            gate.set()
        await running
        await queued
        assert await (await pool.asubmit(lambda: "next")) == "next"
        assert await pool.arun(lambda: "after") == "after"


def test_pool_asubmit_on_a_full_queue_parks_until_a_slot_frees():
    async def main():
        ran = []
        async with saturated_pool(ran) as pool:
            t = asyncio.ensure_future(pool.asubmit(ran.append, "waited"))
            await submitters_parked(pool, 1)  # parked on the job channel
            assert not t.done()
            assert pool.stats()["submitted"] == 2
        waited = await t  # the worker was let go: the slot freed
        assert waited.done()  # the pool's exit ran the queue first
        assert pool.stats()["submitted"] == 5  # with "next" and "after"
        assert ran == ["queued", "waited"]

    run(main)


def test_pool_asubmit_cancelled_or_timed_out_while_waiting_has_no_effect():
    async def main():
        ran = []
        async with saturated_pool(ran) as pool:
            before = pool.stats()
            t = asyncio.ensure_future(pool.asubmit(ran.append, "cancelled"))
            await submitters_parked(pool, 1)
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            with pytest.raises(TimeoutError):
                await pool.asubmit(ran.append, "timed out", submit_timeout=0.02)
            with pytest.raises(TimeoutError):
                await pool.asubmit(ran.append, "timeout=0", submit_timeout=0)
            ctx, cancel = gc.with_cancel(gc.background())
            t = asyncio.ensure_future(pool.asubmit(ran.append, "ctx", submit_ctx=ctx))
            await submitters_parked(pool, 1)
            cancel()
            with pytest.raises(gc.Canceled):
                await t
            after = pool.stats()
            for key in ("pending", "submitted", "running", "idle", "workers"):
                assert after[key] == before[key], key
            assert after["blocked_submitters"] == 0
        assert ran == ["queued"]

    run(main)


def test_pool_asubmit_waiting_when_the_pool_shuts_down_raises():
    async def main():
        gate = threading.Event()
        pool = gc.Pool(1, queue_size=1)
        running = await pool.asubmit(gate.wait, WAIT_TIMEOUT)
        await pool.asubmit(lambda: None)
        t = asyncio.ensure_future(pool.asubmit(lambda: None))
        await submitters_parked(pool, 1)
        pool.shutdown(wait=False)
        with pytest.raises(RuntimeError, match="after shutdown"):
            await t
        gate.set()
        await running
        pool.shutdown(wait=True)

    run(main)


def test_pool_asubmit_many_concurrent_submitters_run_exactly_once(rng):
    seed = rng.randrange(2**32)
    ran = collections.Counter()
    lock = threading.Lock()

    def job(key):
        time.sleep(rng_delay())
        with lock:
            ran[key] += 1
        return key

    delays = random.Random(seed + 1)

    def rng_delay():
        with lock:
            return delays.random() * 0.0005

    async def main():
        submitted, results = [], []
        with gc.Pool(3, queue_size=2) as pool:

            def thread_submitter():
                for i in range(40):
                    fut = pool.submit(job, ("thread", i))
                    submitted.append(("thread", i))
                    results.append(fut)

            th = start(thread_submitter)

            async def submitter(i):
                timeout = rng.choice([None, None, 0.0005, 0.002])
                try:
                    fut = await pool.asubmit(job, ("task", i), submit_timeout=timeout)
                except TimeoutError:
                    return
                submitted.append(("task", i))
                results.append(fut)

            tasks = [asyncio.ensure_future(submitter(i)) for i in range(120)]
            for _ in range(30):
                await asyncio.sleep(rng.random() * 0.002)
                rng.choice(tasks).cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            join_all([th])
            for fut in results:
                await fut
        assert sorted(ran) == sorted(submitted)
        assert set(ran.values()) <= {1}
        assert len(submitted) > 40

    run(main)


def test_err_group_async_with():
    async def main():
        done = []
        async with gc.ErrGroup() as g:
            for i in range(3):
                g.go(done.append, i)
        assert sorted(done) == [0, 1, 2]
        with pytest.raises(ZeroDivisionError):
            async with gc.ErrGroup() as g:
                g.go(lambda: 1 / 0)
        g = gc.ErrGroup()
        g.go(time.sleep, 0.01)
        await g.wait_async()

    run(main)
