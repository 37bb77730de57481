#!/usr/bin/env bash
# CPython 3.14 and 3.15 (Debian sid's packages, in a cached chroot): a fresh
# copy of the checkout, a fresh venv, the README's test command.
#   .ci/step-sid-pythons.sh [VERSION...]     default: 3.14 3.15
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.14 3.15)
start=$SECONDS
chroot_dir=$(.ci/sid-chroot.sh ensure)
echo "chroot ready in $((SECONDS - start)) s"
for version in "${versions[@]}"; do
    step_start=$SECONDS
    work=/work/pygochan-$version
    # A copy, not a bind mount: the build writes into the tree and must not
    # meet the host's build of the same files.
    rm -rf "${chroot_dir:?}$work"
    mkdir -p "$chroot_dir$work"
    tar -c --exclude=./build --exclude=./.git --exclude='*.so' --exclude='*.egg-info' \
        --exclude=__pycache__ . | tar -x -C "$chroot_dir$work"
    .ci/sid-chroot.sh run /bin/sh -ec "
        cd $work
        python$version -m venv /work/venv-$version
        . /work/venv-$version/bin/activate
        echo \"--- \$(python3 -VV)\"
        python3 -m pip install -q -e '.[test]' && python3 -m pytest -q -p no:cacheprovider
    "
    echo "Python $version: $((SECONDS - step_start)) s"
done
echo "step took $((SECONDS - start)) s"
