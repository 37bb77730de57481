"""Leave concurrency to the caller.

Two ways to offer "walk a directory tree":

- walk(root, visit): synchronous; calls visit(path) for each file and
  returns when done.  The caller decides whether it runs in a thread, how
  to stop it (visit can raise) and how to collect results.
- walk_chan(root): starts a thread and returns a channel of paths.  Easy to
  range over — but if the caller stops reading early, the thread blocks
  forever on its next send (a leak), unless the API also takes a context
  for the caller to cancel.  The caller also cannot tell an error from the
  end of the walk.

Prefer the first: it is simpler, and a caller who wants concurrency can add
it in three lines (shown in main).  (Dave Cheney, "Practical Go".)

Go:
    func ListDirectory(dir string, fn func(string))      // preferred
    func ListDirectory(dir string) chan string           // caller can't stop it
"""
import os
import tempfile
import threading
from typing import Callable, List, Optional

import pygochan as gc


def walk(root: str, visit: Callable[[str], None]) -> None:
    for directory, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            visit(os.path.join(directory, name))


def walk_chan(root: str, ctx: Optional[gc.Context] = None) -> "gc.Channel[str]":
    paths: "gc.Channel[str]" = gc.Channel()

    def produce() -> None:
        try:
            walk(root, lambda path: paths.send(path, ctx=ctx))
        except gc.Canceled:
            return  # the caller gave up: stop instead of blocking forever
        paths.close()

    threading.Thread(target=produce, name="walk_chan producer", daemon=True).start()
    return paths


def producers() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "walk_chan producer"]


def make_tree(root: str) -> int:
    count = 0
    for d in range(3):
        sub = os.path.join(root, f"dir{d}")
        os.makedirs(sub)
        for f in range(4):
            with open(os.path.join(sub, f"file{f}.txt"), "w") as fh:
                fh.write("x")
            count += 1
    return count


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        total = make_tree(root)

        # 1. the callback API, synchronously
        found: List[str] = []
        walk(root, found.append)
        assert len(found) == total

        # ... and the caller adding concurrency themselves
        in_background: List[str] = []
        t = threading.Thread(target=walk, args=(root, in_background.append))
        t.start()
        t.join()
        assert in_background == found

        # 2. the channel API: fine when read to the end
        assert list(walk_chan(root)) == found

        # Stopping early leaves the producer blocked on its next send...
        early = walk_chan(root)
        first = early.recv()
        [leaked] = producers()
        leaked.join(timeout=0.1)
        assert leaked.is_alive()  # blocked for good: nobody will read
        assert len(list(early)) == total - 1  # (drain it, to end the demonstration)
        leaked.join()

        # ...unless a context lets the caller end it.
        ctx, cancel = gc.with_cancel(gc.background())
        cancellable = walk_chan(root, ctx)
        assert cancellable.recv() == first
        [producer] = producers()
        cancel()  # the producer's pending send raises Canceled and it returns
        producer.join(timeout=5)
        assert not producer.is_alive()
    print(f"walked {total} files: callback API, caller-made thread, channel API; "
          "an abandoned channel walk keeps its thread blocked unless given a ctx")


if __name__ == "__main__":
    main()
