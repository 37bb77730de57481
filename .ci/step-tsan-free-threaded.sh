#!/usr/bin/env bash
# ThreadSanitizer on the binding: the extension built with -fsanitize=thread
# against a free-threaded CPython configured --with-thread-sanitizer, the GIL
# off, running the concurrency-heavy modules (the whole suite is too slow
# under TSan on 2 cores).  Any report fails the step; the only suppressions
# are CPython's own known reports (.ci/tsan-suppressions.txt, each with its
# reason).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODULES=(tests/test_free_threading.py tests/test_stress.py tests/test_select.py
         tests/test_pool.py tests/test_contexts.py tests/test_sync.py)
start=$SECONDS
prefix=$(.ci/free-threaded-python.sh ft-tsan)
python=$prefix/bin/python3.13t
echo "interpreter ready in $((SECONDS - start)) s"
unset PYTHON_GIL
venv=build/venv-3.13t-tsan

# The one place that knows how a sanitized extension is built.
build_tsan_extension() {
    rm -rf "$venv"
    "$python" -m venv "$venv"
    CFLAGS="-fsanitize=thread -g -O1" LDFLAGS="-fsanitize=thread" \
        "$venv/bin/python" -m pip install -q --no-build-isolation -e ".[test]" ||
    { "$venv/bin/python" -m pip install -q setuptools wheel &&
      CFLAGS="-fsanitize=thread -g -O1" LDFLAGS="-fsanitize=thread" \
        "$venv/bin/python" -m pip install -q --no-build-isolation -e ".[test]"; }
}

phase=$SECONDS
# Building runs the interpreter: its reports are not this step's subject.
TSAN_OPTIONS=report_bugs=0 build_tsan_extension
echo "sanitized build: $((SECONDS - phase)) s"

phase=$SECONDS
log=build/tsan-report
rm -f "$log".*
TSAN_OPTIONS="suppressions=$ROOT/.ci/tsan-suppressions.txt halt_on_error=0 exitcode=0 log_path=$ROOT/$log second_deadlock_stack=1" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "${MODULES[@]}"
echo "modules under TSan: $((SECONDS - phase)) s"
if ls "$log".* >/dev/null 2>&1; then
    cat "$log".*
    echo "ThreadSanitizer reported $(grep -c '^WARNING: ThreadSanitizer' "$log".*) problem(s)" >&2
    exit 1
fi
echo "no ThreadSanitizer report"
echo "step took $((SECONDS - start)) s"
