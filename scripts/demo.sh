#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/demo.sh [--check] [--scale N] [--keep] [--no-watch]
#
# Watch the seed plan run for real on this machine: Redis holding the
# fleet's state, two nginx gateways following it, Prometheus with generated
# series, webhooks, and `rollout operator` at one plan-hour a second, shown
# by `rollout status --watch`; GA's 50 % step meets a critical error and the
# rollout rolls back (scripts/demo.py says what each part does). Installs
# what is missing (apt) and builds first, like scripts/run.sh. Everything
# runs on 127.0.0.1 in a temporary directory and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec python3 scripts/demo.py --cli build/rollout --library build/librollout.so.0 "$@"
