"""Testing concurrent code with pygochan (Go's ``testing/synctest``).

    >>> import pygochan as gc
    >>> with gc.testing.bubble() as b:
    ...     start = b.now()
    ...     gc.sleep(3600)                 # returns at once: virtual time
    ...     assert b.now() - start == 3600

See docs/testing.md.
"""

from ._bubble import Bubble, bubble, current

__all__ = ["Bubble", "bubble", "current"]
