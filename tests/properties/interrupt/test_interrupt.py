"""Ctrl-C (SIGINT) on the main thread while blocked: KeyboardInterrupt, and
a value in flight at that moment is neither lost nor duplicated.

The blocked calls have no timeout, or one longer than the test waits for the
child's answer, so an answer at all means the signal ended the wait; the
limit on that wait only turns a hang into a failure.  How fast the interrupt
gets through is measured by benchmarks/bench_interrupt.py, not asserted."""
import os
import signal
import threading
import time

import pytest

import pygochan as gc
from conftest import WAIT_TIMEOUT, interrupt_when_blocked, run_child, waiting

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

BLOCKERS = {
    "recv": "ch.recv()",
    "recv_ok": "ch.recv_ok()",
    "recv_with_timeout": "ch.recv(timeout=60)",
    "recv_buffered": "gc.Channel(4).recv()",
    "recv_unbounded": "gc.Channel(gc.UNBOUNDED).recv()",
    "send": "ch.send('value')",
    "send_with_timeout": "ch.send('value', timeout=60)",
    "select": "gc.select(gc.recv(ch), gc.recv(None), gc.send(gc.Channel(), 1))",
    "select_send": "gc.select(gc.send(ch, 'value'))",
    "select_with_timeout": "gc.select(gc.recv(ch), gc.send(full, 'extra'), timeout=60)",
    "select_many_cases": "gc.select(*[gc.recv(gc.Channel()) for _ in range(100)], gc.recv(ch))",
    "select_only_nil_cases": "gc.select(gc.recv(None), gc.send(None, 1))",
    "iteration": "for _ in ch: pass",
    "empty_select": "gc.select()",
    "full_send": "full.send('extra')",
    "full_select_send": "gc.select(gc.send(full, 'extra'), gc.send(ch, 'value'))",
}


def interrupt_twenty_times_then_check(child):
    """SIGINT the child 20 times at varied moments; each must be answered
    with 'tick' (the child's receives never end otherwise), and the child
    must end with 'consistent'."""
    assert child.readline() == "ready"
    for i in range(20):
        time.sleep(0.02 + 0.03 * (i % 3))
        child.send_signal(signal.SIGINT)
        line = child.readline()
        if line != "tick":
            child.proc.kill()
            pytest.fail(f"interrupt {i}: {line!r}; stderr: {child.finish()[1]}")
    last = child.readline(timeout=30)
    returncode, stderr = child.finish()
    assert last.startswith("consistent"), stderr
    assert returncode == 0


@pytest.mark.parametrize("name", sorted(BLOCKERS))
def test_ctrl_c_interrupts_a_blocked_call(name):
    child = run_child(f"""
        import pygochan as gc, sys
        ch = gc.Channel()
        full = gc.Channel(1); full.send('kept')
        try:
            # inside the try: a SIGINT can only arrive after this line
            print('ready', flush=True)
            {BLOCKERS[name]}
            print('returned', flush=True)
        except KeyboardInterrupt:
            # no effect: nothing was taken from or added to the channels
            assert repr(ch).endswith('waiting_senders=0 waiting_receivers=0>'), repr(ch)
            assert repr(full).endswith('waiting_senders=0 waiting_receivers=0>'), repr(full)
            assert len(ch) == 0
            assert len(full) == 1 and full.recv() == 'kept'
            # nothing of the interrupted call is left to be found later
            try:
                v = ch.recv(timeout=0.05)
                raise AssertionError('the interrupted send delivered %r' % (v,))
            except TimeoutError:
                pass
            try:
                v = full.recv(timeout=0.05)
                raise AssertionError('the interrupted send left %r' % (v,))
            except TimeoutError:
                pass
            print('interrupted', flush=True)
    """)
    line, returncode, stderr = interrupt_when_blocked(child)
    assert line == "interrupted", stderr
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
        t = threading.Thread(target=helper, daemon=True); t.start()
        receivers = [
            lambda: got.extend(iter(functools.partial(ch.recv), STOP)),
            lambda: got.extend(map(operator.itemgetter(0), iter(functools.partial(ch.recv_ok), STOP))),
            lambda: got.extend(map(operator.itemgetter(1),
                                   iter(functools.partial(gc.select, gc.recv(ch), gc.recv(None)), STOP))),
            lambda: got.extend(ch),
        ]
        # Each line that lets the parent send the next SIGINT is printed
        # inside the try, so that SIGINT can only land in it.
        interrupts, say = 0, 'ready'
        while interrupts < 20:
            try:
                print(say, flush=True)
                receivers[interrupts % len(receivers)]()
            except KeyboardInterrupt:
                interrupts += 1
                say = 'tick'
        print(say, flush=True)
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
    interrupt_twenty_times_then_check(child)


def test_ctrl_c_never_loses_or_duplicates_a_value_being_sent():
    """The mirror image: the main thread sends numbered values (plain send,
    a select send case, and into a cap-1 buffer) from C-level loops while a
    helper thread receives with random short timeouts; SIGINTs land at random
    moments.  A value whose send was interrupted must never arrive; every
    other value arrives exactly once."""
    child = run_child("""
        import pygochan as gc, random, threading, collections, itertools, time
        unbuf, buf = gc.Channel(), gc.Channel(1)
        got = []
        stop = threading.Event()
        def helper():
            while not stop.is_set():
                try:
                    got.append(random.choice((unbuf, buf)).recv(
                        timeout=random.choice([0.0001, 0.001, 0.01])))
                except TimeoutError:
                    pass
        t = threading.Thread(target=helper, daemon=True); t.start()
        counter = itertools.count()
        drain = collections.deque(maxlen=0).extend
        senders = [
            lambda: drain(map(unbuf.send, counter)),
            lambda: drain(map(gc.select, map(gc.send, itertools.repeat(unbuf), counter))),
            lambda: drain(map(buf.send, counter)),
            lambda: drain(map(gc.select, map(gc.send, itertools.repeat(buf), counter),
                              itertools.repeat(gc.send(None, -1)))),
        ]
        failed = set()
        # As above: the line that lets the next SIGINT come is printed inside
        # the try.  A SIGINT landing there, after the print, marks two more
        # numbers never offered, which is harmless.
        interrupts, say = 0, 'ready'
        while interrupts < 20:
            try:
                print(say, flush=True)
                senders[interrupts % len(senders)]()
            except KeyboardInterrupt:
                interrupts += 1
                # the value whose send was interrupted, and one never offered
                nxt = next(counter)
                failed.update((nxt - 1, nxt))
                say = 'tick'
        print(say, flush=True)
        stop.set()
        t.join()
        buf.close()
        got.extend(buf)      # what is still buffered
        expected = set(range(next(counter))) - failed
        dup = [v for v, n in collections.Counter(got).items() if n > 1]
        assert not dup, dup[:5]
        assert set(got) == expected, (sorted(set(got) ^ expected)[:10], sorted(failed)[:10])
        print('consistent', len(got), flush=True)
    """)
    interrupt_twenty_times_then_check(child)


def test_ctrl_c_on_a_full_channel_leaves_the_value_out():
    """Several rounds: a send blocked on a full cap-2 channel is interrupted;
    afterwards the buffer holds exactly what it held before."""
    child = run_child("""
        import pygochan as gc
        full = gc.Channel(2)
        full.send('a'); full.send('b')
        say = 'ready'
        for i in range(5):
            try:
                print(say, flush=True)  # the next SIGINT comes after this line
                full.send(('extra', i))
                print('returned', flush=True)
            except KeyboardInterrupt:
                assert len(full) == 2, len(full)
                assert repr(full).endswith('waiting_senders=0 waiting_receivers=0>'), repr(full)
                say = 'tick'
        print(say, flush=True)
        full.close()
        print(list(full), flush=True)
    """)
    assert child.readline() == "ready"
    for i in range(5):
        time.sleep(0.1)
        child.send_signal(signal.SIGINT)
        line = child.readline()
        assert line == "tick", (i, line, child.finish()[1])
    last = child.readline()
    returncode, stderr = child.finish()
    assert last == "['a', 'b']", stderr
    assert returncode == 0


def test_ctrl_c_reaches_the_main_thread_while_other_threads_are_blocked():
    """Blocked helper threads do not swallow the interrupt: the main thread,
    blocked too, gets KeyboardInterrupt; the helpers keep waiting and then
    finish normally."""
    child = run_child("""
        import pygochan as gc, threading
        ch, quit = gc.Channel(), gc.Channel()
        results = []
        def helper():
            results.append(gc.select(gc.recv(quit), gc.recv(ch), timeout=30).index)
        threads = [threading.Thread(target=helper, daemon=True) for _ in range(8)]
        for t in threads: t.start()
        try:
            print('ready', flush=True)  # inside the try: the SIGINT comes after it
            gc.select(gc.recv(ch), timeout=30)
        except KeyboardInterrupt:
            print('interrupted', flush=True)
        quit.close()
        for t in threads: t.join(30)
        print(sorted(results), flush=True)
    """)
    line, returncode, stderr = interrupt_when_blocked(child)
    assert line == "interrupted", stderr  # before the select's 30 s timeout
    # interrupt_when_blocked already waited for the child to exit
    assert returncode == 0, stderr


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


class Alarm(Exception):
    pass


@pytest.mark.parametrize("blocker", ["send", "recv", "select", "full_send"])
def test_exception_from_a_signal_handler_ends_the_wait_with_no_effect(blocker):
    """Any exception a signal handler raises (not only KeyboardInterrupt)
    ends the main thread's blocking call, which then had no effect.  The
    call has a 10 s timeout: had the signal waited for it, the call would
    have raised TimeoutError, which pytest.raises does not accept, or the
    handler would have raised while that was handled, making it the Alarm's
    __context__."""
    ch, full = gc.Channel(), gc.Channel(1)
    full.send("kept")
    calls = {
        "send": lambda: ch.send("value", timeout=10),
        "recv": lambda: ch.recv(timeout=10),
        "select": lambda: gc.select(gc.recv(ch), gc.send(full, "extra"), timeout=10),
        "full_send": lambda: full.send("extra", timeout=10),
    }

    def handler(signum, frame):
        raise Alarm()

    old = signal.signal(signal.SIGALRM, handler)
    try:
        with pytest.raises(Alarm) as info:
            # inside the block: an alarm that comes early still lands here
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            calls[blocker]()
        assert info.value.__context__ is None, repr(info.value.__context__)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert waiting(ch) == (0, 0) and waiting(full) == (0, 0)
    assert len(full) == 1 and full.recv(timeout=0) == "kept"
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.02)


def test_ctrl_c_in_a_child_forked_from_a_worker_thread():
    child = run_child("""
        import os, threading, warnings
        warnings.simplefilter("ignore")   # fork() with threads running
        import pygochan as gc
        def forker():
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    print('ready', os.getpid(), flush=True)
                    gc.Channel().recv(timeout=60)  # longer than the test waits
                    print('returned', flush=True)
                except KeyboardInterrupt:
                    print('interrupted', flush=True)
                    code = 0
                except BaseException as e:
                    print('error', type(e).__name__, flush=True)
                os._exit(code)
            os.waitpid(pid, 0)
        t = threading.Thread(target=forker)
        t.start()
        t.join()
    """)
    line = child.readline()
    assert line.startswith("ready "), line
    pid = int(line.split()[1])
    time.sleep(0.2)
    os.kill(pid, signal.SIGINT)
    line = child.readline()
    if line != "interrupted":
        try:
            os.kill(pid, signal.SIGKILL)  # not left waiting out its timeout
        except ProcessLookupError:
            pass
    child.finish()
    assert line == "interrupted", line


def test_signals_that_do_not_raise_neither_end_nor_extend_a_timed_wait():
    """A signal every 10 ms whose handler returns normally: the main
    thread's wait goes on, and its timeout still counts from the call (were
    it counted from the last signal, the wait would never end: after 10 s of
    signals the handler raises, turning that hang into a failure)."""
    hits = []

    def handler(*args):
        hits.append(1)
        if len(hits) >= WAIT_TIMEOUT / 0.01:
            raise AssertionError(f"a 0.3 s wait still going after {len(hits)} signals")

    old = signal.signal(signal.SIGALRM, handler)
    ch = gc.Channel()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            ch.recv(timeout=0.3)
        elapsed = time.monotonic() - t0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(hits) >= 5          # the handlers ran during the wait
    assert elapsed >= 0.29, elapsed  # it did not end early
    assert waiting(ch) == (0, 0)


def test_signals_that_do_not_raise_do_not_lose_a_value():
    hits = []
    old = signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
    ch = gc.Channel()
    got = []
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.005, 0.005)
        def helper_sends():
            for i in range(300):
                if i % 2:
                    time.sleep(0.001)  # the main thread waits for this one
                ch.send(i, timeout=10)  # and the helper waits for the next

        helper = threading.Thread(target=helper_sends, daemon=True)
        helper.start()
        for _ in range(300):
            got.append(ch.recv(timeout=10))
            if len(got) % 30 == 0:
                time.sleep(0.02)
        helper.join(10)
        assert not helper.is_alive()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert got == list(range(300))
    assert hits
