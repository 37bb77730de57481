"""Loops without add_reader (Windows' proactor, some GUI loops): a watcher
thread sleeps on the hub's descriptor for them.  It runs only while an
operation of its loop waits, exits once the loop is idle, comes back with
the next park, and no wake-up is lost in between."""
import asyncio
import collections
import threading
import time
from typing import Any, Awaitable, Callable, List, TypeVar

import pygochan as gc
from conftest import WAIT_TIMEOUT, join_all, parked, start, wait_for

T = TypeVar("T")

HUB_THREAD = "pygochan-aio-hub"


class NoReaderLoop(asyncio.SelectorEventLoop):
    """A loop that cannot watch a descriptor, like the proactor loop."""

    def add_reader(self, *args: Any) -> None:
        raise NotImplementedError


def hub_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == HUB_THREAD]


def no_hub_thread() -> bool:
    return not hub_threads()


def run_on(loop: asyncio.AbstractEventLoop, coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro_fn(), 60)

    return loop.run_until_complete(bounded())


async def ping_pong(rounds: int) -> None:
    """A task and a thread pass a counter back and forth."""
    ping: gc.Channel[int] = gc.Channel()
    pong: gc.Channel[int] = gc.Channel()

    def echo() -> None:
        for _ in range(rounds):
            pong.send(ping.recv(timeout=WAIT_TIMEOUT) + 1, timeout=WAIT_TIMEOUT)

    t = start(echo)
    for i in range(rounds):
        await ping.asend(2 * i, timeout=WAIT_TIMEOUT)
        assert await pong.arecv(timeout=WAIT_TIMEOUT) == 2 * i + 1
    join_all([t])


async def storm(capacity: int, senders: int = 4, each: int = 250) -> None:
    """Threads send at once to one task: every value arrives exactly once."""
    ch: gc.Channel[int] = gc.Channel(capacity)

    def produce(k: int) -> None:
        for i in range(each):
            ch.send(k * each + i, timeout=WAIT_TIMEOUT)

    threads = [start(produce, k) for k in range(senders)]
    got = [await ch.arecv(timeout=WAIT_TIMEOUT) for _ in range(senders * each)]
    join_all(threads)
    counts = collections.Counter(got)
    assert sorted(counts) == list(range(senders * each))
    assert set(counts.values()) == {1}, [v for v, n in counts.items() if n > 1]
    # each sender's values in its own order
    for k in range(senders):
        mine = [v for v in got if v // each == k]
        assert mine == sorted(mine)


def test_fallback_watcher_exits_when_idle_and_returns_on_the_next_park() -> None:
    loop = NoReaderLoop()
    try:
        run_on(loop, lambda: ping_pong(300))
        # The loop is open but nothing of it waits: no thread watches it.
        wait_for(no_hub_thread, what="the hub's watcher exits after the ping-pong")

        async def park_then_complete() -> None:
            ch: gc.Channel[str] = gc.Channel()
            task = asyncio.ensure_future(ch.arecv(timeout=WAIT_TIMEOUT))
            await parked(ch, receivers=1)
            assert hub_threads(), "a parked operation has a watcher"
            t = start(ch.send, "late", timeout=WAIT_TIMEOUT)
            assert await task == "late"
            join_all([t])

        run_on(loop, park_then_complete)
        wait_for(no_hub_thread, what="the watcher exits again")

        for capacity in (0, 1, 64):
            run_on(loop, lambda: storm(capacity))
            wait_for(no_hub_thread, what=f"the watcher exits after a storm (capacity {capacity})")

        # Idle while the loop runs, too.
        async def idle_while_running() -> None:
            await ping_pong(50)
            for _ in range(int(WAIT_TIMEOUT / 0.01)):
                if no_hub_thread():
                    break
                await asyncio.sleep(0.01)
            assert no_hub_thread(), "the watcher of a running, idle loop exits"
            await ping_pong(50)

        run_on(loop, idle_while_running)
        wait_for(no_hub_thread, what="the watcher exits after the last ping-pong")
    finally:
        loop.close()


def test_fallback_watcher_exits_after_timeouts_and_cancels() -> None:
    """Operations that end without a wake-up (a timeout, a cancel) leave
    nothing to watch either."""
    loop = NoReaderLoop()
    try:
        async def main() -> None:
            ch: gc.Channel[int] = gc.Channel()
            try:
                await ch.arecv(timeout=0.01)
            except TimeoutError:
                pass
            else:
                raise AssertionError("nothing was sent")
            task = asyncio.ensure_future(ch.arecv())
            await parked(ch, receivers=1)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

        run_on(loop, main)
        wait_for(no_hub_thread, what="the watcher exits after a timeout and a cancel")
        assert gc.aio_stats(loop)["parked"] == 0
    finally:
        loop.close()


def test_parks_racing_the_watchers_exit_lose_no_wake_up() -> None:
    """Short bursts separated by idle gaps of varying length: a park may
    land while the watcher is deciding to exit.  Every operation completes."""
    loop = NoReaderLoop()
    ch: gc.Channel[int] = gc.Channel()
    go = threading.Event()

    def sender(n: int) -> None:
        go.wait(WAIT_TIMEOUT)
        for i in range(n):
            ch.send(i, timeout=WAIT_TIMEOUT)

    try:
        for gap in (0.0, 0.3, 0.9, 1.0, 1.1):
            async def burst(gap: float = gap) -> None:
                go.clear()
                t = start(sender, 3)
                task = asyncio.ensure_future(ch.arecv(timeout=WAIT_TIMEOUT))
                await parked(ch, receivers=1)
                go.set()
                got = [await task] + [await ch.arecv(timeout=WAIT_TIMEOUT) for _ in range(2)]
                assert got == [0, 1, 2]
                join_all([t])
                await asyncio.sleep(gap)

            run_on(loop, burst)
        wait_for(no_hub_thread, what="the watcher exits after the bursts")
    finally:
        loop.close()


def test_watcher_exiting_at_every_turn_loses_no_wake_up(monkeypatch: Any, rng: Any) -> None:
    """A watcher that sleeps only a few milliseconds exits in almost every
    gap between operations, so parks keep racing its exit: everything still
    completes exactly once."""
    import pygochan._aio as aio

    monkeypatch.setattr(aio, "_WATCH_TIMEOUT", 0.002)
    loop = NoReaderLoop()

    async def gaps() -> None:
        ch: gc.Channel[int] = gc.Channel(rng.choice([0, 1]))
        delays = [rng.choice([0.0, 0.0005, 0.002, 0.004]) for _ in range(200)]

        def produce() -> None:
            for i, delay in enumerate(delays):
                time.sleep(delay)
                ch.send(i, timeout=WAIT_TIMEOUT)

        t = start(produce)
        got = []
        for _ in delays:
            got.append(await ch.arecv(timeout=WAIT_TIMEOUT))
            await asyncio.sleep(rng.choice([0.0, 0.002, 0.004]))
        join_all([t])
        assert got == list(range(len(delays)))

    try:
        run_on(loop, gaps)
        run_on(loop, lambda: ping_pong(300))
        for capacity in (0, 16):
            run_on(loop, lambda: storm(capacity))
        wait_for(no_hub_thread, what="the watcher exits")
    finally:
        loop.close()


def test_loop_without_add_reader_uses_the_fallback():
    class NoReaderLoop(asyncio.SelectorEventLoop):
        def add_reader(self, *args):
            raise NotImplementedError

    ch = gc.Channel()

    async def main():
        t = start(lambda: [ch.send(i, timeout=WAIT_TIMEOUT) for i in range(200)])
        got = [await ch.arecv(timeout=WAIT_TIMEOUT) for _ in range(200)]
        join_all([t])
        assert got == list(range(200))

    loop = NoReaderLoop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


def test_fallback_needs_no_select_poll(monkeypatch: Any) -> None:
    # Windows' select module has select() only: the watcher sleeps on the
    # hub's descriptor in C (_core._Hub.wait: poll() on POSIX, WSAPoll() on
    # Windows), not through select.poll.
    import select

    loop = NoReaderLoop()  # its own selector exists before the attributes go
    for name in ("poll", "epoll", "devpoll", "kqueue"):
        monkeypatch.delattr(select, name, raising=False)
    try:
        run_on(loop, lambda: ping_pong(50))
        run_on(loop, lambda: storm(0))
        wait_for(no_hub_thread, what="the watcher exits")
    finally:
        loop.close()
