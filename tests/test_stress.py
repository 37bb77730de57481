"""Many threads, random timeouts on both sides: every value is received
exactly once or its send raised."""
import collections
import threading

import pytest

import pygochan as gc
from conftest import join_all, start

CAPACITIES = [0, 1, 16, gc.UNBOUNDED]


def exchange(rng, capacity, senders=8, receivers=8, per_sender=400, use_select=True):
    ch, other = gc.Channel(capacity), gc.Channel(capacity)
    sent = []                       # values whose send returned normally
    received = []
    lock = threading.Lock()
    seeds = [rng.randrange(2**32) for _ in range(senders + receivers)]
    senders_done = gc.Channel(gc.UNBOUNDED)

    def sender(k):
        import random
        r = random.Random(seeds[k])
        mine = []
        for i in range(per_sender):
            v = (k, i)
            timeout = r.choice([0, 0.0001, 0.0005, 0.002, None])
            target = ch if r.random() < 0.5 else other
            try:
                if use_select and r.random() < 0.3:
                    gc.select(gc.send(target, v), gc.send(None, v), timeout=timeout)
                else:
                    target.send(v, timeout=timeout)
                mine.append(v)
            except TimeoutError:
                pass
        with lock:
            sent.extend(mine)
        senders_done.send(k)

    def receiver(k):
        import random
        r = random.Random(seeds[senders + k])
        mine = []
        open_chans = [ch, other]
        while open_chans:
            timeout = r.choice([0, 0.0002, 0.001, 0.01])
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

    rx = [start(receiver, k) for k in range(receivers)]
    tx = [start(sender, k) for k in range(senders)]
    join_all(tx, timeout=120)
    ch.close()
    other.close()
    join_all(rx, timeout=120)
    counts = collections.Counter(received)
    duplicates = [v for v, n in counts.items() if n > 1]
    assert not duplicates, duplicates[:5]
    assert set(received) == set(sent)
    assert len(sent) > 0
    return len(sent)


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_every_value_received_exactly_once_or_send_raised(rng, capacity):
    exchange(rng, capacity)


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_close_racing_blocked_senders_and_receivers(rng, capacity):
    for _ in range(20):
        ch = gc.Channel(capacity)
        outcomes = collections.Counter()
        delivered, received = [], []
        lock = threading.Lock()

        def sender(v):
            try:
                ch.send(v, timeout=10)
                with lock:
                    delivered.append(v)
            except gc.ChannelClosed:
                with lock:
                    outcomes["closed"] += 1

        def receiver():
            got = list(ch)  # ends only when closed and drained
            with lock:
                received.extend(got)

        threads = [start(sender, v) for v in range(6)] + [start(receiver) for _ in range(3)]
        for _ in range(rng.randrange(3)):
            threading.Event().wait(rng.random() * 0.002)
        ch.close()
        join_all(threads)
        assert sorted(received) == sorted(delivered)
        assert len(delivered) + outcomes["closed"] == 6


def test_many_threads_on_one_unbuffered_channel(rng):
    ch = gc.Channel()
    n_threads, per = 32, 200
    got = []
    lock = threading.Lock()

    def consume():
        local = list(ch)
        with lock:
            got.extend(local)

    consumers = [start(consume) for _ in range(n_threads)]
    producers = [start(lambda k=k: [ch.send((k, i)) for i in range(per)]) for k in range(n_threads)]
    join_all(producers, timeout=120)
    ch.close()
    join_all(consumers, timeout=120)
    assert sorted(got) == sorted((k, i) for k in range(n_threads) for i in range(per))


@pytest.mark.slow
@pytest.mark.parametrize("capacity", CAPACITIES)
def test_soak_exactly_once(rng, capacity):
    for _ in range(10):
        exchange(rng, capacity, senders=16, receivers=16, per_sender=2000)
