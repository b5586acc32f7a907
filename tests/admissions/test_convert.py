"""Converting an applied inquiry: a STUDENT account made the way staff add people (with its
invitation e-mail and a profile), by a counsellor's WRITE token too, which still manages no
users; an existing account linked only by a user manager and only a student's, else one
neutral ACCOUNT_EXISTS; optional enrolment in a mission for those who may enrol;
idempotent; refused with nothing written where it should be."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from alumnet.domain.admissions import convert as convert_rules
from alumnet.domain.errors import PermissionDenied
from alumnet.domain.identity import users
from alumnet.domain.identity.permissions import Role, TokenScope, Viewer
from alumnet.persistence.models import (
    AuditEvent,
    Batch,
    Enrollment,
    Inquiry,
    Mission,
    Profile,
    User,
    UserRole,
)
from alumnet.persistence.uow import Origin
from tests.admissions.conftest import Admissions, codes, gid, pk_of
from tests.admissions.test_inquiries import make, stage

CONVERT = """mutation($input: InquiryConvertInput!) { inquiryConvert(input: $input) {
  inquiry { id stage student { id email } nextStages
    stageChanges { fromStage toStage } activities(first: 3) { edges { node { kind } } } }
  student { id name email }
  userErrors { field code message } } }"""


async def applied(a: Admissions, **more: Any) -> dict[str, Any]:
    inquiry = await make(a, **more)
    for to in ("CONTACTED", "COUNSELLED", "APPLIED"):
        assert (await stage(a, inquiry["id"], to))["userErrors"] == []
    return inquiry


async def convert(a: Admissions, inquiry: str, who: str = "counsellor", **more: Any) -> Any:
    body = await a.gql(who, CONVERT, {"input": {"id": inquiry, **more}})
    assert "errors" not in body, body
    return body["data"]["inquiryConvert"]


async def people(a: Admissions) -> int:
    async with a.runtime.transaction() as uow:
        return int((await uow.session.execute(select(func.count()).select_from(User)))
                   .scalar_one())  # fmt: skip


async def mission(a: Admissions) -> int:
    today = datetime.now(UTC).date()
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        batch = Batch(name="Intake 2025", code="IN25", starts_on=today,
                      ends_on=today + timedelta(weeks=20))  # fmt: skip
        uow.session.add(batch)
        await uow.session.flush()
        found = Mission(batch_id=batch.id, title="Foundations", code="IN25-1", status="active",
                        starts_on=today, ends_on=today + timedelta(weeks=20))  # fmt: skip
        uow.session.add(found)
        await uow.session.flush()
        return int(found.id)


async def test_converting_makes_a_student_with_a_profile_and_an_invitation(
    admissions: Admissions,
) -> None:
    a = admissions
    inquiry = await applied(a)
    payload = await convert(a, inquiry["id"])
    assert payload["userErrors"] == [], payload
    student = payload["student"]
    assert (student["name"], student["email"]) == ("Priya Raman", "priya@example.net")
    converted = payload["inquiry"]
    assert converted["stage"] == "ENROLLED" and converted["nextStages"] == []
    assert converted["student"]["id"] == student["id"]
    assert converted["stageChanges"][-1] == {"fromStage": "APPLIED", "toStage": "ENROLLED"}
    assert converted["activities"]["edges"][0]["node"]["kind"] == "CONVERTED"
    async with a.runtime.transaction() as uow:
        user_id = pk_of(student["id"])
        roles = (await uow.session.execute(
            select(UserRole.role).where(UserRole.user_id == user_id))).scalars().all()  # fmt: skip
        assert roles == ["STUDENT"]
        user = await uow.session.get(User, user_id)
        assert user is not None and user.phone == "+91 98450 12345"
        assert user.password_hash is None
        profile = await uow.session.get(Profile, user_id)
        assert profile is not None and profile.programme_id == a.pks["programme"]
        row = await uow.session.get(Inquiry, pk_of(inquiry["id"]))
        assert row is not None and row.furthest == 5 and row.user_id == user_id
    await a.api.run_jobs()
    [mail] = a.api.mailbox.to("priya@example.net")
    assert "Choose your password" in mail
    # Converting again returns the same student and writes nothing more.
    count = await people(a)
    again = await convert(a, inquiry["id"])
    assert again["userErrors"] == [] and again["student"]["id"] == student["id"]
    assert await people(a) == count
    await a.api.run_jobs()
    assert len(a.api.mailbox.to("priya@example.net")) == 1


async def profile_programme(a: Admissions, user_id: int) -> int | None:
    async with a.runtime.transaction() as uow:
        profile = await uow.session.get(Profile, user_id)
        return profile.programme_id if profile is not None else None


async def test_an_existing_account_is_linked_only_by_a_user_manager_and_only_a_student(
    admissions: Admissions,
) -> None:
    a = admissions
    student_pk = a.pks["student"]
    before = await profile_programme(a, student_pk)
    inquiry = await applied(a, email="STUDENT@example.org")
    staff = await applied(a, email="sre@example.org", idempotencyKey="staff-address")
    count = await people(a)
    # A counsellor (even a manager, who does not manage users) gets one neutral answer for
    # a student's account and a staff account alike, and nothing is written.
    answers = set()
    for who in ("counsellor", "manager"):
        for target in (inquiry, staff):
            payload = await convert(a, target["id"], who)
            assert payload["student"] is None and payload["inquiry"] is None
            [error] = payload["userErrors"]
            assert (error["code"], error["field"]) == ("ACCOUNT_EXISTS", ["input", "id"])
            answers.add(error["message"])
    assert answers == {"An account with this e-mail exists; a user manager can link it."}
    async with a.runtime.transaction() as uow:
        for target in (inquiry, staff):
            row = await uow.session.get(Inquiry, pk_of(target["id"]))
            assert row is not None and row.stage == "applied" and row.user_id is None
    assert await people(a) == count
    # A user manager links a student's account, and leaves its profile as it is.
    payload = await convert(a, inquiry["id"], "admin")
    assert payload["userErrors"] == [], payload
    assert payload["student"]["id"] == a.ids["student"]
    assert await profile_programme(a, student_pk) == before != a.pks["programme"]
    # ... but not a staff account.
    payload = await convert(a, staff["id"], "admin")
    assert codes(payload) == ["ACCOUNT_EXISTS"] and payload["student"] is None
    assert await people(a) == count
    async with a.runtime.transaction() as uow:
        user = await uow.session.get(User, a.pks["sre"])
        assert user is not None and user.phone is None


async def test_a_write_token_converts_but_manages_no_users(admissions: Admissions) -> None:
    a = admissions
    for scope in ("READ", "WRITE"):
        made = await a.gql("counsellor", """mutation($s: TokenScope!) {
          personalAccessTokenCreate(input: {name: "script", scope: $s}) { secret } }""",
                           {"s": scope})  # fmt: skip
        assert "errors" not in made, made
        a.tokens[f"counsellor-{scope}"] = made["data"]["personalAccessTokenCreate"]["secret"]
    inquiry = await applied(a)
    count = await people(a)
    body = await a.gql("counsellor-READ", CONVERT, {"input": {"id": inquiry["id"]}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await people(a) == count
    payload = await convert(a, inquiry["id"], "counsellor-WRITE")
    assert payload["userErrors"] == [], payload
    user_id = pk_of(payload["student"]["id"])
    async with a.runtime.transaction() as uow:
        query = select(AuditEvent).where(AuditEvent.action == "user.create")
        made_users = (await uow.session.execute(query)).scalars().all()
        [event] = [e for e in made_users if e.object_ids == [str(user_id)]]
        assert event.actor_id == a.pks["counsellor"]
        assert event.details == {"roles": ["STUDENT"], "via": "inquiryConvert"}
    # What only `users:manage` allows stays out of reach of the same token.
    body = await a.gql(
        "counsellor-WRITE",
        """mutation { userCreate(input: {
      email: "new@example.org", name: "New", roles: [STUDENT]}) { user { id } } }""",
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    assert await people(a) == count + 1


async def test_the_student_path_refuses_a_read_only_viewer(admissions: Admissions) -> None:
    a = admissions
    reader = Viewer(user_id=a.pks["counsellor"], roles=frozenset({Role.ADMISSIONS}),
                    scope=TokenScope.READ)  # fmt: skip
    async with a.runtime.transaction() as uow:
        with pytest.raises(PermissionDenied):
            await users.create_student(a.runtime, uow, reader, "r@example.net", "R", via="test")
        with pytest.raises(PermissionDenied):
            await convert_rules.convert(a.runtime, uow, reader, 1)
    assert await people(a) == len(a.ids)


async def test_only_an_applied_inquiry_with_an_email_is_converted(
    admissions: Admissions,
) -> None:
    a = admissions
    early = await make(a)
    payload = await convert(a, early["id"])
    assert codes(payload) == ["STAGE_NOT_ALLOWED"]
    by_phone = await applied(a, email=..., name="Phone Only")
    payload = await convert(a, by_phone["id"])
    assert codes(payload) == ["EMAIL_REQUIRED"]
    payload = await convert(a, gid("Inquiry", 999))
    assert codes(payload) == ["NOT_FOUND"]
    assert await people(a) == len(a.ids)


async def test_enrolment_in_a_mission_needs_enrollments_manage(admissions: Admissions) -> None:
    a = admissions
    mission_id = await mission(a)
    inquiry = await applied(a)
    count = await people(a)
    payload = await convert(a, inquiry["id"], missionId=gid("Mission", mission_id))
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_ALLOWED", ["input", "missionId"])]  # fmt: skip
    assert await people(a) == count
    payload = await convert(a, inquiry["id"], "manager", missionId=gid("Mission", 998))
    assert codes(payload) == ["NOT_FOUND"]
    payload = await convert(a, inquiry["id"], "manager", missionId=gid("Mission", mission_id))
    assert payload["userErrors"] == [], payload
    async with a.runtime.transaction() as uow:
        enrolled = (await uow.session.execute(
            select(Enrollment.student_id).where(Enrollment.mission_id == mission_id)
        )).scalars().all()  # fmt: skip
    assert enrolled == [pk_of(payload["student"]["id"])]


async def test_other_roles_cannot_convert(admissions: Admissions) -> None:
    a = admissions
    inquiry = await applied(a)
    count = await people(a)
    for who in (None, "student", "faculty", "sre", "alumnus"):
        body = await a.gql(who, CONVERT, {"input": {"id": inquiry["id"]}})
        assert body["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "UNAUTHENTICATED")
    assert await people(a) == count
