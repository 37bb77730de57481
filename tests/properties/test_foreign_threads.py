"""No Python object is released, and no Python code runs, on a thread
CPython does not own: a cause whose last reference drops on pygochan's
timer thread (a deadline's cancel cascade) is released later by its own
interpreter, on one of its threads.  The same program frees a deadline's
context from inside its timer's callback (run it under AddressSanitizer to
see the use-after-free that used to follow)."""
import os
import random
import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent(
    """
    import sys, threading, time, random
    import pygochan as gc

    rng = random.Random(int(sys.argv[1]))
    main = threading.main_thread()
    wrong, freed = [], [0]

    def deep(n):
        return repr(n) if n == 0 else deep(n - 1)

    class Cause(Exception):
        def __del__(self):
            deep(400)                     # needs a real Python stack
            freed[0] += 1
            if threading.current_thread() is not main:
                wrong.append(threading.current_thread().name)

    made = 0
    for _ in range(int(sys.argv[2])):
        deadline = time.monotonic() + 0.05
        parent, _cancel = gc.with_deadline(gc.background(), deadline)
        kids = [gc.with_cancel_cause(parent)[0] for _ in range(3000)]
        # only the children keep the deadline's context alive: the last one
        # to go frees it, and its timer, from inside the timer's callback
        del parent, _cancel
        # cancel and drop the children while the deadline's cascade runs:
        # the cascade's reference on a child is then the last one
        start = deadline - 0.001 + rng.random() * 0.0005
        while time.monotonic() < start:
            pass
        for k in range(len(kids)):
            ctx, kids[k] = kids[k], None
            ctx._cancel(Cause())
            made += 1
            del ctx
        del kids
    time.sleep(0.05)
    gc.with_cancel(gc.background())       # the next pygochan call drains
    print("made", made, "freed", freed[0], "on other threads", len(wrong))
    sys.exit(1 if wrong or freed[0] != made else 0)
    """
)


def test_causes_dropped_by_a_deadline_are_released_on_a_python_thread():
    seed = random.randrange(1 << 30)
    print("seed", seed)
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(seed), "10"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-2000:])
