"""Channels awaited from asyncio: the thread semantics in async form, mixed
thread/task exactly-once accounting across loops, deterministic late-cancel
races, a cancellation storm, and the lifecycle of loops and their hubs.

Late-cancel races are made deterministic by committing a parked task's
operation from the loop thread itself (``ch.send(v, timeout=0)`` claims the
parked receiver) and calling ``task.cancel()`` in the same callback, before
the loop's hub has delivered the completion.
"""
import asyncio
import collections
import concurrent.futures
import contextlib
import gc as pygc
import os
import random
import sys
import subprocess
import threading
import time

import pytest

import pygochan as gc
from conftest import WAIT_TIMEOUT, join_all, parked, run_coroutine as run, start

HAS_CANCELLING = sys.version_info >= (3, 11)
CAPACITIES = [0, 1, 16, gc.UNBOUNDED]


def assert_no_parked_waiters():
    stats = gc.aio_stats()
    assert stats["parked"] == 0, stats
    assert stats["redeliver"] == 0, stats


# ---- the thread semantics, awaited -------------------------------------


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_send_recv_close_in_async_form(capacity):
    async def main():
        ch = gc.Channel(capacity)

        async def producer():
            for i in range(50):
                await ch.asend(i)
            ch.close()

        t = asyncio.ensure_future(producer())
        got = [v async for v in ch]
        await t
        assert got == list(range(50))
        assert await ch.arecv_ok() == (None, False)
        with pytest.raises(gc.ChannelClosed):
            await ch.arecv()
        with pytest.raises(gc.ChannelClosed):
            await ch.asend(1)
        assert_no_parked_waiters()

    run(main)


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_buffered_values_drain_after_close(capacity):
    async def main():
        ch = gc.Channel(capacity)
        n = {0: 0, 1: 1}.get(capacity, 3)
        for i in range(n):
            await ch.asend(i)
        ch.close()
        assert [v async for v in ch] == list(range(n))

    run(main)


def test_timeouts_have_no_effect():
    async def main():
        ch = gc.Channel()
        with pytest.raises(TimeoutError):
            await ch.arecv(timeout=0.01)
        with pytest.raises(TimeoutError):
            await ch.asend("x", timeout=0.01)
        with pytest.raises(TimeoutError):
            await ch.arecv(timeout=0)  # one attempt, never suspends
        with pytest.raises(TimeoutError):
            await gc.aselect(gc.recv(ch), gc.send(ch, 1), timeout=0.01)
        assert len(ch) == 0 and "waiting_senders=0" in repr(ch)
        # nothing stayed registered: a thread's select finds no partner
        assert gc.select(gc.recv(ch), gc.send(ch, 1), default=True).index == -1
        assert_no_parked_waiters()

    run(main)


def test_ctx_ends_the_wait_with_its_error():
    async def main():
        ctx, cancel = gc.with_cancel(gc.background())
        ch = gc.Channel()
        asyncio.get_running_loop().call_later(0.01, cancel)
        with pytest.raises(gc.Canceled):
            await ch.arecv(ctx=ctx)
        with pytest.raises(gc.Canceled):
            await ch.asend(1, ctx=ctx)  # already done: no attempt
        deadline_ctx, _ = gc.with_timeout(gc.background(), 0.01)
        with pytest.raises(gc.DeadlineExceeded):
            await gc.aselect(gc.recv(ch), ctx=deadline_ctx)
        assert "waiting_senders=0 waiting_receivers=0" in repr(ch)

    run(main)


def test_aselect_semantics():
    async def main():
        a, b = gc.Channel(1), gc.Channel(1)
        # default=True never suspends
        assert await gc.aselect(gc.recv(a), default=True) == (-1, None, False)
        await a.asend("x")
        assert await gc.aselect(gc.recv(None), gc.recv(a)) == (1, "x", True)
        # nil cases only: times out
        with pytest.raises(TimeoutError):
            await gc.aselect(gc.recv(None), gc.send(None, 1), timeout=0.01)
        # the same channel twice, and send + recv on one channel
        await b.asend(1)
        r = await gc.aselect(gc.recv(b), gc.recv(b))
        assert r.value == 1 and r.index in (0, 1)
        r = await gc.aselect(gc.send(b, 2), gc.recv(b))
        assert r.index == 0 and b.recv(timeout=0) == 2
        # fairness: both ready cases get chosen
        chosen = collections.Counter()
        for _ in range(400):
            a.send(1, timeout=0)
            b.send(2, timeout=0)
            r = await gc.aselect(gc.recv(a), gc.recv(b))
            chosen[r.index] += 1
            (b if r.index == 0 else a).recv(timeout=0)
        assert chosen[0] > 100 and chosen[1] > 100, chosen
        with pytest.raises(ValueError):
            await gc.aselect(gc.recv(a), default=True, timeout=1)
        with pytest.raises(TypeError):
            await gc.aselect(a)
        a.close()
        assert await gc.aselect(gc.recv(a)) == (0, None, False)
        with pytest.raises(gc.ChannelClosed):
            await gc.aselect(gc.send(a, 1))

    run(main)


def test_receive_only_channels_refuse_asend():
    async def main():
        t = gc.Timer(10)
        with pytest.raises(TypeError):
            await t.c.asend(1)
        t.stop()
        ctx, cancel = gc.with_cancel(gc.background())
        with pytest.raises(TypeError):
            await ctx.done().asend(1)
        cancel()
        assert await ctx.done().arecv_ok() == (None, False)
        # a timer channel completes an async waiter from the timer thread
        v = await gc.after(0.01).arecv(timeout=WAIT_TIMEOUT)
        assert isinstance(v, float)

    run(main)


def thread_error(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


def test_views_refuse_the_forbidden_direction_as_the_thread_calls_do():
    async def main():
        ch = gc.Channel(4)
        ch.send(1)
        send_end, recv_end = ch.send_only(), ch.recv_only()
        refused_recv = thread_error(lambda: send_end.recv(timeout=0))
        refused_recv_ok = thread_error(lambda: send_end.recv_ok(timeout=0))
        refused_send = thread_error(lambda: recv_end.send(2, timeout=0))
        assert refused_send[0] is TypeError and "receive-only view" in refused_send[1]

        async def first(it):
            async for v in it:
                return v

        for coro_fn, expected in [
            (send_end.arecv, refused_recv),
            (send_end.arecv_ok, refused_recv_ok),
            (lambda: first(send_end), thread_error(lambda: next(iter(send_end)))),
            (lambda: recv_end.asend(2), refused_send),
        ]:
            with pytest.raises(Exception) as info:
                await coro_fn()
            assert (type(info.value), str(info.value)) == expected
        assert ch.recv(timeout=0) == 1  # nothing was received or sent
        with pytest.raises(TimeoutError):
            ch.recv(timeout=0)
        # what a view allows still works
        await send_end.asend(3)
        assert await recv_end.arecv() == 3

    run(main)


def test_future_aresult_timeout_raises_the_class_result_raises():
    async def main():
        fut = gc.Future()
        expected = thread_error(lambda: fut.result(timeout=0.001))
        for timeout in (0, 0.001):
            with pytest.raises(Exception) as info:
                await fut.aresult(timeout=timeout)
            assert (type(info.value), str(info.value)) == expected
            assert isinstance(info.value, TimeoutError)
            assert isinstance(info.value, concurrent.futures.TimeoutError)
        fut.set_result(5)
        assert await fut.aresult(timeout=0) == 5

    run(main)


def test_one_op_object_awaited_twice_is_an_error():
    async def main():
        ch = gc.Channel(1)
        ch.send(1)
        op = ch.arecv()
        assert await op == 1
        with pytest.raises(RuntimeError):
            await op

    run(main)


def test_op_made_outside_a_loop_runs_when_awaited():
    ch = gc.Channel(1)
    op = ch.arecv()  # nothing happens until awaited
    ch.send(5)

    async def main():
        return await op

    assert run(main) == 5


# ---- threads and loops together -----------------------------------------


def in_loop_thread(coro_fn, *args):
    """Run coro_fn(*args) with asyncio.run in a new thread."""
    return start(lambda: asyncio.run(coro_fn(*args)))


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_thread_producers_to_tasks_on_three_loops(rng, capacity):
    ch = gc.Channel(capacity)
    per, producers = 2000, 3
    got = [[] for _ in range(3)]

    async def consume(k):
        async def one():
            async for v in ch:
                got[k].append(v)

        await asyncio.gather(*(one() for _ in range(4)))
        assert_no_parked_waiters()

    def produce(k):
        for i in range(per):
            ch.send(k * per + i, timeout=WAIT_TIMEOUT)

    loops = [in_loop_thread(consume, k) for k in range(3)]
    threads = [start(produce, k) for k in range(producers)]
    join_all(threads)
    ch.close()
    join_all(loops)
    allv = sorted(v for g in got for v in g)
    assert allv == list(range(per * producers))


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_tasks_on_three_loops_to_thread_receivers(capacity):
    ch = gc.Channel(capacity)
    per = 1500

    async def produce(k):
        await asyncio.gather(*(ch.asend((k, j, i)) for j in range(3) for i in range(per // 3)))

    received = []
    lock = threading.Lock()

    def consume():
        while True:
            v, ok = ch.recv_ok(timeout=WAIT_TIMEOUT)
            if not ok:
                return
            with lock:
                received.append(v)

    readers = [start(consume) for _ in range(2)]
    loops = [in_loop_thread(produce, k) for k in range(3)]
    join_all(loops)
    ch.close()
    join_all(readers)
    assert len(received) == len(set(received)) == 3 * per


def test_thread_task_ping_pong_exactly_once_with_fast_and_slow_peers(rng):
    # Unbuffered hand-offs with a thread that answers at once (the task's
    # park meets it while spinning) or late (the task waits on the loop),
    # mixed with a task peer on the same loop that no spin can reach.
    ping, pong, local = gc.Channel(), gc.Channel(), gc.Channel()
    pauses = [rng.choice([0, 0, 0, 0.0005, 0.002]) for _ in range(600)]

    def echo():
        for pause in pauses:
            v = ping.recv(timeout=WAIT_TIMEOUT)
            if pause:
                time.sleep(pause)
            if v % 2:
                pong.send(v, timeout=WAIT_TIMEOUT)
            else:
                gc.select(gc.send(pong, v), timeout=WAIT_TIMEOUT)

    async def local_peer():
        async for v in local:
            await local.asend(-v)  # answered by main's arecv below

    async def main():
        th = start(echo)
        peer = asyncio.ensure_future(local_peer())
        got = []
        for i in range(len(pauses)):
            if i % 3:
                await ping.asend(i, timeout=WAIT_TIMEOUT)
            else:
                await gc.aselect(gc.send(ping, i), timeout=WAIT_TIMEOUT)
            got.append(await pong.arecv(timeout=WAIT_TIMEOUT))
            if i % 50 == 0:
                await local.asend(i)
                assert await local.arecv() == -i
        local.close()
        await peer
        join_all([th])
        assert got == list(range(len(pauses)))
        assert_no_parked_waiters()

    run(main)


def test_thread_select_and_task_aselect_rendezvous(rng):
    # unbuffered, both sides select over a send and a recv case
    a, b = gc.Channel(), gc.Channel()
    n = 1500
    thread_got, task_got = [], []

    def thread_side():
        sent = 0
        while sent < n or len(thread_got) < n:
            cases = [gc.recv(b)]
            if sent < n:
                cases.append(gc.send(a, ("t", sent)))
            r = gc.select(*cases, timeout=WAIT_TIMEOUT)
            if r.index == 0:
                thread_got.append(r.value)
            else:
                sent += 1

    async def task_side():
        sent = 0
        while sent < n or len(task_got) < n:
            cases = [gc.recv(a)]
            if sent < n:
                cases.append(gc.send(b, ("a", sent)))
            r = await gc.aselect(*cases, timeout=WAIT_TIMEOUT)
            if r.index == 0:
                task_got.append(r.value)
            else:
                sent += 1

    t = start(thread_side)
    asyncio.run(task_side())
    join_all([t])
    assert task_got == [("t", i) for i in range(n)]
    assert thread_got == [("a", i) for i in range(n)]


def test_task_to_task_across_loops_and_same_loop():
    ch = gc.Channel()
    n = 2000

    async def producer():
        for i in range(n):
            await ch.asend(i)

    async def consumer():
        return [await ch.arecv() for _ in range(n)]

    t = in_loop_thread(producer)
    assert asyncio.run(consumer()) == list(range(n))
    join_all([t])

    async def same_loop():
        p = asyncio.ensure_future(producer())
        got = await consumer()
        await p
        return got

    assert asyncio.run(same_loop()) == list(range(n))


def test_context_deadline_completes_parked_task():
    # the deadline fires on the timer thread, which finishes the waiter
    # through the hub without the GIL
    async def main():
        ctx, _ = gc.with_timeout(gc.background(), 0.02)
        results = await asyncio.gather(
            *(gc.Channel().arecv(ctx=ctx) for _ in range(20)), return_exceptions=True
        )
        assert all(isinstance(r, gc.DeadlineExceeded) for r in results)
        assert_no_parked_waiters()

    run(main)


def test_one_eventfd_write_per_burst():
    ch = gc.Channel(gc.UNBOUNDED)

    async def main():
        loop = asyncio.get_running_loop()
        tasks = [asyncio.ensure_future(ch.arecv()) for _ in range(200)]
        await parked(ch, receivers=200)
        before = gc.aio_stats()
        # one thread completes all 200 while the loop is blocked in a callback
        done = threading.Event()

        def burst():
            for i in range(200):
                ch.send(i)
            done.set()

        loop.call_soon(lambda: (start(burst), done.wait(WAIT_TIMEOUT)))
        got = await asyncio.gather(*tasks)
        after = gc.aio_stats()
        assert sorted(got) == list(range(200))
        assert after["posts"] - before["posts"] == 200
        assert after["signals"] - before["signals"] == 1, (before, after)

    run(main)


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


# ---- lifecycle ----------------------------------------------------------


def test_asyncio_run_exit_leaves_values_receivable_by_threads():
    ch = gc.Channel(4)

    async def main():
        for i in range(4):
            ch.send(i, timeout=0)
        # receivers parked on another channel, senders parked on a full one
        other = gc.Channel()
        for _ in range(5):
            asyncio.ensure_future(other.arecv())
        for i in range(3):
            asyncio.ensure_future(ch.asend(100 + i))
        await asyncio.sleep(0.01)
        # return with every task still parked: asyncio.run cancels them

    asyncio.run(main())
    assert [ch.recv(timeout=0) for _ in range(4)] == [0, 1, 2, 3]
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0)  # the cancelled sends had no effect


def test_closing_a_loop_with_parked_tasks_releases_them():
    ch = gc.Channel()
    loop = asyncio.new_event_loop()
    tasks = [loop.create_task(ch.arecv()) for _ in range(3)]
    loop.run_until_complete(asyncio.sleep(0.01))
    assert "waiting_receivers=3" in repr(ch)
    loop.close()  # a user error: tasks still waiting
    with pytest.raises(TimeoutError):
        ch.send(1, timeout=0)  # no receiver left registered
    for t in tasks:
        t._log_destroy_pending = False  # pending for good, on purpose


def test_release_loop_of_a_loop_that_never_runs_again():
    ch = gc.Channel(1)
    ch.send("kept")
    loop = asyncio.new_event_loop()
    tasks = [loop.create_task(ch.asend(i)) for i in range(2)]
    loop.run_until_complete(asyncio.sleep(0.01))
    assert gc.release_loop(loop) == 2
    assert gc.release_loop(loop) == 0
    assert ch.recv(timeout=0) == "kept"
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0)  # the parked sends had no effect
    for t in tasks:
        t._log_destroy_pending = False
    loop.close()


def test_many_asyncio_runs_leak_no_descriptors():
    def fds():
        return len(os.listdir("/proc/self/fd"))

    async def one():
        ch = gc.Channel()
        t = asyncio.ensure_future(ch.arecv())  # parks: the loop gets a hub
        await ch.asend(1)
        assert await t == 1

    asyncio.run(one())
    pygc.collect()
    before = fds()
    for _ in range(200):
        asyncio.run(one())
    pygc.collect()
    assert fds() <= before + 2


def test_parked_task_is_not_collected_from_under_the_channel():
    ch = gc.Channel()
    got = []

    async def main():
        async def consumer():
            got.append(await ch.arecv())

        asyncio.ensure_future(consumer())  # no strong reference kept
        await parked(ch, receivers=1)
        pygc.collect()
        start(ch.send, "late", timeout=WAIT_TIMEOUT)
        for _ in range(1000):
            if got:
                break
            await asyncio.sleep(0.005)
        assert got == ["late"]

    run(main)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_starts_with_no_hubs():
    async def warm():
        ch = gc.Channel()
        t = asyncio.ensure_future(ch.arecv())  # parks: the loop gets a hub
        await parked(ch, receivers=1)
        ch.send(1, timeout=0)
        assert await t == 1
        return len(gc._aio._registry)

    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(warm()) == 1
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if len(gc._aio._registry) == 0 and asyncio.run(warm()) == 1:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    loop.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_uvloop_if_installed():
    uvloop = pytest.importorskip("uvloop")
    ch = gc.Channel()

    async def main():
        def produce():
            for i in range(500):
                ch.send(i, timeout=WAIT_TIMEOUT)
            ch.close()

        t = start(produce)
        got = [v async for v in ch]
        join_all([t])
        assert got == list(range(500))
        t2 = asyncio.ensure_future(ch.arecv_ok())
        assert await t2 == (None, False)

    if hasattr(uvloop, "run"):
        uvloop.run(main())
    else:
        uvloop.install()
        asyncio.run(main())


def test_loop_without_add_reader_uses_the_fallback():
    class NoReaderLoop(asyncio.SelectorEventLoop):
        def add_reader(self, *args):
            raise NotImplementedError

    ch = gc.Channel()

    async def main():
        t = start(lambda: [ch.send(i, timeout=WAIT_TIMEOUT) for i in range(200)])
        got = [await ch.arecv(timeout=WAIT_TIMEOUT) for _ in range(200)]
        join_all([t])
        assert got == list(range(200))

    loop = NoReaderLoop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


# ---- contexts, wait groups, futures, pools, groups ----------------------


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


async def submitters_parked(pool, n):
    """Yield to the loop until n submits wait on the pool's job channel."""
    for _ in range(10000):
        if pool.stats()["blocked_submitters"] == n:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"expected {n} parked submitters: {pool.stats()}")


@contextlib.asynccontextmanager
async def saturated_pool(ran):
    """A Pool(1, queue_size=1) with its worker held and its queue full (a
    job appending "queued" to ran); the worker is let go on exit, and the
    pool's routing must still serve new jobs after what the body did."""
    gate = threading.Event()
    with gc.Pool(1, queue_size=1) as pool:
        running = await pool.asubmit(gate.wait, WAIT_TIMEOUT)
        queued = await pool.asubmit(ran.append, "queued")
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


def test_importing_pygochan_does_not_import_asyncio():
    # A program that never awaits does not load asyncio (CPython 3.12's
    # _asyncio corrupts an isolated subinterpreter's finalization); the
    # first awaited operation loads it.
    code = (
        "import sys, pygochan as gc\n"
        "assert 'asyncio' not in sys.modules, 'imported with pygochan'\n"
        "ch = gc.Channel(1)\n"
        "ch.send(1)\n"
        "assert ch.recv() == 1 and 'asyncio' not in sys.modules\n"
        "import asyncio\n"
        "async def main():\n"
        "    c = gc.Channel()\n"
        "    asyncio.get_running_loop().call_later(0.01, c.close)\n"
        "    return await c.arecv_ok(timeout=5)\n"
        "print(asyncio.run(main()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(None, False)"
