"""A pool of reusable resources: acquire, release, close.

From "Go in Action"'s pool package: idle resources wait in a buffered
channel.  acquire() takes one, or makes a new one while fewer than `limit`
exist, or waits (with a timeout) for one to come back; release() returns it
to the channel, or closes it when the pool is closed.  close() closes the
channel and every idle resource.

Go:
    select {
    case r, ok := <-p.resources: ...          // reuse
    default: return p.factory()               // or make one
    }
"""
import itertools
import threading
from typing import Callable, List

import pygochan as gc


class Connection:
    _ids = itertools.count(1)

    def __init__(self) -> None:
        self.id = next(self._ids)
        self.closed = False
        self.uses = 0

    def close(self) -> None:
        self.closed = True


class ResourcePool:
    def __init__(self, factory: Callable[[], Connection], limit: int) -> None:
        self._factory = factory
        self._idle: "gc.Channel[Connection]" = gc.Channel(limit)
        self._slots: "gc.Channel[None]" = gc.Channel(limit)  # one token per resource made
        self._lock = threading.Lock()
        self._closed = False
        self.made: List[Connection] = []

    def acquire(self, timeout: float = 5.0) -> Connection:
        make_one = gc.send(self._slots, None)  # ready while fewer than limit exist
        index, conn, ok = gc.select(gc.recv(self._idle), make_one, timeout=timeout)
        if index == 0:
            if not ok:
                raise RuntimeError("acquire on a closed pool")
            reused: Connection = conn
            return reused
        conn = self._factory()
        with self._lock:
            self.made.append(conn)
        return conn

    def release(self, conn: Connection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.send(conn)  # room for every resource made: never blocks
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._idle.close()
        for conn in self._idle:  # what is idle now; the rest close on release
            conn.close()


def main() -> None:
    limit = 3
    pool = ResourcePool(Connection, limit)
    in_use, peak = [0], [0]
    count_lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            conn = pool.acquire()
            with count_lock:
                in_use[0] += 1
                peak[0] = max(peak[0], in_use[0])
            conn.uses += 1
            with count_lock:
                in_use[0] -= 1
            pool.release(conn)

    with gc.WaitGroup() as wg:
        for _ in range(8):
            wg.go(worker)
    pool.close()
    assert len(pool.made) <= limit and peak[0] <= limit
    assert sum(c.uses for c in pool.made) == 8 * 50
    assert all(c.closed for c in pool.made)
    print(f"8 threads x 50 uses on {len(pool.made)} connections (limit {limit}); all closed")


if __name__ == "__main__":
    main()
