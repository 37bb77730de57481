"""Many threads, random timeouts on both sides: every value is received
exactly once or its send raised.

Each test takes its randomness from the `rng` fixture, which prints its seed;
PYGOCHAN_SEED=<seed> replays a failure's choices (thread scheduling still
varies).  `pytest -m slow` runs the long soak variants."""
import collections
import gc as pygc
import random
import sys
import threading
import time

import pytest

import pygochan as gc
from conftest import FREE_THREADED, join_all, start, wait_for, waiting

CAPACITIES = [0, 1, 16, gc.UNBOUNDED]
SEND_TIMEOUTS = [0, 0.00005, 0.0002, 0.001, 0.005, None]
RECV_TIMEOUTS = [0, 0.00005, 0.0002, 0.001, 0.01]


@pytest.fixture(autouse=True)
def frequent_thread_switches():
    """Hand the GIL around every few microseconds instead of every 5 ms, so
    the threads really interleave between and inside pygochan's calls."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def check_exactly_once(sent, received):
    """received (a list) holds each successfully sent value exactly once."""
    counts = collections.Counter(received)
    duplicates = [v for v, n in counts.items() if n > 1]
    assert not duplicates, f"received twice: {duplicates[:5]}"
    sent_set = set(sent)
    assert len(sent_set) == len(sent), "a value was counted as sent twice"
    lost = sent_set - counts.keys()
    invented = counts.keys() - sent_set
    assert not lost, f"sent but never received: {sorted(lost)[:5]} ({len(lost)} in all)"
    assert not invented, f"received but its send raised: {sorted(invented)[:5]}"


def observe(chans, stop):
    """Read every channel's state and run the cyclic GC (which visits the
    buffers) over and over while the others work: neither may disturb them."""
    while not stop.is_set():
        for c in chans:
            text = repr(c)
            assert "waiting_senders=" in text
            n = len(c)
            assert n >= 0 and (c.capacity < 0 or n <= c.capacity)
            assert c.closed in (True, False)
        started = time.perf_counter()
        pygc.collect(0)
        if FREE_THREADED:
            # There every collection is a full one that stops the world: a
            # loop of them leaves the others almost no time to run.  Pausing
            # as long as it took keeps them running at least half the time.
            stop.wait(time.perf_counter() - started)


def exchange(rng, capacity, senders=8, receivers=8, per_sender=600, use_select=True,
             observed=False):
    """Senders push distinct values into two channels with random timeouts
    (plain send or a select with a nil case beside); receivers pull with
    random timeouts (plain recv_ok, or a select over both channels); then the
    channels are closed and the receivers drain them to the end."""
    ch, other = gc.Channel(capacity), gc.Channel(capacity)
    sent, received = [], []
    lock = threading.Lock()
    seeds = [rng.randrange(2**32) for _ in range(senders + receivers)]

    def sender(k):
        r = random.Random(seeds[k])
        mine = []
        for i in range(per_sender):
            v = (k, i)
            timeout = r.choice(SEND_TIMEOUTS)
            target = ch if r.random() < 0.5 else other
            try:
                if use_select and r.random() < 0.3:
                    res = gc.select(gc.send(target, v), gc.send(None, v), timeout=timeout)
                    assert res == (0, None, True)
                else:
                    target.send(v, timeout=timeout)
                mine.append(v)
            except TimeoutError:
                pass
        with lock:
            sent.extend(mine)

    def receiver(k):
        r = random.Random(seeds[senders + k])
        mine = []
        open_chans = [ch, other]
        while open_chans:
            timeout = r.choice(RECV_TIMEOUTS)
            try:
                if use_select and r.random() < 0.5:
                    cases = [gc.recv(c) for c in open_chans] + [gc.recv(None)]
                    idx, v, ok = gc.select(*cases, timeout=timeout)
                    if not ok:
                        open_chans.pop(idx)
                        continue
                else:
                    c = r.choice(open_chans)
                    v, ok = c.recv_ok(timeout=timeout)
                    if not ok:
                        open_chans.remove(c)
                        continue
                mine.append(v)
            except TimeoutError:
                pass
        with lock:
            received.extend(mine)

    stop = threading.Event()
    observers = [start(observe, [ch, other], stop)] if observed else []
    try:
        rx = [start(receiver, k) for k in range(receivers)]
        tx = [start(sender, k) for k in range(senders)]
        join_all(tx, timeout=120)
        ch.close()
        other.close()
        join_all(rx, timeout=120)
    finally:
        # also when a join failed: an observer left running would slow down
        # every test after this one
        stop.set()
    join_all(observers)
    check_exactly_once(sent, received)
    assert len(sent) > 0
    assert waiting(ch) == (0, 0) and waiting(other) == (0, 0)
    return len(sent)


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_every_value_received_exactly_once_or_send_raised(rng, capacity):
    exchange(rng, capacity, per_sender=4000)


@pytest.mark.parametrize("senders, receivers", [(2, 14), (14, 2), (1, 1)])
@pytest.mark.parametrize("capacity", [0, 1])
def test_exactly_once_with_lopsided_thread_counts(rng, capacity, senders, receivers):
    exchange(rng, capacity, senders=senders, receivers=receivers,
             per_sender=4000 if senders == 1 else 16_000 // senders)


@pytest.mark.parametrize("capacity", [0, 16, gc.UNBOUNDED])
def test_exactly_once_while_another_thread_inspects_and_collects(rng, capacity):
    exchange(rng, capacity, per_sender=2000, observed=True)


@pytest.mark.parametrize("capacity", [0, 1])
def test_exactly_once_with_plain_calls_only(rng, capacity):
    exchange(rng, capacity, per_sender=4000, use_select=False)


def mixed_actors(rng, capacity, actors=8, steps=3000):
    """Each actor runs selects that mix send and recv cases on the same
    channels (several channels, duplicates, nil cases), with random timeouts.
    A send case that commits counts its value as sent; a recv case that
    commits records its value.  Afterwards whatever is left in the buffers is
    drained; every value sent was received exactly once."""
    chans = [gc.Channel(capacity) for _ in range(3)]
    sent, received = [], []
    lock = threading.Lock()
    seeds = [rng.randrange(2**32) for _ in range(actors)]

    def actor(k):
        r = random.Random(seeds[k])
        my_sent, my_recv = [], []
        for i in range(steps):
            v = (k, i)
            cases, kinds = [], []
            for _ in range(r.randint(1, 4)):
                c = r.choice(chans + [None])
                if r.random() < 0.5:
                    cases.append(gc.send(c, v))
                    kinds.append("send")
                else:
                    cases.append(gc.recv(c))
                    kinds.append("recv")
            timeout = r.choice(RECV_TIMEOUTS)
            try:
                if r.random() < 0.2:
                    idx, value, ok = gc.select(*cases, default=True)
                    if idx == -1:
                        continue
                else:
                    idx, value, ok = gc.select(*cases, timeout=timeout)
            except TimeoutError:
                continue
            assert ok  # no channel is closed during the run
            if kinds[idx] == "send":
                assert value is None
                my_sent.append(v)
            else:
                my_recv.append(value)
        with lock:
            sent.extend(my_sent)
            received.extend(my_recv)

    threads = [start(actor, k) for k in range(actors)]
    join_all(threads, timeout=120)
    for c in chans:
        assert waiting(c) == (0, 0)
        c.close()
        received.extend(c)
    check_exactly_once(sent, received)
    assert len(sent) > 0


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_mixed_send_and_recv_selects_exactly_once(rng, capacity):
    mixed_actors(rng, capacity)


@pytest.mark.parametrize("capacity", [0, 1])
def test_timeouts_racing_the_partner_never_lose_a_value(rng, capacity):
    """Pairs of threads whose timeouts are about as long as it takes the
    partner to arrive: the send either delivered (and was received once) or
    raised TimeoutError, and then the value is nowhere."""
    ch = gc.Channel(capacity)
    sent, received = [], []
    lock = threading.Lock()
    seeds = [rng.randrange(2**32) for _ in range(8)]

    def sender(k):
        r = random.Random(seeds[k])
        mine = []
        for i in range(5000):
            try:
                ch.send((k, i), timeout=r.choice([0, 0.00001, 0.00003, 0.0001]))
                mine.append((k, i))
            except TimeoutError:
                pass
        with lock:
            sent.extend(mine)

    def receiver(k):
        r = random.Random(seeds[4 + k])
        mine = []
        for _ in range(10_000):
            try:
                mine.append(ch.recv(timeout=r.choice([0, 0.00001, 0.00003, 0.0001])))
            except TimeoutError:
                pass
        with lock:
            received.extend(mine)

    threads = [start(sender, k) for k in range(4)] + [start(receiver, k) for k in range(4)]
    join_all(threads, timeout=120)
    ch.close()
    received.extend(ch)
    check_exactly_once(sent, received)


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_close_racing_blocked_senders_and_receivers(rng, capacity):
    """Close lands while senders and receivers are blocked or about to be:
    every sender either delivered (and its value is received once) or raised
    ChannelClosed; every receiver ends."""
    for _ in range(60):
        ch = gc.Channel(capacity)
        closed_errors = []
        delivered, received = [], []
        lock = threading.Lock()

        def sender(v, via_select):
            try:
                if via_select:
                    gc.select(gc.send(ch, v), gc.recv(None), timeout=10)
                else:
                    ch.send(v, timeout=10)
                with lock:
                    delivered.append(v)
            except gc.ChannelClosed:
                with lock:
                    closed_errors.append(v)

        def receiver(via_select):
            got = []
            if via_select:
                while True:
                    _, v, ok = gc.select(gc.recv(ch), gc.recv(None), timeout=10)
                    if not ok:
                        break
                    got.append(v)
            else:
                got = list(ch)  # ends only when closed and drained
            with lock:
                received.extend(got)

        threads = [start(sender, v, v % 2 == 0) for v in range(8)]
        threads += [start(receiver, k % 2 == 0) for k in range(3)]
        for _ in range(rng.randrange(3)):
            threading.Event().wait(rng.random() * 0.002)
        ch.close()
        join_all(threads)
        check_exactly_once(delivered, received)
        assert sorted(delivered + closed_errors) == list(range(8))
        assert waiting(ch) == (0, 0)


@pytest.mark.parametrize("capacity", [0, 1, gc.UNBOUNDED])
def test_close_racing_selects_over_two_channels(rng, capacity):
    """Selects send each value on whichever of two channels takes it, while
    receivers drain both and both channels are closed at a random moment.
    Each select either reported one send (received exactly once) or raised
    ChannelClosed (sent nowhere)."""
    for _ in range(30):
        a, b = gc.Channel(capacity), gc.Channel(capacity)
        delivered, refused, received = [], [], []
        lock = threading.Lock()

        def sender(v):
            try:
                idx, _, _ = gc.select(gc.send(a, v), gc.send(b, v), gc.recv(None), timeout=10)
                with lock:
                    delivered.append(v)
            except gc.ChannelClosed:
                with lock:
                    refused.append(v)

        def receiver():
            got, open_chans = [], [a, b]
            while open_chans:
                idx, v, ok = gc.select(*[gc.recv(c) for c in open_chans], timeout=10)
                if ok:
                    got.append(v)
                else:
                    open_chans.pop(idx)
            with lock:
                received.extend(got)

        threads = [start(sender, v) for v in range(10)] + [start(receiver) for _ in range(2)]
        threading.Event().wait(rng.random() * 0.003)
        a.close()
        if rng.random() < 0.5:
            threading.Event().wait(rng.random() * 0.001)
        b.close()
        join_all(threads)
        check_exactly_once(delivered, received)
        assert sorted(delivered + refused) == list(range(10))


@pytest.mark.parametrize("capacity", [0, 2])
def test_close_wakes_all_blocked_senders_each_with_channel_closed(capacity):
    """With no receiver at all, every sender beyond the buffer blocks; close
    makes each of them raise, and the buffer keeps exactly what fitted."""
    for _ in range(10):
        ch = gc.Channel(capacity)
        outcomes = collections.Counter()
        lock = threading.Lock()

        def sender(v):
            try:
                ch.send(v, timeout=10)
                r = "sent"
            except gc.ChannelClosed:
                r = "closed"
            with lock:
                outcomes[r] += 1

        threads = [start(sender, v) for v in range(12)]
        wait_for(lambda: waiting(ch)[0] == 12 - capacity)
        ch.close()
        join_all(threads)
        assert (outcomes["sent"], outcomes["closed"]) == (capacity, 12 - capacity)
        assert len(list(ch)) == capacity


def test_many_threads_on_one_unbuffered_channel():
    ch = gc.Channel()
    n_threads, per = 32, 200
    got = []
    lock = threading.Lock()

    def consume():
        local = list(ch)
        with lock:
            got.extend(local)

    def produce(k):
        for i in range(per):
            ch.send((k, i), timeout=60)

    consumers = [start(consume) for _ in range(n_threads)]
    producers = [start(produce, k) for k in range(n_threads)]
    join_all(producers, timeout=120)
    ch.close()
    join_all(consumers, timeout=120)
    check_exactly_once([(k, i) for k in range(n_threads) for i in range(per)], got)


def test_per_sender_fifo_is_kept_through_a_buffer(rng):
    """Values from one sender arrive in the order it sent them, whatever the
    other senders and receivers do (Go's channel is a FIFO)."""
    ch = gc.Channel(16)
    per = 2000
    received = [[] for _ in range(4)]

    def produce(k):
        for i in range(per):
            ch.send((k, i), timeout=60)

    def consume(j):
        for v in ch:
            received[j].append(v)

    consumers = [start(consume, j) for j in range(4)]
    producers = [start(produce, k) for k in range(4)]
    join_all(producers, timeout=120)
    ch.close()
    join_all(consumers, timeout=120)
    for j in range(4):
        for k in range(4):
            mine = [i for (kk, i) in received[j] if kk == k]
            assert mine == sorted(mine)
    assert sum(len(r) for r in received) == 4 * per


@pytest.mark.slow
@pytest.mark.parametrize("capacity", CAPACITIES)
def test_soak_exactly_once(rng, capacity):
    for _ in range(10):
        exchange(rng, capacity, senders=16, receivers=16, per_sender=8000, observed=True)


@pytest.mark.slow
@pytest.mark.parametrize("capacity", CAPACITIES)
def test_soak_mixed_selects(rng, capacity):
    for _ in range(5):
        mixed_actors(rng, capacity, actors=16, steps=10_000)


@pytest.mark.slow
@pytest.mark.parametrize("capacity", CAPACITIES)
def test_soak_close_racing(rng, capacity):
    for _ in range(50):
        test_close_racing_blocked_senders_and_receivers(rng, capacity)


SHUTDOWN_SCRIPT = """
import pygochan as gc, threading, random, time
ch, buf = gc.Channel(), gc.Channel(4)
def churn():
    while True:
        try:
            gc.select(gc.recv(ch), gc.send(buf, 1), gc.recv(buf),
                      timeout=random.choice([0, 0.0001, 0.001]))
            ch.send(1, timeout=0.0005)
        except TimeoutError:
            pass
for _ in range(8):
    threading.Thread(target=churn, daemon=True).start()
for _ in range(4):
    threading.Thread(target=gc.Channel().recv, daemon=True).start()
time.sleep(0.05)
print("bye", flush=True)
"""


def test_interpreter_exits_cleanly_while_threads_are_blocked_or_churning():
    """Daemon threads still blocked in, or busy with, pygochan when the
    interpreter shuts down must not crash or hang the exit."""
    import subprocess

    for _ in range(5):
        proc = subprocess.run([sys.executable, "-c", SHUTDOWN_SCRIPT], capture_output=True,
                              text=True, timeout=60)
        assert (proc.returncode, proc.stdout.strip()) == (0, "bye"), proc.stderr[-2000:]
