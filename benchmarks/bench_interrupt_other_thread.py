"""Ctrl-C that the kernel delivers to a thread other than the main one.

    python benchmarks/bench_interrupt_other_thread.py [--quick]

A process-directed SIGINT may land on any thread that does not block it.
Python's C handler then only sets a flag; a main thread asleep in a lock
(queue.Queue.get, threading.Event.wait) is not woken and raises
KeyboardInterrupt only when its call returns by itself.  A pygochan call on
the main thread sleeps at most 50 ms at a time and checks the flag.

Here a helper thread sends SIGINT to itself (signal.pthread_kill) at a
random moment while the main thread is blocked with no timeout; latency =
from the send to KeyboardInterrupt caught.  The stdlib call gets a 2 s
timeout, so "not woken" shows as a latency of about 2 s.
"""
import argparse
import platform
import queue
import random
import signal
import statistics
import sys
import threading
import time

import pygochan as gc

STDLIB_TIMEOUT_S = 2.0


def one_interrupt(block):
    """Latency in seconds from the SIGINT to KeyboardInterrupt, or None."""
    sent = []
    go = threading.Event()

    def helper():
        go.wait()
        time.sleep(random.uniform(0.005, 0.105))  # any phase of the 50 ms slice
        sent.append(time.monotonic())
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # to this thread

    t = threading.Thread(target=helper, daemon=True)
    t.start()
    go.set()
    try:
        block()
    except KeyboardInterrupt:
        return time.monotonic() - sent[0]
    except queue.Empty:
        return None
    finally:
        t.join()
    return None


def summary(name, latencies):
    got = sorted(x * 1e3 for x in latencies if x is not None)
    if not got:
        return f"{name:32} not interrupted in {len(latencies)} tries"
    return (f"{name:32} {len(got)}/{len(latencies)} interrupted   median {statistics.median(got):7.1f} ms"
            f"   min {got[0]:7.1f} ms   max {got[-1]:7.1f} ms")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few samples (smoke run)")
    args = ap.parse_args(argv)
    if threading.current_thread() is not threading.main_thread():
        raise SystemExit("run as a script: the blocked call must be on the main thread")
    samples, stdlib_samples = (5, 1) if args.quick else (60, 3)
    # The helper thread is in time.sleep, so no deadlock is possible; this only
    # keeps the measurement free of the detector's bookkeeping.
    gc.set_deadlock_detection(False)
    print(f"machine: python={platform.python_version()}, platform={platform.platform()}")
    print(summary("pygochan Channel.recv()", [one_interrupt(lambda: gc.Channel().recv())
                                              for _ in range(samples)]))
    print(summary(f"queue.Queue.get(timeout={STDLIB_TIMEOUT_S:g})",
                  [one_interrupt(lambda: queue.Queue().get(timeout=STDLIB_TIMEOUT_S))
                   for _ in range(stdlib_samples)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
