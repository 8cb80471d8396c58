# SPDX-License-Identifier: MIT
"""Canary-rollout decisions from librollout, for Python.

The same C library that gateways and nginx workers link makes every decision
here; this package only marshals arguments and results::

    import rollout

    plan = rollout.Plan.from_file("plan.yaml")        # or Plan.seed()
    d = plan.decide(org="acme-corp", user="u-42", at=now)
    if d.new:
        ...                                            # route to the canary
    print(d.explain())

    state = rollout.State.new(plan)
    state, actions = state.apply("start", at=now)      # perform the actions
    text = state.encode()                              # keep it anywhere

    with rollout.Store("redis://redis.example:6379", key_file="rollout.key", plan=plan) as store:
        state, actions = store.apply("rollback", reason="critical_bug")  # CAS, retried

Times are aware ``datetime`` objects or int epoch seconds (a naive datetime
is refused); where a time may be omitted it means "now", read by this
binding (the library itself never reads a clock). Weights are integers in
units of 0.001 % (0..100000). Errors are :class:`Error` subclasses carrying
the C library's message.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, TypeVar, Union

from . import _rollout
from ._rollout import (
    ACTIONS,
    BUCKETS,
    CONFIRMATIONS,
    EVENTS,
    REASONS,
    ROLLBACK_REASONS,
    STATUSES,
    UNITS,
    VERDICTS,
    WEIGHT_MAX,
    ArgumentError,
    ConflictError,
    Decision,
    Error,
    MetricsError,
    NotFoundError,
    PlanError,
    ReplayError,
    SignatureError,
    StateError,
    StoreError,
    StoreTimeoutError,
    TransitionError,
    __version__,
    bucket,
    bucket_with,
    code_name,
)

__all__ = [
    "Action", "ArgumentError", "CalendarEvent", "CohortWeight", "ConflictError",
    "CriterionResult", "Decision", "Error", "Evaluation", "Metrics", "MetricsError",
    "NotFoundError", "Plan", "PlanError", "ReplayError", "Schedule", "SignatureError", "State",
    "StateError", "Store", "StoreError", "StoreTimeoutError", "TransitionError", "bucket",
    "bucket_with", "code_name",
    "from_epoch", "ACTIONS", "BUCKETS", "CONFIRMATIONS", "EVENTS", "REASONS",
    "ROLLBACK_REASONS", "STATUSES", "UNITS", "VERDICTS", "WEIGHT_MAX", "__version__",
]

Time = Union[_dt.datetime, int]


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_NEVER = 2**63 - 1  # INT64_MAX: what the library gives for "never"


def from_epoch(t: Optional[int]) -> Optional[_dt.datetime]:
    """An epoch-seconds value as an aware UTC datetime (None stays None).

    ValueError for a time outside the years 1 to 9999, which no datetime holds.
    """
    if t is None:
        return None
    # exact arithmetic rather than fromtimestamp, which depends on the
    # platform's time_t and raises OSError past it
    try:
        return _EPOCH + _dt.timedelta(seconds=t)
    except OverflowError:
        raise ValueError(f"{t} epoch seconds is outside the years 1 to 9999") from None


def _iso(t: int) -> str:
    """t as the C library writes it (rp_format_time): any 64-bit time, with the
    proleptic Gregorian calendar's year outside 1..9999; "never" for INT64_MAX."""
    if t == _NEVER:
        return "never"
    days, rem = divmod(t, 86400)
    # days to civil date (H. Hinnant's algorithm, as lib/parse.c)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (m <= 2)
    return f"{y:04d}-{m:02d}-{d:02d}T{rem // 3600:02d}:{rem // 60 % 60:02d}:{rem % 60:02d}Z"


def _percent(weight: Optional[int]) -> str:
    return "" if weight is None else f"{weight / 1000:g} %"


# ---- results (plain containers: every value was computed by the library) ----


class CohortWeight(NamedTuple):
    """Where one cohort stands: its weight, bucketing unit and the step that set it."""

    weight: int  # exact, in units of 0.001 % (0..100000); .percent is the same in percent
    unit: Optional[str]
    phase: Optional[str]
    step: Optional[int]

    @property
    def percent(self) -> float:
        """``weight`` in percent: 25000 -> 25.0."""
        return self.weight / 1000


class Schedule(NamedTuple):
    """rollout_schedule: where the rollout stands at ``at``.

    ``at`` is an aware UTC datetime, as the time passed in; the other times
    (``gate_due``, ``next_at``, ``bake_start``, ``complete_at``) are epoch
    seconds, None for never.
    """

    at: _dt.datetime
    status: str
    phase: Optional[str]
    step: Optional[int]
    gate: Optional[str]
    gate_pending: bool
    gate_due: Optional[int]
    slip: int
    next_change: str
    next_at: Optional[int]
    next_phase: Optional[str]
    next_step: Optional[int]
    next_weight: int  # units of 0.001 %, as every weight
    bake_start: Optional[int]
    complete_at: Optional[int]
    cohorts: Dict[str, CohortWeight]

    @property
    def next_percent(self) -> float:
        """``next_weight`` in percent."""
        return self.next_weight / 1000


class CalendarEvent(NamedTuple):
    """One scheduled step, gate, message, bake start or completion."""

    at: int
    kind: str
    phase: Optional[str]
    step: Optional[int]
    gate: Optional[str]
    cohort: Optional[str]
    weight: int  # units of 0.001 % (0..100000)
    projected: bool
    title: Optional[str]
    channel: Optional[str]
    audience: Optional[str]
    message: Optional[str]
    owners: Tuple[str, ...]

    @property
    def when(self) -> _dt.datetime:
        """``at`` as an aware UTC datetime (ValueError outside the years 1 to 9999)."""
        result = from_epoch(self.at)
        assert result is not None
        return result

    @property
    def percent(self) -> float:
        """``weight`` in percent."""
        return self.weight / 1000


class CriterionResult(NamedTuple):
    """How one success criterion came out (values in the metric's unit; None = n/a)."""

    id: Optional[str]
    metric: Optional[str]
    verdict: str
    rollback: bool
    rollback_reason: Optional[str]
    observed: Optional[float]
    threshold: Optional[float]
    baseline: Optional[float]
    p_value: Optional[float]
    lower: Optional[float]
    upper: Optional[float]
    samples: Optional[float]
    reason: str
    dry_run: bool = False  # reported only; never counted in the verdict
    direction: str = "higher_is_worse"  # or "lower_is_worse" (min, throughput, KPIs)
    sla: Optional[float] = None  # the or_sla bound it also passes at


class Evaluation(NamedTuple):
    """rollout_evaluate: the verdict of a criteria set and each criterion's result."""

    verdict: str
    criteria: Optional[str]
    n_pass: int
    n_fail: int
    n_inconclusive: int
    rollback_index: Optional[int]
    rollback_reason: Optional[str]
    results: Tuple[CriterionResult, ...]

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"

    @property
    def rollback(self) -> Optional[CriterionResult]:
        """The criterion whose failure demands a rollback, if any."""
        return None if self.rollback_index is None else self.results[self.rollback_index]


class Action(NamedTuple):
    """One thing the caller must do after a state transition."""

    type: str
    cohort: Optional[str]
    weight: Optional[int]  # set_weight: units of 0.001 % (0..100000); .percent in percent
    unit: Optional[str]
    gate: Optional[str]
    roles: Tuple[str, ...]
    due: Optional[int]
    id: Optional[str]
    label: Optional[str]
    channel: Optional[str]
    audience: Optional[str]
    text: Optional[str]

    @property
    def percent(self) -> Optional[float]:
        """``weight`` in percent (25000 -> 25.0), None when the action sets none."""
        return None if self.weight is None else self.weight / 1000

    def __str__(self) -> str:
        parts = [self.type]
        if self.cohort is not None:
            parts.append(f"cohort={self.cohort}")
        if self.weight is not None:
            parts.append(f"weight={_percent(self.weight)}")
        if self.unit is not None:
            parts.append(f"unit={self.unit}")
        for name in ("gate", "id", "label", "channel", "audience"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value}")
        if self.roles:
            parts.append("roles=" + ",".join(self.roles))
        if self.due is not None:
            parts.append("due=" + _iso(self.due))
        if self.text:
            parts.append(f"-- {self.text}")
        return " ".join(parts)


# ---- the types ------------------------------------------------------------------------


class Metrics(_rollout.Metrics):
    """A metrics snapshot: measurements of the new version and of the baseline.

    ``Metrics()`` is empty (fill it with the ``set*`` methods); ``from_file``,
    ``from_string`` and ``from_dict`` load the documented snapshot format::

        Metrics.from_dict({"new": {"requests": 120000, "errors": 84,
                                   "latency_p95": 1.4, "smoke_tests": {"login-logout": "pass"}},
                           "baseline": {"requests": 500000, "errors": 400}})
    """

    __slots__ = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Metrics":
        # The dict goes through the library's own loader (as JSON), so it
        # means exactly what the same snapshot file would, and is checked
        # the same way: a NaN or an infinity is written as NaN / Infinity,
        # which makes the criteria reading that metric INCONCLUSIVE.
        text = _json.dumps(data, allow_nan=True)
        return cls.from_string(text, "<dict>")


class Plan(_rollout.Plan):
    """A loaded, validated, immutable rollout plan; share it between threads.

    Load with ``Plan.from_file(path)``, ``Plan.from_string(text)`` or
    ``Plan.seed()``. ``decide`` and ``decide_many`` are the C methods.
    """

    __slots__ = ()

    def schedule(self, at: Optional[Time] = None, state: Optional["State"] = None) -> Schedule:
        """Where the rollout stands at ``at`` (default now)."""
        d = self._schedule(at, state)
        d["cohorts"] = {k: CohortWeight(**v) for k, v in d["cohorts"].items()}
        d["at"] = from_epoch(d["at"])
        return Schedule(**d)

    def calendar(
        self, start: Optional[Time] = None, state: Optional["State"] = None
    ) -> List[CalendarEvent]:
        """Every scheduled step, gate and message in time order.

        With ``state``, slipped as the state records; with ``start``, for a
        rollout started then; with neither, started at the plan's start.
        """
        if start is not None:
            if state is not None:
                raise TypeError("calendar() takes start or state, not both")
            state, _ = State.new(self).apply("start", at=start)
        return [CalendarEvent(**e) for e in self._calendar(state)]

    def evaluate(
        self,
        phase: Optional[str] = None,
        metrics: Union[Metrics, Mapping[str, Any], None] = None,
        *,
        gate: Optional[str] = None,
        criteria: Optional[str] = None,
        bake: bool = False,
    ) -> Evaluation:
        """Judges ``metrics`` against the criteria of a phase (or of ``gate``,
        of the criteria set ``criteria``, or of the bake period)."""
        chosen = [x for x in (phase is not None, gate is not None, criteria is not None, bake) if x]
        if len(chosen) != 1:
            raise TypeError("evaluate() takes exactly one of phase, gate=, criteria=, bake=True")
        if metrics is None:
            raise TypeError("evaluate() needs metrics")
        if not isinstance(metrics, _rollout.Metrics):
            metrics = Metrics.from_dict(metrics)
        if phase is not None:
            target, name = _rollout.EVAL_PHASE, phase
        elif gate is not None:
            target, name = _rollout.EVAL_GATE, gate
        elif criteria is not None:
            target, name = _rollout.EVAL_CRITERIA, criteria
        else:
            target, name = _rollout.EVAL_BAKE, None
        d = self._evaluate(target, name, metrics)
        d["results"] = tuple(CriterionResult(**r) for r in d["results"])
        return Evaluation(**d)


def _verdict_reason(
    verdict: Union[str, Evaluation, None], reason: Optional[str]
) -> Tuple[Optional[str], Optional[str]]:
    """An Evaluation as a verdict names its verdict, and for a ROLLBACK its
    rollback reason unless one is given."""
    if isinstance(verdict, Evaluation):
        if reason is None and verdict.verdict == "ROLLBACK":
            reason = verdict.rollback_reason
        verdict = verdict.verdict
    return verdict, reason


_S = TypeVar("_S")


def _applied(result: Tuple[_S, List[Dict[str, Any]]]) -> Tuple[_S, List[Action]]:
    """A C _apply's result, its actions as Action."""
    state, actions = result
    return state, [Action(**a) for a in actions]


class State(_rollout.State):
    """A rollout state: ``State.new(plan)``, ``State.decode(plan, text)``.

    Immutable: ``apply`` returns the next state and the actions to perform.
    """

    __slots__ = ()

    def apply(
        self,
        event: str,
        at: Optional[Time] = None,
        *,
        gate: Optional[str] = None,
        role: Optional[str] = None,
        override: bool = False,
        verdict: Union[str, Evaluation, None] = None,
        reason: Optional[str] = None,
        confirmation: Optional[str] = None,
        why: Optional[str] = None,
        by: Optional[str] = None,
        override_verdict: bool = False,
        all_phases: bool = False,
    ) -> Tuple["State", List[Action]]:
        """Applies an event (one of ``rollout.EVENTS``) at ``at`` (default now).

        ``gate`` and ``role`` are plan ids (gate None = the next open gate);
        ``verdict`` a name from ``rollout.VERDICTS`` or an :class:`Evaluation`
        (whose rollback reason, for a ROLLBACK, becomes the rollback's reason);
        ``reason`` one of ``rollout.ROLLBACK_REASONS``; ``confirmation`` one of
        ``rollout.CONFIRMATIONS``. ``why`` is the reason in words (required
        by an override and by ``promote``; the audit trail keeps 47 bytes of
        it), ``by`` the role that sends the event, ``override_verdict`` lets
        an override pass a FAIL or ROLLBACK verdict, ``all_phases`` makes a
        promote cover every phase. Raises TransitionError when the event is
        not valid now; the state is then unchanged (it always is: the new
        state is returned).
        """
        verdict, reason = _verdict_reason(verdict, reason)
        return _applied(self._apply(event, at, gate=gate, role=role, override=override,
                                    verdict=verdict, reason=reason, confirmation=confirmation,
                                    why=why, by=by, override_verdict=override_verdict,
                                    all_phases=all_phases))


class Store(_rollout.Store):
    """The rollout state in a shared store (Redis), through librollout's store
    component: one state per rollout for the whole fleet (docs/fleet.md).

    ``Store(url, key_file=None, timeout_ms=500, *, plan=None, ...)`` connects
    to ``redis://[[user]:password@]host[:port][/db]`` or ``unix:///path``.
    With ``key_file``, every write is signed (HMAC-SHA-256) and every read
    must carry a valid signature. ``plan`` is the plan calls use when they
    are given none. Every call is bounded by ``timeout_ms`` and releases the
    GIL while it waits on the store; a Store is used by one thread at a time
    (open one per thread). Use it as a context manager, or call ``close()``.

    Errors: :class:`StoreError` (unreachable, an error reply; the message
    names the store), :class:`StoreTimeoutError` (also a ``TimeoutError``),
    :class:`ConflictError` (a compare-and-set lost), :class:`SignatureError`
    and :class:`ReplayError` (a stored value refused; also
    :class:`StateError`s), :class:`NotFoundError` (no state stored).
    """

    __slots__ = ()
    _state_type = State

    def init(self, plan: Optional[Plan] = None) -> State:
        """Stores a fresh state (revision 0) for ``plan``'s rollout and returns
        it; ConflictError when a state is already stored (it is never replaced)."""
        chosen = plan if plan is not None else self.plan
        if chosen is None:
            raise TypeError("no plan: pass plan= to the call or to Store()")
        state = State.new(chosen)
        self.create(state)
        return state

    def apply(
        self,
        event: str,
        at: Optional[Time] = None,
        *,
        plan: Optional[Plan] = None,
        gate: Optional[str] = None,
        role: Optional[str] = None,
        override: bool = False,
        verdict: Union[str, Evaluation, None] = None,
        reason: Optional[str] = None,
        confirmation: Optional[str] = None,
        why: Optional[str] = None,
        by: Optional[str] = None,
        override_verdict: bool = False,
        all_phases: bool = False,
    ) -> Tuple[State, List[Action]]:
        """An operator's event on the stored state: read, ``State.apply``,
        compare-and-set, again from the read when another writer got in first.
        Arguments as :meth:`State.apply`. Returns the stored state and the
        actions to perform; on any error nothing was written."""
        verdict, reason = _verdict_reason(verdict, reason)
        state, actions = _applied(self._apply(
            event, at, plan=plan, gate=gate, role=role, override=override, verdict=verdict,
            reason=reason, confirmation=confirmation, why=why, by=by,
            override_verdict=override_verdict, all_phases=all_phases))
        assert isinstance(state, State)  # _state_type: the C type makes rollout.State
        return state, actions
