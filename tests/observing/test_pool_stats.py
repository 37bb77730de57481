"""Pool.stats(): the counters it had, and the times it grew (queue wait,
busy time in total and per worker)."""

import threading
import time

import pygochan as gc
from conftest import join_all, start, wait_for

OLD_KEYS = {
    "max_workers", "workers", "running", "idle", "pending", "blocked_submitters",
    "submitted", "started", "completed", "failed", "cancelled",
    "workers_started", "workers_exited",
}
NEW_KEYS = {"busy", "queued", "queue_wait_seconds", "busy_seconds", "busy_seconds_per_worker"}


def test_keys_grow_compatibly_and_start_at_zero():
    with gc.Pool(max_workers=2) as pool:
        s = pool.stats()
        assert OLD_KEYS | NEW_KEYS <= set(s)
        assert s["queue_wait_seconds"] == 0.0 and s["busy_seconds"] == 0.0
        assert s["busy_seconds_per_worker"] == {}
        assert s["busy"] == s["running"] == 0 and s["queued"] == s["pending"] == 0


def test_busy_and_queue_wait_of_a_single_worker():
    with gc.Pool(max_workers=1) as pool:
        gate = threading.Event()
        first = pool.submit(gate.wait)
        wait_for(lambda: pool.stats()["busy"] == 1)
        queued = [pool.submit(time.sleep, 0.02) for _ in range(3)]
        wait_for(lambda: pool.stats()["queued"] == 3)
        time.sleep(0.05)
        running = pool.stats()
        # the running task counts up to now
        assert running["busy_seconds"] >= 0.04
        (name, busy), = running["busy_seconds_per_worker"].items()
        assert name in {t.name for t in threading.enumerate()}
        assert busy >= 0.04
        gate.set()
        for f in [first, *queued]:
            f.result(timeout=30)
        wait_for(lambda: pool.stats()["busy"] == 0)
        s = pool.stats()
    assert s["submitted"] == s["started"] == s["completed"] == 4
    # the three queued tasks waited at least 0.05 s (and the later ones more)
    assert s["queue_wait_seconds"] >= 3 * 0.05
    assert s["busy_seconds"] >= 0.05 + 3 * 0.02
    assert sum(s["busy_seconds_per_worker"].values()) <= s["busy_seconds"] + 1e-9


def test_storm_busy_bounded_by_workers_times_wall(rng):
    workers, tasks = 4, 400
    started = time.monotonic()
    with gc.Pool(max_workers=workers) as pool:
        def submitter(seed):
            import random

            r = random.Random(seed)
            futures = [pool.submit(time.sleep, r.random() / 2000) for _ in range(tasks // 4)]
            for f in futures:
                f.result(timeout=60)

        threads = [start(submitter, rng.random()) for _ in range(4)]
        join_all(threads)
        wait_for(lambda: pool.stats()["busy"] == 0)
        s = pool.stats()
    wall = time.monotonic() - started
    assert s["submitted"] == s["completed"] == tasks
    assert 0.0 < s["busy_seconds"] <= wall * workers
    assert 0.0 <= s["queue_wait_seconds"] <= wall * tasks
    assert len(s["busy_seconds_per_worker"]) <= workers
    assert all(v >= 0.0 for v in s["busy_seconds_per_worker"].values())


def test_exited_workers_keep_their_busy_time():
    with gc.Pool(max_workers=2, idle_timeout=0.05) as pool:
        pool.submit(time.sleep, 0.03).result(timeout=30)
        wait_for(lambda: pool.stats()["workers"] == 0)
        s = pool.stats()
        assert s["busy_seconds_per_worker"] == {}
        assert s["busy_seconds"] >= 0.03
