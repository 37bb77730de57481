"""What the C core needs in a child after ``fork()``.

fork() keeps only the calling thread: it becomes the child's main thread
(for Ctrl-C), and pending timers need the timer thread back.  The Python
layer's own state is restored by the modules that hold it (the after-func
runner in ``_context``, pools in ``_pool``, loop hubs in ``_aio``); the
package imports this module last, so that this hook runs after theirs.
"""

import os

from . import _core


def _after_fork_in_child() -> None:
    # threading has already made the forking thread the main thread
    _core._refresh_main_thread()
    _core._resume_timers_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
