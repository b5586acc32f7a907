"""Events: staff and a chapter lead who run them, alumni and students who come."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from strawberry.relay import to_base64
from tests.cohorts.conftest import Programme
from tests.conftest import Api
from tests.engagement.conftest import call, ok

EVENT_FIELDS = """id title status kind mode startsAt endsAt timeZone localStartsAt capacity
  seatsTaken seatsLeft guestsMax joinUrl venue city recurrence descriptionHtml
  registrationClosesAt"""
CREATE = f"""mutation($i: EventCreateInput!) {{ eventCreate(input: $i) {{
  event {{ {EVENT_FIELDS} }} events {{ id startsAt localStartsAt }}
  userErrors {{ field code message }} }} }}"""
UPDATE = f"""mutation($i: EventUpdateInput!) {{ eventUpdate(input: $i) {{
  event {{ {EVENT_FIELDS} }} userErrors {{ field code message }} }} }}"""
PUBLISH = """mutation($i: EventPublishInput!) { eventPublish(input: $i) {
  event { id status } events { id status } userErrors { field code message } } }"""
CANCEL = """mutation($i: EventCancelInput!) { eventCancel(input: $i) {
  event { id status cancelReason } events { id } userErrors { field code message } } }"""
CAPACITY = """mutation($i: EventCapacitySetInput!) { eventCapacitySet(input: $i) {
  event { id capacity seatsTaken } userErrors { field code message } } }"""
REGISTRATION = """id status arrival guests waitlistPosition checkInCode checkInQrSvg name
  answers { key value } checkedInAt walkIn"""
REGISTER = f"""mutation($i: EventRegisterInput!) {{ eventRegister(input: $i) {{
  registration {{ {REGISTRATION} }} userErrors {{ field code message }} }} }}"""
UNREGISTER = f"""mutation($e: ID!) {{ eventRegistrationCancel(input: {{eventId: $e}}) {{
  registration {{ {REGISTRATION} }} userErrors {{ field code message }} }} }}"""
CHECK_IN = """mutation($e: ID!, $c: String!) { eventCheckIn(input: {eventId: $e, code: $c}) {
  registration { id status checkedInAt name } alreadyCheckedIn
  userErrors { field code message } } }"""
EVENT = f"""query($id: ID!) {{ node(id: $id) {{ ... on Event {{ {EVENT_FIELDS}
  viewerOrganises viewerRegistration {{ {REGISTRATION} }}
  attendance {{ confirmed seatsTaken capacity waitlisted checkedIn }} }} }} }}"""


class Events(Programme):
    """The people of the events, with the engagement tests' call helpers."""

    async def call(self, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
        return await call(self, who, query, variables, key)

    async def ok(self, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
        return await ok(self, who, query, variables, key)

    async def create(self, who: str = "manager", **given: Any) -> Any:
        start = datetime.now(UTC) + timedelta(days=7)
        fields = {
            "title": "Class of 2015 reunion", "kind": "REUNION", "mode": "IN_PERSON",
            "startsAt": start.isoformat(), "endsAt": (start + timedelta(hours=3)).isoformat(),
            "timeZone": "Africa/Accra", "venue": "Great Hall", "city": "Accra",
            "description": "Food, **friends** and <b>fun</b>.", **given,
        }  # fmt: skip
        return (await self.ok(who, CREATE, {"i": fields}, "eventCreate"))["event"]

    async def published(self, who: str = "manager", **given: Any) -> Any:
        event = await self.create(who, **given)
        await self.ok(who, PUBLISH, {"i": {"id": event["id"]}}, "eventPublish")
        return event

    async def register(self, who: str, event: str, **given: Any) -> Any:
        return await self.call(who, REGISTER, {"i": {"eventId": event, **given}}, "eventRegister")

    async def event(self, who: str, event: str) -> Any:
        body = await self.gql(who, EVENT, {"id": event})
        assert "errors" not in body, body
        return body["data"]["node"]


def codes(payload: Any) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def crowd(api: Api, count: int, role: str = "ALUMNUS", prefix: str = "c") -> list[str]:
    """``count`` signed-in people at once (no password hashing): their access tokens."""
    from alumnet.domain.identity.jwt_tokens import issue_access_token
    from alumnet.persistence.models import Session, User, UserRole

    now = datetime.now(UTC)
    rt = api.app.state.runtime
    async with rt.transaction() as uow:
        rows = [{"email": f"{prefix}{i}@example.org", "email_lower": f"{prefix}{i}@example.org",
                 "name": f"{prefix.upper()}{i:04d} Person", "status": "active",
                 "created_at": now, "updated_at": now} for i in range(count)]  # fmt: skip
        await uow.session.execute(insert(User), rows)
        ids = list(
            (
                await uow.session.execute(
                    select(User.id).where(User.email_lower.like(f"{prefix}%@example.org"))
                    .order_by(User.id)
                )
            ).scalars()
        )  # fmt: skip
        await uow.session.execute(insert(UserRole), [{"user_id": i, "role": role} for i in ids])
        await uow.session.execute(insert(Session), [{"user_id": i, "created_at": now} for i in ids])
        sessions = (
            await uow.session.execute(
                select(Session.user_id, Session.id).where(Session.user_id.in_(ids))
            )
        ).all()
    return [issue_access_token(api.settings, u, s)[0] for u, s in sorted(sessions)]


def gid(type_name: str, pk: int) -> str:
    return to_base64(type_name, pk)


@pytest.fixture
async def people(api: Api) -> Events:
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for who, role in [
        ("admin", "ADMIN"), ("manager", "MANAGER"), ("sre", "SRE"), ("lead", "ALUMNUS"),
        ("a1", "ALUMNUS"), ("a2", "ALUMNUS"), ("a3", "ALUMNUS"), ("s1", "STUDENT"),
        ("m1", "MENTOR"),
    ]:  # fmt: skip
        ids[who], tokens[who] = await api.create_user(
            f"{who}@example.org", [role], name=f"{who.upper()} Person"
        )
    return Events(api=api, tokens=tokens, ids=ids)
