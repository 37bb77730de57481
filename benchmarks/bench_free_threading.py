"""Scaling on a free-threaded CPython: the GIL off beside the GIL on, in one run.

    python3.13t benchmarks/bench_free_threading.py [--quick] [--json FILE]

The script runs each scenario in two child processes of the same
interpreter, one with PYTHON_GIL=0 and one with PYTHON_GIL=1, and prints both:

- pipeline: a producer feeds a Channel(128), 1, 2, 4, ... workers (powers
  of two up to the CPUs this process may use, and that count itself; 1 and
  2 always) each spend ~20 µs of pure-Python CPU work per item and send on
  to a Channel(128), a collector drains it.  speedup = 1-worker time /
  N-worker time.
- 4x4: 4 producers and 4 consumers through one Channel(128), against
  queue.Queue(128).  ratio = Queue time / Channel time.
- pool: CPU-bound tasks (~200 µs each) on pygochan.Pool(2) with an
  unbounded queue against ThreadPoolExecutor(2) (whose queue is unbounded).  ratio = executor time / Pool time.

On a build with the GIL the interpreter ignores PYTHON_GIL=0: both columns
then measure the GIL.  Times are the best of a few repeats.
"""
import argparse
import concurrent.futures as cf
import json
import os
import platform
import queue
import subprocess
import sys
import sysconfig
import threading
import time

import pygochan as gc
from bench_pool import best_of

CAPACITY = 128


def cpu_work(units):
    """Pure-Python arithmetic: `units` iterations of a small loop body."""
    acc = 0
    for i in range(units):
        acc = (acc * 31 + i) % 1000003
    return acc


def calibrate(target_s):
    """The number of cpu_work units that takes about target_s."""
    units = 100
    while True:
        t0 = time.perf_counter()
        for _ in range(20):
            cpu_work(units)
        took = (time.perf_counter() - t0) / 20
        if took > 2e-6 or units > 1 << 24:
            return max(1, int(units * target_s / took))
        units *= 4


def pipeline(items, workers, units):
    jobs, results = gc.Channel(CAPACITY), gc.Channel(CAPACITY)

    def produce():
        for i in range(items):
            jobs.send(i)
        jobs.close()

    def work():
        for item in jobs:
            cpu_work(units)
            results.send(item)

    threads = [threading.Thread(target=produce)]
    threads += [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for _ in range(items):
        results.recv()
    for t in threads:
        t.join()


def many_to_many(items, send, recv, stop):
    """4 producers x 4 consumers; each consumer stops on a sentinel."""
    per_producer = items // 4

    def produce():
        for i in range(per_producer):
            send(i)

    def consume():
        while recv() is not stop:
            pass

    producers = [threading.Thread(target=produce) for _ in range(4)]
    consumers = [threading.Thread(target=consume) for _ in range(4)]
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join()
    for _ in consumers:
        send(stop)
    for t in consumers:
        t.join()


def channel_4x4(items):
    ch = gc.Channel(CAPACITY)
    many_to_many(items, ch.send, ch.recv, None)


def queue_4x4(items):
    q = queue.Queue(CAPACITY)
    many_to_many(items, q.put, q.get, None)


def run_tasks(executor, tasks, units):
    futures = [executor.submit(cpu_work, units) for _ in range(tasks)]
    for f in futures:
        f.result()


def cpus():
    """The CPUs this process may use (its affinity mask where known)."""
    return (getattr(os, "process_cpu_count", None) or os.cpu_count)() or 1


def worker_counts(n_cpus):
    """1, 2, 4, ... up to n_cpus, and n_cpus itself: at least 1 and 2."""
    counts, w = [1, 2], 4
    while w <= n_cpus:
        counts.append(w)
        w *= 2
    if n_cpus > 2 and n_cpus not in counts:
        counts.append(n_cpus)
    return counts


def measure(quick):
    """This process's figures (the parent runs it once per GIL setting)."""
    repeats = 2 if quick else 5
    items = 500 if quick else 5000
    units_20us = calibrate(20e-6)
    units_200us = calibrate(200e-6)
    pipe = {}
    for w in worker_counts(cpus()):
        n = max(items, 100 * w)  # every worker gets items to work on
        pipe[w] = best_of(lambda: pipeline(n, w, units_20us), repeats) / n
    one, two = pipe[1], pipe[2]
    n4 = 4000 if quick else 200000
    chan = best_of(lambda: channel_4x4(n4), repeats)
    q = best_of(lambda: queue_4x4(n4), repeats)
    tasks = 200 if quick else 2000
    # an unbounded queue, as ThreadPoolExecutor's: both take every task at once
    with gc.Pool(2, queue_size=gc.UNBOUNDED) as pool:
        pool_t = best_of(lambda: run_tasks(pool, tasks, units_200us), repeats)
    with cf.ThreadPoolExecutor(2) as tpe:
        tpe_t = best_of(lambda: run_tasks(tpe, tasks, units_200us), repeats)
    gil = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True
    figures = {
        "gil_enabled": gil,
        "cpus": cpus(),
        "pipeline_1_worker_us_per_item": one * 1e6,
        "pipeline_2_workers_us_per_item": two * 1e6,
        "pipeline_speedup": one / two,
        "channel_4x4_us_per_item": chan / n4 * 1e6,
        "queue_4x4_us_per_item": q / n4 * 1e6,
        "channel_vs_queue_4x4": q / chan,
        "pool_us_per_task": pool_t / tasks * 1e6,
        "thread_pool_executor_us_per_task": tpe_t / tasks * 1e6,
        "executor_vs_pool": tpe_t / pool_t,
    }
    for w, t in pipe.items():
        if w > 2:
            figures[f"pipeline_{w}_workers_us_per_item"] = t * 1e6
            figures[f"pipeline_speedup_{w}"] = one / t
    return figures


def pipeline_rows(counts):
    """The pipeline's rows for these worker counts (1 and 2 first)."""
    rows = [("pipeline, 1 worker (µs/item)", "pipeline_1_worker_us_per_item", "{:.1f}"),
            ("pipeline, 2 workers (µs/item)", "pipeline_2_workers_us_per_item", "{:.1f}")]
    rows += [(f"pipeline, {w} workers (µs/item)", f"pipeline_{w}_workers_us_per_item", "{:.1f}")
             for w in counts if w > 2]
    rows.append(("pipeline speedup, 2 vs 1 worker (target ≥ 1.7× GIL off)",
                 "pipeline_speedup", "{:.2f}×"))
    rows += [(f"pipeline speedup, {w} vs 1 worker", f"pipeline_speedup_{w}", "{:.2f}×")
             for w in counts if w > 2]
    return rows


ROWS = [
    ("4×4 `Channel(128)` (µs/item)", "channel_4x4_us_per_item", "{:.3f}"),
    ("4×4 `queue.Queue(128)` (µs/item)", "queue_4x4_us_per_item", "{:.3f}"),
    ("4×4 Channel vs Queue (target ≥ 5× GIL off)", "channel_vs_queue_4x4", "{:.2f}×"),
    ("`Pool(2, queue_size=UNBOUNDED)`, CPU-bound task (µs/task)", "pool_us_per_task", "{:.1f}"),
    ("`ThreadPoolExecutor(2)`, same task (µs/task)", "thread_pool_executor_us_per_task", "{:.1f}"),
    ("ThreadPoolExecutor vs Pool", "executor_vs_pool", "{:.2f}×"),
]


def child(gil, quick):
    env = dict(os.environ, PYTHON_GIL=gil)
    args = [sys.executable, __file__, "--child"] + (["--quick"] if quick else [])
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (CI)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        print(json.dumps(measure(opts.quick)))
        return
    off, on = child("0", opts.quick), child("1", opts.quick)
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    print(f"CPython {platform.python_version()}{'t' if free_threaded else ''}, "
          f"{os.cpu_count()} CPUs, pygochan {gc.__version__ if hasattr(gc, '__version__') else ''}".rstrip())
    if not free_threaded or off["gil_enabled"]:
        print("note: this interpreter keeps the GIL: both columns measure it")
    print()
    print("| scenario | GIL off | GIL on |")
    print("|---|---:|---:|")
    for label, key, fmt in pipeline_rows(worker_counts(off["cpus"])) + ROWS:
        print(f"| {label} | {fmt.format(off[key])} | {fmt.format(on[key])} |")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"gil_off": off, "gil_on": on}, f, indent=2)


if __name__ == "__main__":
    main()
