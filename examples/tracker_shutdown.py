"""A tracker whose shutdown(ctx) waits for in-flight events, or gives up.

The tracker records events in background threads so callers never wait for
it.  Shutting down waits for those threads — unless the caller's context is
done first: shutdown selects on "everything finished" (a channel closed after
the WaitGroup) and ctx.done().

Go (after Dave Cheney's "Tracker"):
    func (t *Tracker) Shutdown(ctx context.Context) error {
        ch := make(chan struct{})
        go func() { t.wg.Wait(); close(ch) }()
        select {
        case <-ch: return nil
        case <-ctx.Done(): return ctx.Err()
        }
    }
"""
import threading
import time
from typing import Callable, List, Optional

import pygochan as gc


class Tracker:
    def __init__(self, write: Callable[[str], object]) -> None:
        self._wg = gc.WaitGroup()
        self._write = write  # slow: a database, a log shipper
        self._lock = threading.Lock()
        self.recorded: List[str] = []

    def event(self, name: str) -> None:
        """Record name in the background; returns at once."""
        self._wg.go(self._record, name)

    def _record(self, name: str) -> None:
        self._write(name)
        with self._lock:
            self.recorded.append(name)

    def shutdown(self, ctx: gc.Context) -> Optional[BaseException]:
        """None once every event is recorded, or ctx.err() if ctx is done first."""
        finished: "gc.Channel[None]" = gc.Channel()

        def close_when_recorded() -> None:
            self._wg.wait()
            finished.close()

        threading.Thread(target=close_when_recorded, daemon=True).start()
        index, _, _ = gc.select(gc.recv(finished), gc.recv(ctx.done()))
        return None if index == 0 else ctx.err()


def main() -> None:
    patient = Tracker(write=lambda name: time.sleep(0.01))
    for i in range(10):
        patient.event(f"event {i}")
    with gc.with_timeout(gc.background(), 5.0) as ctx:  # cancels on exit
        assert patient.shutdown(ctx) is None
    assert len(patient.recorded) == 10

    storage_down = threading.Event()  # writes hang until it is set
    hurried = Tracker(write=lambda name: storage_down.wait())
    for i in range(3):
        hurried.event(f"event {i}")
    with gc.with_timeout(gc.background(), 0.02) as ctx:
        err = hurried.shutdown(ctx)
    assert isinstance(err, gc.DeadlineExceeded) and hurried.recorded == []
    print(f"generous deadline: all {len(patient.recorded)} events recorded; "
          f"short deadline: gave up with {err!r}")
    storage_down.set()
    assert hurried.shutdown(gc.background()) is None  # nothing left running
    assert len(hurried.recorded) == 3


if __name__ == "__main__":
    main()
