#!/usr/bin/env bash
# ThreadSanitizer on the binding: the extension built with -fsanitize=thread
# against a free-threaded CPython configured --with-thread-sanitizer, the GIL
# off, running the concurrency-heavy tests: the binding's races
# (test_free_threading), the pool and futures (test_pool, test_future), and
# two of the exactly-once stress tests (plain calls, mixed selects) -- the
# whole suite is too slow under TSan on 2 cores.  Any report fails the
# step; the only suppressions are CPython's own known reports
# (.ci/tsan-suppressions.txt, each with its reason).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODULES=(tests/properties/test_free_threading.py tests/pool/test_pool.py tests/futures/test_future.py
         tests/properties/test_stress.py::test_exactly_once_with_plain_calls_only
         tests/properties/test_stress.py::test_mixed_send_and_recv_selects_exactly_once)
start=$SECONDS
prefix=$(.ci/free-threaded-python.sh ft-tsan)
python=$prefix/bin/python3.13t
echo "interpreter ready in $((SECONDS - start)) s"
unset PYTHON_GIL
venv=build/venv-3.13t-tsan
src=build/tsan-src

# The one place that knows how a sanitized extension is built.  It is built
# in a copy of the tree, so that neither its objects nor its in-place module
# (same file name as the plain free-threaded build's) meet the other builds.
# Everything but the tests runs on the plain free-threaded interpreter, which
# has the same ABI: Python code under TSan is many times slower, so pip and
# the build stay off the sanitized one.
build_tsan_extension() {
    local plain build_venv=build/venv-3.13t-build
    plain=$(.ci/free-threaded-python.sh ft)/bin/python3.13t
    rm -rf "$venv" "$src" "$build_venv"
    mkdir -p "$src"
    tar -c --exclude=./build --exclude=./.git --exclude='*.so' --exclude='*.egg-info' \
        --exclude=__pycache__ . | tar -x -C "$src"
    "$plain" -m venv "$build_venv"
    # The CMake build's own sanitizer switch; the module goes next to the
    # copy's Python sources, where the tests import it from.
    "$build_venv/bin/python" -m pip wheel -q --no-deps -w "$src/dist" "$src" \
        -Ccmake.define.SANITIZE=thread -Cbuild-dir="$ROOT/build/tsan-cmake"
    "$build_venv/bin/python" -m zipfile -e "$src"/dist/pygochan-*.whl "$src/dist/unpacked"
    cp "$src"/dist/unpacked/pygochan/_core*.so "$src/pygochan/"
    "$python" -m venv --without-pip "$venv"
    "$build_venv/bin/python" -m pip install -q --target "$venv/lib/python3.13t/site-packages" pytest
}

phase=$SECONDS
build_tsan_extension
echo "sanitized build: $((SECONDS - phase)) s"

phase=$SECONDS
log=build/tsan-report
rm -f "$log".*
(
    cd "$src"
    TSAN_OPTIONS="suppressions=$ROOT/.ci/tsan-suppressions.txt halt_on_error=0 exitcode=0 log_path=$ROOT/$log second_deadlock_stack=1" \
        "$ROOT/$venv/bin/python" -m pytest -q -p no:cacheprovider --durations=5 "${MODULES[@]}"
)
echo "modules under TSan: $((SECONDS - phase)) s"
if ls "$log".* >/dev/null 2>&1; then
    cat "$log".*
    echo "ThreadSanitizer reported $(grep -c '^WARNING: ThreadSanitizer' "$log".*) problem(s)" >&2
    exit 1
fi
echo "no ThreadSanitizer report"
echo "step took $((SECONDS - start)) s"
