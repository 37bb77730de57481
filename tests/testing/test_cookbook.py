"""The cookbook's timing programs (examples/), tested in bubbles: each test
waits out seconds to minutes of timeouts, tickers and back-offs in virtual
time, so it runs in milliseconds and its timings are exact."""
import os
import random
import signal
import sys
import threading
import time

import pytest

import pygochan as gc
from conftest import ROOT, fails_if_stuck

sys.path.insert(0, str(ROOT / "examples"))

import deadline_tree  # noqa: E402
import retry_backoff  # noqa: E402
import runner  # noqa: E402
import ticker_pipeline  # noqa: E402


@pytest.fixture(autouse=True)
def no_hang():
    with fails_if_stuck(20):
        yield


# ---- the Runner (examples/runner.py) ---------------------------------------------

def test_runner_completes_within_its_timeout():
    done = []
    with gc.testing.bubble() as b:
        start = b.now()
        r = runner.Runner(timeout=60.0)
        r.add(*[lambda n: (gc.sleep(10), done.append(n))] * 3)
        r.start()
        assert b.now() - start == 30
    assert done == [0, 1, 2]


def test_runner_times_out_and_stops_at_the_next_task():
    done = []
    with gc.testing.bubble() as b:
        start = b.now()
        r = runner.Runner(timeout=65.0)
        r.add(*[lambda n: (gc.sleep(10), done.append(n))] * 50)
        with pytest.raises(runner.Timeout):
            r.start()
        # the timeout fired at 65 s; the task running then (60-70 s) finished
        # and the worker stopped before the next
        assert b.now() - start == 70
    assert done == list(range(7))


def test_runner_hands_a_tasks_exception_to_the_caller():
    def bad(n):
        gc.sleep(5)
        raise ValueError(n)

    with gc.testing.bubble() as b:
        start = b.now()
        r = runner.Runner(timeout=60.0)
        r.add(lambda n: gc.sleep(1), bad)
        with pytest.raises(ValueError):
            r.start()
        assert b.now() - start == 6


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs signal.pthread_kill")
def test_runner_interrupted_by_sigint():
    done = []
    with gc.testing.bubble():
        r = runner.Runner(timeout=3600.0)
        r.add(*[lambda n: (gc.sleep(10), done.append(n))] * 50)

        def interrupt():
            # A thread of the bubble outside pygochan holds its clock still:
            # the tasks cannot race ahead of the signal handler.
            main = threading.main_thread().ident
            while not any(w.ident == main and w.operation == "select" for w in gc.blocked()):
                time.sleep(0.001)  # until start() waits, its handler installed
            signal.pthread_kill(main, signal.SIGINT)
            time.sleep(0.2)

        threading.Thread(target=interrupt).start()
        with pytest.raises(runner.Interrupted):
            r.start()
    assert done == [0]  # the task running then finished; no other started


# ---- retry with back-off (examples/retry_backoff.py) -----------------------------

def test_retry_waits_the_doubling_back_offs_exactly():
    calls = []

    def flaky():
        calls.append(gc.testing.current().now())
        if len(calls) < 5:
            raise ConnectionError
        return "ok"

    with gc.testing.bubble() as b:
        start = b.now()
        assert retry_backoff.retry(flaky, attempts=5, first_backoff=1.0, max_backoff=4.0) == "ok"
    assert [t - start for t in calls] == [0, 1, 3, 7, 11]  # 1, 2, 4, then capped at 4


def test_retry_gives_up_with_the_last_failure_as_cause():
    with gc.testing.bubble() as b:
        start = b.now()
        with pytest.raises(retry_backoff.GaveUp) as info:
            retry_backoff.retry(lambda: 1 / 0, attempts=4, first_backoff=0.5)
        assert b.now() - start == 0.5 + 1 + 2  # no wait after the last attempt
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_retry_stops_mid_back_off_when_its_context_is_canceled():
    with gc.testing.bubble() as b:
        start = b.now()
        ctx, cancel = gc.with_cancel(gc.background())
        gc.after_func(2.5, cancel)
        with pytest.raises(gc.Canceled):
            retry_backoff.retry(lambda: 1 / 0, attempts=10, first_backoff=2.0, ctx=ctx)
        assert b.now() - start == 2.5


def test_retry_with_full_jitter_never_waits_longer_than_the_back_off():
    rng = random.Random(7)
    with gc.testing.bubble() as b:
        start = b.now()
        with pytest.raises(retry_backoff.GaveUp):
            retry_backoff.retry(lambda: 1 / 0, attempts=6, first_backoff=1.0,
                                jitter=retry_backoff.full_jitter(rng))
        assert 0 < b.now() - start <= 1 + 2 + 4 + 8 + 10


def test_many_retrying_threads_share_one_clock():
    results = {}
    with gc.testing.bubble() as b:
        start = b.now()

        def client(i):
            failures = [i]

            def op():
                if failures[0]:
                    failures[0] -= 1
                    raise ConnectionError
                return b.now() - start

            results[i] = retry_backoff.retry(op, attempts=10, first_backoff=1.0, max_backoff=1000)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == {i: 2 ** i - 1 for i in range(8)}


# ---- the ticker pipeline (examples/ticker_pipeline.py) ----------------------------

def test_pipeline_averages_each_window():
    count = [0]

    def read():
        count[0] += 1
        return float(count[0])

    with gc.testing.bubble() as b:
        start = b.now()
        windows = ticker_pipeline.run_pipeline(read, every=1.0, window=10.0, duration=60.75)
        assert b.now() - start == 60.75
    assert windows == [(5.5 + 10 * i, 10) for i in range(6)]


def test_pipeline_flushes_the_last_partial_window():
    with gc.testing.bubble():
        windows = ticker_pipeline.run_pipeline(lambda: 2.0, every=0.5, window=3.0, duration=7.0)
    # windows end at 3.25 and 6.25; the readings at 6.5 and 7.0... the
    # deadline (7.0) comes with the last tick: at least one reading is left
    assert windows[:2] == [(2.0, 6), (2.0, 6)]
    assert len(windows) == 3 and windows[2][1] in (1, 2)


# ---- the deadline tree (examples/deadline_tree.py) ---------------------------------

def test_the_request_deadline_cuts_every_call_it_bounds():
    with gc.testing.bubble() as b:
        start = b.now()
        with gc.with_timeout(gc.background(), 3.0) as request:
            outcomes = deadline_tree.handle(request, {"a": 1.0, "b": 2.9, "c": 3.1}, per_call=10)
        assert b.now() - start == 3.0
    assert outcomes["a"] == "a: ok" and outcomes["b"] == "b: ok"
    assert isinstance(outcomes["c"], gc.DeadlineExceeded)


def test_a_per_call_timeout_shorter_than_the_request_wins():
    with gc.testing.bubble() as b:
        start = b.now()
        with gc.with_timeout(gc.background(), 100.0) as request:
            outcomes = deadline_tree.handle(request, {"a": 1.0, "slow": 50.0}, per_call=4.0)
            assert request.err() is None
        assert b.now() - start == 4.0
    assert outcomes["a"] == "a: ok" and isinstance(outcomes["slow"], gc.DeadlineExceeded)


def test_the_cookbook_programs_run_as_they_are():
    for module in (retry_backoff, ticker_pipeline, deadline_tree):
        module.main()
