#!/usr/bin/env bash
# A Debian sid chroot carrying CPython 3.14 and 3.15 (the machines' pyenv stops
# at 3.13). Built once with debootstrap and cached outside the checkout, keyed
# on this script's contents; rebuilt when absent.
#
#   .ci/sid-chroot.sh ensure          build the chroot if missing, print its path
#   .ci/sid-chroot.sh run CMD...      run CMD inside it (as root, /proc and /dev
#                                     mounted for the duration)
set -euo pipefail
SUITE=sid
PACKAGES=python3.14,python3.14-dev,python3.14-venv,python3.15,python3.15-dev,python3.15-venv,gcc,libc6-dev
MIRROR=http://deb.debian.org/debian

cache_dir=${PYGOCHAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pygochan}
# Keyed on what goes into the chroot, so that editing the rest of this script
# reuses it.
key=$(echo "$SUITE $PACKAGES $MIRROR" | sha256sum | cut -c1-12)
chroot_dir="$cache_dir/sid-chroot-$key"

ensure_chroot() {
    [ -x "$chroot_dir/usr/bin/python3.15" ] && return
    mkdir -p "$cache_dir"
    # one debootstrap at a time (see free-threaded-python.sh)
    exec 9>"$chroot_dir.lock"
    flock 9
    [ -x "$chroot_dir/usr/bin/python3.15" ] && return
    "$(dirname "$0")/apt-install.sh" debootstrap
    local partial="$chroot_dir.partial"
    rm -rf "$partial"
    local start=$SECONDS
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$partial" "$MIRROR" \
        > "$cache_dir/sid-chroot-$key.log" 2>&1 ||
        { tail -20 "$cache_dir/sid-chroot-$key.log"; exit 1; }
    mv "$partial" "$chroot_dir"
    echo "sid chroot built in $((SECONDS - start)) s: $chroot_dir" >&2
    exec 9>&-
}

# Mounts are per run so that a crashed run leaves nothing mounted for long;
# an already mounted point (a concurrent run) is left alone.
run_in_chroot() {
    ensure_chroot
    local mounted=()
    if ! mountpoint -q "$chroot_dir/proc"; then
        mount -t proc proc "$chroot_dir/proc" && mounted+=("$chroot_dir/proc")
    fi
    if ! mountpoint -q "$chroot_dir/dev"; then
        mount --bind /dev "$chroot_dir/dev" && mounted+=("$chroot_dir/dev")
    fi
    # The host's network setup: name resolution, its CA bundle (the venv's
    # pip reaches PyPI with it) and proxy / index settings.
    cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
    local bundle=/etc/ssl/certs/ca-certificates.crt
    if [ -f "$bundle" ]; then
        mkdir -p "$chroot_dir/etc/ssl/certs"
        cp "$bundle" "$chroot_dir$bundle"
    fi
    local passed=() name
    for name in PIP_CERT PIP_INDEX_URL PIP_DEFAULT_TIMEOUT http_proxy https_proxy no_proxy \
                HTTP_PROXY HTTPS_PROXY NO_PROXY PYGOCHAN_WERROR PYGOCHAN_SEED PYGOCHAN_STORM_SECONDS; do
        [ -n "${!name:-}" ] && passed+=("$name=${!name}")
    done
    local rc=0
    chroot "$chroot_dir" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin \
        LANG=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1 SSL_CERT_FILE="$bundle" "${passed[@]}" \
        "$@" || rc=$?
    local point
    for point in "${mounted[@]}"; do umount "$point" || umount -l "$point"; done
    return $rc
}

case "${1:-ensure}" in
    ensure) ensure_chroot; echo "$chroot_dir" ;;
    run) shift; run_in_chroot "$@" ;;
    *) echo "usage: $0 ensure | run CMD..." >&2; exit 2 ;;
esac
