"""A variable owned by one thread, served over read and write channels.

"Do not communicate by sharing memory; share memory by communicating": one
monitor thread owns the counter; everyone else asks it to change it (a
write channel) or to report it (a read channel carrying a reply channel).
No lock is needed because only one thread ever touches the value.

Go:
    go func() {
        var value int
        for {
            select {
            case delta := <-writes: value += delta
            case reply := <-reads: reply <- value
            }
        }
    }()
"""
import pygochan as gc

CLIENTS, INCREMENTS = 8, 500


class Counter:
    def __init__(self) -> None:
        self._writes: "gc.Channel[int]" = gc.Channel()
        self._reads: "gc.Channel[gc.Channel[int]]" = gc.Channel()
        self._owner = gc.WaitGroup()
        self._owner.go(self._monitor)

    def _monitor(self) -> None:
        value = 0  # only this thread ever reads or writes it
        write, read = gc.recv(self._writes), gc.recv(self._reads)
        while True:
            index, message, ok = gc.select(write, read)
            if not ok:
                return  # closed: stop serving
            if index == 0:
                value += message
            else:
                message.send(value)

    def add(self, delta: int) -> None:
        self._writes.send(delta)

    def get(self) -> int:
        reply: "gc.Channel[int]" = gc.Channel(1)
        self._reads.send(reply)
        return reply.recv()

    def close(self) -> None:
        self._writes.close()
        self._owner.wait()


def main() -> None:
    counter = Counter()

    def client() -> None:
        for _ in range(INCREMENTS):
            counter.add(1)

    with gc.WaitGroup() as clients:
        for _ in range(CLIENTS):
            clients.go(client)
    total = counter.get()
    counter.close()
    assert total == CLIENTS * INCREMENTS, total
    print(f"{CLIENTS} clients x {INCREMENTS} increments through one owner thread: {total}")


if __name__ == "__main__":
    main()
