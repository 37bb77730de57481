#!/usr/bin/env bash
# The sdist and the Linux wheel, without containers: the sdist builds
# (python -m build --sdist), a wheel builds from that sdist alone, with the
# [tool.cibuildwheel] environment (warnings are errors), `auditwheel show`
# reports it, and nothing in it needs more than the manylinux_2_28 image
# (pyproject.toml names it) provides, and it installs into a clean venv where pygochan
# imports from the venv and the whole suite passes, run by the wheel
# configuration's test-command the way cibuildwheel runs it: from a
# temporary directory holding copies of its test-sources (the tests and
# the examples and docs some of them run).
# docs/building.md says what differs from a wheel built in the manylinux image.
#   .ci/step-wheel-sdist.sh [PYTHON]     default: python3
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
python=${1:-python3}
start=$SECONDS
out=build/sdist-check
rm -rf "$out"
mkdir -p "$out"

phase=$SECONDS
"$python" -m venv "$out/venv-tools"
tools=$out/venv-tools/bin/python
"$tools" -m pip install -q build auditwheel
# From the committed tree alone (git archive): what earlier steps left in
# build/ is no part of it, and the sdist's file scan never walks it.
mkdir -p "$out/src"
git archive --format=tar HEAD | tar -x -C "$out/src"
"$tools" -m build --sdist --outdir "$ROOT/$out/dist" "$out/src" >"$out/sdist.log" 2>&1 ||
    { tail -30 "$out/sdist.log"; exit 1; }
sdist=$(ls "$out"/dist/pygochan-*.tar.gz)
tar -tzf "$sdist" | sed 's|^pygochan-[^/]*/||' >"$out/sdist-files.txt"
echo "sdist: $sdist ($(wc -l <"$out/sdist-files.txt") files)"
# What the sdist must carry to build: the CMake description and every C
# source of the core and the binding, the package, the stubs.
missing=0
for member in pyproject.toml README.md LICENSE csrc/CMakeLists.txt pygochan/__init__.py \
              pygochan/_core.pyi pygochan/py.typed \
              $(git ls-files 'csrc/core/*.c' 'csrc/core/*.h' 'csrc/binding/*.c' 'csrc/binding/*.h'); do
    grep -qxF "$member" "$out/sdist-files.txt" ||
        { echo "missing from the sdist: $member"; missing=1; }
done
[ "$missing" = 0 ]
if grep -E '^(build|\.git)/|\.so$' "$out/sdist-files.txt"; then
    echo "the sdist carries build products or .git"; exit 1
fi
echo "sdist built and complete: $((SECONDS - phase)) s"

phase=$SECONDS
# The wheel from the sdist alone (unpacked elsewhere: nothing of the
# checkout can leak in), in pip's isolated build environment.
PYGOCHAN_WERROR=1 "$tools" -m pip wheel -q --no-deps -w "$out/wheelhouse" "$sdist" \
    >"$out/wheel.log" 2>&1 || { tail -30 "$out/wheel.log"; exit 1; }
wheel=$(ls "$out"/wheelhouse/pygochan-*.whl)
echo "wheel from the sdist: $(basename "$wheel"): $((SECONDS - phase)) s"

"$out/venv-tools/bin/auditwheel" show "$wheel" | tee "$out/auditwheel.txt"
# "consistent with the following platform tag: manylinux_2_17_x86_64" (the
# wording of auditwheel 6; older ones said 'is consistent with ...').
tag=$(grep -oE 'manylinux_2_[0-9]+_[a-z0-9_]+' "$out/auditwheel.txt" | head -1)
[ -n "$tag" ] || { echo "auditwheel show named no manylinux tag"; exit 1; }
glibc_minor=$(echo "$tag" | cut -d_ -f3)
echo "auditwheel: no library outside the manylinux policy's list; the tag here is $tag"
if [ "$glibc_minor" -gt 28 ]; then
    # Linked against this machine's glibc (2.36), not manylinux_2_28's
    # (2.28).  glibc 2.34 moved the pthread functions from libpthread into
    # libc under a new symbol version, GLIBC_2.34; linked against 2.28 they
    # bind to libpthread's old versions instead.  So the tag above is only a
    # matter of where the wheel was linked if every symbol newer than
    # GLIBC_2.28 is such a pthread function; anything else would need a
    # newer glibc from the manylinux_2_28 build too.
    mkdir -p "$out/unpacked"
    "$tools" -m zipfile -e "$wheel" "$out/unpacked"
    newer=$(objdump -T "$out"/unpacked/pygochan/_core*.so |
            awk '$0 ~ /GLIBC_2\.(29|[3-9][0-9])/ { print $NF }' | sort)
    echo "symbols newer than GLIBC_2.28:" $newer
    others=$(echo "$newer" | grep -v '^pthread_' || true)
    [ -z "$others" ] ||
        { echo "symbols that need a glibc newer than 2.28 (manylinux_2_28 could not provide them):" $others; exit 1; }
    echo "all are pthread functions, which glibc 2.28 has (in libpthread): linked"
    echo "against 2.28, as in the manylinux_2_28 image, they need no newer glibc"
fi

phase=$SECONDS
"$python" -m venv "$out/venv-clean"
clean=$ROOT/$out/venv-clean/bin/python
"$clean" -m pip install -q "$wheel[test]"
tests=$(mktemp -d)
trap 'rm -rf "$tests"' EXIT
# A [tool.cibuildwheel] setting of pyproject.toml, for the shell: a list as
# words, a table as NAME=value words, a string as it is.
cibw_setting() {
    "$python" -c '
import sys, tomllib
value = tomllib.load(open(sys.argv[1], "rb"))["tool"]["cibuildwheel"][sys.argv[2]]
if isinstance(value, list):
    value = " ".join(value)
elif isinstance(value, dict):
    value = " ".join(f"{k}={v}" for k, v in value.items())
print(value)' "$ROOT/pyproject.toml" "$1"
}
# the test-sources, copied as cibuildwheel copies them
cp -r $(cibw_setting test-sources) "$tests/"
(
    cd "$tests"
    "$clean" -c '
import sys, pygochan
assert pygochan.__file__.startswith(sys.prefix), pygochan.__file__
print("pygochan imported from the clean venv:", pygochan.__file__)'
    "$clean" -m pygochan >/dev/null
    # The whole suite, by the test-command and test-environment that
    # cibuildwheel uses on each forge's runner (so the two never differ),
    # with the clean venv's python as "python".
    command=$(cibw_setting test-command)
    environment=$(cibw_setting test-environment)
    echo "test-command: $environment $command"
    env $environment PATH="$(dirname "$clean"):$PATH" bash -c "$command"
)
echo "installed in a clean venv, tests from a temporary directory: $((SECONDS - phase)) s"
echo "step took $((SECONDS - start)) s"
