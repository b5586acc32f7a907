"""The authorization matrix: every query, mutation and subscription of the schema, asked by
every built-in role (and by nobody), about objects inside and outside the asker's reach,
checked against the documented policy in docs/AUTHORIZATION.md.

The operations come from the schema itself, so a new operation without a row in that table
fails `test_every_operation_has_a_row`. Each operation is one test (xdist spreads them);
the objects they are asked about are built once per module, through the API, in a small
programme (tests/test_authorization.py `world`)."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
    is_non_null_type,
)
from strawberry.relay import to_base64

from alumnet.config import Settings, load_settings
from tests.conftest import Api, Mailbox, _truncate

POLICY = Path(__file__).resolve().parent.parent / "docs" / "AUTHORIZATION.md"
ROLES = [
    "ANONYMOUS",
    "STUDENT",
    "ALUMNUS",
    "MENTOR",
    "SRE",
    "MANAGER",
    "DEVELOPER",
    "ADMIN",
    "ADVANCEMENT",
    "FACULTY",
    "ADMISSIONS",
]
ANSWERS = {"yes", "no", "own"}
KINDS = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}
DENIED_CODES = {"UNAUTHENTICATED", "FORBIDDEN"}
# NOT_TAUGHT: a subject (public) not offered to a mission the student takes part in.
HIDDEN_CODES = {"NOT_FOUND", "FORBIDDEN", "NOT_ALLOWED", "NOT_YOURS", "NOT_ENROLLED", "NOT_TAUGHT"}
PERSON = "Matrix"


def graphql_schema() -> GraphQLSchema:
    from alumnet.schema import build_schema

    return build_schema(load_settings({"ALUMNET_ENV": "test"}))._schema


def operations() -> list[tuple[str, str]]:
    """Every root field of the schema, as (kind, name), in the order the tests run them:
    queries, subscriptions, then mutations (the ones that take things away last)."""
    schema = graphql_schema()
    found: list[tuple[str, str]] = []
    for kind, root in [
        ("query", schema.query_type),
        ("subscription", schema.subscription_type),
        ("mutation", schema.mutation_type),
    ]:
        if root is not None:
            found.extend((kind, name) for name in root.fields)
    last = list(LAST)
    return sorted(
        found,
        key=lambda op: (
            op[0] == "mutation",
            last.index(op[1]) if op[1] in LAST else -1,
            found.index(op),
        ),
    )


# Mutations that take away what later checks use (people, tokens, archives): run last, in
# this order (the one that ends every session of its caller at the very end).
LAST = [
    "emailChangeRequest",
    "passwordChange",
    "batchArchive",
    "importRollback",
    "userRolesSet",
    "userSuspend",
    "userMerge",
    "personalDataErase",
    "userDelete",
    "tokenRevoke",
    "sessionRevokeAll",
]


@dataclass(frozen=True)
class Row:
    kind: str
    name: str
    answers: dict[str, str]
    rule: str


def policy() -> dict[tuple[str, str], Row]:
    """docs/AUTHORIZATION.md's table: `| kind | operation | ANONYMOUS | … | rule |`, an answer
    column for each of ROLES, in its order."""
    rows: dict[tuple[str, str], Row] = {}
    header: list[str] | None = None
    for line in POLICY.read_text().splitlines():
        if not line.startswith("|"):
            header = None if not line.strip() else header
            continue
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if cells[:2] == ["kind", "operation"]:
            header = cells
            continue
        if header is None or set(cells[0]) <= {"-", ":", " "}:
            continue
        assert len(cells) == len(header), (
            f"{cells[1]}: {len(cells)} cells, but the header has {len(header)} ({header})"
        )
        answers = dict(zip(header[2 : 2 + len(ROLES)], cells[2 : 2 + len(ROLES)], strict=True))
        assert list(answers) == ROLES, f"the table's columns must be {ROLES}"
        for role, answer in answers.items():
            assert answer in ANSWERS, f"{cells[1]}: {role} says {answer!r}, not one of {ANSWERS}"
        rows[(cells[0], cells[1])] = Row(cells[0], cells[1], answers, cells[-1])
    return rows


def test_every_operation_has_a_row() -> None:
    rows = policy()
    ops = set(operations())
    missing = sorted(ops - set(rows))
    gone = sorted(set(rows) - ops)
    assert not missing, "add a row to docs/AUTHORIZATION.md for each of: " + ", ".join(
        f"| {kind} | {name} | … |" for kind, name in missing
    )
    assert not gone, "remove the rows of operations the schema no longer has: " + ", ".join(
        f"{kind} {name}" for kind, name in gone
    )


# -- the world -------------------------------------------------------------------------------


@dataclass
class World:
    api: Api
    tokens: dict[str, str | None] = field(default_factory=dict)
    # The viewer of each role (None for anonymous): global user ids.
    viewers: dict[str, str | None] = field(default_factory=dict)
    # Objects out of every non-staff viewer's reach, by GraphQL type name.
    outside: dict[str, str] = field(default_factory=dict)
    # Objects in the STUDENT's and MENTOR's reach (their own mission, mentee, conversation).
    inside: dict[str, str] = field(default_factory=dict)
    # Objects that are one role's own only (the STUDENT's and the MENTOR's posts, comments,
    # photos; the reference request the STUDENT made to the MENTOR), by role.
    mine: dict[str, dict[str, str]] = field(default_factory=dict)
    # The batch of the STUDENT's and the MENTOR's mission.
    home_batch: str = ""
    counter: int = 0
    # The global ids of the people who are not in the table (the other student, …).
    others: dict[str, str] = field(default_factory=dict)
    # Teaching sessions logged so far (each on a day of its own: entries never overlap).
    sessions: int = 0

    def next(self) -> int:
        self.counter += 1
        return self.counter


async def _ok(api: Api, token: str | None, query: str, variables: dict[str, Any]) -> Any:
    body = await api.gql(query, variables, token=token)
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    if isinstance(payload, dict) and "userErrors" in payload:
        assert payload["userErrors"] == [], payload
    return payload


@pytest.fixture(scope="module")
async def world(app: Any, settings: Settings, mailbox: Mailbox) -> AsyncIterator[World]:
    _truncate(settings.database_url)
    app.state.runtime.credentials.invalidate(None)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        api = Api(client=client, app=app, settings=settings, mailbox=mailbox)
        yield await _build(api)
        await app.state.dispatcher.queue.drain()


async def _build(api: Api) -> World:
    w = World(api=api, tokens={"ANONYMOUS": None}, viewers={"ANONYMOUS": None})
    people: dict[str, tuple[str, str]] = {}
    for who, role in [
        ("ADMIN", "ADMIN"),
        ("ADVANCEMENT", "ADVANCEMENT"),
        ("FACULTY", "FACULTY"),
        ("ADMISSIONS", "ADMISSIONS"),
        ("DEVELOPER", "DEVELOPER"),
        ("MANAGER", "MANAGER"),
        ("SRE", "SRE"),
        ("MENTOR", "MENTOR"),
        ("STUDENT", "STUDENT"),
        ("ALUMNUS", "ALUMNUS"),
        ("other-student", "STUDENT"),
        ("other-mentor", "MENTOR"),
        ("other-alumnus", "ALUMNUS"),
        ("other-faculty", "FACULTY"),
        ("other-admissions", "ADMISSIONS"),
    ]:
        people[who] = await api.create_user(
            f"matrix-{who.lower()}@example.org", [role], name=f"{PERSON} {who.title()}"
        )
    for role in ROLES[1:]:
        w.viewers[role], w.tokens[role] = people[role]
    admin = w.tokens["ADMIN"]
    w.outside["User"] = people["other-student"][0]
    w.inside["User"] = people["STUDENT"][0]
    for who in ("STUDENT", "other-student"):
        await _ok(
            api,
            people[who][1],
            "mutation($i: ProfileUpdateInput!) { profileUpdate(input: $i) { userErrors "
            "{ code } } }",
            {"i": {"headline": f"{PERSON} headline", "city": "Matrixville"}},
        )
    # Each mission in a batch of its own: a post to the other mission's batch is out of the
    # STUDENT's and the MENTOR's reach.
    batches: dict[str, str] = {}
    for code in ("MX-IN", "MX-OUT"):
        batch = await _ok(
            api,
            admin,
            "mutation($i: BatchCreateInput!) { batchCreate(input: $i) { batch { id } "
            "userErrors { code } } }",
            {"i": {"name": f"Matrix batch {code}", "code": code, "startsOn": "2026-01-01",
                   "endsOn": "2027-12-31"}},
        )  # fmt: skip
        batches[code] = batch["batch"]["id"]
    w.outside["Batch"] = batches["MX-OUT"]
    w.home_batch = batches["MX-IN"]
    for where, code, mentor, student in [
        (w.inside, "MX-IN", "MENTOR", "STUDENT"),
        (w.outside, "MX-OUT", "other-mentor", "other-student"),
    ]:
        mission = await _ok(
            api,
            admin,
            "mutation($i: MissionCreateInput!) { missionCreate(input: $i) { mission { id } "
            "userErrors { code } } }",
            {"i": {"batchId": batches[code], "title": code, "code": code,
                   "status": "ACTIVE"}},
        )  # fmt: skip
        where["Mission"] = mission["mission"]["id"]
        enrolment = await _ok(
            api,
            admin,
            "mutation($m: ID!, $s: ID!) { enrollmentCreate(input: {missionId: $m, studentId: "
            "$s}) { enrollment { id } userErrors { code } } }",
            {"m": where["Mission"], "s": people[student][0]},
        )
        where["Enrollment"] = enrolment["enrollment"]["id"]
        assignment = await _ok(
            api,
            admin,
            "mutation($m: ID!, $s: ID!, $t: ID!) { mentorAssign(input: {missionId: $m, "
            "studentId: $s, mentorId: $t}) { assignment { id } userErrors { code } } }",
            {"m": where["Mission"], "s": people[student][0], "t": people[mentor][0]},
        )
        where["MentorAssignment"] = assignment["assignment"]["id"]
        # A conversation between the mentee and the mentor: another user's, for the rest.
        conversation = await _ok(
            api,
            people[student][1],
            "mutation($u: ID!) { conversationStart(input: {userId: $u}) { conversation { id } "
            "userErrors { code } } }",
            {"u": people[mentor][0]},
        )
        where["Conversation"] = conversation["conversation"]["id"]
        sent = await _ok(
            api,
            people[student][1],
            'mutation($c: ID!) { messageSend(input: {conversationId: $c, body: "Hello '
            'Matrix"}) { message { id } userErrors { code } } }',
            {"c": where["Conversation"]},
        )
        where["Message"] = sent["message"]["id"]
        ticket = await _ok(
            api,
            people[student][1],
            "mutation($m: ID!) { ticketOpen(input: {queue: MENTOR, mentorId: $m, subject: "
            '"Matrix", body: "Matrix ticket"}) { ticket { id } userErrors { code } } }',
            {"m": people[mentor][0]},
        )
        where["Ticket"] = ticket["ticket"]["id"]
        notice = await _ok(
            api,
            admin,
            'mutation($m: ID!) { noticePost(input: {missionId: $m, title: "Matrix", body: '
            '"Matrix notice", priority: NORMAL, kind: NOTICE}) { notice { id } '
            "userErrors { code } } }",
            {"m": where["Mission"]},
        )
        where["Notice"] = notice["notice"]["id"]
    # An export and its job, the admin's: another user's export link and job for the rest.
    exported = await _ok(
        api,
        admin,
        "mutation($m: ID!) { exportCreate(input: {kind: ROSTER, format: CSV, missionId: $m}) "
        "{ job { id } userErrors { code } } }",
        {"m": w.outside["Mission"]},
    )
    w.outside["Job"] = exported["job"]["id"]
    await api.run_jobs()
    files = await _ok(api, admin, "{ exports { edges { node { id } } } }", {})
    w.outside["ExportFile"] = files["edges"][0]["node"]["id"]
    uploaded = await _upload(api, admin, b"email,name\nmatrix-import@example.org,Imported One\n")
    w.outside["Import"] = uploaded["import"]["id"]
    await _more(w, {who: tokens for who, (_, tokens) in people.items()}, people)
    return w


async def _make(
    w: World, token: str | None, name: str, given: dict[str, Any], kind: str | None
) -> str:
    """Run a mutation that must succeed; the global id of the first `kind` it answers (with
    no kind: "")."""
    schema = graphql_schema()
    assert schema.mutation_type is not None
    field_ = schema.mutation_type.fields[name]
    query = (
        f"mutation($i: {field_.args['input'].type}) {{ {name}(input: $i) "
        f"{selection(field_.type)} }}"
    )
    payload = await _ok(w.api, token, query, {"i": given})

    def find(value: Any) -> str | None:
        if isinstance(value, dict):
            if value.get("__typename") == kind and "id" in value:
                return str(value["id"])
            value = list(value.values())
        if isinstance(value, list):
            for item in value:
                found = find(item)
                if found:
                    return found
        return None

    if kind is None:
        return ""
    found = find(payload)
    assert found, f"{name} answered no {kind}: {payload}"
    return found


async def _more(w: World, tokens: dict[str, str], people: dict[str, tuple[str, str]]) -> None:
    """The objects of the other contexts, each out of the non-staff viewers' reach."""
    out = w.outside
    admin = tokens["ADMIN"]
    m = out["Mission"]
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=60)
    later = soon.isoformat().replace("+00:00", "Z")
    out["Assignment"] = await _make(
        w, admin, "assignmentCreate",
        {"missionId": m, "title": "Matrix work", "dueAt": later, "description": "Do it",
         "latePolicy": "ACCEPT_LATE"}, "Assignment",
    )  # fmt: skip
    out["Submission"] = await _make(
        w, tokens["other-student"], "submissionCreate",
        {"assignmentId": out["Assignment"], "content": "Matrix answer"}, "Submission",
    )  # fmt: skip
    out["Meeting"] = await _make(
        w, admin, "meetingCreate", {"missionId": m, "heldOn": "2026-06-01", "topic": "Matrix"},
        "Meeting",
    )  # fmt: skip
    out["Resource"] = await _make(
        w, admin, "resourceCreate",
        {"missionId": m, "title": "Matrix notes", "folder": "Week 1",
         "url": "https://example.org/notes"}, "Resource",
    )  # fmt: skip
    out["IntegrityFlag"] = await _make(
        w, admin, "integrityFlagRaise",
        {"enrollmentId": out["Enrollment"], "kind": "OTHER", "evidence": "Matrix evidence"},
        "IntegrityFlag",
    )  # fmt: skip
    out["IntegrityDecision"] = await _make(
        w, admin, "integrityDecide",
        {"enrollmentId": out["Enrollment"], "kind": "WARN", "reason": "Matrix warning",
         "penaltyPoints": 0}, "IntegrityDecision",
    )  # fmt: skip
    out["Appeal"] = await _make(
        w, tokens["other-student"], "appealSubmit",
        {"decisionId": out["IntegrityDecision"], "statement": "Matrix appeal"}, "Appeal",
    )  # fmt: skip
    out["CallList"] = await _make(
        w, tokens["SRE"], "callListGenerate",
        {"missionId": m, "limit": 10, "title": "Matrix calls"}, "CallList",
    )  # fmt: skip
    out["Announcement"] = await _make(
        w, admin, "announcementPost",
        {"title": "Matrix news", "body": "Matrix body", "priority": "NORMAL", "pinned": False,
         "audience": {"roles": ["MANAGER"], "batchIds": [],
                      "graduationYears": []}}, "Announcement",
    )  # fmt: skip
    await _make(
        w, tokens["MANAGER"], "pageSave",
        {"slug": "matrix-page", "title": "Matrix page", "sections": [{"markdown": "Matrix"}]},
        "Page",
    )  # fmt: skip
    out["Programme"] = await _make(
        w, admin, "programmeCreate",
        {"code": "MXP", "name": "Matrix studies", "firstGraduationYear": 2000}, "Programme",
    )  # fmt: skip
    degree = await _make(
        w,
        tokens["other-student"],
        "degreeAdd",
        {"programmeId": out["Programme"], "graduationYear": 2027},
        "Profile",
    )
    assert degree
    out["Event"] = await _make(
        w, admin, "eventCreate",
        {"title": "Matrix meetup", "kind": "MEETUP", "mode": "ONLINE", "startsAt": later,
         "endsAt": (soon + timedelta(hours=2)).isoformat(), "timeZone": "Europe/London",
         "description": "Matrix", "guestsMax": 0, "joinUrl": "https://example.org/join"},
        "Event",
    )  # fmt: skip
    await _make(
        w, admin, "eventPublish",
        {"id": out["Event"], "wholeSeries": False, "announce": False}, "Event",
    )  # fmt: skip
    out["JobPosting"] = await _make(
        w, tokens["other-alumnus"], "jobPostingCreate",
        {"title": "Matrix job", "company": "Matrix Ltd", "description": "Matrix work",
         "kind": "FULL_TIME", "remote": "REMOTE", "audience": "BOTH", "skills": []},
        "JobPosting",
    )  # fmt: skip
    await _make(
        w,
        admin,
        "jobPostingModerate",
        {"id": out["JobPosting"], "decision": "APPROVE"},
        "JobPosting",
    )
    out["JobApplication"] = await _make(
        w, tokens["other-student"], "jobApplicationCreate",
        {"jobPostingId": out["JobPosting"], "coverNote": "Matrix", "useProfileCv": False},
        "JobApplication",
    )  # fmt: skip
    out["JobPostingSearch"] = await _make(
        w, tokens["other-student"], "jobPostingSearchSave", {"name": "Matrix search"},
        "JobPostingSearch",
    )  # fmt: skip
    out["MentorOffer"] = await _make(
        w, tokens["other-mentor"], "mentorOfferSet",
        {"headline": "Matrix mentor", "topics": [], "offers": ["CAREER_ADVICE"],
         "industries": ["Fintech"], "languages": ["en"], "timeZone": "Europe/London",
         "capacity": 3, "preferredMentee": "BOTH",
         "availability": [{"weekday": 1, "start": "18:00", "end": "20:00"}]}, "MentorOffer",
    )  # fmt: skip
    out["MentorshipRequest"] = await _make(
        w, tokens["other-student"], "mentorshipRequestCreate",
        {"mentorId": out["MentorOffer"], "goals": "Matrix goals"}, "MentorshipRequest",
    )  # fmt: skip
    out["Mentorship"] = await _make(
        w, tokens["other-mentor"], "mentorshipRequestAnswer",
        {"id": out["MentorshipRequest"], "accept": True}, "Mentorship",
    )  # fmt: skip
    out["MentorshipSession"] = await _make(
        w, tokens["other-mentor"], "mentorshipSessionSchedule",
        {"mentorshipId": out["Mentorship"], "startsAt": later, "minutes": 30, "place": "Library"},
        "MentorshipSession",
    )  # fmt: skip
    out["MentorshipGoal"] = await _make(
        w, tokens["other-student"], "mentorshipGoalAdd",
        {"mentorshipId": out["Mentorship"], "title": "Matrix goal"}, "MentorshipGoal",
    )  # fmt: skip
    # An alumnus's offered volunteering (its token kept to offer more: volunteeringDelete).
    w.tokens["other-alumnus"] = tokens["other-alumnus"]
    out["VolunteerEngagement"] = (await _fresh_engagement(w))["VolunteerEngagement"]
    await _community(w, tokens, people)
    await _giving(w, tokens, people)
    await _academics(w, tokens, people)
    await _admissions(w, tokens, people)


async def _giving(w: World, tokens: dict[str, str], people: dict[str, tuple[str, str]]) -> None:
    """Giving: a fund, an active campaign (and a draft one, for giving staff only), the other
    alumnus's confirmed gift (recorded by the ADVANCEMENT, receipted), their pending
    self-reported gift and their monthly pledge: others' gifts and pledges for the rest."""
    out = w.outside
    staff = tokens["ADVANCEMENT"]
    alumnus = tokens["other-alumnus"]
    out["Fund"] = await _make(
        w, staff, "fundCreate", {"code": "MX-FUND", "name": "Matrix scholarships"}, "Fund"
    )
    for status in ("ACTIVE", "DRAFT"):
        made = await _make(
            w, staff, "campaignCreate",
            {"name": f"Matrix appeal {status.lower()}", "currency": "USD", "goal": "10000",
             "startsOn": "2026-01-01", "fundIds": [out["Fund"]], "status": status},
            "Campaign",
        )  # fmt: skip
        if status == "ACTIVE":
            out["Campaign"] = made
    gift = {"amount": "25.50", "currency": "USD", "date": "2026-01-15", "fundId": out["Fund"],
            "campaignId": out["Campaign"], "paymentMethod": "CARD", "anonymous": False}  # fmt: skip
    out["Gift"] = await _make(
        w, staff, "giftRecord", {**gift, "userId": people["other-alumnus"][0]}, "Gift"
    )
    out["PendingGift"] = await _make(w, alumnus, "giftReport", gift, "Gift")
    out["Pledge"] = await _make(
        w, alumnus, "pledgeCreate",
        {"fundId": out["Fund"], "currency": "USD", "instalmentAmount": "10",
         "frequency": "MONTHLY", "instalments": 12, "startsOn": "2026-02-01",
         "anonymous": False}, "Pledge",
    )  # fmt: skip
    await w.api.run_jobs()  # the gift's receipt


def _when(days_ago: int, hour: int = 10) -> str:
    """A UTC moment `days_ago` days back at `hour` o'clock, as GraphQL takes it."""
    day = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return (day - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")


async def _academics(w: World, tokens: dict[str, str], people: dict[str, tuple[str, str]]) -> None:
    """Academics: a subject with a topic offered to each mission (the STUDENT's led by the
    FACULTY, the other student's by the other faculty member), each student's topic progress
    and mark in an assessment of it, a teaching session each faculty member logged, and each
    student's feedback on their subject. The FACULTY's own (`World.mine`): themselves (as
    `facultyId`) and their session; the STUDENT's: their feedback."""
    admin = tokens["ADMIN"]
    today = datetime.now(UTC).date()
    starts = (today - timedelta(days=28)).isoformat()
    ends = (today + timedelta(days=60)).isoformat()
    w.tokens["other-faculty"] = tokens["other-faculty"]
    w.mine["FACULTY"] = {"Faculty": people["FACULTY"][0]}
    w.outside["Faculty"] = people["other-faculty"][0]
    for where, code, faculty, student in [
        (w.inside, "MX-IN", "FACULTY", "STUDENT"),
        (w.outside, "MX-OUT", "other-faculty", "other-student"),
    ]:
        where["Subject"] = await _make(
            w, admin, "subjectCreate",
            {"code": f"{code}-S", "name": f"Matrix subject {code}", "description": "Matrix"},
            "Subject",
        )  # fmt: skip
        where["Topic"] = (await _fresh_topic(w, where["Subject"]))["Topic"]
        where["SubjectOffering"] = await _make(
            w, admin, "subjectOfferingCreate",
            {"subjectId": where["Subject"], "missionId": where["Mission"],
             "facultyId": people[faculty][0], "startsOn": starts, "endsOn": ends},
            "SubjectOffering",
        )  # fmt: skip
        await _make(
            w, tokens[faculty], "topicProgressRecord",
            {"topicId": where["Topic"],
             "entries": [{"studentId": people[student][0], "status": "IN_PROGRESS"}]}, None,
        )  # fmt: skip
        where["Assessment"] = await _make(
            w, tokens[faculty], "assessmentCreate",
            {"topicId": where["Topic"], "kind": "QUIZ", "title": "Matrix quiz",
             "maxMarks": 10, "heldOn": today.isoformat()}, "Assessment",
        )  # fmt: skip
        await _make(
            w, tokens[faculty], "assessmentMarksRecord",
            {"assessmentId": where["Assessment"],
             "entries": [{"studentId": people[student][0], "marks": 7}]}, None,
        )  # fmt: skip
        session = await _fresh_time_entry(w, faculty, where["Subject"])
        feedback = await _make(
            w, tokens[student], "studentFeedbackSubmit",
            {"target": "SUBJECT", "subjectId": where["Subject"], "rating": 4,
             "comment": "Matrix: clear and useful", "anonymous": False}, "StudentFeedback",
        )  # fmt: skip
        if faculty == "FACULTY":
            w.mine["FACULTY"].update(session)
            w.mine["STUDENT"]["StudentFeedback"] = feedback
        else:
            w.outside.update(session)
            w.outside["StudentFeedback"] = feedback
    await w.api.run_jobs()  # the feedback's sentiment


async def _fresh_topic(w: World, subject: str | None = None) -> dict[str, str]:
    made = await _make(
        w, w.tokens["ADMIN"], "topicCreate",
        {"subjectId": subject or w.outside["Subject"], "code": f"MX{w.next()}",
         "title": "Matrix topic", "description": "Matrix", "estimatedHours": 2}, "Topic",
    )  # fmt: skip
    return {"Topic": made}


async def _fresh_offering(w: World) -> dict[str, str]:
    """A new subject offered to the other mission (a subject is offered to a mission once)."""
    today = datetime.now(UTC).date()
    n = w.next()
    subject = await _make(
        w, w.tokens["ADMIN"], "subjectCreate",
        {"code": f"MX-S{n}", "name": f"Matrix subject {n}", "description": "Matrix"}, "Subject",
    )  # fmt: skip
    made = await _make(
        w, w.tokens["ADMIN"], "subjectOfferingCreate",
        {"subjectId": subject, "missionId": w.outside["Mission"],
         "startsOn": today.isoformat(), "endsOn": (today + timedelta(days=60)).isoformat()},
        "SubjectOffering",
    )  # fmt: skip
    return {"SubjectOffering": made}


async def _fresh_time_entry(
    w: World, role: str = "other-faculty", subject: str | None = None
) -> dict[str, str]:
    """A teaching hour the faculty member logged, on a day of its own (entries never
    overlap): the other faculty member's, or the FACULTY's own."""
    if subject is None:
        subject = w.outside["Subject"] if role == "other-faculty" else w.inside["Subject"]
    w.sessions += 1
    days = 1 + w.sessions
    made = await _make(
        w, w.tokens[role], "facultyTimeLog",
        {"kind": "TEACHING", "startedAt": _when(days), "endedAt": _when(days, 11),
         "subjectId": subject, "note": "Matrix session"}, "FacultyTimeEntry",
    )  # fmt: skip
    return {"FacultyTimeEntry": made}


async def _admissions(w: World, tokens: dict[str, str], people: dict[str, tuple[str, str]]) -> None:
    """Admissions: an inquiry the ADMISSIONS counsels, with a call logged and a follow-up
    task assigned to them (their own, `World.mine`) and one assigned to another counsellor:
    out of everyone's reach but the admissions office's."""
    office = tokens["ADMISSIONS"]
    w.others["other-admissions"] = people["other-admissions"][0]
    w.outside["Inquiry"] = await _make(
        w, office, "inquiryCreate",
        {"name": "Matrix Prospect", "email": "matrix-prospect@example.org",
         "source": "WALK_IN", "programmeId": w.outside["Programme"],
         "counsellorId": people["ADMISSIONS"][0]}, "Inquiry",
    )  # fmt: skip
    await _make(
        w, office, "inquiryActivityLog",
        {"id": w.outside["Inquiry"], "kind": "CALL", "summary": "Matrix call"}, None,
    )  # fmt: skip
    w.mine["ADMISSIONS"] = await _fresh_task(w, w.viewers["ADMISSIONS"])
    w.outside["InquiryTask"] = (await _fresh_task(w))["InquiryTask"]


async def _fresh_task(w: World, assignee: str | None = None) -> dict[str, str]:
    """A follow-up task of the inquiry: the other counsellor's, or the one given's."""
    made = await _make(
        w, w.tokens["ADMISSIONS"], "inquiryTaskCreate",
        {"inquiryId": w.outside["Inquiry"], "title": f"Matrix call back {w.next()}",
         "dueAt": _when(-3), "assigneeId": assignee or w.others["other-admissions"]},
        "InquiryTask",
    )  # fmt: skip
    return {"InquiryTask": made}


async def _community(w: World, tokens: dict[str, str], people: dict[str, tuple[str, str]]) -> None:
    """The other student's post (to the other mission's batch only: moderators and that
    batch's people read it), their comment on it and a moderator's warning about that
    comment, their photo (ready, not their profile photo) and their pending reference
    request to the other mentor. The STUDENT's and the MENTOR's own (`World.mine`): a post
    to their batch, a comment on it, a photo, and the STUDENT's request to the MENTOR."""
    out = w.outside
    # The other student's token kept to post and comment more (postDelete, commentDelete).
    w.tokens["other-student"] = tokens["other-student"]
    out["Post"] = (await _fresh_post(w))["Post"]
    out["Comment"] = (await _fresh_comment(w))["Comment"]
    # The STUDENT's and the MENTOR's own: a post to their batch, a comment on it, a photo.
    for role in ("STUDENT", "MENTOR"):
        w.mine[role] = await _fresh_post(w, role)
        w.mine[role].update(await _fresh_comment(w, role))
        w.mine[role]["Photo"] = await _photo(w.api, tokens[role])
    asked = await _make(
        w, tokens["STUDENT"], "referenceRequestCreate",
        {"writerId": people["MENTOR"][0], "purpose": "Matrix reference",
         "deadline": (datetime.now(UTC) + timedelta(days=90)).date().isoformat(),
         "recipientEmail": "matrix-hr@example.org"},
        "ReferenceRequest",
    )  # fmt: skip
    for role in ("STUDENT", "MENTOR"):
        w.mine[role]["ReferenceRequest"] = asked
    out["CommunityWarning"] = await _make(
        w, tokens["ADMIN"], "moderationResolve",
        {"commentId": out["Comment"], "action": "WARN", "note": "Matrix warning"},
        "CommunityWarning",
    )  # fmt: skip
    out["Photo"] = await _photo(w.api, tokens["other-student"])
    out["ReferenceRequest"] = await _make(
        w, tokens["other-student"], "referenceRequestCreate",
        {"writerId": people["other-mentor"][0], "purpose": "Matrix reference",
         "deadline": (datetime.now(UTC) + timedelta(days=90)).date().isoformat(),
         "recipientName": "Matrix Ltd", "recipientEmail": "matrix-hr@example.org"},
        "ReferenceRequest",
    )  # fmt: skip


async def _photo(api: Api, token: str) -> str:
    """A photo uploaded (GraphQL multipart) and made ready by its job."""
    from PIL import Image

    image = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 10)).save(image, "PNG")
    query = (
        "mutation($i: PhotoUploadInput!) { photoUpload(input: $i) { photo { id } "
        "userErrors { code } } }"
    )
    response = await api.client.post(
        "/graphql",
        data={
            "operations": json.dumps(
                {"query": query, "variables": {"i": {"file": None, "purpose": "PROFILE"}}}
            ),
            "map": json.dumps({"0": ["variables.i.file"]}),
        },
        files={"0": ("matrix.png", image.getvalue(), "image/png")},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert "errors" not in body and body["data"]["photoUpload"]["userErrors"] == [], body
    await api.run_jobs()
    photo = str(body["data"]["photoUpload"]["photo"]["id"])
    found = await api.gql(
        "query($id: ID!) { node(id: $id) { ... on Photo { status } } }", {"id": photo}, token=token
    )
    assert found["data"]["node"] == {"status": "READY"}, found
    return photo


async def _upload(api: Api, token: str | None, content: bytes) -> Any:
    body = await _post_upload(api, token, content)
    assert "errors" not in body, body
    payload = body["data"]["importUpload"]
    assert payload["userErrors"] == [], payload
    return payload


async def _post_upload(api: Api, token: str | None, content: bytes) -> Any:
    query = (
        "mutation($i: ImportUploadInput!) { importUpload(input: $i) { import { id } "
        "userErrors { code message } } }"
    )
    variables = {"i": {"file": None, "kind": "ALUMNI", "dryRun": True}}
    response = await api.client.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": query, "variables": variables}),
            "map": json.dumps({"0": ["variables.i.file"]}),
        },
        files={"0": ("matrix.csv", content, "text/csv")},
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    return response.json()


# -- requests generated from the schema ------------------------------------------------------

# What an ID argument names, from the argument's own name, when it says so.
ID_TYPES = {
    "missionId": "Mission",
    "batchId": "Batch",
    "studentId": "User",
    "studentIds": "User",
    "mentorId": "User",
    "userId": "User",
    "fromMentorId": "User",
    "toMentorId": "User",
    "assignedToId": "User",
    "keepId": "User",
    "mergeId": "User",
    "recipientId": "User",
    "enrollmentId": "Enrollment",
    "conversationId": "Conversation",
    "upToMessageId": "Message",
    "ticketId": "Ticket",
    "noticeId": "Notice",
    "importId": "Import",
    "meetingId": "Meeting",
    "assignmentId": "Assignment",
    "submissionId": "Submission",
    "decisionId": "IntegrityDecision",
    "appealId": "Appeal",
    "flagId": "IntegrityFlag",
    "callListId": "CallList",
    "degreeId": "Degree",
    "academicRecordOf": "User",
    "programmeId": "Programme",
    "jobPostingId": "JobPosting",
    "eventId": "Event",
    "mentorshipId": "Mentorship",
    "sessionId": "MentorshipSession",
    "roleId": "CustomRole",
    "postId": "Post",
    "commentId": "Comment",
    "photoId": "Photo",
    "fundId": "Fund",
    "fundIds": "Fund",
    "campaignId": "Campaign",
    "giftId": "Gift",
    "pledgeId": "Pledge",
    "subjectId": "Subject",
    "subjectIds": "Subject",
    "topicId": "Topic",
    "topicIds": "Topic",
    "prerequisiteIds": "Topic",
    "assessmentId": "Assessment",
    "facultyId": "Faculty",
    "inquiryId": "Inquiry",
}
# What `id` names, from the operation's name (longest prefix first).
ID_BY_OPERATION = {
    "personalAccessToken": "PersonalAccessToken",
    "session": "Session",
    "role": "CustomRole",
    "user": "User",
    "batch": "Batch",
    "mission": "Mission",
    "enrollment": "Enrollment",
    "assignment": "Assignment",
    "resource": "Resource",
    "certificate": "Certificate",
    "followUp": "FollowUp",
    "notice": "Notice",
    "announcement": "Announcement",
    "duplicate": "DuplicateCandidate",
    "jobPostingSearch": "JobPostingSearch",
    "jobPosting": "JobPosting",
    "jobApplication": "JobApplication",
    "company": "Company",
    "event": "Event",
    "mentorshipRequest": "MentorshipRequest",
    "mentorshipSession": "MentorshipSession",
    "mentorshipGoal": "MentorshipGoal",
    "mentorship": "Mentorship",
    "jobUpdated": "Job",
    "notification": "Notification",
    "volunteering": "VolunteerEngagement",
    "post": "Post",
    "comment": "Comment",
    "reference": "ReferenceRequest",
    "fund": "Fund",
    "campaign": "Campaign",
    "gift": "Gift",
    "pledge": "Pledge",
    "subjectOffering": "SubjectOffering",
    "subject": "Subject",
    "topic": "Topic",
    "facultyTimeEntry": "FacultyTimeEntry",
    "inquiryTask": "InquiryTask",
    "inquiry": "Inquiry",
}


# Where an argument's name says otherwise for one operation.
ID_TYPES_OF = {
    ("mentorshipRequestCreate", "mentorId"): "MentorOffer",
    # An alumnus (the world's `User` is a student): only the gate is checked.
    ("volunteeringRecord", "userId"): "Alumnus",
    # The world's `User` (a student, not a writer): a held person, so `yes` is checked.
    ("referenceRequestCreate", "writerId"): "User",
    # One's own ready photos: only the gate is checked (others' are refused, NOT_FOUND).
    ("postCreate", "imageIds"): "own Photo",
    # A fund anyone may give to: a pledge is one's own by its donor (oneself), not its fund;
    # only the gate is checked.
    ("pledgeCreate", "fundId"): "any Fund",
    # The other faculty member, about whom the other student's feedback is.
    ("feedbackSummary", "recipientId"): "Faculty",
}


def id_type(operation: str, name: str) -> str:
    if (operation, name) in ID_TYPES_OF:
        return ID_TYPES_OF[(operation, name)]
    if name in ID_TYPES:
        return ID_TYPES[name]
    for prefix in sorted(ID_BY_OPERATION, key=len, reverse=True):
        if operation.startswith(prefix):
            return ID_BY_OPERATION[prefix]
    # Unknown: named as such, so that only the gate is checked (add it above to do better).
    return f"unknown {operation}.{name}"


@dataclass
class Request:
    query: str
    variables: dict[str, Any]
    # The types of the objects it names, and whether each is one the world holds.
    names: list[tuple[str, bool]]


def _leaf(type_: GraphQLScalarType | GraphQLEnumType, name: str, w: World, pick: str) -> Any:
    if isinstance(type_, GraphQLEnumType):
        values = list(type_.values)
        return values[0]
    lowered = name.lower()
    if pick == "feed" and name == "first":
        return 100  # the whole feed (a page of one would show only the newest post)
    match type_.name:
        case "Int":
            return 1
        case "Float":
            return 1.0
        case "Boolean":
            return name in {"dryRun", "mine"}
        case "Date":
            return "2026-06-01"
        case "DateTime":
            return "2030-06-01T10:00:00Z"
        case "Decimal":
            return "1000"
        case "JSON":
            return {}
        case "Upload":
            return None
    if "email" in lowered:
        return f"matrix-new-{w.next()}@example.org"
    if "url" in lowered:
        return "https://example.org/matrix"
    if "password" in lowered:
        return "a wrong horse battery"
    if lowered == "timezone":
        return "Europe/London"
    if lowered == "slug" and pick.startswith("page"):
        return "matrix-page"  # the world's public page
    if lowered == "query" and pick == "bulkQueryRun":
        return "query { batches(first: 1) { edges { node { id } } } }"
    if lowered in {"start", "end"}:
        return "09:00" if lowered == "start" else "10:00"
    return f"Matrix {name} {w.next()}"


def _value(
    type_: Any, name: str, operation: str, w: World, where: dict[str, str], named: list[Any]
) -> Any:
    if is_non_null_type(type_):
        return _value(type_.of_type, name, operation, w, where, named)
    if isinstance(type_, GraphQLList):
        inner = _value(type_.of_type, name, operation, w, where, named)
        return [] if inner is None else [inner]
    if isinstance(type_, GraphQLInputObjectType):
        return {
            n: _value(f.type, n, operation, w, where, named)
            for n, f in type_.fields.items()
            if is_non_null_type(f.type) or n in OPTIONAL_IDS.get(operation, ())
        }
    if isinstance(type_, GraphQLScalarType) and type_.name == "ID":
        kind = id_type(operation, name)
        held = kind in where
        named.append((kind, held))
        return where.get(kind) or to_base64(kind, 999_999)
    return _leaf(type_, name, w, operation)


# Optional ID fields worth naming (the object the operation acts on).
OPTIONAL_IDS: dict[str, tuple[str, ...]] = {
    "messageSend": ("conversationId",),
    "profileUpdate": ("userId",),
    "degreeAdd": ("userId",),
    "personalAccessTokenCreate": ("userId",),
    "verificationDecide": ("academicRecordOf",),
    "ticketOpen": ("mentorId",),
    "noticePost": ("missionId",),
    "atRiskRefresh": ("missionId",),
    "callListGenerate": ("missionId",),
    "exportCreate": ("missionId",),
    "outreachDashboard": ("missionId",),
    "applicationUpdated": ("jobPostingId",),
    "profilePhotoSet": ("photoId",),
    "contentReport": ("commentId",),
    "moderationResolve": ("postId",),
    "studentFeedbackSubmit": ("subjectId",),
    "facultyUtilisation": ("facultyId",),
    "facultyTimeLog": ("facultyId",),
    "feedbackSummary": ("recipientId",),
}


def selection(type_: Any, depth: int = 0) -> str:
    """Enough of a result to tell allowed from hidden: ids, codes, and the way to them."""
    named = get_named_type(type_)
    if is_leaf_type(named):
        return ""
    if isinstance(named, GraphQLUnionType):
        return "{ __typename }"
    assert isinstance(named, GraphQLObjectType | GraphQLInterfaceType)
    picked = ["__typename"]
    for name, f in named.fields.items():
        if any(is_non_null_type(a.type) for a in f.args.values()):
            continue
        inner = get_named_type(f.type)
        if is_leaf_type(inner):
            if name in {"id", "code", "totalCount", "message"}:
                picked.append(name)
        elif depth < 2 and (name in {"userErrors", "edges", "node"} or _is_node(inner)):
            sub = selection(f.type, depth + 1)
            if sub:
                picked.append(f"{name} {sub}")
    return "{ " + " ".join(picked) + " }"


def _is_node(type_: Any) -> bool:
    return isinstance(type_, GraphQLObjectType) and any(i.name == "Node" for i in type_.interfaces)


def request(kind: str, name: str, w: World, where: dict[str, str]) -> Request:
    schema = graphql_schema()
    root = {"query": schema.query_type, "mutation": schema.mutation_type,
            "subscription": schema.subscription_type}[kind]  # fmt: skip
    assert root is not None
    f: GraphQLField = root.fields[name]
    named: list[tuple[str, bool]] = []
    variables: dict[str, Any] = {}
    declared: list[str] = []
    passed: list[str] = []
    for arg_name, arg in f.args.items():
        if not is_non_null_type(arg.type) and arg_name not in OPTIONAL_IDS.get(name, ()):
            continue
        variables[arg_name] = _value(arg.type, arg_name, name, w, where, named)
        declared.append(f"${arg_name}: {arg.type}")
        passed.append(f"{arg_name}: ${arg_name}")
    if name == "node":
        # One object of every kind the world holds: `own` means the outside one is null.
        variables = {"id": where.get("Conversation")}
        named = [("Conversation", True)]
    if name == "certificateVerify":
        named = [("Certificate", False)]
    if name == "nodes":
        variables = {"ids": [where.get("Conversation")]}
        named = [("Conversation", True)]
    head = f"{kind} Matrix({', '.join(declared)})" if declared else kind
    args = f"({', '.join(passed)})" if passed else ""
    return Request(f"{head} {{ {name}{args} {selection(f.type)} }}", variables, named)


# -- classification --------------------------------------------------------------------------


def outcome(body: dict[str, Any], name: str) -> str:
    """`denied` (refused with UNAUTHENTICATED/FORBIDDEN), `hidden` (the object named is not
    found or is null for this viewer) or `allowed` (anything else, a userError included)."""
    codes = {str((e.get("extensions") or {}).get("code")) for e in body.get("errors") or []}
    if codes & DENIED_CODES:
        return "denied"
    data = (body.get("data") or {}).get(name)
    if codes:
        return "error:" + ",".join(sorted(codes))
    if data is None or (isinstance(data, list) and data and all(d is None for d in data)):
        return "hidden"
    if isinstance(data, dict):
        errors = data.get("userErrors") or []
        if errors and {e.get("code") for e in errors} <= HIDDEN_CODES:
            return "hidden"
    return "allowed"


async def ask(w: World, kind: str, name: str, role: str, where: dict[str, str]) -> tuple[str, Any]:
    made = request(kind, name, w, where)
    token = w.tokens[role]
    if kind == "subscription":
        return await _subscribe(w, role, made)
    if name in FRESH_SESSION and token is not None:
        # Its own session, so that what it ends is not the one the other checks use.
        token = await w.api.sign_in(f"matrix-{role.lower()}@example.org")
    if name == "importUpload":
        body = await _post_upload(w.api, token, b"email,name\nmatrix-x@example.org,X Y\n")
    else:
        body = await w.api.gql(made.query, made.variables, token=token)
    return outcome(body, name), body


# Operations that end the session they are sent with.
FRESH_SESSION = {"tokenRevoke", "sessionRevokeAll", "sessionRevoke"}


async def _subscribe(w: World, role: str, made: Request) -> tuple[str, Any]:
    """The subscription executed in-process with the viewer's context, as the WebSocket
    handler does: refused at once, or waiting for events (allowed)."""
    from alumnet.domain.identity.auth import authenticate
    from alumnet.schema.context import Context

    runtime = w.api.app.state.runtime
    token = w.tokens[role]
    found = await authenticate(runtime, runtime.database, token)
    context = Context(runtime=runtime, viewer=found.viewer, bearer=token)
    schema = w.api.app.state.schema if hasattr(w.api.app.state, "schema") else None
    if schema is None:
        from alumnet.schema import build_schema

        schema = build_schema(w.api.settings)
    result = await schema.subscribe(made.query, variable_values=made.variables,
                                    context_value=context)  # fmt: skip
    if not hasattr(result, "__anext__"):
        body = {"errors": [e.formatted for e in result.errors or []], "data": result.data}
        return outcome(body, _field_of(made.query)), body
    # Allowed means listening: the subscription entered the bus. A refusal comes before
    # that, however slow a loaded machine makes it; after it, a moment for a late one.
    listening = asyncio.Event()
    _LISTENING.set(listening)
    _spy_on_bus(runtime)
    following = asyncio.ensure_future(result.__anext__())
    entered = asyncio.ensure_future(listening.wait())
    try:
        await asyncio.wait({following, entered}, timeout=30,
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if not following.done():
            await asyncio.wait({following}, timeout=0.3)
        if not following.done():
            return "allowed", None
        try:
            first = following.result()
        except StopAsyncIteration:
            # Ended before any event: the object is not one this viewer may watch.
            return "hidden", None
    finally:
        entered.cancel()
        following.cancel()
        await asyncio.gather(following, entered, return_exceptions=True)
        await result.aclose()
    body = {"errors": [e.formatted for e in first.errors or []], "data": first.data}
    return outcome(body, _field_of(made.query)), body


_LISTENING: contextvars.ContextVar[asyncio.Event] = contextvars.ContextVar("listening")


def _spy_on_bus(runtime: Any) -> None:
    """Each subscription entering the bus says so to the check that started it."""
    bus = runtime.bus
    if getattr(bus, "_matrix_spy", False):
        return
    subscription = bus.subscription

    @asynccontextmanager
    async def spied(channel: str) -> AsyncIterator[Any]:
        async with subscription(channel) as events:
            listening = _LISTENING.get(None)
            if listening is not None:
                listening.set()
            yield events

    bus.subscription = spied
    bus._matrix_spy = True


def _field_of(query: str) -> str:
    match = re.search(r"\{\s*(\w+)", query)
    assert match
    return match.group(1)


# -- the matrix ------------------------------------------------------------------------------


def _expected(answer: str, names: list[tuple[str, bool]], outside: bool) -> set[str]:
    """What the table's answer means for a request naming these objects."""
    if answer == "no":
        # Refused, or the object is not found for them: either way nothing changes and
        # nothing is revealed.
        return {"denied", "hidden"}
    held = [h for _, h in names]
    if answer == "own" and outside and held and all(held):
        return {"denied", "hidden"}
    if not all(held):
        # An object the world does not hold: only the gate (denied or not) is checked.
        return {"allowed", "hidden"}
    return {"allowed"}


# Queries of one's own thing that answer null while one has none (`myGiving` before one's
# first gift): null is their allowed answer, not a refusal.
NULL_WHEN_NONE = frozenset({"myGiving"})
# Lists about the object they name that answer empty (not null) when the viewer may read
# none of it (a student's topics, a subject's progress and assessments, a faculty member's
# time, the feedback about someone): empty is their hidden answer. Each list is asked
# where the world holds something to show to those who may read it.
EMPTY_WHEN_HIDDEN = frozenset(
    {"topicProgress", "subjectProgress", "assessments", "facultyTimeEntries", "feedbackSummary"}
)
# Figures without ids (a trend of every period, zeros included): `yes` and `own` are told
# apart by the words of the table only.
FIGURES = frozenset({"feedbackSentimentTrend"})


def _empty(body: dict[str, Any], name: str) -> bool:
    data = (body.get("data") or {}).get(name)
    return data == [] or (isinstance(data, dict) and data.get("totalCount") == 0)


@pytest.mark.parametrize(("kind", "name"), operations(), ids=lambda v: v)
async def test_policy(world: World, kind: str, name: str) -> None:
    if os.environ.get("MATRIX_DUMP"):
        await _dump(world, kind, name, Path(os.environ["MATRIX_DUMP"]))
        return
    row = policy().get((kind, name))
    if row is None:
        pytest.fail(f"no row in docs/AUTHORIZATION.md for {kind} {name}")
    # Others' objects where the world has them; the viewer's own ones where it has those.
    outside = {**world.inside, **world.outside}
    inside = {**world.outside, **world.inside}
    wrong: list[str] = []
    # A list some see whole (`yes`) and others only in part (`own`): the whole must show.
    mixed = kind == "query" and {"yes", "own"} <= set(row.answers.values())

    async def check(role: str) -> None:
        answer = row.answers[role]
        own = {**inside, "User": str(world.viewers[role])} if name in ABOUT_ONESELF else inside
        own = {**own, **world.mine.get(role, {})}
        if name in FRESH_MINE and role in FRESH_MINE[name][1]:
            make, _ = FRESH_MINE[name]
            own = {**own, **await make(world, role)}
        mine = request(kind, name, world, own)
        # The STUDENT's and the MENTOR's reach, and what is each role's own (the FACULTY's).
        reach = {**(world.inside if role in {"STUDENT", "MENTOR"} else {}),
                 **world.mine.get(role, {})}  # fmt: skip
        if answer == "own" and role in world.mine and all(k in reach for k, _ in mine.names):
            got, body = await ask(world, kind, name, role, own)
            if name in NULL_WHEN_NONE and got == "hidden":
                got = "allowed"
            if name in EMPTY_WHEN_HIDDEN and got == "allowed" and _empty(body, name):
                got = "hidden"
            if got not in _expected(answer, mine.names, outside=False):
                wrong.append(f"{role} (own objects): table says own, got {got}: {body}")
        others = outside
        if name in FRESH:
            # It takes its object away: each role is asked about a new one.
            others = {**outside, **await FRESH[name](world)}
        made = request(kind, name, world, others)
        got, body = await ask(world, kind, name, role, others)
        if name in NULL_WHEN_NONE and got == "hidden" and role != "ANONYMOUS":
            got = "allowed"  # one's own, of which one has none yet
        if name in EMPTY_WHEN_HIDDEN and got == "allowed" and _empty(body, name):
            got = "hidden"
        if got not in _expected(answer, made.names, outside=True):
            wrong.append(f"{role}: table says {answer}, got {got}: {str(body)[:300]}")
        elif answer == "own" and not made.names and _names_outside(world, body):
            named = _named(world, json.dumps(body))
            wrong.append(f"{role}: table says own, but the answer names others' {named}: {body}")
        elif (
            answer == "yes"
            and not made.names
            and mixed
            and name not in FIGURES
            and not _names_outside(world, body)
        ):
            wrong.append(
                f"{role}: table says yes (not own), but the answer names no others': {body}"
            )

    if kind == "subscription":
        # Each waits a moment for a refusal: all roles at once.
        await asyncio.gather(*(check(role) for role in ROLES))
    else:
        for role in ROLES:
            await check(role)
    assert not wrong, f"{kind} {name}:\n" + "\n".join(wrong)


async def _dump(w: World, kind: str, name: str, path: Path) -> None:
    """MATRIX_DUMP=file: what each role gets (own objects, then others'), appended as JSON
    lines: the raw material for a new row of the table."""
    inside = {**w.outside, **w.inside}
    outside = {**w.inside, **w.outside}
    names = request(kind, name, w, inside).names
    seen: dict[str, Any] = {"kind": kind, "name": name, "names": names}
    seen["own"] = all(k in w.inside for k, _ in names)
    for role in ROLES:
        got_in, _ = await ask(w, kind, name, role, {**inside, **w.mine.get(role, {})})
        got_out, body = await ask(w, kind, name, role, outside)
        seen[role] = [got_in, got_out, str(body)[:400], _names_outside(w, body)]
    with path.open("a") as out:
        out.write(json.dumps(seen) + "\n")


async def _fresh_resource(w: World) -> dict[str, str]:
    made = await _make(
        w, w.tokens["ADMIN"], "resourceCreate",
        {"missionId": w.outside["Mission"], "title": f"Matrix notes {w.next()}",
         "folder": "Week 1", "url": "https://example.org/notes"}, "Resource",
    )  # fmt: skip
    return {"Resource": made}


# Operations whose `userId` is, for one's own objects, oneself (not one's mentee).
ABOUT_ONESELF = {"personalAccessTokenCreate", "profileUpdate", "degreeAdd"}


async def _fresh_engagement(w: World) -> dict[str, str]:
    made = await _make(
        w, w.tokens["other-alumnus"], "volunteeringOffer",
        {"kind": "SPEAKING", "title": f"Matrix talk {w.next()}", "occurredOn": "2026-06-01",
         "hours": "1.5"}, "VolunteerEngagement",
    )  # fmt: skip
    return {"VolunteerEngagement": made}


async def _fresh_post(w: World, role: str = "other-student") -> dict[str, str]:
    """A post to the author's batch only: the other student's, or one of the role's own."""
    batch = w.outside["Batch"] if role == "other-student" else w.home_batch
    made = await _make(
        w, w.tokens[role], "postCreate",
        {"body": f"Matrix post {w.next()}",
         "audience": {"roles": [], "batchIds": [batch], "graduationYears": []}},
        "Post",
    )  # fmt: skip
    return {"Post": made}


async def _fresh_comment(w: World, role: str = "other-student") -> dict[str, str]:
    post = w.outside["Post"] if role == "other-student" else w.mine[role]["Post"]
    made = await _make(
        w, w.tokens[role], "commentCreate",
        {"postId": post, "body": f"Matrix comment {w.next()}"}, "Comment",
    )  # fmt: skip
    return {"Comment": made}


# Mutations that delete (or hide) the object they name, and how to make another.
FRESH = {
    "resourceDelete": _fresh_resource,
    "volunteeringDelete": _fresh_engagement,
    "postDelete": _fresh_post,
    "commentDelete": _fresh_comment,
    "moderationResolve": _fresh_post,
    "topicDelete": _fresh_topic,
    "subjectOfferingDelete": _fresh_offering,
    "facultyTimeEntryDelete": _fresh_time_entry,
    "inquiryTaskDelete": _fresh_task,
}
# The same for one's own objects (the STUDENT's, the MENTOR's and the FACULTY's).
FRESH_MINE = {
    "postDelete": (_fresh_post, {"STUDENT", "MENTOR"}),
    "commentDelete": (_fresh_comment, {"STUDENT", "MENTOR"}),
    "facultyTimeEntryDelete": (_fresh_time_entry, {"FACULTY"}),
}


def _names_outside(w: World, body: Any) -> bool:
    """Whether an answer names an object outside the role's reach (for list operations)."""
    text = json.dumps(body)
    return bool(_named(w, text))


def _named(w: World, text: str) -> list[str]:
    """The kinds of the world's outside objects whose ids appear (whole) in a JSON text."""
    return [k for k, gid in w.outside.items() if k not in SHARED and f'"{gid}"' in text]


# Objects of the world that everyone may see: the one batch, the programme, the approved
# job posting, the mentor's public offer, the published event, the fund and the active
# campaign; the subjects and topics (anyone signed in reads them) and faculty members.
SHARED = {
    "Batch",
    "Programme",
    "JobPosting",
    "MentorOffer",
    "Event",
    "Fund",
    "Campaign",
    "Subject",
    "Topic",
    "Faculty",
}
