"""Reference counts balance on every path, including errors; cycles through
channels are collected; buffered values are freed with their channel."""
import gc as pygc
import sys
import threading
import tracemalloc
import weakref

import pytest

import pygochan as gc
from conftest import join_all, start


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


def test_no_memory_growth_over_1e5_operations():
    value = Sentinel()
    churn(value, 1000)
    tracemalloc.start()
    try:
        churn(value, 5000)
        first, _ = tracemalloc.get_traced_memory()
        churn(value, 20_000)  # 4 more blocks; ~1e5+ operations in all
        second, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert second - first < 64 * 1024, (first, second)


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
