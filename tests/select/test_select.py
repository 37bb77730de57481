"""select: the result, uniform choice, duplicates, exactly-once commits,
blocking and non-blocking forms, timeouts and bad input."""
import copy
import gc as pygc
import math
import pickle
import sys
import threading
import time
import weakref

import pytest

import pygochan as gc
from conftest import join_all, start, wait_blocked, wait_for, waiting


def chi_square(counts):
    expected = sum(counts) / len(counts)
    return sum((c - expected) ** 2 / expected for c in counts)


def chi_square_bound(dof, sigmas=6.0):
    """An upper bound the statistic exceeds with probability far below 1e-8
    (Wilson-Hilferty: (chi2/dof)^(1/3) is close to normal)."""
    mean = 1 - 2 / (9 * dof)
    sd = math.sqrt(2 / (9 * dof))
    return dof * (mean + sigmas * sd) ** 3


# ---- the result ------------------------------------------------------------

def test_result_is_a_named_tuple():
    ch = gc.Channel(1)
    ch.send("v")
    res = gc.select(gc.recv(ch))
    assert isinstance(res, gc.SelectResult) and isinstance(res, tuple)
    assert (res.index, res.value, res.ok) == (0, "v", True) == tuple(res)
    assert len(res) == 3 and res[0] == 0 and res[1] == "v" and res[2] is True
    idx, value, ok = res
    assert idx == 0 and value == "v" and ok is True
    assert repr(res) == "SelectResult(index=0, value='v', ok=True)"
    assert res == (0, "v", True)


def test_result_type_names_its_fields():
    assert gc.SelectResult.__module__ == "pygochan"
    assert gc.SelectResult.__qualname__ == "SelectResult"
    assert gc.SelectResult._fields == ("index", "value", "ok")
    assert gc.SelectResult.__match_args__ == ("index", "value", "ok")
    assert gc.SelectResult.__doc__.startswith("SelectResult(index, value, ok)")
    assert gc.SelectResult.index.__doc__.startswith("Position of the chosen case")
    res = gc.select(gc.recv(gc.Channel()), default=True)
    assert not hasattr(res, "__dict__")
    with pytest.raises(AttributeError):
        res.index = 1


@pytest.mark.skipif(sys.version_info < (3, 10), reason="3.9 has no immutable heap types")
def test_result_type_is_immutable():
    # its n_fields sizes every instance
    with pytest.raises(TypeError):
        gc.SelectResult.n_fields = 0
    assert gc.SelectResult.n_fields == 3


def test_result_repr_of_every_form():
    ch = gc.Channel(1)
    assert repr(gc.select(gc.recv(ch), default=True)) == (
        "SelectResult(index=-1, value=None, ok=False)")
    assert repr(gc.select(gc.recv(None), gc.send(ch, [1]))) == (
        "SelectResult(index=1, value=None, ok=True)")
    res = gc.select(gc.recv(ch))
    assert repr(res) == "SelectResult(index=0, value=[1], ok=True)"
    assert gc.SelectResult.__repr__(res) == repr(res) == str(res)
    ch.close()
    assert repr(gc.select(gc.recv(ch))) == "SelectResult(index=0, value=None, ok=False)"


def test_result_hashes_like_the_equal_tuple():
    ch = gc.Channel(1)
    ch.send("v")
    results = [gc.select(gc.recv(ch)), gc.select(gc.send(ch, 1)),
               gc.select(gc.recv(None), default=True),
               gc.SelectResult((2, "w", False))]
    for res in results:
        assert hash(res) == hash(tuple(res))
        assert tuple(res) in {res} and res in {tuple(res)}
    assert len({hash(res) for res in results}) == len(results)


def test_result_built_from_a_sequence():
    # what aselect(default=True) returns when nothing is ready
    res = gc.SelectResult((-1, None, False))
    assert type(res) is gc.SelectResult and res == (-1, None, False)
    assert res.index == -1 and res.value is None and res.ok is False
    assert repr(res) == "SelectResult(index=-1, value=None, ok=False)"
    assert gc.SelectResult([2, "x", True]).value == "x"
    for bad in [(), (1, 2), (1, 2, 3, 4)]:
        with pytest.raises(TypeError, match="3-sequence"):
            gc.SelectResult(bad)


def test_result_pickles_and_copies():
    ch = gc.Channel(1)
    ch.send({"k": [1, 2]})
    res = gc.select(gc.recv(ch))
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(res, protocol))
        assert type(back) is gc.SelectResult and back == res
        assert back.value == {"k": [1, 2]} and back.value is not res.value
    assert type(copy.copy(res)) is gc.SelectResult and copy.copy(res) == res
    deep = copy.deepcopy(res)
    assert type(deep) is gc.SelectResult and deep == res
    assert deep.value is not res.value


@pytest.mark.skipif(sys.version_info < (3, 10), reason="match is 3.10+")
def test_result_in_a_match_statement():
    source = (
        "def which(res):\n"
        "    match res:\n"
        "        case gc.SelectResult(-1, _, _):\n"
        "            return 'default'\n"
        "        case gc.SelectResult(index=i, ok=False):\n"
        "            return f'closed {i}'\n"
        "        case gc.SelectResult(i, value):\n"
        "            return f'{i}: {value}'\n"
        "        case (i, value, ok):\n"
        "            return 'plain tuple'\n")
    namespace = {"gc": gc}
    exec(source, namespace)
    which = namespace["which"]
    a, b = gc.Channel(1), gc.Channel()
    assert which(gc.select(gc.recv(a), default=True)) == "default"
    a.send("x")
    assert which(gc.select(gc.recv(b), gc.recv(a))) == "1: x"
    b.close()
    assert which(gc.select(gc.recv(b))) == "closed 0"
    assert which((0, 1, True)) == "plain tuple"


class _Holder:
    pass


def test_result_in_a_reference_cycle_is_collected():
    ch = gc.Channel(1)
    # every way a result is built is tracked by the collector: a received
    # value, a send case, the default, construction from Python
    ch.send(_Holder())
    received = gc.select(gc.recv(ch))
    built = gc.SelectResult((0, _Holder(), True))
    for res in [received, built, gc.select(gc.send(ch, 1)),
                gc.select(gc.send(ch, 2), default=True)]:
        assert pygc.is_tracked(res)
    refs = []
    for res in [received, built]:
        res.value.res = res  # value -> result -> value
        refs.append(weakref.ref(res.value))
    del received, built, res
    pygc.collect()
    assert [ref() for ref in refs] == [None, None]


def test_send_case_result():
    ch = gc.Channel(1)
    assert gc.select(gc.send(ch, 5)) == (0, None, True)
    assert ch.recv() == 5


def test_index_is_the_argument_position():
    chans = [gc.Channel(1) for _ in range(5)]
    for i, ch in enumerate(chans):
        ch.send(i)
        cases = [gc.recv(c) for c in chans]
        assert gc.select(*cases) == (i, i, True)


def test_recv_case_on_closed_channel_gives_buffered_values_then_not_ok():
    ch = gc.Channel(2)
    ch.send("a")
    ch.send(None)
    ch.close()
    assert gc.select(gc.recv(ch)) == (0, "a", True)
    assert gc.select(gc.recv(ch)) == (0, None, True)
    assert gc.select(gc.recv(ch)) == (0, None, False)
    assert gc.select(gc.recv(ch), default=True) == (0, None, False)
    assert gc.select(gc.recv(ch), timeout=0) == (0, None, False)


def test_sent_value_is_the_same_object():
    ch = gc.Channel(1)
    obj = object()
    gc.select(gc.send(ch, obj))
    assert ch.recv() is obj


def test_cases_are_reusable():
    ch = gc.Channel(1)
    case = gc.recv(ch)
    send_case = gc.send(ch, "again")
    for i in range(100):
        ch.send(i)
        assert gc.select(case).value == i
        gc.select(send_case)
        assert ch.recv() == "again"


# ---- uniform choice ----------------------------------------------------------

def choices_among_always_ready(k, n):
    """How often each of k always-ready recv cases wins in n selects."""
    chans = [gc.Channel(1) for _ in range(k)]
    for ch in chans:
        ch.send(0)
    cases = [gc.recv(ch) for ch in chans]
    counts = [0] * k
    for _ in range(n):
        i = gc.select(*cases).index
        counts[i] += 1
        chans[i].send(0)
    return counts


def test_fairness_among_ready_cases():
    k, n = 4, 20_000
    counts = choices_among_always_ready(k, n)
    assert chi_square(counts) < chi_square_bound(k - 1), counts
    sigma = math.sqrt(n * (1 / k) * (1 - 1 / k))
    for c in counts:
        assert abs(c - n / k) < 6 * sigma, counts


def test_fairness_over_many_cases():
    k, n = 64, 32_000
    counts = choices_among_always_ready(k, n)
    assert chi_square(counts) < chi_square_bound(k - 1), counts


def test_not_ready_cases_are_never_chosen_and_ready_ones_evenly():
    ready = [gc.Channel(1) for _ in range(3)]
    idle = [gc.Channel(), gc.Channel(1), gc.Channel(gc.UNBOUNDED)]
    for ch in ready:
        ch.send(0)
    # interleave: cases 0, 2, 4 ready; 1, 3, 5 never
    cases = []
    for r, i in zip(ready, idle):
        cases += [gc.recv(r), gc.recv(i)]
    counts = [0] * 6
    n = 9000
    for _ in range(n):
        i = gc.select(*cases, gc.recv(None)).index
        counts[i] += 1
        ready[i // 2].send(0)
    assert counts[1] == counts[3] == counts[5] == 0
    assert chi_square([counts[0], counts[2], counts[4]]) < chi_square_bound(2), counts


def test_fairness_with_send_and_recv_cases_mixed():
    a, b = gc.Channel(gc.UNBOUNDED), gc.Channel(1)
    b.send(0)
    counts = [0, 0]
    n = 10_000
    for _ in range(n):
        i = gc.select(gc.send(a, 1), gc.recv(b)).index
        counts[i] += 1
        if i == 1:
            b.send(0)
    sigma = math.sqrt(n * 0.25)
    assert abs(counts[0] - n / 2) < 6 * sigma, counts
    assert len(a) == counts[0]


def test_fairness_among_closed_channels():
    chans = [gc.Channel() for _ in range(3)]
    for ch in chans:
        ch.close()
    counts = [0] * 3
    for _ in range(6000):
        res = gc.select(*[gc.recv(c) for c in chans])
        assert res.value is None and res.ok is False
        counts[res.index] += 1
    assert chi_square(counts) < chi_square_bound(2), counts


def test_fairness_between_duplicate_cases():
    ch = gc.Channel(1)
    counts = [0, 0, 0]
    cases = [gc.recv(ch)] * 3
    for _ in range(6000):
        ch.send(0)
        counts[gc.select(*cases).index] += 1
    assert chi_square(counts) < chi_square_bound(2), counts


# ---- one channel in several cases ---------------------------------------------

def test_same_channel_twice():
    ch = gc.Channel(1)
    ch.send("x")
    res = gc.select(gc.recv(ch), gc.recv(ch))
    assert res.index in (0, 1) and res.value == "x" and res.ok
    assert len(ch) == 0  # exactly one case committed
    assert gc.select(gc.recv(ch), gc.recv(ch), default=True).index == -1


def test_same_channel_twice_sending():
    ch = gc.Channel(1)
    res = gc.select(gc.send(ch, "a"), gc.send(ch, "b"))
    assert res.index in (0, 1) and res.ok
    assert len(ch) == 1 and ch.recv() == "ab"[res.index]


def test_same_channel_twice_blocking_commits_once():
    for _ in range(20):
        ch = gc.Channel()
        results = []
        t = start(lambda: results.append(gc.select(gc.recv(ch), gc.recv(ch), timeout=10)))
        wait_blocked(ch, receivers=2)  # one entry per case
        ch.send("only", timeout=5)
        join_all([t])
        assert results[0].value == "only" and results[0].index in (0, 1)
        assert waiting(ch) == (0, 0)
        with pytest.raises(TimeoutError):
            ch.send("second", timeout=0)  # nobody is still listening


def test_send_and_recv_of_one_channel_in_one_select():
    ch = gc.Channel(1)
    for _ in range(100):
        # empty: only the send can proceed
        assert gc.select(gc.recv(ch), gc.send(ch, "v")) == (1, None, True)
        assert len(ch) == 1
        # full: only the recv can proceed
        assert gc.select(gc.recv(ch), gc.send(ch, "w")) == (0, "v", True)
        assert len(ch) == 0


def test_closing_a_channel_under_a_blocked_select_with_both_cases_on_it():
    """Go releases a closed channel's receivers before its senders, so the
    recv case wins: (index, None, False), and nothing raises."""
    for _ in range(20):
        ch = gc.Channel()
        results = []
        t = start(lambda: results.append(gc.select(gc.send(ch, 1), gc.recv(ch), timeout=10)))
        wait_blocked(ch, senders=1, receivers=1)
        ch.close()
        join_all([t])
        assert results == [(1, None, False)]


def test_closed_send_case_beside_a_ready_recv_case_is_a_fair_coin():
    """Both cases are ready: the chosen one is random, so about half the
    selects raise ChannelClosed and half receive."""
    closed, ready = gc.Channel(1), gc.Channel(1)
    closed.close()
    counts = [0, 0]
    n = 4000
    for _ in range(n):
        ready.send("v")
        try:
            assert gc.select(gc.send(closed, 1), gc.recv(ready)) == (1, "v", True)
            counts[1] += 1
        except gc.ChannelClosed:
            counts[0] += 1
            assert ready.recv(timeout=0) == "v"  # the raising select took nothing
    assert abs(counts[0] - n / 2) < 6 * math.sqrt(n / 4), counts


def test_same_send_case_object_twice_commits_once():
    ch = gc.Channel(1)
    obj = object()
    case = gc.send(ch, obj)
    assert gc.select(case, case).index in (0, 1)
    assert len(ch) == 1
    # blocked on a full channel with the case twice: one slot, one commit
    results = []
    t = start(lambda: results.append(gc.select(case, case, timeout=10)))
    wait_blocked(ch, senders=2)
    assert ch.recv(timeout=5) is obj
    join_all([t])
    assert results[0].index in (0, 1) and waiting(ch) == (0, 0)
    assert len(ch) == 1 and ch.recv(timeout=0) is obj
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0)


def test_many_duplicate_recv_cases_blocked_commit_once():
    ch = gc.Channel()
    results = []
    t = start(lambda: results.append(gc.select(*[gc.recv(ch)] * 64, timeout=10)))
    wait_blocked(ch, receivers=64)
    ch.send("x", timeout=5)
    join_all([t])
    assert results[0].value == "x" and 0 <= results[0].index < 64
    assert waiting(ch) == (0, 0)


def test_non_blocking_select_pairs_with_a_blocked_partner():
    ch = gc.Channel()
    t = start(ch.send, "waiting", timeout=10)
    wait_blocked(ch, senders=1)
    assert gc.select(gc.recv(ch), default=True) == (0, "waiting", True)
    join_all([t])
    got = []
    t = start(lambda: got.append(ch.recv(timeout=10)))
    wait_blocked(ch, receivers=1)
    assert gc.select(gc.send(ch, "to you"), default=True) == (0, None, True)
    join_all([t])
    assert got == ["to you"]


def test_unbuffered_send_and_recv_in_one_select_do_not_match_each_other():
    ch = gc.Channel()
    with pytest.raises(TimeoutError):
        gc.select(gc.recv(ch), gc.send(ch, 1), timeout=0.05)
    assert waiting(ch) == (0, 0)
    assert gc.select(gc.recv(ch), gc.send(ch, 1), default=True).index == -1


def test_blocked_send_and_recv_of_one_unbuffered_channel_pair_with_another_thread():
    ch = gc.Channel()
    for other_side_sends in (True, False) * 10:
        results = []
        t = start(lambda: results.append(gc.select(gc.recv(ch), gc.send(ch, "mine"), timeout=10)))
        wait_blocked(ch, senders=1, receivers=1)
        if other_side_sends:
            ch.send("theirs", timeout=5)
            expected = (0, "theirs", True)
        else:
            assert ch.recv(timeout=5) == "mine"
            expected = (1, None, True)
        join_all([t])
        assert results == [expected]
        assert waiting(ch) == (0, 0)


# ---- non-blocking select ---------------------------------------------------------

def test_default_when_nothing_is_ready():
    chans = [gc.Channel(), gc.Channel(1), gc.Channel(gc.UNBOUNDED)]
    full = gc.Channel(1)
    full.send("x")
    res = gc.select(*[gc.recv(c) for c in chans], gc.send(full, "y"), gc.send(chans[0], 1),
                    default=True)
    assert res == (-1, None, False)
    assert res.index == -1 and res.value is None and res.ok is False
    assert len(full) == 1 and full.recv() == "x"
    assert all(waiting(c) == (0, 0) for c in chans + [full])


def test_default_false_is_the_blocking_form():
    ch = gc.Channel(1)
    ch.send(1)
    assert gc.select(gc.recv(ch), default=False) == (0, 1, True)
    with pytest.raises(TimeoutError):
        gc.select(gc.recv(ch), default=False, timeout=0.01)


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
            ready.recv(timeout=10)

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


def test_default_never_taken_while_a_thread_keeps_a_buffered_channel_non_empty():
    """A producer keeps a cap-8 channel topped up while a consumer drains it
    from another thread.  The producer announces each item on `avail` only
    after sending it, and the consumer takes an item only after taking an
    announcement, so one value (the floor) is in the channel at every
    instant: a recv case on it is always ready."""
    ch = gc.Channel(8)
    ch.send("floor")
    avail = gc.Channel(gc.UNBOUNDED)
    stop = threading.Event()

    def producer():
        while not stop.is_set():
            try:
                ch.send("item", timeout=0.05)
            except TimeoutError:
                continue
            avail.send(None)

    def consumer():
        while not stop.is_set():
            try:
                avail.recv(timeout=0.05)
            except TimeoutError:
                continue
            ch.recv(timeout=10)

    threads = [start(producer), start(consumer)]
    try:
        misses = 0
        for i in range(5000):
            res = gc.select(gc.recv(gc.Channel()), gc.recv(ch), gc.send(None, 1), default=True)
            if res.index == -1:
                misses += 1
            else:
                ch.send(res.value, timeout=10)  # put it back
            if i % 100 == 0:
                time.sleep(0.0005)  # let the other threads move
        assert misses == 0
    finally:
        stop.set()
        join_all(threads)


def test_non_blocking_select_sees_one_instant_across_channels():
    """One token shuttles between two cap-1 channels A and B in a way that
    keeps at least one of them non-empty at every instant.  A non-blocking
    select over both must therefore always find one ready (Go polls all of a
    select's channels under their locks at once)."""
    a, b = gc.Channel(1), gc.Channel(1)
    a.send("resident")

    def shuttle(held):
        try:
            while True:
                b.send(held, timeout=10)   # A may be full: now both are
                held = a.recv(timeout=10)  # B is full
                a.send(held, timeout=10)   # both
                held = b.recv(timeout=10)  # A is full
        except gc.ChannelClosed:
            pass

    t = start(shuttle, "travelling")
    try:
        for _ in range(20_000):
            res = gc.select(gc.recv(a), gc.recv(b), default=True)
            assert res.index != -1, "default taken although A or B was always ready"
            (a, b)[res.index].send(res.value, timeout=10)  # put it back
    finally:
        a.close()
        b.close()
        join_all([t])


# ---- blocking select ------------------------------------------------------------

def test_blocking_select_woken_by_a_send():
    a, b = gc.Channel(), gc.Channel()
    results = []
    t = start(lambda: results.append(gc.select(gc.recv(a), gc.recv(b), timeout=10)))
    wait_blocked(b, senders=0, receivers=1)
    wait_blocked(a, senders=0, receivers=1)
    assert results == []
    b.send("hi", timeout=5)
    join_all([t])
    assert results == [(1, "hi", True)]
    assert waiting(a) == (0, 0)  # the losing case left no entry behind
    with pytest.raises(TimeoutError):
        a.send("nobody", timeout=0)


def test_blocking_select_send_case_taken_by_a_receiver():
    a = gc.Channel()
    results = []
    t = start(lambda: results.append(gc.select(gc.send(a, 1), gc.recv(None), timeout=10)))
    assert a.recv(timeout=10) == 1
    join_all([t])
    assert results == [(0, None, True)]


def test_blocking_select_woken_by_room_in_a_full_buffer():
    a = gc.Channel(1)
    a.send("first")
    results = []
    t = start(lambda: results.append(gc.select(gc.send(a, "second"), timeout=10)))
    wait_blocked(a, senders=1)
    assert a.recv(timeout=5) == "first"
    join_all([t])
    assert results == [(0, None, True)]
    assert a.recv(timeout=0) == "second"


def test_select_woken_by_close():
    a = gc.Channel()
    results = []
    t = start(lambda: results.append(gc.select(gc.recv(a), timeout=10)))
    wait_blocked(a, receivers=1)
    a.close()
    join_all([t])
    assert results == [(0, None, False)]


def test_select_woken_by_close_of_one_recv_case_sends_nothing_elsewhere():
    a, b = gc.Channel(), gc.Channel()
    results = []
    t = start(lambda: results.append(gc.select(gc.send(b, "x"), gc.recv(a), timeout=10)))
    wait_blocked(a, receivers=1)
    wait_blocked(b, senders=1)
    a.close()
    join_all([t])
    assert results == [(1, None, False)]
    assert waiting(b) == (0, 0)
    with pytest.raises(TimeoutError):
        b.recv(timeout=0)


def test_select_send_case_on_channel_closed_while_waiting_raises():
    a = gc.Channel()
    other = gc.Channel()
    errors = []

    def run():
        try:
            gc.select(gc.send(a, 1), gc.recv(other), timeout=10)
        except gc.ChannelClosed as e:
            errors.append(str(e))

    t = start(run)
    wait_blocked(a, senders=1)
    a.close()
    join_all([t])
    assert errors == ["send on closed channel"]
    assert waiting(other) == (0, 0)


def test_chosen_send_on_closed_channel_raises():
    a = gc.Channel(1)
    a.close()
    with pytest.raises(gc.ChannelClosed, match="send on closed channel"):
        gc.select(gc.send(a, 1))
    with pytest.raises(gc.ChannelClosed):
        gc.select(gc.send(a, 1), default=True)
    with pytest.raises(gc.ChannelClosed):
        gc.select(gc.send(a, 1), gc.recv(gc.Channel()), timeout=0)
    assert len(a) == 0


def test_select_exactly_one_of_two_racing_senders_commits():
    """A select waits on A and B; two threads send on A and B at once.
    Exactly one send succeeds and it is the one select reports; the other
    sender stays blocked until the channels are closed."""
    for _ in range(100):
        a, b = gc.Channel(), gc.Channel()
        results, outcomes = [], {}
        t = start(lambda: results.append(gc.select(gc.recv(a), gc.recv(b), timeout=10)))
        wait_blocked(a, receivers=1)
        wait_blocked(b, receivers=1)
        go = threading.Event()

        def send(ch, name):
            go.wait(5)
            try:
                ch.send(name, timeout=10)
                outcomes[name] = "sent"
            except gc.ChannelClosed:
                outcomes[name] = "closed"

        senders = [start(send, a, "a"), start(send, b, "b")]
        go.set()
        join_all([t])
        wait_for(lambda: sum(waiting(c)[0] for c in (a, b)) == 1 or len(outcomes) == 2)
        a.close()
        b.close()
        join_all(senders)
        assert sorted(outcomes.values()) == ["closed", "sent"], outcomes
        winner = "a" if outcomes["a"] == "sent" else "b"
        assert results == [("ab".index(winner), winner, True)]


def test_two_selects_racing_for_one_value_only_one_gets_it():
    for _ in range(100):
        ch = gc.Channel()
        results = []
        lock = threading.Lock()

        def run():
            r = tuple(gc.select(gc.recv(ch), gc.recv(None), timeout=10))
            with lock:
                results.append(r)

        threads = [start(run), start(run)]
        wait_blocked(ch, receivers=2)
        ch.send("one", timeout=5)
        wait_blocked(ch, receivers=1)
        ch.close()  # releases the other one, with ok False
        join_all(threads)
        assert sorted(results, key=str) == sorted([(0, "one", True), (0, None, False)], key=str)


# ---- timeouts -------------------------------------------------------------------

def test_select_timeout_has_no_effect():
    a, b = gc.Channel(), gc.Channel(1)
    b.send("full")
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        gc.select(gc.recv(a), gc.send(b, "x"), timeout=0.05)
    assert time.monotonic() - t0 >= 0.04
    assert b.recv() == "full" and len(b) == 0
    assert waiting(a) == (0, 0) and waiting(b) == (0, 0)


def test_select_timeout_zero():
    ch = gc.Channel(1)
    with pytest.raises(TimeoutError):
        gc.select(gc.recv(ch), timeout=0)
    ch.send(1)
    assert gc.select(gc.recv(ch), timeout=0) == (0, 1, True)
    assert gc.select(gc.send(ch, 2), timeout=0) == (0, None, True)
    with pytest.raises(TimeoutError):
        gc.select(gc.send(ch, 3), timeout=0)
    assert ch.recv(timeout=0) == 2


def test_select_timeout_zero_pairs_with_a_blocked_partner():
    ch = gc.Channel()
    t = start(ch.send, "waiting", timeout=10)
    wait_blocked(ch, senders=1)
    assert gc.select(gc.recv(ch), timeout=0) == (0, "waiting", True)
    join_all([t])


def test_select_with_timeout_gets_a_value_that_arrives_in_time():
    ch = gc.Channel()
    t = start(lambda: (time.sleep(0.05), ch.send("v", timeout=10)))
    assert gc.select(gc.recv(gc.Channel()), gc.recv(ch), timeout=10) == (1, "v", True)
    join_all([t])


def test_select_with_no_cases():
    with pytest.raises(TimeoutError):
        gc.select(timeout=0.01)
    with pytest.raises(TimeoutError):
        gc.select(timeout=0)
    assert gc.select(default=True) == (-1, None, False)


# ---- many cases -------------------------------------------------------------------

def test_select_over_many_cases():
    chans = [gc.Channel(1) for _ in range(64)]
    chans[41].send("deep")
    assert gc.select(*[gc.recv(c) for c in chans]) == (41, "deep", True)
    results = []
    t = start(lambda: results.append(gc.select(*[gc.recv(c) for c in chans], timeout=10)))
    wait_blocked(chans[63], receivers=1)
    wait_blocked(chans[0], receivers=1)
    chans[17].send("late")
    join_all([t])
    assert results == [(17, "late", True)]
    assert all(waiting(c) == (0, 0) for c in chans)


def test_select_over_many_mixed_cases_with_duplicates_and_nils():
    chans = [gc.Channel(1) for _ in range(40)]
    for c in chans[::2]:
        c.send("full")
    # recv cases on the empty ones, send cases on the full ones: none ready
    cases = []
    for i, c in enumerate(chans):
        cases.append(gc.recv(c) if i % 2 else gc.send(c, i))
        cases.append(gc.recv(None))
    cases += cases[:10]  # duplicates
    assert gc.select(*cases, default=True).index == -1
    results = []
    t = start(lambda: results.append(gc.select(*cases, timeout=10)))
    wait_blocked(chans[39], receivers=1)
    wait_blocked(chans[0], senders=2)  # a case and its duplicate: two entries
    assert chans[10].recv(timeout=5) == "full"  # makes room: send case 20 commits
    join_all([t])
    assert results == [(20, None, True)]
    assert chans[10].recv(timeout=0) == 10
    assert all(waiting(c) == (0, 0) for c in chans)


def test_select_over_a_thousand_cases():
    chans = [gc.Channel() for _ in range(1000)]
    results = []
    t = start(lambda: results.append(gc.select(*[gc.recv(c) for c in chans], timeout=10)))
    wait_blocked(chans[999], receivers=1)
    chans[500].send("x", timeout=5)
    join_all([t])
    assert results == [(500, "x", True)]
    assert all(waiting(c) == (0, 0) for c in chans)


# ---- bad input ---------------------------------------------------------------------

@pytest.mark.parametrize("bad", [1, None, "recv", gc.Channel(), (gc.recv(None),), [gc.recv(None)]])
def test_select_rejects_non_cases(bad):
    with pytest.raises(TypeError):
        gc.select(gc.recv(None), bad, default=True)
    with pytest.raises(TypeError):
        gc.select(bad, timeout=0)


def test_select_rejects_bad_input_without_effect():
    ch = gc.Channel(1)
    with pytest.raises(TypeError):
        gc.select(gc.send(ch, 1), "oops")
    assert len(ch) == 0  # the valid case did not run


@pytest.mark.parametrize("bad", [1, 0, None, "yes", 1.0])
def test_default_must_be_a_bool(bad):
    with pytest.raises(TypeError):
        gc.select(gc.recv(gc.Channel(1)), default=bad)


@pytest.mark.parametrize("timeout", [0, 0.5, 1])
def test_default_with_a_timeout_is_a_value_error(timeout):
    with pytest.raises(ValueError):
        gc.select(gc.recv(gc.Channel(1)), default=True, timeout=timeout)


def test_default_true_with_timeout_none_is_fine():
    assert gc.select(gc.recv(gc.Channel(1)), default=True, timeout=None).index == -1


@pytest.mark.parametrize("bad, error", [("1", TypeError), (True, TypeError), ([1], TypeError),
                                        (-1, ValueError), (-0.5, ValueError),
                                        (math.nan, ValueError)])
def test_select_timeout_checked(bad, error):
    ch = gc.Channel(1)
    ch.send("kept")
    with pytest.raises(error):
        gc.select(gc.recv(ch), timeout=bad)
    assert len(ch) == 1


@pytest.mark.parametrize("bad", [1, "ch", object(), [gc.Channel()], gc.recv(None)])
def test_case_needs_a_channel_or_none(bad):
    with pytest.raises(TypeError):
        gc.recv(bad)
    with pytest.raises(TypeError):
        gc.send(bad, 1)


def test_case_types():
    ch = gc.Channel()
    assert isinstance(gc.recv(ch), gc.RecvCase)
    assert isinstance(gc.send(ch, 1), gc.SendCase)
    assert isinstance(gc.recv(None), gc.RecvCase)
    assert isinstance(gc.send(None, 1), gc.SendCase)
