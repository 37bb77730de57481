"""Regenerate tour.ipynb from these cells (run from the repository root):

    python3 docs/notebooks/make_tour.py

tests/docs/test_notebook.py executes the notebook in a real kernel."""
import nbformat
from nbformat.v4 import new_notebook, new_markdown_cell, new_code_cell

cells = [
    new_markdown_cell("""# A tour of pygochan in Jupyter

Channels, `select`, contexts, the worker pool — and what happens when you press
**Interrupt kernel** while a cell is blocked. Every blocking call releases the GIL
and answers the interrupt within 100 ms, with no effect on the channel."""),
    new_code_cell("""import threading
import time

import pygochan as gc

gc.__version__"""),
    new_markdown_cell("## Channels\n\nA buffered channel, its repr, and iteration until `close`."),
    new_code_cell("""ch = gc.Channel(3)
ch.send("a")
ch.send("b")
ch"""),
    new_code_cell("""def produce(out, n):
    for i in range(n):
        out.send(i * i)
    out.close()          # receivers see the end after the last value

squares = gc.Channel()
threading.Thread(target=produce, args=(squares, 5)).start()
list(squares)"""),
    new_markdown_cell("## select\n\nWait on several channels at once; `default=True` never waits, `timeout=` bounds the wait."),
    new_code_cell("""fast, slow = gc.Channel(1), gc.Channel(1)
threading.Timer(0.05, fast.send, args=("fast",)).start()
threading.Timer(0.5, slow.send, args=("slow",)).start()
gc.select(gc.recv(fast), gc.recv(slow), timeout=2)"""),
    new_code_cell("""gc.select(gc.recv(gc.Channel()), default=True)"""),
    new_markdown_cell("## Contexts\n\nA deadline cancels everything waiting under it."),
    new_code_cell("""ctx, cancel = gc.with_timeout(gc.background(), 0.1)
try:
    gc.Channel().recv(ctx=ctx)
except gc.DeadlineExceeded as e:
    print("gave up:", repr(e))
ctx"""),
    new_markdown_cell("## The worker pool\n\nA `concurrent.futures.Executor` with on-demand workers."),
    new_code_cell("""def fetch(n):
    time.sleep(0.01)
    return n * 10

with gc.Pool(max_workers=4) as pool:
    results = list(pool.map(fetch, range(8)))
    fut = pool.submit(fetch, 42)
    print(fut.result(timeout=5), fut)
    print(pool)
results"""),
    new_code_cell("""with gc.ErrGroup() as g:
    for i in range(3):
        g.go(time.sleep, 0.01)
wg = gc.WaitGroup()
wg"""),
    new_markdown_cell("""## Which stage is slow?

A pipeline is stages joined by channels. `gc.report(...)` takes its channels in order
(and any pools) and names the stage that holds the rest back: its input stays full
(the stage before it waits to send) while its output stays empty (the stage after it
waits to receive). In a notebook the report draws each channel's fill and the time its
senders and receivers spent blocked."""),
    new_code_cell("""def stage(inp, out, seconds_per_item):
    for item in inp:
        time.sleep(seconds_per_item)     # the stage's work
        out.send(item)
    out.close()

def source(out, n):
    for i in range(n):
        out.send(i)
    out.close()

raw, parsed, enriched = gc.Channel(4), gc.Channel(4), gc.Channel(4)
for target, args in [(source, (raw, 60)),
                     (stage, (raw, parsed, 0.001)),        # parse: fast
                     (stage, (parsed, enriched, 0.01))]:   # enrich: slow
    threading.Thread(target=target, args=args).start()
results = list(enriched)                                   # the sink: this cell
gc.report(raw, parsed, enriched, labels=["raw", "parsed", "enriched"])"""),
    new_markdown_cell("""## asyncio

The kernel runs an event loop, so a cell can `await` a channel directly. The same
channel serves threads and coroutines: here a thread sends and the cell receives."""),
    new_code_cell("""feed = gc.Channel(2)

def send_words():
    for word in ["threads", "and", "loops"]:
        feed.send(word)
    feed.close()

threading.Thread(target=send_words).start()
[word async for word in feed]"""),
    new_code_cell("""idx, value, ok = await gc.aselect(gc.recv(gc.after(0.01)), gc.recv(gc.Channel()))
idx, ok"""),
    new_markdown_cell("""## Debugging a hang: who waits on what

`gc.blocked()` lists every thread parked in a pygochan call: the operation, the
objects (a channel's repr shows who waits on it) and since when. `gc.dump_blocked()`
prints the same, like `faulthandler` does tracebacks."""),
    new_code_cell("""orders = gc.Channel()
def cook():
    orders.recv()        # nobody ever sends an order
threading.Thread(target=cook, name="cook", daemon=True).start()
time.sleep(0.1)
[(w.thread.name, w.operation, w.objects) for w in gc.blocked()]"""),
    new_markdown_cell("""## All threads are asleep: `gc.Deadlock`

When every thread is blocked in pygochan and nothing (no other thread, timer or
timeout) can ever wake one, the main thread's wait raises `gc.Deadlock` after about a
second, naming who waits on what, instead of hanging the cell (Go's
`fatal error: all goroutines are asleep - deadlock!`)."""),
    new_code_cell("""served = gc.Channel()
served.recv()            # the cook waits for an order, we wait for the dish""",
                  metadata={"tags": ["raises-exception"]}),
    new_markdown_cell("""## Interrupting a blocked cell

The next cell waits on a channel that a slow producer (asleep in another thread) has
not filled yet: not a deadlock, so it just waits. Press **Interrupt kernel**
(the tests of this notebook do it through the kernel manager): the receive raises
`KeyboardInterrupt` at once and the channel is left as it was."""),
    new_code_cell("""stuck = gc.Channel()
threading.Thread(target=time.sleep, args=(600,), name="slow producer", daemon=True).start()
stuck.recv()""", metadata={"tags": ["raises-exception", "interrupt"]}),
    new_code_cell("""# the kernel is alive, and the interrupted receive left nothing behind
stuck"""),
    new_code_cell("""threading.Timer(0.01, stuck.send, args=("after the interrupt",)).start()
stuck.recv(timeout=5), stuck"""),
]
nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
})
nbformat.write(nb, "docs/notebooks/tour.ipynb")
