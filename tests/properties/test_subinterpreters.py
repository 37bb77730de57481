"""pygochan in subinterpreters, legacy (shared GIL) and, from 3.12,
isolated (own GIL): it works there, its idle helper threads end, so the
interpreter can be destroyed, and the deadlock detector fires."""
import subprocess
import sys
import textwrap

import pytest

from conftest import FREE_THREADED

try:
    import _interpreters  # noqa: F401  (3.13+)
except ImportError:
    try:
        import _xxsubinterpreters  # noqa: F401  (3.8 to 3.12)
    except ImportError:
        pytest.skip("this Python has neither _interpreters nor _xxsubinterpreters",
                    allow_module_level=True)

CONFIGS = ["legacy", "isolated"] if sys.version_info >= (3, 12) else ["legacy"]

# Run in the subinterpreter: every thread-starting part of pygochan, plus a
# runner and an after_func left behind, and causes a deadline may release
# on the timer thread.
WORK = textwrap.dedent(
    """
    import threading, time
    import pygochan as gc

    ctx, cancel = gc.with_cancel(gc.background())
    ran = threading.Event()
    ctx.after_func(ran.set)
    cancel()
    assert ran.wait(10)
    pending, _ = gc.with_cancel(gc.background())
    pending.after_func(lambda: None)          # never runs: left behind

    wg = gc.WaitGroup()
    for i in range(4):
        wg.go(time.sleep, 0.01)
    wg.wait()

    g = gc.ErrGroup(limit=2)
    for i in range(4):
        g.go(time.sleep, 0.01)
    g.wait()

    with gc.Pool(2) as pool:
        assert sum(pool.map(abs, range(-10, 0))) == 55

    parent, _stop = gc.with_timeout(gc.background(), 0.02)
    kids = [gc.with_cancel_cause(parent)[0] for _ in range(200)]
    for k in kids[:100]:
        k._cancel(ValueError("cause"))
    del kids, parent, _stop
    time.sleep(0.05)

    ch = gc.Channel(1)
    ch.send("x")
    assert ch.recv(timeout=1) == "x"

    # Nothing of pygochan lingers once idle: before 3.12, destroy() refuses
    # an interpreter with any thread left (and the process then aborts at
    # exit).  The threads above end by themselves, soon.
    end = time.monotonic() + 30
    while threading.active_count() > 1 and time.monotonic() < end:
        time.sleep(0.001)
    left = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    assert not left, left
    print("WORK DONE", flush=True)
    """
)

DRIVER = textwrap.dedent(
    """
    import sys
    config, work = sys.argv[1], sys.argv[2]
    try:
        import _interpreters as interpreters
        iid = interpreters.create(config)
        failure = interpreters.exec(iid, work)
    except ImportError:
        import _xxsubinterpreters as interpreters
        # before 3.12, isolated=True (the default) means no threads at all
        iid = interpreters.create(isolated=config == "isolated")
        failure = interpreters.run_string(iid, work)
    if failure is not None:
        print("FAILED", failure, flush=True)
        sys.exit(1)
    interpreters.destroy(iid)
    import pygochan as gc                      # the main interpreter still works
    assert gc.after(0.001).recv(timeout=5) > 0
    print("DESTROYED", flush=True)
    """
)


def run_in_subinterpreter(config, work):
    """Run work in a subinterpreter of a new process; a hang is a failure."""
    try:
        return subprocess.run(
            [sys.executable, "-c", DRIVER, config, work],
            capture_output=True, text=True, timeout=120,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"hung: {e.stdout!r} {e.stderr!r}")


@pytest.mark.parametrize("config", CONFIGS)
def test_every_part_works_and_the_interpreter_ends_cleanly(config):
    proc = run_in_subinterpreter(config, WORK)
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    assert "WORK DONE" in proc.stdout and "DESTROYED" in proc.stdout, proc.stdout


# Signal handlers never run in a subinterpreter: whatever signal.getsignal()
# says there (the process's handlers, which the main interpreter set), none
# is a way out of a deadlock.
DEADLOCK = textwrap.dedent(
    """
    import pygochan as gc
    gc.set_deadlock_detection(True, grace=0.1)
    try:
        gc.Channel().recv()
    except gc.Deadlock as e:
        assert "all threads are asleep" in str(e)
        print("WORK DONE", flush=True)
    """
)


@pytest.mark.skipif(FREE_THREADED, reason="the deadlock detector is off on the free-threaded build")
@pytest.mark.parametrize("config", CONFIGS)
def test_the_deadlock_detector_fires_in_a_subinterpreter(config):
    proc = run_in_subinterpreter(config, DEADLOCK)
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    assert "WORK DONE" in proc.stdout and "DESTROYED" in proc.stdout, proc.stdout
