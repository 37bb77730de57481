"""Ctrl-C (SIGINT) on the main thread while blocked: KeyboardInterrupt within
1 s, and a value in flight at that moment is neither lost nor duplicated."""
import os
import signal
import subprocess
import sys
import textwrap
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


def run_child(code, timeout=30):
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


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
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.2)  # let it block
        sent_at = time.monotonic()
        child.send_signal(signal.SIGINT)
        line = child.stdout.readline().strip()
        elapsed = time.monotonic() - sent_at
        child.wait(10)
    finally:
        child.kill()
    assert line == "interrupted", child.stderr.read()
    assert elapsed < 1.0
    assert child.returncode == 0


def test_ctrl_c_never_loses_or_duplicates_a_value_in_flight():
    """A helper thread sends numbered values with random short timeouts while
    the main thread receives; SIGINTs land at random moments.  Afterwards the
    values the helper saw succeed equal the values main received, once each."""
    child = run_child("""
        import pygochan as gc, random, threading, sys, collections
        ch = gc.Channel()
        sent, got = [], []
        stop = threading.Event()
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
        print('ready', flush=True)
        interrupts = 0
        while interrupts < 20:
            try:
                mode = len(got) % 3
                if mode == 0:
                    got.append(ch.recv())
                elif mode == 1:
                    got.append(gc.select(gc.recv(ch), gc.recv(None)).value)
                else:
                    for v in ch:
                        got.append(v)
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
    try:
        assert child.stdout.readline().strip() == "ready"
        for _ in range(20):
            time.sleep(0.02 + 0.03 * (_ % 3))
            child.send_signal(signal.SIGINT)
            assert child.stdout.readline().strip() == "tick"
        last = child.stdout.readline().strip()
        child.wait(30)
    finally:
        child.kill()
    assert last.startswith("consistent"), child.stderr.read()
    assert child.returncode == 0


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
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.1)
        child.send_signal(signal.SIGUSR1)
        line = child.stdout.readline().strip()
        child.wait(10)
    finally:
        child.kill()
    assert line == "done 1", child.stderr.read()
