#!/usr/bin/env bash
# CPython's own ThreadPoolExecutor tests (Lib/test/test_concurrent_futures:
# executor, test_thread_pool, test_wait, test_as_completed, test_shutdown)
# run against pygochan.Pool, on every pyenv CPython whose standard library
# ships that test package.  Each gets a fresh venv under build/ with
# pygochan installed and the test-run shim (see tests/executors/cpython_executor/run.py)
# in the venv's site-packages; the interpreter's own files are not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
ran=0
candidates=()
if command -v pyenv >/dev/null 2>&1; then
    for dir in "$(pyenv root)"/versions/3.*; do
        [ -x "$dir/bin/python3" ] && candidates+=("$dir/bin/python3")
    done
fi
candidates+=("$(command -v python3)")
seen=""
for py in "${candidates[@]}"; do
    version=$("$py" -c 'import platform; print(platform.python_version())')
    case " $seen " in *" $version "*) continue ;; esac
    seen="$seen $version"
    "$py" -c 'import test.test_concurrent_futures.util' 2>/dev/null || {
        echo "--- Python $version: no Lib/test/test_concurrent_futures, skipped"
        continue
    }
    echo "--- Python $version"
    venv="build/venv-cpython-tests-$version"
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q -e .
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    cp tests/executors/cpython_executor/shim/pygochan_cpython_tests.pth "$site/"
    (cd /tmp && "$OLDPWD/$venv/bin/python" "$OLDPWD/tests/executors/cpython_executor/run.py")
    ran=$((ran + 1))
done
if [ "$ran" -eq 0 ]; then
    echo "no CPython with Lib/test/test_concurrent_futures found (pyenv 3.13 ships it)" >&2
    exit 1
fi
echo "CPython executor tests: $ran interpreter(s), $((SECONDS - started)) s"
