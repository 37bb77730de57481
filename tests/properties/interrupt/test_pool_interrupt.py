"""One Ctrl-C gets the user out of a WaitGroup, a Pool and its futures, and
queued tasks never start afterwards (subprocess tests).  How fast is
measured by benchmarks/bench_interrupt.py, not asserted here."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import assert_interrupted, interrupt_when_blocked, run_child

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


# Each child: 2 workers busy with slow tasks, 50 queued; the blocker below
# is interrupted; then it reports how many tasks ever started.  Its SIGINT
# handler notes how many had started when the interrupt was raised.
SETUP = """
    import pygochan as gc, signal, threading, time
    started = []
    at_interrupt = []
    def on_sigint(signum, frame):
        at_interrupt.append(len(started))
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, on_sigint)
    def slow(i):
        started.append(i)
        time.sleep(0.3)
        return i
"""

BLOCKERS = {
    "map": "for _ in pool.map(slow, range(50)): pass",
    "map_unordered": "for _ in pool.map(slow, range(50), ordered=False): pass",
    "result": "[pool.submit(slow, i) for i in range(50)][-1].result()",
    "blocking_submit": "[pool.submit(slow, i) for i in range(50)]",
    "with_body": "[pool.submit(slow, i) for i in range(50)]; threading.Event().wait()",
}


@pytest.mark.parametrize("name", sorted(BLOCKERS))
def test_one_ctrl_c_exits_pool_and_queued_tasks_never_start(name):
    queue_size = 0 if name == "blocking_submit" else -1
    child = run_child(SETUP + f"""
    try:
        with gc.Pool(2, queue_size={queue_size}) as pool:
            print('ready', flush=True)
            {BLOCKERS[name]}
        print('returned', flush=True)
    except KeyboardInterrupt:
        n = len(started)
        print('interrupted', flush=True)
        time.sleep(0.8)
        # nothing queued started after the interrupt: none once the with
        # block was left, and before that at most one per worker, taken as
        # the interrupt was being raised
        assert len(started) == n, (n, len(started))
        assert len(at_interrupt) == 1, at_interrupt
        assert n <= at_interrupt[0] + 2 < 50, (at_interrupt, started)
""")
    assert_interrupted(child)


def test_ctrl_c_in_wait_group_wait():
    child = run_child("""
        import pygochan as gc, threading
        wg = gc.WaitGroup()
        wg.add(1)
        try:
            print('ready', flush=True)  # inside the try: the SIGINT comes after it
            wg.wait()
        except KeyboardInterrupt:
            assert wg.count == 1
            print('interrupted', flush=True)
    """)
    assert_interrupted(child)


def test_interrupted_blocking_submit_had_no_effect():
    child = run_child("""
        import pygochan as gc, threading
        gate = threading.Event()
        ran = []
        pool = gc.Pool(1, queue_size=0)
        pool.submit(gate.wait)
        try:
            # Inside the try: the SIGINT comes after this line.  Outside, an
            # early one would leave the worker in gate.wait, and the exit
            # waiting for it.
            print('ready', flush=True)
            pool.submit(ran.append, 'late')
        except KeyboardInterrupt:
            gate.set()
            pool.shutdown(wait=True)
            assert ran == [], ran
            assert pool.stats()['submitted'] == 1
            print('interrupted', flush=True)
    """)
    assert_interrupted(child)


def test_workers_are_joined_at_interpreter_exit():
    child = run_child("""
        import pygochan as gc, time
        pool = gc.Pool(2, queue_size=-1)
        futs = [pool.submit(time.sleep, 0.05) for _ in range(6)]
        futs[-1].add_done_callback(lambda f: print('last task done', flush=True))
        print('ready', flush=True)
    """)
    assert child.readline() == "ready"
    assert child.readline() == "last task done"
    returncode, stderr = child.finish()
    assert returncode == 0, stderr


# Tasks stuck on pygochan calls that nothing will ever satisfy, unless they
# pass pool.ctx: one Ctrl-C must still end the program, both out of a
# with block and with the interrupt reaching the top level (interpreter exit).
STUCK = """
    import pygochan as gc, threading
    never = gc.Channel()
    stopped = []
    def stuck(pool, i):
        try:
            never.recv(ctx=pool.ctx)
        except gc.Canceled:
            stopped.append(i)
            raise
"""


def test_one_ctrl_c_ends_a_with_block_whose_tasks_are_stuck():
    child = run_child(STUCK + """
    pool = None
    try:
        with gc.Pool(3) as pool:
            futs = [pool.submit(stuck, pool, i) for i in range(10)]
            print('ready', flush=True)
            futs[-1].result()
    except KeyboardInterrupt:
        assert pool.ctx.err() is not None
        assert isinstance(gc.cause(pool.ctx), KeyboardInterrupt)
        assert sum(f.cancelled() for f in futs) == 7  # queued: never started
        for f in futs[:3]:
            assert isinstance(f.exception(timeout=10), gc.Canceled)
        assert sorted(stopped) == [0, 1, 2], stopped
        print('interrupted', flush=True)
    """)
    line, returncode, stderr = interrupt_when_blocked(child)
    assert line == "interrupted", stderr
    assert returncode == 0, stderr


def test_one_ctrl_c_at_top_level_exits_although_tasks_are_stuck():
    child = run_child(STUCK + """
    pool = gc.Pool(2)
    futs = [pool.submit(stuck, pool, i) for i in range(4)]
    threading.current_thread().name  # the main thread ends by the interrupt
    print('ready', flush=True)
    futs[0].result()
    """)
    line, returncode, stderr = interrupt_when_blocked(child)
    assert line is None, line  # stdout closed: the process ended
    assert returncode == -signal.SIGINT, stderr
    assert "KeyboardInterrupt" in stderr
    assert "Traceback" in stderr and stderr.count("Traceback") == 1, stderr


@pytest.mark.parametrize("call", ["submit", "try_submit"])
def test_a_signal_pending_when_submit_is_called_raises_and_submits_nothing(call):
    # map() calls the submit straight from C after libc's raise() returned,
    # so no bytecode boundary runs the handler in between: the signal is
    # pending as the call begins, as when it arrives during C code.
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import ctypes, signal, time
        import pygochan as gc

        def handler(signum, frame):
            raise KeyboardInterrupt
        signal.signal(signal.SIGUSR1, handler)
        raise_signal = ctypes.CDLL(None)["raise"]
        ran = []
        pool = gc.Pool(2)
        pool.submit(int).result()  # an idle worker: no Python code runs in submit
        while pool.idle != 1:
            time.sleep(0.001)
        try:
            list(map(pool.{call}, [ran.append], map(raise_signal, [signal.SIGUSR1])))
        except KeyboardInterrupt:
            print("interrupted")
        pool.shutdown(wait=True)
        print(len(ran), pool.stats()["submitted"])
    """)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["interrupted", "0", "1"]
