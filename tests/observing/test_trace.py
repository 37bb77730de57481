"""gc.trace: the Chrome trace-event file parses, every flow start has exactly
one finish, each arrow goes from a send to the receive of that very value,
and nothing is recorded outside the with block."""

import collections
import json
import threading

import pytest

import pygochan as gc
from conftest import join_all, start


def flows(events):
    starts = collections.Counter(e["id"] for e in events if e.get("ph") == "s")
    finishes = collections.Counter(e["id"] for e in events if e.get("ph") == "f")
    return starts, finishes


def ops(events, name, channel):
    return [e for e in events if e.get("name") == name and e["args"].get("channel") == channel]


def check_flows_pair(events):
    starts, finishes = flows(events)
    assert starts and set(starts) == set(finishes)
    assert all(n == 1 for n in starts.values()) and all(n == 1 for n in finishes.values())
    for e in events:
        if e.get("ph") == "f":
            assert e["bp"] == "e"
    return starts


def arrow_ends(events):
    """flow id -> {"s": send event, "f": recv event}, found through the
    flows' thread and timestamp, as a viewer binds them (on a coarse clock
    two ops of a thread may share a timestamp: the pair is the send and the
    receive of one value number among those candidates)."""
    slices = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and e["name"] in ("send", "recv"):
            slices[(e["tid"], e["ts"], e["name"])].append(e)
    ends = {}
    by_id = collections.defaultdict(dict)
    for e in events:
        if e.get("ph") in ("s", "f"):
            by_id[e["id"]][e["ph"]] = e
    for flow_id, pair in by_id.items():
        s, f = pair["s"], pair["f"]
        sends = slices[(s["tid"], s["ts"], "send")]
        recvs = slices[(f["tid"], f["ts"], "recv")]
        matched = [(a, b) for a in sends for b in recvs
                   if a["args"]["value_number"] == b["args"]["value_number"]
                   and a["args"]["channel"] == b["args"]["channel"]]
        assert matched, (s, f)
        ends[flow_id] = {"s": matched[0][0], "f": matched[0][1]}
    return ends


def test_fifo_storm_every_send_paired_with_its_receive(tmp_path, rng):
    ch = gc.Channel(8)
    producers, consumers, per_producer = 3, 3, 300
    got = [[] for _ in range(consumers)]
    path = tmp_path / "storm.json"

    def produce(k):
        for i in range(per_producer):
            ch.send((k, i))

    def consume(k):
        for v in ch:
            got[k].append(v)

    with gc.trace(path) as tr:
        cons = [start(consume, k) for k in range(consumers)]
        prods = [start(produce, k) for k in range(producers)]
        join_all(prods)
        ch.close()
        join_all(cons)
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    assert doc["otherData"]["dropped_events"] == 0
    assert events == tr.events
    name = f"ch#{ch._id}"
    sends, recvs = ops(events, "send", name), ops(events, "recv", name)
    assert len(sends) == len(recvs) == producers * per_producer
    starts = check_flows_pair(events)
    assert len(starts) == producers * per_producer
    # each arrow joins the send and the receive of one value number, on the
    # threads that really sent and received (names from threading)
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    for ends in arrow_ends(events).values():
        s, r = ends["s"], ends["f"]
        assert s["ts"] <= r["ts"]
        assert names[s["tid"]] != "MainThread" and names[r["tid"]] != "MainThread"
    # each value's number is its place in the channel's FIFO order
    numbers = sorted(s["args"]["value_number"] for s in sends)
    assert numbers == list(range(producers * per_producer))


def test_unbuffered_ping_pong_pairs_and_parks():
    ping, pong = gc.Channel(), gc.Channel()
    rounds = 200

    def echo():
        for v in ping:
            pong.send(v)

    t = threading.Thread(target=echo, name="echo")
    t.start()
    with gc.trace() as tr:
        for i in range(rounds):
            ping.send(i)
            assert pong.recv() == i
    ping.close()
    t.join()
    events = json.loads(tr.to_json())["traceEvents"]
    for ch in (ping, pong):
        name = f"ch#{ch._id}"
        assert len(ops(events, "send", name)) == rounds
        assert len(ops(events, "recv", name)) == rounds
    starts = check_flows_pair(events)
    assert len(starts) == 2 * rounds
    # blocked slices: complete events with a non-negative duration, on both threads
    blocked = [e for e in events if e.get("name") == "blocked"]
    assert blocked and all(e["dur"] >= 0 for e in blocked)
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert {"MainThread", "echo"} <= set(names.values())
    ends = arrow_ends(events)
    for pair in ends.values():
        assert {names[pair["s"]["tid"]], names[pair["f"]["tid"]]} == {"MainThread", "echo"}


def test_nothing_recorded_after_the_block_and_off_by_default():
    ch = gc.Channel(4)
    with gc.trace() as tr:
        ch.send(1)
    ch.send(2)
    ch.recv()
    ch.recv()
    names = [e["name"] for e in tr.events if e.get("ph") != "M"]
    assert names == ["send"]
    # a new recording sees only its own
    with gc.trace() as again:
        pass
    assert again.events == []
    assert again.dropped == 0


def test_ring_buffer_drops_the_oldest_and_says_so(tmp_path):
    ch = gc.Channel(gc.UNBOUNDED)
    path = tmp_path / "small.json"
    with gc.trace(path, capacity=10):
        for i in range(25):
            ch.send(i)
    doc = json.loads(path.read_text())
    assert doc["otherData"]["dropped_events"] == 15
    sends = ops(doc["traceEvents"], "send", f"ch#{ch._id}")
    assert [s["args"]["value_number"] for s in sends] == list(range(15, 25))


def test_one_recording_at_a_time_and_bad_arguments():
    with gc.trace():
        with pytest.raises(RuntimeError):
            with gc.trace():
                pass
    with pytest.raises(TypeError):
        gc.trace(capacity=1.5)
    with pytest.raises(ValueError):
        gc.trace(capacity=0)


def test_select_and_timer_channels_are_traced():
    a, b = gc.Channel(), gc.Channel(1)
    with gc.trace() as tr:
        t = start(lambda: gc.select(gc.recv(a), gc.recv(b)))
        while b.stats().receivers_waiting == 0:
            pass
        b.send("x")
        join_all([t])
        gc.after(0).recv()
    check_flows_pair(tr.events)
    assert ops(tr.events, "recv", f"ch#{b._id}")
    assert not ops(tr.events, "recv", f"ch#{a._id}")
