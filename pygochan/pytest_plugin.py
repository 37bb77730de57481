"""pygochan's pytest plugin (entry point ``pytest11``, name ``pygochan``):
inactive unless asked for (docs/testing.md).

- ``--pygochan-leaks``: every test fails (an error at its teardown) if a
  thread it started is still parked in pygochan once its fixtures are torn
  down and ``pygochan_leak_timeout`` seconds (ini, default 1.0) have passed;
  a leaked thread, which nothing can ever wake, fails it at once.
- ``@pytest.mark.pygochan_no_leaks`` (or ``(timeout=2.0)``): the same for
  one test, a class or a module.
- ``gc_bubble``: a ``pygochan.testing.bubble()`` around the test.

``-p no:pygochan`` turns the plugin off.  Inactive, it starts no thread
and patches nothing; pygochan.testing is imported when a test asks for a
check or the fixture.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Iterator, List, Optional

import pytest

if TYPE_CHECKING:
    from .testing._leaks import ParkedThread

MARKER = "pygochan_no_leaks"
OPTION = "--pygochan-leaks"
TIMEOUT_INI = "pygochan_leak_timeout"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pygochan", "pygochan (threads parked in pygochan calls)")
    group.addoption(
        OPTION, action="store_true", default=False,
        help="fail every test that leaves a thread it started parked in pygochan "
             "(blocked in a channel, select, context, ... call) or leaked",
    )
    parser.addini(
        TIMEOUT_INI, default="1.0",
        help="seconds a checked test's threads get to finish after its teardown (default 1.0)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(timeout=None): fail the test if a thread it started is still parked in "
        f"pygochan after its teardown (timeout: seconds to wait, default the "
        f"{TIMEOUT_INI} ini value)",
    )


class _Check:
    """One checked test: the threads alive before it, and the start-stack
    recording while it runs."""

    def __init__(self, timeout: float) -> None:
        from .testing import track_thread_starts

        self.timeout = timeout
        self.before: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet(threading.enumerate())
        self.before_idents = {t.ident for t in self.before}
        self._tracking = track_thread_starts()
        self._tracking.__enter__()

    def started_during_test(self, ident: int) -> bool:
        """Was the thread with this ident started by the test (or its
        function-scoped fixtures)?  A thread threading does not know
        (started from C) counts, unless it was there before."""
        for t in threading.enumerate():
            if t.ident == ident:
                return t not in self.before and t not in _wider_fixture_threads
        return ident not in self.before_idents

    def close(self) -> None:
        self._tracking.__exit__(None, None, None)


_checks: "weakref.WeakKeyDictionary[pytest.Item, _Check]" = weakref.WeakKeyDictionary()
# Threads started by fixtures wider than a function (a session's server):
# they outlive the test that happened to set the fixture up, by design.
_wider_fixture_threads: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet()


def _timeout_for(item: pytest.Item) -> Optional[float]:
    """The check's timeout, or None when the test is not checked."""
    marker = item.get_closest_marker(MARKER)
    if marker is None and not item.config.getoption(OPTION):
        return None
    timeout: Any = marker.kwargs.get("timeout") if marker is not None else None
    if timeout is None:
        timeout = item.config.getini(TIMEOUT_INI)
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"{MARKER}: timeout must be a number of seconds, not {timeout!r}") from None
    if not seconds >= 0:
        raise pytest.UsageError(f"{MARKER}: timeout must be a non-negative number of seconds, not {timeout!r}")
    return seconds


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    timeout = _timeout_for(item)
    if timeout is not None:
        _checks[item] = _Check(timeout)


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Iterator[None]:
    if not _checks or fixturedef.scope == "function":
        yield
        return
    before = set(threading.enumerate())
    try:
        yield
    finally:
        _wider_fixture_threads.update(t for t in threading.enumerate() if t not in before)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: Optional[pytest.Item]) -> None:
    # trylast: after pytest's own teardown has run the test's finalizers
    check = _checks.pop(item, None)
    if check is None:
        return
    from .testing._leaks import LeakError, _settle

    def everything(found: List["ParkedThread"]) -> List["ParkedThread"]:
        return found

    report = None
    try:
        _settle(check.timeout, check.started_during_test, everything)
    except LeakError as exc:
        report = str(exc)
    finally:
        check.close()
    if report is not None:  # (outside the except: the report is shown once)
        pytest.fail(f"{item.nodeid} left threads parked in pygochan:\n\n{report}", pytrace=False)


@pytest.fixture
def gc_bubble() -> Iterator[Any]:
    """The test runs inside ``pygochan.testing.bubble()`` (virtual time)::

        def test_timeout(gc_bubble):
            with pytest.raises(TimeoutError):
                gc.Channel().recv(timeout=60)   # no real minute passes
    """
    from .testing import bubble

    with bubble() as b:
        yield b
