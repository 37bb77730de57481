"""Reference-leak hunt under a debug CPython (sys.gettotalrefcount).

Runs pytest with a plugin that runs each test module's tests several times in
one process: the first round warms caches up, every later round must leave
the total reference count where the previous one did.  A module whose count
grows in every measured round leaks; the run then fails.

    python3.11d .ci/refleak.py [--rounds N] [pytest arguments...]
"""
import argparse
import gc
import sys
import time
from collections import OrderedDict

import pytest

# Growth per round below this is noise (interned strings, type caches, the
# threading module's bookkeeping: test_pool.py grows by a few references a
# round); a leaked object graph (an ErrGroup whose task raised: ~140
# references) repeats every round, well above it.
NOISE = 30


class RepeatModules:
    def __init__(self, rounds):
        self.rounds = rounds
        self.results = []
        self.outcomes = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            raise session.Interrupted(f"{session.testsfailed} errors during collection")
        modules = OrderedDict()
        for item in session.items:
            modules.setdefault(item.nodeid.split("::")[0], []).append(item)
        for name, items in modules.items():
            started = time.monotonic()
            totals = []
            for _ in range(self.rounds):
                for i, item in enumerate(items):
                    nextitem = items[i + 1] if i + 1 < len(items) else None
                    item.ihook.pytest_runtest_protocol(item=item, nextitem=nextitem)
                    if session.shouldfail or session.shouldstop:
                        return True
                self.forget_reports(session)
                for item in items:
                    # pytest appends each run's captured output and log to
                    # the item (Item.add_report_section): run again, an item
                    # that prints would grow by a few references a round.
                    # Each run's reports are built from it, so it may go.
                    sections = getattr(item, "_report_sections", None)
                    if sections is not None:
                        sections.clear()
                for _ in range(3):
                    gc.collect()
                totals.append(sys.gettotalrefcount())
            deltas = [b - a for a, b in zip(totals, totals[1:])]
            self.results.append((name, deltas, time.monotonic() - started))
        return True

    def forget_reports(self, session):
        # The terminal reporter keeps every report (and its warnings): count
        # them instead, so that only the code under test can grow.
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is None:
            return
        for key, reports in tr.stats.items():
            if key in ("failed", "error"):
                continue  # kept for pytest's summary and exit status
            self.outcomes[key] = self.outcomes.get(key, 0) + len(reports)
            reports.clear()

    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        tr.write_line("outcomes: " + ", ".join(
            f"{n} {key}" for key, n in self.outcomes.items() if key))
        tr.section("total refcount growth per round, after a warm-up round")
        for name, deltas, seconds in self.results:
            verdict = "LEAK" if self.leaks(deltas) else "ok"
            tr.write_line(f"{verdict:4} {name}: {deltas} ({seconds:.0f} s)")

    @staticmethod
    def leaks(deltas):
        return bool(deltas) and min(deltas) > NOISE


def check_extension_counts_references():
    """The numbers mean something only if pygochan._core was compiled with
    the debug interpreter's headers (Py_REF_DEBUG): built with release ones,
    its Py_INCREF/Py_DECREF leave the total alone, and every channel made
    and dropped reads +1, every send/recv pair -1."""
    import pygochan

    def churn(n):
        for _ in range(n):
            ch = pygochan.Channel(1)
            ch.send(ch)
            ch.recv()

    churn(100)
    gc.collect()
    before = sys.gettotalrefcount()
    churn(1000)
    gc.collect()
    if abs(sys.gettotalrefcount() - before) > NOISE:
        sys.exit("pygochan._core does not count its references: it was not "
                 "built with this debug interpreter's headers (Py_REF_DEBUG)")


def main():
    if not hasattr(sys, "gettotalrefcount"):
        sys.exit("needs a debug build of CPython (python3.11d)")
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--rounds", type=int, default=4,
                        help="runs per module, the first being the warm-up")
    args, pytest_args = parser.parse_known_args()
    check_extension_counts_references()
    plugin = RepeatModules(max(args.rounds, 3))
    code = pytest.main(pytest_args, plugins=[plugin])
    if code == pytest.ExitCode.NO_TESTS_COLLECTED and plugin.outcomes.get("passed"):
        code = pytest.ExitCode.OK  # the reports were counted, then dropped
    leaked = [name for name, deltas, _ in plugin.results if plugin.leaks(deltas)]
    if leaked:
        print("steady reference growth in:", ", ".join(leaked))
        sys.exit(1)
    sys.exit(code)


if __name__ == "__main__":
    main()
