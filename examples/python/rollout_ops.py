#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""rollout_ops.py — walk a rollout from a state file.

The state lives in one small text file (one line, "rs2...."); every command
reads it, applies one event through librollout's state machine, prints the
actions you now have to perform, and writes the new state back atomically
(a crash mid-write leaves the old state, never half a state). Nothing is
performed for you: this script prints, you (or your automation) act.

  rollout_ops.py --state state.txt init                 # a fresh state for the plan
  rollout_ops.py --state state.txt start                # begin now (or --at TIME)
  rollout_ops.py --state state.txt tick                 # what fell due since last time
  rollout_ops.py --state state.txt status               # where we stand, what is next
  rollout_ops.py --state state.txt calendar [--format table|json|ics|svg]
  rollout_ops.py --state state.txt verdict METRICS.yaml # evaluate the gate's criteria
  rollout_ops.py --state state.txt approve canary-go engineering-lead
  rollout_ops.py --state state.txt go [GATE] [--override ROLE --reason TEXT]
  rollout_ops.py --state state.txt no-go [GATE]
  rollout_ops.py --state state.txt pause | resume | escalate
  rollout_ops.py --state state.txt rollback critical_bug
  rollout_ops.py --state state.txt confirm traffic_halted

--store URL [--key-file F] keeps the state in a shared store (Redis,
docs/fleet.md) in place of the file: every event is a compare-and-set on
the stored state, retried when another operator got in first, and with a
key file every state is signed and every read checked:

  rollout_ops.py --store redis://redis.example:6379 --key-file rollout.key rollback manual

--plan PLAN picks the plan (default: the seed plan built into librollout);
the state records the plan's fingerprint, so a state is never applied to a
different plan. --at TIME (2026-02-28T09:00:00Z or epoch seconds) replays
an event at a given moment; the default is now.

Exit status: 0 done, 1 refused by the rollout (invalid transition, bad
plan/state/metrics, a stored state refused), 2 usage, file or store errors
(unreachable, silent past the timeout: nothing was written).
"""

import argparse
import datetime as dt
import os
import sys
import tempfile

try:
    import rollout
except ImportError:  # run from a checkout with a CMake build in build/
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "..", "build", "python"))
    import rollout


class UsageError(Exception):
    """A mistake on the command line or a missing file: exit status 2."""


def parse_time(text):
    if text is None:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{text!r} is not a time (2026-02-28T09:00:00Z or epoch)") from None
    if when.tzinfo is None:
        raise UsageError(f"{text!r} has no UTC offset; add Z or +HH:MM")
    return when


def fmt_time(t):
    if t is None:
        return "-"
    return rollout.from_epoch(t).strftime("%a %Y-%m-%d %H:%M UTC")


def percent(weight):
    return f"{weight / 1000:g} %"


def load_plan(path):
    return rollout.Plan.from_file(path) if path else rollout.Plan.seed()


def read_state(path, plan):
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist; run `init` first") from None
    return rollout.State.decode(plan, text)


def write_state(path, state):
    """Writes the state next to path and renames it over path: atomic on
    POSIX, so readers see the old state or the new one, never a mix."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o777  # keep the file's permissions
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask  # what open() would have made
    fd, tmp = tempfile.mkstemp(prefix=".rollout-state-", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(state.encode() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


def print_actions(actions):
    if not actions:
        print("nothing to do")
    for a in actions:
        print(f"  -> {a}")


def print_status(plan, state, at):
    sch = plan.schedule(at, state=state)
    print(f"plan      {plan.id} ({plan.labels[0]} -> {plan.labels[1]})")
    print(f"state     {state.status}, revision {state.revision}, "
          f"updated {fmt_time(state.updated_at)}")
    print(f"at        {sch.at:%a %Y-%m-%d %H:%M UTC}: {sch.status}, phase {sch.phase or '-'}"
          + (f" step {sch.step + 1}" if sch.step is not None else ""))
    if sch.gate:
        due = "pending" if sch.gate_pending else "due"
        print(f"gate      {sch.gate} {due} {fmt_time(sch.gate_due)}"
              + (f", approved by {', '.join(state.approvals[sch.gate])}"
                 if sch.gate in state.approvals else ""))
    if sch.slip:
        print(f"slip      {sch.slip // 60} min behind the plan")
    nxt = {"none": "nothing scheduled", "wait": "waiting for an event (a GO, a resume, "
           "the start)"}.get(sch.next_change, f"{sch.next_change} at {fmt_time(sch.next_at)}")
    print(f"next      {nxt}")
    for cohort, w in sch.cohorts.items():
        where = f"{w.phase} step {w.step + 1}, by {w.unit}" if w.phase else "not started"
        print(f"  {cohort:<12} {percent(w.weight):>8}   {where}")
    if state.rollback_reason:
        print(f"rollback  {state.rollback_reason} since {fmt_time(state.rollback_started_at)}")


def show(plan, state, args, at):
    if args.command == "status":
        print_status(plan, state, at)
    else:
        print(plan.calendar_render(args.format, state=state), end="")
    return 0


def event_args(plan, state, args, at):
    """The event and its arguments for the command; (None, None) when there
    is nothing to apply (logged)."""
    event, kw = args.command.replace("-", "_"), {}
    if args.command in ("approve", "go", "no-go"):
        kw["gate"] = args.gate
    if args.command == "approve":
        kw["role"] = args.role
    elif args.command == "go" and args.override:
        # the plan must list ROLE in the gate's override_roles; the audit
        # trail keeps the reason
        kw.update(role=args.override, override=True, why=args.reason,
                  override_verdict=args.override_verdict)
    elif args.command == "verdict":
        metrics = rollout.Metrics.from_file(args.metrics)
        gate = plan.schedule(at, state=state).gate
        if gate is None:
            print("rollout_ops: no gate is open to judge", file=sys.stderr)
            return None, None
        evaluation = plan.evaluate(gate=gate, metrics=metrics)
        print(f"{gate}: {evaluation.verdict} ({evaluation.criteria})")
        for r in evaluation.results:
            print(f"  {r.verdict:<12} {r.id}: {r.reason}")
        kw["verdict"] = evaluation
    elif args.command == "rollback":
        kw["reason"] = args.reason
    elif args.command == "confirm":
        kw["confirmation"] = args.what
    return event, kw


def run_command(plan, state, args, at, apply, applied):
    """status and calendar show the state; any other command is an event,
    applied with apply(event, at=at, ...) and then applied(event, state,
    new_state) (stores or reports the new state) before the actions print."""
    if args.command in ("status", "calendar"):
        return show(plan, state, args, at)
    event, kw = event_args(plan, state, args, at)
    if event is None:
        return 1
    new_state, actions = apply(event, at=at, **kw)
    applied(event, state, new_state)
    print_actions(actions)
    return 0


def run_on_store(store, plan, args, at):
    """A command against the stored state: the event goes through the store's
    compare-and-set loop, so it is applied to the latest state whoever wrote it."""
    if args.command == "init":
        if args.force:
            raise UsageError("--force does not apply to a store: a stored state is never "
                             "replaced")
        try:
            store.init()
        except rollout.ConflictError:
            print(f"rollout_ops: {store.name} already holds a state for {plan.id} "
                  "(apply events to it)", file=sys.stderr)
            return 1
        print(f"{store.name}: new state for plan {plan.id}, planned start "
              f"{fmt_time(plan.start)}")
        return 0
    def applied(event, old, new):
        print(f"{event}: {new.status} (revision {new.revision}, {store.name})")

    return run_command(plan, store.load(), args, at, store.apply, applied)


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="rollout_ops.py", description=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--state", help="the state file")
    where.add_argument("--store", metavar="URL",
                       help="the shared store: redis://[[user]:password@]host[:port][/db] "
                            "or unix:///path")
    ap.add_argument("--key-file", help="with --store: the HMAC key that signs states and "
                                       "that every read must match")
    ap.add_argument("--plan", help="the plan file (default: the built-in seed plan)")
    ap.add_argument("--at", help="when: 2026-02-28T09:00:00Z or epoch seconds (default: now)")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("init", help="create the state file")
    p.add_argument("--force", action="store_true", help="overwrite an existing state file")
    sub.add_parser("start", help="begin the rollout")
    sub.add_parser("tick", help="emit what fell due since the last event")
    sub.add_parser("status", help="where the rollout stands")
    p = sub.add_parser("calendar", help="every step, gate and message with its time")
    p.add_argument("--format", choices=["table", "json", "ics", "svg"], default="table")
    p = sub.add_parser("approve", help="one approver says go")
    p.add_argument("gate")
    p.add_argument("role")
    p = sub.add_parser("go", help="GO for a gate (the next one by default)")
    p.add_argument("gate", nargs="?")
    p.add_argument("--override", metavar="ROLE", help="go on ROLE's word without every "
                                                       "approval or a PASS (a role of the "
                                                       "gate's override_roles)")
    p.add_argument("--reason", help="why, for the audit trail (required with --override)")
    p.add_argument("--override-verdict", action="store_true",
                   help="with --override: go over a FAIL or ROLLBACK verdict too")
    p = sub.add_parser("no-go", help="NO-GO for a gate: hold, halt or roll back as it says")
    p.add_argument("gate", nargs="?")
    p = sub.add_parser("verdict", help="evaluate a metrics snapshot and record the verdict")
    p.add_argument("metrics", help="a metrics snapshot (YAML or JSON)")
    sub.add_parser("pause", help="freeze weights and the schedule's clock")
    sub.add_parser("resume", help="end a pause, or lift a halt")
    sub.add_parser("escalate", help="an issue is escalated (communication plan)")
    p = sub.add_parser("rollback", help="start the rollback procedure")
    p.add_argument("reason", choices=[r for r in rollout.ROLLBACK_REASONS
                                      if r not in ("no_go", "evaluation")])
    p = sub.add_parser("confirm", help="a rollback procedure step is done")
    p.add_argument("what", choices=rollout.CONFIRMATIONS)
    args = ap.parse_args(argv)
    if args.key_file and not args.store:
        ap.error("--key-file goes with --store")

    try:
        at = parse_time(args.at)
        plan = load_plan(args.plan)
        if args.store:
            try:
                store = rollout.Store(args.store, key_file=args.key_file, plan=plan)
            except rollout.ArgumentError as e:  # a URL or key file that does not parse
                raise UsageError(str(e)) from None
            with store:
                return run_on_store(store, plan, args, at)
        if args.command == "init":
            if os.path.exists(args.state) and not args.force:
                print(f"rollout_ops: {args.state} exists (use --force to start over)",
                      file=sys.stderr)
                return 2
            state = rollout.State.new(plan)
            write_state(args.state, state)
            print(f"{args.state}: new state for plan {plan.id}, planned start "
                  f"{fmt_time(plan.start)}")
            return 0

        def applied(event, old, new):
            write_state(args.state, new)
            print(f"{event}: {old.status} -> {new.status} (revision {new.revision})")

        state = read_state(args.state, plan)
        return run_command(plan, state, args, at, state.apply, applied)
    except rollout.StoreError as e:
        # a refused stored state is the rollout's refusal (1); the store
        # being away, silent or in conflict is an operational failure (2)
        print(f"rollout_ops: {type(e).__name__}: {e}", file=sys.stderr)
        return 1 if isinstance(e, rollout.StateError) else 2
    except rollout.Error as e:
        print(f"rollout_ops: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except UsageError as e:
        print(f"rollout_ops: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"rollout_ops: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
