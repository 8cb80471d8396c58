# SPDX-License-Identifier: MIT
"""A minimal bdist_wheel for interpreters whose setuptools has none.

pip builds every local project through PEP 517, and setuptools before 70.1
needs the separate `wheel` package for the `bdist_wheel` command. Debian's
python3 has it (python3-wheel); an interpreter such as pyenv's may have
setuptools but no `wheel`, and offline there is no way to get it. setup.py
then registers this command instead: it runs the normal build and zips
build_lib with a .dist-info (METADATA, WHEEL, RECORD) as the wheel
specification (PEP 427) describes. It knows nothing of this project beyond
what setup() declares.
"""

import base64
import hashlib
import os
import shutil
import sysconfig
import zipfile

from setuptools import Command


def _platform_tag() -> str:
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class bdist_wheel(Command):  # noqa: N801 (the command's name)
    description = "build a wheel (fallback: the wheel package is not installed)"
    user_options = [
        ("dist-dir=", "d", "directory to put the wheel in"),
        ("py-limited-api=", None, "the stable-ABI tag, e.g. cp38"),
    ]

    def initialize_options(self):
        self.dist_dir = None
        self.py_limited_api = None

    def finalize_options(self):
        self.dist_dir = self.dist_dir or "dist"

    # dist_info (prepare_metadata_for_build_wheel) calls this on the command
    def egg2dist(self, egg_info_dir: str, dist_info_dir: str) -> None:
        os.makedirs(dist_info_dir, exist_ok=True)
        shutil.copyfile(os.path.join(egg_info_dir, "PKG-INFO"),
                        os.path.join(dist_info_dir, "METADATA"))
        entry_points = os.path.join(egg_info_dir, "entry_points.txt")
        if os.path.exists(entry_points):
            shutil.copyfile(entry_points, os.path.join(dist_info_dir, "entry_points.txt"))
        shutil.rmtree(egg_info_dir)

    def _tag(self) -> str:
        if self.py_limited_api:
            return f"{self.py_limited_api}-abi3-{_platform_tag()}"
        impl = sysconfig.get_config_var("py_version_nodot")
        return f"cp{impl}-cp{impl}-{_platform_tag()}"

    def run(self):
        dist = self.distribution
        self.run_command("build")
        build_lib = self.get_finalized_command("build").build_lib

        name = dist.get_name().replace("-", "_")
        version = dist.get_version()
        dist_info = f"{name}-{version}.dist-info"
        staging = os.path.join(self.get_finalized_command("build").build_base, "wheel-meta")
        shutil.rmtree(staging, ignore_errors=True)
        egg_info = self.reinitialize_command("egg_info")
        egg_info.egg_base = staging
        os.makedirs(staging)
        self.run_command("egg_info")
        self.egg2dist(egg_info.egg_info, os.path.join(staging, dist_info))

        tag = self._tag()
        wheel_meta = ("Wheel-Version: 1.0\nGenerator: rollout setup.py (wheel_fallback)\n"
                      f"Root-Is-Purelib: false\nTag: {tag}\n")
        with open(os.path.join(staging, dist_info, "WHEEL"), "w", encoding="utf-8") as f:
            f.write(wheel_meta)

        os.makedirs(self.dist_dir, exist_ok=True)
        path = os.path.join(self.dist_dir, f"{name}-{version}-{tag}.whl")
        records = []
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
            for root_dir in (build_lib, staging):
                for base, dirs, files in os.walk(root_dir):
                    dirs.sort()
                    for fn in sorted(files):
                        full = os.path.join(base, fn)
                        arc = os.path.relpath(full, root_dir).replace(os.sep, "/")
                        if arc.endswith(".pyc") or "/__pycache__/" in f"/{arc}":
                            continue
                        with open(full, "rb") as f:
                            data = f.read()
                        whl.writestr(arc, data)
                        records.append(f"{arc},{_record_hash(data)},{len(data)}")
            records.append(f"{dist_info}/RECORD,,")
            whl.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
        dist.dist_files.append(("bdist_wheel", "", path))
