"""gc.testing.leaked(), parked(), check_no_leaks() and track_thread_starts():
which threads parked in pygochan nothing outside the parked threads can wake."""
import threading
import time
import types
import warnings
import weakref

import pytest

import pygochan as gc
from conftest import FREE_THREADED, JOIN_TIMEOUT, join_all, run_python, start, wait_for

pytestmark = pytest.mark.skipif(
    FREE_THREADED, reason="without a GIL blocked() leaves a wait's objects out, so no wait can be judged")


def names(reports, threads):
    """The names of the reported threads among ``threads`` (other tests'
    threads may be parked too)."""
    mine = {t.ident for t in threads}
    return sorted(p.name for p in reports if p.ident in mine)


def parked_now(threads):
    mine = {t.ident for t in threads}
    return {w.ident for w in gc.blocked()} >= mine


def recv_forever(ch):
    try:
        ch.recv()
    except gc.ChannelClosed:
        pass


def named(fn, name, *args):
    t = threading.Thread(target=fn, args=args, name=name, daemon=True)
    t.start()
    return t


def release(*refs):
    """Close the channels the weak references still find, ending the
    threads parked on them."""
    for ref in refs:
        ch = ref()
        if ch is not None and not ch.closed:
            ch.close()


def test_a_thread_parked_on_a_dropped_channel_is_leaked():
    with gc.testing.track_thread_starts():
        ch = gc.Channel()
        t = named(recv_forever, "lost-receiver", ch)
    ref = weakref.ref(ch)
    del ch
    wait_for(lambda: parked_now([t]))
    try:
        reports = [p for p in gc.testing.leaked() if p.ident == t.ident]
        assert len(reports) == 1
        p = reports[0]
        assert p.thread is t and p.name == "lost-receiver" and p.leaked
        assert p.operation == "recv"
        assert p.objects[0].startswith("<pygochan.Channel")
        assert p.blocked_at[-1].name == "recv_forever"
        assert p.started_at is not None
        assert p.started_at[-1].name == "named"
        assert any(f.name == "test_a_thread_parked_on_a_dropped_channel_is_leaked" for f in p.started_at)
        text = str(p)
        for part in ("lost-receiver", "recv on <pygochan.Channel", "blocked at:", "started at:",
                     "in recv_forever", "ch.recv()", "t.start()", "leaked"):
            assert part in text
    finally:
        release(ref)
        join_all([t])


def test_the_analysis_survives_asyncio_having_run():
    """Once asyncio has iterated futures, _asyncio keeps freed FutureIters
    on a free list that its traversal visits on CPython 3.12.0-3.12.5: an
    analysis that took the module's referents freed them again, which hung
    or crashed the next one.  In a fresh interpreter, as a crash is the
    failure."""
    returncode, out, err = run_python("""
        import asyncio, threading, time
        import pygochan as gc

        async def main():
            loop = asyncio.get_running_loop()
            for _ in range(50):
                fut = loop.create_future()
                loop.call_soon(fut.set_result, None)
                await fut  # iterates the future: a FutureIter, freed after
        asyncio.run(main())

        ch = gc.Channel()
        t = threading.Thread(target=ch.recv, daemon=True)
        t.start()
        while not any(w[0] == t.ident for w in gc._core._blocked()):
            time.sleep(0.001)
        del ch
        for _ in range(20):
            assert [p.ident for p in gc.testing.leaked()] == [t.ident]
        print("ok")
        """, timeout=60)
    assert returncode == 0 and out == ["ok"], err


def _suspended_holders(ch):
    """A generator, a coroutine and an async generator, each suspended inside
    a with block with ch in a local."""
    def generator(held):
        with warnings.catch_warnings():
            yield held

    class Pause:
        def __await__(self):
            yield

    async def coroutine(held):
        with warnings.catch_warnings():
            await Pause()

    async def async_generator(held):
        with warnings.catch_warnings():
            yield held

    gen = generator(ch)
    next(gen)
    coro = coroutine(ch)
    coro.send(None)
    agen = async_generator(ch)
    with pytest.raises(StopIteration):
        agen.asend(None).send(None)
    return [gen, coro, agen]


def _close(holder):
    if isinstance(holder, types.AsyncGeneratorType):
        with pytest.raises(StopIteration):
            holder.aclose().send(None)
    else:
        holder.close()


@pytest.mark.parametrize("kind", ["generator", "coroutine", "async generator"])
def test_a_channel_held_only_by_a_suspended_generator_is_reachable(kind):
    ch = gc.Channel()
    t = named(recv_forever, f"held-by-a-suspended-{kind}", ch)
    ref = weakref.ref(ch)
    holders = _suspended_holders(ch)
    holder = holders[["generator", "coroutine", "async generator"].index(kind)]
    for other in holders:
        if other is not holder:
            _close(other)
    del ch, holders, other
    wait_for(lambda: parked_now([t]))
    try:
        assert names(gc.testing.leaked(), [t]) == []
        _close(holder)  # its locals go: nothing outside the thread holds ch now
        assert names(gc.testing.leaked(), [t]) == [t.name]
    finally:
        release(ref)
        join_all([t])


def test_a_thread_parked_on_a_channel_the_test_holds_is_not_leaked():
    ch = gc.Channel()
    t = named(recv_forever, "held-receiver", ch)
    wait_for(lambda: parked_now([t]))
    try:
        assert names(gc.testing.leaked(), [t]) == []
        (p,) = [p for p in gc.testing.parked() if p.ident == t.ident]
        assert not p.leaked and "something alive could still wake it" in str(p)
        assert p.started_at is None and "started at: unknown" in str(p)
    finally:
        ch.close()
        join_all([t])


def test_a_channel_held_by_a_running_thread_keeps_its_waiter_reachable():
    stop = threading.Event()

    def holder(ch):
        while not stop.wait(0.01):  # running, not parked in pygochan
            pass
        ch.close()

    ch = gc.Channel()
    t = named(recv_forever, "receiver", ch)
    h = start(holder, ch)
    ref = weakref.ref(ch)
    del ch
    wait_for(lambda: parked_now([t]))
    try:
        assert names(gc.testing.leaked(), [t]) == []
    finally:
        stop.set()
        join_all([h, t])
    assert ref() is None or ref().closed


def test_two_threads_parked_on_each_others_channels_are_both_leaked():
    def recv_then_send(mine, theirs):
        try:
            mine.recv()
            theirs.send(1)
        except gc.ChannelClosed:
            pass

    a, b = gc.Channel(), gc.Channel()
    ta = named(recv_then_send, "a", a, b)
    tb = named(recv_then_send, "b", b, a)
    refs = weakref.ref(a), weakref.ref(b)
    del a, b
    wait_for(lambda: parked_now([ta, tb]))
    try:
        assert names(gc.testing.leaked(), [ta, tb]) == ["a", "b"]
    finally:
        release(*refs)
        join_all([ta, tb])


def test_a_channel_reachable_only_from_a_leaked_thread_leaks_its_waiter():
    def first(mine, keeps):
        try:
            mine.recv()
        except gc.ChannelClosed:
            pass
        del keeps

    outer, inner = gc.Channel(), gc.Channel()
    t1 = named(first, "holder", outer, inner)
    t2 = named(recv_forever, "waiter", inner)
    refs = weakref.ref(outer), weakref.ref(inner)
    del outer, inner
    wait_for(lambda: parked_now([t1, t2]))
    try:
        assert names(gc.testing.leaked(), [t1, t2]) == ["holder", "waiter"]
    finally:
        release(*refs)
        join_all([t1, t2])


def test_a_channel_reachable_from_a_wakeable_parked_thread_keeps_its_waiter():
    # the fixpoint the other way: the holder can be woken (the test holds
    # its channel), so what its stack holds can still be used
    def first(mine, keeps):
        try:
            mine.recv()
        except gc.ChannelClosed:
            pass
        keeps.close()

    outer, inner = gc.Channel(), gc.Channel()
    t1 = named(first, "holder", outer, inner)
    t2 = named(recv_forever, "waiter", inner)
    del inner
    wait_for(lambda: parked_now([t1, t2]))
    try:
        assert names(gc.testing.leaked(), [t1, t2]) == []
    finally:
        outer.close()
        join_all([t1, t2])


def test_a_chain_of_leaked_threads_is_leaked_from_end_to_end(rng):
    # thread k waits on channel k and holds channel k+1; the test holds
    # channel `cut` or none: the threads before the cut are leaked, the
    # others reachable
    n = 8
    cut = rng.randrange(n + 1)

    def link(mine, nxt):
        try:
            mine.recv()
        except gc.ChannelClosed:
            pass
        if nxt is not None:
            try:
                nxt.close()
            except gc.ChannelClosed:  # the test closed it first
                pass

    channels = [gc.Channel() for _ in range(n)]
    threads = [named(link, f"link-{k}", channels[k], channels[k + 1] if k + 1 < n else None)
               for k in range(n)]
    head = weakref.ref(channels[0])
    held = channels[cut] if cut < n else None
    del channels
    wait_for(lambda: parked_now(threads))
    try:
        assert names(gc.testing.leaked(), threads) == sorted(f"link-{k}" for k in range(cut))
    finally:
        release(head)
        if held is not None and not held.closed:
            held.close()
        join_all(threads)


def test_a_select_leaks_only_when_every_case_is_out_of_reach():
    def pick(a, b):
        try:
            gc.select(gc.recv(a), gc.recv(b), gc.recv(None))
        except gc.ChannelClosed:
            pass

    a, held = gc.Channel(), gc.Channel()
    t1 = named(pick, "one-case-held", a, held)
    c, d = gc.Channel(), gc.Channel()
    t2 = named(pick, "all-dropped", c, d)
    refs = weakref.ref(a), weakref.ref(c)
    del a, c, d
    wait_for(lambda: parked_now([t1, t2]))
    try:
        reports = gc.testing.leaked()
        assert names(reports, [t1, t2]) == ["all-dropped"]
        (p,) = [p for p in reports if p.ident == t2.ident]
        assert p.operation == "select" and len(p.objects) == 3
    finally:
        held.close()
        release(*refs)
        join_all([t1, t2])


def test_waits_that_end_by_themselves_are_not_leaked():
    # nothing holds these channels, but a timeout, a timer or a deadline ends each wait
    def timed():
        try:
            gc.Channel().recv(timeout=1.0)
        except TimeoutError:
            pass

    def on_timer():
        gc.select(gc.recv(gc.Channel()), gc.recv(gc.after(1.0)))

    def on_deadline():
        ctx, cancel = gc.with_timeout(gc.background(), 1.0)
        try:
            gc.Channel().recv(ctx=ctx)
        except gc.DeadlineExceeded:
            pass

    def on_deadline_done_channel():
        with gc.with_timeout(gc.background(), 1.0) as ctx:
            gc.select(gc.recv(gc.Channel()), gc.recv(ctx.done()))

    def on_parent_deadline():
        parent, cancel = gc.with_timeout(gc.background(), 1.0)
        child = gc.with_cancel(parent).ctx
        del parent, cancel
        gc.select(gc.recv(gc.Channel()), gc.recv(child.done()))

    threads = [named(timed, "timed"), named(on_timer, "timer"), named(on_deadline, "deadline"),
               named(on_deadline_done_channel, "done-deadline"), named(on_parent_deadline, "parent")]
    wait_for(lambda: parked_now(threads) or not all(t.is_alive() for t in threads))
    try:
        assert names(gc.testing.leaked(), threads) == []
    finally:
        join_all(threads)


def test_a_dropped_timer_channel_with_no_timeout_is_leaked():
    def on_stopped_timer(c):
        gc.select(gc.recv(c), gc.recv(closing))

    closing = gc.Channel()
    timer = gc.Timer(60)
    timer.stop()
    t = named(on_stopped_timer, "stopped-timer", timer.c)
    closing_ref = weakref.ref(closing)
    del timer, closing
    wait_for(lambda: parked_now([t]))
    try:
        assert names(gc.testing.leaked(), [t]) == ["stopped-timer"]
    finally:
        release(closing_ref)
        t.join(JOIN_TIMEOUT)


def test_a_context_the_test_can_cancel_keeps_its_waiter():
    def on_ctx(ctx):
        try:
            gc.Channel().recv(ctx=ctx)
        except gc.Canceled:
            pass

    def on_done_channel(ctx):
        gc.select(gc.recv(gc.Channel()), gc.recv(ctx.done()))

    parent, cancel = gc.with_cancel(gc.background())
    t1 = named(on_ctx, "ctx-arg", gc.with_cancel(parent).ctx)
    t2 = named(on_done_channel, "done-channel", gc.with_cancel(parent).ctx)
    wait_for(lambda: parked_now([t1, t2]))
    try:
        assert names(gc.testing.leaked(), [t1, t2]) == []
    finally:
        cancel()
        join_all([t1, t2])


def test_a_context_nobody_can_cancel_leaks_its_waiter():
    ctx, cancel = gc.with_cancel(gc.background())
    ch = gc.Channel()
    t = named(recv_forever_with, "ctx-arg", ch, ctx)
    ch_ref = weakref.ref(ch)
    del ch, ctx, cancel
    wait_for(lambda: parked_now([t]))
    try:
        (p,) = [p for p in gc.testing.leaked() if p.ident == t.ident]
        assert any(o.startswith("ctx=<pygochan.Context") for o in p.objects)
    finally:
        release(ch_ref)
        join_all([t])


def recv_forever_with(ch, ctx):
    try:
        ch.recv(ctx=ctx)
    except gc.ChannelClosed:
        pass


def test_other_waits_follow_their_objects():
    wg, dropped_wg = gc.WaitGroup(), gc.WaitGroup()
    wg.add(1)
    dropped_wg.add(1)
    fut = gc.Future()
    t1 = named(lambda w: w.wait(), "wg-held", wg)
    t2 = named(lambda w: w.wait(), "wg-dropped", dropped_wg)
    t3 = named(lambda f: f.result(), "future-held", fut)
    wg_ref = weakref.ref(dropped_wg)
    del dropped_wg
    wait_for(lambda: parked_now([t1, t2, t3]))
    try:
        assert names(gc.testing.leaked(), [t1, t2, t3]) == ["wg-dropped"]
    finally:
        wg.done()
        wg_ref().done()
        fut.set_result(1)
        join_all([t1, t2, t3])


def test_views_and_semaphores_follow_what_they_view_and_guard():
    def acquire(sem):
        sem.acquire()
        sem.release()

    def select_on(view):
        try:
            gc.select(gc.recv(view))
        except gc.ChannelClosed:
            pass

    held_sem, dropped_sem = gc.Semaphore(1), gc.Semaphore(1)
    held_sem.acquire()
    dropped_sem.acquire()
    held_ch, dropped_ch = gc.Channel(), gc.Channel()
    threads = [named(acquire, "sem-held", held_sem), named(acquire, "sem-dropped", dropped_sem),
               named(select_on, "view-held", held_ch.recv_only()),
               named(select_on, "view-dropped", dropped_ch.recv_only())]
    sem_ref, ch_ref = weakref.ref(dropped_sem), weakref.ref(dropped_ch)
    del dropped_sem, dropped_ch
    wait_for(lambda: parked_now(threads))
    try:
        assert names(gc.testing.leaked(), threads) == ["sem-dropped", "view-dropped"]
    finally:
        held_sem.release()
        sem_ref().release()
        held_ch.close()
        release(ch_ref)
        join_all(threads)


def test_idle_pool_workers_are_neither_parked_nor_leaked():
    pool = gc.Pool(max_workers=2)
    try:
        assert pool.submit(lambda: 1).result(timeout=JOIN_TIMEOUT) == 1
        wait_for(lambda: pool.idle >= 1)
        workers = list(pool._threads)
        assert names(gc.testing.parked(), workers) == []
    finally:
        pool.shutdown()


def test_a_pool_task_parked_on_a_dropped_channel_is_leaked():
    pool = gc.Pool(max_workers=1)
    try:
        ch = gc.Channel()
        fut = pool.submit(recv_forever, ch)
        ref = weakref.ref(ch)
        del ch
        wait_for(lambda: len(pool._threads) == 1 and parked_now(list(pool._threads)))
        workers = list(pool._threads)
        assert len(names(gc.testing.leaked(), workers)) == 1
        release(ref)
        fut.result(timeout=JOIN_TIMEOUT)
    finally:
        pool.shutdown()


@pytest.mark.parametrize("task_leaks", [False, True])
def test_a_blocked_submit_follows_the_pools_workers(task_leaks):
    # the pool's worker holds its queue, never the Pool: a submit blocked on
    # a full queue is woken by the worker taking the next job, unless that
    # worker itself is parked for good
    release_task = gc.Channel()
    pool = gc.Pool(max_workers=1, queue_size=1)
    if task_leaks:
        task_channel = gc.Channel()
        running = pool.submit(recv_forever, task_channel)
        task_ref = weakref.ref(task_channel)
        del task_channel
    else:
        running = pool.submit(recv_forever, release_task)
    pool.submit(lambda: None)  # fills the queue
    t = named(lambda p: p.submit(lambda: None), "submitter", pool)
    workers = list(pool._threads)
    pool_ref = weakref.ref(pool)
    del pool
    wait_for(lambda: parked_now([t, *workers]))
    try:
        expected = ["submitter", workers[0].name] if task_leaks else []
        assert names(gc.testing.leaked(), [t, *workers]) == sorted(expected)
    finally:
        release_task.close()
        if task_leaks:
            release(task_ref)
        running.result(timeout=JOIN_TIMEOUT)
        join_all([t])
        pool = pool_ref()
        if pool is not None:  # (a dropped Pool shuts down by itself)
            pool.shutdown()


def test_many_threads_exactly_the_dropped_ones_are_leaked(rng):
    kept, threads, refs, expected = [], [], [], []
    for k in range(24):
        ch = gc.Channel(rng.choice([0, 1]))
        if ch.capacity:
            ch.send("full")  # a sender then waits on a full buffer
            t = named(lambda c: c.send(1), f"t{k:02}", ch)
        else:
            t = named(recv_forever, f"t{k:02}", ch)
        threads.append(t)
        refs.append(weakref.ref(ch))
        if rng.random() < 0.5:
            kept.append(ch)
        else:
            expected.append(t.name)
        del ch
    wait_for(lambda: parked_now(threads))
    try:
        assert names(gc.testing.leaked(), threads) == sorted(expected)
    finally:
        for ref in refs:
            ch = ref()
            if ch is not None:
                while len(ch):
                    ch.recv()
                release(ref)
        for t in threads:
            t.join(JOIN_TIMEOUT)


def test_check_no_leaks_waits_for_threads_that_finish_in_time():
    got = []

    def late_sender(ch):
        time.sleep(0.2)  # running, not parked: the receiver can be woken
        ch.send("late")

    def receiver(ch):
        got.append(ch.recv())

    ch = gc.Channel()
    r = named(receiver, "receiver", ch)
    s = start(late_sender, ch)
    del ch
    gc.testing.check_no_leaks(timeout=JOIN_TIMEOUT)
    assert got == ["late"]
    join_all([r, s])


def test_check_no_leaks_raises_with_the_report():
    with gc.testing.track_thread_starts():
        ch = gc.Channel()
        t = named(recv_forever, "lost", ch)
    ref = weakref.ref(ch)
    del ch
    try:
        with pytest.raises(gc.testing.LeakError) as info:
            gc.testing.check_no_leaks(timeout=JOIN_TIMEOUT)  # raises as soon as it is sure
        assert isinstance(info.value, AssertionError)
        assert t.ident in {p.ident for p in info.value.threads}
        message = str(info.value)
        assert "leaked" in message and "'lost'" in message and "started at:" in message
    finally:
        release(ref)
        join_all([t])


def test_check_no_leaks_passes_while_parked_threads_can_still_be_woken():
    ch = gc.Channel()
    t = named(recv_forever, "held", ch)
    wait_for(lambda: parked_now([t]))
    try:
        gc.testing.check_no_leaks(timeout=0.05)
    finally:
        ch.close()
        join_all([t])


@pytest.mark.parametrize("timeout, error", [(-1, ValueError), (float("nan"), ValueError),
                                            ("1", TypeError), (None, TypeError), (True, TypeError)])
def test_check_no_leaks_rejects_a_bad_timeout(timeout, error):
    with pytest.raises(error):
        gc.testing.check_no_leaks(timeout=timeout)


def test_track_thread_starts_costs_nothing_outside_its_blocks():
    original = threading.Thread.start
    with gc.testing.track_thread_starts():
        assert threading.Thread.start is not original
        with gc.testing.track_thread_starts():
            pass
        assert threading.Thread.start is not original
        t = named(lambda: None, "tracked")
    assert threading.Thread.start is original
    u = named(lambda: None, "untracked")
    join_all([t, u])
    assert gc.testing.started_at(t)[-1].name == "named"
    assert gc.testing.started_at(u) is None


def test_track_thread_starts_from_many_threads_at_once():
    original = threading.Thread.start
    barrier = threading.Barrier(8)

    def enter_and_leave():
        for _ in range(20):
            with gc.testing.track_thread_starts():
                barrier.wait(JOIN_TIMEOUT) if _ == 0 else None
                named(lambda: None, "inner").join(JOIN_TIMEOUT)

    join_all([start(enter_and_leave) for _ in range(8)])
    assert threading.Thread.start is original


def test_track_thread_starts_under_another_start_wrapper():
    # Something else wraps Thread.start while a block is active and keeps
    # its wrapper (a bubble does): leaving the block must not take that
    # wrapper out, and later blocks still record.
    original = threading.Thread.start
    calls = []
    try:
        with gc.testing.track_thread_starts():
            below = threading.Thread.start

            def wrapper(self):
                calls.append(self.name)
                below(self)

            threading.Thread.start = wrapper
            t1 = named(lambda: None, "first")
        assert threading.Thread.start is wrapper
        t2 = named(lambda: None, "untracked")
        with gc.testing.track_thread_starts():
            assert threading.Thread.start is wrapper
            t3 = named(lambda: None, "again")
        join_all([t1, t2, t3])
        assert calls == ["first", "untracked", "again"]
        assert gc.testing.started_at(t1) is not None and gc.testing.started_at(t3) is not None
        assert gc.testing.started_at(t2) is None
    finally:
        threading.Thread.start = below  # the other wrapper leaves: the chain is ours again
        with gc.testing.track_thread_starts():
            pass
        assert threading.Thread.start is original
