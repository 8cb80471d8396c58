#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the peer SDKs pinned by package.json and package-lock.json into a
# temporary folder (npm ci) and asks them for the vectors (gen_compat.js).
#   gen_compat.sh            rewrite vectors.json
#   gen_compat.sh --check    fail when the SDKs' answers differ from vectors.json
# Without node, --check says "skipped: no node" and succeeds: the C, Python
# and Lua suites still check the library against the committed file. node
# without npm, or an npm that cannot install, fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
check=0
[ "${1:-}" = "--check" ] && check=1
if ! command -v node >/dev/null 2>&1; then
  echo "gen_compat: skipped: no node (node and npm are needed to ask the peer SDKs)"
  [ "$check" -eq 1 ] && exit 0
  exit 1
fi
command -v npm >/dev/null 2>&1 || { echo "gen_compat: node is here but npm is not" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$tmp/"
(cd "$tmp" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
node "$here/gen_compat.js" "$tmp" >"$tmp/vectors.json"
if [ "$check" -eq 1 ]; then
  if ! cmp -s "$tmp/vectors.json" "$here/vectors.json"; then
    echo "gen_compat: the peer SDKs answer differently from tests/vectors/compat/vectors.json:"
    diff <(tr ',' '\n' <"$here/vectors.json") <(tr ',' '\n' <"$tmp/vectors.json") | head -20
    exit 1
  fi
  echo "gen_compat: the peer SDKs ($(node --version)) agree with vectors.json"
else
  mv "$tmp/vectors.json" "$here/vectors.json"
  echo "gen_compat: wrote $here/vectors.json"
fi
