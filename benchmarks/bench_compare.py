"""pygochan beside the stdlib and peer libraries, in one run: a table and a chart.

    python benchmarks/bench_compare.py [--quick] [--out-dir docs/img]

Every library that is installed is measured in the same process on the same
machine (peers: pip install -e ".[bench]"):

- queue.Queue, queue.SimpleQueue (stdlib)
- janus and culsans (thread/asyncio queues; their synchronous side)
- chan (a pure-Python Go channel with select)

queue.SimpleQueue is unbounded: in the producer/consumer row its producer
never waits, so it measures a different thing.

Scenarios: a same-thread put+get pair; one producer handing items to one
consumer through capacity 128; an unbuffered ping-pong round trip between two
threads (capacity 1 for queues, which have no unbuffered mode).  Each figure
is the best of several repeats, in µs per item (per round trip for
ping-pong).  Writes <out-dir>/comparison.md (a Markdown table) and
<out-dir>/comparison.png (the chart, log scale).
"""
import argparse
import os
import platform
import queue
import sys
import threading
import time

import pygochan as gc


def libraries():
    """name -> make(capacity) returning (put, get); capacity 0 = unbuffered."""
    libs = {
        "pygochan": lambda cap: _methods(gc.Channel(cap), "send", "recv"),
        "queue.Queue": lambda cap: _methods(queue.Queue(max(cap, 1)), "put", "get"),
        "queue.SimpleQueue": lambda cap: _methods(queue.SimpleQueue(), "put", "get"),
    }
    try:
        import janus

        libs["janus"] = lambda cap: _methods(janus.Queue(max(cap, 1)).sync_q, "put", "get")
    except ImportError:
        pass
    try:
        import culsans

        libs["culsans"] = lambda cap: _methods(culsans.Queue(max(cap, 1)).sync_q, "put", "get")
    except ImportError:
        pass
    try:
        import chan

        libs["chan"] = lambda cap: _methods(chan.Chan(cap), "put", "get")
    except ImportError:
        pass
    return libs


def _methods(obj, put, get):
    return getattr(obj, put), getattr(obj, get)


def best(fn, repeats):
    t = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def same_thread(make, n):
    put, get = make(128)

    def run():
        for i in range(n):
            put(i)
            get()

    return run


def producer_consumer(make, n):
    def run():
        put, get = make(128)

        def produce():
            for i in range(n):
                put(i)

        t = threading.Thread(target=produce)
        t.start()
        for _ in range(n):
            get()
        t.join()

    return run


def ping_pong(make, n):
    def run():
        ping_put, ping_get = make(0)
        pong_put, pong_get = make(0)

        def echo():
            for _ in range(n):
                pong_put(ping_get())

        t = threading.Thread(target=echo)
        t.start()
        for i in range(n):
            ping_put(i)
            pong_get()
        t.join()

    return run


SCENARIOS = [
    ("same-thread put+get", same_thread, 1),
    ("1 producer → 1 consumer, capacity 128", producer_consumer, 1),
    ("unbuffered ping-pong round trip", ping_pong, 10),
]


def measure(quick):
    n = 5_000 if quick else 40_000
    repeats = 2 if quick else 5
    libs = libraries()
    results = {}  # (scenario, lib) -> µs
    for scenario, build, divisor in SCENARIOS:
        count = n // divisor
        for name, make in libs.items():
            seconds = best(build(make, count), repeats)
            results[(scenario, name)] = seconds / count * 1e6
    return list(libs), results


def markdown(lib_names, results):
    head = "| scenario | " + " | ".join(lib_names) + " |"
    rule = "|---|" + "---:|" * len(lib_names)
    lines = [head, rule]
    for scenario, _, _ in SCENARIOS:
        ours = results[(scenario, "pygochan")]
        cells = []
        for name in lib_names:
            us = results[(scenario, name)]
            cells.append(f"{us:.2f} µs" if name == "pygochan" else f"{us:.2f} µs ({us / ours:.1f}×)")
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def chart(lib_names, results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.8), dpi=110)
    height = 0.8 / len(lib_names)
    for i, name in enumerate(lib_names):
        ys = [k + i * height for k in range(len(SCENARIOS))]
        xs = [results[(s, name)] for s, _, _ in SCENARIOS]
        bars = ax.barh(ys, xs, height=height, label=name)
        ax.bar_label(bars, labels=[f"{x:.2g}" for x in xs], padding=2, fontsize=7)
    ax.set_yticks([k + 0.4 - height / 2 for k in range(len(SCENARIOS))])
    ax.set_yticklabels([s for s, _, _ in SCENARIOS])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("µs per item (per round trip for ping-pong), log scale — lower is better")
    ax.set_title(
        f"pygochan vs stdlib and peers — CPython {platform.python_version()}, "
        f"{os.cpu_count()} CPUs", fontsize=10
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer items (CI smoke run)")
    parser.add_argument("--out-dir", default=None, help="write comparison.md and comparison.png here")
    args = parser.parse_args(argv)
    lib_names, results = measure(args.quick)
    table = markdown(lib_names, results)
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print("(n×) = that library's time / pygochan's time")
    print(table)
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        with open(os.path.join(args.out_dir, "comparison.md"), "w", encoding="utf-8") as f:
            f.write(
                f"Measured by `benchmarks/bench_compare.py` on CPython {platform.python_version()}, "
                f"{platform.machine()}, {os.cpu_count()} CPUs. (n×) is that library's time / "
                "pygochan's time.\n\n" + table
            )
        chart(lib_names, results, os.path.join(args.out_dir, "comparison.png"))
        print(f"wrote {args.out_dir}/comparison.md and comparison.png")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
