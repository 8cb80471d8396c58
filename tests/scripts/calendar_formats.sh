#!/bin/sh
# SPDX-License-Identifier: MIT
# calendar_formats.sh ROLLOUT — the calendar's machine-readable formats read
# back by real parsers: the SVG by python3's XML parser (and xmllint when it
# is installed), the JSON by python3 -m json.tool, both from the CLI, for the
# seed and for a plan whose text needs escaping.
set -eu
cli=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# a plan whose labels and ids put XML and JSON escaping to work
cat > "$tmp/esc.yaml" <<'PLAN'
format: 1
id: esc
description: "Tom & Jerry <beta> \"quoted\" 'single'"
salt: esc
start: 2026-03-02T09:00:00Z
versions: {stable: "v1 <old>", new: "v2 & <new>"}
roles: {ops: "Ops & <on-call>"}
cohorts:
  - {id: staff, match: {attr: role, in: [staff]}}
  - {id: everyone, match: {everyone: true}}
rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}
phases:
  - id: staff
    cohort: staff
    steps:
      - {at: 0h, weight: 100%, unit: user}
    gate: {id: staff-go, at: 2h, approvers: [ops]}
  - id: ga
    cohort: everyone
    steps:
      - {at: 4h, weight: 12.5%, unit: org}
      - {at: 1d, weight: 100%, unit: org}
communications:
  - id: hello
    on: {event: phase_start, phase: ga}
    message: "Bonjour — <b>everyone</b> & \"friends\""
    channel: email
    audience: all
    owners: [ops]
PLAN

"$cli" calendar --format svg --output "$tmp/seed.svg"
"$cli" calendar "$tmp/esc.yaml" --format svg --output "$tmp/esc.svg"
"$cli" calendar --start 2026-03-01T08:30:00Z --format json > "$tmp/seed.json"
"$cli" calendar "$tmp/esc.yaml" --format json > "$tmp/esc.json"

python3 -m json.tool "$tmp/seed.json" > /dev/null
python3 -m json.tool "$tmp/esc.json" > /dev/null
if command -v xmllint > /dev/null 2>&1; then
    xmllint --noout "$tmp/seed.svg" "$tmp/esc.svg"
fi

python3 - "$tmp" <<'PY'
import json, sys, xml.etree.ElementTree as ET
tmp = sys.argv[1]
SVG = '{http://www.w3.org/2000/svg}'

def series(path):
    root = ET.parse(path).getroot()
    assert root.tag == SVG + 'svg', root.tag
    found = {}
    for e in root.iter():
        c = e.get('data-cohort')
        if c is not None:
            assert e.tag in (SVG + 'path', SVG + 'polyline'), e.tag
            assert c not in found, 'two series for ' + c
            found[c] = e
    return root, found

root, s = series(tmp + '/seed.svg')
assert sorted(s) == ['everyone', 'internal', 'pilot'], sorted(s)
gates = [g.get('data-gate') for g in root.iter(SVG + 'g') if g.get('class') == 'gate']
assert gates == ['canary-go', 'pilot-go', 'ga-day2-go', 'ga-day3-go', 'ga-day4-go'], gates
text = ''.join(root.itertext())
for want in ('ledger-v2', 'day 0', 'day 4', '100%', 'internal (phase canary)'):
    assert want in text, want

root, s = series(tmp + '/esc.svg')
assert sorted(s) == ['everyone', 'staff'], sorted(s)
text = ''.join(root.itertext())
assert 'v2 & <new>' in text, 'the escaped label reads back as written'

seed = json.load(open(tmp + '/seed.json'))
assert isinstance(seed, list) and len(seed) == 19, len(seed)
assert seed[0]['at'] == '2026-03-01T08:30:00Z' and seed[0]['kind'] == 'step'
assert [e['weight'] for e in seed if e['kind'] == 'step' and e['cohort'] == 'pilot'] == \
    ['10%', '25%', '50%', '100%']
esc = json.load(open(tmp + '/esc.json'))
msg = [e for e in esc if e['kind'] == 'message'][0]
assert msg['message'] == 'Bonjour — <b>everyone</b> & "friends"', msg['message']
assert [e['weight_units'] for e in esc if e['kind'] == 'step'] == [100000, 12500, 100000]
PY

# the other formats and the schedule command answer too
"$cli" calendar --format ics > "$tmp/seed.ics"
grep -q '^BEGIN:VCALENDAR' "$tmp/seed.ics"
"$cli" calendar --format table | grep -q '^Sat 2026-02-28 21:00  T+12h \*'
"$cli" schedule --at 2026-02-28T15:00:00Z --assume-go --json | python3 -m json.tool > /dev/null
"$cli" schedule --at 2026-02-28T15:00:00Z --assume-go | grep -q '^  pilot .* 25%'
if "$cli" calendar --format pdf 2> /dev/null; then
    echo "an unknown format must fail" >&2
    exit 1
fi
echo "calendar formats ok"
