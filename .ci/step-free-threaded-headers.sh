#!/usr/bin/env bash
# The extension compiled for the free-threaded CPython 3.14t and 3.15t, in
# the Debian sid chroot of .ci/step-sid-pythons.sh.  Debian ships no
# free-threaded build of 3.14 or 3.15 (no python3.14t, no libpython3.14t, and
# its pyconfig.h leaves Py_GIL_DISABLED undefined), so this compiles only:
# every binding source (csrc/binding/**/*.c) with -DPy_GIL_DISABLED=1
# against each version's headers, with the flags of the real build (C11,
# _GNU_SOURCE, -Wall -Wextra -Werror), to objects; nothing is linked or run.
# Then it checks, in module.c as the compiler sees it with Py_GIL_DISABLED,
# that the module's slots hold {Py_mod_gil, Py_MOD_GIL_NOT_USED}: importing
# it keeps the GIL off.
#   .ci/step-free-threaded-headers.sh [VERSION...]     default: 3.14 3.15
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.14 3.15)
start=$SECONDS
chroot_dir=$(.ci/sid-chroot.sh ensure)
work=/work/pygochan-ft-headers
rm -rf "${chroot_dir:?}$work"
mkdir -p "$chroot_dir$work"
tar -c csrc/binding csrc/core .ci/ft-headers-compile.sh .ci/check-gil-slot.py | tar -x -C "$chroot_dir$work"
for version in "${versions[@]}"; do
    .ci/sid-chroot.sh run /bin/sh -ec "cd $work && .ci/ft-headers-compile.sh $version"
done
echo "step took $((SECONDS - start)) s"
