"""The lifecycle of event loops and their hubs: asyncio.run's exit, a loop
closed or released with parked tasks, descriptors, garbage collection, fork,
uvloop, and asyncio loaded only by the first awaited operation."""
import asyncio
import gc as pygc
import os
import subprocess
import sys

import pytest

import pygochan as gc
from conftest import WAIT_TIMEOUT, join_all, needs_fork, needs_proc_fd, parked, run_coroutine as run, start


def test_asyncio_run_exit_leaves_values_receivable_by_threads():
    ch = gc.Channel(4)

    async def main():
        for i in range(4):
            ch.send(i, timeout=0)
        # receivers parked on another channel, senders parked on a full one
        other = gc.Channel()
        for _ in range(5):
            asyncio.ensure_future(other.arecv())
        for i in range(3):
            asyncio.ensure_future(ch.asend(100 + i))
        await asyncio.sleep(0.01)
        # return with every task still parked: asyncio.run cancels them

    asyncio.run(main())
    assert [ch.recv(timeout=0) for _ in range(4)] == [0, 1, 2, 3]
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0)  # the cancelled sends had no effect


def test_closing_a_loop_with_parked_tasks_releases_them():
    ch = gc.Channel()
    loop = asyncio.new_event_loop()
    tasks = [loop.create_task(ch.arecv()) for _ in range(3)]
    loop.run_until_complete(asyncio.sleep(0.01))
    assert "waiting_receivers=3" in repr(ch)
    loop.close()  # a user error: tasks still waiting
    with pytest.raises(TimeoutError):
        ch.send(1, timeout=0)  # no receiver left registered
    for t in tasks:
        t._log_destroy_pending = False  # pending for good, on purpose


def test_release_loop_of_a_loop_that_never_runs_again():
    ch = gc.Channel(1)
    ch.send("kept")
    loop = asyncio.new_event_loop()
    tasks = [loop.create_task(ch.asend(i)) for i in range(2)]
    loop.run_until_complete(asyncio.sleep(0.01))
    assert gc.release_loop(loop) == 2
    assert gc.release_loop(loop) == 0
    assert ch.recv(timeout=0) == "kept"
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0)  # the parked sends had no effect
    for t in tasks:
        t._log_destroy_pending = False
    loop.close()


@needs_proc_fd
def test_many_asyncio_runs_leak_no_descriptors():
    def fds():
        return len(os.listdir("/proc/self/fd"))

    async def one():
        ch = gc.Channel()
        t = asyncio.ensure_future(ch.arecv())  # parks: the loop gets a hub
        await ch.asend(1)
        assert await t == 1

    asyncio.run(one())
    pygc.collect()
    before = fds()
    for _ in range(200):
        asyncio.run(one())
    pygc.collect()
    assert fds() <= before + 2


def test_parked_task_is_not_collected_from_under_the_channel():
    ch = gc.Channel()
    got = []

    async def main():
        async def consumer():
            got.append(await ch.arecv())

        asyncio.ensure_future(consumer())  # no strong reference kept
        await parked(ch, receivers=1)
        pygc.collect()
        start(ch.send, "late", timeout=WAIT_TIMEOUT)
        for _ in range(1000):
            if got:
                break
            await asyncio.sleep(0.005)
        assert got == ["late"]

    run(main)


@needs_fork
def test_fork_child_starts_with_no_hubs():
    async def warm():
        ch = gc.Channel()
        t = asyncio.ensure_future(ch.arecv())  # parks: the loop gets a hub
        await parked(ch, receivers=1)
        ch.send(1, timeout=0)
        assert await t == 1
        return len(gc._aio._registry)

    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(warm()) == 1
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if len(gc._aio._registry) == 0 and asyncio.run(warm()) == 1:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    loop.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_uvloop_if_installed():
    uvloop = pytest.importorskip("uvloop")
    ch = gc.Channel()

    async def main():
        def produce():
            for i in range(500):
                ch.send(i, timeout=WAIT_TIMEOUT)
            ch.close()

        t = start(produce)
        got = [v async for v in ch]
        join_all([t])
        assert got == list(range(500))
        t2 = asyncio.ensure_future(ch.arecv_ok())
        assert await t2 == (None, False)

    if hasattr(uvloop, "run"):
        uvloop.run(main())
    else:
        uvloop.install()
        asyncio.run(main())


def test_importing_pygochan_does_not_import_asyncio():
    # A program that never awaits does not load asyncio (CPython 3.12's
    # _asyncio corrupts an isolated subinterpreter's finalization); the
    # first awaited operation loads it.
    code = (
        "import sys, pygochan as gc\n"
        "assert 'asyncio' not in sys.modules, 'imported with pygochan'\n"
        "ch = gc.Channel(1)\n"
        "ch.send(1)\n"
        "assert ch.recv() == 1 and 'asyncio' not in sys.modules\n"
        "import asyncio\n"
        "async def main():\n"
        "    c = gc.Channel()\n"
        "    asyncio.get_running_loop().call_later(0.01, c.close)\n"
        "    return await c.arecv_ok(timeout=5)\n"
        "print(asyncio.run(main()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(None, False)"
