# SPDX-License-Identifier: MIT
"""Builds the `rollout` Python package from a librollout checkout.

    pip install --no-build-isolation ./bindings/python      # from the repository root

Offline by design: it needs only the interpreter's own setuptools, a C
compiler, pkg-config and the -dev packages librollout itself builds with
(libyaml-dev, libpcre2-dev, libxxhash-dev, and for rollout.Store
libhiredis-dev and libssl-dev). It compiles the library's C sources
(../../lib/*.c, with the seed plan embedded as the CMake build does) and the
store component's (../../store/*.c) together with the binding into one
extension, rollout/_rollout.abi3.so: the limited API of Python 3.8, so the
same file serves every CPython >= 3.8.

Because the library's sources live outside this directory, install from the
checkout (pip builds local directories in place); a copy of bindings/python
on its own cannot build.
"""

import os
import re
import shlex
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import embed_seed  # noqa: E402  (next to this file)

if not os.path.isfile(os.path.join(ROOT, "include", "rollout.h")):
    sys.exit(
        f"setup.py: {ROOT}/include/rollout.h not found. The rollout package compiles "
        "librollout's own sources, so build it from the repository checkout: run "
        "`pip install --no-build-isolation ./bindings/python` in the repository root, "
        "not from a copy of bindings/python."
    )


def library_version() -> str:
    with open(os.path.join(ROOT, "include", "rollout.h"), encoding="utf-8") as f:
        header = f.read()
    parts = [re.search(rf"#define ROLLOUT_VERSION_{p}\s+(\d+)", header).group(1)
             for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


def pkg_config(*args: str) -> list:
    """pkg-config output split into words; [] when pkg-config is missing."""
    try:
        out = subprocess.run(["pkg-config", *args], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", "") or str(e)
        print(f"setup.py: pkg-config {' '.join(args)} failed ({detail.strip()}); "
              "falling back to default paths", file=sys.stderr)
        return []
    return shlex.split(out.stdout)


PACKAGES = ["yaml-0.1", "libpcre2-8", "libxxhash", "hiredis", "libcrypto"]
cflags = pkg_config("--cflags", *PACKAGES)
libs = pkg_config("--libs", *PACKAGES) or ["-lyaml", "-lpcre2-8", "-lhiredis", "-lcrypto"]

include_dirs = [os.path.join(ROOT, "include"), os.path.join(ROOT, "lib"),
                os.path.join(HERE, "src")]
include_dirs += [f[2:] for f in cflags if f.startswith("-I")]
library_dirs = [f[2:] for f in libs if f.startswith("-L")]
libraries = [f[2:] for f in libs if f.startswith("-l")] + ["m"]

lib_sources = sorted(
    os.path.join(ROOT, "lib", f) for f in os.listdir(os.path.join(ROOT, "lib")) if f.endswith(".c")
)
# the store component (rollout.Store): librollout_store's sources
store_sources = sorted(
    os.path.join(ROOT, "store", f) for f in os.listdir(os.path.join(ROOT, "store"))
    if f.endswith(".c")
)
binding_sources = sorted(
    os.path.join("src", f) for f in os.listdir(os.path.join(HERE, "src")) if f.endswith(".c")
)


class build_ext(_build_ext):  # noqa: N801 (setuptools' command name)
    """Embeds the seed plan (as cmake/embed.cmake does) and builds in parallel."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1

    def build_extension(self, ext):
        seed_c = os.path.join(os.path.abspath(self.build_temp), "seed_plan.c")
        os.makedirs(os.path.dirname(seed_c), exist_ok=True)
        embed_seed.write_if_changed(os.path.join(ROOT, "examples", "plans", "seed.yaml"), seed_c)
        if seed_c not in ext.sources:
            ext.sources.append(seed_c)
        super().build_extension(ext)


extension = Extension(
    "rollout._rollout",
    sources=binding_sources + lib_sources + store_sources,
    include_dirs=include_dirs,
    library_dirs=library_dirs,
    libraries=libraries,
    define_macros=[
        ("Py_LIMITED_API", "0x03080000"),
        # ROLLOUT_API expands to nothing, so with -fvisibility=hidden the
        # library's symbols stay inside the extension: only PyInit__rollout
        # is exported, and another librollout in the process cannot clash
        ("ROLLOUT_STATIC", None),
    ],
    # -fno-plt: calls into the interpreter go through its GOT entry without a
    # PLT stub (decide_many makes two an id), as the CMake build does.
    extra_compile_args=["-std=c11", "-fvisibility=hidden", "-fno-plt", "-Wall", "-Wextra",
                        "-Wno-unused-parameter"],
    extra_link_args=["-pthread"],
    py_limited_api=True,
)

cmdclass = {"build_ext": build_ext}
try:
    import wheel  # noqa: F401  (only to know whether bdist_wheel exists)
except ImportError:
    from wheel_fallback import bdist_wheel

    cmdclass["bdist_wheel"] = bdist_wheel

setup(
    name="rollout",
    version=library_version(),
    description="Canary-rollout decisions (librollout) for Python",
    long_description=__doc__,
    long_description_content_type="text/plain",
    license="MIT",
    classifiers=["License :: OSI Approved :: MIT License"],
    python_requires=">=3.8",
    packages=["rollout"],
    package_data={"rollout": ["py.typed", "*.pyi"]},
    ext_modules=[extension],
    cmdclass=cmdclass,
    options={"bdist_wheel": {"py_limited_api": "cp38"}},
    zip_safe=False,
)
