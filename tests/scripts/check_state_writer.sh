#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_state_writer.sh ROLLOUT — the guarantees of the `rollout state` writer,
# with real processes: a symlinked state is written through to its target;
# writers serialize on STATE.lock (never on something a reader can lock), wait
# for it at most --lock-timeout seconds and then exit 75 naming the holder;
# the clock is read once the lock is held; a 0333 directory still locks;
# racing writers lose no event; RLIMIT_FSIZE is an error, not a SIGXFSZ
# death; stale temporary files of killed writers are removed.
#
# Permission tests need a user without write access: run as root, they switch
# to `nobody` with setpriv (root ignores directory permission bits); run as
# another user, they use that user.
set -u
R=${1:?usage: check_state_writer.sh path/to/rollout}
R=$(cd "$(dirname "$R")" && pwd)/$(basename "$R")
dir=$(mktemp -d)
holders=()
cleanup() {
    for p in "${holders[@]}"; do kill "$p" 2>/dev/null; done
    chmod -R u+rwx "$dir" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
chmod 0711 "$dir" # `nobody` must reach the directories below
T=2026-02-28T
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# revision FILE: the state's revision, as `show --json` reports it
revision() {
    "$R" state show --state "$1" --json --at ${T}12:00:00Z | sed -n 's/.*"revision": \([0-9]*\),.*/\1/p'
}

# hold MODE FILE: a background process holds flock MODE (-s or -x) on FILE;
# its pid is $held. The subshell opens FILE, locks it and becomes `sleep`.
hold() {
    local mode=$1 file=$2 ready=$dir/ready.$RANDOM
    if [ -d "$file" ]; then
        ( exec 9<"$file"; flock "$mode" 9; : > "$ready"; exec sleep 60 ) &
    else
        ( exec 9<>"$file"; flock "$mode" 9; : > "$ready"; exec sleep 60 ) &
    fi
    held=$!
    holders+=("$held")
    for _ in $(seq 100); do [ -e "$ready" ] && return 0; sleep 0.05; done
    fail "could not take flock $mode on $file"
}
release() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

now_ms() { date +%s%3N; }

help=$("$R" state --help)
case $help in *"--lock-timeout SECONDS"*"75 another writer held FILE.lock"*) ;;
    *) fail "rollout state --help does not document --lock-timeout and exit 75" ;; esac

# ---- item 4: a symlinked state is written through to its target -------------
mkdir "$dir/shared" "$dir/site"
"$R" state init --state "$dir/shared/rollout.state" >/dev/null || fail "init"
ln -s ../shared/rollout.state "$dir/site/link.state"
ln -s link.state "$dir/site/link2.state"
"$R" state apply start --state "$dir/site/link.state" --at ${T}09:00:00Z >/dev/null 2>&1 ||
    fail "apply through a symlink"
"$R" state apply escalate --state "$dir/site/link2.state" --at ${T}09:01:00Z >/dev/null 2>&1 ||
    fail "apply through two symlinks"
[ -L "$dir/site/link.state" ] && [ -L "$dir/site/link2.state" ] ||
    fail "the symlinked state was replaced by a regular file"
[ "$(revision "$dir/shared/rollout.state")" = 2 ] ||
    fail "the link's target did not get both events: revision $(revision "$dir/shared/rollout.state")"
[ -f "$dir/shared/rollout.state.lock" ] || fail "the lock file is not next to the link's target"
[ -e "$dir/site/link.state.lock" ] && fail "a lock file was made next to the symlink"
ln -s shared "$dir/alias"   # a symlinked directory reaches the same state and lock
"$R" state apply escalate --state "$dir/alias/rollout.state" --at ${T}09:02:00Z >/dev/null 2>&1 ||
    fail "apply through a symlinked directory"
[ "$(revision "$dir/shared/rollout.state")" = 3 ] || fail "the symlinked directory's state"
[ -L "$dir/alias" ] || fail "the symlinked directory was replaced"
# init through a dangling symlink creates its target, and keeps the link
ln -s ../shared/new.state "$dir/site/dangling.state"
"$R" state init --state "$dir/site/dangling.state" >/dev/null 2>&1 || fail "init through a dangling symlink"
[ -L "$dir/site/dangling.state" ] || fail "init replaced a dangling symlink"
[ -f "$dir/shared/new.state" ] && grep -Eq '^rs2\.' "$dir/shared/new.state" ||
    fail "init did not create the dangling symlink's target"
"$R" state init --state "$dir/site/dangling.state" >/dev/null 2>&1 && fail "init overwrote the target"
# ... and fails clearly when the target's directory does not exist
ln -s ../nowhere/x.state "$dir/site/bad.state"
"$R" state init --state "$dir/site/bad.state" >/dev/null 2>"$dir/err"; rc=$?
[ "$rc" = 2 ] || fail "init through a symlink into a missing directory exited $rc, wanted 2"
grep -q nowhere "$dir/err" || fail "the error does not name the missing directory: $(cat "$dir/err")"
[ -L "$dir/site/bad.state" ] || fail "the dangling symlink was replaced"
ln -s loop.state "$dir/site/loop.state"
"$R" state init --state "$dir/site/loop.state" >/dev/null 2>"$dir/err"; rc=$?
[ "$rc" = 2 ] && [ -L "$dir/site/loop.state" ] || fail "a symlink loop: exit $rc: $(cat "$dir/err")"

# ---- item 7: readers cannot stall a writer; a writer waits a bounded time ---
mkdir "$dir/main"
S=$dir/main/rollout.state
"$R" state init --state "$S" >/dev/null && "$R" state apply start --state "$S" >/dev/null 2>&1 ||
    fail "init + start (system clock)"
hold -s "$dir/main"; h1=$held
hold -s "$S"; h2=$held
t0=$(now_ms)
timeout 5 "$R" state apply escalate --state "$S" >/dev/null 2>"$dir/err"; rc=$?
t1=$(now_ms)
[ "$rc" = 0 ] || fail "a shared flock on the directory and the state stalled a writer: exit $rc: $(cat "$dir/err")"
[ $((t1 - t0)) -lt 4000 ] || fail "a writer waited $((t1 - t0)) ms behind readers' shared flocks"
release "$h1"; release "$h2"
[ "$(stat -c %a "$S.lock" 2>/dev/null)" = 600 ] ||
    fail "the lock file of a 0644 state is not 0600 (only writers may open it): $(stat -c %a "$S.lock" 2>&1)"
chmod 0664 "$S"
"$R" state init --force --state "$dir/main/g.state" >/dev/null
chmod 0664 "$dir/main/g.state"; rm -f "$dir/main/g.state.lock"
"$R" state apply start --state "$dir/main/g.state" >/dev/null 2>&1
[ "$(stat -c %a "$dir/main/g.state.lock" 2>/dev/null)" = 660 ] ||
    fail "the lock file of a 0664 state is not 0660"

# a writer holding the lock is named, and the wait ends with exit 75
F=$dir/fifo/rollout.state   # a FIFO as the state: the writer blocks in open(), holding the lock
mkdir "$dir/fifo" && mkfifo "$F"
"$R" state apply escalate --state "$F" >/dev/null 2>&1 &
blocked=$!
holders+=("$blocked")
for _ in $(seq 100); do [ -s "$F.lock" ] && break; sleep 0.05; done
t0=$(now_ms)
timeout 20 "$R" state apply escalate --state "$F" --lock-timeout 1 >/dev/null 2>"$dir/err"; rc=$?
t1=$(now_ms)
[ "$rc" = 75 ] || fail "a writer behind a held lock exited $rc, wanted 75: $(cat "$dir/err")"
[ $((t1 - t0)) -ge 900 ] && [ $((t1 - t0)) -lt 4000 ] || fail "--lock-timeout 1 waited $((t1 - t0)) ms"
grep -q "pid $blocked on $(hostname)" "$dir/err" && grep -q "apply escalate" "$dir/err" ||
    fail "the message does not name the holder (pid $blocked): $(cat "$dir/err")"
: > "$F" # lets the blocked writer read (an empty, invalid state)
wait "$blocked" 2>/dev/null
[ -s "$F.lock" ] && fail "the lock file still names a holder that has finished: $(cat "$F.lock")"
# a holder that records nothing (flock(1)) is still reported, and 0 means try once
hold -x "$S.lock"; h1=$held
t0=$(now_ms)
timeout 20 "$R" state apply escalate --state "$S" --lock-timeout 0 >/dev/null 2>"$dir/err"; rc=$?
t1=$(now_ms)
[ "$rc" = 75 ] && [ $((t1 - t0)) -lt 2000 ] ||
    fail "--lock-timeout 0 behind flock(1): exit $rc after $((t1 - t0)) ms: $(cat "$dir/err")"
grep -q "did not record itself" "$dir/err" || fail "no holder in: $(cat "$dir/err")"
release "$h1"
for bad in -1 abc 1e9 nan; do
    "$R" state apply escalate --state "$S" --lock-timeout "$bad" >/dev/null 2>&1; rc=$?
    [ "$rc" = 2 ] || fail "--lock-timeout $bad exited $rc, wanted 2"
done

# ---- item 6: the clock is read once the lock is held ---------------------------
# A writer holds the lock (directory and lock file, for either version of the
# tool) and commits a state stamped 2 s later than the moment a rollback
# without --at starts waiting. The rollback must not see time run backwards.
mkdir "$dir/clock" "$dir/scratch"
C=$dir/clock/rollout.state
"$R" state init --state "$C" >/dev/null
ready=$dir/ready.clock
(
    exec 8<"$dir/clock" 9<>"$C.lock"
    flock -x 8; flock -x 9; : > "$ready"
    sleep 2.2
    "$R" state init --state "$dir/scratch/s" >/dev/null
    "$R" state apply start --state "$dir/scratch/s" --at "$(date +%s)" >/dev/null 2>&1
    cp "$dir/scratch/s" "$C.new" && mv "$C.new" "$C"
) &
writer=$!
for _ in $(seq 100); do [ -e "$ready" ] && break; sleep 0.05; done
"$R" state apply rollback manual --state "$C" >/dev/null 2>"$dir/err"; rc=$?
wait "$writer"
[ "$rc" = 0 ] || fail "a rollback that waited for the lock was refused (exit $rc): $(cat "$dir/err")"
[ "$(revision "$C")" = 2 ] || fail "the rollback did not follow the other writer's event"

# ---- racing writers lose no event ---------------------------------------------------
# race DIR-STATE WRITERS EVENTS [as-user...]: WRITERS processes each apply
# EVENTS events with the system clock; every one must be accepted, and the
# revisions they report must be distinct and add up.
race() {
    local state=$1 writers=$2 events=$3; shift 3
    local before after w
    before=$(revision "$state")
    for w in $(seq "$writers"); do
        (
            for i in $(seq "$events"); do
                if [ $((i % 2)) = 0 ]; then ev=escalate; else ev="verdict pass"; fi
                # shellcheck disable=SC2086
                "$@" "$R" state apply $ev --state "$state" >/dev/null 2>>"$dir/race.$w" ||
                    echo "exit $? for $ev" >>"$dir/race.$w"
            done
        ) &
    done
    wait
    after=$(revision "$state")
    local refused revs
    refused=$(cat "$dir"/race.* | grep -c '^exit ')
    revs=$(cat "$dir"/race.* | sed -n 's/.*(revision \([0-9]*\))$/\1/p' | sort -n)
    [ "$refused" = 0 ] || fail "$refused of $((writers * events)) racing applies failed: $(grep -h . "$dir"/race.* | grep -v ' -> ' | head -3)"
    [ "$((after - before))" = "$((writers * events))" ] ||
        fail "$((writers * events)) racing applies, but the revision went from $before to $after"
    [ "$(printf '%s\n' "$revs" | uniq -d | wc -l)" = 0 ] || fail "two writers committed the same revision"
    rm -f "$dir"/race.*
}
race "$S" 6 15

# ---- item 5: a directory the writer cannot read (0333) still locks ------------
if [ "$(id -u)" = 0 ]; then
    if command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
        as_writer=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    else
        as_writer=()
    fi
else
    as_writer=(env)
fi
if [ "${#as_writer[@]}" = 0 ] || ! "${as_writer[@]}" "$R" --help >/dev/null 2>&1; then
    echo "SKIP: no unprivileged user can run $R; the 0333-directory checks did not run"
else
    W=$dir/wx
    mkdir "$W"
    [ "$(id -u)" = 0 ] && chown 65534:65534 "$W"
    "${as_writer[@]}" "$R" state init --state "$W/rollout.state" >/dev/null &&
        "${as_writer[@]}" "$R" state apply start --state "$W/rollout.state" >/dev/null 2>&1 ||
        fail "init + start as the writer"
    chmod 0333 "$W"
    if "${as_writer[@]}" ls "$W" >/dev/null 2>&1; then
        fail "the writer can still list a 0333 directory: the checks below would prove nothing"
    fi
    # the lock is held elsewhere: the writer must wait for it, not go on unlocked
    hold -x "$W/rollout.state.lock"; h1=$held
    ( sleep 2; kill "$h1" ) &
    t0=$(now_ms)
    "${as_writer[@]}" "$R" state apply escalate --state "$W/rollout.state" >/dev/null 2>"$dir/err"; rc=$?
    t1=$(now_ms)
    [ "$rc" = 0 ] || fail "the 0333 writer exited $rc: $(cat "$dir/err")"
    [ $((t1 - t0)) -ge 1500 ] || fail "the 0333 writer did not wait for the lock (done in $((t1 - t0)) ms)"
    wait
    race "$W/rollout.state" 4 10 "${as_writer[@]}"
    chmod 0755 "$W"
fi

# ---- item 9: RLIMIT_FSIZE is an error; stale temporary files are removed --------
mkdir "$dir/small"
Z=$dir/small/rollout.state
"$R" state init --state "$Z" >/dev/null && "$R" state apply start --state "$Z" --at ${T}09:00:00Z >/dev/null 2>&1
cp "$Z" "$dir/before"
for args in "apply escalate --at ${T}10:00:00Z" "init --force"; do
    # shellcheck disable=SC2086
    # (stderr through a pipe: the limit applies to every file the writer writes)
    err=$(prlimit --fsize=16 "$R" state $args --state "$Z" 2>&1 >/dev/null); rc=$?
    [ "$rc" = 2 ] || fail "state $args under RLIMIT_FSIZE exited $rc, wanted 2"
    case $err in *"File too large"*) ;; *) fail "state $args under RLIMIT_FSIZE: $err" ;; esac
    cmp -s "$Z" "$dir/before" || fail "state $args under RLIMIT_FSIZE changed the file"
    ls -A "$dir/small" | grep -q '^\.rollout\.state\.' && fail "state $args left a temporary file"
done
"$R" state apply escalate --state "$Z" --at ${T}10:00:00Z >/dev/null 2>&1 ||
    fail "a writer after a RLIMIT_FSIZE failure: $(cat "$dir/err")"

cd "$dir/small" || exit 1
stale=(.rollout.state.Ab12Cd .rollout.state.ZZZZZZ .rollout.state.000000)
keep=(.rollout.state.keep1 .rollout.state.Ab12Cd7 .rollout.state.Ab-2Cd .other.state.Ab12Cd
      rollout.state.Ab12Cd .rollout.stateXAb12Cd)
touch "${stale[@]}" "${keep[@]}"
mkdir .rollout.state.Dir123
"$R" state apply escalate --state rollout.state --at ${T}10:05:00Z >/dev/null 2>&1 || fail "apply"
for f in "${stale[@]}"; do [ -e "$f" ] && fail "the stale temporary file $f was not removed"; done
for f in "${keep[@]}" .rollout.state.Dir123; do [ -e "$f" ] || fail "$f, not a temporary file of the state, was removed"; done
cd - >/dev/null || exit 1

if [ "$fails" != 0 ]; then
    echo "$fails check(s) failed" >&2
    exit 1
fi
echo "check_state_writer: all checks passed"
