"""A worker loop selecting on jobs and ctx.done().

Each worker waits for whichever comes first: a job, or the context being
done.  One cancel stops every worker between jobs; a job is either taken
(and then finished) or never taken, so none is half done or lost.

Go:
    for {
        select {
        case job := <-jobs: handle(job)
        case <-ctx.Done(): return
        }
    }
"""
import threading
from typing import List

import pygochan as gc

JOBS_DONE, CTX_DONE = 0, 1


def worker(ctx: gc.Context, jobs: "gc.Channel[int]", handled: List[int], lock: threading.Lock) -> None:
    take_job, stop = gc.recv(jobs), gc.recv(ctx.done())  # cases are reusable
    while True:
        index, job, ok = gc.select(take_job, stop)
        if index == CTX_DONE or not ok:
            return
        with lock:
            handled.append(job)


def main() -> None:
    ctx, cancel = gc.with_cancel(gc.background())
    jobs: "gc.Channel[int]" = gc.Channel()
    handled: List[int] = []
    lock = threading.Lock()
    with gc.WaitGroup() as wg:
        for _ in range(4):
            wg.go(worker, ctx, jobs, handled, lock)
        sent = 0
        for n in range(1000):
            if n == 600:
                cancel()  # stop mid-stream
            try:
                jobs.send(n, ctx=ctx)  # a send that raises had no effect
            except gc.Canceled:
                break
            sent += 1
    assert sorted(handled) == list(range(sent)), "every job sent was handled exactly once"
    print(f"sent {sent} jobs before the cancel; 4 workers handled each once, then stopped")


if __name__ == "__main__":
    main()
