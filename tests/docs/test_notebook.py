"""docs/notebooks/tour.ipynb runs top to bottom in a real Jupyter kernel
(nbclient + ipykernel); the cell tagged "interrupt" blocks on a recv and is
stopped by the kernel manager's interrupt, after which the kernel still
works.  Needs the docs extra (pip install -e ".[docs]")."""
import threading

import pytest

from conftest import ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = ROOT / "docs" / "notebooks" / "tour.ipynb"


def text_of(cell):
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "\n".join(parts)


def joined_errors(nb):
    return "\n".join(
        out.evalue
        for c in nb.cells
        if c.cell_type == "code"
        for out in c.get("outputs", [])
        if out.output_type == "error"
    )


def test_tour_runs_in_a_real_kernel_and_survives_an_interrupt():
    from jupyter_client.manager import KernelManager

    nb = nbformat.read(NOTEBOOK, as_version=4)
    km = KernelManager(kernel_name="python3")
    client = nbclient.NotebookClient(nb, km=km, timeout=60, kernel_name="python3")
    interrupted = threading.Event()

    def interrupt_when_blocked():
        interrupted.set()
        km.interrupt_kernel()

    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            timer = None
            if "interrupt" in cell.metadata.get("tags", []):
                timer = threading.Timer(1.0, interrupt_when_blocked)
                timer.start()
            try:
                client.execute_cell(cell, index)
            finally:
                if timer is not None:
                    timer.cancel()

    outputs = [text_of(c) for c in nb.cells if c.cell_type == "code"]
    errors = [
        (c.source.splitlines()[0], out.ename)
        for c in nb.cells
        if c.cell_type == "code"
        for out in c.get("outputs", [])
        if out.output_type == "error"
    ]
    assert interrupted.is_set()
    # the deadlocked cell raised Deadlock, the blocked one the interrupt
    assert errors == [
        ("served = gc.Channel()", "Deadlock"),
        ("stuck = gc.Channel()", "KeyboardInterrupt"),
    ], errors
    assert "all threads are asleep - deadlock!" in joined_errors(nb)
    assert "thread 'cook'" in joined_errors(nb)
    listing = next(out for out in outputs if "'cook'" in out)
    assert "'recv'" in listing and "waiting_receivers=1>" in listing, listing
    assert "waiting_receivers=0>" in outputs[-2]  # the interrupted recv left nothing
    joined = "\n".join(outputs)
    assert "<pygochan.Channel capacity=3 len=2" in joined
    assert "[0, 1, 4, 9, 16]" in joined
    assert "SelectResult(index=0, value='fast', ok=True)" in joined
    assert "index=-1" in joined
    assert "gave up: DeadlineExceeded" in joined
    assert "[0, 10, 20, 30, 40, 50, 60, 70]" in joined
    assert "<pygochan.Pool" in joined and "state=finished returned int" in joined
    assert "<pygochan.WaitGroup count=0>" in joined
    assert "'after the interrupt'" in outputs[-1] and "len=0" in outputs[-1]
    # the pipeline cell names its slow stage, in text and as a picture
    report_cell = next(c for c in nb.cells if c.cell_type == "code" and "gc.report(" in c.source)
    assert "bottleneck: the stage fed by #2 'parsed'" in text_of(report_cell), text_of(report_cell)
    html = next(out.data["text/html"] for out in report_cell.outputs
                if out.output_type == "execute_result")
    assert "senders blocked" in html and "<script" not in html
