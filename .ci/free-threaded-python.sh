#!/usr/bin/env bash
# A free-threaded CPython 3.13 (configure --disable-gil) built from the upstream
# tarball that Debian's python3.13 source package carries: pyenv has no
# free-threaded build and python.org is not reachable from the CI machines.
# Built once per variant and cached outside the checkout; rebuilt when absent.
#
#   .ci/free-threaded-python.sh ft        prints the prefix of a --disable-gil build
#   .ci/free-threaded-python.sh ft-tsan   ... of a --disable-gil --with-thread-sanitizer build
#   .ci/free-threaded-python.sh source    prints the path of the upstream source tarball
#                                         (its Include/ and PC/ are Windows' headers)
#
# The interpreter is "$prefix/bin/python3.13t". Apt runs with its own source
# list and state directory, so the machine's apt configuration is untouched.
set -euo pipefail
variant=${1:?usage: $0 ft|ft-tsan|source|build-deps}
BUILD_DEPS=(build-essential pkg-config xz-utils libssl-dev zlib1g-dev libffi-dev libbz2-dev
            liblzma-dev libsqlite3-dev libreadline-dev libncurses-dev uuid-dev)
case "$variant" in
    # the Debian packages a build needs (.ci/prepare-caches.sh installs them early)
    build-deps) echo "${BUILD_DEPS[@]}"; exit 0 ;;
    ft|source) configure_flags=(--disable-gil) ;;
    # Only a subset of pygochan's tests runs under TSan, none needing the
    # stdlib's test package: not building it halves the (sanitized) install.
    ft-tsan) configure_flags=(--disable-gil --with-thread-sanitizer --disable-test-modules) ;;
    *) echo "unknown variant $variant" >&2; exit 2 ;;
esac
SOURCE_SUITES="trixie sid"

cache_dir=${PYGOCHAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pygochan}
# Keyed on what goes into the build (bump BUILD_REVISION when changing how it
# is built), so that editing the rest of this script reuses it.
BUILD_REVISION=1
key=$(echo "$BUILD_REVISION $variant ${configure_flags[*]} $SOURCE_SUITES" | sha256sum | cut -c1-12)
prefix="$cache_dir/cpython-3.13-$variant-$key"
source_dir="$cache_dir/python3.13-source-$(echo "$SOURCE_SUITES" | sha256sum | cut -c1-12)"

# The upstream tarball inside Debian's source package (python3.13_*.orig.tar.xz).
# A build and the `source` command may fetch at once: one fetch at a time.
fetch_source_tarball() {
    ls "$source_dir"/python3.13_*.orig.tar.xz >/dev/null 2>&1 && return
    mkdir -p "$cache_dir"
    (flock 8 && fetch_source_tarball_locked) 8>"$cache_dir/python3.13-source.lock"
}

fetch_source_tarball_locked() {
    ls "$source_dir"/python3.13_*.orig.tar.xz >/dev/null 2>&1 && return
    local apt_dir="$cache_dir/apt-src-$key" suite
    mkdir -p "$apt_dir/lists/partial" "$source_dir"
    : > "$apt_dir/sources.list"
    for suite in $SOURCE_SUITES; do
        echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
            >> "$apt_dir/sources.list"
    done
    local apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
                    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
                    -o "APT::Sandbox::User=root")
    apt-get "${apt_opts[@]}" update -q >/dev/null
    # The index may list a version whose files the mirror no longer serves:
    # take the newest that downloads.
    local version
    for version in $(apt-cache "${apt_opts[@]}" showsrc python3.13 |
                     sed -n 's/^Version: //p' | sort -V -r -u); do
        (cd "$source_dir" &&
         apt-get "${apt_opts[@]}" source --download-only -q "python3.13=$version" >/dev/null 2>&1) &&
            break
        rm -f "$source_dir"/python3.13_*
    done
    ls "$source_dir"/python3.13_*.orig.tar.xz >/dev/null
}

build() {
    "$(dirname "$0")/apt-install.sh" "${BUILD_DEPS[@]}"
    fetch_source_tarball
    local work="$cache_dir/build-$variant-$key"
    rm -rf "$work" "$prefix"
    mkdir -p "$work"
    tar -xJf "$source_dir"/python3.13_*.orig.tar.xz -C "$work" --strip-components=1
    local start=$SECONDS log="$cache_dir/cpython-3.13-$variant-$key.log"
    # TSan reports from the freshly built interpreter while the build runs it
    # (CPython's own, known) must not fail the build.
    (
        cd "$work"
        export TSAN_OPTIONS=exitcode=0:report_bugs=0
        phase=$SECONDS
        ./configure -q --prefix="$prefix" "${configure_flags[@]}" --without-ensurepip
        echo "== configure: $((SECONDS - phase)) s" && phase=$SECONDS
        make -j2 -s
        echo "== make: $((SECONDS - phase)) s" && phase=$SECONDS
        make -s install
        echo "== install: $((SECONDS - phase)) s"
    ) > "$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }
    grep '^== ' "$log" >&2
    # The prefix is baked into the interpreter, so it is built in place and
    # only a marker says that it is complete.
    touch "$prefix/.complete"
    rm -rf "$work"
    echo "CPython 3.13 ($variant) built in $((SECONDS - start)) s: $prefix" >&2
}

if [ "$variant" = source ]; then
    fetch_source_tarball
    ls "$source_dir"/python3.13_*.orig.tar.xz | tail -1
    exit 0
fi

# One build per variant at a time: CI starts the build in the background
# (.ci/prepare-caches.sh) and a step that needs the interpreter sooner waits
# here for it instead of building it twice.
if [ ! -e "$prefix/.complete" ]; then
    mkdir -p "$cache_dir"
    exec 9>"$cache_dir/cpython-3.13-$variant.lock"
    flock 9
    [ -e "$prefix/.complete" ] || build
fi
echo "$prefix"
