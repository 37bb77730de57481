"""Direction views (recv_only / send_only): they share their channel, refuse
the other direction at run time and for mypy, and are collected with it."""
import time

import pytest

import pygochan as gc
from conftest import WAIT_TIMEOUT, join_all, start


def test_views_share_the_channel():
    ch = gc.Channel(4)
    out, into = ch.recv_only(), ch.send_only()
    into.send(1)
    assert out.recv() == 1
    ch.send(2)
    assert gc.select(gc.recv(out)) == (0, 2, True)
    gc.select(gc.send(into, 3))
    assert len(out) == len(into) == len(ch) == 1
    assert out.capacity == into.capacity == 4
    into.close()  # closing is the sender's side
    assert ch.closed and out.closed
    assert list(out) == [3]
    assert out.recv_ok() == (None, False)


def test_views_refuse_the_other_direction():
    ch = gc.Channel(1)
    out, into = ch.recv_only(), ch.send_only()
    for bad in (lambda: out.send(1), out.close, lambda: gc.send(out, 1),
                into.recv, into.recv_ok, lambda: next(iter(into)), lambda: gc.recv(into),
                into.recv_only, out.send_only, gc.after(1).send_only):
        with pytest.raises(TypeError):
            bad()
    assert len(ch) == 0 and not ch.closed
    assert "receive-only view" in repr(out) and "send-only view" in repr(into)
    assert isinstance(out.recv_only(), gc.Channel)


def test_a_view_keeps_its_channel_alive_and_threads_use_both_ends(rng):
    ch = gc.Channel(2)
    out, into = ch.recv_only(), ch.send_only()
    del ch
    n = 200

    def producer():
        for i in range(n):
            if rng.random() < 0.1:
                time.sleep(0.0005)
            into.send(i, timeout=WAIT_TIMEOUT)
        into.close()

    t = start(producer)
    assert list(out.iter()) == list(range(n))
    join_all([t])


MYPY_SNIPPET = """
import pygochan as gc

def consume(results: gc.RecvOnlyChannel[int]) -> int:
    total = 0
    for v in results:
        total += v
    results.send(1)
    return total

def produce(out: gc.SendOnlyChannel[int]) -> None:
    out.send(1)
    out.close()

ch: gc.Channel[int] = gc.Channel(1)
produce(ch.send_only())
consume(ch.recv_only())
consume(ch)
gc.select(gc.recv(ch.recv_only()), gc.send(ch.send_only(), 2))
"""


def test_mypy_rejects_a_send_on_a_receive_only_view(tmp_path):
    mypy = pytest.importorskip("mypy.api")
    path = tmp_path / "views.py"
    path.write_text(MYPY_SNIPPET)
    stdout, stderr, status = mypy.run([str(path), "--no-incremental", "--cache-dir", str(tmp_path / "c")])
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, stdout + stderr
    assert "views.py:8:" in errors[0] and '"send"' in errors[0], stdout


def test_views_and_iterators_are_collected_with_their_channel():
    import gc as pygc
    import weakref

    ch = gc.Channel(gc.UNBOUNDED)
    ref = weakref.ref(ch)
    view = ch.recv_only()
    ch.send(view)            # a cycle: the channel buffers its own view
    ch.send(ch.send_only())
    ctx, cancel = gc.with_cancel(gc.background())
    it = ch.iter(ctx=ctx)
    ch.send(it)              # and an iterator that holds it
    del ch, view, it
    pygc.collect()
    assert ref() is None
    cancel()


def test_blocked_and_views_do_not_leak(rng):
    import tracemalloc

    ch = gc.Channel(1)

    def churn():
        for _ in range(300):
            v = ch.recv_only()
            assert len(ch.send_only()) == 0
            with pytest.raises(TimeoutError):
                v.recv(timeout=0.0001 * rng.random())
            gc.blocked()

    churn()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    churn()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 64 * 1024, grown
