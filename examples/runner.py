"""The Runner: run tasks in order, stop on a timeout or on Ctrl-C.

From "Go in Action": a runner executes its tasks in a background goroutine
and the caller selects on three channels — the tasks completed, the overall
timeout fired, or the process was interrupted.  Here the interrupt is a
context canceled by SIGINT (gc.signal_context); tasks check it between
steps, so an interrupted run stops cleanly instead of dying mid-task.

Go:
    go func() { r.complete <- r.run() }()
    select {
    case err := <-r.complete: return err
    case <-r.timeout: return ErrTimeout
    }
    // run() checks `case <-r.interrupt:` before each task
"""
import os
import signal
import threading
import time
from typing import Callable, List, Optional

import pygochan as gc


class Timeout(Exception):
    """The tasks did not finish in time."""


class Interrupted(Exception):
    """SIGINT arrived before the tasks finished."""


Task = Callable[[int], None]


class Runner:
    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._tasks: List[Task] = []

    def add(self, *tasks: Task) -> None:
        self._tasks.extend(tasks)

    def start(self) -> None:
        """Run every task; raise Timeout or Interrupted if they do not finish."""
        with gc.signal_context(gc.background(), signal.SIGINT) as interrupt:
            complete: "gc.Channel[Optional[BaseException]]" = gc.Channel(1)
            stop_early, cancel = gc.with_cancel(interrupt)
            worker = threading.Thread(target=self._run, args=(stop_early, complete))
            worker.start()
            try:
                index, error, _ = gc.select(
                    gc.recv(complete), gc.recv(gc.after(self._timeout)), gc.recv(interrupt.done())
                )
            finally:
                cancel()  # a timed-out run stops at its next task
                worker.join()
        if index == 1:
            raise Timeout(f"not done after {self._timeout} s")
        if index == 2:
            raise Interrupted("interrupted by SIGINT")
        if error is not None:
            raise error

    def _run(self, ctx: gc.Context, complete: "gc.Channel[Optional[BaseException]]") -> None:
        try:
            for number, task in enumerate(self._tasks):
                if ctx.err() is not None:
                    break
                task(number)
            complete.send(None)
        except BaseException as exc:  # handed to the caller
            complete.send(exc)


def main() -> None:
    done: List[int] = []
    outcomes: List[str] = []

    def step(n: int) -> None:
        time.sleep(0.02)
        done.append(n)

    quick = Runner(timeout=5.0)
    quick.add(step, step, step)
    quick.start()
    outcomes.append("completed")
    assert done == [0, 1, 2]

    slow = Runner(timeout=0.05)
    slow.add(*[step] * 50)
    try:
        slow.start()
    except Timeout:
        outcomes.append("timed out")

    if os.name == "posix":
        handler_before = signal.getsignal(signal.SIGINT)
        interrupted = Runner(timeout=30.0)
        interrupted.add(*[step] * 50)
        threading.Timer(0.05, os.kill, args=(os.getpid(), signal.SIGINT)).start()
        try:
            interrupted.start()
        except Interrupted:
            outcomes.append("interrupted")
        assert signal.getsignal(signal.SIGINT) == handler_before  # restored
    assert outcomes[:2] == ["completed", "timed out"], outcomes
    assert os.name != "posix" or outcomes[2] == "interrupted", outcomes
    print("runner outcomes:", ", ".join(outcomes))


if __name__ == "__main__":
    main()
