"""Producer/consumer: close() tells the consumers there is no more work.

Go:
    jobs := make(chan int, 8)
    go func() { for i := 0; i < 100; i++ { jobs <- i }; close(jobs) }()
    for j := range jobs { ... }
"""
import threading

import pygochan as gc


def main() -> None:
    jobs: "gc.Channel[int]" = gc.Channel(8)
    totals = []

    def consumer() -> None:
        total = 0
        for job in jobs:          # ends when jobs is closed and drained
            total += job
        totals.append(total)

    consumers = [threading.Thread(target=consumer) for _ in range(3)]
    for t in consumers:
        t.start()
    for i in range(100):
        jobs.send(i)
    jobs.close()                  # only the sender closes
    for t in consumers:
        t.join()
    assert sum(totals) == sum(range(100)), totals
    print(f"3 consumers summed {sum(totals)} (per consumer: {totals})")


if __name__ == "__main__":
    main()
