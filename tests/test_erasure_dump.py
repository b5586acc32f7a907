"""After a person is erased (`personalDataErase`, their own request, or `userDelete` by an
admin), a `pg_dump` of the whole database holds none of the distinctive strings they
left: profile, phone, work history, achievements, links, messages, tickets, mentorship
requests and notes, an SRE's call list and call log, an import of their row, and what all
that sent to others (notifications)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import make_url

from tests.conftest import PASSWORD, TEST_DATABASE_URL, Api

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL or shutil.which("pg_dump") is None,
    reason="pg_dump of PostgreSQL: runs on the PostgreSQL + Redis run of the suite",
)


async def _ok(api: Api, token: str, query: str, variables: dict[str, Any]) -> Any:
    body = await api.gql(query, variables, token=token)
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    assert payload.get("userErrors", []) == [], payload
    return payload


# Their phone number (a drama number, as phone numbers go): in the clear nowhere after.
PHONE = "+44 20 7946 0958"


async def _leave_traces(api: Api, who: str, mark: str) -> tuple[str, str, str]:
    """A student, their mentor, and an admin; the student leaves `mark` everywhere they can."""
    _admin_id, admin = await api.create_user(f"admin-{who}@example.org", ["ADMIN"])
    mentor_id, mentor = await api.create_user(f"mentor-{who}@example.org", ["MENTOR"])
    email = f"{mark.lower()}@example.org"
    person_id, person = await api.create_user(email, ["STUDENT"], name=f"{mark} Person")
    await _ok(
        api,
        admin,
        "mutation($i: UserUpdateInput!) { userUpdate(input: $i) { userErrors { code } } }",
        {"i": {"id": person_id, "phone": PHONE}},
    )
    await _ok(
        api,
        person,
        "mutation($i: ProfileUpdateInput!) { profileUpdate(input: $i) { userErrors { code } } }",
        {"i": {"headline": f"{mark} headline", "bio": f"{mark} bio", "city": f"{mark}ville",
               "jobTitle": f"{mark} engineer", "company": f"{mark} Ltd",
               "workHistory": [{"company": f"{mark} Works", "title": f"{mark} intern",
                                "startedOn": "2024-01-01"}],
               "achievements": [{"title": f"{mark} prize", "description": f"{mark} won"}],
               "socialLinks": [{"kind": "WEBSITE", "url": f"https://{mark.lower()}.example.org"}]}},
    )  # fmt: skip
    batch = await _ok(
        api,
        admin,
        "mutation($i: BatchCreateInput!) { batchCreate(input: $i) { batch { id } userErrors "
        "{ code } } }",
        {"i": {"name": f"Batch {who}", "code": who.upper(), "startsOn": "2026-01-01",
               "endsOn": "2027-12-31"}},
    )  # fmt: skip
    mission = await _ok(
        api,
        admin,
        "mutation($i: MissionCreateInput!) { missionCreate(input: $i) { mission { id } "
        "userErrors { code } } }",
        {"i": {"batchId": batch["batch"]["id"], "title": who, "code": f"{who.upper()}-1",
               "status": "ACTIVE"}},
    )  # fmt: skip
    m = mission["mission"]["id"]
    await _ok(
        api,
        admin,
        "mutation($m: ID!, $s: ID!) { enrollmentCreate(input: {missionId: $m, studentId: $s})"
        " { userErrors { code } } }",
        {"m": m, "s": person_id},
    )
    await _ok(
        api,
        admin,
        "mutation($m: ID!, $s: ID!, $t: ID!) { mentorAssign(input: {missionId: $m, studentId:"
        " $s, mentorId: $t}) { userErrors { code } } }",
        {"m": m, "s": person_id, "t": mentor_id},
    )
    await _ok(
        api,
        person,
        "mutation($u: ID!, $b: String!) { messageSend(input: {recipientId: $u, body: $b}) "
        "{ userErrors { code } } }",
        {"u": mentor_id, "b": f"{mark} message"},
    )
    await _ok(
        api,
        person,
        "mutation($m: ID!, $b: String!) { ticketOpen(input: {queue: MENTOR, mentorId: $m, "
        "subject: $b, body: $b}) { userErrors { code } } }",
        {"m": mentor_id, "b": f"{mark} ticket"},
    )
    # What others write about them: an SRE's call log, their mentor's notes.
    _, sre = await api.create_user(f"sre-{who}@example.org", ["SRE"])
    # Two assignments missed: they are at risk, and on the SRE's call list.
    now = datetime.now(UTC)
    for n in range(2):
        await _ok(
            api,
            admin,
            "mutation($i: AssignmentCreateInput!) { assignmentCreate(input: $i) "
            "{ userErrors { code } } }",
            {"i": {"missionId": m, "title": f"Work {n}", "description": "Do it",
                   "latePolicy": "NO_LATE", "opensAt": (now - timedelta(days=5)).isoformat(),
                   "dueAt": (now - timedelta(days=2)).isoformat()}},
        )  # fmt: skip
    await _ok(
        api,
        sre,
        "mutation($m: ID) { atRiskRefresh(input: {missionId: $m}) { userErrors { code } } }",
        {"m": m},
    )
    await api.run_jobs()
    calls = await _ok(
        api,
        sre,
        "mutation($m: ID!) { callListGenerate(input: {missionId: $m, limit: 10}) "
        "{ callList { id } userErrors { code } } }",
        {"m": m},
    )
    await _ok(
        api,
        sre,
        "mutation($i: CallLogRecordInput!) { callLogRecord(input: $i) { userErrors { code } } }",
        {"i": {"callListId": calls["callList"]["id"], "studentId": person_id,
               "outcome": "PICKED_UP", "notes": f"{mark} call notes",
               "studentResponse": f"{mark} said so"}},
    )  # fmt: skip
    offer = await _ok(
        api,
        mentor,
        "mutation($i: MentorOfferSetInput!) { mentorOfferSet(input: $i) { offer { id } "
        "userErrors { code } } }",
        {"i": {"headline": "Mentor", "topics": [], "offers": ["CAREER_ADVICE"],
               "industries": [], "languages": ["en"], "timeZone": "Europe/London",
               "capacity": 3, "preferredMentee": "BOTH",
               "availability": [{"weekday": 1, "start": "18:00", "end": "20:00"}]}},
    )  # fmt: skip
    asked = await _ok(
        api,
        person,
        "mutation($o: ID!, $g: String!) { mentorshipRequestCreate(input: {mentorId: $o, "
        "goals: $g}) { request { id } userErrors { code } } }",
        {"o": offer["offer"]["id"], "g": f"{mark} goals"},
    )
    answered = await _ok(
        api,
        mentor,
        "mutation($r: ID!) { mentorshipRequestAnswer(input: {id: $r, accept: true}) "
        "{ mentorship { id } userErrors { code } } }",
        {"r": asked["request"]["id"]},
    )
    for token, shared in ((mentor, False), (mentor, True), (person, True)):
        await _ok(
            api,
            token,
            "mutation($m: ID!, $b: String!, $s: Boolean!) { mentorshipNoteAdd(input: "
            "{mentorshipId: $m, body: $b, shared: $s}) { userErrors { code } } }",
            {"m": answered["mentorship"]["id"], "b": f"{mark} note", "s": shared},
        )
    await _upload(api, admin, f"email,name\n{email},{mark} Person\n".encode())
    await api.run_jobs()
    return person_id, person, admin


async def _upload(api: Api, token: str, content: bytes) -> None:
    """An import of a spreadsheet (a GraphQL multipart request), run at once."""
    query = "mutation($i: ImportUploadInput!) { importUpload(input: $i) { userErrors { code } } }"
    variables = {"i": {"file": None, "kind": "ALUMNI", "dryRun": False}}
    response = await api.client.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": query, "variables": variables}),
            "map": json.dumps({"0": ["variables.i.file"]}),
        },
        files={"0": ("people.csv", content, "text/csv")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json()["data"]["importUpload"]["userErrors"] == [], response.text


def _dump(database_url: str) -> str:
    """The data of the whole database, as `pg_dump` writes it."""
    url = make_url(database_url)
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    return subprocess.run(
        ["pg_dump", "--data-only", "--no-owner", "-h", url.host or "127.0.0.1",
         "-p", str(url.port or 5432), "-U", url.username or "postgres", url.database or ""],
        check=True, capture_output=True, text=True, timeout=120, env=env,
    ).stdout  # fmt: skip


KNOWN: set[str] = set()  # tables allowed to keep the marks: none


def _left(dump: str, mark: str) -> list[str]:
    """The rows that still hold the mark, each with its table."""
    found: list[str] = []
    table = "?"
    for line in dump.splitlines():
        if line.startswith("COPY "):
            table = line.split()[1]
        elif table not in KNOWN and mark.lower() in _readable(line).lower():
            found.append(f"{table}: {line[:160]}")
    return found


def _readable(line: str) -> str:
    """A row of the dump with its binary values (stored files: `\\x…` hex) decoded too."""
    decoded = [
        bytes.fromhex(h).decode("utf-8", "replace") for h in re.findall(r"\\\\x([0-9a-f]+)", line)
    ]
    return "\n".join([line, *decoded])


async def test_personal_data_erase_leaves_nothing_in_a_dump(api: Api) -> None:
    mark = "Zqxmarkself"
    _, person, _ = await _leave_traces(api, "eraseself", mark)
    before = await asyncio.to_thread(_dump, api.settings.database_url)
    # Everywhere they were written (a check of this test itself).
    assert {line.split(":")[0] for line in _left(before, mark)} >= {
        "public.profiles",
        "public.messages",
        "public.ticket_messages",
        "public.import_rows",
        "public.call_logs",
        "public.mentorship_notes",
        "public.notifications",
    }, _left(before, mark)
    assert _left(before, PHONE)
    await _ok(
        api,
        person,
        "mutation($p: String) { personalDataErase(input: {password: $p}) { userErrors { code } } }",
        {"p": PASSWORD},
    )
    await api.run_jobs()
    dump = await asyncio.to_thread(_dump, api.settings.database_url)
    assert _left(dump, mark) == []
    assert _left(dump, PHONE) == []


async def test_user_delete_leaves_nothing_in_a_dump(api: Api) -> None:
    mark = "Zqxmarkdeleted"
    person_id, _, admin = await _leave_traces(api, "deleted", mark)
    await _ok(
        api,
        admin,
        'mutation($u: ID!) { userDelete(input: {userId: $u, reason: "asked to"}) '
        "{ userErrors { code } } }",
        {"u": person_id},
    )
    await api.run_jobs()
    dump = await asyncio.to_thread(_dump, api.settings.database_url)
    assert _left(dump, mark) == []
    assert _left(dump, PHONE) == []
