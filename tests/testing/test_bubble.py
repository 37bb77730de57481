"""gc.testing.bubble: virtual time for the threads of a bubble (Go's
testing/synctest).  Every test here runs in virtual time: a test that waited
for real would take hours; none asserts a wall-clock time."""
import asyncio
import random
import concurrent.futures
import threading
import time

import pytest

import pygochan as gc
from conftest import assert_interrupted, fails_if_stuck, join_all, needs_kill_signal, run_child, start


@pytest.fixture(autouse=True)
def no_hang():
    with fails_if_stuck(20):
        yield


# ---- the clock ----------------------------------------------------------------

def test_the_clock_starts_at_the_real_monotonic_time_of_entry():
    before = time.monotonic()
    with gc.testing.bubble() as b:
        start_ = b.now()
        inside = gc._core._monotonic()
    after = time.monotonic()
    # rounded down to a whole 512th of a second (see the next test)
    assert before - 1 / 512 <= start_ <= after
    assert inside == start_  # nothing blocked: time stood still


def test_differences_of_virtual_times_are_exact():
    # The clock starts on a whole 512th of a second, so start + 3600 (or
    # + 0.5, + 60.75) is an exact float whatever the machine's uptime:
    # `b.now() - start == 3600` must hold, not just nearly.
    for seconds in (3600, 0.5, 60.75, 86400 * 365):
        with gc.testing.bubble() as b:
            start = b.now()
            assert (start * 512).is_integer()
            gc.sleep(seconds)
            assert b.now() - start == seconds
            assert gc._core._monotonic() == start + seconds


def test_sleep_jumps_straight_to_its_end():
    with gc.testing.bubble() as b:
        t0 = b.now()
        gc.sleep(3600)
        assert b.now() == t0 + 3600
        gc.sleep(0.5)
        assert b.now() == t0 + 3600.5


def test_timeouts_of_every_blocking_call_are_virtual():
    with gc.testing.bubble() as b:
        t0 = b.now()
        ch = gc.Channel()
        with pytest.raises(TimeoutError):
            ch.recv(timeout=10)
        assert b.now() == t0 + 10
        full = gc.Channel(1)
        full.send(1)
        with pytest.raises(TimeoutError):
            full.send(2, timeout=5)
        assert b.now() == t0 + 15
        with pytest.raises(TimeoutError):
            gc.select(gc.recv(ch), gc.send(full, 3), timeout=7)
        assert b.now() == t0 + 22
        wg = gc.WaitGroup()
        wg.add(1)
        with pytest.raises(TimeoutError):
            wg.wait(timeout=8)
        assert b.now() == t0 + 30
        wg.done()
        sem = gc.Semaphore(1)
        sem.acquire()
        with pytest.raises(TimeoutError):
            sem.acquire(timeout=2)
        assert b.now() == t0 + 32


def test_after_timer_and_ticker_run_on_the_virtual_clock():
    with gc.testing.bubble() as b:
        t0 = b.now()
        fired = gc.after(60).recv()
        assert fired == t0 + 60  # the value is the virtual fire time
        timer = gc.Timer(5)
        assert timer.c.recv() == t0 + 65
        timer.reset(10)
        assert timer.stop() is True
        with pytest.raises(TimeoutError):
            timer.c.recv(timeout=20)  # stopped: never fires
        assert b.now() == t0 + 85
        ticker = gc.Ticker(2)
        ticks = [ticker.c.recv() - t0 for _ in range(5)]
        ticker.stop()
        assert ticks == [87, 89, 91, 93, 95]


def test_a_slow_ticker_reader_loses_ticks_as_in_go():
    with gc.testing.bubble() as b:
        t0 = b.now()
        ticker = gc.Ticker(1)
        gc.sleep(10.5)  # ticks at 1..10: the channel keeps the first one
        assert ticker.c.recv() == t0 + 1
        assert ticker.c.recv() == t0 + 11
        ticker.stop()


def test_a_ticker_nobody_reads_does_not_keep_time_running_forever():
    # Every thread blocked, only a full ticker channel pending: deadlock,
    # not an endless loop of dropped ticks.
    with gc.testing.bubble():
        ticker = gc.Ticker(1)
        gc.sleep(1.5)
        with pytest.raises(gc.Deadlock):
            gc.Channel().recv()
        ticker.stop()


def test_contexts_deadlines_are_virtual():
    with gc.testing.bubble() as b:
        t0 = b.now()
        with gc.with_timeout(gc.background(), 30) as ctx:
            assert ctx.deadline() == t0 + 30
            with pytest.raises(gc.DeadlineExceeded):
                gc.Channel().recv(ctx=ctx)
        assert b.now() == t0 + 30
        ctx, cancel = gc.with_deadline(gc.background(), b.now() + 5)
        ctx.wait()
        assert isinstance(ctx.err(), gc.DeadlineExceeded)
        assert b.now() == t0 + 35
        cancel()
        # children never outlive their parent's deadline
        with gc.with_timeout(gc.background(), 100) as parent:
            with gc.with_timeout(parent, 1000) as child:
                child.wait()
        assert b.now() == t0 + 135


def test_after_func_runs_at_its_virtual_time_on_a_thread_of_the_bubble():
    with gc.testing.bubble() as b:
        t0 = b.now()
        ran = []
        gc.after_func(7, lambda: ran.append((b.now() - t0, gc.testing.current() is b)))
        stopped = gc.after_func(8, lambda: ran.append("stopped one ran"))
        assert stopped.stop() is True
        gc.sleep(10)
        assert ran == [(7, True)]


def test_pool_futures_and_idle_timeouts_are_virtual():
    with gc.testing.bubble() as b:
        t0 = b.now()
        with gc.Pool(max_workers=4, idle_timeout=30) as pool:
            futs = [pool.submit(lambda i=i: (gc.sleep(i), b.now() - t0)[1]) for i in range(1, 5)]
            assert [f.result() for f in futs] == [1, 2, 3, 4]
            gc.sleep(60)  # past the idle timeout: the workers have ended
            assert pool.running == 0 or pool.idle == 0
        assert b.now() == t0 + 64


# ---- who belongs ----------------------------------------------------------------

def test_threads_started_inside_belong_to_the_bubble():
    with gc.testing.bubble() as b:
        assert gc.testing.current() is b
        seen = []

        def member():
            seen.append(gc.testing.current() is b)
            gc.sleep(5)

        threads = [threading.Thread(target=member) for _ in range(3)]
        for t in threads:
            t.start()
        assert b.members >= 1
        wg = gc.WaitGroup()
        wg.go(member)
        with gc.ErrGroup() as g:
            g.go(member)
        wg.wait()
        for t in threads:
            t.join()
        assert seen == [True] * 5
    assert gc.testing.current() is None
    assert b.members == 0


def test_a_thread_started_by_a_bubble_thread_belongs_too():
    with gc.testing.bubble() as b:
        t0 = b.now()
        out = []

        def grandchild():
            gc.sleep(3)
            out.append(b.now() - t0)

        def child():
            t = threading.Thread(target=grandchild)
            t.start()
            gc.sleep(1)
            out.append(b.now() - t0)

        threading.Thread(target=child).start()
    assert out == [1, 3]


def test_threads_outside_keep_real_time():
    results = []

    def outside():
        results.append(gc.testing.current())
        t = time.monotonic()
        gc.sleep(0.01)
        results.append(time.monotonic() - t >= 0.01)

    with gc.testing.bubble():
        t = threading.Thread(target=outside)  # made inside, started outside
    t.start()
    t.join()
    assert results == [None, True]


def test_leaving_waits_for_the_bubbles_threads():
    done = []
    with gc.testing.bubble() as b:
        t0 = b.now()

        def late():
            gc.sleep(1000)
            done.append(b.now() - t0)

        for _ in range(4):
            threading.Thread(target=late).start()
    assert done == [1000] * 4


# ---- when time moves ---------------------------------------------------------------

def test_a_thread_running_python_code_holds_time_still():
    with gc.testing.bubble():
        state = []

        def busy():
            n = 0
            for i in range(200_000):
                n += i
            state.append("busy done")

        threading.Thread(target=busy).start()
        gc.sleep(1)  # cannot end before busy() is done
        state.append("slept")
    assert state == ["busy done", "slept"]


def test_a_thread_in_time_sleep_or_a_lock_holds_time_still():
    with gc.testing.bubble():
        state = []
        lock = threading.Lock()
        lock.acquire()

        def real_sleeper():
            time.sleep(0.05)  # real: not pygochan
            state.append("real sleep done")

        def locked():
            with lock:
                state.append("lock taken")

        threading.Thread(target=real_sleeper).start()
        gc.sleep(0.001)  # cannot end before real_sleeper has
        state.append("slept")
        threading.Thread(target=locked).start()
        # a real timer thread (itself in the bubble: its wait is real too)
        threading.Timer(0.05, lock.release).start()
        gc.sleep(0.001)  # cannot end while locked() waits for the lock
        state.append("slept again")
    assert state == ["real sleep done", "slept", "lock taken", "slept again"]


def test_wait_returns_once_the_others_are_durably_blocked():
    with gc.testing.bubble() as b:
        t0 = b.now()
        ch = gc.Channel()
        got = []

        def receiver():
            got.append(ch.recv())

        threading.Thread(target=receiver).start()
        b.wait()
        assert got == [] and b.now() == t0
        ch.send("x")
        b.wait()
        assert got == ["x"]


def test_wait_does_not_move_time():
    with gc.testing.bubble() as b:
        t0 = b.now()
        flags = []
        threading.Thread(target=lambda: (gc.sleep(5), flags.append(1))).start()
        b.wait()
        assert flags == [] and b.now() == t0
        gc.sleep(5)
        b.wait()
        assert flags == [1]


def test_wait_from_outside_the_bubble_raises():
    with gc.testing.bubble() as b:
        pass
    with pytest.raises(RuntimeError):
        b.wait()


def test_many_threads_with_timeouts_retries_and_tickers_agree_on_the_clock(rng):
    with gc.testing.bubble() as b:
        t0 = b.now()
        errors = []
        delays = [rng.uniform(0.1, 50) for _ in range(8)]

        def worker(delay):
            deadline = b.now() + delay
            gc.sleep(delay)
            if abs(b.now() - deadline) > 1e-6:
                errors.append((delay, b.now() - deadline))

        for d in delays:
            threading.Thread(target=worker, args=(d,)).start()
    assert errors == []
    assert b.now() == pytest.approx(t0 + max(delays))


# ---- deadlock ------------------------------------------------------------------

def test_all_blocked_with_nothing_pending_is_a_deadlock_at_once():
    with gc.testing.bubble():
        ch = gc.Channel()
        with pytest.raises(gc.Deadlock) as info:
            ch.recv()
    message = str(info.value)
    assert "deadlock" in message and "recv" in message and "MainThread" in message


def test_deadlock_names_every_waiting_thread_and_reaches_each_of_them():
    raised = []
    with pytest.raises(gc.Deadlock) as info:
        with gc.testing.bubble():
            ch = gc.Channel()

            def stuck():
                try:
                    ch.send(1)
                except gc.Deadlock as e:
                    raised.append(str(e))

            threading.Thread(target=stuck, name="stuck-sender").start()
    assert "stuck-sender" in str(info.value) and "send" in str(info.value)
    assert len(raised) == 1 and "stuck-sender" in raised[0]


def test_leaving_with_threads_that_can_never_end_raises_deadlock():
    with pytest.raises(gc.Deadlock):
        with gc.testing.bubble():
            wg = gc.WaitGroup()
            wg.add(1)
            threading.Thread(target=lambda: pytest.raises(gc.Deadlock, wg.wait)).start()


def test_a_wait_on_a_channel_made_outside_is_not_durable():
    outside = gc.Channel()
    t = threading.Thread(target=lambda: (time.sleep(0.05), outside.send("hi")))
    t.start()
    with gc.testing.bubble() as b:
        t0 = b.now()
        assert outside.recv() == "hi"  # no Deadlock: something outside may send
        assert b.now() == t0
    t.join()


def test_a_non_durable_wait_holds_time_still_even_with_a_timeout():
    outside = gc.Channel()
    sender = threading.Thread(target=lambda: (time.sleep(0.05), outside.send("hi")))
    sender.start()
    with gc.testing.bubble() as b:
        t0 = b.now()
        slept = []
        threading.Thread(target=lambda: (gc.sleep(10), slept.append(1))).start()
        assert outside.recv(timeout=3) == "hi"  # not a TimeoutError
        assert b.now() == t0 and slept == []
    assert slept == [1]
    sender.join()


# ---- rules ---------------------------------------------------------------------

def test_bubbles_do_not_nest():
    with gc.testing.bubble():
        with pytest.raises(RuntimeError, match="nest"):
            with gc.testing.bubble():
                pass


def test_awaiting_pygochan_in_a_bubble_raises_a_clear_error():
    async def main():
        return await gc.Channel(1).arecv(timeout=1)

    with gc.testing.bubble():
        with pytest.raises(RuntimeError, match="bubble"):
            asyncio.run(main())


def test_bad_arguments():
    with pytest.raises(TypeError):
        gc.testing.bubble(patch_time=1)
    with pytest.raises(TypeError):
        gc.testing.bubble(True)


def test_an_exception_inside_propagates_after_the_threads_end():
    done = []
    with pytest.raises(KeyError):
        with gc.testing.bubble():
            threading.Thread(target=lambda: (gc.sleep(5), done.append(1))).start()
            raise KeyError("x")
    assert done == [1]


def test_pending_timers_are_stopped_when_the_bubble_ends():
    with gc.testing.bubble():
        timer = gc.Timer(1000)
        ticker = gc.Ticker(1)
    assert gc.select(gc.recv(timer.c), gc.recv(ticker.c), default=True).index == -1
    assert timer.stop() is False  # it will never fire
    ticker.stop()


def test_bubbles_in_several_threads_at_once_keep_their_own_clocks():
    results = {}

    def run(name, seconds):
        with gc.testing.bubble() as b:
            t0 = b.now()
            for _ in range(20):
                gc.sleep(seconds)
            results[name] = b.now() - t0

    threads = [start(run, i, i + 1) for i in range(4)]
    join_all(threads)
    assert results == {i: 20 * (i + 1) for i in range(4)}


# ---- patch_time ----------------------------------------------------------------

def test_patch_time_makes_the_time_module_virtual_in_the_bubble():
    real_sleep = time.sleep
    with gc.testing.bubble(patch_time=True) as b:
        m0, w0 = time.monotonic(), time.time()
        time.sleep(100)
        assert time.monotonic() - m0 == pytest.approx(100)
        assert time.time() - w0 == pytest.approx(100)
        assert time.monotonic_ns() == pytest.approx(b.now() * 1e9, abs=1e3)
        out = []
        t = threading.Thread(target=lambda: (time.sleep(50), out.append(time.monotonic() - m0)))
        t.start()
        t.join()  # a join of a bubble thread waits in the bubble
        assert out == [pytest.approx(150)]
    assert time.sleep is real_sleep


def test_patch_time_leaves_threads_outside_on_real_time():
    seen = []
    gate = threading.Event()

    def outside():
        gate.wait()
        seen.append(abs(time.monotonic() - time.perf_counter()) >= 0)  # runs
        t = time.monotonic()
        time.sleep(0.01)
        seen.append(0.005 < time.monotonic() - t < 3600)

    t = threading.Thread(target=outside)
    t.start()
    with gc.testing.bubble(patch_time=True):
        gate.set()
        time.sleep(3600)
        t.join()
    assert seen == [True, True]


def test_without_patch_time_the_time_module_is_real():
    with gc.testing.bubble() as b:
        gc.sleep(100)
        assert time.monotonic() < b.now()


def test_join_waits_on_the_virtual_clock():
    with gc.testing.bubble() as b:
        t0 = b.now()
        t = threading.Thread(target=gc.sleep, args=(30,))
        t.start()
        t.join(timeout=10)
        assert t.is_alive() and b.now() == t0 + 10
        t.join()
        assert not t.is_alive() and b.now() == t0 + 30


def test_a_bubble_is_entered_once():
    b = gc.testing.bubble()
    with b:
        pass
    with pytest.raises(RuntimeError):
        with b:
            pass


def test_after_func_is_on_time_even_with_a_runner_outside_the_bubble():
    # A context's after_func outside any bubble keeps pygochan's shared
    # runner thread alive (outside); gc.after_func in the bubble still runs
    # at its virtual time, on a thread of the bubble.
    outside, cancel = gc.with_timeout(gc.background(), 3600)
    stop_outside = outside.after_func(lambda: None)
    try:
        with gc.testing.bubble() as b:
            t0 = b.now()
            ran = []
            timer = gc.after_func(5, lambda: ran.append((b.now() - t0, gc.testing.current() is b)))
            gc.sleep(4)
            timer.reset(3)  # now due at 7
            gc.sleep(10)
            assert ran == [(7, True)]
            assert timer.stop() is False
            late = gc.after_func(1, lambda: ran.append("stopped"))
            assert late.stop() is True
            gc.sleep(2)
            assert ran == [(7, True)]
    finally:
        stop_outside()
        cancel()


def test_a_pool_made_outside_keeps_its_workers_outside():
    with gc.Pool(max_workers=2, idle_timeout=0.5) as pool:
        with gc.testing.bubble() as b:
            fut = pool.submit(lambda: (gc.testing.current(), time.sleep(0.01))[0])
            assert fut.result() is None  # the worker is not in the bubble
            assert b.members == 1


def test_a_pool_made_inside_starts_its_workers_in_the_bubble_whoever_submits():
    seen = []
    with gc.testing.bubble() as b:
        pool = gc.Pool(max_workers=2, idle_timeout=5)

        def submit_from_a_member():
            seen.append(pool.submit(gc.testing.current).result())

        t = threading.Thread(target=submit_from_a_member)
        t.start()
        t.join()
        pool.shutdown()
    assert seen == [b]
    # used after the bubble ended, the pool's new workers run outside it
    pool = None


def test_threads_started_after_the_bubble_ended_run_outside():
    with gc.testing.bubble() as b:
        pool = gc.Pool(max_workers=1, idle_timeout=1)
        assert pool.submit(gc.testing.current).result() is b
        gc.sleep(2)  # the idle worker exits
    assert pool.submit(gc.testing.current).result(timeout=10) is None
    pool.shutdown()


# ---- Ctrl-C ----------------------------------------------------------------------

@needs_kill_signal
@pytest.mark.parametrize("wait", ["gc.sleep(10)", "b.wait()", "gc.Channel().recv(timeout=5)"])
def test_ctrl_c_ends_a_wait_in_a_bubble_and_leaves_it_at_once(wait):
    # A thread running Python forever holds the bubble's time still: only
    # Ctrl-C ends the wait, and leaving the block does not wait for it.
    assert_interrupted(run_child(f"""
        import threading, time
        import pygochan as gc
        stop = False
        def busy():
            while not stop:
                time.sleep(0.001)
        try:
            with gc.testing.bubble() as b:
                threading.Thread(target=busy, daemon=True).start()
                print("ready", flush=True)
                {wait}
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        stop = True
    """))


# ---- random workloads ------------------------------------------------------------

def test_random_waits_wake_at_their_exact_virtual_time_while_hand_offs_hold_it(rng):
    """Eight threads wait random mixes of sleeps, timeouts, timers and
    context deadlines; meanwhile two threads play ping-pong, during which
    the clock must not move (one of them is always running or just woken).
    Every wait must end at exactly its virtual deadline."""
    seeds = [rng.randrange(2**32) for _ in range(8)]
    errors = []
    with gc.testing.bubble() as b:
        t0 = b.now()

        def waiter(seed):
            r = random.Random(seed)
            expected = b.now()
            never = gc.Channel()
            for _ in range(30):
                seconds = r.randint(1, 5000) / 1000
                kind = r.randrange(5)
                if kind == 0:
                    gc.sleep(seconds)
                elif kind == 1:
                    try:
                        never.recv(timeout=seconds)
                        errors.append("recv returned")
                    except TimeoutError:
                        pass
                elif kind == 2:
                    gc.after(seconds).recv()
                elif kind == 3:
                    with gc.with_timeout(gc.background(), seconds) as ctx:
                        ctx.wait()
                else:
                    timer = gc.Timer(seconds)
                    gc.select(gc.recv(timer.c), gc.recv(never))
                expected += seconds
                if abs(b.now() - expected) > 1e-6:
                    errors.append((seed, kind, b.now() - expected))
                expected = b.now()

        ping, pong = gc.Channel(), gc.Channel()
        moved = []

        def pinger():
            for i in range(300):
                before = b.now()
                ping.send(i)
                pong.recv()
                if b.now() != before:
                    moved.append(b.now() - before)
            ping.close()

        def ponger():
            for v in ping:
                pong.send(v)

        threads = [threading.Thread(target=waiter, args=(s,)) for s in seeds]
        threads += [threading.Thread(target=pinger), threading.Thread(target=ponger)]
        for t in threads:
            t.start()
    assert errors == [], f"seeds {seeds}"
    assert moved == [], f"the clock moved during a hand-off, seeds {seeds}"
    assert b.now() > t0


def test_a_bubbles_channel_may_be_used_from_outside():
    # Allowed (Go would panic), but the bubble does not see it: see
    # docs/testing.md.  Here the value simply waits in the buffer.
    with gc.testing.bubble():
        ch = gc.Channel(1)
        ch.send("from inside")
        box = gc.Channel(1)
    got = []
    t = threading.Thread(target=lambda: got.append(ch.recv(timeout=10)))
    t.start()
    t.join()
    assert got == ["from inside"]
    box.send("outside")
    assert box.recv() == "outside"


def test_a_pool_used_before_any_bubble_leaves_no_override_behind():
    # A Pool's worker start names the bubble its thread joins; a pool used
    # outside every bubble once left that choice (none) pending on the
    # submitting thread, and the next thread it started inside a bubble
    # then ran outside it.
    with gc.Pool(1) as pool:
        pool.submit(int).result()
    with gc.testing.bubble() as b:
        seen = []
        t = threading.Thread(target=lambda: seen.append(gc.testing.current() is b))
        t.start()
        t.join()
    assert seen == [True]


def test_a_worker_start_that_never_happened_does_not_move_another_thread():
    from pygochan.testing import _bubble

    with gc.testing.bubble() as b:
        # as if a Pool outside the bubble had chosen its worker's bubble and
        # then failed to start it (Ctrl-C inside Thread.__init__, say)
        _bubble._start_thread_named_in("pool-worker-that-never-started", None)
        seen = []
        t = threading.Thread(target=lambda: seen.append(gc.testing.current() is b))
        t.start()
        t.join()
    assert seen == [True]
