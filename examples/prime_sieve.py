"""Go's concurrent prime sieve: a chain of filter threads, one per prime.

Go (from the Go tour):
    func Generate(ch chan<- int) { for i := 2; ; i++ { ch <- i } }
    func Filter(in <-chan int, out chan<- int, prime int) {
        for { i := <-in; if i%prime != 0 { out <- i } }
    }
"""
import threading

import pygochan as gc

N = 50


def generate(ch: "gc.Channel[int]", stop: "gc.Channel[None]") -> None:
    i = 2
    while gc.select(gc.send(ch, i), gc.recv(stop)).index == 0:
        i += 1


def filter_multiples(inp: "gc.Channel[int]", out: "gc.Channel[int]", prime: int,
                     stop: "gc.Channel[None]") -> None:
    while True:
        index, value, _ = gc.select(gc.recv(inp), gc.recv(stop))
        if index == 1:
            return
        if value % prime != 0:
            if gc.select(gc.send(out, value), gc.recv(stop)).index == 1:
                return


def main() -> None:
    stop: "gc.Channel[None]" = gc.Channel()   # closed to stop every stage
    ch: "gc.Channel[int]" = gc.Channel()
    threads = [threading.Thread(target=generate, args=(ch, stop))]
    threads[0].start()
    primes = []
    for _ in range(N):
        prime = ch.recv()
        primes.append(prime)
        nxt: "gc.Channel[int]" = gc.Channel()
        t = threading.Thread(target=filter_multiples, args=(ch, nxt, prime, stop))
        t.start()
        threads.append(t)
        ch = nxt
    stop.close()
    for t in threads:
        t.join()
    expected = [n for n in range(2, 230) if all(n % d for d in range(2, int(n ** 0.5) + 1))][:N]
    assert primes == expected, primes
    print(f"first {N} primes via {len(threads)} threads: {primes[:10]} ... {primes[-1]}")


if __name__ == "__main__":
    main()
