"""The awaitables of pygochan's async methods are coroutines of their own.

``ch.arecv()``, ``ch.asend()``, ``ch.arecv_ok()``, ``gc.aselect()``,
``ctx.adone()`` and each step of ``async for`` return the same operation a
thread call runs, driven by the event loop.  It behaves as a coroutine
does: nothing happens until it is awaited (or run as a task), it runs once,
and closing or throwing into it before it ran has no effect.
"""

import asyncio
import collections.abc
import gc as gcmod
import threading

import pytest

import pygochan as gc


def run(coro):
    return asyncio.run(coro)


def test_the_async_methods_return_coroutines_that_asyncio_accepts():
    ch = gc.Channel(1)

    async def main():
        ch.send(7)
        task = asyncio.create_task(ch.arecv())  # a coroutine is required here
        assert await task == 7
        sender = asyncio.create_task(ch.asend(8))
        await sender
        assert await asyncio.wait_for(ch.arecv_ok(), 1) == (8, True)

    made = [ch.arecv(), ch.asend(1), ch.arecv_ok(), gc.aselect(gc.recv(ch)),
            gc.background().adone(timeout=0)]
    try:
        for aw in made:
            assert asyncio.iscoroutine(aw)
            assert isinstance(aw, collections.abc.Coroutine)
    finally:
        for aw in made:
            aw.close()
    run(main())


def test_an_awaitable_never_awaited_has_no_effect():
    ch = gc.Channel(2)
    ch.send("kept")
    recv = ch.arecv()
    send = ch.asend("never sent")
    del recv, send
    gcmod.collect()
    assert len(ch) == 1
    assert ch.recv(timeout=0) == "kept"
    assert len(ch) == 0


def test_closing_or_throwing_into_an_unstarted_awaitable_has_no_effect():
    ch = gc.Channel(2)
    ch.send("kept")
    recv = ch.arecv()
    recv.close()
    send = ch.asend("never sent")
    with pytest.raises(KeyError):
        send.throw(KeyError("boom"))
    with pytest.raises(ValueError):
        ch.arecv().throw(ValueError)
    assert len(ch) == 1
    # once closed, it cannot be started any more
    with pytest.raises(RuntimeError):
        recv.send(None)


def test_an_awaitable_runs_once():
    ch = gc.Channel(2)
    ch.send(1)
    ch.send(2)

    async def main():
        aw = ch.arecv()
        assert await aw == 1
        with pytest.raises(RuntimeError):
            await aw
        assert len(ch) == 1  # the second await received nothing

    run(main())


def test_errors_of_the_arguments_are_raised_at_the_call_and_of_the_state_at_the_await():
    ch = gc.Channel(1)
    with pytest.raises(ValueError):
        ch.arecv(timeout=-1)
    with pytest.raises(TypeError):
        ch.asend(1, ctx="not a context")
    with pytest.raises(TypeError):
        ch.recv_only().asend(1)
    ctx, cancel = gc.with_cancel(gc.background())

    async def main():
        aw = ch.arecv(ctx=ctx)
        cancel()  # done before the await: the await raises, takes nothing
        ch.send("kept")
        with pytest.raises(gc.Canceled):
            await aw
        assert ch.recv(timeout=0) == "kept"

    run(main())


def test_a_value_returned_through_stop_iteration_keeps_its_shape():
    # (value, ok) and exceptions as values must not be taken for
    # StopIteration's arguments
    ch = gc.Channel(4)
    err = KeyError("a value, not an error")

    async def main():
        ch.send((1, 2))
        ch.send(err)
        ch.send(None)
        assert await ch.arecv() == (1, 2)
        assert await ch.arecv() is err
        assert await ch.arecv() is None
        ch.close()
        assert await ch.arecv_ok() == (None, False)

    run(main())


def test_aselect_default_never_suspends_and_selects_like_select():
    ch = gc.Channel(1)

    async def main():
        assert await gc.aselect(gc.recv(ch), default=True) == (-1, None, False)
        ch.send(5)
        res = await gc.aselect(gc.recv(ch), default=True)
        assert (res.index, res.value, res.ok) == (0, 5, True)
        with pytest.raises(TypeError):
            await gc.aselect("not a case")
        with pytest.raises(ValueError):
            gc.aselect(gc.recv(ch), default=True, timeout=1)

    run(main())


def test_adone_of_a_context_that_is_never_done_ends_by_its_timeout():
    async def main():
        with pytest.raises(TimeoutError):
            await gc.background().adone(timeout=0.01)
        ctx, cancel = gc.with_cancel(gc.background())
        threading.Timer(0.01, cancel).start()
        await ctx.adone(timeout=5)
        assert ctx.err() is not None

    run(main())


def test_async_for_over_a_send_only_view_is_refused_at_once():
    ch = gc.Channel(1)
    ch.send(1)

    async def main():
        with pytest.raises(TypeError, match="send-only"):
            async for _ in ch.send_only():
                pass

    run(main())
    assert len(ch) == 1



def test_timeout_counts_from_the_await_not_from_the_call():
    # An awaitable made well before it is awaited: its timeout= starts when
    # the await does, as an async def's body would start its clock.
    ch = gc.Channel()

    async def main():
        aw = ch.arecv(timeout=1.0)
        await asyncio.sleep(1.2)  # longer than the timeout, before awaiting
        threading.Timer(0.05, ch.send, args=("late",)).start()
        return await aw

    assert run(main()) == "late"
