"""Producer/consumer with a WaitGroup and close.

Several producers send; the last one to finish must close the channel, but
no producer knows it is last.  A WaitGroup counts them and one closer
thread closes the channel after wg.wait(), so close happens exactly once,
after the last send.  Consumers range over the channel until it is closed
and drained.

Go:
    var wg sync.WaitGroup
    for p := 0; p < 4; p++ { wg.Add(1); go func() { defer wg.Done(); produce(jobs) }() }
    go func() { wg.Wait(); close(jobs) }()
    for j := range jobs { ... }
"""
import threading
from typing import List

import pygochan as gc

PRODUCERS, CONSUMERS, PER_PRODUCER = 4, 3, 250


def produce(jobs: "gc.Channel[int]", first: int) -> None:
    for n in range(first, first + PER_PRODUCER):
        jobs.send(n)


def main() -> None:
    jobs: "gc.Channel[int]" = gc.Channel(8)
    producers = gc.WaitGroup()
    for p in range(PRODUCERS):
        producers.go(produce, jobs, p * PER_PRODUCER)

    def close_after_producers() -> None:
        producers.wait()
        jobs.close()  # only once every send has returned

    closer = threading.Thread(target=close_after_producers)
    closer.start()

    received: List[List[int]] = [[] for _ in range(CONSUMERS)]

    def consume(mine: List[int]) -> None:
        for job in jobs:  # ends when jobs is closed and drained
            mine.append(job)

    with gc.WaitGroup() as consumers:
        for mine in received:
            consumers.go(consume, mine)
    closer.join()

    everything = sorted(n for mine in received for n in mine)
    assert everything == list(range(PRODUCERS * PER_PRODUCER)), "a job was lost or duplicated"
    print(f"{PRODUCERS} producers, {CONSUMERS} consumers: "
          f"{len(everything)} jobs, each exactly once (per consumer: {[len(m) for m in received]})")


if __name__ == "__main__":
    main()
