#!/usr/bin/env bash
# Install the Debian packages named that are missing, one apt at a time: CI
# prepares interpreters and chroots in the background (.ci/prepare-caches.sh)
# while its steps run, and two apt-gets at once would fail on dpkg's lock.
#
#   .ci/apt-install.sh PACKAGE...
set -euo pipefail
missing=()
for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -gt 0 ] || exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
lock=${PYGOCHAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pygochan}/apt.lock
mkdir -p "$(dirname "$lock")"
exec 9>"$lock"
flock 9
# Another run may have installed them while this one waited.
still=()
for pkg in "${missing[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || still+=("$pkg")
done
[ ${#still[@]} -gt 0 ] || exit 0
echo "installing ${still[*]}" >&2
$sudo apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${still[@]}" >/dev/null
