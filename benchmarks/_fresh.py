"""Ping-pong rows measured across fresh processes: the typical figure, not the best.

A round trip between two threads (or a thread and an asyncio task) is
bimodal from one process to the next: where the scheduler puts the two
threads, and whether the other core is busy, sets a process's figure for
its whole life.  A best-of-N inside one process reports the good mode
only.  Here each variant of a row (pygochan, or one peer) runs in N new
interpreters -- the benchmark file itself with ``--fresh-child VARIANT
ROUNDS`` -- each doing ROUNDS round trips once, and the row reports the
median, min and max of their per-round-trip times.  The variants take
turns process by process, so a change in the machine's load falls on all
of them alike.

Used by bench_asyncio.py and bench_channels.py; not a benchmark itself.
"""
import argparse
import os
import statistics
import subprocess
import sys

DEFAULT_PROCESSES = 15
QUICK_PROCESSES = 3
_DEFAULT = -1  # --fresh given without a number


def add_arguments(parser, rounds, quick_rounds):
    """--fresh [N], and the hidden --fresh-child a child is started with."""
    parser.add_argument(
        "--fresh", nargs="?", type=int, const=_DEFAULT, default=None, metavar="N",
        help=(f"run only the ping-pong rows, each library in N fresh processes "
              f"(default {DEFAULT_PROCESSES}; {QUICK_PROCESSES} with --quick) of "
              f"{rounds} round trips ({quick_rounds} with --quick), and report the "
              f"median, min and max across processes; --quick alone ends with "
              f"these rows at {QUICK_PROCESSES} processes"))
    parser.add_argument("--fresh-child", nargs=2, metavar=("VARIANT", "ROUNDS"),
                        help=argparse.SUPPRESS)


def processes(args):
    """Fresh processes per variant for these arguments; 0 = no fresh rows."""
    if args.fresh is None:
        return QUICK_PROCESSES if args.quick else 0
    if args.fresh == _DEFAULT:
        return QUICK_PROCESSES if args.quick else DEFAULT_PROCESSES
    if args.fresh < 1:
        raise SystemExit("--fresh: at least 1 process")
    return args.fresh


def child_main(variants, args):
    """In a child: run one variant once, print its seconds per round trip."""
    name, rounds = args.fresh_child
    print(repr(float(variants[name](int(rounds)))))
    return 0


def run_child(script, variant, rounds, timeout=300):
    out = subprocess.run(
        [sys.executable, os.path.abspath(script), "--fresh-child", variant, str(rounds)],
        capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{variant} child failed (exit {out.returncode}):\n"
                           f"{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def measure(script, variants, processes, rounds):
    """{variant: [seconds per round trip, one per process]}, the variants
    taking turns (the first one shifting each time)."""
    samples = {v: [] for v in variants}
    for i in range(processes):
        k = i % len(variants)
        for v in variants[k:] + variants[:k]:
            samples[v].append(run_child(script, v, rounds))
    return samples


def summary(seconds):
    """Median, min and max in µs, and every process's figure."""
    us = sorted(s * 1e6 for s in seconds)
    return {"median_us": statistics.median(us), "min_us": us[0], "max_us": us[-1],
            "processes": len(us), "samples_us": us}


def span(s):
    """'31.50 (10.12–59.03)': the median, then the range across processes."""
    return f"{s['median_us']:.2f} ({s['min_us']:.2f}–{s['max_us']:.2f})"


def cell(s):
    """'31.50 µs (10.12–59.03)'"""
    return f"{s['median_us']:.2f} µs ({s['min_us']:.2f}–{s['max_us']:.2f})"


def load_average():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):  # not on every platform
        return "n/a"
