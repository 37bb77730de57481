"""A ticker-driven pipeline: sample a source on a Ticker, average it per
window on a second Ticker, stop everything with one context.

The sampler reads the source every `every` seconds and sends the reading
downstream; the averager collects readings and, on each tick of its window
ticker, emits the average of the window.  Both select on ctx.done(), so one
deadline (or cancel) stops the whole pipeline, and the averager flushes the
last, partial window on the way out.  Run inside a testing bubble the
tickers tick in virtual time: a minute of sampling takes milliseconds.

Go:
    for {
        select {
        case <-tick.C: out <- read()
        case <-ctx.Done(): close(out); return
        }
    }
"""
import threading
from typing import Callable, List, Tuple

import pygochan as gc

Window = Tuple[float, int]  # (average, readings)


def sampler(ctx: gc.Context, read: Callable[[], float], every: float,
            out: "gc.Channel[float]") -> None:
    ticker = gc.Ticker(every)
    try:
        while True:
            index, _, _ = gc.select(gc.recv(ticker.c), gc.recv(ctx.done()))
            if index == 1:
                return
            try:
                out.send(read(), ctx=ctx)
            except gc.ContextError:
                return
    finally:
        ticker.stop()
        out.close()


def averager(readings: "gc.Channel[float]", window: float,
             out: "gc.Channel[Window]") -> None:
    ticker = gc.Ticker(window)
    batch: List[float] = []

    def flush() -> None:
        if batch:
            out.send((sum(batch) / len(batch), len(batch)))
            batch.clear()

    try:
        while True:
            index, value, ok = gc.select(gc.recv(readings), gc.recv(ticker.c))
            if index == 0 and not ok:  # the sampler stopped: last window
                flush()
                return
            if index == 0:
                batch.append(value)
            else:
                flush()
    finally:
        ticker.stop()
        out.close()


def run_pipeline(read: Callable[[], float], every: float, window: float,
                 duration: float) -> List[Window]:
    """Sample for `duration` seconds; the averages of every window."""
    readings: "gc.Channel[float]" = gc.Channel()
    windows: "gc.Channel[Window]" = gc.Channel(gc.UNBOUNDED)
    with gc.with_timeout(gc.background(), duration) as ctx:
        stages = [threading.Thread(target=sampler, args=(ctx, read, every, readings)),
                  threading.Thread(target=averager, args=(readings, window, windows))]
        stages[0].start()
        # the windows end half a sampling period after a sample: no ties
        gc.sleep(every / 2)
        stages[1].start()
        result = list(windows)
        for stage in stages:
            stage.join()
    return result


def main() -> None:
    count = 0

    def counter() -> float:
        nonlocal count
        count += 1
        return float(count)

    with gc.testing.bubble() as b:
        start = b.now()
        windows = run_pipeline(counter, every=1.0, window=10.0, duration=60.75)
        elapsed = b.now() - start
    averages = [average for average, _ in windows]
    assert averages == [5.5, 15.5, 25.5, 35.5, 45.5, 55.5], windows
    assert [n for _, n in windows] == [10] * 6
    assert elapsed == 60.75, elapsed
    print("ticker pipeline:", len(windows), "windows in", elapsed, "virtual seconds")


if __name__ == "__main__":
    main()
