"""pygochan in subinterpreters (3.12+), legacy (shared GIL) and isolated
(own GIL): every pygochan thread of an interpreter ends with it, so
destroying the interpreter never aborts the process."""
import subprocess
import sys
import textwrap

import pytest

if sys.version_info < (3, 12):
    # 3.11's private _xxsubinterpreters.destroy() refuses an interpreter with
    # threads before the interpreter's exit could join them
    pytest.skip("subinterpreters are supported on 3.12+", allow_module_level=True)
try:
    import _interpreters  # noqa: F401  (3.13+)
except ImportError:
    try:
        import _xxsubinterpreters  # noqa: F401  (3.12)
    except ImportError:
        pytest.skip("needs CPython 3.12+ subinterpreters", allow_module_level=True)

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


@pytest.mark.parametrize("config", ["legacy", "isolated"])
def test_every_part_works_and_the_interpreter_ends_cleanly(config):
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, config, WORK],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    assert "WORK DONE" in proc.stdout and "DESTROYED" in proc.stdout, proc.stdout
