"""pygochan contexts beside the closest stdlib tools, in one run.

    python benchmarks/bench_context.py [--quick]

ratio = stdlib time / pygochan time (higher is better), except the last
row: recv with ctx= / plain recv (the cost of cancellability; lower is better).
"""
import argparse
import platform
import sys
import threading
import time

import pygochan as gc

BG = gc.background()


def per_op(fn, n, repeats=5):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - t0)
    return best / n


def with_cancel_and_cancel(n):
    for _ in range(n):
        ctx, cancel = gc.with_cancel(BG)
        cancel()


def event_and_set(n):
    for _ in range(n):
        threading.Event().set()


def with_timeout_and_cancel(n):
    for _ in range(n):
        ctx, cancel = gc.with_timeout(BG, 60)
        cancel()


def threading_timer_and_cancel(n):
    for _ in range(n):
        t = threading.Timer(60, lambda: None)
        t.start()
        t.cancel()
        t.join()


def cancel_tree(n):
    for _ in range(n):
        root, cancel = gc.with_cancel(BG)
        frontier = [root]
        nodes = []
        while len(nodes) < 10_000:
            parent = frontier.pop(0)
            for _ in range(10):
                child, _ = gc.with_cancel(parent)
                nodes.append(child)
                frontier.append(child)
        t0 = time.perf_counter()
        cancel()
        yield time.perf_counter() - t0


def event_tree(n):
    """The stdlib way: 10,000 Events set one by one."""
    for _ in range(n):
        events = [threading.Event() for _ in range(10_000)]
        t0 = time.perf_counter()
        for e in events:
            e.set()
        yield time.perf_counter() - t0


def recv_with_ctx(n):
    ch = gc.Channel(1)
    ctx, cancel = gc.with_cancel(BG)
    send, recv = ch.send, ch.recv
    for i in range(n):
        send(i)
        recv(ctx=ctx)
    cancel()


def select_with_done(n):
    ch = gc.Channel(1)
    ctx, cancel = gc.with_cancel(BG)
    cases = (gc.recv(ch), gc.recv(ctx.done()))
    send, select = ch.send, gc.select
    for i in range(n):
        send(i)
        select(*cases)
    cancel()


def plain_recv(n):
    ch = gc.Channel(1)
    send, recv = ch.send, ch.recv
    for i in range(n):
        send(i)
        recv()


def deadline_lateness(samples, delay=0.005):
    """How long after its deadline a context's waiter wakes."""
    late = []
    for _ in range(samples):
        ctx, cancel = gc.with_timeout(BG, delay)
        ctx.wait()
        late.append(time.monotonic() - ctx.deadline())
        cancel()
    late.sort()
    return late[len(late) // 2], late[min(len(late) - 1, int(0.99 * len(late)))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    print(f"machine: python={sys.version.split()[0]}, platform={platform.platform()}")
    rows = [
        ("with_cancel + cancel", "Event() + set()",
         per_op(event_and_set, 100_000 // scale), per_op(with_cancel_and_cancel, 100_000 // scale)),
        ("with_timeout + cancel", "Timer().start() + cancel()",
         per_op(threading_timer_and_cancel, 2_000 // scale), per_op(with_timeout_and_cancel, 50_000 // scale)),
        ("cancel a 10k-context tree", "set 10k Events",
         min(event_tree(3)), min(cancel_tree(3))),
    ]
    for name, base, theirs, ours in rows:
        print(f"{name:<28} {base:<28} stdlib {theirs * 1e6:10.2f} us  "
              f"pygochan {ours * 1e6:10.2f} us  ratio {theirs / ours:7.1f}x")
    median, p99 = deadline_lateness(40 if args.quick else 400)
    print(f"lateness of a 5 ms with_timeout deadline: median {median * 1e6:.1f} us,"
          f" p99 {p99 * 1e6:.1f} us")
    n = 300_000 // scale
    plain = per_op(plain_recv, n)
    for name, fn in (("send + recv(ctx=ctx)", recv_with_ctx),
                     ("send + select(recv, recv(done))", select_with_done)):
        cost = per_op(fn, n)
        print(f"{name:<40} {cost * 1e9:7.0f} ns vs plain send+recv {plain * 1e9:5.0f} ns:"
              f" {cost / plain:4.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
