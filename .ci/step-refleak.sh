#!/usr/bin/env bash
# Reference-leak run under Debian's debug CPython (python3.11d): each test
# module runs four times in one process (a warm-up, then three measured
# rounds) and sys.gettotalrefcount() must not grow round after round.
# Modules whose tests mostly drive subprocesses or forks are left out (the
# references that matter live in the children).  ResourceWarnings are
# ignored: each distinct message (it names a file descriptor) would add an
# entry to the warnings registry every round.  Two tests that depend on
# timing are left out: the debug build is several times slower.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
.ci/apt-install.sh python3.11-dbg python3.11-venv
venv=build/venv-dbg
rm -rf "$venv"
python3.11d -m venv "$venv"
"$venv/bin/python" -m pip install -q -e ".[test]"
"$venv/bin/python" .ci/refleak.py -q -p no:cacheprovider -m "not slow" \
    -W ignore::ResourceWarning \
    --deselect tests/timers/test_timers.py::test_ticker_ticks_on_its_grid \
    --deselect tests/pool/test_pool.py::test_map_consumes_an_endless_generator_lazily_and_break_cancels_the_rest \
    tests/channels/test_channel_api.py tests/channels/test_channel_semantics.py \
    tests/select/test_select.py tests/select/test_select_api.py \
    tests/context/test_context_cycles.py tests/context/test_contexts.py \
    tests/timers/test_timers.py tests/waitgroup/test_waitgroup.py \
    tests/errgroup/test_errgroup.py tests/pool/test_pool.py tests/futures/test_future.py \
    tests/properties/test_memory.py
echo "refleak run: $((SECONDS - started)) s"
