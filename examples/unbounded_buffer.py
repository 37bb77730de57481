"""An unbounded buffer between two unbuffered channels.

The middle thread selects on "receive more input" and "send the oldest
item"; when it holds nothing, the send case uses a nil channel (None) so it
is disabled, the same trick as in Go.  (gc.Channel(gc.UNBOUNDED) does this
for you; this shows the pattern.)
"""
import collections
import threading
from typing import Optional

import pygochan as gc


def buffer(source: "gc.Channel[int]", out: "gc.Channel[int]") -> None:
    pending: "collections.deque[int]" = collections.deque()
    inp: "Optional[gc.Channel[int]]" = source
    while True:
        send_to = out if pending else None          # nil case when empty
        head = pending[0] if pending else 0         # not sent while send_to is None
        index, value, ok = gc.select(gc.recv(inp), gc.send(send_to, head))
        if index == 0:
            if not ok:
                inp = None                           # input finished
                if not pending:
                    break
                continue
            pending.append(value)
        else:
            pending.popleft()
            if inp is None and not pending:
                break
    out.close()


def main() -> None:
    inp: "gc.Channel[int]" = gc.Channel()
    out: "gc.Channel[int]" = gc.Channel()
    middle = threading.Thread(target=buffer, args=(inp, out))
    middle.start()
    for i in range(1000):         # the producer never waits for the consumer
        inp.send(i, timeout=5)
    inp.close()
    received = list(out)
    middle.join()
    assert received == list(range(1000))
    print(f"passed {len(received)} values through the unbounded buffer in order")


if __name__ == "__main__":
    main()
