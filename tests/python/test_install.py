# SPDX-License-Identifier: MIT
"""The offline pip install: `pip install --no-build-isolation ./bindings/python`
with this interpreter's own setuptools and no index, from a copy of the
parts of the checkout setup.py reads (so the source tree gets no build/
directory), then part of this suite against the installed package."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT


def have_pip_and_setuptools():
    probe = subprocess.run([sys.executable, "-c", "import setuptools, pip"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not have_pip_and_setuptools(), reason="needs pip and setuptools")
def test_offline_pip_install(tmp_path):
    checkout = tmp_path / "checkout"
    for part in ("include", "lib", "store", os.path.join("examples", "plans")):
        shutil.copytree(os.path.join(ROOT, part), checkout / part)
    shutil.copytree(os.path.join(ROOT, "bindings", "python"), checkout / "bindings" / "python",
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "*.so", "__pycache__"))
    target = tmp_path / "site"
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-index",
         "--no-cache-dir", "--target", str(target), "./bindings/python"],
        cwd=checkout, capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    installed = os.listdir(target / "rollout")
    assert any(f.endswith(".abi3.so") for f in installed), installed
    assert {"__init__.py", "py.typed", "_rollout.pyi"} <= set(installed)

    # the suite's vectors, decisions and errors against the installed package
    env = dict(os.environ, PYTHONPATH=str(target), ROLLOUT_EXPECT_BUILD=str(target),
               PYTHONDONTWRITEBYTECODE="1")
    tests = [os.path.join(ROOT, "tests", "python", f)
             for f in ("test_vectors.py", "test_decide.py", "test_errors.py", "test_store.py")]
    run = subprocess.run([sys.executable, "-B", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *tests], capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:]


def test_setup_py_refuses_a_copy_without_the_library(tmp_path):
    alone = tmp_path / "python"
    shutil.copytree(os.path.join(ROOT, "bindings", "python"), alone,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "*.so", "__pycache__"))
    run = subprocess.run([sys.executable, "setup.py", "--version"], cwd=alone,
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "build it from the repository checkout" in run.stderr
