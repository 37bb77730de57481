"""gc.report(): the stage that holds a pipeline back, named in three
pipelines of different shapes, while they run and after; its notebook view
and those of Channel, Pool and Context."""

import re
import threading
import time

import pytest

import pygochan as gc
from conftest import FREE_THREADED, join_all, start, wait_for

# Seconds per item in the slow stage; the others do no work.  Well above
# the scheduling noise of a loaded machine (a hand-off that waits for a
# thread to be scheduled counts as blocked time on both sides).
SLOW = 0.02


def _stage(inp, out, delay, done=None):
    for item in inp:
        if delay:
            time.sleep(delay)
        out.send(item)
    if done is None:
        out.close()
    else:
        done.done()


def _source(out, n, delay=0.0):
    for i in range(n):
        if delay:
            time.sleep(delay)
        out.send(i)
    out.close()


def _sink(inp, delay=0.0):
    count = 0
    for _ in inp:
        if delay:
            time.sleep(delay)
        count += 1
    return count


def _verdict_line(text):
    lines = [line for line in text.splitlines() if "bottleneck" in line]
    assert len(lines) == 1, text
    return lines[0]


def run_linear(rng, slow_stage, n=30):
    """source → #1 → stage A → #2 → stage B → #3 → sink; one stage (0 the
    source, 1 A, 2 B, 3 the sink) is slow.  Returns the report, taken after
    the run, and the channels."""
    caps = [rng.choice([0, 1, 4]) for _ in range(3)]
    chans = [gc.Channel(c) for c in caps]
    delays = [SLOW if i == slow_stage else 0.0 for i in range(4)]
    threads = [
        start(_source, chans[0], n, delays[0]),
        start(_stage, chans[0], chans[1], delays[1]),
        start(_stage, chans[1], chans[2], delays[2]),
        start(_sink, chans[2], delays[3]),
    ]
    join_all(threads)
    assert threads[-1].result == n
    return gc.report(*chans), chans


@pytest.mark.parametrize("slow_stage,kind,argument", [
    (0, "source", 1), (1, "stage", 1), (2, "stage", 2), (3, "sink", 3)])
def test_linear_pipeline_names_the_slow_stage(rng, slow_stage, kind, argument):
    r, chans = run_linear(rng, slow_stage)
    assert r.bottleneck is not None, str(r)
    assert (r.bottleneck.kind, r.bottleneck.argument) == (kind, argument), str(r)
    line = _verdict_line(str(r))
    assert f"#{argument}" in line
    if kind in ("stage", "sink"):
        assert f"fed by #{argument}" in line


def test_fan_out_fan_in_names_the_slow_workers(rng):
    """source → #1 → 4 workers (slow) → #2 → sink: the workers' stage,
    fed by #1, holds it back although there are many of them."""
    n, workers = 32, 4
    jobs, results = gc.Channel(rng.choice([0, 2])), gc.Channel(rng.choice([0, 8]))
    group = gc.WaitGroup()
    group.add(workers)
    threads = [start(_source, jobs, n)]
    threads += [start(_stage, jobs, results, SLOW * 2, group) for _ in range(workers)]
    closer = start(lambda: (group.wait(), results.close()))
    sink = start(_sink, results)
    join_all(threads + [closer, sink])
    assert sink.result == n
    r = gc.report([jobs, results], labels=["jobs", "results"])
    assert (r.bottleneck.kind, r.bottleneck.argument) == ("stage", 1), str(r)
    line = _verdict_line(str(r))
    assert "fed by #1 'jobs'" in line


def test_slow_consumer_of_fan_in_is_the_sink(rng):
    """3 fast producers → #1 → a merge stage → #2 → a slow sink."""
    n = 32
    merged, out = gc.Channel(rng.choice([0, 3])), gc.Channel(rng.choice([0, 3]))
    group = gc.WaitGroup()
    group.add(3)

    def produce():
        for i in range(n // 4):
            merged.send(i)
        group.done()

    threads = [start(produce) for _ in range(3)]
    closer = start(lambda: (group.wait(), merged.close()))
    middle = start(_stage, merged, out, 0.0)
    sink = start(_sink, out, SLOW)
    join_all(threads + [closer, middle, sink])
    r = gc.report(merged, out)
    assert (r.bottleneck.kind, r.bottleneck.argument) == ("sink", 2), str(r)
    assert "fed by #2" in _verdict_line(str(r))


@pytest.mark.skipif(FREE_THREADED, reason="blocked() leaves the objects out on the free-threaded build")
def test_a_stage_stuck_now_is_named_before_any_wait_ended():
    """Channel.stats() counts a wait once it ends: the report adds the
    waits going on now, so a stage hung in the middle of an item shows."""
    a, b = gc.Channel(), gc.Channel()
    hung = threading.Event()
    release = threading.Event()

    def stuck_stage():
        item = a.recv()
        hung.set()
        release.wait()
        b.send(item)

    # the feeder and the sink use direction views: the same channels
    threads = [start(stuck_stage), start(a.send, 1), start(b.recv_only().recv)]
    hung.wait(10)
    feeder = start(a.send_only().send, 2)
    wait_for(lambda: a.stats().senders_waiting == 1 and b.stats().receivers_waiting == 1)
    time.sleep(0.05)
    r = gc.report(a, b)
    assert (r.bottleneck.kind, r.bottleneck.argument) == ("stage", 1), str(r)
    release.set()
    a.recv()
    join_all(threads + [feeder])


def test_interval_judges_what_happens_now(rng):
    """A pipeline whose slow stage moves: B was slow during the first part,
    A is slow now.  The totals still blame B; interval= sees A."""
    a, b, c = gc.Channel(2), gc.Channel(2), gc.Channel(2)
    slow = {"A": 0.0, "B": SLOW * 2}
    stop = threading.Event()

    def source():
        i = 0
        while not stop.is_set():
            a.send(i)
            i += 1
        a.close()

    def stage(name, inp, out):
        for item in inp:
            time.sleep(slow[name])
            out.send(item)
        out.close()

    threads = [start(source), start(stage, "A", a, b), start(stage, "B", b, c), start(_sink, c)]
    time.sleep(0.4)
    slow["A"], slow["B"] = SLOW * 2, 0.0
    time.sleep(0.1)  # B drains what it had
    now = gc.report(a, b, c, interval=0.3)
    stop.set()
    join_all(threads)
    assert "over the last 0.3 s" in str(now)
    assert (now.bottleneck.kind, now.bottleneck.argument) == ("stage", 1), str(now)


def test_no_bottleneck_when_nothing_waited():
    ch = gc.Channel(10)
    for i in range(5):
        ch.send(i)
    r = gc.report(ch)
    assert r.bottleneck is None
    assert "no bottleneck" in str(r)


def test_pool_with_all_workers_busy_is_the_bottleneck():
    with gc.Pool(2, measure_queue_wait=True) as pool:
        results = gc.Channel(1)
        futures = [pool.submit(time.sleep, SLOW * 3) for _ in range(20)]
        for f in futures:
            f.result()
        results.send(1)
        r = gc.report(results, pool)
    assert (r.bottleneck.kind, r.bottleneck.argument) == ("pool", 2), str(r)
    assert "pool #2" in _verdict_line(str(r))


def test_bad_arguments():
    with pytest.raises(TypeError):
        gc.report()
    with pytest.raises(TypeError, match="argument 2"):
        gc.report(gc.Channel(), "not a channel")
    with pytest.raises(ValueError):
        gc.report(gc.Channel(), interval=-1)
    with pytest.raises(ValueError):
        gc.report(gc.Channel(), interval=0)
    with pytest.raises(TypeError):
        gc.report(gc.Channel(), interval="1")
    with pytest.raises(ValueError):
        gc.report(gc.Channel(), labels=["a", "b"])
    with pytest.raises(TypeError):
        gc.report(gc.Channel(), labels=[3])


def _no_script(html):
    assert "<script" not in html.lower()
    assert "javascript:" not in html.lower()
    assert "http://" not in html and "https://" not in html
    # balanced tags: every opened div/table closes
    assert html.count("<div") == html.count("</div>")
    assert html.count("<table") == html.count("</table>")


def test_report_html_draws_bars_and_escapes_labels(rng):
    r, chans = run_linear(rng, 2, n=10)
    labelled = gc.report(*chans, labels=["<script>alert(1)</script>", "b&c", None])
    html = labelled._repr_html_()
    _no_script(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "b&amp;c" in html
    assert html.count("<tr") == 1 + len(chans)  # a heading row and one per channel
    widths = [float(w) for w in re.findall(r"width:([0-9.]+)%", html)]
    assert len(widths) >= 3 * len(chans)  # fill (now, highest), senders, receivers blocked
    assert all(0.0 <= w <= 100.0 for w in widths)
    assert "bottleneck" in html
    assert 'background:#fff3cd' in html  # the rows around the slow stage stand out


def test_channel_pool_context_html():
    ch = gc.Channel(4)
    ch.send("<b>x</b>")
    html = ch._repr_html_()
    _no_script(html)
    assert "1/4" in html and "Channel" in html
    assert "<b>x</b>" not in html  # values are never shown
    with gc.Pool(2, name="<pool & co>") as pool:
        pool.submit(int).result()
        html = pool._repr_html_()
    _no_script(html)
    assert "&lt;pool &amp; co&gt;" in html and "<pool & co>" not in html
    assert "0/2 busy" in html
    html = gc.background()._repr_html_()
    assert "never canceled" in html
    ctx, cancel = gc.with_cancel_cause(gc.background())
    assert "active" in ctx._repr_html_()
    cancel(ValueError("<why>"))
    html = ctx._repr_html_()
    _no_script(html)
    assert "Canceled" in html and "&lt;why&gt;" in html
    ctx, cancel = gc.with_timeout(gc.background(), 60)
    assert "deadline in" in ctx._repr_html_()
    cancel()


def run_pipeline(caps, workers, slow, n=24):
    """source → chans[0] → stage 1 → ... → chans[-1] → sink, where stage i
    (1..len(chans)-1) runs workers[i-1] threads; stage `slow` (0 the source,
    len(chans) the sink, others the middle stages) takes SLOW per item
    (divided among its workers)."""
    chans = [gc.Channel(c) for c in caps]
    m = len(chans)
    threads = [start(_source, chans[0], n, SLOW if slow == 0 else 0.0)]
    for i in range(1, m):
        count = workers[i - 1]
        group = gc.WaitGroup()
        group.add(count)
        delay = SLOW * count if slow == i else 0.0
        threads += [start(_stage, chans[i - 1], chans[i], delay, group) for _ in range(count)]
        threads.append(start(lambda g=group, out=chans[i]: (g.wait(), out.close())))
    sink = start(_sink, chans[-1], SLOW if slow == m else 0.0)
    join_all(threads + [sink])
    assert sink.result == n
    return gc.report(*chans), chans


@pytest.mark.parametrize("trial", range(3))
def test_random_pipelines_name_their_slow_stage(rng, trial):
    m = rng.randint(2, 4)
    caps = [rng.choice([0, 1, 3, 8]) for _ in range(m)]
    workers = [rng.randint(1, 3) for _ in range(m - 1)]
    slow = rng.randint(0, m)
    r, chans = run_pipeline(caps, workers, slow)
    expected = ("source", 1) if slow == 0 else ("sink", m) if slow == m else ("stage", slow)
    assert (r.bottleneck.kind, r.bottleneck.argument) == expected, (caps, workers, slow, str(r))


def test_pool_over_an_interval_shows_its_utilisation():
    with gc.Pool(2) as pool:
        futures = [pool.submit(time.sleep, SLOW) for _ in range(40)]
        r = gc.report(pool, interval=0.2)
        for f in futures:
            f.result()
    line = [x for x in str(r).splitlines() if x.startswith("  #1")][0]
    assert re.search(r"\((\d+)% of 2 workers' time\)", line), line
    assert r.bottleneck is not None and r.bottleneck.kind == "pool", str(r)


def test_a_pool_that_does_not_measure_its_queue_wait_is_not_judged():
    with gc.Pool(2) as pool:
        for f in [pool.submit(time.sleep, SLOW) for _ in range(6)]:
            f.result()
        r = gc.report(pool)
    assert r.bottleneck is None
    assert "queue wait not measured" in str(r)
