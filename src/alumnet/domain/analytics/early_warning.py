"""Early warning: each active student's chance of finishing a mission below its bar,
learned every night from the missions that have finished, with the factors behind it.

The model is a logistic regression on standardised features (scikit-learn), so that each
factor's part in a prediction is its coefficient times the student's standardised value,
in log-odds. Features are computed in SQL, one statement per mission, as of a moment of
the mission: for a finished mission at a quarter, a half and three quarters of its days
(``STAGES``), and at its end for the outcome; for a running mission, today. Its quality is
measured on missions left out whole (``GroupKFold`` by mission). The coefficients, the
scaling and the values that fill a missing feature are kept in ``RiskModel.parameters``:
scoring and explaining need no pickle. With too little history, the model is recorded as
``insufficient`` with the reason, no prediction is kept, and the at-risk rules
(domain/outreach/risk.py) are the only signal. docs/EARLY_WARNING.md says it all in words.
"""

from __future__ import annotations

import asyncio
import hashlib
import resource
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any

import numpy as np
import orjson
from sqlalchemy import (
    Date,
    Float,
    Integer,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    text,
)

from alumnet.domain.engagement.rules import RULE_COLUMNS, Rules
from alumnet.domain.errors import Problem
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.ops.jobs import report_progress
from alumnet.domain.runtime import Runtime
from alumnet.observability import get_logger
from alumnet.persistence.db import Reader, copy_rows
from alumnet.persistence.loaders.common import rows_by_id
from alumnet.persistence.models import (
    AccessChange,
    Assignment,
    AttendanceDay,
    EngagementRules,
    Enrollment,
    IntegrityFlag,
    Job,
    Mission,
    PointEntry,
    RiskModel,
    RiskPrediction,
    Submission,
    User,
)
from alumnet.persistence.models.base import UTCDateTime
from alumnet.persistence.uow import UnitOfWork

log = get_logger(__name__)

TRAIN_JOB = "analytics.train_risk"
ALGORITHM = "logistic_regression"
TRAINED = "trained"
INSUFFICIENT = "insufficient"
# Where a finished enrolment is looked at: after this share of its mission's days.
STAGES = (0.25, 0.5, 0.75)
RECENT_DAYS = 14
# Too little history: fewer finished missions, finished enrolments, or enrolments of
# either outcome than these, and the rules alone apply.
MIN_MISSIONS = 3
MIN_ENROLLMENTS = 100
MIN_OUTCOME = 10
# The newest finished missions learned from (a programme's recent years, a bounded job).
MAX_MISSIONS = 40
FOLDS = 5
RANDOM_STATE = 0
# L2 regularisation (scikit-learn's C: smaller is stronger). Features that move together
# (attendance so far and lately, work missed) share the weight instead of one of them
# taking a sign against sense; held-out AUC is as good or better than with C = 1.
PENALTY = 0.1
TOP_FACTORS = 3
CALIBRATION_BINS = 10
# A mission whose completion rule is all zeros has no bar of its own: finishing below it
# means under half the mission's median points, or (when it takes attendance) present on
# fewer than this share of its days.
FALLBACK_ATTENDANCE_PERCENT = 60
# Enrolments that did not finish at all.
LEFT = ("dropped", "delisted")
# Taking part at a moment of a finished mission: its status then was one of these (the
# counted students; banned, dropped and delisted ones are not scored, so not learned from).
TAKING_PART = ("active", "completed")
RULES_ONLY = (
    "The at-risk rules (each mission's atRisk list) are the only signal until there is "
    "enough history."
)


@dataclass(frozen=True)
class Feature:
    name: str
    label: str


# The model's inputs, in this order in every matrix and in RiskModel.parameters.
FEATURES = (
    Feature("attendance_rate", "Attendance so far"),
    Feature("attendance_recent", f"Attendance over the last {RECENT_DAYS} days"),
    Feature("days_since_present", "Days since last present"),
    Feature("missed_share", "Assignments due and not handed in"),
    Feature("late_share", "Assignments handed in late"),
    Feature("mean_grade", "Mean grade of graded work"),
    Feature("points_percentile", "Points compared with the mission"),
    Feature("integrity_flags", "Integrity flags raised"),
)
NAMES = tuple(f.name for f in FEATURES)
LABELS = {f.name: f.label for f in FEATURES}


def said(name: str, value: float | None) -> str | None:
    """A factor as a sentence about the student (what a caller can say on the phone)."""
    if value is None:
        return None
    percent = f"{round(value * 100)}%"
    match name:
        case "attendance_rate":
            return f"Attended {percent} of the mission's days so far."
        case "attendance_recent":
            return f"Attended {percent} of the days in the last two weeks."
        case "days_since_present":
            days = round(value)
            return "Last present yesterday." if days <= 1 else f"Last present {days} days ago."
        case "missed_share":
            return f"{percent} of the assignments due not handed in."
        case "late_share":
            return f"{percent} of the assignments due handed in late."
        case "mean_grade":
            return f"Mean grade {percent} of the marks available."
        case "points_percentile":
            return f"More points than {percent} of the mission's students."
        case "integrity_flags":
            flags = round(value)
            return f"{flags} integrity flag{'s' if flags != 1 else ''} raised."
    return None


# --- moments of a mission -----------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """A point in a mission: facts of the days before ``cutoff`` count. For a finished
    mission (``at`` set) only what was so at the cutoff: enrolments taking part then, and
    attendance as it was recorded by then."""

    stage: int  # 1, 2, 3: the STAGES of a finished mission; 1 for a running one today
    starts_on: date
    cutoff: date
    elapsed: int  # days of the mission before the cutoff
    recent_days: int
    # The cutoff day's first instant in the mission's time zone (UTC), and the end of the
    # grace for checking in the day before; None for a running mission (today: as it is).
    at: datetime | None = None
    closes_at: datetime | None = None

    @property
    def recent_from(self) -> date:
        return self.cutoff - timedelta(days=self.recent_days)


def _moment(stage: int, starts_on: date, elapsed: int, rules: Rules | None = None) -> Moment:
    cutoff = starts_on + timedelta(days=elapsed)
    if rules is None:
        return Moment(stage, starts_on, cutoff, elapsed, min(RECENT_DAYS, elapsed))
    at = datetime.combine(cutoff, clock.min, rules.zone()).astimezone(UTC)
    closes_at = at + timedelta(minutes=rules.grace_minutes)
    return Moment(stage, starts_on, cutoff, elapsed, min(RECENT_DAYS, elapsed), at, closes_at)


def history_moments(starts_on: date, ends_on: date, rules: Rules | None = None) -> list[Moment]:
    """A finished mission's stages (as things stood then, given its ``rules``' time zone
    and grace)."""
    length = (ends_on - starts_on).days + 1
    return [
        _moment(stage, starts_on, min(length, max(1, round(share * length))), rules)
        for stage, share in enumerate(STAGES, start=1)
    ]


def current_moment(starts_on: date, ends_on: date, today: date) -> Moment | None:
    """A running mission today (today has only begun: the days before it count); None
    before its first day is over."""
    elapsed = (min(today, ends_on + timedelta(days=1)) - starts_on).days
    return _moment(1, starts_on, elapsed) if elapsed >= 1 else None


# --- features, in SQL ---------------------------------------------------------------------


def _days_between(dialect: str, later: Any, earlier: Any) -> Any:
    if dialect == "postgresql":
        return later - earlier  # date - date is a number of days
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def _day(value: date) -> Any:
    return literal(value, Date)


def _instant(value: datetime) -> Any:
    return literal(value, UTCDateTime())


def _present_then(m: Moment) -> Any:
    """A row of ``attendance_days`` counted present as of the moment: recorded before it
    closed, with the status it had then. A day is recorded present and only a correction
    changes it (stamping ``updated_at``); one changed after the moment had, before that
    change, the other status."""
    a = AttendanceDay
    if m.closes_at is None:
        return a.status == "present"
    closes = _instant(m.closes_at)
    return and_(
        a.created_at < closes,
        or_(and_(a.status == "present", a.updated_at < closes),
            and_(a.status != "present", a.updated_at >= closes)),
    )  # fmt: skip


def _taking_part(m: Moment) -> Any:
    """The enrolment takes part at the moment: for a finished mission, enrolled before it
    and, then, active or completed. Its status then is its status now when it last changed
    before the moment (both ways of changing it stamp ``updated_at``), else what its access
    history (``access_changes``: bans, delistings, their end) says it was, else active (a
    change by ``enrollmentUpdate`` after the moment, which keeps no history of its own).
    For a running mission: active or completed now."""
    e, ac = Enrollment, AccessChange
    if m.at is None:
        return e.status.in_(TAKING_PART)
    at = _instant(m.at)
    before = (
        select(ac.to_status)
        .where(ac.enrollment_id == e.id, ac.created_at < at)
        .order_by(ac.created_at.desc(), ac.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    after = (
        select(ac.from_status)
        .where(ac.enrollment_id == e.id, ac.created_at >= at)
        .order_by(ac.created_at, ac.id)
        .limit(1)
        .scalar_subquery()
    )
    then = case((e.updated_at < at, e.status), else_=func.coalesce(before, after, "active"))
    return and_(e.created_at < at, then.in_(TAKING_PART))


def feature_query(
    dialect: str, mission_id: int, moments: Sequence[Moment], *, ends_on: date | None = None
) -> Any:
    """One row per enrolment of the mission: its status and final points, the days it was
    present in the whole mission (given its last day: the outcome's input), and, for each
    moment, whether it took part then (``taking_part_<i>``: 1 or 0) and each feature as of
    it (``<feature>_<i>``, the moments in order), ranked among those taking part. Each fact
    table is read once, through its mission's index, with one aggregate per moment
    (FILTER)."""
    a, s, flag = AttendanceDay, Submission, IntegrityFlag
    starts_on = moments[0].starts_on
    last = max(m.cutoff for m in moments)
    if ends_on is not None:
        last = max(last, ends_on + timedelta(days=1))
    attended: list[Any] = [
        func.count().filter(a.day < _day(m.cutoff), _present_then(m)).label(f"present_{i}")
        for i, m in enumerate(moments)
    ]
    attended += [
        func.count().filter(a.day >= _day(m.recent_from), a.day < _day(m.cutoff),
                            _present_then(m))
        .label(f"recent_{i}")
        for i, m in enumerate(moments)
    ]  # fmt: skip
    attended += [
        func.max(a.day).filter(a.day < _day(m.cutoff), _present_then(m)).label(f"last_{i}")
        for i, m in enumerate(moments)
    ]
    if ends_on is not None:
        attended.append(
            func.count().filter(a.day <= _day(ends_on), a.status == "present")
            .label("present_final")
        )  # fmt: skip
    # As things are now, only present days; as they were, corrected ones too.
    recorded = [] if all(m.closes_at is None for m in moments) else [a.status == "absent"]
    attendance = (
        select(a.enrollment_id, *attended)
        .where(a.mission_id == mission_id, or_(a.status == "present", *recorded),
               a.day >= _day(starts_on), a.day < _day(last))
        .group_by(a.enrollment_id)
        .subquery("attendance")
    )  # fmt: skip

    def handed(m: Moment) -> Any:
        return and_(Assignment.due_at < _day(m.cutoff), s.submitted_at < _day(m.cutoff))

    share = cast(s.mark, Float) / func.nullif(Assignment.max_points, 0)
    worked = [func.count().filter(handed(m)).label(f"handed_{i}") for i, m in enumerate(moments)]
    worked += [
        func.count().filter(handed(m), s.late.is_(True)).label(f"late_{i}")
        for i, m in enumerate(moments)
    ]
    worked += [
        func.avg(share).filter(handed(m), s.mark.is_not(None),
                               func.coalesce(s.graded_at, s.submitted_at) < _day(m.cutoff))
        .label(f"grade_{i}")
        for i, m in enumerate(moments)
    ]  # fmt: skip
    work = (
        select(s.enrollment_id, *worked)
        .join(Assignment, Assignment.id == s.assignment_id)
        .where(s.mission_id == mission_id, s.submitted_at < _day(last))
        .group_by(s.enrollment_id)
        .subquery("work")
    )
    earned = (
        select(PointEntry.enrollment_id, *(
            func.sum(PointEntry.points).filter(PointEntry.created_at < _day(m.cutoff))
            .label(f"points_{i}") for i, m in enumerate(moments)))
        .where(PointEntry.mission_id == mission_id, PointEntry.created_at < _day(last))
        .group_by(PointEntry.enrollment_id)
        .subquery("earned")
    )  # fmt: skip
    flags = (
        select(flag.enrollment_id, *(
            func.count().filter(flag.created_at < _day(m.cutoff)).label(f"flags_{i}")
            for i, m in enumerate(moments)))
        .where(flag.mission_id == mission_id, flag.created_at < _day(last))
        .group_by(flag.enrollment_id)
        .subquery("flags")
    )  # fmt: skip
    e = Enrollment
    columns: list[Any] = [e.id.label("enrollment_id"), e.student_id, e.status,
                          e.points.label("final_points")]  # fmt: skip
    if ends_on is not None:
        columns.append(func.coalesce(attendance.c.present_final, 0).label("present_final"))
    for i, m in enumerate(moments):
        taking = case((_taking_part(m), 1), else_=0)
        everyone = func.count().over(partition_by=taking)
        c = attendance.c
        present = func.coalesce(c[f"present_{i}"], 0)
        due = (
            select(func.count())
            .where(Assignment.mission_id == mission_id, Assignment.due_at < _day(m.cutoff))
            .scalar_subquery()
        )
        points = func.coalesce(earned.c[f"points_{i}"], 0)
        # The mid-rank percentile: those with fewer points, and half of those with as
        # many, of the others (0 the fewest, 1 the most; all alike, or alone, 0.5).
        alike = func.count().over(partition_by=(taking, points))
        fewer = func.rank().over(partition_by=taking, order_by=points) - 1
        columns += [
            taking.label(f"taking_part_{i}"),
            (cast(present, Float) / m.elapsed).label(f"attendance_rate_{i}"),
            (cast(func.coalesce(c[f"recent_{i}"], 0), Float) / m.recent_days)
            .label(f"attendance_recent_{i}"),
            case((c[f"last_{i}"].is_(None), m.elapsed),
                 else_=_days_between(dialect, _day(m.cutoff), c[f"last_{i}"]))
            .label(f"days_since_present_{i}"),
            case((due > 0, cast(due - func.coalesce(work.c[f"handed_{i}"], 0), Float) / due),
                 else_=0.0).label(f"missed_share_{i}"),
            case((due > 0, cast(func.coalesce(work.c[f"late_{i}"], 0), Float) / due),
                 else_=0.0).label(f"late_share_{i}"),
            work.c[f"grade_{i}"].label(f"mean_grade_{i}"),
            case((everyone > 1,
                  (cast(fewer, Float) + cast(alike - 1, Float) / 2) / (everyone - 1)),
                 else_=0.5).label(f"points_percentile_{i}"),
            func.coalesce(flags.c[f"flags_{i}"], 0).label(f"integrity_flags_{i}"),
        ]  # fmt: skip
    return (
        select(*columns)
        .select_from(
            e.__table__.outerjoin(attendance, attendance.c.enrollment_id == e.id)
            .outerjoin(work, work.c.enrollment_id == e.id)
            .outerjoin(earned, earned.c.enrollment_id == e.id)
            .outerjoin(flags, flags.c.enrollment_id == e.id)
        )
        .where(e.mission_id == mission_id)
        .order_by(e.id)
    )  # fmt: skip


def samples(rows: Sequence[Any], moments: int) -> np.ndarray:
    """The features of each row at each moment, moment after moment: (rows x moments)
    by features, as floats (NaN where unknown: no graded work)."""
    if not rows:
        return np.empty((0, len(NAMES)))
    keys = list(rows[0]._fields)
    columns = list(zip(*rows, strict=True))
    blocks = [
        np.column_stack([np.array(columns[keys.index(f"{n}_{i}")], dtype=np.float64)
                         for n in NAMES])
        for i in range(moments)
    ]  # fmt: skip
    return np.vstack(blocks)


# --- the outcome --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """What finishing a mission means: its completion rule (certificates), or the fallback
    when that rule is all zeros."""

    min_points: int
    min_attendance_percent: int
    takes_attendance: bool

    @property
    def own(self) -> bool:
        return self.min_points > 0 or self.min_attendance_percent > 0

    @classmethod
    def of(cls, rules: Rules) -> Bar:
        return cls(
            rules.completion_min_points,
            rules.completion_min_attendance_percent,
            rules.attendance_when_active != "none",
        )


def below_bar(bar: Bar, days: int, status: np.ndarray, points: np.ndarray,
              present: np.ndarray) -> np.ndarray:  # fmt: skip
    """1 for each finished enrolment below the mission's bar (or that did not finish)."""
    left = np.isin(status, LEFT)
    if bar.own:
        below = points < bar.min_points
        if bar.takes_attendance and bar.min_attendance_percent > 0:
            below |= present * 100 < bar.min_attendance_percent * days
    else:
        median = float(np.median(points)) if len(points) else 0.0
        below = points * 2 < median
        if bar.takes_attendance:
            below |= present * 100 < FALLBACK_ATTENDANCE_PERCENT * days
    return (left | below).astype(np.int8)


# --- learning -----------------------------------------------------------------------------


@dataclass
class History:
    """Finished enrolments at each stage: features, outcome, and mission."""

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    stages: np.ndarray
    missions: int
    enrollments: int
    below: int


def _pipeline() -> Any:
    from sklearn.impute import SimpleImputer  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    return make_pipeline(
        SimpleImputer(strategy="mean", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(
            C=PENALTY, solver="newton-cholesky", max_iter=1000, random_state=RANDOM_STATE
        ),
    )


def _held_out(history: History) -> np.ndarray:
    """Each sample's probability from a model that never saw its mission."""
    from sklearn.model_selection import GroupKFold  # type: ignore[import-untyped]

    x, y = history.x, history.y
    predicted = np.empty(len(y), dtype=np.float64)
    folds = GroupKFold(n_splits=min(FOLDS, history.missions))
    for train, test in folds.split(x, y, history.groups):
        if len(np.unique(y[train])) < 2:
            predicted[test] = float(y[train].mean())  # one outcome only: its rate
            continue
        predicted[test] = _pipeline().fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    return predicted


def _quality(y: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import brier_score_loss, roc_auc_score  # type: ignore[import-untyped]

    auc = float(roc_auc_score(y, predicted)) if len(np.unique(y)) == 2 else None
    bins = np.minimum((predicted * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    calibration = [
        {"bin": b, "predicted": round(float(predicted[bins == b].mean()), 4),
         "observed": round(float(y[bins == b].mean()), 4), "count": int((bins == b).sum())}
        for b in range(CALIBRATION_BINS) if (bins == b).any()
    ]  # fmt: skip
    return {
        "auc": None if auc is None else round(auc, 4),
        "brier": round(float(brier_score_loss(y, predicted)), 4),
        "positiveRate": round(float(y.mean()), 4),
        "calibration": calibration,
    }


def learn(history: History) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's parameters and its quality on held-out missions (CPU-bound: run it in
    a thread)."""
    predicted = _held_out(history)
    quality = _quality(history.y, predicted)
    quality["folds"] = min(FOLDS, history.missions)
    quality["heldOut"] = "missions"
    quality["byStage"] = [
        {"elapsed": share, **{k: v for k, v in _quality(history.y[mask], predicted[mask]).items()
                              if k in ("auc", "brier")}}
        for stage, share in enumerate(STAGES, start=1)
        if (mask := history.stages == stage).any()
    ]  # fmt: skip
    model = _pipeline().fit(history.x, history.y)
    imputer, scaler, regression = (step for _, step in model.steps)
    known = ~np.isnan(history.x)
    parameters = {
        "features": list(NAMES),
        "labels": [LABELS[n] for n in NAMES],
        "fill": [float(v) for v in imputer.statistics_],
        # The range each feature had in training: scoring clips to it, so that a value
        # never seen (a student absent for a year) does not extrapolate the line.
        "lows": [
            float(history.x[known[:, j], j].min()) if known[:, j].any() else 0.0
            for j in range(len(NAMES))
        ],
        "highs": [
            float(history.x[known[:, j], j].max()) if known[:, j].any() else 0.0
            for j in range(len(NAMES))
        ],
        "means": [float(v) for v in scaler.mean_],
        "scales": [float(v) for v in scaler.scale_],
        "coefficients": [float(v) for v in regression.coef_[0]],
        "intercept": float(regression.intercept_[0]),
        "stages": list(STAGES),
        "recentDays": RECENT_DAYS,
        "randomState": RANDOM_STATE,
        "penalty": PENALTY,
    }
    return parameters, quality


@dataclass(frozen=True)
class Scored:
    probability: np.ndarray
    contributions: np.ndarray


def score(parameters: dict[str, Any], x: np.ndarray) -> Scored:
    """Probabilities and each factor's contribution (coefficient times standardised
    value, in log-odds), from the stored parameters alone: a missing value is filled with
    the training's mean, and each value kept within the training's range."""
    fill = np.array(parameters["fill"])
    filled = np.clip(np.where(np.isnan(x), fill, x), parameters["lows"], parameters["highs"])
    z = (filled - np.array(parameters["means"])) / np.array(parameters["scales"])
    contributions = z * np.array(parameters["coefficients"])
    logit = contributions.sum(axis=1) + float(parameters["intercept"])
    return Scored(1.0 / (1.0 + np.exp(-logit)), contributions)


def factors_of(x: np.ndarray, contributions: np.ndarray) -> list[dict[str, Any]]:
    """One student's top factors: those raising the risk most first."""
    order = np.argsort(-contributions, kind="stable")[:TOP_FACTORS]
    return [
        {"name": NAMES[i], "label": LABELS[NAMES[i]],
         "value": None if np.isnan(x[i]) else round(float(x[i]), 4),
         "contribution": round(float(contributions[i]), 4)}
        for i in order
    ]  # fmt: skip


# --- the job ------------------------------------------------------------------------------


async def _missions(rt: Runtime, status: str, limit: int | None) -> list[tuple[Any, Rules]]:
    """Missions of a status (the newest first) that have enrolments, with their rules."""
    async with rt.database.connect() as conn:
        query = (
            select(Mission.id, Mission.starts_on, Mission.ends_on)
            .where(Mission.status == status,
                   select(Enrollment.id).where(Enrollment.mission_id == Mission.id).exists())
            .order_by(Mission.ends_on.desc(), Mission.id.desc())
        )  # fmt: skip
        if limit is not None:
            query = query.limit(limit)
        missions = (await conn.execute(query)).all()
        ids = [m.id for m in missions]
        rules = {
            r.mission_id: Rules.from_row(r)
            for r in (
                await conn.execute(
                    select(EngagementRules.mission_id, *RULE_COLUMNS).where(
                        EngagementRules.mission_id.in_(ids)
                    )
                )
            ).all()
        }
    return [(m, rules.get(m.id, Rules())) for m in missions]


async def _features(
    rt: Runtime, mission_id: int, moments: Sequence[Moment], ends_on: date | None = None
) -> list[Any]:
    async with rt.database.connect() as conn:
        query = feature_query(conn.dialect.name, mission_id, moments, ends_on=ends_on)
        return list((await conn.execute(query)).all())


async def history(rt: Runtime) -> History:
    """Every finished mission's enrolments at each stage they took part in, with the
    outcome: one statement per mission. ``missions`` and ``enrollments`` count those that
    gave a sample."""
    xs, ys, groups, stages = [], [], [], []
    finished = await _missions(rt, "completed", MAX_MISSIONS)
    missions = enrollments = below = 0
    for mission, rules in finished:
        moments = history_moments(mission.starts_on, mission.ends_on, rules)
        rows = await _features(rt, mission.id, moments, mission.ends_on)
        if not rows:
            continue
        days = (mission.ends_on - mission.starts_on).days + 1
        outcome = below_bar(
            Bar.of(rules), days,
            np.array([r.status for r in rows], dtype=object),
            np.array([r.final_points for r in rows], dtype=np.float64),
            np.array([r.present_final for r in rows], dtype=np.float64),
        )  # fmt: skip
        # Rows by moments: whether each enrolment took part at each moment.
        taking = np.array(
            [[bool(getattr(r, f"taking_part_{i}")) for i in range(len(moments))] for r in rows],
            dtype=bool,
        ).reshape(len(rows), len(moments))
        counted = taking.any(axis=1)
        if not counted.any():
            continue
        keep = taking.T.reshape(-1)  # moment after moment, as ``samples`` stacks them
        missions += 1
        enrollments += int(counted.sum())
        below += int(outcome[counted].sum())
        xs.append(samples(rows, len(moments))[keep])
        ys.append(np.tile(outcome, len(moments))[keep])
        groups.append(np.full(int(keep.sum()), mission.id, dtype=np.int64))
        stages.append(np.repeat([m.stage for m in moments], len(rows)).astype(np.int8)[keep])
    if not xs:
        empty = np.empty((0, len(NAMES)))
        return History(empty, np.empty(0, np.int8), np.empty(0, np.int64), np.empty(0, np.int8),
                       0, 0, 0)  # fmt: skip
    return History(
        np.vstack(xs), np.concatenate(ys), np.concatenate(groups), np.concatenate(stages),
        missions, enrollments, below,
    )  # fmt: skip


def too_little(h: History) -> str | None:
    """Why the history cannot train a model, or None when it can."""
    if h.missions < MIN_MISSIONS:
        return (
            f"{h.missions} finished mission{'s' if h.missions != 1 else ''} with enrolments: "
            f"at least {MIN_MISSIONS} are needed."
        )
    if h.enrollments < MIN_ENROLLMENTS:
        return f"{h.enrollments} finished enrolments: at least {MIN_ENROLLMENTS} are needed."
    above = h.enrollments - h.below
    if min(h.below, above) < MIN_OUTCOME:
        return (
            f"{h.below} of {h.enrollments} finished enrolments finished below their mission's "
            f"bar: at least {MIN_OUTCOME} of each outcome are needed."
        )
    return None


async def _predictions(
    rt: Runtime, parameters: dict[str, Any], now: datetime
) -> tuple[list[dict[str, Any]], int]:
    """A prediction for each active student of each running mission (its model's id
    still to be set), and how many missions had some."""
    made: list[dict[str, Any]] = []
    running = await _missions(rt, "active", None)
    scored = 0
    for mission, rules in running:
        moment = current_moment(mission.starts_on, mission.ends_on, rules.today(now))
        if moment is None:
            continue
        rows = [r for r in await _features(rt, mission.id, [moment]) if r.status == "active"]
        if not rows:
            continue
        scored += 1
        x = samples(rows, 1)
        result = score(parameters, x)
        for i, row in enumerate(rows):
            made.append({
                "enrollment_id": row.enrollment_id, "mission_id": mission.id,
                "student_id": row.student_id,
                "probability": round(float(result.probability[i]), 4),
                "factors": factors_of(x[i], result.contributions[i]), "computed_at": now,
            })  # fmt: skip
    return made, scored


def _version(now: datetime, content: Any) -> str:
    digest = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"{now:%Y%m%d-%H%M%S.%f}-{digest[:8]}"


async def _replace(uow: UnitOfWork) -> int:
    """Take the predictions' table for this training (two take turns; readers go on) and
    empty it; returns how many predictions there were."""
    if uow.session.get_bind().dialect.name == "postgresql":
        await uow.session.execute(text("LOCK TABLE risk_predictions IN SHARE ROW EXCLUSIVE MODE"))
    removed = await uow.session.execute(delete(RiskPrediction))
    return int(getattr(removed, "rowcount", 0) or 0)


Progress = Callable[[float], Awaitable[None]]


async def train(
    rt: Runtime, job_id: int | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """The nightly job: learn from finished missions, then predict for active students.
    Too little history records an ``insufficient`` model and removes the predictions."""
    started = time.perf_counter()
    past = await history(rt)
    if progress is not None:
        await progress(0.4)
    reason = too_little(past)
    counts = {"missions": past.missions, "enrollments": past.enrollments,
              "samples": len(past.y), "belowBar": past.below}  # fmt: skip
    if reason is not None:
        async with rt.transaction() as uow:
            removed = await _replace(uow)
            now = datetime.now(UTC)
            model = RiskModel(
                version=_version(now, reason), status=INSUFFICIENT, algorithm=ALGORITHM,
                missions=past.missions, samples=len(past.y), job_id=job_id, trained_at=now,
                quality={"reason": reason, "enrollments": past.enrollments,
                         "belowBar": past.below}, parameters={},
            )  # fmt: skip
            uow.session.add(model)
            await uow.session.flush()
        log.info("risk_model_insufficient", reason=reason, **counts)
        return {"status": INSUFFICIENT, "version": model.version, "reason": reason,
                "signal": RULES_ONLY, "predictionsRemoved": removed, **counts,
                **_costs(started)}  # fmt: skip
    parameters, quality = await asyncio.to_thread(learn, past)
    del past
    quality.update(enrollments=counts["enrollments"], belowBar=counts["belowBar"])
    if progress is not None:
        await progress(0.7)
    now = datetime.now(UTC)
    made, running = await _predictions(rt, parameters, now)
    if progress is not None:
        await progress(0.9)
    async with rt.transaction() as uow:
        removed = await _replace(uow)
        model = RiskModel(
            version=_version(now, parameters), status=TRAINED, algorithm=ALGORITHM,
            missions=counts["missions"], samples=counts["samples"], quality=quality,
            parameters=parameters, job_id=job_id, trained_at=now,
        )  # fmt: skip
        uow.session.add(model)
        await uow.session.flush()
        for row in made:
            row["model_id"] = model.id
        await copy_rows(uow.session, RiskPrediction.__table__, made)
    log.info("risk_model_trained", version=model.version, auc=quality["auc"],
             predictions=len(made), **counts)  # fmt: skip
    return {"status": TRAINED, "version": model.version, "algorithm": ALGORITHM, **counts,
            "quality": quality, "predictions": len(made), "predictionsReplaced": removed,
            "activeMissions": running, **_costs(started)}  # fmt: skip


def _costs(started: float) -> dict[str, Any]:
    return {
        "seconds": round(time.perf_counter() - started, 2),
        # The process's peak resident memory so far (kilobytes on Linux).
        "peakMemoryMb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


async def run(rt: Runtime, job: Job) -> dict[str, Any]:
    """The `analytics.train_risk` job's handler."""

    async def progress(fraction: float) -> None:
        await report_progress(rt, job, fraction)

    return await train(rt, job.id, progress)


async def request_training(uow: UnitOfWork, viewer: Viewer) -> int:
    """Train now, in the background (``analytics:read`` and ``cohorts:manage`` held
    everywhere: managers and admins); a training already waiting or running is answered
    instead of a second one. Returns the job's id."""
    viewer.require(Permission.ANALYTICS_READ)
    viewer.require(Permission.COHORTS_MANAGE)
    waiting = (
        await uow.session.execute(
            select(Job.id)
            .where(Job.name == TRAIN_JOB, Job.status.in_(("pending", "running", "retrying")))
            .order_by(Job.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if waiting is not None:
        return int(waiting)
    job = await uow.add_job(TRAIN_JOB, {})
    audit.record(uow, "risk_model.train", object_type="Job", object_ids=[job.id])
    return int(job.id)


# --- reading ------------------------------------------------------------------------------


def latest_model_query() -> Any:
    return select(RiskModel.__table__).order_by(RiskModel.id.desc()).limit(1)


async def latest_model(db: Reader) -> Any | None:
    """The newest training (trained or insufficient), or None before the first."""
    async with db.connect() as conn:
        return (await conn.execute(latest_model_query())).first()


async def predictions_of_model(db: Reader, model_id: int) -> int:
    """How many enrolments, still active, have a prediction by the model."""
    async with db.connect() as conn:
        query = (
            select(func.count())
            .select_from(RiskPrediction)
            .join(Enrollment, Enrollment.id == RiskPrediction.enrollment_id)
            .where(RiskPrediction.model_id == model_id, Enrollment.status == "active")
        )
        return int((await conn.execute(query)).scalar_one())


async def predictions_by_enrollment_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    """Each enrolment's prediction with its model's version, None where there is none or
    the enrolment is no longer active (dropped, banned, delisted or completed since the
    night's training, which predicts only for active ones): one statement for any number
    of enrolments."""
    query = (
        select(RiskPrediction.enrollment_id.label("id"), RiskPrediction.probability,
               RiskPrediction.factors, RiskPrediction.computed_at, RiskModel.version)
        .join(RiskModel, RiskModel.id == RiskPrediction.model_id)
        .join(Enrollment, Enrollment.id == RiskPrediction.enrollment_id)
        .where(RiskPrediction.enrollment_id.in_(list(ids)), Enrollment.status == "active")
    )  # fmt: skip
    return await rows_by_id(db, query, ids)


# --- call lists ---------------------------------------------------------------------------


async def unavailable(uow: UnitOfWork) -> Problem | None:
    """Why call lists cannot be built from predictions now (no trained model), or None."""
    latest = (await uow.session.execute(latest_model_query())).first()
    if latest is None:
        message = "No early-warning model has been trained yet. " + RULES_ONLY
    elif latest.status != TRAINED:
        reason = (latest.quality or {}).get("reason", "")
        message = f"The early-warning model has too little history ({reason}) " + RULES_ONLY
    else:
        return None
    return Problem(code="NO_RISK_MODEL", message=message, field=("source",))


@dataclass(frozen=True)
class Candidate:
    enrollment_id: int
    student_id: int
    name: str
    probability: float
    reasons: list[str]  # for staff: the prediction and the factors raising it
    noticed: list[str]  # what a caller may say: the factors raising it, as sentences


async def call_candidates(
    uow: UnitOfWork, missions: Any, min_probability: float, limit: int
) -> list[Candidate]:
    """Active students of the missions (a subquery of ids) predicted at least
    ``min_probability`` to finish below the bar, highest first."""
    rows = (
        await uow.session.execute(
            select(RiskPrediction.enrollment_id, RiskPrediction.student_id,
                   RiskPrediction.probability, RiskPrediction.factors, User.name)
            .join(User, User.id == RiskPrediction.student_id)
            .join(Enrollment, Enrollment.id == RiskPrediction.enrollment_id)
            .where(RiskPrediction.mission_id.in_(missions), Enrollment.status == "active",
                   RiskPrediction.probability >= min_probability)
            .order_by(RiskPrediction.probability.desc(), RiskPrediction.enrollment_id)
            .limit(limit)
        )
    ).all()  # fmt: skip
    found = []
    for enrollment_id, student_id, probability, factors, name in rows:
        noticed = [
            sentence
            for f in factors or []
            if float(f.get("contribution", 0)) > 0
            and (sentence := said(str(f.get("name")), f.get("value"))) is not None
        ]
        warning = (
            f"Early warning: {round(float(probability) * 100)}% likely to finish below the "
            "mission's bar."
        )
        found.append(Candidate(int(enrollment_id), int(student_id), str(name),
                               float(probability), [warning, *noticed], noticed))  # fmt: skip
    return found
