"""Blocking releases the GIL and costs no CPU."""
import resource
import threading
import time

import pygochan as gc
from conftest import join_all, start, wait_for, waiting


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def spin(n=400_000):
    t0 = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t0


def test_blocked_threads_do_not_slow_a_cpu_bound_thread():
    baseline = min(spin() for _ in range(3))
    chans = [gc.Channel() for _ in range(8)]
    stop = gc.Channel()
    threads = [start(c.recv_ok, timeout=30) for c in chans]
    threads += [start(gc.select, gc.recv(stop), gc.recv(None), timeout=30) for _ in range(4)]
    wait_for(lambda: all(waiting(c)[1] == 1 for c in chans) and waiting(stop)[1] == 4)
    loaded = min(spin() for _ in range(3))
    for c in chans:
        c.close()
    stop.close()
    join_all(threads)
    assert loaded < baseline * 1.5 + 0.005, (baseline, loaded)


def test_idle_blocked_threads_burn_no_cpu():
    chans = [gc.Channel() for _ in range(16)]
    threads = [start(c.recv_ok, timeout=30) for c in chans]
    wait_for(lambda: all(waiting(c)[1] == 1 for c in chans))
    before_cpu, before_wall = cpu_seconds(), time.monotonic()
    time.sleep(1.0)
    cpu, wall = cpu_seconds() - before_cpu, time.monotonic() - before_wall
    for c in chans:
        c.close()
    join_all(threads)
    assert cpu < 0.1 * wall, (cpu, wall)


def test_main_thread_blocked_in_recv_burns_no_cpu():
    ch = gc.Channel()
    before = cpu_seconds()
    try:
        ch.recv(timeout=1.0)
    except TimeoutError:
        pass
    assert cpu_seconds() - before < 0.1


def test_blocked_thread_lets_another_python_thread_unblock_it():
    ch = gc.Channel()
    # The helper needs the GIL to run Python code and send: only possible if
    # the blocked main thread released it.
    t = start(lambda: (time.sleep(0.05), ch.send("through")))
    assert ch.recv(timeout=10) == "through"
    join_all([t])
