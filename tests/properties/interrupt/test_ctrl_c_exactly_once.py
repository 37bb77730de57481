"""Ctrl-C on the main thread while it receives: no value is ever lost.

A receive that committed just as a signal handler raised used to drop its
value (the interpreter runs pending handlers right after a call returns).
Now the call runs them itself after committing and, if one raises, gives
the value back to the head of its channel before the exception propagates.
Each program below is one a user would write; they run in subprocesses so
that real SIGINTs reach a real main thread."""
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import FREE_THREADED, seed_from_env

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

# The receive loops users write; each appends what it receives
# to `got` until a KeyboardInterrupt ends it.
RECEIVE_LOOPS = {
    "recv": "while True: got.append(c.recv())",
    "recv_ok": "while True:\n    v, ok = c.recv_ok()\n    got.append(v)",
    "recv_timeout": "while True: got.append(c.recv(timeout=30))",
    "select": "while True: got.append(gc.select(gc.recv(c), gc.recv(None)).value)",
    "next": "it = iter(c)\nwhile True: got.append(next(it))",
    "for": "for v in c: got.append(v)",
    "use_after_assignment": "while True:\n    x = c.recv()\n    got.append(x)",
}

ROUNDS = 12


def run_python(code, timeout=120):
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.parametrize("capacity", [0, 4])
@pytest.mark.parametrize("form", sorted(RECEIVE_LOOPS))
def test_ctrl_c_while_receiving_loses_no_value(form, capacity):
    seed = seed_from_env()
    print(f"PYGOCHAN_SEED={seed}")
    loop = textwrap.indent(RECEIVE_LOOPS[form], " " * 8)
    out = run_python(f"""
import os, random, signal, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import pygochan as gc

rng = random.Random({seed})
lost = duplicated = interrupted = most_lost = 0

def sigint_once_inside(delay, inside):
    # The SIGINT can only arrive once the receive loop is inside its try:
    # started early, it would end the program before the loop ran.
    inside.wait()
    time.sleep(delay)
    os.kill(os.getpid(), signal.SIGINT)

for _ in range({ROUNDS}):
    c = gc.Channel({capacity})
    stop = threading.Event()
    inside = threading.Event()
    sent = []

    def produce():
        i = 0
        while not stop.is_set():
            c.send(i)
            i += 1
        sent.append(i)

    # daemon: should the program fail, its exit must not wait for them
    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    timer = threading.Thread(target=sigint_once_inside,
                             args=(rng.uniform(0.01, 0.05), inside), daemon=True)
    timer.start()
    got = []
    try:
        inside.set()
{loop}
    except KeyboardInterrupt:
        interrupted += 1
    stop.set()
    timer.join()
    while producer.is_alive() or len(c):
        try:
            got.append(c.recv(timeout=0.05))
        except TimeoutError:
            pass
    producer.join()
    lost_now = sent[0] - len(set(got))
    lost += lost_now
    most_lost = max(most_lost, lost_now)
    duplicated += len(got) - len(set(got))
print(interrupted, lost, duplicated, most_lost)
""")
    interrupted, lost, duplicated, most_lost = map(int, out)
    assert interrupted == ROUNDS
    if FREE_THREADED and form != "for":
        # Without a GIL the Timer thread's os.kill can land in the window
        # docs/channels.md describes, between the call's last signal check
        # and the interpreter's own right after it returns: then the one
        # value that call was returning is dropped, never more, and nothing
        # is duplicated.  With the GIL that thread cannot run inside it.
        assert duplicated == 0 and most_lost <= 1, f"{form}, capacity {capacity}: {out}"
    else:
        assert (lost, duplicated) == (0, 0), f"{form}, capacity {capacity}: {out}"


def test_shutdown_recipe_with_signal_context_loses_and_duplicates_nothing():
    """docs/channels.md's exactly-once shutdown: Ctrl-C cancels a context
    passed to every blocking call, so each call either had its effect or
    raised Canceled having had none, sends included."""
    seed = seed_from_env()
    print(f"PYGOCHAN_SEED={seed}")
    out = run_python(f"""
import collections, os, random, signal, threading
import pygochan as gc

rng = random.Random({seed})
problems = 0
for capacity in [0, 4] * 6:
    jobs, results = gc.Channel(capacity), gc.Channel(capacity)
    stop_feeding = threading.Event()
    sent, delivered = [], []

    def feed():
        i = 0
        while not stop_feeding.is_set():
            try:
                jobs.send(i, timeout=0.01)
            except TimeoutError:
                continue
            sent.append(i)
            i += 1

    def consume():
        for v in results:
            delivered.append(v)

    threads = [threading.Thread(target=feed, daemon=True),
               threading.Thread(target=consume, daemon=True)]
    for t in threads:
        t.start()
    # Ctrl-C cancels ctx from here on: the SIGINT is sent only after, else
    # it could reach the default handler and end the program.
    ctx, stop = gc.signal_context(gc.background())
    sigint = threading.Timer(rng.uniform(0.01, 0.05),
                             lambda: os.kill(os.getpid(), signal.SIGINT))
    sigint.daemon = True
    sigint.start()
    unsent = None
    try:
        while True:
            try:
                item = jobs.recv(ctx=ctx)
            except (gc.Canceled, gc.ChannelClosed):
                break
            result = item
            try:
                results.send(result, ctx=ctx)
            except gc.Canceled:
                unsent = result
                break
    finally:
        stop()
    sigint.join()
    stop_feeding.set()
    threads[0].join()
    results.close()
    threads[1].join()
    left = []
    while len(jobs):
        left.append(jobs.recv())
    ends = collections.Counter(delivered + left + ([] if unsent is None else [unsent]))
    if ends != collections.Counter(sent) or not ctx.err():
        problems += 1
print(problems)
""")
    assert out == ["0"]


def test_ctrl_c_storm_while_the_main_thread_receives_in_every_form():
    """SIGINT every few ms while the main thread receives from producers on
    channels of every kind, in every receive form; each KeyboardInterrupt is
    caught and the loop goes on.  Every value sent is received exactly once."""
    seed = seed_from_env()
    print(f"PYGOCHAN_SEED={seed}")
    out = run_python(STORM_PROGRAM.format(seed=seed, seconds=3.0))
    interrupts = check_storm_report(out)
    assert interrupts > 50  # the storm really hit the receives


@pytest.mark.slow
def test_ctrl_c_storm_soak():
    seed = seed_from_env()
    print(f"PYGOCHAN_SEED={seed}")
    out = run_python(STORM_PROGRAM.format(seed=seed, seconds=60.0), timeout=600)
    check_storm_report(out)


def check_storm_report(out):
    """Asserts on what STORM_PROGRAM printed; returns its interrupt count."""
    values, interrupts, problems = int(out[0]), int(out[1]), out[2:]
    print(f"{values} values, {interrupts} KeyboardInterrupts, {problems[:10]}")
    if FREE_THREADED:
        # The window docs/channels.md describes: without a GIL the storm
        # thread's os.kill can land between a receive's last signal check
        # and the interpreter's own, dropping the one value that receive
        # was returning (one value in 17 runs of about 1,000 interrupts
        # here): never a duplicate, at most one value per interrupt.
        lost = [p for p in problems if p.startswith("lost:")]
        assert lost == problems, problems[:10]
        assert len(lost) <= interrupts, lost[:10]
    else:
        assert problems == [], problems[:10]
    return interrupts


# Producers pace themselves now and then, so the main thread is mostly
# blocked (where Ctrl-C used to cost a value) rather than spinning through
# a full buffer.  The handler raises only in receive()'s frame: an exception in the harness's own bookkeeping would be the
# harness's loss, not pygochan's.
STORM_PROGRAM = """
import collections, os, random, signal, threading, time
import pygochan as gc

rng = random.Random({seed})

def on_sigint(signum, frame):
    if frame is not None and frame.f_code is receive.__code__:
        raise KeyboardInterrupt

signal.signal(signal.SIGINT, on_sigint)
channels = [gc.Channel(cap) for cap in (0, 1, 16, gc.UNBOUNDED)]
sent = collections.Counter()
stop = threading.Event()

def produce(k):
    r = random.Random({seed} + k)
    i = 0
    while not stop.is_set():
        c = channels[r.randrange(len(channels))]
        try:
            c.send((k, i), timeout=0.01)
        except TimeoutError:
            continue
        sent[(k, i)] += 1
        i += 1
        if r.random() < 0.3:
            time.sleep(r.uniform(0, 0.0005))

def storm():
    while not stop.is_set():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(rng.uniform(0.001, 0.005))

def receive(form, c, got):
    if form == 0:
        got.append(c.recv())
    elif form == 1:
        v, ok = c.recv_ok()
        got.append(v)
    elif form == 2:
        got.append(c.recv(timeout=0.01))
    elif form == 3:
        got.append(next(iter(c)))
    elif form == 4:
        i, v, ok = gc.select(*[gc.recv(ch) for ch in channels], gc.recv(None))
        got.append(v)
    elif form == 5:
        i, v, ok = gc.select(gc.recv(c), timeout=0.01)
        got.append(v)
    elif form == 6:
        for v in c:
            got.append(v)
            break

# daemons: should the program fail, its exit must not wait for them
producers = [threading.Thread(target=produce, args=(k,), daemon=True)
             for k in range(4)]
stormer = threading.Thread(target=storm, daemon=True)
for t in producers + [stormer]:
    t.start()
got = []
interrupts = 0
end = time.monotonic() + {seconds}
while time.monotonic() < end:
    form = rng.randrange(7)
    c = channels[rng.randrange(len(channels))]
    try:
        receive(form, c, got)
    except KeyboardInterrupt:
        interrupts += 1
    except TimeoutError:
        pass
stop.set()
for t in producers + [stormer]:
    t.join()
for c in channels:
    while len(c):
        got.append(c.recv())
received = collections.Counter(got)
problems = ["lost:%d/%d" % v for v in sent if received[v] < sent[v]]
problems += ["duplicated:%r" % (v,) for v in received if received[v] > sent[v]]
print(sum(sent.values()), interrupts, *problems)
"""
