"""Which stage holds a pipeline back: ``gc.report(*channels_and_pools)``.

A pipeline is stages joined by channels: the code that sends on the first
channel given (the source), the code between channel ``i`` and channel
``i + 1`` (a stage), the code that receives from the last channel (the
sink).  Pools given among them are stages of their own.

The evidence is the time other stages spent blocked on each channel
(``Channel.stats()``: seconds its senders and its receivers waited, plus the
waits still going on, from ``gc.blocked()``).  A slow stage leaves its
*input* full, so the stage before it waits to send, and its *output* empty,
so the stage after it waits to receive: a stage's score is the smaller of
the two (seconds its upstream spent blocked sending into it, seconds its
downstream spent blocked receiving from it).  The source has no input: its
score is the time its consumers waited to receive; the sink's, the time its
producers waited to send.  A Pool's score is the time its tasks waited in
its queue for a worker (``queue_wait_seconds``: all its workers busy), which
a Pool measures when made with ``measure_queue_wait=True``; without it, the
report says so and the pool is not judged.  The highest score names the
bottleneck.

``report()`` reads the counters once: the picture since the channels were
made (good after a run, or for a pipeline in a steady state).  With
``interval=0.5`` it reads them twice, half a second apart, and judges the
differences: what the pipeline does *now*.

    >>> r = gc.report(raw, parsed, stored)      # after (or during) a run
    >>> print(r)                                # ... "bottleneck: the stage fed by #2 ..."
    >>> r = gc.report(raw, parsed, stored, interval=0.5)   # the last half second
"""

from __future__ import annotations

import html
import time
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from . import _core

__all__ = ["report", "Report", "Bottleneck", "install_html_reprs"]

#: below this many seconds of blocking the evidence is noise: no bottleneck named
MIN_EVIDENCE_SECONDS = 0.005
#: a runner-up within this fraction of the bottleneck's score is mentioned
CLOSE_FRACTION = 0.8

_CHANNEL_COUNTERS = ("sends", "receives", "send_blocked_seconds", "recv_blocked_seconds")
# A pool whose workers were busy at least this share of an interval, with
# tasks queued, holds its queue back even where it does not measure the wait.
SATURATED_SHARE = 0.95
_POOL_COUNTERS = ("submitted", "completed", "queue_wait_seconds", "busy_seconds")


class Bottleneck(NamedTuple):
    """The stage that holds the pipeline back, as ``Report.bottleneck`` names it."""

    kind: str  #: "source", "stage", "sink" or "pool"
    argument: int  #: 1-based position among report()'s arguments of the channel feeding it (for the source, of the channel it feeds; for a pool, of the pool)
    score: float  #: seconds other stages (or queued tasks) spent waiting for it
    reason: str  #: why, in words


class _Item:
    """One argument of report(): its counters, the judged values (a
    difference over the interval, or the totals) and its state now."""

    def __init__(self, position: int, obj: Any, label: Optional[str]) -> None:
        self.position = position
        self.obj = obj
        self.label = label
        self.is_channel = _is_channel(obj)
        self.repr = _safe_repr(obj)
        self.now: Dict[str, Any] = {}
        self.judged: Dict[str, float] = {}
        self.ongoing = {"send": 0.0, "recv": 0.0}

    @property
    def name(self) -> str:
        return f"#{self.position}" + (f" {self.label!r}" if self.label else "")

    @property
    def send_blocked(self) -> float:
        return self.judged.get("send_blocked_seconds", 0.0) + self.ongoing["send"]

    @property
    def recv_blocked(self) -> float:
        return self.judged.get("recv_blocked_seconds", 0.0) + self.ongoing["recv"]


def _is_channel(obj: Any) -> bool:
    return isinstance(obj, _core.Channel)  # direction views are Channels too


def _channel_key(ch: Any) -> Any:
    """The same for a channel and its direction views (they share _id)."""
    ident = getattr(ch, "_id", None)
    return ("channel", ident) if ident is not None else ("object", id(ch))


def _safe_repr(obj: Any) -> str:
    try:
        return repr(obj)
    except Exception as exc:
        return f"<{type(obj).__name__} object, repr raised {type(exc).__name__}>"


CHANNEL_STATS_FIELDS = ("sends", "receives", "send_blocked_seconds", "recv_blocked_seconds",
                        "max_fill", "senders_waiting", "receivers_waiting", "capacity",
                        "length", "closed")


def stats_dict(stats: Any) -> Dict[str, Any]:
    """A stats snapshot (a dict, or a ChannelStats) as a dict."""
    if isinstance(stats, dict):
        return dict(stats)
    return {name: getattr(stats, name) for name in CHANNEL_STATS_FIELDS if hasattr(stats, name)}


def _read(obj: Any) -> Dict[str, Any]:
    # A Pool made without measure_queue_wait=True reports its queue wait as
    # None: left out, so it counts as not measured rather than as zero.
    return {k: v for k, v in stats_dict(obj.stats()).items() if v is not None}


def _ongoing_waits(channels: Dict[Any, _Item]) -> Dict[Tuple[int, float, Any, str], float]:
    """The waits going on now on the given channels, by (thread, since,
    channel, side): seconds so far.  Channel.stats() counts a wait once it
    has ended; a stage stuck right now shows here."""
    waits: Dict[Tuple[int, float, Any, str], float] = {}
    now = time.monotonic()
    for ident, op, objects, since, _timed in _core._blocked():
        for obj in objects:
            if op in ("send", "recv"):
                channel, side = obj, op
            elif op == "select":
                channel = getattr(obj, "channel", None)
                side = "send" if isinstance(obj, _core.SendCase) else "recv"
            else:
                continue
            if channel is not None and _channel_key(channel) in channels:
                waits[(ident, since, _channel_key(channel), side)] = now - since
    return waits


class Report:
    """What ``gc.report()`` found: ``str(report)`` is the text,
    ``report.bottleneck`` the verdict (or None), and in a notebook the
    report draws each channel's fill and blocked-time bars."""

    def __init__(self, items: List[_Item], interval: Optional[float]) -> None:
        self.items = items
        self.interval = interval
        self.candidates = self._judge()
        best = self.candidates[0] if self.candidates else None
        self.bottleneck: Optional[Bottleneck] = (
            best if best is not None and best.score >= MIN_EVIDENCE_SECONDS else None)

    # ---- the verdict ------------------------------------------------------------

    def _judge(self) -> List[Bottleneck]:
        channels = [i for i in self.items if i.is_channel]
        found: List[Bottleneck] = []
        if channels:
            first, last = channels[0], channels[-1]
            found.append(Bottleneck(
                "source", first.position, first.recv_blocked,
                f"the stage that feeds {first.name} (the source) is the slow one: its consumers "
                f"waited {first.recv_blocked:.3f} s to receive from {first.name}"))
            for before, after in zip(channels, channels[1:]):
                score = min(before.send_blocked, after.recv_blocked)
                found.append(Bottleneck(
                    "stage", before.position, score,
                    f"the stage fed by {before.name} {before.repr}: its input stays full "
                    f"(senders blocked {before.send_blocked:.3f} s on {before.name}) while its "
                    f"output stays empty (receivers blocked {after.recv_blocked:.3f} s on "
                    f"{after.name})"))
            found.append(Bottleneck(
                "sink", last.position, last.send_blocked,
                f"the stage fed by {last.name} {last.repr} (the sink) is the slow one: its "
                f"producers waited {last.send_blocked:.3f} s to send on {last.name}"))
        for item in self.items:
            if item.is_channel:
                continue
            busy = item.now.get("running", 0)
            most = item.now.get("max_workers", 0)
            queued = item.now.get("pending", 0)
            if "queue_wait_seconds" in item.judged:
                waited = item.judged["queue_wait_seconds"]
                how = f"tasks waited {waited:.3f} s in its queue"
            elif self._busy_share(item) >= SATURATED_SHARE and queued:
                # Not measured (no measure_queue_wait=True), but over the
                # interval every worker was busy and tasks are queued: each
                # of them waited at least that long, the score's lower bound.
                waited = queued * (self.interval or 0.0)
                how = (f"about {waited:.3f} s of waiting in its queue (estimated: its "
                       f"workers were busy all the interval, {queued} tasks queued)")
            else:
                continue  # nothing to judge it by
            found.append(Bottleneck(
                "pool", item.position, waited,
                f"the pool {item.name} {item.repr}: {how} "
                f"while all {most} of its workers were busy ({busy} busy, "
                f"{queued} queued now)"))
        found.sort(key=lambda b: -b.score)
        return found

    # ---- text -------------------------------------------------------------------

    def _heading(self) -> str:
        nch = sum(1 for i in self.items if i.is_channel)
        npool = len(self.items) - nch
        when = (f"over the last {self.interval:g} s" if self.interval
                else "since the channels were made")
        return f"pygochan report: {nch} channel(s), {npool} pool(s), {when}"

    def _item_line(self, item: _Item) -> str:
        now = item.now
        if item.is_channel:
            capacity = now.get("capacity", 0)
            if capacity == _core.UNBOUNDED:
                size = f"fill {now.get('length', 0)} (unbounded)"
            elif capacity == 0:
                size = "unbuffered"
            else:
                size = f"fill {now.get('length', 0)}/{capacity}"
            closed = ", closed" if now.get("closed") else ""
            return (f"  {item.name}: {size} (max {now.get('max_fill', 0)}){closed}; "
                    f"{int(item.judged.get('sends', 0))} sent, {int(item.judged.get('receives', 0))} "
                    f"received; blocked: senders {item.send_blocked:.3f} s, receivers "
                    f"{item.recv_blocked:.3f} s; waiting now: {now.get('senders_waiting', 0)} "
                    f"sender(s), {now.get('receivers_waiting', 0)} receiver(s)  {item.repr}")
        waited = (f"tasks waited {item.judged['queue_wait_seconds']:.3f} s for a worker"
                  if "queue_wait_seconds" in item.judged else
                  "queue wait not measured (Pool(..., measure_queue_wait=True) measures it)")
        return (f"  {item.name}: pool, {now.get('running', 0)}/{now.get('max_workers', 0)} workers "
                f"busy, {now.get('pending', 0)} queued; {int(item.judged.get('completed', 0))} "
                f"completed; {waited}, workers busy {item.judged.get('busy_seconds', 0.0):.3f} s"
                f"{self._utilisation(item)}  {item.repr}")

    def _busy_share(self, item: _Item) -> float:
        """Over an interval: the share of the pool's capacity its tasks used
        (0.0 without an interval)."""
        most = item.now.get("max_workers", 0)
        if not self.interval or not most or "busy_seconds" not in item.now:
            return 0.0
        share = float(item.judged.get("busy_seconds", 0.0)) / float(most * self.interval)
        return min(share, 1.0)

    def _utilisation(self, item: _Item) -> str:
        if not self.interval or "busy_seconds" not in item.now:
            return ""
        return f" ({self._busy_share(item):.0%} of {item.now.get('max_workers', 0)} workers' time)"

    def verdict(self) -> str:
        """The one line that names the bottleneck (or says there is none)."""
        if self.bottleneck is None:
            return ("no bottleneck: no stage kept another waiting for long "
                    f"(less than {MIN_EVIDENCE_SECONDS * 1000:g} ms of blocking)")
        line = f"bottleneck: {self.bottleneck.reason}"
        runner_up = self.candidates[1] if len(self.candidates) > 1 else None
        if runner_up is not None and runner_up.score >= CLOSE_FRACTION * self.bottleneck.score:
            line += f"\n  close behind: {runner_up.reason}"
        return line

    def __str__(self) -> str:
        return "\n".join([self._heading(), *(self._item_line(i) for i in self.items), self.verdict()])

    def __repr__(self) -> str:
        b = self.bottleneck
        what = f"bottleneck={b.kind} at #{b.argument}" if b else "no bottleneck"
        return f"<pygochan.Report {len(self.items)} object(s), {what}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's plain-text view (a terminal, a text-only frontend): the full report."""
        printer.text(str(self))

    # ---- notebook ---------------------------------------------------------------

    def _repr_html_(self) -> str:
        scale = max([i.send_blocked for i in self.items if i.is_channel]
                    + [i.recv_blocked for i in self.items if i.is_channel]
                    + [i.judged.get("queue_wait_seconds", 0.0) for i in self.items if not i.is_channel]
                    + [1e-9])
        rows = []
        marked = self._marked_positions()
        for item in self.items:
            style = ' style="background:#fff3cd"' if item.position in marked else ""
            name = _e(item.name)
            if item.is_channel:
                now = item.now
                capacity = now.get("capacity", 0)
                length = now.get("length", 0)
                if capacity == _core.UNBOUNDED:
                    fill = _bar(0.0, "#6c757d", f"{length} (unbounded)")
                elif capacity == 0:
                    fill = _bar(0.0, "#6c757d", "unbuffered")
                else:
                    fill = _fill_bar(length, now.get("max_fill", 0), capacity)
                cells = [
                    fill,
                    _bar(item.send_blocked / scale, "#dc3545", f"{item.send_blocked:.3f} s"),
                    _bar(item.recv_blocked / scale, "#0d6efd", f"{item.recv_blocked:.3f} s"),
                ]
            else:
                now = item.now
                most = max(now.get("max_workers", 0), 1)
                waited = item.judged.get("queue_wait_seconds", 0.0)
                cells = [
                    _bar(now.get("running", 0) / most, "#198754",
                         f"{now.get('running', 0)}/{now.get('max_workers', 0)} busy, "
                         f"{now.get('pending', 0)} queued"),
                    _bar(waited / scale, "#dc3545", f"tasks waited {waited:.3f} s"),
                    "",
                ]
            rows.append(
                f"<tr{style}><td style=\"{_TD}\"><b>{name}</b></td>"
                + "".join(f'<td style="{_TD}">{c}</td>' for c in cells)
                + f'<td style="{_TD};font-family:monospace;font-size:85%;color:#555">'
                  f"{_e(_short(item.repr))}</td></tr>")
        verdict = _e(self.verdict()).replace("\n", "<br>")
        color = "#842029" if self.bottleneck else "#0f5132"
        return (
            '<div style="font-family:sans-serif;font-size:13px">'
            f"<div>{_e(self._heading())}</div>"
            '<table style="border-collapse:collapse;margin:4px 0">'
            f'<tr><th style="{_TH}"></th><th style="{_TH}">fill now (highest)</th>'
            f'<th style="{_TH}">senders blocked (input full)</th>'
            f'<th style="{_TH}">receivers blocked (output empty)</th><th style="{_TH}"></th></tr>'
            + "".join(rows) + "</table>"
            f'<div style="color:{color};font-weight:bold">{verdict}</div></div>'
        )

    def _marked_positions(self) -> Tuple[int, ...]:
        """The rows around the bottleneck: the channel feeding it (and the
        one it feeds)."""
        b = self.bottleneck
        if b is None:
            return ()
        if b.kind != "stage":
            return (b.argument,)
        channels = [i.position for i in self.items if i.is_channel]
        at = channels.index(b.argument)
        return (b.argument, channels[at + 1]) if at + 1 < len(channels) else (b.argument,)


_TD = "padding:2px 8px;border-bottom:1px solid #eee;vertical-align:middle;text-align:left;white-space:nowrap"
_TH = "padding:2px 8px;border-bottom:1px solid #ccc;text-align:left;font-weight:normal;color:#555;white-space:nowrap"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _bar(fraction: float, color: str, label: str, width: int = 120) -> str:
    """A horizontal bar, inline CSS only (no script, no external asset)."""
    fraction = 0.0 if fraction != fraction else min(max(fraction, 0.0), 1.0)
    return (
        f'<div style="display:inline-block;width:{width}px;height:10px;background:#e9ecef;'
        f'border-radius:2px;vertical-align:middle;overflow:hidden">'
        f'<div style="width:{fraction * 100:.1f}%;height:100%;background:{color}"></div></div>'
        f' <span style="font-size:85%">{_e(label)}</span>'
    )


def _fill_bar(length: int, max_fill: int, capacity: int, width: int = 120) -> str:
    """A channel's fill now (solid) over the highest it reached (pale)."""
    now = min(max(length / capacity, 0.0), 1.0) * 100
    most = min(max(max_fill / capacity, 0.0), 1.0) * 100
    return (
        f'<div style="display:inline-block;position:relative;width:{width}px;height:10px;'
        f'background:#e9ecef;border-radius:2px;vertical-align:middle;overflow:hidden">'
        f'<div style="position:absolute;left:0;top:0;width:{most:.1f}%;height:100%;'
        f'background:#a3cfbb"></div>'
        f'<div style="position:absolute;left:0;top:0;width:{now:.1f}%;height:100%;'
        f'background:#198754"></div></div>'
        f' <span style="font-size:85%">{_e(f"{length}/{capacity} (max {max_fill})")}</span>'
    )


# ---- taking the report ----------------------------------------------------------------


def _flatten(objects: Sequence[Any]) -> List[Any]:
    flat: List[Any] = []
    for obj in objects:
        if isinstance(obj, (list, tuple)):
            flat.extend(obj)
        else:
            flat.append(obj)
    return flat


def report(*objects: Any, interval: Optional[float] = None,
           labels: Optional[Iterable[Optional[str]]] = None) -> Report:
    """A report naming the stage that holds a pipeline back.

    ``objects``: the pipeline's channels in order (source → sink) and any
    Pools (stages of their own), or one list of them.  ``interval=None``
    judges the counters since the channels were made; ``interval=s`` reads
    them twice, ``s`` seconds apart, and judges the difference (Ctrl-C
    ends the sleep between).  ``labels`` names the arguments.

        >>> print(gc.report(raw, parsed, stored))
        pygochan report: 3 channel(s), 0 pool(s), since the channels were made
          ...
        bottleneck: the stage fed by #2 <pygochan.Channel ...>: its input stays full ...
    """
    items_in = _flatten(objects)
    if not items_in:
        raise TypeError("report() needs at least one Channel or Pool")
    names = list(labels) if labels is not None else []
    if len(names) > len(items_in):
        raise ValueError(f"report() got {len(names)} labels for {len(items_in)} objects")
    names += [None] * (len(items_in) - len(names))
    items: List[_Item] = []
    from ._pool import Pool  # lazily: _pool imports much of the package

    for position, (obj, label) in enumerate(zip(items_in, names), 1):
        if not (_is_channel(obj) or isinstance(obj, (_core._PoolBase, Pool))):
            raise TypeError(f"report() takes Channels and Pools, not {type(obj).__name__} "
                            f"(argument {position})")
        if label is not None and not isinstance(label, str):
            raise TypeError(f"labels must be strings, not {type(label).__name__}")
        items.append(_Item(position, obj, label))
    if interval is not None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise TypeError(f"interval must be a number of seconds, not {type(interval).__name__}")
        if not interval > 0:
            raise ValueError("interval must be positive (or None: the totals)")
    by_channel = {_channel_key(i.obj): i for i in items if i.is_channel}

    first = [_read(i.obj) for i in items]
    waits_before = _ongoing_waits(by_channel)
    if interval is not None:
        import pygochan

        getattr(pygochan, "sleep", time.sleep)(interval)
        second = [_read(i.obj) for i in items]
    else:
        second = first
    waits_after = _ongoing_waits(by_channel)

    for item, before, after in zip(items, first, second):
        item.now = after
        item.repr = _safe_repr(item.obj)  # as it is at the end, like item.now
        counters = _CHANNEL_COUNTERS if item.is_channel else _POOL_COUNTERS
        for counter in counters:
            if counter not in after:
                continue  # not measured by this object
            value = float(after.get(counter, 0) or 0)
            if interval is not None:
                value -= float(before.get(counter, 0) or 0)
            item.judged[counter] = max(value, 0.0)
    # Waits still going on count for what they lasted so far (within the
    # interval); one that was going on at the start and has ended since is
    # in the counters' difference with its time before the interval, taken
    # off here.
    for (_ident, _since, channel, side), seconds in waits_after.items():
        if interval is not None:
            seconds = min(seconds, interval)
        by_channel[channel].ongoing[side] += max(seconds, 0.0)
    if interval is not None:
        for wait, seconds in waits_before.items():
            if wait not in waits_after:
                _, _, channel, side = wait
                judged_key = "send_blocked_seconds" if side == "send" else "recv_blocked_seconds"
                item = by_channel[channel]
                item.judged[judged_key] = max(item.judged[judged_key] - seconds, 0.0)
    return Report(items, interval)


# ---- compact notebook views of Channel, Pool and Context ------------------------------


def _badge(text: str, color: str) -> str:
    return (f'<span style="background:{color};color:#fff;border-radius:3px;padding:0 5px;'
            f'font-size:85%">{_e(text)}</span>')


def _box(*parts: str) -> str:
    return ('<div style="font-family:sans-serif;font-size:13px;display:inline-block;'
            'border:1px solid #ddd;border-radius:4px;padding:4px 8px">' + " ".join(parts) + "</div>")


def channel_html(ch: Any) -> str:
    """``Channel._repr_html_``: its fill, who waits on it now, its counters."""
    try:
        s = _read(ch)
    except Exception:  # a channel without stats (an older core): what repr shows
        return _box(_badge("Channel", "#198754"), f"<code>{_e(_safe_repr(ch))}</code>")
    capacity, length = s.get("capacity", 0), s.get("length", 0)
    if capacity == _core.UNBOUNDED:
        fill = f"unbounded, {length} buffered"
    elif capacity == 0:
        fill = "unbuffered"
    else:
        fill = _bar(length / capacity, "#198754", f"{length}/{capacity}", width=80)
    state = _badge("closed", "#6c757d") if s.get("closed") else ""
    counters = (f'<span style="color:#555;font-size:85%">{s.get("sends", 0)} sent, '
                f'{s.get("receives", 0)} received; blocked: senders '
                f'{s.get("send_blocked_seconds", 0.0):.3f} s, receivers '
                f'{s.get("recv_blocked_seconds", 0.0):.3f} s; waiting now: '
                f'{s.get("senders_waiting", 0)} sender(s), {s.get("receivers_waiting", 0)} '
                f'receiver(s)</span>')
    return _box(_badge("Channel", "#198754"), fill, state, counters)


def pool_html(pool: Any) -> str:
    """``Pool._repr_html_``: its workers busy, its queue, its counters."""
    try:
        s = _read(pool)
    except Exception:
        return _box(_badge("Pool", "#0d6efd"), f"<code>{_e(_safe_repr(pool))}</code>")
    most = s.get("max_workers", 0)
    running = s.get("running", 0)
    name = _e(getattr(pool, "_name", ""))
    state = _badge("shut down", "#6c757d") if getattr(pool, "_shut_down", False) else ""
    extra = []
    for key, label in (("completed", "completed"), ("failed", "failed")):
        if key in s:
            extra.append(f"{s[key]} {label}")
    if s.get("queue_wait_seconds") is not None:
        extra.append(f"tasks waited {s['queue_wait_seconds']:.3f} s for a worker")
    if "busy_seconds" in s:
        extra.append(f"workers busy {s['busy_seconds']:.3f} s")
    return _box(
        _badge("Pool", "#0d6efd"), f"<b>{name}</b>",
        _bar(running / most if most else 0.0, "#0d6efd", f"{running}/{most} busy", width=80),
        f"{s.get('pending', 0)} queued", state,
        f'<span style="color:#555;font-size:85%">{_e(", ".join(extra))}</span>')


def context_html(ctx: Any) -> str:
    """``Context._repr_html_``: active or done (and why), its deadline."""
    err = ctx.err()
    deadline = ctx.deadline()
    if err is not None:
        badge = _badge(type(err).__name__, "#dc3545")
        cause = _core.cause(ctx)
        why = "" if cause is None or cause is err else f"cause: {_safe_repr(cause)}"
        detail = f'<span style="color:#555;font-size:85%">{_e(why)}</span>'
    elif ctx.done() is None:
        badge = _badge("never canceled", "#6c757d")
        detail = ""
    else:
        badge = _badge("active", "#198754")
        detail = ""
    if deadline is not None:
        left = deadline - time.monotonic()
        when = f"deadline in {left:.3f} s" if left > 0 else f"deadline passed {-left:.3f} s ago"
        detail += f' <span style="font-size:85%">{_e(when)}</span>'
    return _box(_badge("Context", "#6f42c1"), badge, detail)


def install_html_reprs() -> None:
    """Give Channel, Pool and Context their notebook views (called once
    by the package on import)."""
    from ._pool import Pool

    _core.Channel._repr_html_ = channel_html  # type: ignore[method-assign,assignment]
    _core.Context._repr_html_ = context_html  # type: ignore[method-assign,assignment]
    Pool._repr_html_ = pool_html  # type: ignore[attr-defined]
