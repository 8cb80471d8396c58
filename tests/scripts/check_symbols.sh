#!/bin/sh
# SPDX-License-Identifier: MIT
# check_symbols.sh LIBRARY
# The shared library exports exactly the public API: every dynamic symbol it
# defines is rollout_* (no XXH* from the inlined xxhash, no rp_* internals,
# nothing from libyaml or PCRE2), and every ROLLOUT_API function declared in
# include/rollout.h is among them.
set -eu
lib=${1:?usage: check_symbols.sh LIBRARY [HEADER]}
header=${2:-$(dirname "$0")/../../include/rollout.h}
[ -f "$lib" ] || { echo "check_symbols: $lib not found" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Defined dynamic symbols; "w"/"V"/"A" kinds and the usual linker/toolchain
# symbols (_init, _fini, __bss_start, _edata, _end) are not the library's API.
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWiu]$/ { print $3 }' |
    sed 's/@.*//' |
    grep -v -E '^(_init|_fini|__bss_start|_edata|_end|__end__|__data_start)$' |
    sort -u > "$tmp/exported"

[ -s "$tmp/exported" ] || { echo "check_symbols: $lib exports nothing" >&2; exit 1; }

status=0
if grep -v '^rollout_' "$tmp/exported" > "$tmp/foreign"; then
    echo "check_symbols: $lib exports symbols outside the rollout_ prefix:" >&2
    sed 's/^/  /' "$tmp/foreign" >&2
    status=1
fi
for pat in '^XXH' '^rp_' '^yaml_' '^pcre2_'; do
    if grep -q "$pat" "$tmp/exported"; then
        echo "check_symbols: $lib leaks $pat symbols" >&2
        status=1
    fi
done

# Every function the header declares with ROLLOUT_API is exported.
tr '\n' ' ' < "$header" | sed 's/ROLLOUT_API/\n&/g' | grep '^ROLLOUT_API' |
    sed -n 's/^ROLLOUT_API[^(]*[ *]\(rollout_[A-Za-z0-9_]*\) *(.*/\1/p' | sort -u > "$tmp/declared"
[ -s "$tmp/declared" ] || { echo "check_symbols: no ROLLOUT_API declarations in $header" >&2; exit 1; }
if ! comm -23 "$tmp/declared" "$tmp/exported" > "$tmp/missing" || [ -s "$tmp/missing" ]; then
    echo "check_symbols: declared in $header but not exported by $lib:" >&2
    sed 's/^/  /' "$tmp/missing" >&2
    status=1
fi
if [ "$status" -eq 0 ]; then
    echo "check_symbols: $(wc -l < "$tmp/exported") rollout_* symbols, all declared ones present"
fi
exit $status
