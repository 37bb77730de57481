"""``gc.trace``: a timeline of channel sends, receives, parks and wake-ups in
the Chrome trace-event format (Perfetto, chrome://tracing), with a flow arrow
from each send to the receive that took its value.

The recorder lives in the C core (``csrc/core/gc_trace.h``): off, it costs an
operation one relaxed load of a flag; on, each event goes into a ring buffer
of ``capacity`` events (``DEFAULT_CAPACITY``, 262,144 events of 40 bytes:
about 10 MB, allocated when the recording starts and freed when it stops).
When the ring is full the oldest events are dropped; the file's metadata
says how many (``otherData.dropped_events``).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Dict, List, Optional, Tuple, Union

from . import _core

__all__ = ["trace", "DEFAULT_CAPACITY"]

DEFAULT_CAPACITY = 1 << 18

_SEND, _RECV = _core._TRACE_SEND, _core._TRACE_RECV
_PARK, _WAKE = _core._TRACE_PARK, _core._TRACE_WAKE
_GIVE_BACK = _core._TRACE_GIVE_BACK

RawEvent = Tuple[int, int, int, int, int]  # (ts_ns, thread, channel, seq, kind)


def _thread_names() -> Dict[int, Tuple[str, Optional[int]]]:
    """ident -> (name, native_id) of the threads alive now."""
    return {t.ident: (t.name, getattr(t, "native_id", None))
            for t in threading.enumerate() if t.ident is not None}


class trace:
    """Record channel events while the ``with`` block runs, then write them
    to ``path`` as Chrome trace-event JSON (open it in https://ui.perfetto.dev
    or chrome://tracing)::

        with gc.trace("run.json"):
            pipeline()

    Without a path nothing is written; the events stay in ``.events`` (the
    list of trace-event dicts) and ``.to_json()`` for a program to look at.
    One recording runs at a time in a process (``RuntimeError`` otherwise).

    What is recorded: every send and receive that committed (a thread's
    track shows it at the moment it committed), every wait of a blocked call
    as a "blocked" slice from its park to its wake-up, and a flow arrow from
    each send to the receive that took that value (exact: values are
    numbered per channel; a receive undone by an interrupted call is shown
    as "recv (given back)" and the arrow goes to the receive that took the
    value for good).  A value sent before the recording started, or still
    buffered when it ended, has no arrow.  Channels are named ``ch#N`` after
    ``Channel._id``.
    """

    DEFAULT_CAPACITY = DEFAULT_CAPACITY

    def __init__(self, path: Union[str, "os.PathLike[str]", None] = None, *,
                 capacity: int = DEFAULT_CAPACITY) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"capacity must be an int, not {type(capacity).__name__}")
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.path = None if path is None else os.fspath(path)
        self.capacity = capacity
        self.events: List[Dict[str, Any]] = []
        self.dropped = 0
        self._raw: List[RawEvent] = []
        self._names: Dict[int, Tuple[str, Optional[int]]] = {}
        self._recording = False

    def __enter__(self) -> "trace":
        if self._recording:
            raise RuntimeError("this trace is already recording")
        self._names = _thread_names()
        _core._trace_start(self.capacity)
        self._recording = True
        return self

    def __exit__(self, *exc: object) -> None:
        raw, dropped = _core._trace_stop()
        self._recording = False
        self._names.update(_thread_names())
        self._raw, self.dropped = raw, dropped
        self.events = _chrome_events(raw, self._names)
        if self.path is not None:
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(self.to_json())

    def to_json(self) -> str:
        """The recording as a Chrome trace-event JSON document."""
        return json.dumps({
            "traceEvents": self.events,
            "displayTimeUnit": "ns",
            "otherData": {
                "producer": "pygochan",
                "capacity": self.capacity,
                "dropped_events": self.dropped,
            },
        })


def _chrome_events(raw: List[RawEvent], names: Dict[int, Tuple[str, Optional[int]]]
                   ) -> List[Dict[str, Any]]:
    pid = os.getpid()
    if not raw:
        return []
    t0 = min(e[0] for e in raw)

    def us(ns: int) -> float:
        return (ns - t0) / 1000.0

    tids: Dict[int, int] = {}

    def tid(thread: int) -> int:
        if thread not in tids:
            native = names.get(thread, ("", None))[1]
            tids[thread] = native if native is not None else thread
        return tids[thread]

    out: List[Dict[str, Any]] = []
    # The send of each (channel, number); the receives of it in order, the
    # ones given back marked.
    sends: Dict[Tuple[int, int], Dict[str, Any]] = {}
    recvs: Dict[Tuple[int, int], List[Dict[str, Any]]] = {}
    parks: Dict[Tuple[int, int], RawEvent] = {}
    for ts, thread, chan, seq, kind in raw:
        if kind == _PARK:
            parks[(thread, seq)] = (ts, thread, chan, seq, kind)
        elif kind == _WAKE:
            park = parks.pop((thread, seq), None)
            args: Dict[str, Any] = {"channel": f"ch#{chan}"}
            if park is None:
                args["parked_before_trace"] = True
            start = park[0] if park else t0
            out.append({"name": "blocked", "cat": "park", "ph": "X", "pid": pid,
                        "tid": tid(thread), "ts": us(start), "dur": (ts - start) / 1000.0,
                        "args": args})
        elif kind in (_SEND, _RECV):
            ev = {"name": "send" if kind == _SEND else "recv", "cat": "channel", "ph": "X",
                  "pid": pid, "tid": tid(thread), "ts": us(ts), "dur": 0.001,
                  "args": {"channel": f"ch#{chan}", "value_number": seq - 1 if seq else None}}
            out.append(ev)
            if seq:
                if kind == _SEND:
                    sends[(chan, seq)] = ev
                else:
                    recvs.setdefault((chan, seq), []).append(ev)
        elif kind == _GIVE_BACK:
            out.append({"name": "give back", "cat": "channel", "ph": "i", "s": "t",
                        "pid": pid, "tid": tid(thread), "ts": us(ts),
                        "args": {"channel": f"ch#{chan}",
                                 "value_number": seq - 1 if seq else None}})
            taken = [r for r in recvs.get((chan, seq), ()) if r["name"] == "recv"]
            if seq and taken:
                taken[-1]["name"] = "recv (given back)"
    t_end = max(e[0] for e in raw)
    for ts, thread, chan, seq, kind in parks.values():  # still parked at the end
        out.append({"name": "blocked", "cat": "park", "ph": "X", "pid": pid,
                    "tid": tid(thread), "ts": us(ts), "dur": (t_end - ts) / 1000.0,
                    "args": {"channel": f"ch#{chan}", "unfinished": True}})
    flow_id = 0
    for key, send in sends.items():
        taken = [r for r in recvs.get(key, ()) if r["name"] == "recv"]
        if not taken:
            continue
        recv = taken[-1]
        flow_id += 1
        out.append({"name": "value", "cat": "flow", "ph": "s", "id": flow_id,
                    "pid": pid, "tid": send["tid"], "ts": send["ts"]})
        out.append({"name": "value", "cat": "flow", "ph": "f", "bp": "e", "id": flow_id,
                    "pid": pid, "tid": recv["tid"], "ts": recv["ts"]})
    meta: List[Dict[str, Any]] = [{"name": "process_name", "ph": "M", "pid": pid,
                                   "args": {"name": "pygochan"}}]
    for thread, t in tids.items():
        name = names.get(thread, (f"thread {thread}", None))[0]
        meta.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": t,
                     "args": {"name": name}})
    return meta + out
