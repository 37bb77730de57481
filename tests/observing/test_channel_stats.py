"""Channel.stats(): exact counts, blocked times, fill and waiters, for every
kind of channel, alone and under a storm of threads."""

import threading
import time

import pytest

import pygochan as gc
from conftest import join_all, start, wait_blocked

FIELDS = (
    "sends",
    "receives",
    "send_blocked_seconds",
    "recv_blocked_seconds",
    "max_fill",
    "senders_waiting",
    "receivers_waiting",
    "capacity",
    "length",
    "closed",
)


def test_fields_in_order_read_only_and_named():
    s = gc.Channel(3).stats()
    assert isinstance(s, gc.ChannelStats)
    assert type(s).__module__ == "pygochan"
    if hasattr(type(s), "__match_args__"):  # 3.10 on
        assert tuple(type(s).__match_args__) == FIELDS
    assert tuple(s) == (0, 0, 0.0, 0.0, 0, 0, 0, 3, 0, False)
    for name, value in zip(FIELDS, s):
        assert getattr(s, name) == value
    assert "sends=0" in repr(s) and "closed=False" in repr(s)
    with pytest.raises(AttributeError):
        s.sends = 5
    with pytest.raises(TypeError):
        gc.Channel().stats(1)


def test_buffered_counts_fill_and_length():
    ch = gc.Channel(4)
    for i in range(3):
        ch.send(i)
    assert ch.recv() == 0
    ch.send(3)
    ch.send(4)
    s = ch.stats()
    assert (s.sends, s.receives, s.length, s.max_fill, s.capacity) == (5, 1, 4, 4, 4)
    assert ch.stats().max_fill == 4
    while len(ch):
        ch.recv()
    ch.close()
    assert ch.recv_ok() == (None, False)  # closed and drained: not a receive
    with pytest.raises(gc.ChannelClosed):
        ch.recv()
    with pytest.raises(gc.ChannelClosed):
        ch.send(9)  # a failed send is not a send
    s = ch.stats()
    assert (s.sends, s.receives, s.length, s.max_fill, s.closed) == (5, 5, 0, 4, True)
    assert s.send_blocked_seconds == 0.0 and s.recv_blocked_seconds == 0.0


def test_failed_non_blocking_and_timed_out_operations_do_not_count():
    ch = gc.Channel(1)
    assert gc.select(gc.recv(ch), default=True).index == -1
    ch.send(1)
    assert gc.select(gc.send(ch, 2), default=True).index == -1
    with pytest.raises(TimeoutError):
        ch.send(2, timeout=0.02)
    s = ch.stats()
    assert (s.sends, s.receives, s.max_fill) == (1, 0, 1)
    assert s.send_blocked_seconds > 0  # the abandoned send was parked
    assert s.recv_blocked_seconds == 0.0
    assert s.senders_waiting == 0


def test_unbuffered_rendezvous_and_blocked_times():
    ch = gc.Channel()
    t = start(ch.send, "x")
    wait_blocked(ch, senders=1)
    s = ch.stats()
    assert (s.senders_waiting, s.receivers_waiting, s.sends) == (1, 0, 0)
    time.sleep(0.05)
    assert ch.recv() == "x"
    join_all([t])
    s = ch.stats()
    assert (s.sends, s.receives, s.max_fill, s.length, s.capacity) == (1, 1, 0, 0, 0)
    assert s.send_blocked_seconds >= 0.04
    assert s.recv_blocked_seconds == 0.0
    t = start(ch.recv)
    wait_blocked(ch, receivers=1)
    assert ch.stats().receivers_waiting == 1
    time.sleep(0.05)
    ch.send("y")
    join_all([t])
    s = ch.stats()
    assert (s.sends, s.receives, s.senders_waiting, s.receivers_waiting) == (2, 2, 0, 0)
    assert s.recv_blocked_seconds >= 0.04


def test_close_wakes_receivers_without_counting_them():
    ch = gc.Channel(2)
    threads = [start(ch.recv_ok) for _ in range(3)]
    wait_blocked(ch, receivers=3)
    ch.close()
    join_all(threads)
    s = ch.stats()
    assert (s.sends, s.receives, s.receivers_waiting) == (0, 0, 0)
    assert s.recv_blocked_seconds > 0


def test_select_counts_its_blocked_time_on_each_channel_once():
    a, b = gc.Channel(), gc.Channel()
    result = []
    # two cases on a: the time counts once on a's receive side
    t = start(lambda: result.append(gc.select(gc.recv(a), gc.recv(a), gc.recv(b))))
    wait_blocked(b, receivers=1)
    assert a.stats().receivers_waiting == 2
    time.sleep(0.05)
    start_wall = time.monotonic()
    b.send(7)
    join_all([t])
    assert result[0].value == 7
    sa, sb = a.stats(), b.stats()
    assert (sa.sends, sa.receives, sb.sends, sb.receives) == (0, 0, 1, 1)
    assert sa.recv_blocked_seconds >= 0.04 and sb.recv_blocked_seconds >= 0.04
    # counted once: a's time is the same wait as b's, not twice it
    assert abs(sa.recv_blocked_seconds - sb.recv_blocked_seconds) < 0.001
    assert sa.recv_blocked_seconds < time.monotonic() - start_wall + 0.06 + 1.0


def test_every_kind_of_channel_has_stats():
    ch = gc.Channel(1)
    ch.send(1)
    assert ch.recv_only().stats() == ch.stats()
    assert ch.send_only().stats().sends == 1
    timer_ch = gc.after(0)
    timer_ch.recv()
    s = timer_ch.stats()
    assert (s.sends, s.receives, s.capacity) == (1, 1, 1)
    ctx, cancel = gc.with_cancel(gc.background())
    done = ctx.done()
    assert done.stats().closed is False
    cancel()
    assert done.stats().closed is True
    assert done.stats().sends == 0


def test_unbounded_sends_minus_receives_is_length():
    ch = gc.Channel(gc.UNBOUNDED)
    for i in range(100):
        ch.send(i)
    for _ in range(40):
        ch.recv()
    s = ch.stats()
    assert s.sends - s.receives == s.length == 60
    assert s.max_fill == 100
    assert s.capacity == gc.UNBOUNDED


@pytest.mark.parametrize("capacity", [0, 1, 7, gc.UNBOUNDED])
def test_storm_counts_are_exact_and_blocked_time_bounded(rng, capacity):
    ch = gc.Channel(capacity)
    other = gc.Channel()
    producers, consumers, per_producer = 4, 3, 400
    sent = [0] * producers
    received = [0] * consumers
    stop = threading.Event()
    started = time.monotonic()

    def produce(k, seed):
        r = __import__("random").Random(seed)
        for i in range(per_producer):
            try:
                if r.random() < 0.2:
                    idx, _, _ = gc.select(gc.send(ch, i), gc.recv(other), timeout=r.random() / 500)
                else:
                    ch.send(i, timeout=r.random() / 200)
                sent[k] += 1
            except TimeoutError:
                pass

    def consume(k, seed):
        r = __import__("random").Random(seed)
        while not stop.is_set():
            try:
                if r.random() < 0.3:
                    idx, _, ok = gc.select(gc.recv(ch), default=True)
                    if idx == 0 and ok:
                        received[k] += 1
                else:
                    ch.recv(timeout=r.random() / 100)
                    received[k] += 1
            except TimeoutError:
                pass

    cons = [start(consume, k, rng.random()) for k in range(consumers)]
    prods = [start(produce, k, rng.random()) for k in range(producers)]
    join_all(prods)
    stop.set()
    join_all(cons)
    while True:  # what is still buffered
        idx, _, ok = gc.select(gc.recv(ch), default=True)
        if idx != 0:
            break
        received[0] += 1
    wall = time.monotonic() - started
    s = ch.stats()
    assert s.sends == sum(sent)
    assert s.receives == sum(received)
    assert s.length == 0 and s.senders_waiting == 0 and s.receivers_waiting == 0
    assert 0.0 <= s.send_blocked_seconds <= wall * producers
    assert 0.0 <= s.recv_blocked_seconds <= wall * consumers
    if capacity == 0:
        assert s.max_fill == 0
    elif capacity > 0:
        assert 1 <= s.max_fill <= capacity
    assert other.stats().sends == 0 and other.stats().receives == 0
    assert 0.0 <= other.stats().recv_blocked_seconds <= wall * producers
