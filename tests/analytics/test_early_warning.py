"""Early warning: the nightly model learns from a planted history of finished missions
(where low attendance and missed work end below the bar), reports its quality on held-out
missions, predicts for active students with the factors behind it, is shown to those who
see the at-risk lists, builds call lists, and says so when the history is too short."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, func, insert, select, update
from strawberry.relay import from_base64

from alumnet.domain.analytics import early_warning
from alumnet.domain.engagement.rules import Rules
from alumnet.persistence.models import (
    AccessChange,
    Assignment,
    AttendanceDay,
    EngagementRules,
    Enrollment,
    IntegrityFlag,
    Mission,
    PointEntry,
    RiskModel,
    RiskPrediction,
    Submission,
    User,
    UserRole,
)
from alumnet.workers.schedule import SCHEDULE
from tests.cohorts.conftest import Programme, programme  # noqa: F401  (the fixture)


@pytest.fixture
def p(programme: Programme) -> Programme:  # noqa: F811  (the fixture above)
    """The cohorts programme: two batches, three missions, two mentors, three students."""
    return programme


TRAIN = """mutation { riskModelTrain { job { id status } userErrors { code message } } }"""
JOB = """query($id: ID!) { node(id: $id) { ... on Job { status result lastError } } }"""
MODEL = """query { riskModel { version status reason algorithm missions enrollments samples
  predictions trainedAt
  quality { auc brier positiveRate folds calibration { bin predicted observed count } }
  features { name label coefficient mean scale } } }"""
RISK = """query($e: ID!) { node(id: $e) { ... on Enrollment { id risk { probability modelVersion
  computedAt factors { name label value contribution } } } } }"""
ROSTER = """query($m: ID!) { node(id: $m) { ... on Mission { enrollments(first: 100) {
  edges { node { id risk { probability factors { name value contribution } } } } } } } }"""
GENERATE = """mutation($i: CallListGenerateInput!) { callListGenerate(input: $i) {
  callList { entries { priority reasons script student { name } } }
  students userErrors { field code message } } }"""
REFRESH = """mutation($m: ID) { atRiskRefresh(input: {missionId: $m}) { job { id } } }"""
ATTENDANCE = {"attendance_rate", "attendance_recent", "days_since_present"}


def pk(gid: str) -> int:
    return int(from_base64(gid)[1])


def at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


async def plant_history(p: Programme, missions: int = 4, students: int = 40) -> list[int]:
    """Finished missions of 30 days in batch B1, each with the same ``students``: each
    student turns up and hands in work with a chance of their own (25% to 95%); the bar is
    70% attendance (two missions), 45 points (one), or none of its own (the fallback).
    Enrolled a week before the start, each day recorded on the day. Returns the missions'
    ids. Bulk inserts: thousands of rows in a few statements."""
    today = datetime.now(UTC).date()
    batch = pk(p.ids["b1"])
    now = datetime.now(UTC)
    async with p.api.app.state.runtime.transaction() as uow:
        run = uow.session.execute
        users = (await run(insert(User).returning(User.id, sort_by_parameter_order=True), [
            {"email": f"h{i}@example.org", "email_lower": f"h{i}@example.org",
             "name": f"H{i:03d} Person", "status": "active", "created_at": now,
             "updated_at": now} for i in range(students)
        ])).scalars().all()  # fmt: skip
        await run(insert(UserRole), [{"user_id": u, "role": "STUDENT"} for u in users])
        mission_ids = []
        bars = [(0, 70), (0, 70), (45, 0), (0, 0)]
        for k in range(missions):
            starts = today - timedelta(days=200 - 40 * k)
            ends = starts + timedelta(days=29)
            mission = (await run(insert(Mission).returning(Mission.id), {
                "batch_id": batch, "title": f"History {k}", "code": f"HIST-{k}",
                "status": "completed", "starts_on": starts, "ends_on": ends,
                "created_at": now, "updated_at": now, "completed_at": at_noon(ends),
            })).scalar_one()  # fmt: skip
            mission_ids.append(mission)
            min_points, min_percent = bars[k % len(bars)]
            await run(insert(EngagementRules), {
                "mission_id": mission, "completion_min_points": min_points,
                "completion_min_attendance_percent": min_percent, "updated_at": now,
            })  # fmt: skip
            due_days = [6, 13, 20, 27]
            assignments = (await run(
                insert(Assignment).returning(Assignment.id, sort_by_parameter_order=True), [
                    {"mission_id": mission, "title": f"Work {d}",
                     "opens_at": at_noon(starts), "due_at": at_noon(starts + timedelta(days=d)),
                     "max_points": 10, "created_at": now, "updated_at": now}
                    for d in due_days
                ])).scalars().all()  # fmt: skip
            days, work, ledger, flags = [], [], [], []
            totals = []
            for i, user in enumerate(users):
                rng = random.Random(k * 1000 + i)
                chance = 0.25 + 0.7 * ((i * 37 + k * 11) % students) / (students - 1)
                total = 0
                present = [d for d in range(30) if rng.random() < chance]
                for d in present:
                    day = starts + timedelta(days=d)
                    days.append((i, day))
                    ledger.append((i, 1, at_noon(day)))
                    total += 1
                for assignment, d in zip(assignments, due_days, strict=True):
                    if rng.random() >= chance:
                        continue  # missed
                    late = rng.random() < (1 - chance) * 0.6
                    handed = at_noon(starts + timedelta(days=d + (2 if late else -1)))
                    mark = round(10 * (0.3 + 0.7 * chance))
                    work.append((i, assignment, handed, late, mark))
                    ledger.append((i, 5 if late else 10, handed))
                    total += 5 if late else 10
                if chance < 0.35:
                    flags.append((i, at_noon(starts + timedelta(days=3))))
                totals.append(total)
            enrolled = (await run(
                insert(Enrollment).returning(Enrollment.id, sort_by_parameter_order=True), [
                    {"mission_id": mission, "student_id": u,
                     "status": "dropped" if i % 17 == 5 else "completed", "points": totals[i],
                     "created_at": at_noon(starts - timedelta(days=7)), "updated_at": now}
                    for i, u in enumerate(users)
                ])).scalars().all()  # fmt: skip
            await run(insert(AttendanceDay), [
                {"enrollment_id": enrolled[i], "mission_id": mission, "student_id": users[i],
                 "day": day, "kind": "check_in", "status": "present",
                 "created_at": at_noon(day), "updated_at": at_noon(day)} for i, day in days
            ])  # fmt: skip
            await run(insert(Submission), [
                {"assignment_id": a, "enrollment_id": enrolled[i], "mission_id": mission,
                 "student_id": users[i], "submitted_at": at, "late": late, "source": "bulk",
                 "status": "graded", "mark": mark, "graded_at": at, "created_at": now}
                for i, a, at, late, mark in work
            ])  # fmt: skip
            await run(insert(PointEntry), [
                {"mission_id": mission, "enrollment_id": enrolled[i], "student_id": users[i],
                 "points": n, "reason": "attendance", "source_type": "attendance",
                 "created_at": at} for i, n, at in ledger
            ])  # fmt: skip
            if flags:
                await run(insert(IntegrityFlag), [
                    {"enrollment_id": enrolled[i], "mission_id": mission,
                     "student_id": users[i], "kind": "repeated_late_work", "evidence": "Late.",
                     "status": "open", "created_at": at} for i, at in flags
                ])  # fmt: skip
    return mission_ids


async def plant_running(p: Programme) -> None:
    """Mission ma runs from 30 days ago: s1 came every day and handed in both assignments;
    s2 came the first five days only, though handing in the work."""
    today = datetime.now(UTC).date()
    starts = today - timedelta(days=30)
    mission = pk(p.ids["ma"])
    now = datetime.now(UTC)
    async with p.api.app.state.runtime.transaction() as uow:
        run = uow.session.execute
        await run(update(Mission).where(Mission.id == mission).values(
            starts_on=starts, ends_on=today + timedelta(days=29), status="active"))  # fmt: skip
        assignments = (await run(
            insert(Assignment).returning(Assignment.id, sort_by_parameter_order=True), [
                {"mission_id": mission, "title": f"Now {d}", "opens_at": at_noon(starts),
                 "due_at": at_noon(starts + timedelta(days=d)), "max_points": 10,
                 "created_at": now, "updated_at": now} for d in (10, 20)
            ])).scalars().all()  # fmt: skip
        for who, present in (("s1", range(30)), ("s2", range(5))):
            enrollment, student = pk(p.ids[f"e_{who}_ma"]), pk(p.ids[who])
            await run(insert(AttendanceDay), [
                {"enrollment_id": enrollment, "mission_id": mission, "student_id": student,
                 "day": starts + timedelta(days=d), "kind": "check_in", "status": "present",
                 "created_at": now, "updated_at": now} for d in present
            ])  # fmt: skip
            await run(insert(Submission), [
                {"assignment_id": a, "enrollment_id": enrollment, "mission_id": mission,
                 "student_id": student, "submitted_at": at_noon(starts + timedelta(days=d - 1)),
                 "late": False, "source": "bulk", "status": "graded", "mark": 8,
                 "graded_at": at_noon(starts + timedelta(days=d)), "created_at": now}
                for a, d in zip(assignments, (10, 20), strict=True)
            ])  # fmt: skip
            await run(insert(PointEntry), [
                {"mission_id": mission, "enrollment_id": enrollment, "student_id": student,
                 "points": 1, "reason": "attendance", "source_type": "attendance",
                 "created_at": at_noon(starts + timedelta(days=d))} for d in present
            ])  # fmt: skip


async def trained(p: Programme, who: str = "manager") -> dict[str, Any]:
    """Train through the API and the real job path; the finished job's result."""
    body = await p.gql(who, TRAIN)
    assert "errors" not in body, body
    payload = body["data"]["riskModelTrain"]
    assert payload["userErrors"] == [] and payload["job"] is not None, payload
    await p.api.run_jobs()
    job = (await p.gql(who, JOB, {"id": payload["job"]["id"]}))["data"]["node"]
    assert job["status"] == "SUCCEEDED", job
    return job["result"]  # type: ignore[no-any-return]


async def risk_of(p: Programme, who: str, enrollment: str) -> Any:
    body = await p.gql(who, RISK, {"e": enrollment})
    assert "errors" not in body, body
    node = body["data"]["node"]
    return None if node is None else node["risk"]


async def test_the_nightly_model_learns_reports_quality_and_explains(
    p: Programme,
) -> None:
    assert (early_warning.TRAIN_JOB, {}, "20 2 * * *") in SCHEDULE
    await plant_history(p)
    await plant_running(p)
    result = await trained(p)
    assert result["status"] == "trained", result
    assert result["missions"] == 4 and result["enrollments"] == 160
    assert result["samples"] == 160 * len(early_warning.STAGES)
    quality = result["quality"]
    assert quality["auc"] > 0.85, quality  # a separable history ranks well on unseen missions
    assert 0 < quality["brier"] < 0.2
    assert sum(b["count"] for b in quality["calibration"]) == result["samples"]
    assert quality["heldOut"] == "missions" and quality["folds"] == 4
    # s1 and s2 in ma, s1 in mb (its batch's dates: running for months); mc has not begun.
    assert result["predictions"] == 3 and result["activeMissions"] == 2

    body = await p.gql("manager", MODEL)
    assert "errors" not in body, body
    model = body["data"]["riskModel"]
    assert model["status"] == "TRAINED" and model["reason"] is None
    assert model["version"] == result["version"] and model["predictions"] == 3
    assert model["algorithm"] == "logistic_regression" and model["enrollments"] == 160
    assert model["quality"]["auc"] == quality["auc"]
    assert [f["name"] for f in model["features"]] == list(early_warning.NAMES)
    attendance = next(f for f in model["features"] if f["name"] == "attendance_rate")
    assert attendance["coefficient"] < 0  # coming more lowers the risk

    good = await risk_of(p, "sre", p.ids["e_s1_ma"])
    poor = await risk_of(p, "sre", p.ids["e_s2_ma"])
    assert poor["probability"] > 0.5 > good["probability"], (poor, good)
    assert poor["factors"][0]["name"] in ATTENDANCE, poor["factors"]
    assert poor["factors"][0]["contribution"] > 0
    contributions = [f["contribution"] for f in poor["factors"]]
    assert contributions == sorted(contributions, reverse=True) and len(contributions) == 3
    assert poor["modelVersion"] == model["version"]
    rate = next((f for f in poor["factors"] if f["name"] == "attendance_rate"), None)
    assert rate is None or rate["value"] == round(5 / 30, 4)

    # Scoring needs no pickle: the stored parameters give the stored probability, and
    # training again on the same history learns the same model (fixed random state).
    rt = p.api.app.state.runtime
    async with rt.database.connect() as conn:
        first = (await conn.execute(select(RiskModel.parameters))).scalar_one()
        stored = (await conn.execute(
            select(RiskPrediction.probability).where(
                RiskPrediction.enrollment_id == pk(p.ids["e_s2_ma"]))
        )).scalar_one()  # fmt: skip
        rows = (await conn.execute(early_warning.feature_query(
            conn.dialect.name, pk(p.ids["ma"]),
            [early_warning.current_moment(datetime.now(UTC).date() - timedelta(days=30),
                                          datetime.now(UTC).date() + timedelta(days=29),
                                          datetime.now(UTC).date())],  # type: ignore[list-item]
        ))).all()  # fmt: skip
    s2 = [r for r in rows if r.enrollment_id == pk(p.ids["e_s2_ma"])]
    features = dict(zip(early_warning.NAMES, early_warning.samples(s2, 1)[0], strict=True))
    assert features == pytest.approx({
        "attendance_rate": 5 / 30, "attendance_recent": 0.0, "days_since_present": 26.0,
        "missed_share": 0.0, "late_share": 0.0, "mean_grade": 0.8, "points_percentile": 0.0,
        "integrity_flags": 0.0,
    })  # fmt: skip
    again = early_warning.score(first, early_warning.samples(s2, 1)).probability[0]
    assert abs(again - stored) < 1e-4
    second = await early_warning.train(rt)
    async with rt.database.connect() as conn:
        latest = (await conn.execute(early_warning.latest_model_query())).one()
    assert np.allclose(latest.parameters["coefficients"], first["coefficients"])
    assert second["quality"]["auc"] == quality["auc"]


async def test_who_sees_a_students_risk_and_rosters_batch_it(p: Programme) -> None:
    await plant_history(p)
    await plant_running(p)
    await trained(p)
    s1, s2 = p.ids["e_s1_ma"], p.ids["e_s2_ma"]
    for who in ("sre", "manager", "admin"):
        assert await risk_of(p, who, s1) is not None, who
        assert await risk_of(p, who, s2) is not None, who
    # m1 mentors s1 in ma, m2 mentors s2 there: each sees their own mentee's only.
    assert await risk_of(p, "m1", s1) is not None
    assert await risk_of(p, "m1", s2) is None
    assert await risk_of(p, "m2", s2) is not None
    # Never the student themself, nor another student, nor an alumnus.
    assert await risk_of(p, "s1", s1) is None
    assert await risk_of(p, "s2", s2) is None
    assert await risk_of(p, "s2", s1) is None
    assert await risk_of(p, "alumnus", s1) is None
    # The model itself is for `analytics:read`; training for managers and admins.
    for who in ("s1", "m1", "alumnus"):
        denied = await p.gql(who, MODEL)
        assert denied["data"]["riskModel"] is None
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    assert (await p.gql("sre", MODEL))["data"]["riskModel"]["status"] == "TRAINED"
    for who in ("sre", "m1", "s1"):
        refused = await p.gql(who, TRAIN)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", who

    # A roster's risks come in one statement, however many enrolments it lists.
    async def statements() -> tuple[int, int]:
        count, body = await p.api.sql_count(ROSTER, {"m": p.ids["ma"]}, p.tokens["sre"])
        assert "errors" not in body, body
        edges = body["data"]["node"]["enrollments"]["edges"]
        return count, sum(e["node"]["risk"] is not None for e in edges)

    before, with_risk = await statements()
    assert with_risk == 2
    await more_predicted(p, 12)
    after, with_risk = await statements()
    assert with_risk == 14 and after == before


async def more_predicted(p: Programme, n: int) -> None:
    """``n`` more active students of ma, each with a copy of s2's prediction."""
    now = datetime.now(UTC)
    mission = pk(p.ids["ma"])
    async with p.api.app.state.runtime.transaction() as uow:
        run = uow.session.execute
        users = (await run(insert(User).returning(User.id, sort_by_parameter_order=True), [
            {"email": f"x{i}@example.org", "email_lower": f"x{i}@example.org",
             "name": f"X{i:03d} Person", "status": "active", "created_at": now,
             "updated_at": now} for i in range(n)
        ])).scalars().all()  # fmt: skip
        enrolled = (await run(
            insert(Enrollment).returning(Enrollment.id, sort_by_parameter_order=True), [
                {"mission_id": mission, "student_id": u, "status": "active",
                 "created_at": now, "updated_at": now} for u in users
            ])).scalars().all()  # fmt: skip
        model = (await run(select(RiskPrediction).where(
            RiskPrediction.enrollment_id == pk(p.ids["e_s2_ma"])))).scalar_one()  # fmt: skip
        await run(insert(RiskPrediction), [
            {"enrollment_id": e, "mission_id": mission, "student_id": u,
             "probability": model.probability, "factors": model.factors,
             "model_id": model.model_id, "computed_at": now}
            for e, u in zip(enrolled, users, strict=True)
        ])  # fmt: skip


async def test_call_lists_from_predictions(p: Programme) -> None:
    await plant_history(p)
    await plant_running(p)
    await trained(p)
    made = await p.gql("sre", GENERATE, {"i": {"missionId": p.ids["ma"], "source": "PREDICTION",
                                               "minProbability": 0.5}})  # fmt: skip
    payload = made["data"]["callListGenerate"]
    assert payload["userErrors"] == [] and payload["students"] == 1, payload
    entry = payload["callList"]["entries"][0]
    assert entry["student"]["name"] == "S2 Person" and entry["priority"] == 1
    assert entry["reasons"][0].startswith("Early warning: ")
    assert "likely to finish below the mission's bar" in entry["reasons"][0]
    # The script says what was seen, never the prediction.
    assert "Attended" in entry["script"] or "Last present" in entry["script"], entry
    assert "%" not in entry["script"].split("We noticed:")[0] and "likely" not in entry["script"]
    everyone = await p.gql("sre", GENERATE, {"i": {"missionId": p.ids["ma"],
                                                   "source": "PREDICTION",
                                                   "minProbability": 0}})  # fmt: skip
    entries = everyone["data"]["callListGenerate"]["callList"]["entries"]
    assert [e["student"]["name"] for e in entries] == ["S2 Person", "S1 Person"]
    # Both lists: the rules' at-risk students join those predicted (s2, on both, once).
    await p.gql("sre", REFRESH, {"m": p.ids["ma"]})
    await p.api.run_jobs()
    both = await p.gql("sre", GENERATE, {"i": {"missionId": p.ids["ma"], "source": "BOTH"}})
    entries = both["data"]["callListGenerate"]["callList"]["entries"]
    assert [e["student"]["name"] for e in entries] == ["S2 Person"]
    assert any(r.startswith("Attendance ") for r in entries[0]["reasons"])  # the rules' reason
    assert any(r.startswith("Early warning") for r in entries[0]["reasons"])
    bad = await p.gql("sre", GENERATE, {"i": {"missionId": p.ids["ma"], "source": "PREDICTION",
                                              "minProbability": 1.5}})  # fmt: skip
    errors = bad["data"]["callListGenerate"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [
        ("OUT_OF_RANGE", ["input", "minProbability"])
    ]


async def test_too_little_history_leaves_the_rules_alone(p: Programme) -> None:
    missions = await plant_history(p)
    await plant_running(p)
    no_model = await p.gql("sre", GENERATE, {"i": {"missionId": p.ids["ma"], "source": "BOTH"}})
    errors = no_model["data"]["callListGenerate"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("NO_RISK_MODEL", ["input", "source"])]
    assert "No early-warning model has been trained yet" in errors[0]["message"]
    assert (await trained(p))["predictions"] == 3
    # Two finished missions are too few: an `insufficient` model, its reason, and no
    # prediction any more (the rules' lists remain the only signal).
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(delete(Mission).where(Mission.id.in_(missions[2:])))
    result = await trained(p)
    assert result["status"] == "insufficient", result
    assert result["reason"] == "2 finished missions with enrolments: at least 3 are needed."
    assert "only signal" in result["signal"] and result["predictionsRemoved"] == 3
    model = (await p.gql("manager", MODEL))["data"]["riskModel"]
    assert model["status"] == "INSUFFICIENT" and model["reason"] == result["reason"]
    assert model["quality"] is None and model["features"] == [] and model["predictions"] == 0
    assert await risk_of(p, "sre", p.ids["e_s2_ma"]) is None
    async with p.api.app.state.runtime.database.connect() as conn:
        left = (await conn.execute(select(func.count()).select_from(RiskPrediction))).scalar()
    assert left == 0
    refused = await p.gql("sre", GENERATE, {"i": {"missionId": p.ids["ma"],
                                                  "source": "PREDICTION"}})  # fmt: skip
    error = refused["data"]["callListGenerate"]["userErrors"][0]
    assert error["code"] == "NO_RISK_MODEL" and "too little history" in error["message"]
    rules = await p.gql("sre", GENERATE, {"i": {"missionId": p.ids["ma"]}})
    assert rules["data"]["callListGenerate"]["userErrors"] == []


def test_what_counts_as_too_little() -> None:
    def history(missions: int, enrollments: int, below: int) -> early_warning.History:
        empty = np.empty(0)
        return early_warning.History(empty, empty, empty, empty, missions, enrollments, below)

    assert early_warning.too_little(history(3, 100, 10)) is None
    assert "at least 100" in (early_warning.too_little(history(3, 99, 40)) or "")
    one_class = early_warning.too_little(history(5, 400, 0))
    assert one_class == (
        "0 of 400 finished enrolments finished below their mission's bar: at least 10 of "
        "each outcome are needed."
    )
    assert early_warning.too_little(history(4, 400, 395)) is not None


def test_the_bar() -> None:
    status = np.array(["completed"] * 4 + ["dropped"], dtype=object)
    points = np.array([10.0, 50, 60, 70, 90])
    present = np.array([30.0, 20, 10, 30, 30])
    own = early_warning.Bar(45, 70, takes_attendance=True)
    # Under 45 points, or under 70% of 30 days (21), or left.
    assert early_warning.below_bar(own, 30, status, points, present).tolist() == [1, 1, 1, 0, 1]
    # No rule of its own: under half the median points (60: under 30), or under 60% (18 days).
    none = early_warning.Bar(0, 0, takes_attendance=True)
    assert early_warning.below_bar(none, 30, status, points, present).tolist() == [1, 0, 1, 0, 1]
    no_attendance = early_warning.Bar(0, 0, takes_attendance=False)
    below = early_warning.below_bar(no_attendance, 30, status, points, present)
    assert below.tolist() == [1, 0, 0, 0, 1]


async def test_a_training_waiting_is_not_queued_twice(p: Programme) -> None:
    from alumnet.domain.identity.permissions import Role, Viewer

    manager = Viewer(user_id=pk(p.ids["manager"]), roles=frozenset({Role.MANAGER}))
    async with p.api.app.state.runtime.transaction() as uow:
        first = await early_warning.request_training(uow, manager)
        assert await early_warning.request_training(uow, manager) == first
    await p.api.run_jobs()


def test_moments() -> None:
    starts, ends = date(2026, 1, 1), date(2026, 1, 30)
    moments = early_warning.history_moments(starts, ends)
    assert [(m.stage, m.elapsed, m.cutoff.isoformat()) for m in moments] == [
        (1, 8, "2026-01-09"), (2, 15, "2026-01-16"), (3, 22, "2026-01-23"),
    ]  # fmt: skip
    assert moments[1].recent_from == date(2026, 1, 2)  # the last 14 days before the cutoff
    assert early_warning.current_moment(starts, ends, date(2026, 1, 1)) is None
    today = early_warning.current_moment(starts, ends, date(2026, 1, 11))
    assert today is not None and today.elapsed == 10 and today.recent_days == 10
    over = early_warning.current_moment(starts, ends, date(2026, 3, 1))
    assert over is not None and over.elapsed == 30


async def test_before_the_first_training(p: Programme) -> None:
    model = (await p.gql("sre", MODEL))["data"]["riskModel"]
    assert model["status"] == "UNTRAINED" and model["version"] is None
    assert model["reason"].startswith("No training yet.") and "only signal" in model["reason"]
    assert model["quality"] is None and model["predictions"] == 0 and model["trainedAt"] is None
    await plant_history(p, missions=2)
    await trained(p)
    model = (await p.gql("sre", MODEL))["data"]["riskModel"]
    assert model["status"] == "INSUFFICIENT" and model["trainedAt"] is not None


async def test_a_student_no_longer_active_has_no_risk(p: Programme) -> None:
    await plant_history(p)
    await plant_running(p)
    await trained(p)
    s1, s2 = p.ids["e_s1_ma"], p.ids["e_s2_ma"]
    assert await risk_of(p, "m2", s2) is not None
    dropped = await p.gql("manager", """mutation($id: ID!) { enrollmentUpdate(input:
      {id: $id, status: DROPPED}) { userErrors { code } } }""", {"id": s2})  # fmt: skip
    assert dropped["data"]["enrollmentUpdate"]["userErrors"] == [], dropped
    # The night's prediction is still stored, but no longer shown to anyone, nor counted.
    async with p.api.app.state.runtime.database.connect() as conn:
        stored = (await conn.execute(select(func.count()).select_from(RiskPrediction))).scalar()
    assert stored == 3
    for who in ("sre", "manager", "admin", "m2"):
        assert await risk_of(p, who, s2) is None, who
    assert await risk_of(p, "sre", s1) is not None
    assert (await p.gql("manager", MODEL))["data"]["riskModel"]["predictions"] == 2


async def test_history_learns_only_from_what_was_so_at_each_stage(p: Programme) -> None:
    """A finished mission's enrolment gives a sample at a stage only if it took part then
    (enrolled before it, not dropped, banned or delisted then), and its attendance is as
    recorded by then: back-filled days do not count, corrected ones count as they were."""
    missions = await plant_history(p)
    rt = p.api.app.state.runtime
    mission = missions[0]
    async with rt.database.connect() as conn:
        starts, ends = (
            await conn.execute(
                select(Mission.starts_on, Mission.ends_on).where(Mission.id == mission)
            )
        ).one()
        people = (await conn.execute(
            select(Enrollment.id, Enrollment.student_id).where(Enrollment.mission_id == mission)
            .order_by(Enrollment.id))).all()  # fmt: skip
    moments = early_warning.history_moments(starts, ends, Rules())
    assert [m.cutoff - starts for m in moments] == [timedelta(days=d) for d in (8, 15, 22)]
    late, drop, delist, ban, never, counted = (e for e, _ in people[:6])

    def on(d: int) -> datetime:
        return at_noon(starts + timedelta(days=d))

    async with rt.transaction() as uow:
        run = uow.session.execute
        # Enrolled on day 10; on day 25 (after every stage).
        await run(update(Enrollment).where(Enrollment.id == late).values(created_at=on(10)))
        await run(update(Enrollment).where(Enrollment.id == never).values(created_at=on(25)))
        # Dropped on day 12 (enrollmentUpdate: no access history, the status's stamp).
        await run(update(Enrollment).where(Enrollment.id == drop)
                  .values(status="dropped", updated_at=on(12)))  # fmt: skip
        # Delisted on day 18, banned from day 5 to day 10: the access history says when.
        await run(update(Enrollment).where(Enrollment.id.in_((delist, ban)))
                  .values(updated_at=datetime.now(UTC)))  # fmt: skip
        await run(update(Enrollment).where(Enrollment.id == delist).values(status="delisted"))
        await run(insert(AccessChange), [
            {"enrollment_id": delist, "from_status": "active", "to_status": "delisted",
             "reason": "Delisted.", "created_at": on(18)},
            {"enrollment_id": ban, "from_status": "active", "to_status": "banned",
             "reason": "Banned.", "created_at": on(5)},
            {"enrollment_id": ban, "from_status": "banned", "to_status": "active",
             "reason": "Over.", "created_at": on(10)},
        ])  # fmt: skip
        # Attendance: days 0-4 recorded on the day; days 5 and 7 back-filled on day 25;
        # day 6 corrected to absent on day 20; day 12 corrected to absent on day 13 and
        # back to present on day 30.
        student = dict(people)[counted]
        await run(delete(AttendanceDay).where(AttendanceDay.enrollment_id == counted))
        rows = [(d, "present", on(d), on(d)) for d in range(5)]
        rows += [(5, "present", on(25), on(25)), (7, "present", on(25), on(25)),
                 (6, "absent", on(6), on(20)), (12, "present", on(12), on(30))]  # fmt: skip
        await run(insert(AttendanceDay), [
            {"enrollment_id": counted, "mission_id": mission, "student_id": student,
             "day": starts + timedelta(days=d), "kind": "check_in", "status": status,
             "created_at": created, "updated_at": changed}
            for d, status, created, changed in rows
        ])  # fmt: skip
    async with rt.database.connect() as conn:
        found = {
            r.enrollment_id: r
            for r in (await conn.execute(early_warning.feature_query(
                conn.dialect.name, mission, moments, ends_on=ends))).all()
        }  # fmt: skip

    def taking(e: int) -> list[int]:
        return [int(getattr(found[e], f"taking_part_{i}")) for i in range(3)]

    assert taking(late) == [0, 1, 1]
    assert taking(drop) == [1, 0, 0]
    assert taking(delist) == [1, 1, 0]
    assert taking(ban) == [0, 1, 1]
    assert taking(never) == [0, 0, 0]
    assert taking(counted) == [1, 1, 1]
    rates = [getattr(found[counted], f"attendance_rate_{i}") for i in range(3)]
    assert rates == pytest.approx([6 / 8, 6 / 15, 5 / 22])
    assert found[counted].days_since_present_2 == 22 - 4
    assert found[counted].present_final == 8  # the outcome: attendance as it is now

    # The training's history: 160 enrolments at 3 stages, less those not taking part.
    past = await early_warning.history(rt)
    assert past.missions == 4 and past.enrollments == 160 - 1
    assert len(past.y) == 160 * 3 - (1 + 2 + 1 + 1 + 3)
    first = past.groups == mission
    assert np.bincount(past.stages[first])[1:].tolist() == [40 - 3, 40 - 2, 40 - 3]
