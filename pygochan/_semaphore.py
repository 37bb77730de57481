"""A weighted semaphore (``golang.org/x/sync/semaphore``); the waiting is C.

Acquiring waits on a pygochan channel, so it follows the common rules (GIL
released, ``timeout=``/``ctx=``, Ctrl-C, no effect when it raises) and
shows up in ``blocked()``.
"""

from __future__ import annotations

from . import _core

__all__ = ["Semaphore"]


class Semaphore(_core._SemaphoreBase):
    """A weighted semaphore (``golang.org/x/sync/semaphore``)::

        sem = gc.Semaphore(4)             # at most 4 units held at once
        with sem:                          # acquire(1) ... release(1)
            fetch(url)
        sem.acquire(3, timeout=1.0)       # 3 units, or TimeoutError
        sem.release(3)

    Waiters are served in FIFO order: a large request at the head is not
    starved by smaller ones behind it.  ``acquire`` follows the common rules:
    ``timeout=``/``ctx=``, GIL released, Ctrl-C on the main thread, and when
    it raises it holds nothing.  A request larger than the size raises
    ``ValueError`` (in Go it would wait forever).
    """

    # acquire, try_acquire, release, __enter__ and __exit__ are C
    # (_core._SemaphoreBase): an acquire returns holding the units or raises
    # holding none, wherever a Ctrl-C lands.
    __slots__ = ()

    def __repr__(self) -> str:
        return f"<pygochan.Semaphore size={self._size} held={self._held} waiting={self._waiting}>"
