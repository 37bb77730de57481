"""Testing concurrent code with pygochan: Go's ``testing/synctest``
(``bubble``, virtual time) and its goroutine-leak profile (``leaked``,
``check_no_leaks``).

    >>> import pygochan as gc
    >>> with gc.testing.bubble() as b:
    ...     start = b.now()
    ...     gc.sleep(3600)                 # returns at once: virtual time
    ...     assert b.now() - start == 3600
    >>> gc.testing.check_no_leaks(timeout=1.0)

See docs/testing.md.
"""

from ._bubble import Bubble, bubble, current
from ._leaks import (
    LeakError,
    ParkedThread,
    check_no_leaks,
    format_report,
    leaked,
    parked,
    started_at,
    track_thread_starts,
)

__all__ = [
    "Bubble",
    "LeakError",
    "ParkedThread",
    "bubble",
    "check_no_leaks",
    "current",
    "format_report",
    "leaked",
    "parked",
    "started_at",
    "track_thread_starts",
]
