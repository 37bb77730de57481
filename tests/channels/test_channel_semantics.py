"""Go's channel semantics, case by case.

The table Go's spec gives, one row per channel state, with nil channels as a
None channel in a select case (the only place Python code can hold one):

    state            send                 recv                      close
    nil              never ready          never ready               (n/a)
    open, ready      proceeds             proceeds                  ok
    open, not ready  blocks               blocks                    ok
    closed           ChannelClosed        buffered, then the end    ChannelClosed
"""
import threading
import time

import pytest

import pygochan as gc
from conftest import WAIT_TIMEOUT, fails_if_stuck, join_all, start, wait_blocked, waiting

CAPACITIES = [0, 1, 4, gc.UNBOUNDED]
BUFFERED = [1, 4, gc.UNBOUNDED]


# ---- nil channels (a None channel in a select case) -------------------------

NIL_CASES = {
    "recv": lambda: gc.recv(None),
    "send": lambda: gc.send(None, 1),
}


@pytest.mark.parametrize("kind", sorted(NIL_CASES))
def test_nil_case_is_never_ready(kind):
    case = NIL_CASES[kind]
    assert gc.select(case(), default=True) == (-1, None, False)
    with pytest.raises(TimeoutError):
        gc.select(case(), timeout=0)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        gc.select(case(), timeout=0.05)
    assert time.monotonic() - t0 >= 0.04  # it really waited


def test_only_nil_cases_never_become_ready():
    cases = [gc.recv(None), gc.send(None, "a"), gc.recv(None), gc.send(None, None)]
    for _ in range(100):
        assert gc.select(*cases, default=True) == (-1, None, False)
    with pytest.raises(TimeoutError):
        gc.select(*cases, timeout=0.02)


def test_nil_case_beside_a_ready_one_is_never_chosen():
    ch = gc.Channel(1)
    for _ in range(500):
        ch.send(1)
        assert gc.select(gc.recv(None), gc.recv(ch), gc.send(None, 2)).index == 1


def test_nil_send_case_keeps_its_value():
    value = object()
    case = gc.send(None, value)
    assert case.channel is None and case.value is value
    assert gc.select(case, default=True).index == -1
    assert case.value is value


# ---- open channels: unbuffered -------------------------------------------------

def test_unbuffered_send_blocks_until_a_receiver_takes_it():
    ch = gc.Channel()
    delivered = threading.Event()

    def sender():
        ch.send("x", timeout=10)
        delivered.set()

    t = start(sender)
    wait_blocked(ch, senders=1, receivers=0)
    assert not delivered.wait(0.1)  # still blocked: nobody has received
    assert len(ch) == 0             # an unbuffered channel never holds a value
    assert ch.recv(timeout=5) == "x"
    assert delivered.wait(5)
    join_all([t])
    assert waiting(ch) == (0, 0)


def test_unbuffered_recv_blocks_until_a_sender_arrives():
    ch = gc.Channel()
    got = []
    t = start(lambda: got.append(ch.recv(timeout=10)))
    wait_blocked(ch, senders=0, receivers=1)
    time.sleep(0.05)
    assert got == []
    ch.send(7, timeout=5)
    join_all([t])
    assert got == [7]
    assert waiting(ch) == (0, 0)


def test_unbuffered_send_without_a_receiver_never_completes():
    ch = gc.Channel()
    with pytest.raises(TimeoutError):
        ch.send(1, timeout=0)
    with pytest.raises(TimeoutError):
        ch.send(2, timeout=0.02)
    assert len(ch) == 0 and waiting(ch) == (0, 0)
    with pytest.raises(TimeoutError):   # neither value was left behind
        ch.recv(timeout=0.02)


def test_unbuffered_rendezvous_with_a_blocked_receiver_at_timeout_zero():
    ch = gc.Channel()
    got = []
    t = start(lambda: got.append(ch.recv(timeout=10)))
    wait_blocked(ch, receivers=1)
    ch.send("now", timeout=0)   # a single attempt finds the waiting receiver
    join_all([t])
    assert got == ["now"]


def test_unbuffered_recv_at_timeout_zero_takes_from_a_blocked_sender():
    ch = gc.Channel()
    t = start(ch.send, "waiting", timeout=10)
    wait_blocked(ch, senders=1)
    assert ch.recv(timeout=0) == "waiting"
    join_all([t])
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0)


def test_fifo_among_blocked_receivers():
    ch = gc.Channel()
    got = {}
    threads = []
    for k in range(5):
        threads.append(start(lambda k=k: got.__setitem__(k, ch.recv(timeout=10))))
        wait_blocked(ch, receivers=k + 1)
    for k in range(5):
        ch.send(k, timeout=5)
    join_all(threads)
    assert got == {k: k for k in range(5)}


@pytest.mark.xfail(strict=True, reason=(
    "the main thread's wait comes back every 50 ms to run signal handlers "
    "and re-joins the back of the channel's queue (docs/design.md), while "
    "docs/channels.md promises first-in first-out service"))
def test_fifo_holds_for_a_main_thread_that_waits_long():
    """The main thread blocks first, a worker second; after a while two
    values arrive: the main thread, first in line, gets the first."""
    ch = gc.Channel()
    worker_got = []

    def orchestrate():
        wait_blocked(ch, receivers=1)
        t = start(lambda: worker_got.append(ch.recv(timeout=10)))
        wait_blocked(ch, receivers=2)
        time.sleep(0.3)
        ch.send("first", timeout=5)
        ch.send("second", timeout=5)
        join_all([t])

    o = start(orchestrate)
    main_got = ch.recv(timeout=10)
    join_all([o])
    assert (main_got, worker_got) == ("first", ["second"])


def test_fifo_among_blocked_senders():
    ch = gc.Channel()
    threads = []
    for k in range(5):
        threads.append(start(ch.send, k, timeout=10))
        wait_blocked(ch, senders=k + 1)
    assert [ch.recv(timeout=5) for _ in range(5)] == list(range(5))
    join_all(threads)


# ---- open channels: buffered -----------------------------------------------------

@pytest.mark.parametrize("capacity", [1, 2, 5, 64])
def test_buffered_fifo_len_and_capacity(capacity):
    ch = gc.Channel(capacity)
    assert ch.capacity == capacity and len(ch) == 0
    for i in range(capacity):
        assert ch.send(i) is None
        assert len(ch) == i + 1
    with pytest.raises(TimeoutError):
        ch.send(99, timeout=0)
    with pytest.raises(TimeoutError):
        ch.send(99, timeout=0.01)
    assert len(ch) == capacity
    assert [ch.recv(timeout=1) for _ in range(capacity)] == list(range(capacity))
    assert len(ch) == 0


def test_buffered_fifo_across_wraparound():
    ch = gc.Channel(3)
    expected = []
    got = []
    n = 0
    for round_ in range(200):
        for _ in range(round_ % 3 + 1):
            if len(ch) < 3:
                ch.send(n, timeout=0)
                expected.append(n)
                n += 1
        for _ in range(round_ % 2 + 1):
            if len(ch):
                got.append(ch.recv(timeout=0))
    while len(ch):
        got.append(ch.recv(timeout=0))
    assert got == expected


def test_buffered_send_blocks_when_full_until_room():
    ch = gc.Channel(1)
    ch.send("a")
    done = threading.Event()

    def sender():
        ch.send("b", timeout=10)
        done.set()

    t = start(sender)
    wait_blocked(ch, senders=1)
    assert not done.wait(0.05)
    assert len(ch) == 1
    assert ch.recv(timeout=5) == "a"
    assert done.wait(5)
    assert ch.recv(timeout=5) == "b"
    join_all([t])


def test_recv_from_full_buffer_moves_a_blocked_sender_in_behind():
    """Go: a receiver on a full buffer takes the head, and the first blocked
    sender's value joins the tail, keeping FIFO order."""
    ch = gc.Channel(2)
    ch.send("a")
    ch.send("b")
    t = start(ch.send, "c", timeout=10)
    wait_blocked(ch, senders=1)
    assert ch.recv(timeout=0) == "a"
    join_all([t])
    assert len(ch) == 2 and waiting(ch) == (0, 0)
    assert [ch.recv(timeout=0), ch.recv(timeout=0)] == ["b", "c"]


def test_buffered_recv_blocks_when_empty_until_a_send():
    ch = gc.Channel(4)
    got = []
    t = start(lambda: got.append(ch.recv(timeout=10)))
    wait_blocked(ch, receivers=1)
    ch.send("v", timeout=0)
    join_all([t])
    assert got == ["v"] and len(ch) == 0


def test_unbounded_never_blocks_a_sender():
    ch = gc.Channel(gc.UNBOUNDED)
    assert ch.capacity == gc.UNBOUNDED == -1
    for i in range(100_000):
        ch.send(i, timeout=0)
    assert len(ch) == 100_000
    assert waiting(ch) == (0, 0)
    assert all(ch.recv(timeout=0) == i for i in range(100_000))
    assert len(ch) == 0


def test_unbounded_recv_blocks_when_empty():
    ch = gc.Channel(gc.UNBOUNDED)
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.02)
    got = []
    t = start(lambda: got.append(ch.recv(timeout=10)))
    wait_blocked(ch, receivers=1)
    ch.send(1)
    join_all([t])
    assert got == [1]


def test_large_bounded_capacity_behaves_like_a_buffer():
    ch = gc.Channel(50_000)
    for i in range(50_000):
        ch.send(i, timeout=0)
    with pytest.raises(TimeoutError):
        ch.send("one too many", timeout=0)
    assert [ch.recv(timeout=0) for _ in range(50_000)] == list(range(50_000))


# ---- timeouts ---------------------------------------------------------------------

@pytest.mark.parametrize("capacity", CAPACITIES)
def test_recv_timeout_takes_nothing_and_leaves_nothing_queued(capacity):
    ch = gc.Channel(capacity)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.05)
    assert time.monotonic() - t0 >= 0.04
    with pytest.raises(TimeoutError):
        ch.recv_ok(timeout=0.01)
    with pytest.raises(TimeoutError):
        ch.recv_ok(timeout=0)
    assert waiting(ch) == (0, 0)
    # a later sender is not captured by the timed-out receivers
    if capacity != 0:
        ch.send("later", timeout=0)
        assert len(ch) == 1 and ch.recv(timeout=0) == "later"
    else:
        with pytest.raises(TimeoutError):
            ch.send("later", timeout=0)


@pytest.mark.parametrize("capacity", [0, 1, 3])
def test_send_timeout_leaves_no_value_behind(capacity):
    ch = gc.Channel(capacity)
    for i in range(capacity):
        ch.send(i)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        ch.send("late", timeout=0.05)
    assert time.monotonic() - t0 >= 0.04
    assert len(ch) == capacity and waiting(ch) == (0, 0)
    assert [ch.recv(timeout=0) for _ in range(capacity)] == list(range(capacity))
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.02)


def test_timeout_zero_is_a_single_attempt():
    ch = gc.Channel(1)
    ch.send(1, timeout=0)
    with pytest.raises(TimeoutError):
        ch.send(2, timeout=0)
    assert ch.recv(timeout=0) == 1
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0)
    with pytest.raises(TimeoutError):
        ch.recv_ok(timeout=0)
    assert waiting(ch) == (0, 0)


def test_timeout_accepts_int_and_float():
    ch = gc.Channel(1)
    ch.send(1, timeout=1)
    assert ch.recv(timeout=1.5) == 1
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.0)


def test_recv_with_timeout_gets_a_value_that_arrives_in_time():
    ch = gc.Channel()
    t = start(lambda: (time.sleep(0.05), ch.send("in time", timeout=10)))
    assert ch.recv(timeout=10) == "in time"
    join_all([t])


def test_send_with_timeout_delivers_to_a_receiver_that_arrives_in_time():
    ch = gc.Channel()
    got = []
    t = start(lambda: (time.sleep(0.05), got.append(ch.recv(timeout=10))))
    ch.send("in time", timeout=10)
    join_all([t])
    assert got == ["in time"]


@pytest.mark.parametrize("timeout", [1e9, 1e18, 1e300, float("inf"), 2**63, 10**30])
def test_huge_timeouts_wait_like_none(timeout):
    ch = gc.Channel()
    t = start(lambda: (time.sleep(0.05), ch.send("late", timeout=10)))
    assert ch.recv(timeout=timeout) == "late"  # no overflow into "already expired"
    join_all([t])
    got = []
    t = start(lambda: got.append(ch.recv(timeout=timeout)))
    time.sleep(0.05)
    ch.send("to a worker", timeout=timeout)
    join_all([t])
    assert got == ["to a worker"]


@pytest.mark.parametrize("timeout", [5e-324, 1e-12, 1e-9, 1e-6])
def test_tiny_timeouts_expire(timeout):
    ch = gc.Channel()
    with pytest.raises(TimeoutError):
        ch.recv(timeout=timeout)
    with pytest.raises(TimeoutError):
        ch.send(1, timeout=timeout)
    assert waiting(ch) == (0, 0)


def test_main_thread_timeout_longer_than_its_signal_slices():
    """The main thread waits in slices to run signal handlers; the timeout
    still counts from the call, not from the last slice (which would never
    end: fails_if_stuck turns that into a failure)."""
    ch = gc.Channel()
    for timeout in (0.07, 0.17):
        t0 = time.monotonic()
        with fails_if_stuck(), pytest.raises(TimeoutError):
            ch.recv(timeout=timeout)
        elapsed = time.monotonic() - t0
        assert elapsed >= timeout - 0.01, (timeout, elapsed)  # not early


def test_timeout_error_is_the_builtin():
    ch = gc.Channel()
    with pytest.raises(TimeoutError) as info:
        ch.recv(timeout=0)
    assert type(info.value) is TimeoutError
    assert isinstance(info.value, OSError)


# ---- closed channels ---------------------------------------------------------------

@pytest.mark.parametrize("capacity", CAPACITIES)
def test_send_on_closed_raises(capacity):
    ch = gc.Channel(capacity)
    ch.close()
    with pytest.raises(gc.ChannelClosed, match="send on closed channel"):
        ch.send(1)
    with pytest.raises(gc.ChannelClosed):
        ch.send(1, timeout=0)
    with pytest.raises(gc.ChannelClosed):
        ch.send(1, timeout=1)
    assert len(ch) == 0


@pytest.mark.parametrize("capacity", BUFFERED)
def test_send_on_closed_with_room_still_raises(capacity):
    ch = gc.Channel(capacity)
    ch.send("kept")
    ch.close()
    with pytest.raises(gc.ChannelClosed):
        ch.send("refused")
    assert len(ch) == 1
    assert list(ch) == ["kept"]


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_close_twice_raises(capacity):
    ch = gc.Channel(capacity)
    assert ch.close() is None
    with pytest.raises(gc.ChannelClosed, match="close of closed channel"):
        ch.close()
    assert ch.closed


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_closed_property(capacity):
    ch = gc.Channel(capacity)
    assert ch.closed is False
    ch.close()
    assert ch.closed is True


@pytest.mark.parametrize("capacity", [3, 100, gc.UNBOUNDED])
def test_close_delivers_buffered_items_first(capacity):
    ch = gc.Channel(capacity)
    for v in "abc":
        ch.send(v)
    ch.close()
    assert ch.closed and len(ch) == 3
    assert ch.recv(timeout=0) == "a"
    assert ch.recv_ok() == ("b", True)
    assert list(ch) == ["c"]
    assert len(ch) == 0
    with pytest.raises(gc.ChannelClosed):
        ch.recv()
    with pytest.raises(gc.ChannelClosed):
        ch.recv(timeout=0)
    assert ch.recv_ok() == (None, False)
    assert ch.recv_ok(timeout=0) == (None, False)
    assert ch.recv_ok(timeout=5) == (None, False)
    assert gc.select(gc.recv(ch)) == (0, None, False)
    assert gc.select(gc.recv(ch), default=True) == (0, None, False)


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_recv_on_closed_and_drained_never_blocks(capacity):
    ch = gc.Channel(capacity)
    ch.close()
    for _ in range(1000):  # forever the end, at once
        with pytest.raises(gc.ChannelClosed):
            ch.recv()
        assert ch.recv_ok() == (None, False)
    assert list(ch) == []
    assert list(ch) == []


def test_recv_ok_distinguishes_a_sent_none_from_the_end():
    ch = gc.Channel(2)
    ch.send(None)
    ch.send(False)
    ch.close()
    assert ch.recv_ok() == (None, True)
    assert ch.recv_ok() == (False, True)
    assert ch.recv_ok() == (None, False)


def test_close_wakes_every_blocked_receiver_and_sender():
    rx, tx = gc.Channel(), gc.Channel()
    outcomes = []
    lock = threading.Lock()

    def receiver():
        r = rx.recv_ok(timeout=10)
        with lock:
            outcomes.append(("recv", r))

    def raising_receiver():
        try:
            rx.recv(timeout=10)
            r = "got"
        except gc.ChannelClosed:
            r = "closed"
        with lock:
            outcomes.append(("recv!", r))

    def sender():
        try:
            tx.send(1, timeout=10)
            r = "sent"
        except gc.ChannelClosed:
            r = "closed"
        with lock:
            outcomes.append(("send", r))

    threads = ([start(receiver) for _ in range(4)] + [start(raising_receiver) for _ in range(3)]
               + [start(sender) for _ in range(5)])
    wait_blocked(rx, senders=0, receivers=7)
    wait_blocked(tx, senders=5, receivers=0)
    rx.close()
    tx.close()
    join_all(threads, timeout=5)
    assert sorted(outcomes) == sorted(
        [("recv", (None, False))] * 4 + [("recv!", "closed")] * 3 + [("send", "closed")] * 5)
    assert waiting(rx) == (0, 0) and waiting(tx) == (0, 0)


@pytest.mark.parametrize("capacity", [1, 3])
def test_close_of_a_full_channel_fails_blocked_senders_and_keeps_the_buffer(capacity):
    ch = gc.Channel(capacity)
    for i in range(capacity):
        ch.send(i)
    errors = []
    lock = threading.Lock()

    def sender(v):
        try:
            ch.send(v, timeout=10)
        except gc.ChannelClosed as e:
            with lock:
                errors.append((v, str(e)))

    threads = [start(sender, f"blocked{k}") for k in range(4)]
    wait_blocked(ch, senders=4)
    ch.close()
    join_all(threads, timeout=5)
    assert sorted(errors) == [(f"blocked{k}", "send on closed channel") for k in range(4)]
    # the buffer is intact and holds none of the failed values
    assert len(ch) == capacity
    assert list(ch) == list(range(capacity))


def test_close_wakes_receivers_blocked_in_iteration():
    ch = gc.Channel()
    results = []
    lock = threading.Lock()

    def consume():
        got = list(ch)
        with lock:
            results.append(got)

    threads = [start(consume) for _ in range(4)]
    wait_blocked(ch, receivers=4)
    ch.close()
    join_all(threads, timeout=5)
    assert results == [[], [], [], []]


def test_closing_an_unbounded_channel_keeps_everything_buffered():
    """An unbounded channel never has a blocked sender; close keeps its values."""
    ch = gc.Channel(gc.UNBOUNDED)
    for i in range(1000):
        ch.send(i, timeout=0)
    ch.close()
    assert waiting(ch) == (0, 0)
    assert list(ch) == list(range(1000))


def test_values_sent_before_close_by_other_threads_are_delivered():
    ch = gc.Channel(8)
    threads = [start(lambda k=k: [ch.send((k, i), timeout=10) for i in range(8)])
               for k in range(4)]
    got = [ch.recv(timeout=10) for _ in range(24)]
    join_all(threads)
    ch.close()
    got += list(ch)
    assert sorted(got) == sorted((k, i) for k in range(4) for i in range(8))


# ---- iteration -----------------------------------------------------------------

def test_iteration_ends_when_closed_and_drained():
    ch = gc.Channel()

    def producer():
        for i in range(100):
            ch.send(i, timeout=10)
        ch.close()

    t = start(producer)
    assert list(ch) == list(range(100))
    join_all([t])


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_iteration_over_buffered_then_closed(capacity):
    ch = gc.Channel(capacity)
    t = start(lambda: ([ch.send(i, timeout=10) for i in range(50)], ch.close()))
    out = []
    for v in ch:
        out.append(v)
    join_all([t])
    assert out == list(range(50))


def test_channel_is_its_own_iterator():
    ch = gc.Channel(2)
    assert iter(ch) is ch
    ch.send(1)
    assert next(ch) == 1
    ch.close()
    with pytest.raises(StopIteration):
        next(ch)
    with pytest.raises(StopIteration):  # and stays exhausted
        next(ch)


def test_iteration_can_stop_early_and_leave_the_rest():
    ch = gc.Channel(5)
    for i in range(5):
        ch.send(i)
    for v in ch:
        if v == 2:
            break
    assert len(ch) == 2
    ch.close()
    assert list(ch) == [3, 4]


def test_several_iterators_share_the_values():
    ch = gc.Channel()
    results = []
    lock = threading.Lock()

    def consume():
        local = list(ch)
        with lock:
            results.extend(local)

    threads = [start(consume) for _ in range(3)]
    for i in range(300):
        ch.send(i, timeout=10)
    ch.close()
    join_all(threads)
    assert sorted(results) == list(range(300))


def test_iter_with_ctx_ends_when_the_channel_is_closed_and_drained():
    ch = gc.Channel(3)
    for i in range(3):
        ch.send(i)
    ch.close()
    ctx, cancel = gc.with_cancel(gc.background())
    assert [v for v in ch.iter(ctx=ctx)] == [0, 1, 2]
    cancel()


def test_iter_with_ctx_raises_the_context_error_and_takes_nothing():
    ch = gc.Channel(gc.UNBOUNDED)
    ctx, cancel = gc.with_cancel(gc.background())
    got = []
    ch.send("a")

    def consumer():
        for v in ch.iter(ctx=ctx):
            got.append(v)

    t = start(consumer)
    deadline = time.monotonic() + WAIT_TIMEOUT
    while not got and time.monotonic() < deadline:
        time.sleep(0.005)
    cancel()
    with pytest.raises(gc.Canceled):
        join_all([t])
    ch.send("after")
    assert got == ["a"]
    assert ch.recv(timeout=0) == "after"


def test_iter_without_ctx_is_plain_iteration_and_refuses_a_send_only_view():
    ch = gc.Channel(1)
    ch.send(5)
    ch.close()
    assert list(ch.iter()) == [5]
    with pytest.raises(TypeError):
        ch.send_only().iter()
    with pytest.raises(TypeError):
        ch.iter(ctx="nope")


# ---- values -------------------------------------------------------------------

def test_values_are_passed_by_reference():
    ch = gc.Channel(1)
    obj = {"k": [1]}
    ch.send(obj)
    assert ch.recv() is obj


@pytest.mark.parametrize("value", [None, 0, False, "", (), [], 1.5, b"x", Ellipsis, gc.Channel])
def test_any_object_is_an_ordinary_value(value):
    for capacity in (0, 1):
        ch = gc.Channel(capacity)
        t = start(ch.send, value, timeout=10)
        got = ch.recv_ok(timeout=10)
        join_all([t])
        assert got[0] is value and got[1] is True


def test_channels_can_carry_channels():
    outer = gc.Channel(1)
    inner = gc.Channel(1)
    outer.send(inner)
    reply_to = outer.recv()
    reply_to.send("pong")
    assert inner.recv() == "pong"


def test_channel_is_true_even_when_empty():
    assert gc.Channel()
    assert gc.Channel(3)
    ch = gc.Channel(1)
    ch.close()
    assert ch


def test_len_counts_only_buffered_values():
    ch = gc.Channel(2)
    assert len(ch) == 0
    ch.send(1)
    ch.send(2)
    t = start(ch.send, 3, timeout=10)
    wait_blocked(ch, senders=1)
    assert len(ch) == 2  # the blocked sender's value is not in the buffer
    assert [ch.recv(timeout=5) for _ in range(3)] == [1, 2, 3]
    join_all([t])
    assert len(ch) == 0


def test_capacity_values():
    assert gc.Channel().capacity == 0
    assert gc.Channel(0).capacity == 0
    assert gc.Channel(1).capacity == 1
    assert gc.Channel(capacity=7).capacity == 7
    assert gc.Channel(gc.UNBOUNDED).capacity == gc.UNBOUNDED


def test_blocked_operations_that_time_out_leave_the_queues_empty():
    rx, tx = gc.Channel(), gc.Channel(1)
    tx.send("full")
    threads = [start(pytest.raises, TimeoutError, rx.recv, timeout=0.05) for _ in range(3)]
    threads += [start(pytest.raises, TimeoutError, tx.send, k, timeout=0.05) for k in range(3)]
    join_all(threads)
    assert waiting(rx) == (0, 0) and waiting(tx) == (0, 0)
    assert len(rx) == 0 and len(tx) == 1
    assert tx.recv(timeout=0) == "full"
    with pytest.raises(TimeoutError):
        tx.recv(timeout=0)
