"""pygochan channels between threads and asyncio, beside janus, culsans and asyncio.Queue.

One run, best of a few repeats per scenario, printed as time per item and
ratios (peer time / pygochan time: above 1 means pygochan is faster):

* thread producer -> task consumer, capacity 128 (vs janus, culsans)
* thread <-> task unbuffered ping-pong (vs janus/culsans with maxsize 1)
* task <-> task on one loop (vs asyncio.Queue)
* two loops in two threads, task producer -> task consumer (vs culsans;
  janus cannot serve two loops)

The best of a few repeats is the good case of a ping-pong, whose figure is
bimodal from one process to the next.  ``--fresh [N]`` measures the typical
case instead: the thread <-> task ping-pong alone, each library in N fresh
processes (default 15) of a few thousand round trips, printed as the median
(min-max) across processes and the ratio of medians; beside janus and
culsans it has a standard-library baseline (queue.Queue(1) to the thread,
loop.call_soon_threadsafe onto an asyncio.Queue(1) back).  ``--quick``
ends with that row at 3 processes.

    python benchmarks/bench_asyncio.py            # full run
    python benchmarks/bench_asyncio.py --quick    # smoke run
    python benchmarks/bench_asyncio.py --fresh    # 15 fresh processes per library
    python benchmarks/bench_asyncio.py --markdown --json out.json

janus and culsans come with the ``bench`` extra; missing peers are skipped.
"""
import argparse
import asyncio
import json
import os
import platform
import queue
import sys
import threading
import time

import _fresh
import pygochan as gc

try:
    import janus
except ImportError:  # pragma: no cover - optional peer
    janus = None
try:
    import culsans
except ImportError:  # pragma: no cover - optional peer
    culsans = None


def best_of(repeats, fn, *args):
    return min(fn(*args) for _ in range(repeats))


def join(threads, timeout=120):
    for t in threads:
        t.join(timeout)
        if t.is_alive():
            raise RuntimeError(f"benchmark thread {t.name} is stuck")


# ---- thread producer -> task consumer ------------------------------------


def thread_to_task_pygochan(n):
    async def main():
        ch = gc.Channel(128)

        def produce():
            for i in range(n):
                ch.send(i)
            ch.close()

        t0 = time.perf_counter()
        th = threading.Thread(target=produce)
        th.start()
        count = 0
        async for _ in ch:
            count += 1
        join([th])
        assert count == n
        return (time.perf_counter() - t0) / n

    return asyncio.run(main())


def thread_to_task_queue(n, make):
    async def main():
        q = make(128)
        done = object()

        def produce():
            for i in range(n):
                q.sync_q.put(i)
            q.sync_q.put(done)

        t0 = time.perf_counter()
        th = threading.Thread(target=produce)
        th.start()
        count = 0
        while True:
            v = await q.async_q.get()
            if v is done:
                break
            count += 1
        join([th])
        assert count == n
        elapsed = time.perf_counter() - t0
        if hasattr(q, "aclose"):
            await q.aclose()
        return elapsed / n

    return asyncio.run(main())


# ---- thread <-> task ping-pong ---------------------------------------------


def ping_pong_pygochan(n):
    async def main():
        ping, pong = gc.Channel(), gc.Channel()

        def echo():
            for v in ping:
                pong.send(v)

        th = threading.Thread(target=echo)
        th.start()
        t0 = time.perf_counter()
        for i in range(n):
            await ping.asend(i)
            await pong.arecv()
        elapsed = time.perf_counter() - t0
        ping.close()
        join([th])
        return elapsed / n

    return asyncio.run(main())


def ping_pong_queue(n, make):
    async def main():
        ping, pong = make(1), make(1)
        stop = object()

        def echo():
            while True:
                v = ping.sync_q.get()
                if v is stop:
                    return
                pong.sync_q.put(v)

        th = threading.Thread(target=echo)
        th.start()
        t0 = time.perf_counter()
        for i in range(n):
            await ping.async_q.put(i)
            await pong.async_q.get()
        elapsed = time.perf_counter() - t0
        await ping.async_q.put(stop)
        join([th])
        for q in (ping, pong):
            if hasattr(q, "aclose"):
                await q.aclose()
        return elapsed / n

    return asyncio.run(main())


def ping_pong_stdlib(n):
    """The standard library's round trip between a thread and a task: a
    queue.Queue(1) to the thread (put_nowait never finds it full: the echo
    took the last value before answering), loop.call_soon_threadsafe onto an
    asyncio.Queue(1) back."""
    async def main():
        loop = asyncio.get_running_loop()
        ping, pong = queue.Queue(1), asyncio.Queue(1)
        stop = object()

        def echo():
            while True:
                v = ping.get()
                if v is stop:
                    return
                loop.call_soon_threadsafe(pong.put_nowait, v)

        th = threading.Thread(target=echo)
        th.start()
        t0 = time.perf_counter()
        for i in range(n):
            ping.put_nowait(i)
            await pong.get()
        elapsed = time.perf_counter() - t0
        ping.put(stop)
        join([th])
        return elapsed / n

    return asyncio.run(main())


# ---- task <-> task on one loop ----------------------------------------------


def task_to_task_pygochan(n, capacity):
    async def main():
        ch = gc.Channel(capacity)

        async def produce():
            for i in range(n):
                await ch.asend(i)
            ch.close()

        t0 = time.perf_counter()
        p = asyncio.ensure_future(produce())
        count = 0
        async for _ in ch:
            count += 1
        await p
        assert count == n
        return (time.perf_counter() - t0) / n

    return asyncio.run(main())


def task_to_task_asyncio_queue(n, capacity):
    async def main():
        q = asyncio.Queue(capacity)
        done = object()

        async def produce():
            for i in range(n):
                await q.put(i)
            await q.put(done)

        t0 = time.perf_counter()
        p = asyncio.ensure_future(produce())
        count = 0
        while (await q.get()) is not done:
            count += 1
        await p
        assert count == n
        return (time.perf_counter() - t0) / n

    return asyncio.run(main())


# ---- two loops in two threads ----------------------------------------------


def two_loops_pygochan(n):
    ch = gc.Channel(128)

    async def produce():
        for i in range(n):
            await ch.asend(i)
        ch.close()

    async def consume():
        count = 0
        async for _ in ch:
            count += 1
        assert count == n

    t0 = time.perf_counter()
    th = threading.Thread(target=lambda: asyncio.run(produce()))
    th.start()
    asyncio.run(consume())
    join([th])
    return (time.perf_counter() - t0) / n


def two_loops_culsans(n):
    q = culsans.Queue(128)
    done = object()

    async def produce():
        for i in range(n):
            await q.async_q.put(i)
        await q.async_q.put(done)

    async def consume():
        count = 0
        while (await q.async_q.get()) is not done:
            count += 1
        assert count == n

    t0 = time.perf_counter()
    th = threading.Thread(target=lambda: asyncio.run(produce()))
    th.start()
    asyncio.run(consume())
    join([th])
    return (time.perf_counter() - t0) / n


# ---- report --------------------------------------------------------------------

PING_PONG = "thread <-> task ping-pong (unbuffered; peers maxsize 1)"
FRESH_ROUNDS, FRESH_QUICK_ROUNDS = 3000, 300
STDLIB_NOTE = ("stdlib = queue.Queue(1) to the thread, "
               "loop.call_soon_threadsafe onto asyncio.Queue(1) back")


def fresh_variants():
    """The ping-pong, one entry per library: name -> fn(round trips)."""
    variants = {"pygochan": ping_pong_pygochan}
    if janus:
        variants["janus"] = lambda n: ping_pong_queue(n, janus.Queue)
    if culsans:
        variants["culsans"] = lambda n: ping_pong_queue(n, culsans.Queue)
    variants["stdlib"] = ping_pong_stdlib
    return variants


def measure_fresh(processes, rounds):
    """The ping-pong row, each library in `processes` fresh processes."""
    samples = _fresh.measure(__file__, list(fresh_variants()), processes, rounds)
    stats = {k: _fresh.summary(v) for k, v in samples.items()}
    ours = stats.pop("pygochan")
    return {"scenario": PING_PONG, "pygochan_us": ours["median_us"],
            "peers": {k: v["median_us"] for k, v in stats.items()},
            "fresh": {"processes": processes, "rounds": rounds,
                      "pygochan": ours, "peers": stats}}


def print_fresh(row, markdown, load_before, load_after):
    f = row["fresh"]
    print(f"Python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {load_before} before and "
          f"{load_after} after; {f['processes']} fresh processes per library, "
          f"{f['rounds']} round trips each: median (min–max) per round trip "
          f"across processes (ratio = peer median / pygochan median)")
    ours = _fresh.cell(f["pygochan"])
    peers = ", ".join(f"{k} {_fresh.cell(v)} ({v['median_us'] / row['pygochan_us']:.2f}×)"
                      for k, v in f["peers"].items())
    if markdown:
        print("| scenario | pygochan | peers |")
        print("|---|---|---|")
        print(f"| {row['scenario']} | {ours} | {peers} |")
    else:
        print(f"{row['scenario']:<58} {ours}   {peers}")
    print(STDLIB_NOTE)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small counts, one repeat")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    _fresh.add_arguments(ap, FRESH_ROUNDS, FRESH_QUICK_ROUNDS)
    args = ap.parse_args()
    if args.fresh_child:
        return _fresh.child_main(fresh_variants(), args)
    n = 2000 if args.quick else 50_000
    n_pp = 500 if args.quick else 10_000
    repeats = 1 if args.quick else 3

    rows = []

    def row(name, ours, peers):
        rows.append({"scenario": name, "pygochan_us": ours * 1e6,
                     "peers": {k: v * 1e6 for k, v in peers.items() if v is not None}})

    if args.fresh is None:
        measure_best_of(row, n, n_pp, repeats)
        print_rows(rows, args)
    processes = _fresh.processes(args)
    if processes:
        if rows:
            print()
        load_before = _fresh.load_average()
        fresh = measure_fresh(processes, FRESH_QUICK_ROUNDS if args.quick else FRESH_ROUNDS)
        print_fresh(fresh, args.markdown, load_before, _fresh.load_average())
        rows.append(fresh)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"python": sys.version, "rows": rows}, f, indent=2)
    return 0


def measure_best_of(row, n, n_pp, repeats):
    ours = best_of(repeats, thread_to_task_pygochan, n)
    peers = {}
    if janus:
        peers["janus"] = best_of(repeats, thread_to_task_queue, n, janus.Queue)
    if culsans:
        peers["culsans"] = best_of(repeats, thread_to_task_queue, n, culsans.Queue)
    row("thread -> task, capacity 128", ours, peers)

    ours = best_of(repeats, ping_pong_pygochan, n_pp)
    peers = {}
    if janus:
        peers["janus"] = best_of(repeats, ping_pong_queue, n_pp, janus.Queue)
    if culsans:
        peers["culsans"] = best_of(repeats, ping_pong_queue, n_pp, culsans.Queue)
    row(PING_PONG, ours, peers)

    for capacity in (0, 128):
        ours = best_of(repeats, task_to_task_pygochan, n, capacity)
        peer = best_of(repeats, task_to_task_asyncio_queue, n, capacity or 1)
        row(f"task -> task, one loop, capacity {capacity} (Queue {capacity or 1})",
            ours, {"asyncio.Queue": peer})

    ours = best_of(repeats, two_loops_pygochan, n)
    peers = {"culsans": best_of(repeats, two_loops_culsans, n)} if culsans else {}
    row("two loops in two threads, capacity 128", ours, peers)


def print_rows(rows, args):
    print(f"Python {platform.python_version()} on {platform.machine()}, "
          f"{'quick' if args.quick else 'full'} run, time per item (ratio = peer / pygochan)")
    if args.markdown:
        print("| scenario | pygochan | peers |")
        print("|---|---|---|")
    for r in rows:
        peers = ", ".join(f"{k} {v:.2f} µs ({v / r['pygochan_us']:.2f}×)"
                          for k, v in r["peers"].items())
        if args.markdown:
            print(f"| {r['scenario']} | {r['pygochan_us']:.2f} µs | {peers} |")
        else:
            print(f"{r['scenario']:<58} {r['pygochan_us']:8.2f} µs   {peers}")


if __name__ == "__main__":
    sys.exit(main())
