"""Run CPython's own ThreadPoolExecutor tests against pygochan.Pool.

    python tests/executors/cpython_executor/run.py [-v] [unittest args...]

Needs an interpreter whose standard library ships ``Lib/test`` with the
``test_concurrent_futures`` package (CPython 3.12.2+ / 3.13 do; many
distribution builds strip it).  Nothing in the standard library is changed:

- the test package's ``ThreadPoolMixin.executor_type`` is pointed at
  ``pygochan.Pool`` before the test modules load, so every ThreadPool test
  class (``executor.py``'s ExecutorTest through ``test_thread_pool``,
  ``test_wait``, ``test_as_completed``, ``test_shutdown``) builds a Pool;
- only those ThreadPool classes run (the ProcessPool variants test another
  executor);
- the shutdown tests start subprocesses that do
  ``from concurrent.futures import Pool`` (the executor's ``__name__``) under
  ``python -I``; ``shim/pygochan_cpython_tests.pth`` makes that name resolve.
  The CI step installs that file into the test venv's site-packages (never
  into the interpreter's own), and it acts only while
  ``PYGOCHAN_CPYTHON_TESTS=1`` is in the environment, which ``-I`` does not
  clear from ``os.environ``.

Exit status is unittest's.  A missing test package is exit status 3.
"""
import os
import sys
import unittest

MODULES = ["test_thread_pool", "test_wait", "test_as_completed", "test_shutdown"]


def main(argv):
    try:
        from test.test_concurrent_futures import util
    except ImportError as exc:
        print(f"no test.test_concurrent_futures in {sys.executable}: {exc}", file=sys.stderr)
        return 3
    import pygochan

    os.environ["PYGOCHAN_CPYTHON_TESTS"] = "1"
    util.ThreadPoolMixin.executor_type = pygochan.Pool

    import importlib

    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for name in MODULES:
        module = importlib.import_module(f"test.test_concurrent_futures.{name}")
        for attr in sorted(vars(module)):
            cls = getattr(module, attr)
            if (
                isinstance(cls, type)
                and issubclass(cls, unittest.TestCase)
                and issubclass(cls, util.ThreadPoolMixin)
                and cls.__module__ == module.__name__
            ):
                suite.addTests(loader.loadTestsFromTestCase(cls))
        # the module's setUpModule/tearDownModule run through the suite
    verbosity = 2 if "-v" in argv else 1
    result = unittest.TextTestRunner(verbosity=verbosity).run(suite)
    print(f"{result.testsRun} tests against pygochan.Pool {pygochan.__version__} on Python {sys.version.split()[0]}")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
