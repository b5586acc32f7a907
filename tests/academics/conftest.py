"""Shared by the academics tests: people of each role academics concerns, a batch with two
missions, students enrolled (one mentored), and a subject of four topics offered to the
first mission and led by ``faculty`` (made in the database, as staff would through the
API), and helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from strawberry.relay import from_base64, to_base64

from alumnet.persistence.models import (
    Batch,
    Enrollment,
    MentorAssignment,
    Mission,
    Subject,
    SubjectOffering,
    Topic,
)
from alumnet.persistence.uow import Origin
from tests.conftest import Api

PEOPLE = [
    ("admin", "ADMIN"),
    ("manager", "MANAGER"),
    ("faculty", "FACULTY"),  # leads the subject's offering to the first mission
    ("faculty2", "FACULTY"),  # leads nothing
    ("mentor", "MENTOR"),  # mentors ``student`` in the first mission
    ("sre", "SRE"),
    ("student", "STUDENT"),  # in the first mission
    ("student2", "STUDENT"),  # in the first mission
    ("student3", "STUDENT"),  # only in the second mission: the subject is not theirs
    ("alumnus", "ALUMNUS"),
    ("counsellor", "ADMISSIONS"),
]


@dataclass
class Academics:
    api: Api
    tokens: dict[str, str]
    ids: dict[str, str]
    pks: dict[str, int] = field(default_factory=dict)
    topics: list[int] = field(default_factory=list)

    async def gql(self, who: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        return await self.api.gql(query, variables, token=self.tokens.get(who))

    async def ok(self, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
        """A mutation's payload as ``who``; no GraphQL error and no userError."""
        body = await self.gql(who, query, variables)
        assert "errors" not in body, body
        payload = body["data"][key]
        assert payload["userErrors"] == [], payload
        return payload

    @property
    def runtime(self) -> Any:
        return self.api.app.state.runtime


def gid(type_name: str, pk: int) -> str:
    return to_base64(type_name, pk)


def pk_of(global_id: str) -> int:
    return int(from_base64(global_id)[1])


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def add_subject(
    a: Academics, code: str, name: str, topics: int, *, mission_id: int | None = None,
    batch_id: int | None = None, faculty_id: int | None = None, weeks: int = 8,
) -> tuple[int, list[int]]:  # fmt: skip
    """A subject of ``topics`` topics (two hours each), offered to a mission or a batch from
    four weeks ago for ``weeks`` weeks; its id and its topics' ids in order."""
    today = datetime.now(UTC).date()
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        subject = Subject(code=code, name=name, description="")
        uow.session.add(subject)
        await uow.session.flush()
        ids = []
        for n in range(topics):
            topic = Topic(
                subject_id=subject.id,
                code=f"T{n + 1}",
                title=f"{name} topic {n + 1}",
                position=n,
                estimated_minutes=120,
            )
            uow.session.add(topic)
            await uow.session.flush()
            ids.append(int(topic.id))
        if mission_id is not None or batch_id is not None:
            uow.session.add(
                SubjectOffering(
                    subject_id=subject.id,
                    mission_id=mission_id,
                    batch_id=batch_id,
                    faculty_id=faculty_id,
                    starts_on=today - timedelta(weeks=4),
                    ends_on=today - timedelta(weeks=4) + timedelta(weeks=weeks),
                )
            )
        return int(subject.id), ids


async def add_cohort(a: Academics) -> None:
    today = datetime.now(UTC).date()
    starts, ends = today - timedelta(weeks=6), today + timedelta(weeks=10)
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        batch = Batch(name="Academics batch", code="ACB", starts_on=starts, ends_on=ends)
        uow.session.add(batch)
        await uow.session.flush()
        missions = []
        for code in ("ACB-1", "ACB-2"):
            mission = Mission(
                batch_id=batch.id,
                title=code,
                code=code,
                status="active",
                starts_on=starts,
                ends_on=ends,
            )
            uow.session.add(mission)
            await uow.session.flush()
            missions.append(int(mission.id))
        enrolments = {}
        for who, mission_id in (
            ("student", missions[0]), ("student2", missions[0]), ("student3", missions[1]),
        ):  # fmt: skip
            enrolment = Enrollment(mission_id=mission_id, student_id=a.pks[who])
            uow.session.add(enrolment)
            await uow.session.flush()
            enrolments[who] = int(enrolment.id)
        uow.session.add(
            MentorAssignment(
                enrollment_id=enrolments["student"],
                mission_id=missions[0],
                student_id=a.pks["student"],
                mentor_id=a.pks["mentor"],
            )
        )
    a.pks["batch"], a.pks["mission"], a.pks["mission2"] = batch.id, missions[0], missions[1]


@pytest.fixture
async def academics(api: Api) -> Academics:
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for who, role in PEOPLE:
        ids[who], tokens[who] = await api.create_user(
            f"{who}@example.org", [role], name=f"{who.title()} Person"
        )
    a = Academics(api=api, tokens=tokens, ids=ids)
    for who in ids:
        a.pks[who] = pk_of(ids[who])
    await add_cohort(a)
    a.pks["subject"], a.topics = await add_subject(
        a, "PY", "Python", 4, mission_id=a.pks["mission"], faculty_id=a.pks["faculty"]
    )
    return a
