"""pygochan channels and select, side by side with the standard library.

Every scenario runs the stdlib version and the pygochan version in the same
process, best of several repeats, and prints ratio = stdlib time / pygochan
time (above 1 means pygochan is faster), except the select row, which is
pygochan's own select time / recv time (below the target is good).

The best of several repeats is the good case of a ping-pong, whose figure is
bimodal from one process to the next.  ``--fresh [N]`` measures the typical
case instead: the two ping-pong rows alone, pygochan and Queue(1) pair each
in N fresh processes (default 15) of a few thousand round trips, printed as
the median (min-max) across processes and the ratio of medians.  ``--quick``
ends with those rows at 3 processes.

    python benchmarks/bench_channels.py            # full run (about a minute)
    python benchmarks/bench_channels.py --quick    # smoke run
    python benchmarks/bench_channels.py --fresh    # 15 fresh processes per row and library
    python benchmarks/bench_channels.py --markdown --json out.json
"""
import argparse
import json
import os
import platform
import queue
import sys
import threading
import time

import _fresh
import pygochan as gc


def best_of(repeats, fn):
    """Best wall time of fn() over repeats runs (fn returns its own time)."""
    return min(fn() for _ in range(repeats))


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def join(threads, timeout=120):
    for t in threads:
        t.join(timeout)
        if t.is_alive():
            raise RuntimeError(f"benchmark thread {t.name} is stuck")


# ---- scenarios: each returns seconds per operation --------------------------

def pairs_per_op(put, get, n):
    """Seconds per put(i); get() pair, on one thread."""
    def run():
        for i in range(n):
            put(i)
            get()
    return timed(run) / n


def same_thread_pygochan(n):
    ch = gc.Channel(16)
    return pairs_per_op(ch.send, ch.recv, n)


def same_thread_simplequeue(n):
    q = queue.SimpleQueue()
    return pairs_per_op(q.put, q.get, n)


def same_thread_queue(n):
    q = queue.Queue(16)
    return pairs_per_op(q.put, q.get, n)


def run_producers_consumers(produce, consume, finish, producers, consumers):
    """Start consumers then producers; when producers are done call finish()
    (which ends the consumers) and return the elapsed seconds."""
    cons = [threading.Thread(target=consume) for _ in range(consumers)]
    prods = [threading.Thread(target=produce) for _ in range(producers)]
    t0 = time.perf_counter()
    for t in cons + prods:
        t.start()
    join(prods)
    finish()
    join(cons)
    return time.perf_counter() - t0


def producer_consumer_pygochan(n, producers=1, consumers=1, capacity=128):
    ch = gc.Channel(capacity)
    per = n // producers

    def produce():
        send = ch.send
        for i in range(per):
            send(i)

    def consume():
        for _ in ch:  # ends at close
            pass

    elapsed = run_producers_consumers(produce, consume, ch.close, producers, consumers)
    return elapsed / (per * producers)


def producer_consumer_queue(n, producers=1, consumers=1, capacity=128):
    q = queue.Queue(capacity)
    per = n // producers
    done = object()

    def produce():
        put = q.put
        for i in range(per):
            put(i)

    def consume():
        get = q.get
        while get() is not done:
            pass

    def finish():  # a queue has no close: one sentinel per consumer
        for _ in range(consumers):
            q.put(done)

    elapsed = run_producers_consumers(produce, consume, finish, producers, consumers)
    return elapsed / (per * producers)


def ping_pong(n, make, send_name, recv_name):
    """Round trips between the main thread and an echo thread."""
    ping, pong = make(), make()

    def echo():
        recv, send = getattr(ping, recv_name), getattr(pong, send_name)
        for _ in range(n):
            send(recv())

    t = threading.Thread(target=echo)
    t.start()
    send, recv = getattr(ping, send_name), getattr(pong, recv_name)
    t0 = time.perf_counter()
    for i in range(n):
        send(i)
        recv()
    elapsed = time.perf_counter() - t0
    join([t])
    return elapsed / n


def ping_pong_pygochan(n):
    return ping_pong(n, gc.Channel, "send", "recv")


def ping_pong_queue(n):
    return ping_pong(n, lambda: queue.Queue(1), "put", "get")


def select4_pygochan(n):
    chans = [gc.Channel(1) for _ in range(4)]
    c1, c2, c3, c4 = [gc.recv(ch) for ch in chans]
    send, select = chans[3].send, gc.select

    def run():
        for i in range(n):
            send(i)
            select(c1, c2, c3, c4)
    return timed(run) / n


def recv_pygochan(n):
    ch = gc.Channel(1)
    return pairs_per_op(ch.send, ch.recv, n)


class Pinned:
    """Run with the whole process (and threads it starts) on one CPU."""

    def __enter__(self):
        self.saved = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(self.saved)})

    def __exit__(self, *exc):
        os.sched_setaffinity(0, self.saved)


def one_cpu(fn):
    """fn run with this process pinned to one CPU."""
    def run(n):
        with Pinned():
            return fn(n)
    return run


# ---- driver -------------------------------------------------------------------

def measure(quick):
    scale = 10 if quick else 1
    reps = 3 if quick else 5
    rows = []

    def row(name, stdlib_name, stdlib_fn, ours_fn, n, target, higher_is_better=True):
        stdlib = best_of(reps, lambda: stdlib_fn(n // scale))
        ours = best_of(reps, lambda: ours_fn(n // scale))
        ratio = stdlib / ours
        rows.append({
            "scenario": name, "baseline": stdlib_name,
            "baseline_us": stdlib * 1e6, "pygochan_us": ours * 1e6,
            "ratio": ratio, "target": target,
            "met": ratio >= target if higher_is_better else ratio <= target,
            "kind": "speedup",
        })

    row("same-thread send+recv, Channel(16)", "SimpleQueue put+get",
        same_thread_simplequeue, same_thread_pygochan, 300_000, 0.7)
    row("same-thread send+recv, Channel(16)", "Queue(16) put+get",
        same_thread_queue, same_thread_pygochan, 100_000, 10)
    row("1 producer -> 1 consumer, capacity 128", "Queue(128)",
        producer_consumer_queue, producer_consumer_pygochan, 200_000, 5)
    row("unbuffered ping-pong round trip (unpinned)", "Queue(1) pair",
        ping_pong_queue, ping_pong_pygochan, 20_000, 2)
    if hasattr(os, "sched_setaffinity"):
        with Pinned():
            row("unbuffered ping-pong round trip (one CPU)", "Queue(1) pair",
                ping_pong_queue, ping_pong_pygochan, 20_000, 2)
    row("4 producers x 4 consumers, capacity 128", "Queue(128)",
        lambda n: producer_consumer_queue(n, 4, 4),
        lambda n: producer_consumer_pygochan(n, 4, 4), 200_000, 1)

    sel = best_of(reps, lambda: select4_pygochan(300_000 // scale))
    rcv = best_of(reps, lambda: recv_pygochan(300_000 // scale))
    rows.append({
        "scenario": "4-case select, one ready (send+select vs send+recv)",
        "baseline": "plain recv", "baseline_us": rcv * 1e6, "pygochan_us": sel * 1e6,
        "ratio": sel / rcv, "target": 2.5, "met": sel / rcv <= 2.5, "kind": "cost",
    })
    return rows


FRESH_ROUNDS, FRESH_QUICK_ROUNDS = 3000, 300
PING_PONG_TARGET = 2


def fresh_variants():
    """The ping-pong, one entry per library and placement: name -> fn(n)."""
    variants = {"pygochan": ping_pong_pygochan, "queue": ping_pong_queue}
    if hasattr(os, "sched_setaffinity"):
        variants["pygochan-one-cpu"] = one_cpu(ping_pong_pygochan)
        variants["queue-one-cpu"] = one_cpu(ping_pong_queue)
    return variants


def measure_fresh(processes, rounds):
    """The ping-pong rows, each library in `processes` fresh processes."""
    specs = [("unbuffered ping-pong round trip (unpinned)", "pygochan", "queue")]
    if hasattr(os, "sched_setaffinity"):
        specs.append(("unbuffered ping-pong round trip (one CPU)",
                      "pygochan-one-cpu", "queue-one-cpu"))
    samples = _fresh.measure(__file__, [v for _, *pair in specs for v in pair],
                             processes, rounds)
    rows = []
    for name, ours_v, base_v in specs:
        ours, base = _fresh.summary(samples[ours_v]), _fresh.summary(samples[base_v])
        ratio = base["median_us"] / ours["median_us"]
        rows.append({
            "scenario": name, "baseline": "Queue(1) pair",
            "baseline_us": base["median_us"], "pygochan_us": ours["median_us"],
            "ratio": ratio, "target": PING_PONG_TARGET, "met": ratio >= PING_PONG_TARGET,
            "kind": "fresh", "processes": processes, "rounds": rounds,
            "baseline_fresh": base, "pygochan_fresh": ours,
        })
    return rows


class Fresh:
    """What run() needs for --fresh: the children's entry points and the rows."""
    variants = staticmethod(fresh_variants)
    measure = staticmethod(measure_fresh)
    rounds, quick_rounds = FRESH_ROUNDS, FRESH_QUICK_ROUNDS


def machine():
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "pygochan": gc.__version__,
    }


def measured_on(info):
    """The line that opens a Markdown table of results."""
    return (f"Measured on {info['platform']}, {info['cpus']} CPUs, "
            f"{info['implementation']} {info['python']}, pygochan {info['pygochan']}.\n")


def fresh_header(rows):
    r = rows[0]
    return (f"{r['processes']} fresh processes per library, {r['rounds']} round trips "
            f"each: median (min–max) µs per round trip across processes; "
            f"ratio = stdlib median / pygochan median (higher is better)")


def print_text(info, rows):
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    fresh = [r for r in rows if r["kind"] == "fresh"]
    rows = [r for r in rows if r["kind"] != "fresh"]
    if rows:
        print_text_rows(rows)
    if fresh:
        if rows:
            print()
        print_text_fresh(fresh)


def print_text_fresh(rows):
    print(fresh_header(rows) + "\n")
    rng = [(_fresh.span(r["baseline_fresh"]), _fresh.span(r["pygochan_fresh"])) for r in rows]
    width = max(len(r["scenario"]) for r in rows)
    w1 = max(len("stdlib us"), *(len(b) for b, _ in rng))
    w2 = max(len("pygochan us"), *(len(o) for _, o in rng))
    print(f"{'scenario':<{width}}  {'baseline':<20} {'stdlib us':>{w1}}  {'pygochan us':>{w2}}"
          f" {'ratio':>7} {'target':>8}  met")
    for r, (b, o) in zip(rows, rng):
        print(f"{r['scenario']:<{width}}  {r['baseline']:<20} {b:>{w1}}  {o:>{w2}}"
              f" {r['ratio']:>7.2f} {'>= ' + format(r['target'], 'g'):>8}  "
              f"{'yes' if r['met'] else 'NO'}")


def print_text_rows(rows):
    print("ratio = stdlib time / pygochan time (higher is better), except the"
          " select row: select time / recv time (lower is better)\n")
    width = max(len(r["scenario"]) for r in rows)
    print(f"{'scenario':<{width}}  {'baseline':<20} {'stdlib us':>10} {'pygochan us':>12}"
          f" {'ratio':>7} {'target':>8}  met")
    for r in rows:
        target = (">= " if r["kind"] == "speedup" else "<= ") + f"{r['target']:g}"
        print(f"{r['scenario']:<{width}}  {r['baseline']:<20} {r['baseline_us']:>10.3f}"
              f" {r['pygochan_us']:>12.3f} {r['ratio']:>7.2f} {target:>8}  "
              f"{'yes' if r['met'] else 'NO'}")


def print_markdown(info, rows):
    print(measured_on(info))
    fresh = [r for r in rows if r["kind"] == "fresh"]
    rows = [r for r in rows if r["kind"] != "fresh"]
    if rows:
        print_markdown_rows(rows)
    if fresh:
        if rows:
            print()
        if "load_before" in info:
            print(f"Load average {info['load_before']} before, {info['load_after']} after; "
                  + fresh_header(fresh) + ".\n")
        else:
            print(fresh_header(fresh) + ".\n")
        print("| scenario | baseline | baseline µs | pygochan µs | ratio | target |")
        print("|---|---|---:|---:|---:|---:|")
        for r in fresh:
            print(f"| {r['scenario']} | {r['baseline']} | {_fresh.span(r['baseline_fresh'])} | "
                  f"{_fresh.span(r['pygochan_fresh'])} | {r['ratio']:.2f}× | ≥ {r['target']:g} |")


def print_markdown_rows(rows):
    print("| scenario | baseline | baseline µs/op | pygochan µs/op | ratio | target |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        target = ("≥ " if r["kind"] == "speedup" else "≤ ") + f"{r['target']:g}"
        print(f"| {r['scenario']} | {r['baseline']} | {r['baseline_us']:.3f} | "
              f"{r['pygochan_us']:.3f} | {r['ratio']:.2f}× | {target} |")


def run(argv, description, quick_help, measure, print_text, print_markdown, fresh=None):
    """The command line the benchmarks share: measure(quick) -> rows, then a
    text table, and on request a Markdown table and a JSON file.  With
    `fresh` (see Fresh) the command also takes --fresh [N], whose rows
    (fresh.measure(processes, rounds)) follow the others or replace them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    if fresh:
        _fresh.add_arguments(parser, fresh.rounds, fresh.quick_rounds)
    args = parser.parse_args(argv)
    if fresh and args.fresh_child:
        return _fresh.child_main(fresh.variants(), args)
    info = machine()
    rows = measure(args.quick) if not fresh or args.fresh is None else []
    processes = _fresh.processes(args) if fresh else 0
    if processes:
        info["load_before"] = _fresh.load_average()
        rows += fresh.measure(processes, fresh.quick_rounds if args.quick else fresh.rounds)
        info["load_after"] = _fresh.load_average()
    print_text(info, rows)
    if args.markdown:
        print()
        print_markdown(info, rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "results": rows}, f, indent=2)
    return 0


def main(argv=None):
    return run(argv, __doc__.splitlines()[0], "small sizes, for CI",
               measure, print_text, print_markdown, Fresh)


if __name__ == "__main__":
    sys.exit(main())
