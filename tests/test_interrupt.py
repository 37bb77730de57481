"""Ctrl-C (SIGINT) on the main thread while blocked: KeyboardInterrupt within
1 s, and a value in flight at that moment is neither lost nor duplicated."""
import os
import signal
import subprocess
import sys
import queue
import textwrap
import threading
import time

import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

BLOCKERS = {
    "recv": "ch.recv()",
    "recv_ok": "ch.recv_ok()",
    "send": "ch.send('value')",
    "select": "gc.select(gc.recv(ch), gc.recv(None), gc.send(gc.Channel(), 1))",
    "iteration": "for _ in ch: pass",
    "empty_select": "gc.select()",
    "full_send": "full.send('extra')",
}


class Child:
    """A Python subprocess whose stdout lines are read with a timeout, so a
    child that never answers fails the test instead of hanging it."""

    def __init__(self, code):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def readline(self, timeout=10.0):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return "<no answer within %.0f s>" % timeout

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def finish(self):
        try:
            self.proc.wait(30)
        finally:
            self.proc.kill()
        return self.proc.returncode, self.proc.stderr.read()


def run_child(code):
    return Child(code)


def interrupt_when_blocked(child, sig=signal.SIGINT):
    """Wait for the child's 'ready', let it block, send sig; returns (the
    child's next line, seconds until it came, returncode, stderr)."""
    assert child.readline() == "ready"
    time.sleep(0.2)  # let it block
    sent_at = time.monotonic()
    child.send_signal(sig)
    line = child.readline()
    elapsed = time.monotonic() - sent_at
    returncode, stderr = child.finish()
    return line, elapsed, returncode, stderr


@pytest.mark.parametrize("name", sorted(BLOCKERS))
def test_ctrl_c_interrupts_a_blocked_call_promptly(name):
    child = run_child(f"""
        import pygochan as gc, sys
        ch = gc.Channel()
        full = gc.Channel(1); full.send('kept')
        print('ready', flush=True)
        try:
            {BLOCKERS[name]}
            print('returned', flush=True)
        except KeyboardInterrupt:
            # no effect: nothing was taken from or added to the channels
            assert repr(ch).endswith('waiting_senders=0 waiting_receivers=0>'), repr(ch)
            assert len(full) == 1 and full.recv() == 'kept'
            print('interrupted', flush=True)
    """)
    line, elapsed, returncode, stderr = interrupt_when_blocked(child)
    assert line == "interrupted", stderr
    assert elapsed < 1.0
    assert returncode == 0


def test_ctrl_c_never_loses_or_duplicates_a_value_in_flight():
    """A helper thread sends numbered values with random short timeouts while
    the main thread receives; SIGINTs land at random moments.  Afterwards the
    values the helper saw succeed equal the values main received, once each.

    Main stores values with list.extend over a C-level iterator, so no Python
    bytecode runs between a recv returning and its value being stored: a
    KeyboardInterrupt can only come from inside pygochan's blocking call
    (Python may raise a pending interrupt at any bytecode boundary, e.g. just
    after `v = ch.recv()` returns; that is the language, not the channel)."""
    child = run_child("""
        import pygochan as gc, random, threading, collections, functools, operator
        ch = gc.Channel()
        sent, got = [], []
        stop = threading.Event()
        STOP = object()  # never sent: the C-level iterators below run until interrupted
        def helper():
            i = 0
            while not stop.is_set():
                try:
                    ch.send(i, timeout=random.choice([0.0001, 0.001, 0.01]))
                    sent.append(i)
                except TimeoutError:
                    pass
                i += 1
        t = threading.Thread(target=helper); t.start()
        receivers = [
            lambda: got.extend(iter(functools.partial(ch.recv), STOP)),
            lambda: got.extend(map(operator.itemgetter(0), iter(functools.partial(ch.recv_ok), STOP))),
            lambda: got.extend(map(operator.itemgetter(1),
                                   iter(functools.partial(gc.select, gc.recv(ch), gc.recv(None)), STOP))),
            lambda: got.extend(ch),
        ]
        print('ready', flush=True)
        interrupts = 0
        while interrupts < 20:
            try:
                receivers[interrupts % len(receivers)]()
            except KeyboardInterrupt:
                interrupts += 1
                print('tick', flush=True)
        stop.set()
        while t.is_alive():
            try:
                got.append(ch.recv(timeout=0.05))
            except TimeoutError:
                pass
        t.join()
        dup = [v for v, n in collections.Counter(got).items() if n > 1]
        assert not dup, dup[:5]
        assert sorted(got) == sorted(sent), (len(got), len(sent), set(sent) ^ set(got))
        print('consistent', len(sent), flush=True)
    """)
    assert child.readline() == "ready"
    for i in range(20):
        time.sleep(0.02 + 0.03 * (i % 3))
        child.send_signal(signal.SIGINT)
        line = child.readline(timeout=5)
        if line != "tick":
            child.proc.kill()
            pytest.fail(f"interrupt {i}: {line!r}; stderr: {child.finish()[1]}")
    last = child.readline(timeout=30)
    returncode, stderr = child.finish()
    assert last.startswith("consistent"), stderr
    assert returncode == 0


def test_signal_handler_that_does_not_raise_lets_the_wait_continue():
    child = run_child("""
        import pygochan as gc, signal, threading, time, os
        hits = []
        signal.signal(signal.SIGUSR1, lambda *a: hits.append(1))
        ch = gc.Channel()
        def later():
            time.sleep(0.3)
            ch.send('done')
        threading.Thread(target=later).start()
        print('ready', flush=True)
        print(ch.recv(), len(hits), flush=True)
    """)
    assert child.readline() == "ready"
    time.sleep(0.1)
    child.send_signal(signal.SIGUSR1)
    line = child.readline()
    returncode, stderr = child.finish()
    assert line == "done 1", stderr
    assert returncode == 0
