"""Where the leak analysis refuses to run (CPython 3.12), it says so."""
import pytest

import pygochan as gc
from pygochan.testing import _leaks


@pytest.mark.skipif(not _leaks.UNSUPPORTED, reason="only CPython 3.12 refuses")
@pytest.mark.parametrize("call", [gc.testing.leaked, gc.testing.parked,
                                  lambda: gc.testing.check_no_leaks(timeout=0.1)])
def test_the_analysis_refuses_on_3_12_instead_of_risking_a_crash(call):
    t = gc.Channel()
    with pytest.raises(RuntimeError, match="not available on CPython 3.12"):
        # a parked thread, so that there is something to analyse
        import threading
        th = threading.Thread(target=t.recv, daemon=True)
        th.start()
        try:
            while not any(w[0] == th.ident for w in gc._core._blocked()):
                pass
            call()
        finally:
            t.close()
            th.join()
