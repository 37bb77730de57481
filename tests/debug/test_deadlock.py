"""Go's two debugging aids: blocked()/dump_blocked() and the deadlock
detector ("all goroutines are asleep").  Deadlock cases run in a child
process, since only the main thread's wait raises Deadlock."""
import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import pygochan as gc

from conftest import FREE_THREADED, WAIT_TIMEOUT, join_all, needs_fork, needs_sigusr1, start

# Without a GIL the detector is off (it never guesses) and blocked() leaves
# the objects out.
needs_gil = pytest.mark.skipif(FREE_THREADED, reason="deadlock detection and blocked() objects need the GIL")

PRELUDE = """
import os, signal, socket, sys, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import pygochan as gc
gc.set_deadlock_detection(True, grace=0.2)
"""


def spawn(body):
    env = dict(os.environ)
    env.pop("PYGOCHAN_DEADLOCK_DETECTION", None)
    return subprocess.Popen(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )


def outcome(proc, interrupt_after=None):
    """The child's stdout; with interrupt_after, SIGINT it that many seconds
    after it printed 'ready' (the wait must still be going on then)."""
    if interrupt_after is not None:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(interrupt_after)
        proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return out, err


DEADLOCKED_MAIN = """
try:
    {wait}
    print('returned')
except gc.Deadlock as e:
    print('DEADLOCK')
    print(e)
"""


@needs_gil
@pytest.mark.parametrize("case", ["recv", "two_threads", "waitgroup", "select_nil", "send"])
def test_the_classic_deadlocks_raise_in_the_main_thread(case):
    setup, wait = {
        "recv": ("ch = gc.Channel()", "ch.recv()"),
        "send": ("ch = gc.Channel()", "ch.send('lost')"),
        "select_nil": ("", "gc.select(gc.recv(None))"),
        "two_threads": (
            textwrap.dedent("""
            a, b = gc.Channel(), gc.Channel()
            wg = gc.WaitGroup()
            def first():
                a.recv()
                b.send(1)
            def second():
                b.recv()
                a.send(1)
            wg.go(first)
            wg.go(second)
            """),
            "wg.wait()",
        ),
        "waitgroup": (
            textwrap.dedent("""
            wg = gc.WaitGroup()
            wg.add(3)
            for _ in range(2):
                threading.Thread(target=wg.done).start()
            """),
            "wg.wait()",
        ),
    }[case]
    out, err = outcome(spawn(setup + DEADLOCKED_MAIN.format(wait=wait)))
    assert out.startswith("DEADLOCK"), (out, err)
    assert "all threads are asleep - deadlock!" in out
    assert "MainThread" in out
    if case == "two_threads":
        assert out.count(": recv <pygochan.Channel") == 2, out
        assert "wait <pygochan.WaitGroup" in out, out


NO_DEADLOCK_MAIN = """
ch = gc.Channel()
try:
    print('ready', flush=True)  # inside the try: the SIGINT comes after it
    ch.recv()
    print('returned')
except gc.Deadlock as e:
    print('DEADLOCK', e)
except KeyboardInterrupt:
    print('interrupted')
"""


@pytest.mark.parametrize("case", [
    "socket_read", "sleep", "stdin_read", "timer_in_an_hour", "after_func_in_an_hour",
    "waiter_with_timeout", "context_deadline",
    pytest.param("python_signal_handler", marks=needs_sigusr1), "switched_off",
    "busy_thread",
])
def test_progress_elsewhere_is_never_taken_for_a_deadlock(case):
    setup = {
        "socket_read": "a, b = socket.socketpair()\nthreading.Thread(target=a.recv, args=(1,), daemon=True).start()",
        "sleep": "threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()",
        "stdin_read": "threading.Thread(target=sys.stdin.read, daemon=True).start()",
        "timer_in_an_hour": "t = gc.Timer(3600)",
        "after_func_in_an_hour": "t = gc.after_func(3600, lambda: None)",
        "waiter_with_timeout": "threading.Thread(target=gc.Channel().recv, kwargs={'timeout': 3600}, daemon=True).start()",
        "context_deadline": "ctx, cancel = gc.with_timeout(gc.background(), 3600)\nthreading.Thread(target=ctx.wait, daemon=True).start()",
        "python_signal_handler": "signal.signal(signal.SIGUSR1, lambda s, f: None)",
        "switched_off": "gc.set_deadlock_detection(False)",
        "busy_thread": "def spin():\n    while True: sum(range(1000))\nthreading.Thread(target=spin, daemon=True).start()",
    }[case]
    # every other thread is parked for good, too
    setup += "\nthreading.Thread(target=gc.Channel().recv, daemon=True).start()"
    out, err = outcome(spawn(setup + NO_DEADLOCK_MAIN), interrupt_after=1.5)
    assert out.strip() == "interrupted", (out, err)


def test_a_deadlock_that_ends_by_a_send_is_not_one():
    # the main thread's receive completes after several grace periods,
    # from a thread that was asleep (time.sleep) meanwhile
    out, err = outcome(spawn("""
        ch = gc.Channel()
        def later():
            time.sleep(1.0)
            ch.send('late')
        threading.Thread(target=later).start()
        print(ch.recv())
    """))
    assert out.strip() == "late", err


@needs_gil
@needs_sigusr1
def test_dump_on_signal_writes_who_waits_on_what():
    proc = spawn("""
        gc.dump_on_signal(signal.SIGUSR1)
        jobs = gc.Channel()
        threading.Thread(target=jobs.recv, name='consumer', daemon=True).start()
        print('ready', flush=True)
        try:
            gc.Channel().recv()
        except gc.Deadlock:
            print('DEADLOCK')
    """)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.1)
    proc.send_signal(signal.SIGUSR1)
    out, err = proc.communicate(timeout=60)
    # the dump handler is no progress: the deadlock is still found
    assert out.strip() == "DEADLOCK", (out, err)
    assert "thread(s) blocked in pygochan calls" in err
    assert "'consumer'" in err


# ---- blocked() in this process (every wait has a timeout) --------------------------


def wait_until_blocked(threads, timeout=WAIT_TIMEOUT):
    """The blocked() entries of threads, once all of them are parked (other
    tests' leftover threads, like the after_func runner, are left out)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        waits = [w for w in gc.blocked() if w.thread in threads]
        if len(waits) == len(threads):
            return waits
        time.sleep(0.005)
    pytest.fail(f"expected {len(threads)} blocked threads, saw {gc.blocked()}")


@needs_gil
def test_blocked_lists_every_parked_call_with_its_objects():
    ch = gc.Channel()
    full = gc.Channel(1)
    full.send(0)
    wg = gc.WaitGroup()
    wg.add(1)
    ctx, cancel = gc.with_cancel(gc.background())
    fut = gc.Future()
    release = gc.Channel()
    threads = [
        start(lambda: ch.recv(timeout=WAIT_TIMEOUT)),
        start(lambda: full.send(1, timeout=WAIT_TIMEOUT)),
        start(lambda: gc.select(gc.recv(release), gc.send(full, 2), timeout=WAIT_TIMEOUT)),
        start(lambda: wg.wait(timeout=WAIT_TIMEOUT)),
        start(lambda: ctx.wait(timeout=WAIT_TIMEOUT)),
        start(lambda: fut.result(timeout=WAIT_TIMEOUT)),
    ]
    waits = wait_until_blocked(threads)
    by_thread = {w.thread: w for w in waits}
    assert set(by_thread) == set(threads)
    ops = sorted(by_thread[t].operation for t in threads)
    assert ops == sorted(["recv", "send", "select", "wait", "wait", "result"])
    sel = next(w for w in waits if w.operation == "select")
    assert sel.objects[0].startswith("pygochan.recv(<pygochan.Channel")
    assert sel.objects[1].startswith("pygochan.send(<pygochan.Channel capacity=1")
    recv = next(w for w in waits if w.operation == "recv")
    assert "waiting_receivers=1" in recv.objects[0]
    assert all(w.timed for w in waits)
    assert all(w.since <= time.monotonic() for w in waits)
    buf = io.StringIO()
    gc.dump_blocked(buf)
    assert "thread(s) blocked in pygochan calls" in buf.getvalue()
    assert buf.getvalue().count("[") >= len(threads)
    # wake them all; then nobody is listed
    ch.send(1)
    full.recv()
    full.recv()
    release.close()
    wg.done()
    cancel()
    fut.set_result(None)
    join_all(threads)
    assert [w for w in gc.blocked() if w.thread in threads] == []


def test_blocked_records_come_and_go_under_churn(rng):
    ch = gc.Channel()
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            try:
                ch.recv(timeout=rng.random() * 0.002)
            except TimeoutError:
                pass

    threads = [start(churn) for _ in range(6)]
    seen = 0
    try:
        for _ in range(200):
            for w in gc.blocked():
                if w.thread in threads:
                    seen += 1
                    assert w.operation == "recv" and w.timed
                    assert FREE_THREADED or "Channel capacity=0" in w.objects[0]
    finally:
        stop.set()
    join_all(threads)
    assert seen > 0
    assert [w for w in gc.blocked() if w.thread in threads] == []


def test_set_deadlock_detection_checks_its_grace():
    with pytest.raises(ValueError):
        gc.set_deadlock_detection(True, grace=-1)
    with pytest.raises(TypeError):
        gc.set_deadlock_detection(True, grace="1")


@needs_gil
@pytest.mark.parametrize("ignored", [True, False])
def test_ignored_service_threads_do_not_count_as_progress(ignored):
    body = """
        service = threading.Thread(target=time.sleep, args=(3600,), name='service', daemon=True)
        service.start()
        if IGNORED:
            gc.set_deadlock_detection(True, ignore_threads=[service])
    """.replace("IGNORED", str(ignored))
    proc = spawn(textwrap.dedent(body) + NO_DEADLOCK_MAIN)
    out, err = outcome(proc, interrupt_after=1.5)
    if ignored:
        assert out.strip().startswith("DEADLOCK"), (out, err)
    else:
        assert out.strip() == "interrupted", (out, err)


def test_ignore_threads_checks_its_argument():
    with pytest.raises(TypeError):
        gc.set_deadlock_detection(True, ignore_threads=[1])


def test_blocked_shows_a_pool_submit_waiting_for_a_worker():
    gate = gc.Channel()
    with gc.Pool(max_workers=1, queue_size=0) as pool:
        running = pool.submit(gate.recv, timeout=WAIT_TIMEOUT)
        submitter = start(lambda: pool.submit(len, "x", submit_timeout=WAIT_TIMEOUT))
        end = time.monotonic() + WAIT_TIMEOUT
        while time.monotonic() < end:
            submits = [w for w in gc.blocked() if w.operation == "submit"]
            if submits:
                break
            time.sleep(0.005)
        assert submits and submits[0].thread is submitter
        assert FREE_THREADED or submits[0].objects[0].startswith("<pygochan.Pool")
        gate.send(None)
        join_all([submitter])
        assert running.result(timeout=WAIT_TIMEOUT) is None


# ---- ignored threads are remembered as threads, not idents ------------------------

LATE_PRODUCER = """
ch = gc.Channel()
def producer():
    time.sleep(0.8)   # not parked in pygochan: a way out
    ch.send('late')
p = threading.Thread(target=producer, name='producer', daemon=True)
p.start()
print('reused' if p.ident in IGNORED_IDENTS else 'fresh', flush=True)
try:
    print(ch.recv(), flush=True)
except gc.Deadlock as e:
    print('DEADLOCK', e, flush=True)
"""


@needs_gil
def test_a_thread_reusing_the_ident_of_an_ignored_one_that_ended_counts():
    # the next thread usually gets the ident of the one that just ended
    body = """
        svc = threading.Thread(target=time.sleep, args=(0.05,), name='svc')
        svc.start()
        gc.set_deadlock_detection(True, ignore_threads=[svc])
        svc.join()
        IGNORED_IDENTS = {svc.ident}
    """
    out, err = outcome(spawn(textwrap.dedent(body) + LATE_PRODUCER))
    assert out.split()[-1] == "late", (out, err)


FORKED_PRODUCER = """
IGNORED_IDENTS = {t.ident for t in services}
pid = os.fork()
if pid == 0:
    try:
        exec(CHILD)
    finally:
        sys.stdout.flush()
        os._exit(0)
give_up = time.monotonic() + 30
while os.waitpid(pid, os.WNOHANG) == (0, 0):
    if time.monotonic() > give_up:
        os.kill(pid, 9)
        print('the child hung')
        break
    time.sleep(0.05)
"""


@needs_gil
@needs_fork
@pytest.mark.parametrize("how", ["ignore_threads", "notebook_kernel"])
def test_a_fork_child_thread_reusing_an_ignored_ident_counts(how):
    # In a fork() child the first new threads get the stacks, and so the
    # idents, of the parent's other threads.
    if how == "notebook_kernel":
        # a kernel's service threads, ignored when pygochan is imported
        prelude = textwrap.dedent("""
            import os, sys, threading, time, types
            services = [threading.Thread(target=time.sleep, args=(3600,), name=name, daemon=True)
                        for name in ('IOPub', 'Heartbeat', 'Control')]
            for t in services:
                t.start()
            sys.modules['ipykernel'] = types.ModuleType('ipykernel')
            import pygochan as gc
            gc.set_deadlock_detection(True, grace=0.2)
        """)
    else:
        prelude = PRELUDE + textwrap.dedent("""
            services = [threading.Thread(target=time.sleep, args=(3600,), daemon=True) for _ in range(3)]
            for t in services:
                t.start()
            gc.set_deadlock_detection(True, ignore_threads=services)
        """)
    body = prelude + FORKED_PRODUCER.replace("CHILD", repr(LATE_PRODUCER))
    env = dict(os.environ)
    env.pop("PYGOCHAN_DEADLOCK_DETECTION", None)
    proc = subprocess.run([sys.executable, "-c", body], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.stdout.split()[-1] == "late", (proc.stdout, proc.stderr)


@needs_gil
def test_a_pending_call_from_a_thread_that_exited_is_a_way_out():
    # The thread queues a call for the main thread and exits; nothing else
    # runs.  The call runs when the main thread next runs Python code (the
    # detector's reporter) and closes the channel: the receive must see
    # that, not raise Deadlock.
    out, err = outcome(spawn("""
        import ctypes
        ch = gc.Channel()
        CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
        @CALLBACK
        def close_it(_):
            ch.close()
            return 0
        add_pending_call = ctypes.pythonapi.Py_AddPendingCall
        add_pending_call.argtypes = [CALLBACK, ctypes.c_void_p]
        add_pending_call.restype = ctypes.c_int
        def queue_then_exit():
            time.sleep(0.5)
            assert add_pending_call(close_it, None) == 0
        threading.Thread(target=queue_then_exit).start()
        try:
            ch.recv()
            print('returned')
        except gc.ChannelClosed:
            print('closed')
        except gc.Deadlock as e:
            print('DEADLOCK', e)
    """))
    assert out.strip() == "closed", (out, err)


# ---- a deadlocked program exits, as in Go -----------------------------------------

EXIT_TIMEOUT = 60  # only turns a hang into a failure


@pytest.fixture(params=["quiet", "loaded"])
def load(request):
    """Run the child on a quiet machine, then with two busy processes."""
    busy = []
    if request.param == "loaded":
        busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(2)]
    yield request.param
    for p in busy:
        p.kill()
        p.wait()


def run_to_exit(body):
    """Run body in a child with non-daemon threads: its (returncode, stdout,
    stderr), or a failure if it has not exited after EXIT_TIMEOUT."""
    proc = spawn(body)
    try:
        out, err = proc.communicate(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the program hung at exit:\n{out}\n{err}")
    return proc.returncode, out, err


PARKED_FOR_GOOD = """
report_lock = threading.Lock()
def report(args):   # one line per thread (threading's own lines interleave)
    with report_lock:
        print(f'{args.thread.name} ended: {args.exc_type.__name__}: {args.exc_value}', flush=True)
threading.excepthook = report
a, b = gc.Channel(), gc.Channel()
def first():
    a.recv()
    b.send(1)
def second():
    b.recv()
    a.send(1)
def lonely():
    gc.Channel().recv()
for fn in (first, second, lonely):
    threading.Thread(target=fn, name=fn.__name__).start()   # go fn()
"""


@needs_gil
@pytest.mark.parametrize("case", ["uncaught", "caught", "deadlocks_again_while_unwinding"])
def test_a_deadlocked_program_exits_with_its_non_daemon_threads(case, load):
    main = {
        "uncaught": "gc.Channel().recv()",
        "caught": textwrap.dedent("""
            try:
                gc.Channel().recv()
            except gc.Deadlock:
                print('DEADLOCK', flush=True)
        """),
        "deadlocks_again_while_unwinding": textwrap.dedent("""
            errors = gc.Channel()
            def reports_its_error():
                try:
                    gc.Channel().recv()
                finally:
                    errors.send('failed')   # nobody receives: parked for good again
            threading.Thread(target=reports_its_error, name='reporter').start()
            try:
                gc.Channel().recv()
            except gc.Deadlock:
                print('DEADLOCK', flush=True)
        """),
    }[case]
    returncode, out, err = run_to_exit(PARKED_FOR_GOOD + main)
    lines = out.splitlines()
    if case == "uncaught":
        assert returncode == 1, (out, err)
        assert "pygochan.Deadlock: all threads are asleep - deadlock!" in err
    else:
        assert returncode == 0, (out, err)
        assert lines[0] == "DEADLOCK", (out, err)
    # each thread's wait ended with Deadlock
    ended = sorted(line.split(" ended: ")[0] for line in lines if " ended: " in line)
    expected = ["first", "lonely", "second"]
    if case == "deadlocks_again_while_unwinding":
        expected = ["first", "lonely", "reporter", "second"]
    assert ended == expected, (out, err)
    for line in lines[1 if lines[0] == "DEADLOCK" else 0:]:
        assert "ended: Deadlock: all threads are asleep - deadlock! The main thread has ended" in line, out
    if case == "deadlocks_again_while_unwinding":
        # its recv ended, then the send in its finally clause
        assert "nothing can complete this send" in out, out


@needs_gil
@pytest.mark.parametrize("case", ["never_deadlocked", "woken_after_a_deadlock"])
def test_a_program_that_is_not_deadlocked_still_waits_for_its_threads(case, load):
    body = {
        # no Deadlock ever: the exit waits for the worker, as always
        "never_deadlocked": """
            ch = gc.Channel()
            def worker():
                print('worker got', ch.recv(), flush=True)
            threading.Thread(target=worker).start()
            def late():
                time.sleep(1.0)
                ch.send('x')
            threading.Thread(target=late).start()
        """,
        # Deadlock was raised, but at exit a thread can still wake the
        # parked one: the exit waits for both
        "woken_after_a_deadlock": """
            ch = gc.Channel()
            def worker():
                print('worker got', ch.recv(), flush=True)
            threading.Thread(target=worker).start()
            try:
                gc.Channel().recv()
            except gc.Deadlock:
                print('DEADLOCK', flush=True)
            def late():
                time.sleep(1.0)
                ch.send('x')
            threading.Thread(target=late).start()
        """,
    }[case]
    returncode, out, err = run_to_exit(textwrap.dedent(body))
    assert returncode == 0, (out, err)
    assert out.strip().endswith("worker got x"), (out, err)
    assert "Exception in thread" not in err, err


# ---- idle pool workers are asleep, as Go counts them -------------------------------

IDLE_POOL = """
report_lock = threading.Lock()
def report(args):
    with report_lock:
        print(f'{args.thread.name} ended: {args.exc_type.__name__}: {args.exc_value}', flush=True)
threading.excepthook = report
pool = gc.Pool(2, idle_timeout=IDLE_TIMEOUT, name='idle-pool')
both_started = threading.Barrier(3)   # two workers, then both idle
futs = [pool.submit(both_started.wait) for _ in range(2)]
both_started.wait()
for f in futs:
    f.result()
"""


@needs_gil
def test_idle_workers_of_a_pool_without_idle_timeout_are_asleep():
    # Nothing will ever send on ch, and the pool's workers wait for jobs
    # nobody will submit: a deadlock.  The exit then ends the workers'
    # waits too (they leave quietly) and the program exits.
    body = IDLE_POOL.replace("IDLE_TIMEOUT", "None") + DEADLOCKED_MAIN.format(wait="gc.Channel().recv()")
    returncode, out, err = run_to_exit(body)
    assert returncode == 0, (out, err)
    assert out.startswith("DEADLOCK"), (out, err)
    assert out.count("idle worker <pygochan.Pool 'idle-pool' open") == 2, out
    assert "MainThread" in out
    assert " ended: " not in out and "Exception in thread" not in err, (out, err)


@needs_gil
def test_a_busy_pool_worker_is_no_deadlock():
    # one worker idle, the other runs a task that will send, after a
    # sleep and then after a timed wait: many grace periods pass
    body = IDLE_POOL.replace("IDLE_TIMEOUT", "None") + textwrap.dedent("""
        ch = gc.Channel()
        def task():
            time.sleep(1.0)
            try:
                gc.Channel().recv(timeout=1.0)
            except TimeoutError:
                pass
            ch.send('late')
        pool.submit(task)
        try:
            print(ch.recv(), flush=True)
        except gc.Deadlock as e:
            print('DEADLOCK', e, flush=True)
    """)
    returncode, out, err = run_to_exit(body)
    assert returncode == 0, (out, err)
    assert out.strip() == "late", (out, err)


@needs_gil
def test_idle_workers_with_an_idle_timeout_are_a_way_out_until_they_exit():
    # A timed wait ends by itself: while the workers wait for a job with
    # their idle deadline ahead, the main thread's wait goes on ...
    proc = spawn(IDLE_POOL.replace("IDLE_TIMEOUT", "3600") + NO_DEADLOCK_MAIN)
    out, err = outcome(proc, interrupt_after=1.5)
    assert out.strip() == "interrupted", (out, err)
    # ... and once they have exited, nothing is left to wake it
    body = IDLE_POOL.replace("IDLE_TIMEOUT", "0.5") + DEADLOCKED_MAIN.format(wait="gc.Channel().recv()")
    returncode, out, err = run_to_exit(body)
    assert returncode == 0, (out, err)
    assert out.startswith("DEADLOCK"), (out, err)
    assert "idle worker" not in out, out


# ---- platform defaults ---------------------------------------------------------


def test_dump_on_signal_defaults_to_sigbreak_on_windows_and_sigquit_elsewhere():
    from pygochan import _debug

    # Windows has no SIGQUIT; SIGINT there would replace KeyboardInterrupt
    assert _debug._dump_signal_name("win32") == "SIGBREAK"
    for platform in ("linux", "darwin", "freebsd14", "cygwin"):
        assert _debug._dump_signal_name(platform) == "SIGQUIT"
    import inspect
    default = inspect.signature(gc.dump_on_signal).parameters["signum"].default
    assert default == getattr(signal, _debug._dump_signal_name(sys.platform))
    assert default != signal.SIGINT


@pytest.mark.parametrize("kind", ["ParentPollerUnix", "ParentPollerWindows"])
def test_the_kernel_parent_poller_is_a_service_thread(kind, monkeypatch):
    from pygochan import _debug

    # ipykernel's parent poller, by the name of its class on each platform
    poller_class = type(kind, (threading.Thread,), {})
    stop = threading.Event()
    poller = poller_class(target=stop.wait, daemon=True)
    other = threading.Thread(target=stop.wait, daemon=True)
    poller.start()
    other.start()
    try:
        assert poller not in _debug._kernel_service_threads() or "ipykernel" in sys.modules
        monkeypatch.setitem(sys.modules, "ipykernel", type(sys)("ipykernel"))
        found = _debug._kernel_service_threads()
        assert poller in found
        assert other not in found
    finally:
        stop.set()
        join_all([poller, other])
