"""Testing concurrent code: Go's goroutine-leak profile for threads
(``leaked``, ``check_no_leaks``; docs/testing.md).

    >>> import pygochan as gc
    >>> gc.testing.check_no_leaks(timeout=1.0)
"""

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
    "LeakError",
    "ParkedThread",
    "check_no_leaks",
    "format_report",
    "leaked",
    "parked",
    "started_at",
    "track_thread_starts",
]
