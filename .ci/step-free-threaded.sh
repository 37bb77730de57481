#!/usr/bin/env bash
# The free-threaded CPython 3.13t with the GIL off: the whole suite, the
# stress and exactly-once modules repeated, and a cp313t wheel installed
# outside the tree (the GIL stays off after importing it), and a quick run
# of the scaling benchmark (a smoke test: no timings are asserted).
#   .ci/step-free-threaded.sh [REPEATS]     default: 3
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
repeats=${1:-3}
start=$SECONDS
prefix=$(.ci/free-threaded-python.sh ft)
python=$prefix/bin/python3.13t
echo "interpreter ready in $((SECONDS - start)) s: $("$python" -VV)"
unset PYTHON_GIL # its default on this build: off, unless a module asks for it

phase=$SECONDS
venv=build/venv-3.13t
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q -e ".[test]"
"$venv/bin/python" -m pytest -q -p no:cacheprovider
echo "suite with the GIL off: $((SECONDS - phase)) s"

phase=$SECONDS
for i in $(seq "$repeats"); do
    echo "--- stress and exactly-once modules, run $i of $repeats"
    "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        tests/properties/test_stress.py tests/properties/test_exactly_once_storm.py \
        tests/properties/test_free_threading.py tests/select/test_select.py
done
echo "repeats: $((SECONDS - phase)) s"

phase=$SECONDS
rm -rf build/dist-3.13t build/venv-3.13t-wheel
"$venv/bin/python" -m pip wheel -q --no-deps -w build/dist-3.13t .
wheel=$(ls build/dist-3.13t/pygochan-*-cp313-cp313t-*.whl)
echo "built $wheel"
"$python" -m venv build/venv-3.13t-wheel
build/venv-3.13t-wheel/bin/python -m pip install -q "$wheel"
(
    cd /tmp
    "$ROOT/build/venv-3.13t-wheel/bin/python" -W error -c '
import sys, pygochan
assert pygochan.__file__.startswith(sys.prefix), pygochan.__file__
assert not sys._is_gil_enabled(), "importing pygochan enabled the GIL"
print("installed wheel imported with the GIL off:", pygochan.__file__)'
    "$ROOT/build/venv-3.13t-wheel/bin/python" -m pygochan >/dev/null
)
echo "wheel: $((SECONDS - phase)) s"

phase=$SECONDS
"$venv/bin/python" benchmarks/bench_free_threading.py --quick
echo "scaling benchmark (quick): $((SECONDS - phase)) s"
echo "step took $((SECONDS - start)) s"
