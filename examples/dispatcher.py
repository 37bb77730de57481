"""A two-level dispatcher: a channel of job channels.

Each worker owns a job channel and, whenever it is ready for work, puts that
channel into the shared `ready_workers` channel.  The dispatcher takes a job
from the queue, then a ready worker's channel, and sends the job into it —
so a job only ever goes to a worker that is idle.

Go (after "Handling 1 million requests per minute with Go"):
    for job := range jobQueue {
        jobChannel := <-workerPool     // a worker that is ready
        jobChannel <- job
    }
"""
import threading
from typing import List, Optional

import pygochan as gc


class Worker:
    def __init__(self, ready_workers: "gc.Channel[gc.Channel[Optional[int]]]", done: List[int],
                 lock: threading.Lock) -> None:
        self.jobs: "gc.Channel[Optional[int]]" = gc.Channel()
        self._ready_workers = ready_workers
        self._done = done
        self._lock = lock

    def run(self) -> None:
        while True:
            self._ready_workers.send(self.jobs)  # "I am idle"
            job = self.jobs.recv()
            if job is None:  # the dispatcher is shutting down
                return
            with self._lock:
                self._done.append(job)


def dispatch(queue: "gc.Channel[int]", ready_workers: "gc.Channel[gc.Channel[Optional[int]]]",
             worker_count: int) -> None:
    for job in queue:
        ready_workers.recv().send(job)
    for _ in range(worker_count):  # each worker asks once more, and is told to stop
        ready_workers.recv().send(None)


def main() -> None:
    workers_n, jobs_n = 4, 500
    ready_workers: "gc.Channel[gc.Channel[Optional[int]]]" = gc.Channel(workers_n)
    queue: "gc.Channel[int]" = gc.Channel(16)
    done: List[int] = []
    lock = threading.Lock()
    with gc.WaitGroup() as wg:
        for _ in range(workers_n):
            wg.go(Worker(ready_workers, done, lock).run)
        wg.go(dispatch, queue, ready_workers, workers_n)
        for job in range(jobs_n):
            queue.send(job)
        queue.close()
    assert sorted(done) == list(range(jobs_n))
    print(f"dispatched {jobs_n} jobs to {workers_n} workers, each job exactly once")


if __name__ == "__main__":
    main()
