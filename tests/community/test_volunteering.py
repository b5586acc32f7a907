"""Volunteering: alumni offer, staff confirm, decline or record; who may change what; bad
input that writes nothing; the history as each viewer may see it (work privacy); the hours
reports against sums worked out by hand; constant statement counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from strawberry.relay import to_base64

from alumnet.persistence.models import AuditEvent, Notification, VolunteerEngagement
from tests.cohorts.conftest import Programme, programme  # noqa: F401  (the fixture)
from tests.community.conftest import codes
from tests.events.conftest import CREATE as EVENT_CREATE
from tests.events.conftest import PUBLISH as EVENT_PUBLISH

FIELDS = """id kind title description occurredOn hours status reviewNote reviewedAt
  createdAt updatedAt"""
OFFER = f"""mutation($i: VolunteeringOfferInput!) {{ volunteeringOffer(input: $i) {{
  engagement {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
RECORD = f"""mutation($i: VolunteeringRecordInput!) {{ volunteeringRecord(input: $i) {{
  engagement {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
REVIEW = f"""mutation($i: VolunteeringReviewInput!) {{ volunteeringReview(input: $i) {{
  engagement {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
UPDATE = f"""mutation($i: VolunteeringUpdateInput!) {{ volunteeringUpdate(input: $i) {{
  engagement {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
DELETE = """mutation($i: VolunteeringDeleteInput!) { volunteeringDelete(input: $i) {
  deletedId userErrors { field code message } } }"""
HISTORY = f"""query($u: ID, $s: [VolunteeringStatus!]) {{ volunteering(userId: $u, status: $s,
  first: 100) {{ totalCount edges {{ node {{ {FIELDS} profile {{ id name }} user {{ id }}
  recordedBy {{ id }} reviewedBy {{ id }} event {{ id title }} mission {{ id code }} }} }} }} }}"""
NODE = f"""query($id: ID!) {{ node(id: $id) {{ ... on VolunteerEngagement {{ {FIELDS} }} }} }}"""
REPORT = """query($g: VolunteeringReportGroup!, $f: Date, $t: Date) {
  volunteeringReport(groupBy: $g, from: $f, to: $t) { from to groupBy
    rows { kind year hours engagements volunteers }
    total { kind year hours engagements volunteers } } }"""
USER_UPDATE = """mutation($i: UserUpdateInput!) { userUpdate(input: $i) {
  userErrors { field code message } } }"""
PROFILE_UPDATE = """mutation($i: ProfileUpdateInput!) { profileUpdate(input: $i) {
  userErrors { field code message } } }"""

TODAY = datetime.now(UTC).date()


def offer_input(**given: Any) -> dict[str, Any]:
    return {"kind": "SPEAKING", "title": "Careers talk", "occurredOn": "2026-03-10",
            "hours": "1.5", **given}  # fmt: skip


@pytest.fixture
async def people(programme: Programme) -> Programme:  # noqa: F811
    """The programme, with two more alumni (graduated 2015 and 2018; the first one 2010)."""
    p = programme
    for who in ("a2", "a3"):
        p.ids[who], p.tokens[who] = await p.api.create_user(
            f"{who}@example.org", ["ALUMNUS"], name=f"{who.upper()} Person"
        )
    for who, year in (("alumnus", 2010), ("a2", 2015), ("a3", 2018)):
        await ok(p, "admin", USER_UPDATE, {"i": {"id": p.ids[who], "graduationYear": year}},
                 "userUpdate")  # fmt: skip
    return p


async def call(p: Programme, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
    body = await p.gql(who, query, variables)
    assert "errors" not in body, body
    return body["data"][key]


async def ok(p: Programme, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
    found = await call(p, who, query, variables, key)
    assert found["userErrors"] == [], found
    return found


async def offered(p: Programme, who: str = "alumnus", **given: Any) -> Any:
    found = await ok(p, who, OFFER, {"i": offer_input(**given)}, "volunteeringOffer")
    return found["engagement"]


async def recorded(p: Programme, who: str, **given: Any) -> Any:
    variables = {"i": {**offer_input(), "userId": p.ids[who], **given}}
    return (await ok(p, "manager", RECORD, variables, "volunteeringRecord"))["engagement"]


async def history(p: Programme, viewer: str, of: str | None, **variables: Any) -> list[Any]:
    u = p.ids[of] if of is not None else None
    body = await p.gql(viewer, HISTORY, {"u": u, **variables})
    assert "errors" not in body, body
    found = body["data"]["volunteering"]
    assert found["totalCount"] == len(found["edges"])
    return [e["node"] for e in found["edges"]]


async def count(p: Programme, model: Any, *where: Any) -> int:
    async with p.api.app.state.runtime.transaction() as uow:
        query = select(func.count()).select_from(model).where(*where)
        return int((await uow.session.execute(query)).scalar())


async def event(p: Programme, *, publish: bool, **given: Any) -> str:
    start = datetime.now(UTC) + timedelta(days=7)
    fields = {"title": "Careers day", "kind": "TALK", "mode": "IN_PERSON",
              "startsAt": start.isoformat(), "endsAt": (start + timedelta(hours=3)).isoformat(),
              "timeZone": "Africa/Accra", "venue": "Great Hall", "city": "Accra",
              **given}  # fmt: skip
    made = (await ok(p, "manager", EVENT_CREATE, {"i": fields}, "eventCreate"))["event"]["id"]
    if publish:
        await ok(p, "manager", EVENT_PUBLISH, {"i": {"id": made}}, "eventPublish")
    return str(made)


async def test_an_offer_is_confirmed_or_declined_and_the_alumnus_told(people: Programme) -> None:
    p = people
    talk = await event(p, publish=True)
    first = await offered(p, eventId=talk, description="Two talks to final-year students.")
    assert first["status"] == "OFFERED" and first["hours"] == "1.50"
    assert first["reviewNote"] is None and first["reviewedAt"] is None
    [mine] = await history(p, "alumnus", None)
    assert mine["event"]["title"] == "Careers day" and mine["recordedBy"]["id"] == p.ids["alumnus"]
    # Offered: no one else sees it (another alumnus, a student), staff do.
    assert await history(p, "a2", "alumnus") == []
    assert await history(p, "s1", "alumnus") == []
    assert [e["id"] for e in await history(p, "manager", None, s=["OFFERED"])] == [first["id"]]

    confirmed = await ok(p, "manager", REVIEW, {"i": {"id": first["id"], "confirm": True}},
                         "volunteeringReview")  # fmt: skip
    assert confirmed["engagement"]["status"] == "CONFIRMED"
    twice = {"i": {"id": first["id"], "confirm": False, "reason": "No"}}
    again = await call(p, "manager", REVIEW, twice, "volunteeringReview")
    assert codes(again) == ["ALREADY_REVIEWED"]
    assert [e["id"] for e in await history(p, "a2", "alumnus")] == [first["id"]]

    second = await offered(p, title="Judging the hackathon", kind="JUDGING")
    no_reason = await call(p, "manager", REVIEW, {"i": {"id": second["id"], "confirm": False}},
                           "volunteeringReview")  # fmt: skip
    assert codes(no_reason) == ["REQUIRED"] and no_reason["userErrors"][0]["field"] == [
        "input", "reason"]  # fmt: skip
    declined = await ok(p, "manager", REVIEW, {"i": {"id": second["id"], "confirm": False,
                        "reason": "We have no record of it."}}, "volunteeringReview")  # fmt: skip
    assert declined["engagement"]["status"] == "DECLINED"
    assert declined["engagement"]["reviewNote"] == "We have no record of it."

    titles = []
    async with p.api.app.state.runtime.transaction() as uow:
        rows = await uow.session.execute(
            select(Notification.title, Notification.body).where(
                Notification.kind == "volunteering"
            ).order_by(Notification.id)
        )  # fmt: skip
        titles = [(t, b) for t, b in rows.all()]
        actions = list(
            (await uow.session.execute(
                select(AuditEvent.action).where(AuditEvent.action.like("volunteering.%"))
                .order_by(AuditEvent.id)
            )).scalars()
        )  # fmt: skip
    assert [t for t, _ in titles] == [
        "Your volunteering was confirmed: Careers talk",
        "Your volunteering was declined: Judging the hackathon",
    ]
    assert "We have no record of it." in titles[1][1]
    assert actions == ["volunteering.offer", "volunteering.confirm", "volunteering.offer",
                       "volunteering.decline"]  # fmt: skip
    # The alumnus sees the declined one and why; another alumnus sees only the confirmed one.
    mine = await history(p, "alumnus", "alumnus")
    assert {e["status"] for e in mine} == {"CONFIRMED", "DECLINED"}
    theirs = await history(p, "a2", "alumnus")
    assert [e["status"] for e in theirs] == ["CONFIRMED"] and theirs[0]["reviewNote"] is None
    assert theirs[0]["reviewedAt"] is None


async def test_wrong_roles_and_others_ids_get_nothing(people: Programme) -> None:
    p = people
    mine = await offered(p)
    theirs = await offered(p, "a2")
    # A student (and a mentor, and staff without the role) offering: refused.
    for who in ("s1", "m1", "manager", "admin"):
        body = await p.gql(who, OFFER, {"i": offer_input()})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (who, body)
    body = await p.gql(None, OFFER, {"i": offer_input()})  # type: ignore[arg-type]
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # An alumnus recording (for another, or themselves); a mentor or an SRE reviewing.
    for who in ("alumnus", "a2"):
        body = await p.gql(who, RECORD, {"i": {**offer_input(), "userId": p.ids["a3"]}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for who in ("m1", "sre", "alumnus", "s1"):
        body = await p.gql(who, REVIEW, {"i": {"id": mine["id"], "confirm": True}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        body = await p.gql(who, REPORT, {"g": "KIND"})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Another's offer: not found for an alumnus, to change, withdraw or read.
    for query, key, extra in ((UPDATE, "volunteeringUpdate", {"hours": "2"}),
                              (DELETE, "volunteeringDelete", {})):  # fmt: skip
        found = await call(p, "alumnus", query, {"i": {"id": theirs["id"], **extra}}, key)
        assert codes(found) == ["NOT_FOUND"], found
        found = await call(p, "s1", query, {"i": {"id": mine["id"], **extra}}, key)
        assert codes(found) == ["NOT_FOUND"], found
    assert (await p.gql("alumnus", NODE, {"id": theirs["id"]}))["data"]["node"] is None
    # Another type's id, and an id that names nothing.
    for wrong in (p.ids["a2"], to_base64("VolunteerEngagement", 999_999)):
        found = await call(p, "manager", REVIEW, {"i": {"id": wrong, "confirm": True}},
                           "volunteeringReview")  # fmt: skip
        assert codes(found) == ["NOT_FOUND"]
    # Recording for someone who is not an active alumnus (a student, a mentor, a post id).
    for who in ("s1", "m1"):
        found = await call(p, "manager", RECORD, {"i": {**offer_input(), "userId": p.ids[who]}},
                           "volunteeringRecord")  # fmt: skip
        assert codes(found) == ["NOT_FOUND"] and found["userErrors"][0]["field"] == [
            "input", "userId"]  # fmt: skip
    # Once reviewed, the alumnus can no longer change or withdraw it; staff can.
    await ok(p, "manager", REVIEW, {"i": {"id": mine["id"], "confirm": True}},
             "volunteeringReview")  # fmt: skip
    late = await call(p, "alumnus", UPDATE, {"i": {"id": mine["id"], "hours": "9"}},
                      "volunteeringUpdate")  # fmt: skip
    assert codes(late) == ["ALREADY_REVIEWED"]
    late = await call(p, "alumnus", DELETE, {"i": {"id": mine["id"]}}, "volunteeringDelete")
    assert codes(late) == ["ALREADY_REVIEWED"]
    async with p.api.app.state.runtime.transaction() as uow:
        hours = (await uow.session.execute(select(VolunteerEngagement.hours_hundredths))).all()
    assert sorted(h for (h,) in hours) == [150, 150]


async def test_staff_never_review_or_record_their_own(people: Programme) -> None:
    p = people
    p.ids["both"], p.tokens["both"] = await p.api.create_user(
        "both@example.org", ["MANAGER", "ALUMNUS"], name="Both Roles"
    )
    own = await offered(p, "both")
    found = await call(p, "both", REVIEW, {"i": {"id": own["id"], "confirm": True}},
                       "volunteeringReview")  # fmt: skip
    assert codes(found) == ["NOT_ALLOWED"]
    found = await call(p, "both", RECORD, {"i": {**offer_input(), "userId": p.ids["both"]}},
                       "volunteeringRecord")  # fmt: skip
    assert codes(found) == ["NOT_ALLOWED"]
    await ok(p, "manager", REVIEW, {"i": {"id": own["id"], "confirm": True}}, "volunteeringReview")
    # Nor change or delete their own once it has been reviewed.
    changed = await call(p, "both", UPDATE, {"i": {"id": own["id"], "hours": "24"}},
                         "volunteeringUpdate")  # fmt: skip
    assert codes(changed) == ["ALREADY_REVIEWED"]
    gone = await call(p, "both", DELETE, {"i": {"id": own["id"]}}, "volunteeringDelete")
    assert codes(gone) == ["ALREADY_REVIEWED"]


async def test_bad_input_is_refused_and_nothing_is_written(people: Programme) -> None:
    p = people
    draft = await event(p, publish=False)
    # Published, but for students only: the alumnus may not see it.
    elsewhere = await event(p, publish=True, audience={"roles": ["STUDENT"]})
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"hours": "0"}, "OUT_OF_RANGE", "hours"),
        ({"hours": "-1"}, "OUT_OF_RANGE", "hours"),
        ({"hours": "1000"}, "OUT_OF_RANGE", "hours"),
        ({"hours": "24.01"}, "OUT_OF_RANGE", "hours"),
        ({"hours": "1.005"}, "OUT_OF_RANGE", "hours"),
        ({"hours": "1.0000000000000000000000000000001"}, "OUT_OF_RANGE", "hours"),
        ({"hours": "1E-9"}, "OUT_OF_RANGE", "hours"),
        ({"hours": "NaN"}, "OUT_OF_RANGE", "hours"),
        ({"hours": "Infinity"}, "OUT_OF_RANGE", "hours"),
        ({"hours": "1E+999999"}, "OUT_OF_RANGE", "hours"),
        ({"occurredOn": "1899-12-31"}, "OUT_OF_RANGE", "occurredOn"),
        ({"occurredOn": (TODAY + timedelta(days=400)).isoformat()}, "OUT_OF_RANGE",
         "occurredOn"),
        ({"title": "   "}, "REQUIRED", "title"),
        ({"title": "x" * 201}, "TOO_LONG", "title"),
        ({"title": "Talk\u202e"}, "INVALID", "title"),
        ({"description": "x" * 4001}, "TOO_LONG", "description"),
        ({"eventId": draft}, "NOT_FOUND", "eventId"),
        ({"eventId": elsewhere}, "NOT_FOUND", "eventId"),
        ({"eventId": to_base64("Event", 999_999)}, "NOT_FOUND", "eventId"),
        ({"eventId": p.ids["a2"]}, "NOT_FOUND", "eventId"),
        # A mission the alumnus is not part of (they see none), and one that does not exist.
        ({"missionId": p.ids["ma"]}, "NOT_FOUND", "missionId"),
        ({"missionId": to_base64("Mission", 999_999)}, "NOT_FOUND", "missionId"),
        ({"clientId": "x" * 65}, "INVALID", "clientId"),
    ]  # fmt: skip
    for given, code, field in cases:
        found = await call(p, "alumnus", OFFER, {"i": offer_input(**given)}, "volunteeringOffer")
        assert found["engagement"] is None, given
        assert [(e["code"], e["field"]) for e in found["userErrors"]] == [
            (code, ["input", field])], (given, found)  # fmt: skip
    # Staff: the same rules, and a draft event stays refused even to them.
    for given, code, field in [*cases[:3], ({"eventId": draft}, "NOT_FOUND", "eventId")]:
        found = await call(p, "manager", RECORD, {"i": {**offer_input(**given),
                           "userId": p.ids["alumnus"]}}, "volunteeringRecord")  # fmt: skip
        assert codes(found) == [code], (given, found)
    # Malformed values are GraphQL errors: nothing runs.
    for given in ({"occurredOn": "2026-13-01"}, {"occurredOn": "yesterday"},
                  {"hours": "one"}, {"kind": "PARTYING"}):  # fmt: skip
        body = await p.gql("alumnus", OFFER, {"i": offer_input(**given)})
        assert body.get("errors") and body.get("data") is None, (given, body)
    assert await count(p, VolunteerEngagement) == 0
    assert await count(p, AuditEvent, AuditEvent.action.like("volunteering.%")) == 0
    # Staff may name any mission; limits at the edges are accepted.
    fine = await recorded(p, "alumnus", missionId=p.ids["ma"], hours="24",
                          occurredOn=(TODAY + timedelta(days=300)).isoformat())  # fmt: skip
    assert fine["hours"] == "24.00"
    [row] = await history(p, "manager", "alumnus")
    assert row["mission"]["code"] == "B1-A"
    # An alumnus's own change is checked the same way.
    own = await offered(p, hours="0.25")
    bad = await call(p, "alumnus", UPDATE, {"i": {"id": own["id"], "hours": "0"}},
                     "volunteeringUpdate")  # fmt: skip
    assert codes(bad) == ["OUT_OF_RANGE"]
    [kept] = [e for e in await history(p, "alumnus", None) if e["id"] == own["id"]]
    assert kept["hours"] == "0.25"


async def test_record_update_delete_and_retries(people: Programme) -> None:
    p = people
    given = {"i": {**offer_input(kind="TRAINING", title="Excel workshop"),
                   "userId": p.ids["a2"], "clientId": "ws-1"}}  # fmt: skip
    first = await ok(p, "manager", RECORD, given, "volunteeringRecord")
    again = await ok(p, "manager", RECORD, given, "volunteeringRecord")
    assert first["engagement"]["id"] == again["engagement"]["id"]
    assert first["engagement"]["status"] == "CONFIRMED"
    assert await count(p, VolunteerEngagement) == 1
    assert await count(p, Notification, Notification.kind == "volunteering") == 1
    # The alumnus reads it among theirs; who recorded it, only those who may see staff.
    [row] = await history(p, "a2", None)
    assert row["recordedBy"] is None and row["kind"] == "TRAINING"
    [seen] = await history(p, "admin", "a2")
    assert seen["recordedBy"]["id"] == p.ids["manager"]
    changed = await ok(p, "manager", UPDATE, {"i": {"id": row["id"], "hours": "3.75",
                       "title": "Excel and SQL workshop", "description": ""}},
                       "volunteeringUpdate")  # fmt: skip
    assert changed["engagement"]["hours"] == "3.75"
    assert changed["engagement"]["title"] == "Excel and SQL workshop"
    # An offer retried with its key is one offer; the alumnus changes and withdraws it.
    offer = {"i": offer_input(clientId="talk-1")}
    one = await ok(p, "alumnus", OFFER, offer, "volunteeringOffer")
    two = await ok(p, "alumnus", OFFER, offer, "volunteeringOffer")
    assert one["engagement"]["id"] == two["engagement"]["id"]
    mine = one["engagement"]["id"]
    moved = await ok(p, "alumnus", UPDATE, {"i": {"id": mine, "occurredOn": "2026-04-01",
                     "kind": "OTHER"}}, "volunteeringUpdate")  # fmt: skip
    assert moved["engagement"]["occurredOn"] == "2026-04-01"
    gone = await ok(p, "alumnus", DELETE, {"i": {"id": mine}}, "volunteeringDelete")
    assert gone["deletedId"] == mine
    gone = await ok(p, "manager", DELETE, {"i": {"id": row["id"]}}, "volunteeringDelete")
    assert await count(p, VolunteerEngagement) == 0
    actions = await count(p, AuditEvent, AuditEvent.action == "volunteering.delete")
    assert actions == 2


async def test_the_history_follows_the_work_privacy_of_the_profile(people: Programme) -> None:
    p = people
    shown = await recorded(p, "alumnus", title="Shown")
    await offered(p, title="Waiting")
    await ok(p, "alumnus", PROFILE_UPDATE, {"i": {"headline": "Engineer"}}, "profileUpdate")

    profile_id = to_base64("Profile", int(_pk(p.ids["alumnus"])))
    on_profile = "query($p: ID!) { node(id: $p) { ... on Profile { volunteering { title } } } }"

    async def seen(viewer: str) -> list[str]:
        titles = sorted(e["title"] for e in await history(p, viewer, "alumnus"))
        # The profile shows the same (when the viewer may see the profile at all).
        body = await p.gql(viewer, on_profile, {"p": profile_id})
        shown = body["data"]["node"]
        if shown is not None:
            assert sorted(e["title"] for e in shown["volunteering"]) == titles, viewer
        return titles

    everyone = {"alumnus": ["Shown", "Waiting"], "a2": ["Shown"], "s1": ["Shown"],
                "m1": ["Shown"], "sre": ["Shown"], "manager": ["Shown", "Waiting"]}  # fmt: skip
    levels = {
        "EVERYONE": everyone,
        "ALUMNI": {**everyone, "s1": [], "m1": []},
        "STAFF": {**everyone, "s1": [], "m1": [], "a2": []},
        "ONLY_ME": {**everyone, "s1": [], "m1": [], "a2": [], "sre": []},
    }
    for level, expected in levels.items():
        await ok(p, "alumnus", PROFILE_UPDATE, {"i": {"privacy": {"work": level}}},
                 "profileUpdate")  # fmt: skip
        for viewer, titles in expected.items():
            assert await seen(viewer) == titles, (level, viewer)
        node = (await p.gql("a2", NODE, {"id": shown["id"]}))["data"]["node"]
        assert (node is not None) == (level == "EVERYONE" or level == "ALUMNI"), level
    # The person through their profile id too; a suspended alumnus's history is gone.
    await ok(p, "alumnus", PROFILE_UPDATE, {"i": {"privacy": {"work": "EVERYONE"}}},
             "profileUpdate")  # fmt: skip
    body = await p.gql("a2", HISTORY, {"u": profile_id})
    assert [e["node"]["profile"]["name"] for e in body["data"]["volunteering"]["edges"]] == [
        "ALUMNUS Person"]  # fmt: skip
    body = await p.gql(None, HISTORY, {"u": p.ids["alumnus"]})  # type: ignore[arg-type]
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def _pk(gid: str) -> str:
    import base64

    return base64.b64decode(gid).decode().split(":")[1]


async def test_report_figures_match_sums_by_hand(people: Programme) -> None:
    p = people
    rows = [  # who, kind, day, hours
        ("alumnus", "SPEAKING", "2025-05-01", "1.25"),
        ("alumnus", "SPEAKING", "2026-02-01", "2"),
        ("alumnus", "JUDGING", "2026-02-02", "0.1"),
        ("a2", "SPEAKING", "2026-03-01", "0.2"),
        ("a2", "HOSTING_VISIT", "2026-03-02", "3.33"),
        ("a3", "JUDGING", "2026-04-01", "24"),
        ("both", "OTHER", "2026-04-02", "0.29"),
        ("alumnus", "TRAINING", "2024-12-31", "5"),  # before the range
    ]
    p.ids["both"], p.tokens["both"] = await p.api.create_user(
        "both@example.org", ["ALUMNUS"], name="No Year"
    )
    for who, kind, day, hours in rows:
        await recorded(p, who, kind=kind, occurredOn=day, hours=hours)
    # Offered and declined ones do not count.
    await offered(p, "a2", occurredOn="2026-03-03", hours="7")
    declined = await offered(p, "a3", occurredOn="2026-03-03", hours="8")
    await ok(p, "manager", REVIEW, {"i": {"id": declined["id"], "confirm": False,
             "reason": "Not ours"}}, "volunteeringReview")  # fmt: skip

    async def report(group: str) -> Any:
        body = await p.gql("manager", REPORT, {"g": group, "f": "2025-01-01", "t": "2026-12-31"})
        assert "errors" not in body, body
        return body["data"]["volunteeringReport"]

    total = {"kind": None, "year": None, "hours": "31.17", "engagements": 7, "volunteers": 4}
    by_kind = await report("KIND")
    assert by_kind["from"] == "2025-01-01" and by_kind["to"] == "2026-12-31"
    assert by_kind["rows"] == [
        {"kind": "SPEAKING", "year": None, "hours": "3.45", "engagements": 3, "volunteers": 2},
        {"kind": "JUDGING", "year": None, "hours": "24.10", "engagements": 2, "volunteers": 2},
        {"kind": "HOSTING_VISIT", "year": None, "hours": "3.33", "engagements": 1,
         "volunteers": 1},
        {"kind": "OTHER", "year": None, "hours": "0.29", "engagements": 1, "volunteers": 1},
    ]  # fmt: skip
    assert by_kind["total"] == total
    by_year = await report("YEAR")
    assert by_year["rows"] == [
        {"kind": None, "year": 2025, "hours": "1.25", "engagements": 1, "volunteers": 1},
        {"kind": None, "year": 2026, "hours": "29.92", "engagements": 6, "volunteers": 4},
    ]
    assert by_year["total"] == total
    by_class = await report("GRADUATION_YEAR")
    assert by_class["rows"] == [
        {"kind": None, "year": 2010, "hours": "3.35", "engagements": 3, "volunteers": 1},
        {"kind": None, "year": 2015, "hours": "3.53", "engagements": 2, "volunteers": 1},
        {"kind": None, "year": 2018, "hours": "24.00", "engagements": 1, "volunteers": 1},
        {"kind": None, "year": None, "hours": "0.29", "engagements": 1, "volunteers": 1},
    ]
    assert by_class["total"] == total
    # Nothing in range: empty rows, zero totals.
    body = await p.gql("manager", REPORT, {"g": "KIND", "f": "2020-01-01", "t": "2020-12-31"})
    assert body["data"]["volunteeringReport"]["rows"] == []
    assert body["data"]["volunteeringReport"]["total"]["hours"] == "0.00"
    # By default: the year up to today.
    body = await p.gql("manager", REPORT, {"g": "YEAR"})
    report_range = body["data"]["volunteeringReport"]
    assert report_range["to"] == TODAY.isoformat()
    assert report_range["from"] == (TODAY - timedelta(days=364)).isoformat()
    # Upside down, too long or out of range: refused, naming the argument.
    for f, t in (("2026-02-01", "2026-01-01"), ("2010-01-01", "2026-01-01"),
                 ("1800-01-01", "1800-02-01")):  # fmt: skip
        body = await p.gql("manager", REPORT, {"g": "KIND", "f": f, "t": t})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    body = await p.gql("admin", REPORT, {"g": "KIND", "f": "2025-01-01", "t": "2026-12-31"})
    assert body["data"]["volunteeringReport"]["total"] == total


async def test_statement_counts_do_not_grow_with_the_list(people: Programme) -> None:
    p = people
    talk = await event(p, publish=True)
    for who in ("alumnus", "a2"):
        await ok(p, who, PROFILE_UPDATE, {"i": {"headline": "Engineer"}}, "profileUpdate")

    async def grow(n: int) -> None:
        for i in range(n):
            who = ("alumnus", "a2", "a3")[i % 3]
            await recorded(p, who, eventId=talk, missionId=p.ids["ma"], title=f"Talk {i}")
            await offered(p, who, title=f"Offer {i}")

    await grow(2)
    counts = {}
    for viewer, of in (("manager", None), ("a2", "alumnus"), ("alumnus", None), ("sre", "a2")):
        few, small = await p.api.sql_count(HISTORY, {"u": p.ids[of] if of else None},
                                           token=p.tokens[viewer])  # fmt: skip
        counts[(viewer, of)] = (few, small)
    report_few, _ = await p.api.sql_count(REPORT, {"g": "GRADUATION_YEAR"},
                                          token=p.tokens["manager"])  # fmt: skip
    await grow(9)
    for (viewer, of), (few, small) in counts.items():
        many, large = await p.api.sql_count(HISTORY, {"u": p.ids[of] if of else None},
                                            token=p.tokens[viewer])  # fmt: skip
        assert "errors" not in large, large
        assert str(large) != str(small), viewer
        assert many == few, f"{viewer}: {few} statements for a few, {many} for many"
    report_many, _ = await p.api.sql_count(REPORT, {"g": "GRADUATION_YEAR"},
                                           token=p.tokens["manager"])  # fmt: skip
    assert report_many == report_few


async def test_the_demo_history_reads_through_the_api(people: Programme) -> None:
    from alumnet.domain.community.volunteering import seed_volunteering

    p = people
    p.ids["demo"], p.tokens["demo"] = await p.api.create_user(
        "alumnus@demo.test", ["ALUMNUS"], name="Alex Alumnus"
    )
    await p.api.create_user("manager@demo.test", ["MANAGER"], name="Maya Manager")
    async with p.api.app.state.runtime.transaction() as uow:
        made = await seed_volunteering(uow, "demo.test")
    async with p.api.app.state.runtime.transaction() as uow:
        assert await seed_volunteering(uow, "demo.test") == 0
    everything = await history(p, "admin", None)
    assert len(everything) == made > 4
    mine = await history(p, "demo", None)
    assert {"CONFIRMED", "OFFERED", "DECLINED"} <= {e["status"] for e in mine}
    confirmed = [e for e in everything if e["status"] == "CONFIRMED"]
    body = await p.gql("manager", REPORT, {"g": "KIND", "f": (TODAY - timedelta(days=800))
                       .isoformat(), "t": TODAY.isoformat()})  # fmt: skip
    total = body["data"]["volunteeringReport"]["total"]
    assert total["engagements"] == len(confirmed)
    assert total["hours"] == str(sum(Decimal(e["hours"]) for e in confirmed))
    # Paged a few at a time, latest day first: each engagement once, in order.
    page_query = """query($a: String) { volunteering(first: 7, after: $a) {
      edges { cursor node { id occurredOn } } pageInfo { hasNextPage } } }"""
    seen: list[str] = []
    after = None
    while True:
        body = await p.gql("manager", page_query, {"a": after})
        assert "errors" not in body, body
        page = body["data"]["volunteering"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["edges"][-1]["cursor"]
    assert seen == [e["id"] for e in everything]
    days = [e["occurredOn"] for e in everything]
    assert days == sorted(days, reverse=True)


async def test_waiting_offers_are_limited(
    people: Programme, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alumnet.domain.community import volunteering

    p = people
    monkeypatch.setattr(volunteering, "OFFERS_WAITING_MAX", 2)
    first = await offered(p)
    await offered(p)
    found = await call(p, "alumnus", OFFER, {"i": offer_input()}, "volunteeringOffer")
    assert codes(found) == ["TOO_MANY"] and found["userErrors"][0]["field"] is None
    await offered(p, "a2")  # another alumnus's are theirs
    await ok(p, "manager", REVIEW, {"i": {"id": first["id"], "confirm": True}},
             "volunteeringReview")  # fmt: skip
    await offered(p)
    assert await count(p, VolunteerEngagement) == 4
