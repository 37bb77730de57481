"""Semaphore.acquire waits through the operation every blocking call uses."""

import threading

import pytest

import pygochan as gc
from conftest import FREE_THREADED


def test_a_semaphore_wait_shows_as_acquire_on_the_semaphore():
    # Semaphore.acquire waits through the one operation: blocked() names the
    # Semaphore and the operation, and a timeout says what timed out.
    sem = gc.Semaphore(1)
    sem.acquire()
    waiting = threading.Thread(target=lambda: sem.acquire(timeout=30), daemon=True)
    waiting.start()
    try:
        for _ in range(2000):
            waits = [w for w in gc.blocked() if w.thread is waiting]
            if waits:
                break
            threading.Event().wait(0.005)
        assert waits, "the acquire never parked"
        assert waits[0].operation == "acquire"
        if FREE_THREADED:
            assert waits[0].objects == ()  # blocked() leaves objects out there
        else:
            assert "Semaphore" in waits[0].objects[0]
        with pytest.raises(TimeoutError, match="acquire timed out"):
            sem.acquire(timeout=0.01)
    finally:
        sem.release()
        waiting.join(10)
    assert not waiting.is_alive()
