"""pygochan timers beside threading.Timer: cost, and how late they fire.

    python benchmarks/bench_timers.py [--quick]
"""
import argparse
import platform
import statistics
import sys
import threading
import time

import pygochan as gc


def create_and_cancel_pygochan(n):
    t0 = time.perf_counter()
    timers = [gc.Timer(3600) for _ in range(n)]
    for t in timers:
        t.stop()
    return (time.perf_counter() - t0) / n


def create_and_cancel_threading(n):
    t0 = time.perf_counter()
    timers = [threading.Timer(3600, lambda: None) for _ in range(n)]
    for t in timers:
        t.start()
    for t in timers:
        t.cancel()
    for t in timers:
        t.join()
    return (time.perf_counter() - t0) / n


def lateness(samples, delay=0.005):
    """How long after its deadline a Timer's value arrives in a blocked recv."""
    late = []
    for _ in range(samples):
        t = gc.Timer(delay)
        due = time.monotonic() + delay
        t.c.recv()
        late.append(time.monotonic() - due)
    return late


def lateness_threading(samples, delay=0.005):
    late = []
    for _ in range(samples):
        fired = threading.Event()
        due = time.monotonic() + delay
        threading.Timer(delay, fired.set).start()
        fired.wait()
        late.append(time.monotonic() - due)
    return late


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    n = 2000 if args.quick else 20_000
    samples = 50 if args.quick else 400
    print(f"machine: python={sys.version.split()[0]}, platform={platform.platform()}")

    ours = min(create_and_cancel_pygochan(n) for _ in range(3))
    theirs = min(create_and_cancel_threading(n // 10) for _ in range(3))
    print(f"create+stop a timer:  threading.Timer {theirs * 1e6:8.2f} us   "
          f"pygochan.Timer {ours * 1e6:6.2f} us   ratio {theirs / ours:6.1f}x")

    t0 = time.perf_counter()
    many = [gc.Timer(3600) for _ in range(100_000)]
    made = time.perf_counter() - t0
    for t in many:
        t.stop()
    print(f"100,000 pending timers created in {made:.3f} s, "
          f"{threading.active_count()} Python threads alive")

    ours_late = lateness(samples)
    theirs_late = lateness_threading(samples)
    for name, late in (("pygochan.Timer", ours_late), ("threading.Timer", theirs_late)):
        print(f"lateness of a 5 ms {name:<15}: median {statistics.median(late) * 1e6:7.1f} us"
              f"   p99 {percentile(late, 99) * 1e6:7.1f} us   ({samples} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
