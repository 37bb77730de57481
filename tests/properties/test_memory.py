"""Reference counts balance on every path, including errors; cycles through
channels are collected; buffered values are freed with their channel."""
import gc as pygc
import os
import sys
import tracemalloc
import weakref

import pytest

import pygochan as gc
from conftest import join_all, start, wait_blocked


class Sentinel:
    pass


def churn(value, n):
    buffered, unbuf, closed = gc.Channel(4), gc.Channel(), gc.Channel(1)
    closed.close()
    case_send = gc.send(buffered, value)
    for _ in range(n):
        buffered.send(value)
        buffered.recv()
        buffered.send(value)
        gc.select(gc.recv(buffered), gc.send(None, value))
        try:
            unbuf.send(value, timeout=0)
        except TimeoutError:
            pass
        try:
            closed.send(value)
        except gc.ChannelClosed:
            pass
        try:
            gc.select(gc.send(unbuf, value), gc.send(closed, value))
        except gc.ChannelClosed:
            pass
        assert gc.select(gc.send(unbuf, value), default=True).index == -1
        closed.recv_ok()
        for _ in range(4):
            buffered.send(value)
        try:
            gc.select(case_send, timeout=0)   # full: times out
        except TimeoutError:
            pass
        for _ in range(4):
            buffered.recv()


def test_refcounts_balanced_on_every_path():
    value = Sentinel()
    churn(value, 100)
    before = sys.getrefcount(value)
    churn(value, 10_000)
    assert sys.getrefcount(value) == before


def test_refcounts_balanced_across_threads():
    value = Sentinel()
    before = sys.getrefcount(value)
    ch = gc.Channel()

    def consume():
        for _ in ch:
            pass

    t = start(consume)
    for _ in range(20_000):
        ch.send(value)
    ch.close()
    join_all([t])
    assert sys.getrefcount(value) == before


def traced_growth(fn, blocks=6):
    """Run fn() `blocks` times under tracemalloc; returns the traced memory
    after each block.  The first block warms caches and free lists."""
    fn()
    pygc.collect()
    tracemalloc.start()
    try:
        sizes = []
        for _ in range(blocks):
            fn()
            pygc.collect()
            sizes.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    return sizes


def assert_no_growth(sizes, slack=64 * 1024):
    # a leak of even a few bytes per operation grows every block by far more
    # than the slack, and keeps growing; noise does not
    assert sizes[-1] - sizes[0] < slack, sizes
    steps = [b - a for a, b in zip(sizes, sizes[1:])]
    assert not all(step > 1024 for step in steps), sizes


def test_no_memory_growth_over_1e5_operations():
    value = Sentinel()
    # each churn step is ~20 channel operations: 6 blocks of 1000 steps
    sizes = traced_growth(lambda: churn(value, 1000))
    assert_no_growth(sizes)


def test_no_memory_growth_from_raised_errors():
    """1e5 raised TimeoutErrors and ChannelCloseds, and their tracebacks."""
    empty, closed = gc.Channel(), gc.Channel(1)
    closed.close()

    def errors():
        for _ in range(3000):
            for call in (lambda: empty.recv(timeout=0), lambda: empty.send(1, timeout=0),
                         lambda: closed.send(1), closed.recv, closed.close,
                         lambda: gc.select(gc.send(closed, 1))):
                try:
                    call()
                except (TimeoutError, gc.ChannelClosed):
                    pass
    assert_no_growth(traced_growth(errors))


def test_no_memory_growth_from_blocking_and_waking():
    """Blocked calls park and are woken (values handed over, timeouts that
    really wait, selects whose other cases lose) without leaving anything."""
    ping, pong = gc.Channel(), gc.Channel(1)
    stop = gc.Channel()

    def bouncer():
        while True:
            idx, v, ok = gc.select(gc.recv(stop), gc.recv(ping), gc.recv(None), timeout=30)
            if idx == 0:
                return
            pong.send(v, timeout=30)

    t = start(bouncer)
    value = Sentinel()

    def block():
        for _ in range(1000):
            ping.send(value, timeout=10)
            assert gc.select(gc.recv(pong), gc.send(None, value), timeout=10).value is value
            try:
                ping.send(value, timeout=0.0000001)
                pong.recv(timeout=10)
            except TimeoutError:
                pass

    try:
        sizes = traced_growth(block, blocks=4)
    finally:
        stop.close()
        join_all([t])
    assert_no_growth(sizes)


def test_refcounts_balanced_on_blocking_paths():
    """A value offered by a blocked select on several channels is released
    by every case that loses, by timeouts, and by close."""
    value = Sentinel()
    before = sys.getrefcount(value)
    a, b, c = gc.Channel(), gc.Channel(1), gc.Channel()
    b.send("full")
    for round_ in range(300):
        results = []
        t = start(lambda: results.append(
            gc.select(gc.send(a, value), gc.send(b, value), gc.recv(c), timeout=10)))
        wait_blocked(c, receivers=1)
        wait_blocked(a, senders=1)
        if round_ % 3 == 0:
            c.send("wins", timeout=10)        # both send cases lose
        elif round_ % 3 == 1:
            assert a.recv(timeout=10) is value  # case 0 wins
        else:
            assert b.recv(timeout=10) == "full"  # case 1 wins: value buffered
            assert b.recv(timeout=10) is value
            b.send("full")
        join_all([t])
    assert sys.getrefcount(value) == before
    # timeouts that really waited, and close waking a blocked sender
    for _ in range(200):
        with pytest.raises(TimeoutError):
            a.send(value, timeout=0.0001)
        with pytest.raises(TimeoutError):
            gc.select(gc.send(a, value), gc.send(b, value), timeout=0.0001)
    d = gc.Channel()
    outcomes = []

    def blocked_send():
        try:
            d.send(value, timeout=10)
            outcomes.append("sent")
        except gc.ChannelClosed:
            outcomes.append("closed")

    threads = [start(blocked_send) for _ in range(10)]
    wait_blocked(d, senders=10)
    d.close()
    join_all(threads)
    assert outcomes == ["closed"] * 10
    del threads
    assert sys.getrefcount(value) == before


def test_refcount_of_a_received_value_is_exact():
    value = Sentinel()
    before = sys.getrefcount(value)
    ch = gc.Channel(gc.UNBOUNDED)
    for _ in range(1000):
        ch.send(value)
    assert sys.getrefcount(value) == before + 1000  # one per buffered copy
    for _ in range(500):
        ch.recv()
    assert sys.getrefcount(value) == before + 500
    for _ in range(250):
        assert ch.recv_ok()[0] is value
    ch.close()
    assert list(ch) == [value] * 250
    assert sys.getrefcount(value) == before
    assert ch.recv_ok() == (None, False)


@pytest.mark.skipif(not hasattr(sys, "gettotalrefcount"),
                    reason="needs a debug CPython (sys.gettotalrefcount)")
def test_a_debug_interpreter_counts_the_extensions_references():
    """Under a debug CPython the extension is built with its Py_REF_DEBUG
    headers: its Py_INCREF/Py_DECREF move sys.gettotalrefcount() as the
    interpreter's do.  Built against release headers, every send/recv pair
    read -1 (an uncounted INCREF, a counted DECREF) and every channel +1,
    and the refleak run measured that instead of leaks."""
    value = Sentinel()

    def churn_channels(n):
        for _ in range(n):
            ch = gc.Channel(1)
            ch.send(value)
            ch.recv()
            gc.background()

    churn_channels(100)
    pygc.collect()
    before = sys.gettotalrefcount()
    churn_channels(1000)
    pygc.collect()
    assert abs(sys.gettotalrefcount() - before) < 100


def test_channel_holding_itself_is_collected():
    ch = gc.Channel(1)
    ch.send(ch)
    ref = weakref.ref(ch)
    del ch
    pygc.collect()
    assert ref() is None


def test_cycle_through_two_channels_and_a_case_is_collected():
    a, b = gc.Channel(2), gc.Channel(gc.UNBOUNDED)
    holder = Sentinel()
    holder.case = gc.send(a, b)
    a.send(b)
    b.send(holder)
    b.send(a)
    refs = [weakref.ref(x) for x in (a, b, holder)]
    fired = []
    callback_ref = weakref.ref(b, lambda _: fired.append(True))
    del a, b, holder
    pygc.collect()
    assert all(r() is None for r in refs)
    assert fired == [True] and callback_ref() is None


def test_buffered_values_freed_with_their_channel():
    ch = gc.Channel(gc.UNBOUNDED)
    items = [Sentinel() for _ in range(100)]
    refs = [weakref.ref(x) for x in items]
    for x in items:
        ch.send(x)
    del items, x
    assert all(r() is not None for r in refs)
    del ch
    assert all(r() is None for r in refs)


def test_value_whose_del_uses_the_channel_during_teardown():
    class Reenter:
        def __init__(self, ch):
            self.ch = ch

        def __del__(self):
            try:
                self.ch.send("from __del__", timeout=0)
            except Exception:
                pass

    ch = gc.Channel(2)
    ch.send(Reenter(ch))
    ref = weakref.ref(ch)
    del ch
    pygc.collect()
    assert ref() is None


def test_failed_send_returns_the_value():
    value = Sentinel()
    ref = weakref.ref(value)
    ch = gc.Channel()
    with pytest.raises(TimeoutError):
        ch.send(value, timeout=0.001)
    ch.close()
    with pytest.raises(gc.ChannelClosed):
        ch.send(value)
    del value
    assert ref() is None


def test_two_channels_holding_each_other_are_collected():
    a, b = gc.Channel(1), gc.Channel(1)
    a.send(b)
    b.send(a)
    refs = [weakref.ref(a), weakref.ref(b)]
    fired = []
    keep = [weakref.ref(a, lambda _: fired.append("a")), weakref.ref(b, lambda _: fired.append("b"))]
    del a, b
    pygc.collect()
    assert all(r() is None for r in refs)
    assert sorted(fired) == ["a", "b"]
    del keep


def test_channel_holding_a_case_on_itself_is_collected():
    ch = gc.Channel(2)
    ch.send(gc.send(ch, "x"))
    ch.send(gc.recv(ch))
    ref = weakref.ref(ch)
    del ch
    pygc.collect()
    assert ref() is None


def test_closed_channel_with_items_holding_it_is_collected():
    ch = gc.Channel(3)
    holder = Sentinel()
    holder.ch = ch
    ch.send(holder)
    ch.send([ch])
    ch.close()
    refs = [weakref.ref(ch), weakref.ref(holder)]
    del ch, holder
    pygc.collect()
    assert all(r() is None for r in refs)


def test_channel_is_gc_tracked_and_traverses_its_buffer():
    ch = gc.Channel(2)
    item = Sentinel()
    ch.send(item)
    assert pygc.is_tracked(ch)
    assert item in pygc.get_referents(ch)


def test_channel_freed_after_its_blocked_users_finish():
    ch = gc.Channel()
    ref = weakref.ref(ch)
    t = start(ch.recv_ok, timeout=10)
    wait_blocked(ch, receivers=1)
    ch.close()
    join_all([t])
    del ch, t
    pygc.collect()
    assert ref() is None


def test_values_of_failed_sends_are_not_kept():
    ch = gc.Channel(1)
    ch.send("full")
    items = [Sentinel() for _ in range(50)]
    refs = [weakref.ref(x) for x in items]
    for x in items:
        with pytest.raises(TimeoutError):
            ch.send(x, timeout=0)
        with pytest.raises(TimeoutError):
            gc.select(gc.send(ch, x), timeout=0.0001)
        assert gc.select(gc.send(ch, x), default=True).index == -1
    del items, x
    assert all(r() is None for r in refs)
    assert ch.recv() == "full"


def rss_bytes():
    """Resident memory; under AddressSanitizer, the bytes malloc has live
    instead (ASan holds freed blocks in quarantine, so resident memory
    grows without a leak)."""
    try:
        import ctypes
        live = ctypes.CDLL(None).__sanitizer_get_current_allocated_bytes
    except (ImportError, OSError, AttributeError):
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    live.restype = ctypes.c_size_t
    return int(live())


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_no_native_memory_growth_over_many_channels_and_selects():
    """tracemalloc sees only Python's allocators; the C core allocates its
    channels and rings with malloc.  Resident memory must not grow while
    hundreds of thousands of channels are made, used (buffers grown, selects
    with many cases, blocked waits that time out) and dropped."""
    def block():
        for _ in range(10_000):
            ch = gc.Channel(gc.UNBOUNDED)
            for i in range(20):        # grows the ring a few times
                ch.send(i)
            small = gc.Channel(3)
            small.send(1)
            cases = [gc.recv(gc.Channel()) for _ in range(10)]
            gc.select(*cases, gc.recv(small), gc.send(None, 0))
            ch.close()
            small.close()
        empty = gc.Channel()
        for _ in range(200):
            try:
                gc.select(*[gc.recv(empty)] * 12, timeout=0.000001)
            except TimeoutError:
                pass

    block()
    pygc.collect()
    sizes = []
    for _ in range(5):
        block()
        pygc.collect()
        sizes.append(rss_bytes())
    # a leak of one channel struct per channel would add several MB per block
    assert sizes[-1] - sizes[0] < 4 * 1024 * 1024, sizes


def test_pool_futures_and_wait_groups_leak_nothing():
    """Every path of submit/run/settle/cancel/wait, 6 blocks of ~5000 tasks,
    and the argument objects' refcounts come back."""
    value = Sentinel()
    before = sys.getrefcount(value)
    pool = gc.Pool(2, queue_size=gc.UNBOUNDED)
    handoff = gc.Pool(1, queue_size=0)

    def fail(v):
        raise ValueError(v)

    def block():
        futs = [pool.submit(id, value, submit_timeout=1) for _ in range(1000)]
        futs += [pool.submit(fail, value) for _ in range(200)]
        for f in futs[:1000]:
            f.result()
        for f in futs[1000:]:
            assert isinstance(f.exception(), ValueError)
        assert list(pool.map(id, [value] * 500, buffersize=64)) == [id(value)] * 500
        assert sorted(pool.map(id, [value] * 500, ordered=False)) == [id(value)] * 500
        for _ in range(200):
            handoff.submit(id, value).result()
            handoff.try_submit(id, value)
            f = gc.Future()
            f.add_done_callback(lambda fut: None)
            f.cancel()
            wg = gc.WaitGroup()
            wg.add(2)
            try:
                wg.wait(timeout=0)
            except TimeoutError:
                pass
            wg.done()
            wg.done()
            wg.wait()
        gate = gc.Channel()
        running = handoff.submit(gate.recv)
        try:
            handoff.submit(id, value, submit_timeout=0.001)
        except TimeoutError:
            pass
        gate.send(None)
        running.result()

    assert_no_growth(traced_growth(block))
    pool.shutdown()
    handoff.shutdown()
    pygc.collect()
    assert sys.getrefcount(value) == before
