"""Scheduled reports: subscriptions and their bad input, the scheduler recording each due
report once (two schedulers at once too), the report job's workbook (native charts over
the right cells) and CSV, the e-mailed links (and no figures in the mail), a subscriber who
lost the right to read the report, and a failing build retried and visible in its job.

People, missions, enrolments and mentors are made through the API; attendance history is
planted with one INSERT, as in test_reports.py. Jobs run through the real job path
(`api.run_jobs`: the in-process queue, or `alumnet worker --burst` on Redis)."""

from __future__ import annotations

import asyncio
import csv
import email
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlparse

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, insert, select, update
from strawberry.relay import from_base64, to_base64

from alumnet.domain.analytics import reports, scheduled, workbook
from alumnet.domain.analytics.common import Chart, Column, Table
from alumnet.persistence.models import AttendanceDay, Job, ReportSubscription
from alumnet.workers import schedule
from alumnet.workers.jobs import HANDLERS
from tests.conftest import Api, app_api

NOW = datetime.now(UTC)
TODAY = NOW.date()
WEEK = scheduled.period_of("weekly", TODAY)
MONTH = scheduled.period_of("monthly", TODAY)


def pk(gid: str) -> int:
    return int(from_base64(gid)[1])


SUB = """id report title frequency active stoppedReason nextRunAt lastSentAt createdAt
  filter { groupBy mission { id } batch { id } }
  owner { id } lastJob { id name status attempts maxAttempts lastError result file { name } }"""
CREATE = f"""mutation($i: ReportSubscriptionCreateInput!) {{ reportSubscriptionCreate(input: $i) {{
  reportSubscription {{ {SUB} }} userErrors {{ field code message }} }} }}"""
UPDATE = f"""mutation($i: ReportSubscriptionUpdateInput!) {{ reportSubscriptionUpdate(input: $i) {{
  reportSubscription {{ {SUB} }} userErrors {{ field code message }} }} }}"""
DELETE = """mutation($i: ReportSubscriptionDeleteInput!) { reportSubscriptionDelete(input: $i) {
  deletedId userErrors { field code message } } }"""
LIST = f"""query($f: ReportSubscriptionFilter) {{ reportSubscriptions(filter: $f) {{
  totalCount edges {{ node {{ {SUB} }} }} }} }}"""
NODE = f"query($id: ID!) {{ node(id: $id) {{ ... on ReportSubscription {{ {SUB} }} }} }}"
JOB = "query($id: ID!) { node(id: $id) { ... on Job { status attempts lastError } } }"

BATCH = """mutation($i: BatchCreateInput!) { batchCreate(input: $i) { batch { id }
  userErrors { field code message } } }"""
MISSION = """mutation($i: MissionCreateInput!) { missionCreate(input: $i) { mission { id }
  userErrors { field code message } } }"""
ENROLL = """mutation($m: ID!, $s: ID!) { enrollmentCreate(input: {missionId: $m, studentId: $s}) {
  enrollment { id } userErrors { field code message } } }"""
ASSIGN = """mutation($m: ID!, $s: ID!, $t: ID!) {
  mentorAssign(input: {missionId: $m, studentId: $s, mentorId: $t}) {
  assignment { id } userErrors { field code message } } }"""
ROLES = """mutation($i: UserRolesSetInput!) { userRolesSet(input: $i) {
  user { id } userErrors { code message } } }"""


async def ok(api: Api, token: str, query: str, variables: dict[str, Any], key: str) -> Any:
    body = await api.gql(query, variables, token=token)
    assert "errors" not in body, body
    payload = body["data"][key]
    assert payload["userErrors"] == [], payload
    return payload


@dataclass
class World:
    api: Api
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    enrolled: dict[tuple[str, str], str] = field(default_factory=dict)

    async def gql(self, who: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        return await self.api.gql(query, variables, token=self.tokens[who])

    async def subscribe(self, who: str, **given: Any) -> Any:
        body = await self.gql(
            who, CREATE, {"i": {"report": "ATTENDANCE", "frequency": "WEEKLY", **given}}
        )
        assert "errors" not in body, body
        return body["data"]["reportSubscriptionCreate"]

    async def subscribed(self, who: str, **given: Any) -> dict[str, Any]:
        made = await self.subscribe(who, **given)
        assert made["userErrors"] == [], made
        return made["reportSubscription"]  # type: ignore[no-any-return]

    async def plant(self, mission: str, days: dict[str, list[date]]) -> None:
        """Attendance (present) for these students and days, in one INSERT."""
        rows = [
            {
                "enrollment_id": pk(self.enrolled[(s, mission)]),
                "mission_id": pk(self.ids[mission]),
                "student_id": pk(self.ids[s]),
                "day": d,
                "kind": "check_in",
                "status": "present",
                "created_at": NOW,
                "updated_at": NOW,
            }
            for s, present in days.items()
            for d in present
        ]
        async with self.api.app.state.runtime.database.connect() as conn:
            await conn.execute(insert(AttendanceDay), rows)
            await conn.commit()

    async def due(self, *subscription_ids: str) -> None:
        """Make these subscriptions due, as if their time had come an hour ago."""
        async with self.api.app.state.runtime.database.connect() as conn:
            await conn.execute(
                update(ReportSubscription)
                .where(ReportSubscription.id.in_([pk(i) for i in subscription_ids]))
                .values(next_run_at=NOW - timedelta(hours=1))
            )
            await conn.commit()


STUDENTS = [f"s{i}" for i in range(1, 7)]


@pytest.fixture
async def world(api: Api) -> World:
    w = World(api)
    for who, role in [
        ("admin", "ADMIN"),
        ("manager", "MANAGER"),
        ("other", "MANAGER"),
        ("m1", "MENTOR"),
        ("m2", "MENTOR"),
        ("student", "STUDENT"),
        *((s, "STUDENT") for s in STUDENTS),
    ]:
        w.ids[who], w.tokens[who] = await api.create_user(
            f"{who}@example.org", [role], name=f"{who.upper()} Person"
        )
    admin = w.tokens["admin"]
    start, end = MONTH.since - timedelta(days=40), TODAY + timedelta(days=60)
    made = await ok(
        api,
        admin,
        BATCH,
        {
            "i": {
                "name": "Batch One",
                "code": "B1",
                "startsOn": start.isoformat(),
                "endsOn": end.isoformat(),
            }
        },
        "batchCreate",
    )
    w.ids["b1"] = made["batch"]["id"]
    for key in ("ma", "mb"):
        made = await ok(
            api,
            admin,
            MISSION,
            {
                "i": {
                    "batchId": w.ids["b1"],
                    "title": key.upper(),
                    "code": key.upper(),
                    "status": "ACTIVE",
                    "startsOn": start.isoformat(),
                    "endsOn": end.isoformat(),
                }
            },
            "missionCreate",
        )
        w.ids[key] = made["mission"]["id"]
    for s in STUDENTS:
        made = await ok(api, admin, ENROLL, {"m": w.ids["ma"], "s": w.ids[s]}, "enrollmentCreate")
        w.enrolled[(s, "ma")] = made["enrollment"]["id"]
        await ok(
            api, admin, ASSIGN, {"m": w.ids["ma"], "s": w.ids[s], "t": w.ids["m1"]}, "mentorAssign"
        )
    made = await ok(api, admin, ENROLL, {"m": w.ids["mb"], "s": w.ids["s1"]}, "enrollmentCreate")
    await ok(
        api, admin, ASSIGN, {"m": w.ids["mb"], "s": w.ids["s1"], "t": w.ids["m2"]}, "mentorAssign"
    )
    week = [WEEK.since + timedelta(days=i) for i in range(7)]
    month = [MONTH.since + timedelta(days=i) for i in range(MONTH.days)]
    month = [d for d in month if d not in week]
    # Last week: s1 every day, s2 to s5 on weekdays, s6 never. Last month (the days not in
    # last week): s1 every day, s2 to s5 the first ten.
    await w.plant("ma", {"s1": [*week, *month],
                         **{s: [*week[:5], *month[:10]] for s in STUDENTS[1:5]}})  # fmt: skip
    return w


def present_in(period: scheduled.DateRange) -> int:
    """Days present the fixture planted within the period."""
    week = [WEEK.since + timedelta(days=i) for i in range(7)]
    month = [MONTH.since + timedelta(days=i) for i in range(MONTH.days)]
    month = [d for d in month if d not in week]
    planted = [*week, *month] + 4 * [*week[:5], *month[:10]]
    return sum(period.since <= d <= period.until for d in planted)


def letters(api: Api, address: str) -> list[EmailMessage]:
    return [
        email.message_from_string(raw, policy=policy.default)  # type: ignore[misc]
        for raw in api.mailbox.to(address)
    ]


async def fetch(api: Api, link: str) -> Any:
    url = urlparse(link)
    return await api.client.get(f"{url.path}?{url.query}")


async def reports_jobs(api: Api) -> list[Any]:
    async with api.app.state.runtime.database.connect() as conn:
        found = await conn.execute(
            select(Job.id, Job.args, Job.created_by_id, Job.status)
            .where(Job.name == scheduled.REPORT_JOB)
            .order_by(Job.id)
        )
        return list(found.all())


# -- when -------------------------------------------------------------------------------------


def test_periods_and_sending_times() -> None:
    wednesday = date(2026, 12, 9)
    assert scheduled.period_of("weekly", wednesday) == (
        scheduled.DateRange(date(2026, 11, 30), date(2026, 12, 6))
    )
    monday = date(2026, 12, 7)
    assert scheduled.period_of("weekly", monday).until == date(2026, 12, 6)
    assert scheduled.period_of("monthly", date(2027, 1, 1)) == (
        scheduled.DateRange(date(2026, 12, 1), date(2026, 12, 31))
    )
    assert scheduled.period_of("monthly", date(2024, 3, 15)).since == date(2024, 2, 1)
    assert scheduled.period_of("monthly", date(2024, 3, 15)).until == date(2024, 2, 29)
    at = lambda d, h=12: datetime(d.year, d.month, d.day, h, tzinfo=UTC)  # noqa: E731
    assert scheduled.next_run("weekly", at(monday, 5)) == at(monday)
    assert scheduled.next_run("weekly", at(monday)) == at(monday + timedelta(days=7))
    assert scheduled.next_run("weekly", at(wednesday, 23)) == at(date(2026, 12, 14))
    assert scheduled.next_run("monthly", at(date(2026, 12, 31), 23)) == at(date(2027, 1, 1))
    assert scheduled.next_run("monthly", at(date(2027, 1, 1), 5)) == at(date(2027, 1, 1))
    assert scheduled.next_run("monthly", at(date(2027, 1, 1), 13)) == at(date(2027, 2, 1))
    # Noon UTC: the last day is over in every time zone, UTC-12 included.
    assert scheduled.SEND_AT.hour == 12


def test_the_scheduler_and_the_jobs_are_registered() -> None:
    assert (scheduled.SEND_JOB, {}, "10 * * * *") in schedule.SCHEDULE
    assert scheduled.SEND_JOB in HANDLERS and scheduled.REPORT_JOB in HANDLERS


def test_every_report_can_be_subscribed_to() -> None:
    from alumnet.schema.analytics.subscriptions import ReportName

    assert {str(r.value) for r in ReportName} == set(reports.REPORTS)


# -- the files ----------------------------------------------------------------------------------


def test_workbook_charts_point_at_the_cells_and_formulas_are_neutralised() -> None:
    table = Table(
        title="=cmd|' /C calc'!A0",
        columns=[
            Column("group", "Group"),
            Column("students", "Students", "integer"),
            Column("rate", "Attendance", "percent"),
            Column("before", "Before", "percent"),
            Column("day", "Day", "date"),
        ],
        rows=[
            ("=1+1", 5, 0.5, 0.25, date(2026, 1, 5)),
            ("@SUM(A1)", 7, 0.75, None, None),
            ("+plain", 6, 1.0, 0.5, date(2026, 1, 12)),
        ],
        charts=[
            Chart("bar", "By group", "group", ("rate", "before")),
            Chart("line", "Students", "day", ("students",)),
        ],
        notes=["-5 points on last week"],
    )
    book = load_workbook(io.BytesIO(workbook.xlsx(table, about=["From a to b."])))
    assert book.sheetnames == ["Charts", "Data", "About"]
    data = book["Data"]
    assert [c.value for c in data[1]] == ["Group", "Students", "Attendance", "Before", "Day"]
    assert data["A2"].value == "'=1+1" and data["A3"].value == "'@SUM(A1)"
    assert data["A2"].data_type == "s"
    assert data["C2"].value == 0.5 and data["C2"].number_format == "0.0%"
    assert data["E2"].value == datetime(2026, 1, 5) and data["E2"].is_date
    bar, line = book["Charts"]._charts
    assert [s.val.numRef.f for s in bar.series] == ["'Data'!$C$2:$C$4", "'Data'!$D$2:$D$4"]
    assert [s.tx.strRef.f for s in bar.series] == ["'Data'!C1", "'Data'!D1"]
    assert bar.series[0].cat.strRef.f == "'Data'!$A$2:$A$4"
    assert [s.val.numRef.f for s in line.series] == ["'Data'!$B$2:$B$4"]
    assert line.series[0].cat.numRef.f == "'Data'!$E$2:$E$4"
    about = [row[0] for row in book["About"].iter_rows(values_only=True)]
    assert about == ["'=cmd|' /C calc'!A0", "From a to b.", "'-5 points on last week"]
    rows = list(csv.reader(io.StringIO(workbook.csv_bytes(table).decode())))
    assert rows == [
        ["group", "students", "rate", "before", "day"],
        ["'=1+1", "5", "0.5", "0.25", "2026-01-05"],
        ["'@SUM(A1)", "7", "0.75", "", ""],
        ["'+plain", "6", "1.0", "0.5", "2026-01-12"],
    ]
    # A chart naming a column the table lacks is a bug, said as such.
    broken = Table("t", [Column("a", "A")], [("x",)], [Chart("line", "c", "a", ("nope",))])
    with pytest.raises(ValueError, match="nope"):
        workbook.xlsx(broken)
    # No rows: no charts (a chart over no cells), said on the About sheet.
    empty = load_workbook(io.BytesIO(workbook.xlsx(Table("t", table.columns, [], table.charts))))
    assert empty.sheetnames == ["Data", "About"]


# -- subscribing --------------------------------------------------------------------------------


async def test_subscribe_change_pause_and_delete_ones_own(world: World) -> None:
    w = world
    made = await w.subscribed("manager", filter={"missionId": w.ids["ma"]}, groupBy="WEEK")
    assert made["report"] == "ATTENDANCE" and made["title"] == reports.REPORTS["attendance"]
    assert made["frequency"] == "WEEKLY" and made["active"] is True
    assert made["filter"] == {"groupBy": "WEEK", "mission": {"id": w.ids["ma"]}, "batch": None}
    assert made["owner"] == {"id": w.ids["manager"]} and made["lastJob"] is None
    next_run = datetime.fromisoformat(made["nextRunAt"])
    assert next_run == scheduled.next_run("weekly", datetime.now(UTC))
    assert next_run.weekday() == 0 and next_run.hour == 12 and next_run > NOW
    # The same again is the one held (a script may retry).
    again = await w.subscribed("manager", filter={"missionId": w.ids["ma"]}, groupBy="week")
    assert again["id"] == made["id"]
    # Monthly, the whole batch instead of the mission, the grouping kept.
    body = await w.gql(
        "manager",
        UPDATE,
        {"i": {"id": made["id"], "frequency": "MONTHLY", "filter": {"batchId": w.ids["b1"]}}},
    )
    changed = body["data"]["reportSubscriptionUpdate"]
    assert changed["userErrors"] == []
    sub = changed["reportSubscription"]
    assert sub["frequency"] == "MONTHLY"
    assert sub["filter"] == {"groupBy": "WEEK", "mission": None, "batch": {"id": w.ids["b1"]}}
    assert datetime.fromisoformat(sub["nextRunAt"]).day == 1
    paused = await w.gql("manager", UPDATE, {"i": {"id": made["id"], "active": False}})
    assert paused["data"]["reportSubscriptionUpdate"]["reportSubscription"]["active"] is False
    listed = await w.gql("manager", LIST, {"f": {"active": False}})
    assert [e["node"]["id"] for e in listed["data"]["reportSubscriptions"]["edges"]] == [made["id"]]
    assert (await w.gql("manager", LIST, {"f": {"active": True}}))["data"]["reportSubscriptions"][
        "totalCount"
    ] == 0
    # Nobody else sees it, or changes it: as if it did not exist. Admins list everyone's.
    assert (await w.gql("other", NODE, {"id": made["id"]}))["data"]["node"] is None
    theirs = await w.gql("other", LIST, {"f": {"everyone": True}})
    assert theirs["data"]["reportSubscriptions"]["totalCount"] == 0
    everyone = await w.gql("admin", LIST, {"f": {"everyone": True}})
    assert [e["node"]["id"] for e in everyone["data"]["reportSubscriptions"]["edges"]] == [
        made["id"]
    ]
    assert (await w.gql("admin", LIST))["data"]["reportSubscriptions"]["totalCount"] == 0
    for query, key, extra in [
        (UPDATE, "reportSubscriptionUpdate", {"active": True}),
        (DELETE, "reportSubscriptionDelete", {}),
    ]:
        for who in ("other", "admin", "m1"):
            refused = await w.gql(who, query, {"i": {"id": made["id"], **extra}})
            assert refused["data"][key]["userErrors"] == [
                {
                    "field": ["input", "id"],
                    "code": "NOT_FOUND",
                    "message": "No such report subscription.",
                }
            ], who
    gone = await w.gql("manager", DELETE, {"i": {"id": made["id"]}})
    assert gone["data"]["reportSubscriptionDelete"] == {"deletedId": made["id"], "userErrors": []}
    assert (await w.gql("manager", LIST))["data"]["reportSubscriptions"]["totalCount"] == 0
    again = await w.gql("manager", DELETE, {"i": {"id": made["id"]}})
    assert again["data"]["reportSubscriptionDelete"]["userErrors"][0]["code"] == "NOT_FOUND"


async def _count(api: Api) -> int:
    async with api.app.state.runtime.database.connect() as conn:
        found = await conn.execute(select(func.count()).select_from(ReportSubscription))
        return int(found.scalar_one())


async def test_bad_input_is_refused_and_changes_nothing(world: World) -> None:
    w = world

    async def refused(who: str, **given: Any) -> list[dict[str, Any]]:
        made = await w.subscribe(who, **given)
        assert made["reportSubscription"] is None
        return made["userErrors"]  # type: ignore[no-any-return]

    # A mentor: their own mission only, the reports mentors read only.
    assert await refused("m1", filter={"missionId": w.ids["mb"]}) == [
        {
            "field": ["input", "filter", "missionId"],
            "code": "NOT_FOUND",
            "message": "No mission you may read reports of has this id.",
        }
    ]
    [problem] = await refused("m1", report="MENTORS")
    assert (problem["field"], problem["code"]) == (["input", "report"], "REPORT_NOT_ALLOWED")
    held = await w.subscribed("m1", filter={"missionId": w.ids["ma"]})
    # A bad change changes nothing, not even what was sound in it.
    body = await w.gql("m1", UPDATE, {"i": {"id": held["id"], "frequency": "MONTHLY",
                                            "groupBy": "DECADE"}})  # fmt: skip
    [problem] = body["data"]["reportSubscriptionUpdate"]["userErrors"]
    assert (problem["field"], problem["code"]) == (["input", "groupBy"], "INVALID")
    after = (await w.gql("m1", NODE, {"id": held["id"]}))["data"]["node"]
    assert (after["frequency"], after["filter"]["groupBy"]) == ("WEEKLY", "MISSION")
    # Ids that name nothing, or something else; a grouping the report does not have.
    [problem] = await refused("manager", filter={"missionId": w.ids["b1"]})
    assert (problem["field"], problem["code"]) == (["input", "filter", "missionId"], "NOT_FOUND")
    [problem] = await refused("manager", filter={"missionId": to_base64("Mission", 999)})
    assert (problem["field"], problem["code"]) == (["input", "filter", "missionId"], "NOT_FOUND")
    [problem] = await refused("manager", filter={"batchId": to_base64("Batch", 999)})
    assert (problem["field"], problem["code"]) == (["input", "filter", "batchId"], "NOT_FOUND")
    [problem] = await refused("manager", groupBy="DECADE")
    assert (problem["field"], problem["code"]) == (["input", "groupBy"], "INVALID")
    [problem] = await refused("manager", report="ENGAGEMENT", filter={"missionId": w.ids["ma"]})
    assert problem["code"] == "INVALID" and problem["field"][:2] == ["input", "filter"]
    # An unknown report: the enum refuses it before anything runs; the domain says so too.
    body = await w.gql("manager", CREATE, {"i": {"report": "HOROSCOPE", "frequency": "WEEKLY"}})
    assert body["errors"][0]["extensions"]["code"] in (
        "BAD_USER_INPUT",
        "GRAPHQL_VALIDATION_FAILED",
    )
    runtime = w.api.app.state.runtime
    from alumnet.domain.errors import DomainError
    from alumnet.domain.identity.permissions import Permission, Role, Viewer

    manager = Viewer(user_id=pk(w.ids["manager"]), roles=frozenset({Role.MANAGER}))
    assert manager.can(Permission.ANALYTICS_READ)
    with pytest.raises(DomainError) as raised:
        async with runtime.transaction() as uow:
            await scheduled.subscribe(
                uow, manager, report="horoscope", frequency="weekly", filters={}
            )
    assert raised.value.problems[0].code == "UNKNOWN_REPORT"
    with pytest.raises(DomainError):
        async with runtime.transaction() as uow:
            await scheduled.subscribe(
                uow, manager, report="attendance", frequency="daily", filters={}
            )
    # Those who read no report at all are refused outright.
    for who in ("student",):
        body = await w.gql(who, CREATE, {"i": {"report": "ATTENDANCE", "frequency": "WEEKLY"}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await w.api.gql(CREATE, {"i": {"report": "ATTENDANCE", "frequency": "WEEKLY"}})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await _count(w.api) == 1  # the mentor's only


async def test_a_person_holds_at_most_twenty(world: World) -> None:
    w = world
    kinds = [("ATTENDANCE", g) for g in ("MISSION", "BATCH", "STUDENT", "WEEKDAY", "WEEK")]
    kinds += [("SUBMISSIONS", g) for g in ("ASSIGNMENT", "MISSION", "STUDENT")]
    kinds += [("NOTICES", g) for g in ("NOTICE", "MISSION")]
    made = [
        await w.subscribed("manager", report=report, groupBy=group, frequency=frequency)
        for report, group in kinds
        for frequency in ("WEEKLY", "MONTHLY")
    ]
    assert len({m["id"] for m in made}) == scheduled.SUBSCRIPTIONS_MAX == 20
    [problem] = (await w.subscribe("manager", report="NOTICES", groupBy="BATCH"))["userErrors"]
    assert (problem["code"], problem["field"]) == ("TOO_MANY", ["input", "report"])
    # One already held is still "made" (the same again), and others are not limited by it.
    assert (await w.subscribed("manager", report="ATTENDANCE", groupBy="WEEK"))["id"] in {
        m["id"] for m in made
    }
    await w.subscribed("other")
    assert await _count(w.api) == 21


async def test_the_list_takes_as_many_statements_for_many_subscriptions_as_for_few(
    world: World,
) -> None:
    w = world
    query = (
        "query { reportSubscriptions(filter: {everyone: true}) { edges { node { " + SUB + " } } } }"
    )
    counts = []
    for who in ("manager", "other", "m1", "admin"):
        made = await w.subscribed(who, filter={"missionId": w.ids["ma"]}, groupBy="WEEK")
        await w.due(made["id"])
    await scheduled.send_due(w.api.app.state.runtime)
    await w.api.run_jobs()  # each has its last job, and its file
    for groups in (("MISSION",), ("BATCH", "WEEK", "WEEKDAY")):
        for group in groups:
            await w.subscribed("manager", groupBy=group, filter={"batchId": w.ids["b1"]})
        count, body = await w.api.sql_count(query, token=w.tokens["admin"])
        assert "errors" not in body, body
        counts.append(count)
    assert counts[0] == counts[1]


# -- the scheduler ------------------------------------------------------------------------------


async def test_due_subscriptions_are_recorded_once_each(world: World) -> None:
    w = world
    runtime = w.api.app.state.runtime
    weekly = await w.subscribed("manager", filter={"missionId": w.ids["ma"]}, groupBy="WEEK")
    monthly = await w.subscribed("manager", frequency="MONTHLY", groupBy="WEEK")
    mentor = await w.subscribed("m1", filter={"missionId": w.ids["ma"]}, groupBy="WEEK")
    paused = await w.subscribed("other")
    assert paused["filter"]["groupBy"] == "MISSION"  # the report's default, said
    await w.gql("other", UPDATE, {"i": {"id": paused["id"], "active": False}})
    later = await w.subscribed("other", frequency="MONTHLY")
    await w.due(weekly["id"], monthly["id"], mentor["id"], paused["id"])
    assert await scheduled.send_due(runtime) == {"recorded": 3}
    assert await scheduled.send_due(runtime) == {"recorded": 0}
    jobs = await reports_jobs(w.api)
    by_subscription = {job.args["subscription_id"]: job for job in jobs}
    assert set(by_subscription) == {pk(weekly["id"]), pk(monthly["id"]), pk(mentor["id"])}
    assert by_subscription[pk(weekly["id"])].args["since"] == WEEK.since.isoformat()
    assert by_subscription[pk(weekly["id"])].args["until"] == WEEK.until.isoformat()
    assert by_subscription[pk(monthly["id"])].args["since"] == MONTH.since.isoformat()
    # Each job is its subscriber's: they see it and its error.
    assert by_subscription[pk(mentor["id"])].created_by_id == pk(w.ids["m1"])
    for made, frequency in ((weekly, "weekly"), (monthly, "monthly"), (mentor, "weekly")):
        node = (await w.gql("m1" if made is mentor else "manager", NODE, {"id": made["id"]}))[
            "data"
        ]["node"]
        assert datetime.fromisoformat(node["nextRunAt"]) == scheduled.next_run(frequency, NOW)
        assert node["lastJob"]["name"] == scheduled.REPORT_JOB
    for made in (paused, later):
        assert (await w.gql("other", NODE, {"id": made["id"]}))["data"]["node"]["lastJob"] is None
    # Two schedulers at once (row locks; SKIP LOCKED on PostgreSQL): still once each.
    await w.due(weekly["id"], monthly["id"], mentor["id"])
    counted = await asyncio.gather(scheduled.send_due(runtime), scheduled.send_due(runtime))
    assert sorted(c["recorded"] for c in counted) == [0, 3]
    assert len(await reports_jobs(w.api)) == 6
    # The jobs run: one e-mail per report, to its subscriber.
    await w.api.run_jobs()
    assert len(w.api.mailbox.to("manager@example.org")) == 4
    assert len(w.api.mailbox.to("m1@example.org")) == 2
    assert w.api.mailbox.to("other@example.org") == []


# -- the report job -----------------------------------------------------------------------------

LINK = re.compile(r"https?://\S+/downloads/file\?token=[\w.-]+")


async def test_the_report_is_a_workbook_with_charts_and_a_csv_behind_emailed_links(
    world: World,
) -> None:
    w = world
    made = await w.subscribed(
        "manager", frequency="MONTHLY", filter={"missionId": w.ids["ma"]}, groupBy="WEEK"
    )
    await w.due(made["id"])
    # As the hourly scheduler does: record its job; the report jobs it records follow.
    await schedule.record(w.api.app.state.runtime, scheduled.SEND_JOB, {})
    await w.api.run_jobs()
    node = (await w.gql("manager", NODE, {"id": made["id"]}))["data"]["node"]
    job = node["lastJob"]
    assert job["status"] == "SUCCEEDED", job
    assert job["result"]["sent"] is True and job["result"]["since"] == MONTH.since.isoformat()
    assert job["file"]["name"] == f"attendance-{MONTH.since}-to-{MONTH.until}.xlsx"
    assert node["lastSentAt"] is not None
    [letter] = letters(w.api, "manager@example.org")
    day = lambda d: f"{d.day} {d:%B %Y}"  # noqa: E731
    assert letter["Subject"] == f"Attendance, {day(MONTH.since)} to {day(MONTH.until)}"
    text = letter.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = letter.get_body(("html",)).get_content()  # type: ignore[union-attr]
    xlsx_link, csv_link = LINK.findall(text)
    assert xlsx_link in html.replace("&amp;", "&") and csv_link in html.replace("&amp;", "&")
    # No figures in the mail: no names, no rates, no counts of days.
    for said in (text, html):
        assert "%" not in said and "Days present" not in said
        assert not any(f"{s.upper()} Person" in said for s in STUDENTS)
    got = await fetch(w.api, xlsx_link)
    assert got.status_code == 200 and got.headers["content-type"] == workbook.XLSX
    book = load_workbook(io.BytesIO(got.content))
    assert book.sheetnames == ["Charts", "Data", "About"]
    data = [list(r) for r in book["Data"].iter_rows(values_only=True)]
    header, rows = data[0], data[1:]
    assert header[:6] == [
        "Week of",
        "Students",
        "Days present",
        "Days possible",
        "Attendance",
        "Previous period",
    ]
    monday = MONTH.since - timedelta(days=MONTH.since.weekday())
    assert rows and rows[0][0].date() == monday
    assert sum(r[2] for r in rows) == present_in(MONTH) > 0
    [chart] = book["Charts"]._charts
    # Each week the month touches, a row; the line over the rate column's cells.
    assert len(rows) >= 4
    last = len(rows) + 1
    assert [s.val.numRef.f for s in chart.series] == [f"'Data'!$E$2:$E${last}"]
    assert chart.series[0].tx.strRef.f == "'Data'!E1"
    assert chart.series[0].cat.numRef.f == f"'Data'!$A$2:$A${last}"
    assert chart.tagname == "lineChart"
    assert book["Data"]["E2"].number_format == "0.0%"
    got = await fetch(w.api, csv_link)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(got.text)))
    assert lines[0][:5] == ["week", "students", "present", "possible", "rate"]
    assert len(lines) - 1 == len(rows)
    for line, row in zip(lines[1:], rows, strict=True):
        assert line[0] == row[0].date().isoformat()
        assert [float(v) if v else None for v in line[1:]] == [
            float(v) if v is not None else None for v in row[1:]
        ]
    # Signed: a link altered is no link.
    assert (await fetch(w.api, xlsx_link[:-2])).status_code == 404
    # A job delivered again after it committed sends nothing more.
    from alumnet.domain.ops.jobs import execute

    runtime = w.api.app.state.runtime
    job_id = pk(job["id"])
    async with runtime.database.connect() as conn:
        await conn.execute(update(Job).where(Job.id == job_id).values(status="retrying"))
        await conn.commit()
    await execute(runtime, job_id, HANDLERS)
    await w.api.run_jobs()
    assert len(w.api.mailbox.to("manager@example.org")) == 1


async def test_a_subscriber_who_lost_the_right_gets_nothing(world: World) -> None:
    w = world
    manager = await w.subscribed("manager", filter={"missionId": w.ids["ma"]})
    mentor = await w.subscribed("m1", filter={"missionId": w.ids["ma"]})
    await ok(
        w.api,
        w.tokens["admin"],
        ROLES,
        {"i": {"id": w.ids["manager"], "roles": ["STUDENT"]}},
        "userRolesSet",
    )
    # The mentor moves to the other mission: the one their subscription names is out of reach.
    await ok(w.api, w.tokens["admin"], ASSIGN, {"m": w.ids["mb"], "s": w.ids["s1"],
             "t": w.ids["m1"]}, "mentorAssign")  # fmt: skip
    unassign = """mutation($m: ID!, $s: ID!, $t: ID!) { mentorUnassign(input: {missionId: $m,
      studentId: $s, mentorId: $t}) { userErrors { code } } }"""
    for s in STUDENTS:
        body = await w.gql("admin", unassign, {"m": w.ids["ma"], "s": w.ids[s], "t": w.ids["m1"]})
        assert "errors" not in body, body
    await w.due(manager["id"], mentor["id"])
    await scheduled.send_due(w.api.app.state.runtime)
    await w.api.run_jobs()
    assert w.api.mailbox.to("manager@example.org") == []
    assert w.api.mailbox.to("m1@example.org") == []
    token = await w.api.sign_in("manager@example.org")
    for made, tok, why in (
        (manager, token, scheduled.STOPPED["REPORT_NOT_ALLOWED"]),
        (mentor, w.tokens["m1"], scheduled.STOPPED["NOT_FOUND"]),
    ):
        node = (await w.api.gql(NODE, {"id": made["id"]}, token=tok))["data"]["node"]
        assert node["active"] is False and node["stoppedReason"] == why, node
        assert node["lastJob"]["status"] == "SUCCEEDED"
        assert node["lastJob"]["result"]["sent"] is False
        assert node["lastJob"]["result"]["stopped"] == node["stoppedReason"]
    # Stopped, it is not sent again; deleting it is still theirs to do.
    await w.due(manager["id"])
    assert await scheduled.send_due(w.api.app.state.runtime) == {"recorded": 0}
    gone = await w.api.gql(DELETE, {"i": {"id": manager["id"]}}, token=token)
    assert gone["data"]["reportSubscriptionDelete"]["userErrors"] == []
    # Starting it again is checked as a new one: refused.
    refused = await w.gql("m1", UPDATE, {"i": {"id": mentor["id"], "active": True}})
    assert refused["data"]["reportSubscriptionUpdate"]["userErrors"] == [
        {"field": ["input", "filter", "missionId"], "code": "NOT_FOUND",
         "message": "No mission you may read reports of has this id."}
    ]  # fmt: skip
    # Pointed at their new mission, it starts again.
    moved = await w.gql("m1", UPDATE, {"i": {"id": mentor["id"], "active": True,
                                             "filter": {"missionId": w.ids["mb"]}}})  # fmt: skip
    sub = moved["data"]["reportSubscriptionUpdate"]["reportSubscription"]
    assert sub["active"] is True and sub["stoppedReason"] is None
    assert sub["filter"]["mission"] == {"id": w.ids["mb"]}


async def test_a_failing_build_is_retried_and_visible_in_its_job(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    made = await w.subscribed("manager", filter={"missionId": w.ids["ma"]}, groupBy="WEEK")
    failures = {"left": 1}
    build = reports.build_table

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("the database went away")
        return await build(*args, **kwargs)

    monkeypatch.setattr(reports, "build_table", flaky)
    # An app with the in-process queue, so that its jobs run here, where the build fails.
    async for other in app_api(w.api, redis_url=None):
        await w.due(made["id"])
        await scheduled.send_due(other.app.state.runtime)
        await other.run_jobs()
        job = (await w.gql("manager", NODE, {"id": made["id"]}))["data"]["node"]["lastJob"]
        assert (job["status"], job["attempts"]) == ("SUCCEEDED", 2)
        assert len(w.api.mailbox.to("manager@example.org")) == 1
        # Failing every time: retried as the job system does, then kept with its error.
        failures["left"] = 100
        await w.due(made["id"])
        await scheduled.send_due(other.app.state.runtime)
        await other.run_jobs()
        job = (await w.gql("manager", NODE, {"id": made["id"]}))["data"]["node"]["lastJob"]
        assert job["status"] == "FAILED" and job["attempts"] == job["maxAttempts"] == 3
        assert "RuntimeError: the database went away" in job["lastError"]
        again = (await w.gql("manager", JOB, {"id": job["id"]}))["data"]["node"]
        assert again["lastError"] == job["lastError"]
        failed = await w.gql(
            "admin", "{ jobs(filter: {status: [FAILED]}) { edges { node { id name lastError } } } }"
        )
        assert [e["node"]["id"] for e in failed["data"]["jobs"]["edges"]] == [job["id"]]
        assert len(w.api.mailbox.to("manager@example.org")) == 1
        # The subscription stays active: the next period is tried again.
        node = (await w.gql("manager", NODE, {"id": made["id"]}))["data"]["node"]
        assert node["active"] is True


async def test_rows_per_student_are_not_sent_to_who_may_not_see_students(world: World) -> None:
    """Subscribing asks what the query asks: `analytics:read` alone (a custom role) reads
    figures, never rows per student."""
    from alumnet.domain.errors import DomainError
    from alumnet.domain.identity.permissions import Grant, Permission, Viewer

    grant = Grant(assignment_id=1, role_id=1, role_name="Figures",
                  permissions=frozenset({Permission.ANALYTICS_READ}))  # fmt: skip
    reader = Viewer(user_id=pk(world.ids["student"]), grants=(grant,))
    runtime = world.api.app.state.runtime
    for report in ("attendance", "submissions"):
        with pytest.raises(DomainError) as raised:
            async with runtime.transaction() as uow:
                await scheduled.subscribe(uow, reader, report=report, frequency="weekly",
                                          filters={"group_by": "student"})  # fmt: skip
        [problem] = raised.value.problems
        assert (problem.code, problem.field) == ("REPORT_NOT_ALLOWED", ("groupBy",))
    async with runtime.transaction() as uow:
        made = await scheduled.subscribe(uow, reader, report="attendance", frequency="weekly",
                                         filters={"group_by": "week"})  # fmt: skip
    assert made.filters == {"group_by": "week"}
