"""Inquiries by staff: entered, corrected, assigned (the counsellor told), moved through the
pipeline (each allowed move, refused ones writing nothing, lost with a reason, reopened),
contacts logged on the timeline; seen only by admissions staff; the list's statements do
not grow with its items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from alumnet.persistence.models import (
    AuditEvent,
    Inquiry,
    InquiryActivity,
    InquiryStageChange,
    Notification,
)
from tests.admissions.conftest import Admissions, codes, gid

FIELDS = """id name email phone source sourceDetail notes stage lostReason createdAt
  stageChangedAt lastActivityAt nextStages
  programme { id code } counsellor { id name } student { id }
  leadScore { score scoredAt reasons { rule points detail } }
  stageChanges { fromStage toStage reason changedAt changedBy { id } }
  activities(first: 10) { totalCount edges { node { id kind summary outcome occurredAt
    actor { id } } } }"""
ERRORS = "userErrors { field code message }"
CREATE = f"""mutation($input: InquiryCreateInput!) {{ inquiryCreate(input: $input) {{
  inquiry {{ {FIELDS} }} {ERRORS} }} }}"""
UPDATE = f"""mutation($input: InquiryUpdateInput!) {{ inquiryUpdate(input: $input) {{
  inquiry {{ {FIELDS} }} {ERRORS} }} }}"""
ASSIGN = f"""mutation($input: InquiryAssignInput!) {{ inquiryAssign(input: $input) {{
  inquiry {{ {FIELDS} }} {ERRORS} }} }}"""
STAGE = f"""mutation($input: InquiryStageChangeInput!) {{ inquiryStageChange(input: $input) {{
  inquiry {{ {FIELDS} }} {ERRORS} }} }}"""
LOG = f"""mutation($input: InquiryActivityLogInput!) {{ inquiryActivityLog(input: $input) {{
  inquiry {{ {FIELDS} }} activity {{ id kind summary outcome occurredAt }} {ERRORS} }} }}"""
NODE = f"""query($id: ID!) {{ node(id: $id) {{ ... on Inquiry {{ {FIELDS} }} }} }}"""
LIST = """query($filter: InquiryFilter, $order: InquiryOrder, $first: Int, $after: String) {
  inquiries(filter: $filter, orderBy: $order, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id name stage } } } }"""


async def make(a: Admissions, who: str = "counsellor", **more: Any) -> dict[str, Any]:
    given: dict[str, Any] = {
        "name": "Priya Raman", "email": "priya@example.net", "phone": "+91 98450 12345",
        "source": "REFERRAL", "sourceDetail": "Her cousin, class of 2019",
        "programmeId": gid("Programme", a.pks["programme"]), "notes": "Asked about fees.",
    }  # fmt: skip
    given.update(more)
    given = {k: v for k, v in given.items() if v is not ...}
    payload = await a.ok(who, CREATE, {"input": given}, "inquiryCreate")
    return payload["inquiry"]  # type: ignore[no-any-return]


async def stage(a: Admissions, inquiry: str, to: str, reason: str | None = None,
                who: str = "counsellor") -> dict[str, Any]:  # fmt: skip
    body = await a.gql(who, STAGE, {"input": {"id": inquiry, "stage": to, "reason": reason}})
    assert "errors" not in body, body
    return body["data"]["inquiryStageChange"]  # type: ignore[no-any-return]


async def counts(a: Admissions) -> tuple[int, int, int, int]:
    """(inquiries, stage changes, activities, audit rows) in the database."""
    async with a.runtime.transaction() as uow:
        found = []
        for model in (Inquiry, InquiryStageChange, InquiryActivity, AuditEvent):
            found.append(int((await uow.session.execute(
                select(func.count()).select_from(model))).scalar_one()))  # fmt: skip
    return found[0], found[1], found[2], found[3]


async def row(a: Admissions, global_id: str) -> Inquiry:
    from tests.admissions.conftest import pk_of

    async with a.runtime.transaction() as uow:
        found = await uow.session.get(Inquiry, pk_of(global_id))
        assert found is not None
        return found


async def test_staff_enter_an_inquiry_scored_at_once_with_its_first_stage(
    admissions: Admissions,
) -> None:
    a = admissions
    inquiry = await make(a)
    assert inquiry["stage"] == "NEW" and inquiry["source"] == "REFERRAL"
    assert inquiry["programme"]["code"] == "BSCS"
    assert inquiry["nextStages"] == ["CONTACTED", "LOST"]
    assert [(c["fromStage"], c["toStage"]) for c in inquiry["stageChanges"]] == [(None, "NEW")]
    assert inquiry["stageChanges"][0]["changedBy"]["id"] == a.ids["counsellor"]
    score = inquiry["leadScore"]
    rules = {r["rule"]: r["points"] for r in score["reasons"]}
    # referral 25 + open programme 20 + no contacts 0 + contact today 30
    assert rules == {"source_referral": 25, "programme_fit": 20, "engagement": 0, "recency": 30}
    assert score["score"] == 75 and score["scoredAt"] is not None
    assert [e["node"]["kind"] for e in inquiry["activities"]["edges"]] == ["SUBMITTED"]
    stored = await row(a, inquiry["id"])
    assert stored.furthest == 1 and stored.email_key == "priya@example.net"


async def test_an_idempotency_key_makes_one_inquiry(admissions: Admissions) -> None:
    a = admissions
    first = await make(a, idempotencyKey="walkin-7")
    again = await make(a, idempotencyKey="walkin-7")
    assert again["id"] == first["id"]
    assert (await counts(a))[0] == 1
    body = await a.gql("counsellor", CREATE, {"input": {
        "name": "Someone Else", "email": "else@example.net", "source": "WALK_IN",
        "idempotencyKey": "walkin-7"}})  # fmt: skip
    assert codes(body["data"]["inquiryCreate"]) == ["IDEMPOTENCY_CONFLICT"]
    # A colleague's key of the same name is theirs.
    theirs = await make(a, who="counsellor2", idempotencyKey="walkin-7")
    assert theirs["id"] != first["id"]
    assert (await counts(a))[0] == 2


async def test_bad_input_is_refused_and_writes_nothing(admissions: Admissions) -> None:
    a = admissions
    await make(a)
    before = await counts(a)
    cases = [
        ({"email": "not an address"}, "INVALID_EMAIL", ["input", "email"]),
        ({"phone": "call me maybe"}, "INVALID_PHONE", ["input", "phone"]),
        ({"email": ..., "phone": ...}, "REQUIRED", ["input", "email"]),
        ({"name": "  "}, "REQUIRED", ["input", "name"]),
        ({"programmeId": gid("Programme", 999)}, "NOT_FOUND", ["input", "programmeId"]),
        ({"counsellorId": a.ids["sre"]}, "NOT_COUNSELLOR", ["input", "counsellorId"]),
        ({"sourceDetail": "x" * 201}, "TOO_LONG", ["input", "sourceDetail"]),
    ]
    for change, code, field in cases:
        given: dict[str, Any] = {"name": "Ravi", "email": "ravi@example.net", "source": "WALK_IN"}
        given.update(change)
        given = {k: v for k, v in given.items() if v is not ...}
        body = await a.gql("counsellor", CREATE, {"input": given})
        payload = body["data"]["inquiryCreate"]
        assert payload["inquiry"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, field)], change
    assert await counts(a) == before
    inquiry = await make(a, email="other@example.net")
    after = await counts(a)
    for change, code in [({"email": "bad@"}, "INVALID_EMAIL"), ({"phone": "12"}, "INVALID_PHONE"),
                         ({"email": "", "phone": ""}, "REQUIRED")]:  # fmt: skip
        body = await a.gql("counsellor", UPDATE, {"input": {"id": inquiry["id"], **change}})
        assert codes(body["data"]["inquiryUpdate"]) == [code]
    assert await counts(a) == after
    assert (await row(a, inquiry["id"])).email == "other@example.net"


async def test_staff_correct_an_inquiry_and_it_is_scored_again(admissions: Admissions) -> None:
    a = admissions
    inquiry = await make(a)
    payload = await a.ok("counsellor2", UPDATE, {"input": {
        "id": inquiry["id"], "name": "Priya R. Raman", "email": "PRIYA.R@example.net",
        "phone": "", "programmeId": gid("Programme", a.pks["closed"]), "notes": "Wants a visit.",
        "sourceDetail": ""}}, "inquiryUpdate")  # fmt: skip
    changed = payload["inquiry"]
    assert changed["name"] == "Priya R. Raman" and changed["phone"] is None
    assert changed["email"] == "PRIYA.R@example.net" and changed["sourceDetail"] is None
    assert changed["programme"]["code"] == "DIPW" and changed["notes"] == "Wants a visit."
    fit = next(r for r in changed["leadScore"]["reasons"] if r["rule"] == "programme_fit")
    assert fit["points"] == 0 and "closed" in fit["detail"]
    assert changed["leadScore"]["score"] == inquiry["leadScore"]["score"] - 20
    assert (await row(a, inquiry["id"])).email_key == "priya.r@example.net"


async def test_assigning_tells_the_counsellor_and_writes_the_timeline(
    admissions: Admissions,
) -> None:
    a = admissions
    inquiry = await make(a)
    payload = await a.ok("manager", ASSIGN, {"input": {
        "id": inquiry["id"], "counsellorId": a.ids["counsellor2"]}}, "inquiryAssign")  # fmt: skip
    assert payload["inquiry"]["counsellor"] == {"id": a.ids["counsellor2"],
                                                "name": "Counsellor2 Person"}  # fmt: skip
    kinds = [e["node"]["kind"] for e in payload["inquiry"]["activities"]["edges"]]
    assert kinds == ["ASSIGNED", "SUBMITTED"]
    async with a.runtime.transaction() as uow:
        told = (await uow.session.execute(
            select(Notification.user_id, Notification.kind, Notification.subject_type)
        )).all()  # fmt: skip
    assert [tuple(t) for t in told] == [(a.pks["counsellor2"], "admissions", "Inquiry")]
    # Someone without `admissions` cannot be given an inquiry; nothing is written.
    before = await counts(a)
    for who in ("student", "faculty", "sre"):
        body = await a.gql("counsellor", ASSIGN, {"input": {
            "id": inquiry["id"], "counsellorId": a.ids[who]}})  # fmt: skip
        assert codes(body["data"]["inquiryAssign"]) == ["NOT_COUNSELLOR"]
    assert await counts(a) == before
    payload = await a.ok("counsellor", ASSIGN, {"input": {"id": inquiry["id"]}}, "inquiryAssign")
    assert payload["inquiry"]["counsellor"] is None


async def test_each_allowed_move_and_the_furthest_stage(admissions: Admissions) -> None:
    a = admissions
    inquiry = await make(a)
    for to, nxt in [("CONTACTED", ["COUNSELLED", "LOST"]), ("COUNSELLED", ["APPLIED", "LOST"]),
                    ("APPLIED", ["LOST"])]:  # fmt: skip
        payload = await stage(a, inquiry["id"], to)
        assert payload["userErrors"] == [], payload
        assert payload["inquiry"]["stage"] == to and payload["inquiry"]["nextStages"] == nxt
    stored = await row(a, inquiry["id"])
    assert stored.furthest == 4 and stored.stage == "applied"
    changes = payload["inquiry"]["stageChanges"]
    assert [(c["fromStage"], c["toStage"]) for c in changes] == [
        (None, "NEW"), ("NEW", "CONTACTED"), ("CONTACTED", "COUNSELLED"),
        ("COUNSELLED", "APPLIED")]  # fmt: skip
    kinds = [e["node"]["kind"] for e in payload["inquiry"]["activities"]["edges"]]
    assert kinds.count("STAGE") == 3


async def test_moves_the_pipeline_does_not_allow_write_nothing(admissions: Admissions) -> None:
    a = admissions
    inquiry = await make(a)
    before = await counts(a)
    refused = [("COUNSELLED", None), ("APPLIED", None), ("ENROLLED", None), ("NEW", None)]
    for to, reason in refused:
        payload = await stage(a, inquiry["id"], to, reason)
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("STAGE_NOT_ALLOWED", ["input", "stage"])], to  # fmt: skip
        assert "contacted or lost" in payload["userErrors"][0]["message"]
    assert await counts(a) == before
    for to in ("CONTACTED", "COUNSELLED", "APPLIED"):
        assert (await stage(a, inquiry["id"], to))["userErrors"] == []
    payload = await stage(a, inquiry["id"], "ENROLLED")
    assert codes(payload) == ["STAGE_NOT_ALLOWED"]
    assert "inquiryConvert" in payload["userErrors"][0]["message"]
    payload = await stage(a, inquiry["id"], "CONTACTED")
    assert codes(payload) == ["STAGE_NOT_ALLOWED"]
    assert (await row(a, inquiry["id"])).stage == "applied"


async def test_lost_needs_a_reason_and_reopens_at_its_stage(admissions: Admissions) -> None:
    a = admissions
    inquiry = await make(a)
    await stage(a, inquiry["id"], "CONTACTED")
    before = await counts(a)
    for reason, code in [(None, "REQUIRED"), ("  ", "REQUIRED"), ("x" * 501, "TOO_LONG")]:
        payload = await stage(a, inquiry["id"], "LOST", reason)
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            (code, ["input", "reason"])]  # fmt: skip
    assert await counts(a) == before
    payload = await stage(a, inquiry["id"], "LOST", "Chose another university.")
    lost = payload["inquiry"]
    assert lost["stage"] == "LOST" and lost["lostReason"] == "Chose another university."
    assert lost["nextStages"] == ["CONTACTED"]
    assert lost["stageChanges"][-1]["reason"] == "Chose another university."
    # Only back to where it was lost from.
    for to in ("NEW", "COUNSELLED", "APPLIED"):
        refused = await stage(a, inquiry["id"], to)
        assert codes(refused) == ["STAGE_NOT_ALLOWED"]
        assert "contacted" in refused["userErrors"][0]["message"]
    payload = await stage(a, inquiry["id"], "CONTACTED")
    assert payload["userErrors"] == []
    assert payload["inquiry"]["stage"] == "CONTACTED" and payload["inquiry"]["lostReason"] is None
    stored = await row(a, inquiry["id"])
    assert stored.furthest == 2


async def test_logged_contacts_raise_engagement_and_refuse_bad_times(
    admissions: Admissions,
) -> None:
    a = admissions
    inquiry = await make(a)
    payload = await a.ok("counsellor", LOG, {"input": {
        "id": inquiry["id"], "kind": "CALL", "summary": "Talked about scholarships.",
        "outcome": "Will visit on Friday"}}, "inquiryActivityLog")  # fmt: skip
    assert payload["activity"]["kind"] == "CALL"
    assert payload["activity"]["outcome"] == "Will visit on Friday"
    assert payload["inquiry"]["lastActivityAt"] is not None
    engagement = {r["rule"]: r for r in payload["inquiry"]["leadScore"]["reasons"]}["engagement"]
    assert engagement["points"] == 5 and engagement["detail"].startswith("1 contact ")
    before = await counts(a)
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    for change, code, field in [
        ({"occurredAt": future}, "OUT_OF_RANGE", "occurredAt"),
        ({"occurredAt": past}, "OUT_OF_RANGE", "occurredAt"),
        ({"summary": " "}, "REQUIRED", "summary"),
        ({"summary": "x" * 2001}, "TOO_LONG", "summary"),
        ({"outcome": "x" * 201}, "TOO_LONG", "outcome"),
    ]:
        given = {"id": inquiry["id"], "kind": "MEETING", "summary": "Campus tour."} | change
        body = await a.gql("counsellor", LOG, {"input": given})
        errors = body["data"]["inquiryActivityLog"]["userErrors"]
        assert [(e["code"], e["field"]) for e in errors] == [(code, ["input", field])], change
    assert await counts(a) == before
    # Given its time, the same contact sent again is the first.
    when = datetime.now(UTC).replace(microsecond=0).isoformat()
    given = {"id": inquiry["id"], "kind": "MEETING", "summary": "Campus tour.", "occurredAt": when}
    first = await a.ok("counsellor", LOG, {"input": given}, "inquiryActivityLog")
    again = await a.ok("counsellor", LOG, {"input": given}, "inquiryActivityLog")
    assert again["activity"]["id"] == first["activity"]["id"]


async def test_the_list_filters_sorts_and_pages(admissions: Admissions) -> None:
    a = admissions
    first = await make(a, name="Asha Walk", source="WALK_IN", email="asha@example.net",
                       counsellorId=a.ids["counsellor"])  # fmt: skip
    second = await make(a, name="Bilal Web", source="WEB_FORM", email="bilal@example.net",
                        programmeId=..., sourceDetail=...)  # fmt: skip
    third = await make(a, name="Chen Ref", email="chen@example.net",
                       counsellorId=a.ids["counsellor2"])  # fmt: skip
    await stage(a, third["id"], "CONTACTED")

    async def names(who: str = "counsellor", **variables: Any) -> list[str]:
        body = await a.gql(who, LIST, variables)
        assert "errors" not in body, body
        return [e["node"]["name"] for e in body["data"]["inquiries"]["edges"]]

    assert await names() == ["Chen Ref", "Bilal Web", "Asha Walk"]
    assert await names(order="SCORE") == ["Chen Ref", "Asha Walk", "Bilal Web"]
    assert await names(order="STAGE_AGE") == ["Asha Walk", "Bilal Web", "Chen Ref"]
    assert await names(filter={"mine": True}) == ["Asha Walk"]
    assert await names(filter={"unassigned": True}) == ["Bilal Web"]
    assert await names(filter={"counsellorId": a.ids["counsellor2"]}) == ["Chen Ref"]
    assert await names(filter={"stage": "CONTACTED"}) == ["Chen Ref"]
    assert await names(filter={"source": "WALK_IN"}) == ["Asha Walk"]
    assert await names(filter={"programmeId": gid("Programme", a.pks["programme"])}) == [
        "Chen Ref", "Asha Walk"]  # fmt: skip
    assert await names(filter={"search": "BILAL@"}) == ["Bilal Web"]
    assert await names(filter={"search": "walk"}) == ["Asha Walk"]
    page = await a.gql("counsellor", LIST, {"order": "SCORE", "first": 2})
    cursor = page["data"]["inquiries"]["pageInfo"]["endCursor"]
    assert page["data"]["inquiries"]["totalCount"] == 3
    assert await names(order="SCORE", first=2, after=cursor) == ["Bilal Web"]
    assert first["id"] != second["id"]


async def test_only_admissions_staff_see_inquiries(admissions: Admissions) -> None:
    a = admissions
    inquiry = await make(a)
    for who in ("counsellor", "counsellor2", "manager", "admin"):
        body = await a.gql(who, NODE, {"id": inquiry["id"]})
        assert body["data"]["node"]["id"] == inquiry["id"], who
    activity = inquiry["activities"]["edges"][0]["node"]["id"]
    for who in (None, "student", "alumnus", "faculty", "sre"):
        body = await a.gql(who, NODE, {"id": inquiry["id"]})
        assert body["data"]["node"] is None, who
        body = await a.gql(who, "query($id: ID!) { node(id: $id) { id } }", {"id": activity})
        assert body["data"]["node"] is None, who
        body = await a.gql(who, LIST, {})
        assert body["data"] is None or body["data"].get("inquiries") is None
        assert body["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "UNAUTHENTICATED")
    before = await counts(a)
    attempts = [
        (CREATE, {"input": {"name": "X", "email": "x@example.net", "source": "WALK_IN"}}),
        (UPDATE, {"input": {"id": inquiry["id"], "name": "Changed"}}),
        (ASSIGN, {"input": {"id": inquiry["id"], "counsellorId": a.ids["counsellor"]}}),
        (STAGE, {"input": {"id": inquiry["id"], "stage": "CONTACTED"}}),
        (LOG, {"input": {"id": inquiry["id"], "kind": "NOTE", "summary": "Hi"}}),
    ]
    for who in (None, "student", "faculty", "sre", "alumnus"):
        for query, variables in attempts:
            body = await a.gql(who, query, variables)
            assert body["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "UNAUTHENTICATED")
    assert await counts(a) == before
    # The right role on an inquiry that does not exist: NOT_FOUND, as for any id.
    body = await a.gql("counsellor", STAGE, {"input": {"id": gid("Inquiry", 999),
                                                       "stage": "CONTACTED"}})  # fmt: skip
    assert codes(body["data"]["inquiryStageChange"]) == ["NOT_FOUND"]


async def test_the_list_takes_as_many_statements_for_ten_inquiries_as_for_two(
    admissions: Admissions,
) -> None:
    a = admissions
    query = """{ inquiries(first: 50) { totalCount edges { node { id name
      counsellor { id name } programme { id code } student { id }
      leadScore { score reasons { rule points detail } } nextStages
      stageChanges { toStage changedBy { id } }
      activities(first: 3) { totalCount edges { node { id kind actor { id } } } } } } } }"""

    async def fill(n: int) -> None:
        for i in range(n):
            counsellor = a.ids["counsellor2" if i % 2 else "counsellor"]
            made = await make(a, email=f"p{i}-{n}@example.net", name=f"Person {i}",
                              counsellorId=counsellor)  # fmt: skip
            if i % 3 == 0:
                await stage(a, made["id"], "LOST", "No answer.")

    await fill(2)
    few, small = await a.api.sql_count(query, token=a.tokens["counsellor"])
    await fill(8)
    many, large = await a.api.sql_count(query, token=a.tokens["counsellor"])
    assert "errors" not in large, large
    assert small["data"]["inquiries"]["totalCount"] == 2
    assert large["data"]["inquiries"]["totalCount"] == 10
    assert many == few, f"{few} statements for 2 inquiries, {many} for 10"
