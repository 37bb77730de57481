"""fork() while other threads use pygochan: the child keeps only the forking
thread, so it must find every lock free, no queued waiter of a thread that
is gone, and timers and after_func working."""
import os
import random
import threading
import time
import warnings

import pytest

import pygochan as gc

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def wait_child(pid, seconds=20.0):
    """The child's exit code; a child that does not exit in time is
    deadlocked: killed, and reported as -1."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.002)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -1


def fork_and_run(child):
    """Run child() in a forked child; its return value is the exit code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # fork() with threads running
        pid = os.fork()
    if pid == 0:
        code = 99
        try:
            code = child()
        finally:
            os._exit(code)
    return wait_child(pid)


def test_a_send_in_the_child_does_not_reach_a_receiver_left_in_the_parent():
    ch = gc.Channel()
    got = []
    t = threading.Thread(target=lambda: got.append(ch.recv()))
    t.start()
    time.sleep(0.05)                      # the receiver is blocked

    def child():
        try:
            ch.send("lost?", timeout=0.05)
        except TimeoutError:
            pass
        else:
            return 1                      # went to a thread that is gone
        if gc.select(gc.send(ch, "lost?"), default=True).index != -1:
            return 2
        return 0

    assert fork_and_run(child) == 0
    ch.send("real")
    t.join(10)
    assert got == ["real"]


def test_after_func_runs_in_the_child():
    warm, warm_cancel = gc.with_cancel(gc.background())
    started = threading.Event()
    warm.after_func(started.set)          # the runner thread is blocked now
    warm_cancel()
    assert started.wait(10)
    time.sleep(0.05)

    def child():
        ctx, cancel = gc.with_cancel(gc.background())
        ran = threading.Event()
        ctx.after_func(ran.set)
        cancel()
        return 0 if ran.wait(5) else 1

    assert fork_and_run(child) == 0


def hammer(chans, stop, seed):
    rng = random.Random(seed)
    while not stop.is_set():
        a, b = rng.choice(chans), rng.choice(chans)
        op = rng.randrange(6)
        try:
            if op == 0:
                a.send(1, timeout=0.0005)
            elif op == 1:
                a.recv(timeout=0.0005)
            elif op == 2:
                gc.select(gc.send(a, 2), gc.recv(b), timeout=0.0005)
            elif op == 3:
                ctx, cancel = gc.with_timeout(gc.background(), rng.random() * 0.0005)
                child = gc.with_cancel_cause(ctx)
                if rng.random() < 0.5:
                    child[1](ValueError("stop"))
                del ctx, cancel, child
            elif op == 4:
                gc.select(gc.recv(gc.after(rng.random() * 0.0005)), gc.recv(a), timeout=0.001)
            else:
                ch = gc.Channel(1)
                ch.send(object())
                del ch
        except TimeoutError:
            pass


def test_forks_while_threads_hammer_channels_contexts_and_timers():
    seed = random.randrange(1 << 30)
    print("seed", seed)
    rng = random.Random(seed)
    chans = [gc.Channel(0), gc.Channel(1), gc.Channel(16), gc.Channel(gc.UNBOUNDED)]
    stop = threading.Event()
    threads = [threading.Thread(target=hammer, args=(chans, stop, seed + i)) for i in range(4)]
    for t in threads:
        t.start()

    def child():
        import gc as pygc

        pygc.collect()
        for ch in chans:
            while gc.select(gc.recv(ch), default=True).index == 0:
                pass
            if ch.capacity == 0:
                if gc.select(gc.send(ch, 3), default=True).index != -1:
                    return 10             # a receiver that is gone took it
            else:
                ch.send(3, timeout=1)
                if ch.recv(timeout=1) != 3:
                    return 11
        ctx, cancel = gc.with_timeout(gc.background(), 0.001)
        try:
            ctx.wait(timeout=5)
        except TimeoutError:
            return 12
        cancel()
        gc.after(0.001).recv(timeout=5)
        return 0

    try:
        for i in range(60):
            time.sleep(rng.random() * 0.003)
            code = fork_and_run(child)
            assert code == 0, f"fork {i}: child exit {code} (-1: deadlocked)"
    finally:
        stop.set()
        for t in threads:
            t.join(10)
