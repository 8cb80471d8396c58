#!/usr/bin/env bash
# The main job: install dependencies, build, and walk the built-in seed plan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
build/rollout validate
build/rollout show
