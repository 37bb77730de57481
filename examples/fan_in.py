"""Fan-in: merge several channels with select until all are closed.

A closed input's case is replaced by a nil case (None), which is never
ready, exactly as Go programs set a channel variable to nil.

Go:
    for a != nil || b != nil {
        select {
        case v, ok := <-a: if !ok { a = nil; continue }; out = append(out, v)
        case v, ok := <-b: if !ok { b = nil; continue }; out = append(out, v)
        }
    }
"""
import threading
from typing import List, Optional

import pygochan as gc


def generate(name: str, n: int) -> "gc.Channel[str]":
    ch: "gc.Channel[str]" = gc.Channel()

    def run() -> None:
        for i in range(n):
            ch.send(f"{name}{i}")
        ch.close()

    threading.Thread(target=run).start()
    return ch


def main() -> None:
    inputs = [generate("a", 20), generate("b", 30), generate("c", 10)]
    live: "List[Optional[gc.Channel[str]]]" = list(inputs)  # None: finished
    merged = []
    while any(ch is not None for ch in live):
        index, value, ok = gc.select(*[gc.recv(ch) for ch in live], timeout=10)
        if not ok:
            live[index] = None                # disable this case from now on
            continue
        merged.append(value)
    assert len(merged) == 60 and len(set(merged)) == 60
    for prefix, n in (("a", 20), ("b", 30), ("c", 10)):
        mine = [v for v in merged if v[0] == prefix]
        assert mine == [f"{prefix}{i}" for i in range(n)], "per-input order kept"
    print(f"merged {len(merged)} values from 3 inputs, each in its own order")


if __name__ == "__main__":
    main()
