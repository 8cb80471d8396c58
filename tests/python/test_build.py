# SPDX-License-Identifier: MIT
"""The build: one abi3 module, the seed embedded as the CMake build embeds
it, only the module's init exported, and stubs that match the module."""

import ast
import os
import shutil
import subprocess
import sys

import pytest

import rollout
from rollout import _rollout
from conftest import PLANS, ROOT

sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
import embed_seed  # noqa: E402


def test_the_module_is_abi3():
    assert _rollout.__file__.endswith(".abi3.so")
    assert rollout.__version__ == "%d.%d.%d" % (
        _rollout.VERSION_NUMBER // 10000, _rollout.VERSION_NUMBER // 100 % 100,
        _rollout.VERSION_NUMBER % 100)
    # METH_FASTCALL and in-place UTF-8 exactly where the stable ABI has them
    assert _rollout.FASTCALL == (sys.version_info >= (3, 10))


def test_seed_embedding_matches_cmake():
    generated = os.environ.get("ROLLOUT_SEED_C")
    if not generated or not os.path.exists(generated):
        pytest.skip("no CMake-generated seed_plan.c (set ROLLOUT_SEED_C)")
    with open(generated, encoding="ascii") as f:
        want = f.read()
    # its first line names the input as CMake saw it
    first = want.split("\n", 1)[0]
    in_name = first[len("/* generated from "):-len("; do not edit */")]
    with open(os.path.join(PLANS, "seed.yaml"), "rb") as f:
        assert embed_seed.embed(f.read(), in_name) == want


def test_embed_seed_edge_lengths():
    for n in (0, 1, 15, 16, 17, 32):
        text = embed_seed.embed(b"a" * n, "x")
        assert text.count("0x61,") == n and text.endswith(f"rp_seed_yaml_len = {n};\n")


def test_only_the_init_function_is_exported():
    nm = shutil.which("nm")
    if not nm:
        pytest.skip("no nm")
    out = subprocess.run([nm, "-D", "--defined-only", _rollout.__file__],
                         capture_output=True, text=True, check=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert names == {"PyInit__rollout"}, names


def stub_names():
    """Module-level names and, per class, the methods and properties."""
    path = os.path.join(os.path.dirname(rollout.__file__), "_rollout.pyi")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    top, classes = set(), {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            top.add(node.name)
            classes[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)
                                  and not n.name.startswith("__")}
        elif isinstance(node, ast.FunctionDef):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            top.add(node.target.id)
    return top, classes


def test_stubs_match_the_module():
    top, classes = stub_names()
    public = {n for n in dir(_rollout) if not n.startswith("__") or n == "__version__"}
    assert {n for n in top if not n.startswith("_") or n == "__version__"} == public
    for cls, members in classes.items():
        obj = getattr(_rollout, cls)
        if issubclass(obj, BaseException):
            continue
        defined = {n for n in vars(obj) if not n.startswith("__")}
        assert members == defined, (cls, members ^ defined)


def test_package_files_are_installed_alongside():
    here = os.path.dirname(rollout.__file__)
    for f in ("__init__.py", "py.typed", "_rollout.pyi"):
        assert os.path.exists(os.path.join(here, f)), f


def test_the_package_type_checks():
    """mypy --strict on the package: the stubs and the annotations agree."""
    probe = subprocess.run([sys.executable, "-m", "mypy", "--version"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no mypy that runs on this interpreter (Debian: python3-mypy)")
    here = os.path.dirname(os.path.dirname(rollout.__file__))
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                          "--cache-dir", os.devnull, "-p", "rollout"],
                         capture_output=True, text=True, cwd=here)
    assert run.returncode == 0, run.stdout
