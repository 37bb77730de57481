#!/usr/bin/env bash
# What CI needs that takes minutes to make on a fresh machine, made in the
# background while the first steps run: Debian's packages, the sid chroot
# (3.14, 3.15), the free-threaded CPython 3.13 and its ThreadSanitizer build.
# Each piece is cached outside the checkout and made under a lock, so a step
# that needs one before it is ready waits for it (and one that finds it
# missing, because this failed, makes it itself and reports the failure).
# Nothing here runs when everything is cached.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
took() { echo "prepared $1 at +$((SECONDS - start)) s"; }
# Every package any step installs, in one apt run.
# shellcheck disable=SC2046
.ci/apt-install.sh debootstrap mingw-w64 wine wine64 python3.11-dbg python3.11-venv \
    $(.ci/free-threaded-python.sh build-deps) && took "Debian packages"
# the chroot first: mostly downloads, it leaves the CPU to the steps
.ci/sid-chroot.sh ensure >/dev/null && took "sid chroot"
.ci/free-threaded-python.sh ft >/dev/null && took "CPython 3.13t"
.ci/free-threaded-python.sh ft-tsan >/dev/null && took "CPython 3.13t with TSan"
