import os
import random
import threading

import pytest


@pytest.fixture
def rng(request):
    """A seeded random.Random; the seed is printed so a failure can be replayed
    with PYGOCHAN_SEED=<seed>."""
    seed = int(os.environ.get("PYGOCHAN_SEED", random.randrange(2**32)))
    print(f"\n{request.node.name}: PYGOCHAN_SEED={seed}")
    return random.Random(seed)


def start(fn, *args, **kwargs):
    """Start a daemon thread running fn; returns the thread."""
    t = threading.Thread(target=fn, args=args, kwargs=kwargs, daemon=True)
    t.start()
    return t


def join_all(threads, timeout=30.0):
    """Join threads, failing the test (instead of hanging) if one is stuck."""
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), f"thread {t.name} did not finish"


def wait_for(predicate, timeout=10.0):
    """Poll until predicate() is true; fail the test after timeout seconds."""
    import time

    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.001)


def waiting(ch):
    """(waiting_senders, waiting_receivers) parsed from repr(ch)."""
    text = repr(ch)
    senders = int(text.split("waiting_senders=")[1].split()[0])
    receivers = int(text.split("waiting_receivers=")[1].split(">")[0])
    return senders, receivers
