"""A task cancelled as its awaited operation completes (a late cancel): the
operation's result is kept and the cancellation comes at the next await;
then a cancellation storm across threads and loops.

Late-cancel races are made deterministic by committing a parked task's
operation from the loop thread itself (``ch.send(v, timeout=0)`` claims the
parked receiver) and calling ``task.cancel()`` in the same callback, before
the loop's hub has delivered the completion.
"""
import asyncio
import collections
import gc as pygc
import random
import sys
import threading
import time

import pytest

import pygochan as gc
from conftest import (WAIT_TIMEOUT, assert_no_parked_waiters, in_loop_thread, join_all, parked,
                      run_coroutine as run, start)

HAS_CANCELLING = sys.version_info >= (3, 11)


# ---- late cancellation: deterministic races ----------------------------


def test_late_cancel_recv_returns_value_then_cancels_at_next_await():
    async def main():
        ch = gc.Channel()
        got, after = [], []

        async def consumer():
            got.append(await ch.arecv())
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                after.append("cancelled at next await")
                raise

        t = asyncio.ensure_future(consumer())
        await parked(ch, receivers=1)

        def race():
            ch.send("v", timeout=0)  # claims the parked receiver
            t.cancel()

        asyncio.get_running_loop().call_soon(race)
        with pytest.raises(asyncio.CancelledError):
            await t
        assert got == ["v"] and after == ["cancelled at next await"]
        assert t.cancelled()
        assert_no_parked_waiters()

    run(main)


def test_late_cancel_after_delivery_returns_value():
    # the same race, but the hub delivered the completion before the cancel
    async def main():
        ch = gc.Channel()
        t = asyncio.ensure_future(ch.arecv())
        await parked(ch, receivers=1)
        loop = asyncio.get_running_loop()

        def race():
            ch.send("v", timeout=0)
            gc._aio._hub_for(loop).drain()
            t.cancel()

        loop.call_soon(race)
        assert await t == "v"
        assert not t.cancelled()

    run(main)


def test_late_cancel_send_returns_then_cancels_at_next_await():
    async def main():
        ch = gc.Channel()
        sent = []

        async def producer():
            await ch.asend("v")
            sent.append(True)
            await asyncio.sleep(1)

        t = asyncio.ensure_future(producer())
        await parked(ch, senders=1)
        taken = []

        def race():
            taken.append(ch.recv(timeout=0))  # takes the parked value
            t.cancel()

        asyncio.get_running_loop().call_soon(race)
        with pytest.raises(asyncio.CancelledError):
            await t
        assert taken == ["v"] and sent == [True] and t.cancelled()

    run(main)


def test_late_cancel_keeps_task_result():
    async def main():
        ch = gc.Channel()
        t = asyncio.create_task(ch.arecv())
        await parked(ch, receivers=1)

        def race():
            ch.send(42, timeout=0)
            t.cancel()

        asyncio.get_running_loop().call_soon(race)
        assert await t == 42
        assert not t.cancelled()
        await asyncio.sleep(0)  # the re-delivery finds the task done
        assert_no_parked_waiters()

    run(main)


@pytest.mark.skipif(not HAS_CANCELLING, reason="asyncio.timeout is 3.11+")
def test_late_cancel_withdrawn_by_asyncio_timeout():
    async def main():
        ch = gc.Channel()
        loop = asyncio.get_running_loop()

        async def body():
            async with asyncio.timeout(10) as cm:

                def race():
                    ch.send(9, timeout=0)
                    cm.reschedule(loop.time() - 1)  # the scope cancels the task

                loop.call_soon(race)
                v = await ch.arecv()
            await asyncio.sleep(0.01)  # must not raise: the scope handled it
            return v

        t = asyncio.ensure_future(body())
        assert await t == 9
        assert t.cancelling() == 0
        assert_no_parked_waiters()

    run(main)


@pytest.mark.skipif(not HAS_CANCELLING, reason="Task.cancelling is 3.11+")
def test_late_cancel_inside_a_timeout_scope_is_delivered_by_the_scope():
    # the value is returned, the task suspends inside the scope, and the
    # re-delivered cancellation ends the scope with TimeoutError
    async def main():
        ch = gc.Channel()
        loop = asyncio.get_running_loop()
        got = []

        async def body():
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(10) as cm:

                    def race():
                        ch.send(9, timeout=0)
                        cm.reschedule(loop.time() - 1)

                    loop.call_soon(race)
                    got.append(await ch.arecv())
                    await asyncio.sleep(1)
            return "done"

        assert await body() == "done"
        assert got == [9]

    run(main)


@pytest.mark.parametrize("capacity", [0, 1])
def test_wait_for_arecv_exactly_once(rng, capacity):
    async def main():
        ch = gc.Channel(capacity)
        sent = received = 0
        for i in range(150):
            delay = rng.uniform(0, 0.004)

            def sender(v=i):
                time.sleep(delay)
                try:
                    ch.send(v, timeout=0.05)
                    return True
                except TimeoutError:
                    return False

            th = start(sender)
            try:
                v = await asyncio.wait_for(ch.arecv(), 0.002)
                assert v == i
                received += 1
            except (asyncio.TimeoutError, TimeoutError):
                # nothing received: the value is still the sender's to give
                try:
                    assert await ch.arecv(timeout=0.2) == i
                    received += 1
                except TimeoutError:
                    pass  # the sender gave up first
            join_all([th])
            sent += th.result
            try:
                await asyncio.sleep(0)  # wait_for never leaves a stray cancel
            except asyncio.CancelledError:
                pytest.fail("spurious cancellation after wait_for")
        assert sent == received
        assert_no_parked_waiters()

    run(main)


def test_async_for_tight_loop_stops_after_late_cancel():
    async def main():
        ch = gc.Channel(1)
        got = []

        async def consumer():
            async for v in ch:  # no other await: the next arecv delivers it
                got.append(v)

        t = asyncio.ensure_future(consumer())
        await parked(ch, receivers=1)

        def race():
            ch.send(1, timeout=0)  # to the parked receiver
            t.cancel()
            ch.send(2, timeout=0)  # buffered: the next arecv would not suspend

        asyncio.get_running_loop().call_soon(race)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(t, WAIT_TIMEOUT)
        assert got == [1] and t.cancelled()
        assert ch.recv(timeout=0) == 2

    run(main)


def test_cancel_before_commit_has_no_effect():
    async def main():
        ch = gc.Channel(1)
        t = asyncio.ensure_future(ch.arecv())
        await parked(ch, receivers=1)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        ch.send(3, timeout=0)
        assert ch.recv(timeout=0) == 3  # still in the channel
        u = gc.Channel()
        s = asyncio.ensure_future(u.asend("x"))
        await parked(u, senders=1)
        s.cancel()
        with pytest.raises(asyncio.CancelledError):
            await s
        with pytest.raises(TimeoutError):
            u.recv(timeout=0)  # the send never happened
        assert_no_parked_waiters()

    run(main)


def test_cancelled_aselect_had_no_effect_on_any_channel():
    async def main():
        a, b = gc.Channel(), gc.Channel()
        t = asyncio.ensure_future(gc.aselect(gc.send(a, 1), gc.recv(b)))
        await parked(a, senders=1)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        with pytest.raises(TimeoutError):
            a.recv(timeout=0)
        with pytest.raises(TimeoutError):
            b.send(2, timeout=0)

    run(main)


def test_aselect_late_cancel_commits_exactly_one_case():
    async def main():
        a, b = gc.Channel(), gc.Channel()
        t = asyncio.ensure_future(gc.aselect(gc.recv(a), gc.send(b, "offer")))
        await parked(a, receivers=1)

        def race():
            a.send("va", timeout=0)
            t.cancel()

        asyncio.get_running_loop().call_soon(race)
        r = await t
        assert r == (0, "va", True)
        with pytest.raises(TimeoutError):
            b.recv(timeout=0)  # the other case did nothing

    run(main)


def test_late_cancel_on_close_raises_cancelled():
    # a close moves no value: the cancel is honoured at once
    async def main():
        ch = gc.Channel()
        t = asyncio.ensure_future(ch.arecv())
        await parked(ch, receivers=1)

        def race():
            ch.close()
            t.cancel()

        asyncio.get_running_loop().call_soon(race)
        with pytest.raises(asyncio.CancelledError):
            await t

    run(main)


# ---- the storm ----------------------------------------------------------


def cancellation_storm(seed, rounds_s):
    rng = random.Random(seed)
    ch, side = gc.Channel(rng.choice([0, 1, 4])), gc.Channel(2)
    ids = iter(range(10**9))
    id_lock = threading.Lock()
    sent_ok, received = [], []
    acc_lock = threading.Lock()
    stop = threading.Event()
    errors = []

    def new_id():
        with id_lock:
            return next(ids)

    def thread_producer(r):
        while not stop.is_set():
            v = new_id()
            try:
                ch.send(v, timeout=r.uniform(0, 0.002))
                with acc_lock:
                    sent_ok.append(v)
            except TimeoutError:
                pass

    def thread_consumer(r):
        while not stop.is_set():
            try:
                v = ch.recv(timeout=r.uniform(0, 0.002))
            except TimeoutError:
                continue
            with acc_lock:
                received.append(v)

    async def task_body(r):
        while True:
            kind = r.random()
            v = new_id()
            try:
                if kind < 0.3:
                    await ch.asend(v, timeout=r.choice([None, 0.001]))
                    with acc_lock:
                        sent_ok.append(v)
                elif kind < 0.6:
                    got = await ch.arecv(timeout=r.choice([None, 0.001]))
                    with acc_lock:
                        received.append(got)
                elif kind < 0.8:
                    res = await gc.aselect(gc.recv(ch), gc.send(ch, v), gc.recv(side))
                    with acc_lock:
                        if res.index == 0:
                            received.append(res.value)
                        elif res.index == 1:
                            sent_ok.append(v)
                else:
                    if HAS_CANCELLING:
                        async with asyncio.timeout(r.uniform(0, 0.0005)):
                            got = await ch.arecv()
                    else:
                        # not wait_for: before 3.12 it can itself hide a
                        # cancellation that races its inner task (CPython
                        # gh-86296), which this test would report
                        got = await ch.arecv(timeout=r.uniform(0, 0.0005))
                    with acc_lock:
                        received.append(got)
            except (TimeoutError, asyncio.TimeoutError):
                pass

    async def loop_main(k):
        r = random.Random(rng.randrange(2**32) + k)
        tasks = [asyncio.ensure_future(task_body(random.Random(r.random()))) for _ in range(20)]
        cancelled = []
        while not stop.is_set():
            await asyncio.sleep(r.uniform(50e-6, 500e-6))
            i = r.randrange(len(tasks))
            tasks[i].cancel()
            cancelled.append(tasks[i])
            tasks[i] = asyncio.ensure_future(task_body(random.Random(r.random())))
        for t in tasks:
            t.cancel()
        cancelled.extend(tasks)
        done, pending = await asyncio.wait(cancelled, timeout=WAIT_TIMEOUT)
        if pending:
            errors.append(f"loop {k}: {len(pending)} cancelled tasks never ended")
        for t in done:
            if not t.cancelled():
                errors.append(f"loop {k}: a cancelled task ended with {t.exception()!r}")
        await asyncio.sleep(0.01)
        st = gc.aio_stats()
        if st["parked"] or st["redeliver"]:
            errors.append(f"loop {k}: left registered {st}")

    seeds = [rng.randrange(2**32) for _ in range(5)]
    threads = [start(thread_producer, random.Random(seeds[i])) for i in range(3)]
    threads += [start(thread_consumer, random.Random(seeds[3 + i])) for i in range(2)]
    loops = [in_loop_thread(loop_main, k) for k in range(3)]
    time.sleep(rounds_s)
    stop.set()
    join_all(threads + loops, timeout=60)
    ch.close()
    for v in ch:
        received.append(v)
    assert not errors, errors
    assert collections.Counter(received) == collections.Counter(sent_ok)
    assert len(received) > 0
    return len(received)


def test_cancellation_storm(rng):
    cancellation_storm(rng.randrange(2**32), 1.5)


@pytest.mark.slow
def test_cancellation_storm_soak(rng):
    for _ in range(10):
        cancellation_storm(rng.randrange(2**32), 6.0)


def test_storm_does_not_grow_memory(rng):
    import tracemalloc

    ch = gc.Channel(4)

    async def rounds(n):
        for _ in range(n):
            t = asyncio.ensure_future(ch.arecv())
            await asyncio.sleep(0)
            if random.random() < 0.5:
                ch.send(1, timeout=0)
            t.cancel()
            try:
                await t
            except asyncio.CancelledError:
                pass
            while len(ch):
                ch.recv(timeout=0)

    async def main():
        await rounds(2000)
        pygc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        await rounds(5000)
        pygc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert after - before < 200_000, (before, after)

    asyncio.run(main())
