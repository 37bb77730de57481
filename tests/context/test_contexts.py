"""Contexts: Go's context semantics (after context/x_test.go), ctx= on every
blocking call, after_func, causes, signal_context."""
import collections
import gc as pygc
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
import weakref

import pytest

import pygochan as gc
from conftest import JOIN_TIMEOUT, interrupt_when_blocked, join_all, run_child, start, wait_for

BG = gc.background()


def is_done(ctx):
    try:
        return ctx.done().recv_ok(timeout=0) == (None, False)
    except TimeoutError:
        return False


# ---- background, cancel, tree -----------------------------------------------

def test_background_is_never_done():
    assert BG.done() is None and BG.err() is None
    assert BG.deadline() is None and BG.value("k") is None
    assert gc.cause(BG) is None
    with pytest.raises(TimeoutError):
        BG.wait(timeout=0.01)


def test_with_cancel():
    ctx, cancel = gc.with_cancel(BG)
    assert ctx.err() is None and not is_done(ctx) and gc.cause(ctx) is None
    cancel()
    assert isinstance(ctx.err(), gc.Canceled) and is_done(ctx)
    cancel()  # idempotent
    assert isinstance(ctx.err(), gc.Canceled)
    assert isinstance(gc.cause(ctx), gc.Canceled)
    ctx.wait(timeout=1)


def test_with_block_cancels_on_exit_even_on_error():
    with pytest.raises(KeyError):
        with gc.with_cancel(BG) as ctx:
            raise KeyError
    assert isinstance(ctx.err(), gc.Canceled)
    pair = gc.with_timeout(BG, 10)
    assert isinstance(pair, tuple) and pair.ctx is pair[0]


def test_parent_cancel_finishes_every_descendant():
    root, cancel = gc.with_cancel(BG)
    a, _ = gc.with_cancel(root)
    b = gc.with_value(a, "k", 1)
    c, _ = gc.with_timeout(b, 60)
    d, _ = gc.with_cancel(c)
    sibling, cancel_sibling = gc.with_cancel(BG)
    cancel()
    for ctx in (root, a, b, c, d):
        assert isinstance(ctx.err(), gc.Canceled), ctx
    assert sibling.err() is None
    cancel_sibling()


def test_child_cancel_does_not_touch_parent_or_siblings():
    parent, cancel_parent = gc.with_cancel(BG)
    c1, cancel1 = gc.with_cancel(parent)
    c2, _ = gc.with_cancel(parent)
    cancel1()
    assert c1.err() is not None
    assert parent.err() is None and c2.err() is None
    cancel_parent()
    assert c2.err() is not None


def test_child_of_done_parent_is_born_done():
    parent, cancel = gc.with_cancel_cause(BG)
    cancel(RuntimeError("gone"))
    child, _ = gc.with_cancel(parent)
    assert isinstance(child.err(), gc.Canceled)
    assert isinstance(gc.cause(child), RuntimeError)


def test_tree_of_ten_thousand_canceled_from_root():
    root, cancel = gc.with_cancel(BG)
    nodes, frontier = [], [root]
    while len(nodes) < 10_000:
        parent = frontier.pop(0)
        for _ in range(10):
            child, _ = gc.with_cancel(parent)
            nodes.append(child)
            frontier.append(child)
    deep = root
    for _ in range(2000):  # and a deep chain
        deep, _ = gc.with_cancel(deep)
        nodes.append(deep)
    cancel()
    assert all(ctx.err() is not None for ctx in nodes)


def test_canceled_children_leave_nothing_behind():
    parent, cancel_parent = gc.with_cancel(BG)
    refs = []
    for i in range(100_000):
        ctx, cancel = gc.with_cancel(parent)
        cancel()
        if i % 1000 == 0:
            refs.append(weakref.ref(ctx))
    del ctx, cancel
    pygc.collect()
    assert all(r() is None for r in refs)  # the parent keeps no canceled child
    tracemalloc.start()
    try:
        for _ in range(20_000):
            ctx, cancel = gc.with_cancel(parent)
            cancel()
        first, _ = tracemalloc.get_traced_memory()
        for _ in range(50_000):
            ctx, cancel = gc.with_cancel(parent)
            cancel()
        second, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert second - first < 64 * 1024
    cancel_parent()


def test_dropped_uncanceled_child_is_freed():
    parent, cancel = gc.with_cancel(BG)
    child, _ = gc.with_cancel(parent)
    ref = weakref.ref(child)
    del child, _
    pygc.collect()
    assert ref() is None
    cancel()


# ---- deadlines ---------------------------------------------------------------

def test_deadline_in_the_past_is_done_at_once():
    ctx, cancel = gc.with_deadline(BG, time.monotonic() - 1)
    assert isinstance(ctx.err(), gc.DeadlineExceeded)
    assert isinstance(ctx.err(), TimeoutError)
    cancel()
    assert isinstance(ctx.err(), gc.DeadlineExceeded)  # first wins


def test_timeout_fires():
    ctx, cancel = gc.with_timeout(BG, 0.05)
    assert ctx.err() is None
    ctx.wait(timeout=5)
    assert isinstance(ctx.err(), gc.DeadlineExceeded)
    assert isinstance(gc.cause(ctx), gc.DeadlineExceeded)
    cancel()


def test_child_deadline_never_later_than_parent():
    parent, cp = gc.with_timeout(BG, 0.05)
    child, cc = gc.with_timeout(parent, 60)
    assert child.deadline() == pytest.approx(parent.deadline())
    sooner, cs = gc.with_timeout(parent, 0.01)
    assert sooner.deadline() < parent.deadline()
    child.wait(timeout=5)
    assert isinstance(child.err(), gc.DeadlineExceeded)
    for f in (cp, cc, cs):
        f()


def test_hundred_thousand_contexts_with_deadlines_are_cheap():
    pairs = [gc.with_timeout(BG, 3600) for _ in range(100_000)]
    assert threading.active_count() < 50  # no thread per deadline
    for ctx, cancel in pairs:
        cancel()
    assert all(isinstance(ctx.err(), gc.Canceled) for ctx, _ in pairs[::997])


def test_cancel_before_deadline_gives_canceled():
    ctx, cancel = gc.with_timeout(BG, 0.05)
    cancel()
    time.sleep(0.08)
    assert isinstance(ctx.err(), gc.Canceled)


# ---- values and without_cancel ------------------------------------------------

def test_values_look_up_the_chain():
    a = gc.with_value(BG, "k1", "v1")
    b, cancel = gc.with_cancel(a)
    c = gc.with_value(b, "k2", "v2")
    d = gc.with_value(c, "k1", "shadow")
    assert (c.value("k1"), c.value("k2"), c.value("missing")) == ("v1", "v2", None)
    assert d.value("k1") == "shadow" and b.value("k1") == "v1"
    cancel()
    assert d.err() is not None


def test_without_cancel_keeps_values_and_is_never_done():
    parent, cancel = gc.with_cancel(gc.with_value(BG, "user", "ann"))
    detached = gc.without_cancel(parent)
    cancel()
    assert detached.err() is None and detached.done() is None
    assert detached.deadline() is None and detached.value("user") == "ann"
    child, cc = gc.with_cancel(detached)
    assert child.err() is None
    cc()


# ---- causes --------------------------------------------------------------------

def test_cancel_takes_the_cause_by_keyword():
    ctx, cancel = gc.with_cancel_cause(BG)
    cause = LookupError("gone")
    cancel(cause=cause)
    assert gc.cause(ctx) is cause
    with pytest.raises(TypeError):
        cancel(reason=cause)
    plain, cancel_plain = gc.with_cancel(BG)
    with pytest.raises(TypeError):  # with_cancel's cancel takes no cause
        cancel_plain(cause)
    cancel_plain()


def test_cause_reaches_a_timeout_child_of_a_canceled_parent():
    parent, cancel = gc.with_cancel_cause(BG)
    child, cancel_child = gc.with_timeout(parent, 60)
    cancel(KeyError("k"))
    assert isinstance(child.err(), gc.Canceled)  # not a deadline
    assert isinstance(gc.cause(child), KeyError)
    late, cancel_late = gc.with_timeout(parent, 60)  # born done
    assert isinstance(gc.cause(late), KeyError)
    cancel_child()
    cancel_late()


def test_causes_flow_down_and_first_wins():
    root, cancel = gc.with_cancel_cause(BG)
    child, _ = gc.with_cancel(root)
    boom = ValueError("boom")
    cancel(boom)
    cancel(KeyError("ignored"))
    assert gc.cause(root) is boom and gc.cause(child) is boom
    assert isinstance(child.err(), gc.Canceled)


# ---- after_func ------------------------------------------------------------------

def test_after_func_runs_once_in_another_thread():
    ctx, cancel = gc.with_cancel(BG)
    ran = gc.Channel(gc.UNBOUNDED)
    stop = ctx.after_func(lambda: ran.send(threading.get_ident()))
    assert len(ran) == 0
    cancel()
    assert ran.recv(timeout=5) != threading.get_ident()
    with pytest.raises(TimeoutError):
        ran.recv(timeout=0.05)
    assert stop() is False


def test_after_func_stop_prevents_it():
    ctx, cancel = gc.with_cancel(BG)
    ran = []
    stop = ctx.after_func(lambda: ran.append(1))
    assert stop() is True and stop() is False
    cancel()
    time.sleep(0.05)
    assert ran == []


def test_after_func_on_done_context_runs_at_once():
    ctx, cancel = gc.with_cancel(BG)
    cancel()
    ran = gc.Channel(1)
    ctx.after_func(lambda: ran.send("yes"))
    assert ran.recv(timeout=5) == "yes"
    with pytest.raises(TypeError):
        ctx.after_func(42)


def _dropped_deadline_context(how, ran):
    """Register ran.set on a context that can only end by its deadline, and
    drop every handle to it; a weak reference to the context."""
    if how == "own deadline":
        ctx, _cancel = gc.with_timeout(BG, 0.05)
        ctx.after_func(ran.set)
    elif how == "parent's deadline":
        parent, _stop = gc.with_timeout(BG, 0.05)
        ctx, _cancel = gc.with_cancel(parent)
        ctx.after_func(ran.set)
    else:  # "closure cycle": the function refers back to the context
        ctx, _cancel = gc.with_timeout(BG, 0.05)
        ctx.after_func(lambda: (ran.set(), ctx))
    return weakref.ref(ctx)


@pytest.mark.parametrize("how", ["own deadline", "parent's deadline", "closure cycle"])
def test_after_func_on_a_dropped_context_with_a_deadline_still_runs(how):
    # Go's context.AfterFunc: the deadline fires whoever holds the context.
    ran = threading.Event()
    ref = _dropped_deadline_context(how, ran)
    pygc.collect()
    assert ran.wait(10), "the after_func of a dropped context never ran"
    # once it ran, nothing keeps the context
    wait_for(lambda: pygc.collect() is not None and ref() is None, what="context freed")


def test_after_func_stopped_on_a_deadline_context_frees_it():
    ctx, _cancel = gc.with_timeout(BG, 60)
    ran = []
    stop = ctx.after_func(lambda: ran.append(1))
    ref = weakref.ref(ctx)
    del ctx, _cancel
    assert stop() is True
    del stop
    pygc.collect()
    assert ref() is None  # the pin went with the last pending function
    assert ran == []


RUNNER_LIFE = """
import threading, time
import pygochan as gc

def runner_alive():
    return any(t.name == "pygochan-after-func-runner" for t in threading.enumerate())

def eventually(predicate, what):
    end = time.monotonic() + 30
    while not predicate():
        assert time.monotonic() < end, what
        time.sleep(0.001)

ctx, cancel = gc.with_cancel(gc.background())
ran = threading.Event()
ctx.after_func(ran.set)
cancel()
assert ran.wait(10)
# a pending function that only a cancel from Python can release needs no
# runner either
pending, _ = gc.with_cancel(gc.background())
pending.after_func(lambda: None)
eventually(lambda: not runner_alive(), "the runner never ended")
# a deadline to come keeps it; its stop() lets it end
timed, _ = gc.with_timeout(gc.background(), 60)
stop = timed.after_func(lambda: None)
assert runner_alive()
time.sleep(0.05)
assert runner_alive()
assert stop() is True
eventually(lambda: not runner_alive(), "the runner never ended after stop()")
# and it comes back for the next one
ran.clear()
late, cancel_late = gc.with_cancel(gc.background())
late.after_func(ran.set)
cancel_late()
assert ran.wait(10)
timed, _ = gc.with_timeout(gc.background(), 0.05)
ran.clear()
timed.after_func(ran.set)
assert ran.wait(10)
print("OK")
"""


def test_the_after_func_runner_ends_when_it_has_nothing_to_do():
    # its own process: other tests' pending deadlines would keep the runner
    proc = subprocess.run([sys.executable, "-c", RUNNER_LIFE],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


def test_after_func_runs_even_if_starting_its_thread_fails_for_a_while(monkeypatch):
    real_start = threading.Thread.start
    failures = [3]

    def start(self):
        if self.name == "pygochan-after-func" and failures[0] > 0:
            failures[0] -= 1
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    ran = [threading.Event() for _ in range(3)]
    ctx, cancel = gc.with_cancel(gc.background())
    for event in ran:
        ctx.after_func(event.set)
    cancel()
    for event in ran:
        assert event.wait(JOIN_TIMEOUT)
    assert failures == [0]
    # and the runner is still there for the next context
    later = threading.Event()
    ctx2, cancel2 = gc.with_cancel(gc.background())
    ctx2.after_func(later.set)
    cancel2()
    assert later.wait(JOIN_TIMEOUT)


# ---- ctx= on blocking calls ----------------------------------------------------------

@pytest.mark.parametrize("op", ["recv", "recv_ok", "send", "select", "wait"])
def test_blocked_call_raises_when_ctx_is_canceled(op):
    ch = gc.Channel()
    ctx, cancel = gc.with_cancel_cause(BG)
    calls = {
        "recv": lambda: ch.recv(ctx=ctx),
        "recv_ok": lambda: ch.recv_ok(ctx=ctx),
        "send": lambda: ch.send(1, ctx=ctx),
        "select": lambda: gc.select(gc.recv(ch), gc.send(ch, 2), ctx=ctx),
        "wait": lambda: gc.without_cancel(BG).wait(ctx=ctx),
    }
    errors = []

    def run():
        try:
            calls[op]()
        except gc.Canceled as e:
            errors.append(e)

    t = start(run)
    time.sleep(0.02)
    reason = OSError("shutting down")
    cancel(reason)
    join_all([t])
    assert len(errors) == 1 and errors[0].__cause__ is reason
    assert len(ch) == 0
    with pytest.raises(gc.Canceled):  # already done: raises at once
        calls[op]()


def test_deadline_on_blocking_calls():
    ch = gc.Channel()
    with gc.with_timeout(BG, 0.03) as ctx:
        with pytest.raises(gc.DeadlineExceeded):
            ch.recv(ctx=ctx)
        with pytest.raises(TimeoutError):  # DeadlineExceeded is a TimeoutError
            gc.select(gc.recv(ch), ctx=ctx)


def test_ctx_does_not_disturb_a_ready_operation():
    ch = gc.Channel(1)
    ctx, cancel = gc.with_cancel(BG)
    ch.send("v", ctx=ctx)
    assert ch.recv(ctx=ctx) == "v"
    assert gc.select(gc.send(ch, "w"), ctx=gc.without_cancel(BG)).index == 0
    assert ch.recv_ok(ctx=BG) == ("w", True)
    cancel()


def test_wait_timeout_and_done():
    ctx, cancel = gc.with_cancel(BG)
    with pytest.raises(TimeoutError):
        ctx.wait(timeout=0.01)
    threading.Timer(0.02, cancel).start()
    assert ctx.wait(timeout=5) is None


def test_every_value_once_with_contexts_expiring_at_random(rng):
    ch = gc.Channel()
    sent, received = [], []
    lock = threading.Lock()
    seeds = [rng.randrange(2**32) for _ in range(8)]

    def sender(k):
        import random
        r = random.Random(seeds[k])
        for i in range(300):
            with gc.with_timeout(BG, r.choice([0, 0.0001, 0.0005, 0.002])) as ctx:
                try:
                    ch.send((k, i), ctx=ctx)
                    with lock:
                        sent.append((k, i))
                except gc.DeadlineExceeded:
                    pass

    def receiver(k):
        import random
        r = random.Random(seeds[4 + k])
        stop_at = time.monotonic() + 30
        while time.monotonic() < stop_at:
            with gc.with_timeout(BG, r.choice([0.0001, 0.001, 0.005])) as ctx:
                try:
                    idx, v, ok = gc.select(gc.recv(ch), ctx=ctx)
                except gc.DeadlineExceeded:
                    continue
            if not ok:
                return
            with lock:
                received.append(v)

    rx = [start(receiver, k) for k in range(4)]
    tx = [start(sender, k) for k in range(4)]
    join_all(tx, timeout=60)
    ch.close()
    join_all(rx, timeout=60)
    dup = [v for v, n in collections.Counter(received).items() if n > 1]
    assert not dup and sorted(received) == sorted(sent) and sent


# ---- errors and object behaviour ------------------------------------------------------

def test_bad_arguments():
    for bad in (None, "ctx", 1):
        with pytest.raises(TypeError):
            gc.with_cancel(bad)
        with pytest.raises(TypeError):
            gc.with_value(bad, 1, 2)
    ch = gc.Channel(1)
    with pytest.raises(TypeError, match="ctx"):
        ch.recv(ctx="nope")
    with pytest.raises(TypeError, match="ctx"):
        gc.select(gc.recv(ch), ctx=1)
    with pytest.raises(TypeError):
        gc.Context()
    with pytest.raises(TypeError):
        gc.with_timeout(BG, "1")


def test_done_channel_is_receive_only_and_shared():
    ctx, cancel = gc.with_cancel(BG)
    assert ctx.done() is ctx.done()
    with pytest.raises(TypeError, match="receive-only"):
        ctx.done().send(1)
    with pytest.raises(TypeError, match="receive-only"):
        ctx.done().close()
    with pytest.raises(TypeError):
        gc.send(ctx.done(), 1)
    cancel()


def test_weakref_and_repr():
    ctx, cancel = gc.with_timeout(BG, 10)
    assert weakref.ref(ctx)() is ctx
    assert "active" in repr(ctx) and "deadline" in repr(ctx)
    cancel()
    assert "canceled" in repr(ctx)
    assert repr(BG) == "<pygochan.Context background>"


def test_done_channel_keeps_its_context_alive():
    parent, cancel = gc.with_cancel(BG)
    child, _ = gc.with_cancel(parent)
    done = child.done()
    del child, _
    pygc.collect()
    cancel()
    assert done.recv_ok(timeout=5) == (None, False)


@pytest.mark.parametrize("call, right", [
    (lambda: gc.with_timeout(gc.background(), timeout=5), "`seconds`"),
    (lambda: gc.with_timeout(gc.background(), secs=5), "`seconds`"),
    (lambda: gc.with_timeout_cause(gc.background(), timeout=5, cause=ValueError()), "`seconds`"),
    (lambda: gc.with_deadline(gc.background(), timeout=5), "`deadline`"),
    (lambda: gc.with_deadline_cause(gc.background(), timeout=5, cause=ValueError()), "`deadline`"),
], ids=["with_timeout", "with_timeout-other", "with_timeout_cause", "with_deadline", "with_deadline_cause"])
def test_a_context_constructors_wrong_keyword_names_the_right_parameter(call, right):
    # timeout= is what every blocking call takes, so it is the natural slip here
    with pytest.raises(TypeError, match="unexpected keyword argument") as info:
        call()
    assert "second argument, " + right in str(info.value)


def test_context_constructors_keep_their_signatures_and_keywords():
    import inspect

    assert list(inspect.signature(gc.with_timeout).parameters) == ["parent", "seconds"]
    assert list(inspect.signature(gc.with_deadline_cause).parameters) == ["parent", "deadline", "cause"]
    ctx, cancel = gc.with_timeout(parent=gc.background(), seconds=5)
    assert ctx.deadline() is not None
    cancel()
    with gc.with_timeout_cause(gc.background(), seconds=0, cause=ValueError("why")) as ctx:
        ctx.wait(timeout=5)
        assert isinstance(gc.cause(ctx), ValueError)
    with pytest.raises(TypeError, match="Context"):
        gc.with_timeout("not a context", 5)  # a TypeError from inside is not rewritten


# ---- signals ------------------------------------------------------------------------

def test_signal_context_cancels_on_sigint_and_restores_handler():
    child = run_child("""
        import pygochan as gc, signal
        original = signal.getsignal(signal.SIGINT)
        ctx, stop = gc.signal_context(gc.background())
        print('ready', flush=True)
        ctx.wait(timeout=20)
        print(type(gc.cause(ctx)).__name__, gc.cause(ctx).signum == signal.SIGINT,
              signal.getsignal(signal.SIGINT) is original, flush=True)
        stop()
    """)
    line, returncode, stderr = interrupt_when_blocked(child)
    assert line == "SignalReceived True True", stderr
    assert returncode == 0


def test_signal_context_stop_restores_handler():
    previous = signal.getsignal(signal.SIGINT)
    ctx, stop = gc.signal_context(BG, signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is not previous
    stop()
    assert signal.getsignal(signal.SIGINT) is previous
    assert isinstance(ctx.err(), gc.Canceled)
    outcome = []

    def off_main_thread():
        try:
            gc.signal_context(BG)
            outcome.append("no error")
        except ValueError:
            outcome.append("ValueError")

    join_all([start(off_main_thread)])
    assert outcome == ["ValueError"]


def test_signal_context_restores_handler_when_parent_cancels():
    previous = signal.getsignal(signal.SIGINT)
    parent, cancel = gc.with_cancel(BG)
    ctx, stop = gc.signal_context(parent)
    assert signal.getsignal(signal.SIGINT) is not previous
    cancel()
    # restored by the main thread once it runs Python code again
    wait_for(lambda: signal.getsignal(signal.SIGINT) is previous)
    stop()


def test_err_implies_done_is_closed_for_every_observer():
    for _ in range(200):
        ctx, cancel = gc.with_cancel(BG)
        done = ctx.done()
        seen = []

        def observe():
            while ctx.err() is None:
                pass
            seen.append(done.recv_ok(timeout=0))

        t = start(observe)
        cancel()
        join_all([t])
        assert seen == [(None, False)]


@pytest.mark.parametrize("block", ["ctx.wait()", "gc.select(gc.recv(ctx.done()))"])
def test_ctrl_c_while_blocked_on_a_context(block):
    child = run_child(f"""
        import pygochan as gc
        ctx, cancel = gc.with_cancel(gc.background())
        print('ready', flush=True)
        try:
            {block}
        except KeyboardInterrupt:
            print('interrupted', ctx.err() is None, flush=True)
    """)
    line, returncode, stderr = interrupt_when_blocked(child)
    assert line == "interrupted True", stderr  # nothing else ends the wait
