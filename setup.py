"""Build the C extension pygochan._core from csrc/ with plain setuptools.

Only a C compiler is needed.  PYGOCHAN_WERROR=1 turns warnings into errors
(CI builds that way).
"""
import glob
import os

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def sources():
    # The core (csrc/*.c, plain C) and the binding (csrc/py/*.c), relative
    # paths as setuptools requires.
    found = glob.glob(os.path.join(HERE, "csrc", "*.c")) + glob.glob(
        os.path.join(HERE, "csrc", "py", "*.c")
    )
    return sorted(os.path.relpath(path, HERE) for path in found)


compile_args = ["-std=c11", "-O2", "-Wall", "-Wextra"]
if os.environ.get("PYGOCHAN_WERROR") == "1":
    compile_args.append("-Werror")

setup(
    ext_modules=[
        Extension(
            "pygochan._core",
            sources=sources(),
            include_dirs=["csrc"],
            define_macros=[("_GNU_SOURCE", "1")],
            extra_compile_args=compile_args,
            libraries=["pthread"],
        )
    ]
)
