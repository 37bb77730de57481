"""Request/response over a reply channel.

A request carries its own reply channel (buffered, capacity 1, so the
server never waits for a client that gave up).  One server thread owns the
work; any number of clients send requests and wait for their own answer,
with a timeout.

Go:
    type request struct { n int; reply chan int }
    go func() { for req := range requests { req.reply <- req.n * req.n } }()
    req := request{7, make(chan int, 1)}; requests <- req; v := <-req.reply
"""
import threading
from dataclasses import dataclass, field
from typing import Dict

import pygochan as gc


@dataclass(frozen=True)
class Request:
    n: int
    reply: "gc.Channel[int]" = field(default_factory=lambda: gc.Channel(1))


def serve(requests: "gc.Channel[Request]") -> None:
    for req in requests:  # until the channel is closed
        req.reply.send(req.n * req.n)  # capacity 1: never blocks


def ask(requests: "gc.Channel[Request]", n: int) -> int:
    req = Request(n)
    requests.send(req, timeout=5)
    return req.reply.recv(timeout=5)


def main() -> None:
    requests: "gc.Channel[Request]" = gc.Channel()
    server = threading.Thread(target=serve, args=(requests,))
    server.start()
    answers: Dict[int, int] = {}
    lock = threading.Lock()

    def client(first: int) -> None:
        for n in range(first, first + 25):
            answer = ask(requests, n)
            with lock:
                answers[n] = answer

    with gc.WaitGroup() as clients:
        for c in range(4):
            clients.go(client, c * 25)
    requests.close()
    server.join()
    assert answers == {n: n * n for n in range(100)}
    print(f"4 clients got {len(answers)} answers, each on its own reply channel")


if __name__ == "__main__":
    main()
