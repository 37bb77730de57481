"""task.cancel() withdraws a parked pygochan await at once.

Once ``task.cancel()`` has returned for a task suspended in a pygochan
await, nothing that happens later -- on the loop's own thread or on any
other -- completes that await: the task raises ``CancelledError`` and the
operation had no effect (the value stays in the channel, the send did not
happen, the job was not queued).  Only a hand-off that committed before
``cancel()`` was called is returned (the cancellation then reaches the task
at its next suspension point).  This is what asyncio's own Queue, Lock and
Event do, and what graceful shutdown relies on.

The per-awaitable tests complete the operation on the loop's thread right
after ``cancel()`` returned, so they are deterministic; the threaded tests
race a completion from another thread against the cancel.
"""
import asyncio
import collections
import threading
import time

import pytest

import pygochan as gc
from conftest import WAIT_TIMEOUT, join_all, parked, run_coroutine as run, start


async def hub_parked(n):
    """Yield to the loop until n operations of this loop are parked."""
    for _ in range(10000):
        if gc.aio_stats()["parked"] == n:
            return
        await asyncio.sleep(0.0005)
    raise AssertionError(f"expected {n} parked operations: {gc.aio_stats()}")


async def assert_cancelled(t):
    with pytest.raises(asyncio.CancelledError):
        await t
    assert t.cancelled()


def drain(ch):
    left = []
    while True:
        r = gc.select(gc.recv(ch), default=True)
        if r.index < 0 or not r.ok:
            return left
        left.append(r.value)


# ---- the example ----------------------------------------------


def test_cancelled_async_for_consumer_leaves_the_next_job_in_the_channel():
    async def main():
        ch, handled = gc.Channel(100), []

        async def consumer():
            async for job in ch:
                await asyncio.sleep(0)  # handling needs an await
                handled.append(job)

        t = asyncio.ensure_future(consumer())
        await parked(ch, receivers=1)
        t.cancel()  # shut the consumer down
        ch.send("job-1")
        await assert_cancelled(t)
        assert handled == [] and drain(ch) == ["job-1"]

    run(main)


# ---- each awaitable, completed on the loop's thread after cancel() -------


@pytest.mark.parametrize("form", ["arecv", "arecv_ok", "async for"])
def test_cancelled_receive_takes_nothing_sent_afterwards(form):
    async def main():
        ch = gc.Channel(100)

        async def receive():
            if form == "arecv":
                return await ch.arecv()
            if form == "arecv_ok":
                return await ch.arecv_ok()
            async for v in ch:
                return v

        t = asyncio.ensure_future(receive())
        await parked(ch, receivers=1)
        t.cancel()
        assert gc.aio_stats()["parked"] == 0  # withdrawn inside cancel()
        ch.send("v")
        await assert_cancelled(t)
        assert drain(ch) == ["v"]

    run(main)


@pytest.mark.parametrize("capacity", [0, 1])
def test_cancelled_asend_does_not_send_to_a_later_receiver(capacity):
    async def main():
        ch = gc.Channel(capacity)
        for i in range(capacity):
            ch.send(f"buffered {i}")
        t = asyncio.ensure_future(ch.asend("v"))
        await parked(ch, senders=1)
        t.cancel()
        assert gc.aio_stats()["parked"] == 0
        taken = [ch.recv(timeout=0) for _ in range(capacity)]
        with pytest.raises(TimeoutError):
            ch.recv(timeout=0)  # the cancelled send did not happen
        await assert_cancelled(t)
        assert taken == [f"buffered {i}" for i in range(capacity)]
        assert drain(ch) == []

    run(main)


@pytest.mark.parametrize("completed_case", ["recv", "send"])
def test_cancelled_aselect_is_completed_by_neither_case(completed_case):
    async def main():
        a, b = gc.Channel(1), gc.Channel()
        t = asyncio.ensure_future(gc.aselect(gc.recv(a), gc.send(b, "offer")))
        await parked(b, senders=1)
        t.cancel()
        assert gc.aio_stats()["parked"] == 0
        if completed_case == "recv":
            a.send("va")  # buffered: the select no longer waits for it
        else:
            with pytest.raises(TimeoutError):
                b.recv(timeout=0)  # the offer was withdrawn
        await assert_cancelled(t)
        assert drain(a) == (["va"] if completed_case == "recv" else [])
        with pytest.raises(TimeoutError):
            b.recv(timeout=0)

    run(main)


@pytest.mark.parametrize("kind", ["ctx.adone", "wg.wait_async", "await fut", "fut.aresult"])
def test_cancelled_wait_is_not_completed_by_the_event(kind):
    # nothing moves when these complete: what must not happen is the
    # completion reaching the cancelled task's operation (a post to the hub)
    async def main():
        if kind == "ctx.adone":
            ctx, complete = gc.with_cancel(gc.background())
            awaitable = ctx.adone()
        elif kind == "wg.wait_async":
            wg = gc.WaitGroup()
            wg.add(1)
            awaitable, complete = wg.wait_async(), wg.done
        else:
            fut = gc.Future()
            awaitable = fut.aresult() if kind == "fut.aresult" else fut

            def complete():
                fut.set_result("r")

        async def waiter():
            return await awaitable

        t = asyncio.ensure_future(waiter())
        await hub_parked(1)
        t.cancel()
        stats = gc.aio_stats()
        assert stats["parked"] == 0  # withdrawn inside cancel()
        complete()
        assert gc.aio_stats()["posts"] == stats["posts"]
        await assert_cancelled(t)

    run(main)


def test_cancelled_pool_asubmit_queues_nothing_when_a_slot_frees():
    async def main():
        ran, gate = [], threading.Event()
        with gc.Pool(1, queue_size=1) as pool:
            running = pool.submit(gate.wait, WAIT_TIMEOUT)
            queued = pool.submit(ran.append, "queued")
            t = asyncio.ensure_future(pool.asubmit(ran.append, "cancelled"))
            for _ in range(10000):
                if pool.stats()["blocked_submitters"] == 1:
                    break
                await asyncio.sleep(0.0005)
            assert pool.stats()["blocked_submitters"] == 1
            t.cancel()
            assert gc.aio_stats()["parked"] == 0
            gate.set()  # the worker takes "queued": a slot frees
            running.result(timeout=WAIT_TIMEOUT)
            queued.result(timeout=WAIT_TIMEOUT)
            # FIFO: a job queued by the cancelled submit would run before this
            pool.submit(ran.append, "after").result(timeout=WAIT_TIMEOUT)
            await assert_cancelled(t)
        assert ran == ["queued", "after"]

    run(main)


# ---- a completion on another thread racing the cancel --------------------


def race_pause(rng):
    """Up to ~200 us with the GIL released, or none."""
    d = rng.choice([0.0, rng.uniform(0, 2e-4)])
    if d:
        time.sleep(d)


def test_cancel_racing_a_thread_send_to_a_parked_receiver(rng):
    async def main():
        ch = gc.Channel(1)
        sent, received, late_cancels, by_task = [], [], 0, 0
        for i in range(300):
            t = asyncio.ensure_future(ch.arecv())
            await parked(ch, receivers=1)
            go, sending = threading.Event(), threading.Event()
            seed = rng.random()

            def sender(v=i, seed=seed):
                import random

                go.wait(WAIT_TIMEOUT)
                race_pause(random.Random(seed))
                sending.set()
                ch.send(v, timeout=WAIT_TIMEOUT)

            th = start(sender)
            go.set()
            race_pause(rng)
            t.cancel()
            late = not sending.is_set()  # the send started after cancel() returned
            late_cancels += late
            race_pause(rng)  # a waiter still registered would be taken now
            join_all([th])
            sent.append(i)
            try:
                received.append(await t)
            except asyncio.CancelledError:
                pass
            else:
                by_task += 1
                assert not late, f"round {i}: a send begun after cancel() completed it"
            received.extend(drain(ch))
            await asyncio.sleep(0)  # a re-delivered cancellation finds t done
        assert collections.Counter(received) == collections.Counter(sent)
        print(f"late cancels: {late_cancels}, received by the task: {by_task}")

    run(main)


def test_cancel_racing_a_thread_receive_from_a_parked_sender(rng):
    async def main():
        ch = gc.Channel()
        sent, received, late_cancels = [], [], 0
        for i in range(300):
            t = asyncio.ensure_future(ch.asend(i))
            await parked(ch, senders=1)
            go, taking = threading.Event(), threading.Event()
            seed = rng.random()

            def receiver(seed=seed):
                import random

                go.wait(WAIT_TIMEOUT)
                race_pause(random.Random(seed))
                taking.set()
                try:
                    return [ch.recv(timeout=0)]
                except TimeoutError:
                    return []

            th = start(receiver)
            go.set()
            race_pause(rng)
            t.cancel()
            late = not taking.is_set()
            late_cancels += late
            race_pause(rng)
            join_all([th])
            received.extend(th.result)
            try:
                await t
            except asyncio.CancelledError:
                pass
            else:
                sent.append(i)
                assert not late, f"round {i}: a receive begun after cancel() took the value"
        assert collections.Counter(received) == collections.Counter(sent)
        print(f"late cancels: {late_cancels}, sent by the task: {len(sent)}")

    run(main)


def test_cancelled_consumers_during_a_threaded_producer_storm(rng):
    n_producers, per_producer, n_consumers = 3, 10000, 6
    ch = gc.Channel(4)
    received, after_cancel = [], collections.Counter()
    cancel_returned = set()

    def producer(base):
        for k in range(per_producer):
            ch.send(base + k, timeout=WAIT_TIMEOUT)

    async def consumer(me):
        async for v in ch:
            received.append(v)  # recorded where it was received
            if me in cancel_returned:
                after_cancel[me] += 1
            if v % 3 == 0:
                await asyncio.sleep(0)

    async def main():
        threads = [start(producer, p * per_producer) for p in range(n_producers)]
        ids = iter(range(10**9))
        tasks = {}
        for _ in range(n_consumers):
            me = next(ids)
            tasks[me] = asyncio.ensure_future(consumer(me))
        cancelled = []
        while any(th.is_alive() for th in threads):
            await asyncio.sleep(rng.uniform(0, 0.0005))
            me = rng.choice(list(tasks))
            tasks[me].cancel()
            cancel_returned.add(me)
            cancelled.append(tasks.pop(me))
            me = next(ids)
            tasks[me] = asyncio.ensure_future(consumer(me))
        join_all(threads)
        for me, t in tasks.items():
            t.cancel()
            cancel_returned.add(me)
            cancelled.append(t)
        done, pending = await asyncio.wait(cancelled, timeout=WAIT_TIMEOUT)
        assert not pending, f"{len(pending)} cancelled consumers never ended"
        assert all(t.cancelled() for t in done)
        await asyncio.sleep(0)
        assert gc.aio_stats()["parked"] == 0
        return len(cancelled)

    n_cancelled = run(main)
    left = drain(ch)
    sent = [v for v in range(n_producers * per_producer)]
    assert collections.Counter(received + left) == collections.Counter(sent)
    # at most the one hand-off that had committed before cancel() was called
    assert all(n <= 1 for n in after_cancel.values()), after_cancel
    print(f"cancelled {n_cancelled} consumers, {len(left)} values left in the channel")
