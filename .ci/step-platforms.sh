#!/usr/bin/env bash
# Platform checks: what can be tested on this Linux machine of the code that
# other systems run (docs/platforms.md says which check covers what).
#
#   core-cond           the C core's tests, park and hub wake-up forced to the
#                       portable fallback (-DPYGOCHAN_PARK=cond
#                       -DPYGOCHAN_WAKE=pipe), as on macOS and the BSDs
#   core-cond-nosetclock  the same, the condvars acting as where they cannot
#                       wait on the monotonic clock (macOS, winpthreads)
#   python-cond         the extension built with that fallback, in a venv of
#                       its own: the pytest modules of channels, select,
#                       timers, asyncio, fork and Ctrl-C
#   windows-wine        the core's tests cross-compiled for Windows x86_64
#                       with mingw-w64 (park win32: WaitOnAddress, wake-up:
#                       a socket pair) and run under wine (Debian's
#                       mingw-w64, wine and wine64, installed if missing);
#                       the core library itself must not refer to pthreads
#                       there (its threads are Windows' own; only the tests'
#                       harness uses winpthreads)
#   windows-binding     the extension compiled and linked for Windows x86_64
#                       with mingw-w64 (win32 thread model) against CPython
#                       3.13's own Windows headers (Include/ and PC/pyconfig.h
#                       of the upstream tarball in Debian's python3.13 source
#                       package), warnings as errors; no object may refer to
#                       a pthread symbol, and the .pyd imports from
#                       python313.dll and system DLLs only
#   windows-wine-cond   the same tests with the cond park over winpthreads
#                       (-DPYGOCHAN_PARK=cond), whose condvars refuse
#                       CLOCK_MONOTONIC
#   zig-<target>        the core and its test programs compiled and linked
#                       (not run) for macOS (x86_64, arm64), FreeBSD, NetBSD
#                       and OpenBSD with zig's cc (ziglang from PyPI; its
#                       wheel is kept in ~/.cache/pygochan/wheels); for
#                       macOS also with the __ulock_wait park (-ulock), for
#                       FreeBSD with the _umtx_op park (-umtx)
#
# Every check runs, even after one fails; the script prints a summary and
# exits non-zero if any failed or could not run.  Run from the checkout's
# root; .ci/run calls it.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYGOCHAN_WERROR=1
export PIP_DISABLE_PIP_VERSION_CHECK=1

results=()
failed=0
check() {
    local name=$1 start=$SECONDS status
    shift
    printf '\n----- platform check %s: %s\n' "$name" "$*"
    "$@"
    status=$?
    if [ "$status" -eq 0 ]; then
        results+=("$(printf 'ok    %4d s  %s' $((SECONDS - start)) "$name")")
    else
        results+=("$(printf 'FAIL  %4d s  %s (exit %d)' $((SECONDS - start)) "$name" "$status")")
        failed=1
    fi
}

# The core and its tests, configured with the given CMake options; CTest's
# output kept to each test's line and each program's result.
core_tests() {
    local dir=$1
    shift
    cmake -S csrc -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSANITIZE= "$@" \
        | grep 'pygochan platform' || return 1
    cmake --build "$dir" -j2 >/dev/null || return 1
    ctest --test-dir "$dir" --output-on-failure -V \
        | grep -E "^[0-9]+: (ok |FAIL|skip|seed|[0-9]+ passed)|^ *[0-9]+/[0-9]+ Test|tests passed"
}

# The Python tests that exercise the park and the hub most: blocking
# channel calls and select, timers, fork, and Ctrl-C (the cond park does
# not wake on a signal: a blocked call notices it at its sleep slice's end).
PYTHON_COND_TESTS=(tests/channels tests/select tests/timers tests/asyncio
                   tests/properties/test_fork.py tests/properties/interrupt
                   tests/properties/test_exactly_once_storm.py)
python_cond() {
    local venv=build/venv-cond
    rm -rf "$venv"
    python3 -m venv "$venv" || return 1
    # Its own build tree: the default build tree stays a futex build.
    "$venv/bin/python" -m pip install -q -e ".[test]" \
        -Ccmake.define.PYGOCHAN_PARK=cond -Ccmake.define.PYGOCHAN_WAKE=pipe \
        -Cbuild-dir=build/ext-cond || return 1
    # What was built, from the build tree's cache.
    grep -E '^PYGOCHAN_(PARK|WAKE):' build/ext-cond/CMakeCache.txt
    grep -qx 'PYGOCHAN_PARK:STRING=cond' build/ext-cond/CMakeCache.txt || return 1
    PYGOCHAN_STORM_SECONDS=${PYGOCHAN_STORM_SECONDS:-0.75} \
        "$venv/bin/python" -m pytest -q -p no:cacheprovider "${PYTHON_COND_TESTS[@]}"
}

# Debian's packages the Windows check needs, installed if missing.
windows_install() {
    .ci/apt-install.sh mingw-w64 wine wine64 || return 1
    x86_64-w64-mingw32-gcc-posix --version | head -1 && wine --version 2>/dev/null
}
# The core's tests for Windows, run by CTest through wine: 64-bit only (no
# wine32 needed), linked statically so that no MinGW DLL has to be found.
windows_tests() {
    local dir=build/c-windows-$1
    # The prefix lives outside the checkout: wine links its drive z: to /, and
    # a tool that walks the checkout following links (the sdist's file
    # scan) would walk the whole file system.
    export WINEDEBUG=-all WINEPREFIX=${PYGOCHAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pygochan}/wineprefix WINEARCH=win64
    mkdir -p "$(dirname "$WINEPREFIX")"
    cmake -S csrc -B "$dir" -DCMAKE_SYSTEM_NAME=Windows \
        -DCMAKE_C_COMPILER=x86_64-w64-mingw32-gcc-posix -DCMAKE_EXE_LINKER_FLAGS=-static \
        -DCMAKE_CROSSCOMPILING_EMULATOR=wine -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPYGOCHAN_PARK="$1" \
        | grep 'pygochan platform' || return 1
    cmake --build "$dir" -j2 >/dev/null || return 1
    if [ "$1" != cond ] && x86_64-w64-mingw32-nm "$dir/libgocore.a" | grep -i pthread; then
        echo "the core refers to pthreads on Windows (above)"
        return 1
    fi
    wineboot -i >/dev/null 2>&1 # makes the prefix once, outside the timed tests
    local status=0
    ctest --test-dir "$dir" --output-on-failure -V \
        | grep -E "^[0-9]+: (ok |FAIL|skip|seed|[0-9]+ passed)|^ *[0-9]+/[0-9]+ Test|tests passed" \
        || status=1
    wineserver -k 2>/dev/null # this prefix's server, which would linger a while
    return "$status"
}

# The extension for Windows, compiled and linked: the binding against
# CPython 3.13's Windows headers and the core built alike, both with
# MinGW's win32 thread model (whose libgcc keeps _Thread_local's emulation
# off winpthreads, as MSVC's native TLS does), into a .pyd.  There is no
# python313.dll here: its import library is made from the Python symbols
# the objects use, all declared dllimport by the headers, so the link
# proves that nothing else is missing.  The .pyd must export PyInit__core
# and import from python313.dll and the system's own DLLs only.
windows_binding() {
    local dir=build/windows-binding tarball inc src obj n=0 imports
    local cc=x86_64-w64-mingw32-gcc-win32
    tarball=$(.ci/free-threaded-python.sh source) || return 1
    rm -rf "$dir"
    mkdir -p "$dir/python" "$dir/obj"
    tar -xJf "$tarball" -C "$dir/python" --strip-components=1 \
        --wildcards '*/Include/*' '*/PC/pyconfig.h*' || return 1
    inc=$dir/python
    # 3.13 ships it as a template whose one substitution (Py_GIL_DISABLED)
    # stays undefined in the default build
    [ -f "$inc/PC/pyconfig.h" ] || cp "$inc/PC/pyconfig.h.in" "$inc/PC/pyconfig.h"
    cmake -S csrc -B "$dir/core" -DCMAKE_SYSTEM_NAME=Windows -DCMAKE_C_COMPILER=$cc \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYGOCHAN_TESTS=OFF >/dev/null || return 1
    cmake --build "$dir/core" -j2 >/dev/null || return 1
    for src in $(find csrc/binding -name '*.c' | sort); do
        obj=$dir/obj/$(echo "${src#csrc/binding/}" | tr / _).o
        $cc -std=c11 -O2 -Wall -Wextra -Werror \
            -I"$inc/Include" -I"$inc/PC" -Icsrc/binding -Icsrc/core -c "$src" -o "$obj" \
            || return 1
        n=$((n + 1))
    done
    if x86_64-w64-mingw32-nm -u "$dir"/obj/*.o | grep -i pthread; then
        echo "the binding refers to pthreads on Windows (above)"
        return 1
    fi
    { echo "LIBRARY python313.dll"; echo "EXPORTS"
      x86_64-w64-mingw32-nm -u "$dir"/obj/*.o | awk 'NF == 2 { print $2 }' |
          sed 's/^__imp_//' | grep -E '^_?Py' | sort -u; } >"$dir/python313.def"
    x86_64-w64-mingw32-dlltool -d "$dir/python313.def" -l "$dir/libpython313.a" || return 1
    $cc -shared -static-libgcc -o "$dir/_core.cp313-win_amd64.pyd" "$dir"/obj/*.o \
        "$dir/core/libgocore.a" "$dir/libpython313.a" -lsynchronization -lws2_32 || return 1
    x86_64-w64-mingw32-objdump -p "$dir/_core.cp313-win_amd64.pyd" >"$dir/pyd.txt" || return 1
    grep -q 'PyInit__core$' "$dir/pyd.txt" || { echo "PyInit__core is not exported"; return 1; }
    imports=$(awk '/DLL Name:/ { print $3 }' "$dir/pyd.txt" | sort | tr '\n' ' ')
    echo "$n binding files compiled, linked with the core: _core.cp313-win_amd64.pyd imports $imports"
    if awk '/DLL Name:/ { print $3 }' "$dir/pyd.txt" |
            grep -viE '^(python313|kernel32|msvcrt|ws2_32|api-ms-win-core-synch-l1-2-0)\.dll$'; then
        echo "the extension needs a DLL beyond CPython's and the system's (above)"
        return 1
    fi
}

# zig's cc as CMake's compiler for one target: small wrappers, since CMake
# wants one program per tool.
ZIG_VENV=build/venv-zig
ZIG_TOOLS=$PWD/build/zig-tools
ZIG_WHEELS=${PYGOCHAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pygochan}/wheels
# zig's own cache (the C libraries it builds for each target) beside it
export ZIG_GLOBAL_CACHE_DIR=${PYGOCHAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pygochan}/zig
zig_install() {
    if ! ls "$ZIG_WHEELS"/ziglang-*.whl >/dev/null 2>&1; then
        mkdir -p "$ZIG_WHEELS"
        python3 -m pip download -q --no-deps --only-binary=:all: ziglang -d "$ZIG_WHEELS" \
            || return 1
    fi
    rm -rf "$ZIG_VENV"
    python3 -m venv "$ZIG_VENV" || return 1
    "$ZIG_VENV/bin/python" -m pip install -q --no-index --find-links "$ZIG_WHEELS" ziglang \
        || return 1
    printf 'zig %s\n' "$("$ZIG_VENV/bin/python" -m ziglang version)"
    mkdir -p "$ZIG_TOOLS"
    local tool
    for tool in cc ar ranlib; do
        printf '#!/bin/sh\nexec "%s" -m ziglang %s %s "$@"\n' \
            "$PWD/$ZIG_VENV/bin/python" "$tool" \
            "$([ "$tool" = cc ] && echo '-target "$ZIG_TARGET"')" >"$ZIG_TOOLS/zig-$tool"
        chmod +x "$ZIG_TOOLS/zig-$tool"
    done
}
zig_build() {
    local target=$1 system=$2 park=${3:-auto} dir=build/zig-$1-${3:-auto} magic
    [ -x "$ZIG_TOOLS/zig-cc" ] || { echo "zig is not installed"; return 1; }
    rm -rf "$dir"
    ZIG_TARGET=$target cmake -S csrc -B "$dir" -DCMAKE_SYSTEM_NAME="$system" \
        -DCMAKE_C_COMPILER="$ZIG_TOOLS/zig-cc" -DCMAKE_AR="$ZIG_TOOLS/zig-ar" \
        -DCMAKE_RANLIB="$ZIG_TOOLS/zig-ranlib" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPYGOCHAN_PARK="$park" | grep 'pygochan platform' || return 1
    ZIG_TARGET=$target cmake --build "$dir" -j2 >/dev/null || return 1
    # Every test program linked, in the target's format.
    local expect=7f454c46 program n=0
    case $target in *-macos) expect=cffaedfe ;; esac
    for program in "$dir"/test_*; do
        [ -f "$program" ] && [ -x "$program" ] || continue
        magic=$(od -An -tx1 -N4 "$program" | tr -d ' \n')
        [ "$magic" = "$expect" ] || { echo "$program: magic $magic, not $expect"; return 1; }
        n=$((n + 1))
    done
    echo "$n test programs linked for $target"
    [ "$n" -eq "$(ls csrc/core/tests/test_*.c | wc -l)" ]
}

check core-cond core_tests build/c-cond -DPYGOCHAN_PARK=cond -DPYGOCHAN_WAKE=pipe
check core-cond-nosetclock core_tests build/c-cond-nosetclock -DPYGOCHAN_PARK=cond \
    -DPYGOCHAN_WAKE=pipe -DPYGOCHAN_COND_NO_SETCLOCK=ON
check python-cond python_cond
check windows-install windows_install
check windows-wine windows_tests auto
check windows-wine-cond windows_tests cond
check windows-binding windows_binding
check zig-install zig_install
check zig-x86_64-macos zig_build x86_64-macos Darwin
check zig-aarch64-macos zig_build aarch64-macos Darwin
check zig-x86_64-macos-ulock zig_build x86_64-macos Darwin ulock
check zig-aarch64-macos-ulock zig_build aarch64-macos Darwin ulock
check zig-x86_64-freebsd zig_build x86_64-freebsd FreeBSD
check zig-x86_64-freebsd-umtx zig_build x86_64-freebsd FreeBSD umtx
check zig-x86_64-netbsd zig_build x86_64-netbsd NetBSD
check zig-x86_64-openbsd zig_build x86_64-openbsd OpenBSD

printf '\n----- platform checks\n'
printf '%s\n' "${results[@]}"
exit "$failed"
