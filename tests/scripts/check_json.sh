#!/bin/sh
# SPDX-License-Identifier: MIT
# check_json.sh ROLLOUT_CLI PLAN...
# `rollout show --json` prints JSON that a strict JSON parser accepts, with
# the plan's content; and `rollout show` (YAML) of the same plan, fed back to
# `rollout show --json`, prints the very same JSON (the show -> load round trip).
set -eu
cli=${1:?usage: check_json.sh ROLLOUT_CLI PLAN...}
shift
[ $# -gt 0 ] || { echo "check_json: no plans given" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for plan in "$@"; do
    "$cli" show --json "$plan" > "$tmp/a.json"
    python3 - "$plan" "$tmp/a.json" <<'PY'
import json, sys
plan, path = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as f:
    doc = json.load(f)          # raises on anything that is not strict JSON
assert isinstance(doc, dict), plan
assert doc["format"] == 1, (plan, doc["format"])
for key in ("id", "salt", "start", "versions", "cohorts", "phases"):
    assert key in doc, (plan, key)
assert isinstance(doc["phases"], list) and doc["phases"], plan
for ph in doc["phases"]:
    assert isinstance(ph["id"], str) and ph["steps"], (plan, ph)
    for st in ph["steps"]:
        assert st["weight"].endswith("%"), (plan, st)
        assert st["unit"] in ("org", "user", "session", "request"), (plan, st)
assert doc["start"].endswith("Z"), plan
PY
    "$cli" show "$plan" > "$tmp/b.yaml"
    "$cli" show --json "$tmp/b.yaml" > "$tmp/b.json"
    cmp -s "$tmp/a.json" "$tmp/b.json" || {
        echo "check_json: $plan: JSON differs after a YAML round trip" >&2
        diff "$tmp/a.json" "$tmp/b.json" >&2 || true
        exit 1
    }
    "$cli" show "$tmp/b.yaml" > "$tmp/c.yaml"
    cmp -s "$tmp/b.yaml" "$tmp/c.yaml" || { echo "check_json: $plan: YAML not stable" >&2; exit 1; }
    echo "check_json: $plan ok"
done
# The embedded seed (no PLAN argument) prints the same as the file.
"$cli" show --json > "$tmp/seed.json"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/seed.json"
