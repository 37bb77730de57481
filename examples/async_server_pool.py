"""An asyncio server handing jobs to a thread pool through channels, shut
down with one context.

Each connection's handler sends its job on `jobs` with `await jobs.asend()`
and awaits its own reply channel; worker threads range over `jobs`.  One
context stops everything: handlers pass `ctx=` to their waits, the server
loop awaits `ctx.adone()`, workers leave when `jobs` is closed.

Go:
    select { case jobs <- j: case <-ctx.Done(): return ctx.Err() }
"""
import asyncio
from typing import List, Tuple

import pygochan as gc

Job = Tuple[int, "gc.Channel[int]"]


def worker(jobs: "gc.Channel[Job]") -> None:
    for n, reply in jobs:
        reply.send(n * n)  # CPU work in a thread; the reply channel is buffered


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 jobs: "gc.Channel[Job]", ctx: gc.Context) -> None:
    try:
        while line := await reader.readline():
            reply: "gc.Channel[int]" = gc.Channel(1)
            await jobs.asend((int(line), reply), ctx=ctx)
            writer.write(b"%d\n" % await reply.arecv(ctx=ctx))
            await writer.drain()
    except (gc.Canceled, ConnectionError):
        pass  # shutting down
    finally:
        writer.close()


async def client(port: int, numbers: List[int]) -> List[int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    for n in numbers:
        writer.write(b"%d\n" % n)
        await writer.drain()
        out.append(int(await reader.readline()))
    writer.close()
    return out


async def serve() -> None:
    ctx, stop = gc.with_cancel(gc.background())
    jobs: "gc.Channel[Job]" = gc.Channel(8)
    pool = gc.WaitGroup()
    for _ in range(3):
        pool.go(worker, jobs)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, jobs, ctx), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    results = await asyncio.gather(*(client(port, list(range(k, k + 20))) for k in range(5)))
    assert results == [[n * n for n in range(k, k + 20)] for k in range(5)]

    stop()                      # one context ends every handler's wait
    await ctx.adone()
    server.close()
    await server.wait_closed()
    jobs.close()                # workers drain and leave
    await pool.wait_async()
    print(f"served {sum(map(len, results))} requests, shut down cleanly")


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
