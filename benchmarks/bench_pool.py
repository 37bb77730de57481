"""pygochan.Pool beside concurrent.futures and multiprocessing.pool, in one run.

    python benchmarks/bench_pool.py [--quick] [--json]

Trivial tasks on 4 workers unless stated; every executor with its default
settings (pygochan.Pool's are ThreadPoolExecutor's: an unbounded queue,
eager map), except the row marked queue_size=0 (Go's hand-off, for
comparison).  ratio = stdlib time / pygochan time (higher is better); the
fan-out rows report efficiency = ideal time / measured time, where
ideal = tasks x sleep / workers.
"""
import argparse
import concurrent.futures as cf
import json
import multiprocessing.pool
import platform
import statistics
import sys
import time

import pygochan as gc

WORKERS = 4


def trivial(x):
    return x


def best_of(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def submit_then_results(executor, n):
    futures = [executor.submit(trivial, i) for i in range(n)]
    for f in futures:
        f.result()


def map_all(executor, n):
    for _ in executor.map(trivial, range(n)):
        pass


def imap_all(pool, n):
    for _ in pool.imap(trivial, range(n), chunksize=1):
        pass


def round_trips(executor, n):
    for i in range(n):
        executor.submit(trivial, i).result()


def fan_out(executor, n, sleep):
    futures = [executor.submit(time.sleep, sleep) for _ in range(n)]
    for f in futures:
        f.result()


def measure(quick):
    n = 5_000 if quick else 20_000
    reps = 3 if quick else 5
    rows = []

    def row(name, stdlib_name, stdlib_s, ours_s, per):
        rows.append(
            {
                "scenario": name,
                "baseline": stdlib_name,
                "baseline_us": stdlib_s / per * 1e6,
                "pygochan_us": ours_s / per * 1e6,
                "ratio": stdlib_s / ours_s,
            }
        )

    with cf.ThreadPoolExecutor(WORKERS) as tpe, gc.Pool(WORKERS) as pool, gc.Pool(
        WORKERS, queue_size=0
    ) as handoff, multiprocessing.pool.ThreadPool(WORKERS) as mp:
        # warm every pool's threads up
        for ex in (tpe, pool, handoff):
            submit_then_results(ex, 1000)
        imap_all(mp, 1000)

        t_tpe = best_of(lambda: submit_then_results(tpe, n), reps)
        t_pool = best_of(lambda: submit_then_results(pool, n), reps)
        t_handoff = best_of(lambda: submit_then_results(handoff, n), reps)
        row(f"submit {n} then result() each", "ThreadPoolExecutor", t_tpe, t_pool, n)
        row("same, queue_size=0 (hand-off)", "ThreadPoolExecutor", t_tpe, t_handoff, n)

        t_tpe_map = best_of(lambda: map_all(tpe, n), reps)
        t_map = best_of(lambda: map_all(pool, n), reps)
        t_imap = best_of(lambda: imap_all(mp, n), reps)
        row(f"map over {n} items", "ThreadPoolExecutor.map", t_tpe_map, t_map, n)
        row(f"map over {n} items", "ThreadPool.imap(chunksize=1)", t_imap, t_map, n)

        trips = n // 10
        t_tpe_rt = best_of(lambda: round_trips(tpe, trips), reps)
        t_rt = best_of(lambda: round_trips(pool, trips), reps)
        row("one submit+result round trip", "ThreadPoolExecutor", t_tpe_rt, t_rt, trips)

    fan = []
    tasks, sleep, workers = (2_000 if quick else 10_000), 0.001, 128
    ideal = tasks * sleep / workers
    with cf.ThreadPoolExecutor(workers) as tpe, gc.Pool(workers) as pool:
        fan_out(tpe, workers * 2, sleep)
        fan_out(pool, workers * 2, sleep)
        t_tpe = best_of(lambda: fan_out(tpe, tasks, sleep), 3)
        t_pool = best_of(lambda: fan_out(pool, tasks, sleep), 3)
    fan.append({"executor": "ThreadPoolExecutor", "seconds": t_tpe, "efficiency": ideal / t_tpe})
    fan.append({"executor": "pygochan.Pool", "seconds": t_pool, "efficiency": ideal / t_pool})

    # single-submitter latency distribution (µs)
    with gc.Pool(WORKERS) as pool, cf.ThreadPoolExecutor(WORKERS) as tpe:
        lat = {}
        for name, ex in (("pygochan.Pool", pool), ("ThreadPoolExecutor", tpe)):
            round_trips(ex, 200)
            samples = []
            for i in range(1000 if quick else 5000):
                t0 = time.perf_counter()
                ex.submit(trivial, i).result()
                samples.append((time.perf_counter() - t0) * 1e6)
            samples.sort()
            lat[name] = {
                "median_us": statistics.median(samples),
                "p99_us": samples[int(len(samples) * 0.99)],
            }
    return {
        "rows": rows,
        "fan_out": {"tasks": tasks, "sleep": sleep, "workers": workers, "ideal_s": ideal, "results": fan},
        "latency": lat,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tasks (CI smoke run)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    result = measure(args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"Python {platform.python_version()} on {platform.machine()}, {WORKERS} workers, trivial tasks")
    print(f"{'scenario':38} {'baseline':30} {'base µs':>9} {'ours µs':>9} {'ratio':>7}")
    for r in result["rows"]:
        print(
            f"{r['scenario']:38} {r['baseline']:30} {r['baseline_us']:9.2f} "
            f"{r['pygochan_us']:9.2f} {r['ratio']:6.1f}x"
        )
    f = result["fan_out"]
    print(
        f"\nI/O fan-out: {f['tasks']} x time.sleep({f['sleep']}) on {f['workers']} workers, "
        f"ideal {f['ideal_s'] * 1000:.0f} ms"
    )
    for r in f["results"]:
        print(f"  {r['executor']:20} {r['seconds'] * 1000:7.0f} ms  efficiency {r['efficiency'] * 100:5.1f} %")
    print("\nsingle-submitter round trip latency")
    for name, v in result["latency"].items():
        print(f"  {name:20} median {v['median_us']:6.1f} µs  p99 {v['p99_us']:7.1f} µs")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
