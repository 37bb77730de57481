#!/usr/bin/env bash
# The pytest suite against an ASan+UBSan build of the extension, loaded into
# the ordinary (uninstrumented) CPython.  Run from the checkout's root.
set -euo pipefail
venv=build/venv-asan
rm -rf "$venv"
python3 -m venv "$venv"
# Its own build tree, so the plain build tree of the same interpreter stays
# plain.
"$venv/bin/python" -m pip install -q -e ".[test]" \
    -Ccmake.define.SANITIZE=address -Cbuild-dir=build/asan

# The sanitizer runtimes must be the first libraries in the process; the
# interpreter is not linked against them, so they are preloaded.
LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
# detect_leaks=0: CPython keeps interned strings, static types and module
#   state alive until exit on purpose; LeakSanitizer reports them all.
# halt_on_error=1 / -fno-sanitize-recover: the first error fails the run.
# PYTHONMALLOC=malloc: Python objects come from malloc instead of pymalloc's
#   arenas, so a use-after-free of an object the binding released early is
#   caught too.
# Deselected: test_pending_timers_fire_in_a_forked_child.  Under the
#   sanitizer runtime, a thread started in a forked child of a threaded
#   parent sometimes never runs (it waits forever inside the runtime's own
#   thread start), so the child's timers cannot fire; the plain runs keep
#   the test.
# Ignored: tests/properties/test_gil_and_cpu.py compares CPU time against a
#   baseline run in the same process; the sanitizer's slowdown is uneven
#   between the two, so the comparison measures the sanitizer, not pygochan.
#   It checks no memory behaviour the other modules do not exercise.
LD_PRELOAD="$LD_PRELOAD" \
ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
PYTHONMALLOC=malloc \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        --ignore tests/properties/test_gil_and_cpu.py \
        --deselect tests/timers/test_timers.py::test_pending_timers_fire_in_a_forked_child
