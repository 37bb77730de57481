"""Virtual time in a testing bubble: how much real time it takes to wait out
a virtual hour.

Eight threads in one bubble together wait a total of one virtual hour
(3600 s, 450 s each): two read a Ticker, two time out on receives, two run a
retry loop with exponential back-off in gc.sleep, two wait out context
deadlines.  The bubble's clock jumps from one deadline to the next whenever
every thread is blocked, so the hour passes in the time the threads take to
do their work.  Prints real seconds, virtual seconds, their ratio and the
number of clock jumps; nothing is asserted.

    python benchmarks/bench_bubble.py            # best of 3
    python benchmarks/bench_bubble.py --repeats 1
"""
import argparse
import threading
import time

import pygochan as gc

PER_THREAD = 450.0  # virtual seconds each of the 8 threads waits


def ticker_reader(interval: float) -> None:
    ticker = gc.Ticker(interval)
    for _ in range(round(PER_THREAD / interval)):
        ticker.c.recv()
    ticker.stop()


def timeouts(timeout: float) -> None:
    never = gc.Channel()
    for _ in range(round(PER_THREAD / timeout)):
        try:
            never.recv(timeout=timeout)
        except TimeoutError:
            pass


def retries(first_backoff: float) -> None:
    waited = 0.0
    backoff = first_backoff
    while waited < PER_THREAD:
        # the attempt fails; back off, doubling up to 8 s
        step = min(backoff, PER_THREAD - waited)
        gc.sleep(step)
        waited += step
        backoff = min(backoff * 2, 8.0)


def deadlines(seconds: float) -> None:
    for _ in range(round(PER_THREAD / seconds)):
        with gc.with_timeout(gc.background(), seconds) as ctx:
            ctx.wait()


def one_hour() -> tuple:
    work = [(ticker_reader, 0.5), (ticker_reader, 1.0), (timeouts, 1.5), (timeouts, 0.75),
            (retries, 0.1), (retries, 0.25), (deadlines, 2.0), (deadlines, 3.0)]
    real0 = time.perf_counter()
    with gc.testing.bubble() as b:
        virtual0 = b.now()
        threads = [threading.Thread(target=fn, args=(arg,)) for fn, arg in work]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        virtual = b.now() - virtual0
    real = time.perf_counter() - real0
    return real, virtual, b.advances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = [one_hour() for _ in range(args.repeats)]
    real, virtual, jumps = min(runs)
    print(f"8 threads, {8 * PER_THREAD:.0f} virtual seconds of waiting in all "
          f"(tickers, timeouts, retries with back-off, context deadlines)")
    print(f"  real time      {real * 1000:8.1f} ms  (best of {args.repeats})")
    print(f"  virtual time   {virtual:8.1f} s   (the longest thread's)")
    print(f"  clock jumps    {jumps:8d}")
    print(f"  virtual / real {virtual / real:8.0f}x")


if __name__ == "__main__":
    main()
