#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job: install dependencies, build, and walk the built-in seed plan
# through the library (steps, gates, decisions, a rollback), writing its
# calendar (.ics), weight chart (.svg) and calendar JSON to rollout-out/.
# `cmake --install build [--prefix DIR]` works after it.
# It builds librollout.so.0 too, which the Lua bindings and the nginx example
# (examples/nginx/run.sh) load.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# the tool, and everything `cmake --install build` copies (rollout_installable),
# librollout.so.0 among them
cmake --build build -j"$(nproc)" --target rollout_cli rollout_installable rollout >/dev/null
build/rollout simulate --out rollout-out
