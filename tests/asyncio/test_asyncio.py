"""Channels awaited from asyncio: the thread semantics in async form, and
mixed thread/task exactly-once accounting across loops.  Late cancellation
and the cancellation storm are in test_asyncio_late_cancel.py, the lifecycle
of loops and their hubs in test_asyncio_loops.py."""
import asyncio
import collections
import concurrent.futures
import threading
import time

import pytest

import pygochan as gc
from conftest import (WAIT_TIMEOUT, assert_no_parked_waiters, in_loop_thread, join_all, parked,
                      run_coroutine as run, start)

CAPACITIES = [0, 1, 16, gc.UNBOUNDED]


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
