#!/bin/sh
# Inside the sid chroot (.ci/step-free-threaded-headers.sh): compile every
# binding source for a free-threaded CPython VERSION against its headers,
# then check the module's Py_mod_gil slot.   ft-headers-compile.sh VERSION
set -eu
version=$1
inc=$(python"$version" -c 'import sysconfig; print(sysconfig.get_path("include"))')
echo "--- $(gcc --version | head -1); CPython $version headers: $inc"
# The real build's flags (csrc/CMakeLists.txt), warnings as errors
flags="-std=c11 -D_GNU_SOURCE -DPy_GIL_DISABLED=1 -Wall -Wextra -Werror -O2 -fPIC
       -Icsrc/binding -Icsrc/core -I$inc"
out=obj-$version
rm -rf "$out" && mkdir "$out"
n=0
for src in $(find csrc/binding -name '*.c' | sort); do
    # shellcheck disable=SC2086
    gcc $flags -c "$src" -o "$out/$(echo "$src" | tr / _).o"
    n=$((n + 1))
done
echo "compiled $n binding sources with Py_GIL_DISABLED=1, -Wall -Wextra -Werror"
# The free-threaded object layout took effect: Py_DECREF of a shared object
# calls _Py_DecRefShared, which exists only in that build.
refs=$(nm -u "$out"/*.o | grep -c ' _Py_DecRefShared$' || true)
[ "$refs" -gt 0 ] || { echo "no object calls _Py_DecRefShared: Py_GIL_DISABLED had no effect" >&2; exit 1; }
echo "$refs objects call _Py_DecRefShared (the free-threaded reference counting)"
# shellcheck disable=SC2086
gcc $flags -E -P csrc/binding/module.c -o "$out/module.i"
# shellcheck disable=SC2086
printf '%s\n' '#include <Python.h>' 'GIL_SLOT: Py_mod_gil Py_MOD_GIL_NOT_USED' \
    | gcc $flags -E -P -x c - | grep '^GIL_SLOT:' > "$out/gil-slot.txt"
python"$version" .ci/check-gil-slot.py "$out/module.i" "$out/gil-slot.txt"
