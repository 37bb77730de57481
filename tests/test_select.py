"""select: choice, fairness, duplicates, blocking and non-blocking forms."""
import math
import threading

import pytest

import pygochan as gc
from conftest import join_all, start, wait_for, waiting


def test_result_is_a_named_tuple():
    ch = gc.Channel(1)
    ch.send("v")
    res = gc.select(gc.recv(ch))
    assert isinstance(res, gc.SelectResult) and isinstance(res, tuple)
    assert (res.index, res.value, res.ok) == (0, "v", True) == tuple(res)
    idx, value, ok = res
    assert idx == 0 and value == "v" and ok is True
    assert repr(res) == "SelectResult(index=0, value='v', ok=True)"


def test_send_case_result():
    ch = gc.Channel(1)
    assert gc.select(gc.send(ch, 5)) == (1 - 1, None, True)
    assert ch.recv() == 5


def test_fairness_among_ready_cases():
    k, n = 4, 20_000
    chans = [gc.Channel(1) for _ in range(k)]
    for ch in chans:
        ch.send(0)
    cases = [gc.recv(ch) for ch in chans]
    counts = [0] * k
    for _ in range(n):
        i = gc.select(*cases).index
        counts[i] += 1
        chans[i].send(0)
    # chi-square with k-1 = 3 degrees of freedom; 30 is far beyond p = 1e-6
    expected = n / k
    chi2 = sum((c - expected) ** 2 / expected for c in counts)
    assert chi2 < 30, counts


def test_fairness_with_send_and_recv_cases_mixed():
    a, b = gc.Channel(gc.UNBOUNDED), gc.Channel(1)
    b.send(0)
    counts = [0, 0]
    for _ in range(10_000):
        i = gc.select(gc.send(a, 1), gc.recv(b)).index
        counts[i] += 1
        if i == 1:
            b.send(0)
    sigma = math.sqrt(10_000 * 0.25)
    assert abs(counts[0] - 5000) < 6 * sigma, counts


def test_same_channel_twice():
    ch = gc.Channel(1)
    ch.send("x")
    res = gc.select(gc.recv(ch), gc.recv(ch))
    assert res.index in (0, 1) and res.value == "x"
    assert gc.select(gc.recv(ch), gc.recv(ch), default=True).index == -1


def test_send_and_recv_of_one_channel_in_one_select():
    ch = gc.Channel(1)
    # empty: only the send can proceed
    assert gc.select(gc.recv(ch), gc.send(ch, "v")).index == 1
    # full: only the recv can proceed
    assert gc.select(gc.recv(ch), gc.send(ch, "w")) == (0, "v", True)
    assert len(ch) == 0


def test_unbuffered_send_and_recv_in_one_select_do_not_match_each_other():
    ch = gc.Channel()
    with pytest.raises(TimeoutError):
        gc.select(gc.recv(ch), gc.send(ch, 1), timeout=0.05)
    assert waiting(ch) == (0, 0)


def test_default_never_taken_while_a_case_is_ready_throughout():
    ready = gc.Channel(gc.UNBOUNDED)
    closed = gc.Channel()
    closed.close()
    for _ in range(10):
        ready.send(0)
    stop = threading.Event()

    def churn():  # another thread keeps the buffer non-empty but moving
        while not stop.is_set():
            ready.send(1)
            ready.recv()

    t = start(churn)
    try:
        empty = [gc.recv(gc.Channel()) for _ in range(3)]
        for _ in range(5000):
            assert gc.select(*empty, gc.recv(ready), default=True).index == 3
            ready.send(0)
            assert gc.select(gc.recv(closed), *empty, default=True) == (0, None, False)
    finally:
        stop.set()
        join_all([t])


def test_blocking_select_woken_by_a_send():
    a, b = gc.Channel(), gc.Channel()
    results = []
    t = start(lambda: results.append(gc.select(gc.recv(a), gc.recv(b), timeout=10)))
    wait_for(lambda: waiting(b) == (0, 1))
    b.send("hi")
    join_all([t])
    assert results == [(1, "hi", True)]
    assert waiting(a) == (0, 0)  # the losing case left no entry behind


def test_blocking_select_send_case_taken_by_a_receiver():
    a = gc.Channel()
    results = []
    t = start(lambda: results.append(gc.select(gc.send(a, 1), gc.recv(None), timeout=10)))
    assert a.recv(timeout=10) == 1
    join_all([t])
    assert results == [(0, None, True)]


def test_select_woken_by_close():
    a = gc.Channel()
    results = []
    t = start(lambda: results.append(gc.select(gc.recv(a), timeout=10)))
    wait_for(lambda: waiting(a) == (0, 1))
    a.close()
    join_all([t])
    assert results == [(0, None, False)]


def test_select_send_case_on_channel_closed_while_waiting_raises():
    a = gc.Channel()
    errors = []

    def run():
        try:
            gc.select(gc.send(a, 1), gc.recv(gc.Channel()), timeout=10)
        except gc.ChannelClosed as e:
            errors.append(str(e))

    t = start(run)
    wait_for(lambda: waiting(a) == (1, 0))
    a.close()
    join_all([t])
    assert errors == ["send on closed channel"]


def test_chosen_send_on_closed_channel_raises():
    a = gc.Channel(1)
    a.close()
    with pytest.raises(gc.ChannelClosed):
        gc.select(gc.send(a, 1))
    with pytest.raises(gc.ChannelClosed):
        gc.select(gc.send(a, 1), default=True)


def test_select_timeout_has_no_effect():
    a, b = gc.Channel(), gc.Channel(1)
    b.send("full")
    with pytest.raises(TimeoutError):
        gc.select(gc.recv(a), gc.send(b, "x"), timeout=0.02)
    assert b.recv() == "full" and len(b) == 0


def test_select_with_no_cases():
    with pytest.raises(TimeoutError):
        gc.select(timeout=0.01)
    assert gc.select(default=True) == (-1, None, False)


def test_select_over_many_cases():
    chans = [gc.Channel(1) for _ in range(64)]
    chans[41].send("deep")
    assert gc.select(*[gc.recv(c) for c in chans]) == (41, "deep", True)
    results = []
    t = start(lambda: results.append(gc.select(*[gc.recv(c) for c in chans], timeout=10)))
    wait_for(lambda: waiting(chans[63]) == (0, 1))
    chans[17].send("late")
    join_all([t])
    assert results == [(17, "late", True)]


def test_cases_are_reusable():
    ch = gc.Channel(1)
    case = gc.recv(ch)
    for i in range(100):
        ch.send(i)
        assert gc.select(case).value == i
