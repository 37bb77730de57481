"""The plugin's gc_bubble fixture: the test runs inside
pygochan.testing.bubble(), whose clock is virtual."""
import threading

import pytest

import pygochan as gc

pytest_plugins = ["pytester"]


def test_the_fixture_is_a_bubble(gc_bubble):
    start = gc_bubble.now()
    gc.sleep(3600)  # no real hour passes: every bubble thread is durably blocked
    assert gc_bubble.now() - start == 3600
    with pytest.raises(TimeoutError):
        gc.Channel().recv(timeout=60)
    assert gc_bubble.now() - start == 3660


def test_threads_the_test_starts_join_the_bubble(gc_bubble):
    ch = gc.Channel()
    got = []
    t = threading.Thread(target=lambda: got.append(ch.recv(timeout=120)))
    t.start()
    gc_bubble.wait()  # until the thread is durably blocked
    ch.send("hi")
    t.join()
    assert got == ["hi"]


def test_the_fixture_in_a_pytest_of_its_own(pytester):
    pytester.makepyfile(test_inner="""
import pytest
import pygochan as gc

def test_timeout(gc_bubble):
    start = gc_bubble.now()
    with pytest.raises(TimeoutError):
        gc.Channel().recv(timeout=30)
    assert gc_bubble.now() - start == 30

def test_deadlock_fails_the_test(gc_bubble):
    gc.Channel().recv()
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Deadlock*"])


def sleep_then_send(seconds, done):
    gc.sleep(seconds)
    done.send(seconds)


def test_start_tracking_and_bubbles_in_either_order():
    with gc.testing.track_thread_starts():
        with gc.testing.bubble():
            done = gc.Channel()
            t = threading.Thread(target=sleep_then_send, args=(5, done))
            t.start()
            assert done.recv() == 5
    t.join()
    assert gc.testing.started_at(t) is not None
    with gc.testing.bubble() as b:  # the bubble still sees its threads start
        start = b.now()
        done = gc.Channel()
        u = threading.Thread(target=sleep_then_send, args=(5, done))
        u.start()
        assert done.recv() == 5
        assert b.now() - start == 5
    u.join()
    assert gc.testing.started_at(u) is None
