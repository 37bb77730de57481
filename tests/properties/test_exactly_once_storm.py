"""Exactly once, under a storm: senders and receivers on channels of every
kind, with plain calls, mixed selects (send and receive cases together, nil
cases, one channel twice), timeouts, contexts canceled at random and channels
closed at random.  Every value is tagged; every successful send and every
received value is recorded.  Afterwards the values received are exactly the
values sent (as multisets), and no value of a send that raised was ever
received."""
import collections
import random
import threading
import time

import pytest

import pygochan as gc
from conftest import JOIN_TIMEOUT, seed_from_env

CAPACITIES = (0, 1, 16, gc.UNBOUNDED)
ENDED = (TimeoutError, gc.Canceled, gc.DeadlineExceeded, gc.ChannelClosed)


class Storm:
    def __init__(self, seed, seconds, senders=4, receivers=4):
        self.rng = random.Random(seed)
        self.seed = seed
        self.seconds = seconds
        self.channels = [gc.Channel(cap) for cap in CAPACITIES]
        self.lock = threading.Lock()
        self.sent = collections.Counter()
        self.received = collections.Counter()
        self.raised = set()      # values whose send raised
        self.operations = 0
        self.stop = threading.Event()
        self.ctx, self.cancel = gc.with_cancel(gc.background())
        self.n_senders, self.n_receivers = senders, receivers

    # contexts: one shared context, canceled and replaced at random
    def current_ctx(self):
        with self.lock:
            return self.ctx

    def churn_contexts(self):
        r = random.Random(self.seed + 99)
        while not self.stop.wait(r.uniform(0.001, 0.01)):
            with self.lock:
                cancel, (self.ctx, self.cancel) = self.cancel, gc.with_cancel(gc.background())
            cancel()

    def record(self, sent=(), received=(), raised=()):
        with self.lock:
            self.sent.update(sent)
            self.received.update(received)
            self.raised.update(raised)
            self.operations += 1

    def send_loop(self, k):
        r = random.Random(self.seed + k)
        i = 0
        while not self.stop.is_set():
            i += 1
            v = (k, i)
            c = r.choice(self.channels)
            other = r.choice(self.channels)
            mode = r.randrange(7)
            try:
                if mode == 0:
                    c.send(v, timeout=r.uniform(0, 0.002))
                elif mode == 1:
                    c.send(v, ctx=self.current_ctx(), timeout=0.05)
                elif mode == 2:
                    res = gc.select(gc.send(c, v), gc.recv(None), default=True)
                    if res.index == -1:
                        self.record(raised=[v])
                        continue
                elif mode == 3:   # the same value offered twice: one wins
                    gc.select(gc.send(c, v), gc.send(other, v), timeout=0.002)
                elif mode == 4:   # send and receive in one select
                    res = gc.select(gc.send(c, v), gc.recv(other), timeout=0.002,
                                    ctx=self.current_ctx())
                    if res.index == 1:
                        self.record(received=[res.value] if res.ok else [], raised=[v])
                        continue
                elif mode == 5:
                    c.send(v, timeout=0)
                else:
                    c.send(v, timeout=0.01)
            except ENDED:
                self.record(raised=[v])
                continue
            self.record(sent=[v])

    def receive_loop(self, k):
        r = random.Random(self.seed + 1000 + k)
        while True:
            c = r.choice(self.channels)
            mode = r.randrange(6)
            try:
                if mode == 0:
                    v, ok = c.recv_ok(timeout=r.uniform(0, 0.002))
                elif mode == 1:
                    v, ok = c.recv(ctx=self.current_ctx(), timeout=0.05), True
                elif mode == 2:
                    i, v, ok = gc.select(*[gc.recv(ch) for ch in self.channels],
                                         gc.recv(None), timeout=0.002)
                elif mode == 3:   # one channel twice
                    i, v, ok = gc.select(gc.recv(c), gc.recv(c), default=True)
                    if i == -1:
                        continue
                elif mode == 4:
                    v, ok = c.recv_ok(timeout=0)
                else:
                    i, v, ok = gc.select(gc.recv(c), timeout=0.005, ctx=self.current_ctx())
            except ENDED:
                if self.stop.is_set() and all(ch.closed and not len(ch) for ch in self.channels):
                    return
                continue
            if ok:
                self.record(received=[v])
            elif self.stop.is_set() and all(ch.closed and not len(ch) for ch in self.channels):
                return

    def run(self):
        threads = [threading.Thread(target=self.send_loop, args=(k,), daemon=True)
                   for k in range(self.n_senders)]
        threads += [threading.Thread(target=self.receive_loop, args=(k,), daemon=True)
                    for k in range(self.n_receivers)]
        churn = threading.Thread(target=self.churn_contexts, daemon=True)
        for t in threads + [churn]:
            t.start()
        # close channels at random moments: each closed one is replaced, so
        # later sends meet both closed and open channels
        end = time.monotonic() + self.seconds
        closed = []
        while time.monotonic() < end:
            time.sleep(self.rng.uniform(0.02, 0.2))
            j = self.rng.randrange(len(self.channels))
            old = self.channels[j]
            self.channels[j] = gc.Channel(old.capacity)
            old.close()
            closed.append(old)
        self.stop.set()
        for t in threads[:self.n_senders] + [churn]:
            t.join(JOIN_TIMEOUT)
        for c in self.channels:
            c.close()
        for t in threads[self.n_senders:]:
            t.join(JOIN_TIMEOUT)
        assert not any(t.is_alive() for t in threads + [churn]), "a storm thread is stuck"
        for c in self.channels + closed:
            for v in c:       # whatever the receivers left behind
                self.received[v] += 1

    def check(self):
        lost = self.sent - self.received
        extra = self.received - self.sent
        ghosts = self.raised & set(self.received)
        print(f"seed {self.seed}: {self.operations} operations, {sum(self.sent.values())} "
              f"values sent, {len(self.raised)} sends raised")
        assert not lost, f"lost: {list(lost)[:10]}"
        assert not extra, f"received more than sent: {list(extra)[:10]}"
        assert not ghosts, f"values of sends that raised were received: {list(ghosts)[:10]}"
        assert all(n == 1 for n in self.sent.values())


def test_exactly_once_storm():
    seed = seed_from_env()
    print(f"PYGOCHAN_SEED={seed}")
    storm = Storm(seed, seconds=2.0)
    storm.run()
    storm.check()
    assert storm.operations > 1000


@pytest.mark.slow
def test_exactly_once_storm_soak():
    seed = seed_from_env()
    print(f"PYGOCHAN_SEED={seed}")
    storm = Storm(seed, seconds=120.0, senders=8, receivers=8)
    storm.run()
    storm.check()
