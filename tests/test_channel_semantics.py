"""Go's channel semantics, case by case."""
import threading
import time

import pytest

import pygochan as gc
from conftest import join_all, start, wait_for, waiting


# ---- nil channels (a None channel in a select case) -------------------------

@pytest.mark.parametrize("case", [lambda: gc.recv(None), lambda: gc.send(None, 1)])
def test_nil_case_is_never_ready(case):
    assert gc.select(case(), default=True) == (-1, None, False)
    with pytest.raises(TimeoutError):
        gc.select(case(), timeout=0.01)


def test_nil_case_beside_a_ready_one_is_never_chosen():
    ch = gc.Channel(1)
    for _ in range(200):
        ch.send(1)
        assert gc.select(gc.recv(None), gc.recv(ch), gc.send(None, 2)).index == 1


# ---- open channels -----------------------------------------------------------

def test_unbuffered_send_blocks_until_a_receiver_takes_it():
    ch = gc.Channel()
    delivered = threading.Event()

    def sender():
        ch.send("x")
        delivered.set()

    t = start(sender)
    assert not delivered.wait(0.05)
    assert waiting(ch) == (1, 0)
    assert ch.recv(timeout=5) == "x"
    assert delivered.wait(5)
    join_all([t])


def test_unbuffered_recv_blocks_until_a_sender_arrives():
    ch = gc.Channel()
    got = []
    t = start(lambda: got.append(ch.recv(timeout=5)))
    wait_for(lambda: waiting(ch) == (0, 1))
    assert got == []
    ch.send(7)
    join_all([t])
    assert got == [7]


def test_unbuffered_never_holds_a_value():
    ch = gc.Channel()
    with pytest.raises(TimeoutError):
        ch.send(1, timeout=0)
    assert len(ch) == 0


def test_buffered_fifo_len_and_capacity():
    ch = gc.Channel(5)
    assert ch.capacity == 5 and len(ch) == 0
    for i in range(5):
        ch.send(i)
        assert len(ch) == i + 1
    with pytest.raises(TimeoutError):
        ch.send(99, timeout=0.01)
    assert [ch.recv() for _ in range(5)] == [0, 1, 2, 3, 4]
    assert len(ch) == 0


def test_buffered_send_blocks_when_full_until_room():
    ch = gc.Channel(1)
    ch.send("a")
    done = threading.Event()
    t = start(lambda: (ch.send("b"), done.set()))
    assert not done.wait(0.05)
    assert ch.recv() == "a"
    assert done.wait(5)
    assert ch.recv() == "b"
    join_all([t])


def test_unbounded_never_blocks_a_sender():
    ch = gc.Channel(gc.UNBOUNDED)
    assert ch.capacity == gc.UNBOUNDED == -1
    for i in range(100_000):
        ch.send(i, timeout=0)
    assert len(ch) == 100_000
    assert all(ch.recv() == i for i in range(100_000))


def test_fifo_among_blocked_receivers():
    ch = gc.Channel()
    got = {}
    threads = []
    for k in range(5):
        threads.append(start(lambda k=k: got.__setitem__(k, ch.recv(timeout=10))))
        wait_for(lambda k=k: waiting(ch)[1] == k + 1)
    for k in range(5):
        ch.send(k)
    join_all(threads)
    assert got == {k: k for k in range(5)}


def test_fifo_among_blocked_senders():
    ch = gc.Channel()
    threads = []
    for k in range(5):
        threads.append(start(ch.send, k, timeout=10))
        wait_for(lambda k=k: waiting(ch)[0] == k + 1)
    assert [ch.recv(timeout=5) for _ in range(5)] == list(range(5))
    join_all(threads)


@pytest.mark.parametrize("capacity", [0, 1, 4, gc.UNBOUNDED])
def test_recv_timeout_then_value(capacity):
    ch = gc.Channel(capacity)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.05)
    assert time.monotonic() - t0 >= 0.04
    with pytest.raises(TimeoutError):
        ch.recv_ok(timeout=0)


def test_timeout_zero_is_a_single_attempt():
    ch = gc.Channel(1)
    ch.send(1, timeout=0)
    with pytest.raises(TimeoutError):
        ch.send(2, timeout=0)
    assert ch.recv(timeout=0) == 1
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0)


# ---- closed channels ----------------------------------------------------------

@pytest.mark.parametrize("capacity", [0, 3, gc.UNBOUNDED])
def test_send_on_closed_raises(capacity):
    ch = gc.Channel(capacity)
    ch.close()
    with pytest.raises(gc.ChannelClosed, match="send on closed channel"):
        ch.send(1)
    with pytest.raises(gc.ChannelClosed):
        ch.send(1, timeout=0)


@pytest.mark.parametrize("capacity", [0, 3, gc.UNBOUNDED])
def test_close_twice_raises(capacity):
    ch = gc.Channel(capacity)
    ch.close()
    with pytest.raises(gc.ChannelClosed, match="close of closed channel"):
        ch.close()
    assert ch.closed


@pytest.mark.parametrize("capacity", [3, gc.UNBOUNDED])
def test_close_delivers_buffered_items_first(capacity):
    ch = gc.Channel(capacity)
    for v in "abc":
        ch.send(v)
    ch.close()
    assert ch.closed and len(ch) == 3
    assert ch.recv() == "a"
    assert ch.recv_ok() == ("b", True)
    assert list(ch) == ["c"]
    with pytest.raises(gc.ChannelClosed, match="recv on closed channel"):
        ch.recv()
    assert ch.recv_ok() == (None, False)
    assert ch.recv_ok(timeout=0) == (None, False)
    assert gc.select(gc.recv(ch)) == (0, None, False)


def test_recv_on_closed_unbuffered():
    ch = gc.Channel()
    ch.close()
    with pytest.raises(gc.ChannelClosed):
        ch.recv()
    assert ch.recv_ok() == (None, False)
    assert list(ch) == []


def test_close_wakes_every_blocked_receiver_and_sender():
    rx, tx = gc.Channel(), gc.Channel()
    outcomes = []
    lock = threading.Lock()

    def receiver():
        r = rx.recv_ok(timeout=10)
        with lock:
            outcomes.append(("recv", r))

    def sender():
        try:
            tx.send(1, timeout=10)
            r = "sent"
        except gc.ChannelClosed:
            r = "closed"
        with lock:
            outcomes.append(("send", r))

    threads = [start(receiver) for _ in range(5)] + [start(sender) for _ in range(5)]
    wait_for(lambda: waiting(rx) == (0, 5) and waiting(tx) == (5, 0))
    rx.close()
    tx.close()
    join_all(threads)
    assert sorted(outcomes) == [("recv", (None, False))] * 5 + [("send", "closed")] * 5


def test_iteration_ends_when_closed_and_drained():
    ch = gc.Channel()

    def producer():
        for i in range(100):
            ch.send(i)
        ch.close()

    t = start(producer)
    assert list(ch) == list(range(100))
    join_all([t])


def test_values_are_passed_by_reference():
    ch = gc.Channel(1)
    obj = {"k": [1]}
    ch.send(obj)
    assert ch.recv() is obj


def test_none_is_an_ordinary_value():
    ch = gc.Channel(2)
    ch.send(None)
    assert ch.recv_ok() == (None, True)
    ch.send(None)
    ch.close()
    assert list(ch) == [None]


def test_channel_is_true_even_when_empty():
    assert gc.Channel()
    assert gc.Channel(3)
