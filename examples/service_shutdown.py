"""A service whose run loop and workers all stop on one cancel.

Go:
    ctx, cancel := context.WithCancel(context.Background())
    for i := 0; i < n; i++ { go worker(ctx, jobs) }
    ... cancel() ... wg.Wait()

Each worker selects on its job channel and ctx.done(); blocking calls take
ctx= and raise gc.Canceled once the context is done, having had no effect;
gc.ContextError also catches a DeadlineExceeded.
"""
import threading
import time

import pygochan as gc


def worker(ctx: gc.Context, jobs: "gc.RecvOnlyChannel[int]", results: "gc.SendOnlyChannel[int]") -> None:
    try:
        for job in jobs.iter(ctx=ctx):         # raises Canceled at shutdown
            # A job taken is finished: results is unbounded, so this never
            # blocks (a ctx= here could drop a job that was already taken).
            results.send(job * 2)
    except gc.ContextError:                    # canceled or past a deadline
        return


def main() -> None:
    ctx, cancel = gc.with_cancel(gc.background())
    jobs: "gc.Channel[int]" = gc.Channel()
    results: "gc.Channel[int]" = gc.Channel(gc.UNBOUNDED)
    workers = [threading.Thread(target=worker, args=(ctx, jobs.recv_only(), results.send_only())) for _ in range(4)]
    for t in workers:
        t.start()
    for i in range(100):
        jobs.send(i, ctx=ctx)
    time.sleep(0.01)
    cancel()                                   # one call stops every worker
    for t in workers:
        t.join(5)
        assert not t.is_alive()
    done = sorted(results.recv() for _ in range(len(results)))
    assert done == [2 * i for i in range(100)], done[:5]
    print(f"4 workers handled {len(done)} jobs and stopped on one cancel: {ctx.err()!r}")


if __name__ == "__main__":
    main()
