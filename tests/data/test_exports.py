"""Exports: rosters and directory results as CSV, Excel and JSON Lines, behind signed links,
with formula cells neutralised."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import urlparse

from tests.data.conftest import Programme
from tests.engagement.conftest import call, codes, ok

EXPORT = """mutation($i: ExportCreateInput!) { exportCreate(input: $i) { job { id }
  userErrors { code } } }"""
RENAME = """mutation($i: UserUpdateInput!) { userUpdate(input: $i) { userErrors { code } } }"""


async def listed(p: Programme, who: str, fields: str = "name") -> list[Any]:
    """``who``'s files, newest first (the first page)."""
    body = await p.gql(who, f"{{ exports {{ edges {{ node {{ {fields} }} }} }} }}")
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["exports"]["edges"]]


async def export(p: Programme, who: str, **given: Any) -> bytes:
    await ok(p, who, EXPORT, {"i": given}, "exportCreate")
    await p.api.run_jobs()
    files = await listed(p, who, "name downloadUrl")
    url = urlparse(files[0]["downloadUrl"])
    response = await p.api.client.get(f"{url.path}?{url.query}")
    assert response.status_code == 200
    return response.content


async def test_roster_exports_in_every_format(programme: Programme) -> None:
    p = programme
    hostile = {"id": p.ids["s1"], "name": '=HYPERLINK("http://evil")'}
    await ok(p, "admin", RENAME, {"i": hostile}, "userUpdate")
    csv = (await export(p, "manager", kind="ROSTER", format="CSV", missionId=p.ids["ma"])).decode()
    lines = csv.splitlines()
    assert lines[0] == "name,email,status,points,enrolled_at,mentors"
    assert len(lines) == 3
    assert any(line.startswith("\"'=HYPERLINK") for line in lines)  # not a formula
    jsonl = await export(p, "manager", kind="ROSTER", format="JSONL", missionId=p.ids["ma"])
    rows = [json.loads(line) for line in jsonl.splitlines()]
    assert {r["email"] for r in rows} == {"s1@example.org", "s2@example.org"}
    assert rows[0]["points"] == 0 and rows[0]["mentors"] >= 1
    xlsx = await export(p, "manager", kind="ROSTER", format="XLSX", missionId=p.ids["ma"])
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:2] == ("name", "email") and isinstance(values[1][3], int)
    assert all(not str(v[0]).startswith("=") for v in values)


async def test_who_may_export_what(programme: Programme) -> None:
    p = programme
    refused = await p.gql("s1", EXPORT, {"i": {"kind": "ROSTER", "format": "CSV",
                                                "missionId": p.ids["ma"]}})  # fmt: skip
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    missing = await call(p, "manager", EXPORT, {"i": {"kind": "ROSTER", "format": "CSV"}},
                         "exportCreate")  # fmt: skip
    assert codes(missing) == ["NOT_FOUND"]
    # Directory results: anyone, as they may see them; links are the owner's alone.
    await export(p, "s1", kind="DIRECTORY", format="CSV")
    theirs = (await listed(p, "s1", "downloadUrl"))[0]
    assert await listed(p, "s2") == []
    url = urlparse(theirs["downloadUrl"])
    forged = await p.api.client.get(f"{url.path}?token=x{url.query[7:]}")
    assert forged.status_code == 404


async def test_expired_files_are_deleted_nightly(programme: Programme) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select, update

    from alumnet.domain.data.files import CLEANUP_JOB
    from alumnet.persistence.models import FileChunk, StoredFile
    from alumnet.workers.schedule import SCHEDULE, record

    p = programme
    assert any(name == CLEANUP_JOB for name, _, _ in SCHEDULE)
    await export(p, "manager", kind="POINTS", format="CSV", missionId=p.ids["ma"])
    runtime = p.api.app.state.runtime
    async with runtime.transaction() as uow:
        past = datetime.now(UTC) - timedelta(days=1)
        await uow.session.execute(update(StoredFile).values(expires_at=past))
    await record(runtime, CLEANUP_JOB, {})
    await p.api.run_jobs()
    async with runtime.database.connect() as conn:
        left = await conn.execute(select(func.count()).select_from(FileChunk))
        assert left.scalar_one() == 0
    assert await listed(p, "manager") == []


LISTED = """query($m: ID!, $e: EnrollmentFilter, $a: AttendanceFilter) { node(id: $m) {
  ... on Mission { enrollments(filter: $e) { edges { node { student { email } } } }
  attendance(filter: $a) { edges { node { day enrollment { student { email } } } } } } } }"""


async def test_exports_take_the_filters_of_the_lists_they_mirror(programme: Programme) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.engagement.conftest import SUBMIT

    p = programme
    for who in ("s1", "s2"):
        await ok(p, who, SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    today = datetime.now(UTC).date()
    cases = [
        ({"status": ["ACTIVE"], "search": "S1 p"}, None),
        ({"status": ["DROPPED"]}, None),
        (None, {"from": today.isoformat(), "studentId": p.ids["s2"]}),
        (None, {"to": (today - timedelta(days=1)).isoformat()}),
    ]
    results = []
    for enrollments, attendance in cases:
        listed = await p.gql("manager", LISTED, {"m": p.ids["ma"], "e": enrollments,
                                                  "a": attendance})  # fmt: skip
        mission = listed["data"]["node"]
        if enrollments is not None:
            expected = [e["node"]["student"]["email"] for e in mission["enrollments"]["edges"]]
            rows = await export(p, "manager", kind="ROSTER", format="JSONL",
                                missionId=p.ids["ma"], enrollments=enrollments)  # fmt: skip
            points = await export(p, "manager", kind="POINTS", format="CSV",
                                  missionId=p.ids["ma"], enrollments=enrollments)  # fmt: skip
            assert len(points.decode().splitlines()) == len(expected) + 1
        else:
            expected = [
                e["node"]["enrollment"]["student"]["email"] for e in mission["attendance"]["edges"]
            ]
            rows = await export(p, "manager", kind="ATTENDANCE", format="JSONL",
                                missionId=p.ids["ma"], attendance=attendance)  # fmt: skip
        got = [json.loads(line)["email"] for line in rows.splitlines()]
        assert sorted(got) == sorted(expected), (enrollments, attendance)
        results.append(got)
    assert results == [["s1@example.org"], [], ["s2@example.org"], []]
    # A filter the list refuses is refused here too, as a userError; nothing is queued.
    long = await call(p, "manager", EXPORT, {"i": {"kind": "ROSTER", "format": "CSV",
                      "missionId": p.ids["ma"], "enrollments": {"search": "x" * 101}}},
                      "exportCreate")  # fmt: skip
    assert codes(long) == ["INVALID"] and long["job"] is None
    other = await call(p, "manager", EXPORT, {"i": {"kind": "SUBMISSIONS", "format": "CSV",
                       "missionId": p.ids["ma"], "assignmentId": p.ids["mc"]}},
                       "exportCreate")  # fmt: skip
    assert codes(other) == ["NOT_FOUND"]


async def test_the_job_names_its_file_for_its_owner_only(programme: Programme) -> None:
    p = programme
    made = await ok(p, "manager", EXPORT, {"i": {"kind": "POINTS", "format": "XLSX",
                    "missionId": p.ids["ma"]}}, "exportCreate")  # fmt: skip
    await p.api.run_jobs()
    query = "query($j: ID!) { node(id: $j) { ... on Job { file { name size downloadUrl } } } }"
    job = (await p.gql("manager", query, {"j": made["job"]["id"]}))["data"]["node"]
    assert job["file"]["name"] == "points.xlsx" and job["file"]["size"] > 0
    theirs = (await p.gql("admin", query, {"j": made["job"]["id"]}))["data"]["node"]
    assert theirs is not None and theirs["file"] is None  # admins see jobs, not others' files


async def test_the_job_checks_again_and_stops_at_the_size_limit(programme: Programme) -> None:
    """Who may export is read again when the job runs; an export past the size limit fails,
    saying so, and stores nothing."""
    from dataclasses import replace

    import pytest
    from sqlalchemy import delete, func, select
    from strawberry import relay

    from alumnet.domain.data import exports, files
    from alumnet.persistence.models import StoredFile, UserRole
    from alumnet.schema.nodes import global_pk

    p = programme
    runtime = p.api.app.state.runtime
    mission = global_pk(relay.GlobalID.from_id(p.ids["ma"]), "Mission")
    manager = global_pk(relay.GlobalID.from_id(p.ids["manager"]), "User")
    wanted = exports.ExportRequest(kind="roster", format="csv", mission_id=mission)
    args = {**wanted.as_args(), "user_id": manager}
    small = replace(runtime, settings=replace(runtime.settings, export_max_bytes=64))
    with pytest.raises(files.TooLarge, match="larger than the limit"):
        await exports.produce(small, args)
    async with runtime.database.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(StoredFile))).scalar() == 0
    assert (await exports.produce(runtime, args))["rows"] == 2
    async with runtime.transaction() as uow:
        await uow.session.execute(delete(UserRole).where(UserRole.user_id == manager))
    with pytest.raises(exports.ExportFailed, match="may no longer export"):
        await exports.produce(runtime, args)


def test_jobs_queued_before_the_list_filters_still_run() -> None:
    from alumnet.domain.data.exports import ExportRequest

    old = {
        "kind": "directory", "format": "csv", "mission_id": None, "status": "active",
        "query": "ada", "filter": {"company": "Acme", "graduation_from": 2020}, "user_id": 1,
    }  # fmt: skip
    wanted = ExportRequest.from_args(old)
    assert wanted.statuses == ("active",) and wanted.query == "ada"
    assert (wanted.directory.company, wanted.directory.graduation_from) == ("Acme", 2020)
    assert ExportRequest.from_args(wanted.as_args()) == wanted


async def test_an_export_asked_with_a_token_sees_no_more_than_the_token(
    programme: Programme,
) -> None:
    """An administrator's WRITE token does not manage users: the directory it exports hides
    what people keep to themselves, as the directory it reads does."""
    p = programme
    hidden = {"company": "Quiet Ltd", "privacy": {"work": "ONLY_ME"}}
    await ok(p, "alumnus", """mutation($i: ProfileUpdateInput!) { profileUpdate(input: $i) {
      userErrors { field code } } }""", {"i": hidden}, "profileUpdate")  # fmt: skip
    made = await p.gql("admin", """mutation { personalAccessTokenCreate(input: {name: "w",
      scope: WRITE}) { secret } }""")  # fmt: skip
    p.tokens["admin-write"] = made["data"]["personalAccessTokenCreate"]["secret"]
    assert b"Quiet Ltd" in await export(p, "admin", kind="DIRECTORY", format="CSV")
    assert b"Quiet Ltd" not in await export(p, "admin-write", kind="DIRECTORY", format="CSV")


FILES = """query($after: String, $o: ExportFileOrder) { exports(first: 2, after: $after,
  orderBy: $o) { totalCount pageInfo { hasNextPage endCursor } edges { node { name size } } } }"""


async def test_your_files_are_a_connection(programme: Programme) -> None:
    p = programme
    for kind, fmt in (("ROSTER", "CSV"), ("POINTS", "JSONL"), ("ATTENDANCE", "XLSX")):
        await export(p, "manager", kind=kind, format=fmt, missionId=p.ids["ma"])
    first = (await p.gql("manager", FILES))["data"]["exports"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    names = [e["node"]["name"] for e in first["edges"]]
    assert names == ["attendance.xlsx", "points.jsonl"]  # newest first
    after = {"after": first["pageInfo"]["endCursor"]}
    rest = (await p.gql("manager", FILES, after))["data"]["exports"]
    assert [e["node"]["name"] for e in rest["edges"]] == ["roster.csv"]
    assert not rest["pageInfo"]["hasNextPage"]
    by_name = {"o": {"field": "NAME", "direction": "ASC"}}
    ordered = (await p.gql("manager", FILES, by_name))["data"]["exports"]
    assert [e["node"]["name"] for e in ordered["edges"]] == ["attendance.xlsx", "points.jsonl"]
    cursor = {**by_name, "after": ordered["pageInfo"]["endCursor"]}
    last = (await p.gql("manager", FILES, cursor))["data"]["exports"]
    assert [e["node"]["name"] for e in last["edges"]] == ["roster.csv"]
    assert (await p.gql("s1", FILES))["data"]["exports"]["totalCount"] == 0


async def test_a_link_opens_nothing_once_its_owner_is_suspended(programme: Programme) -> None:
    """A link (e-mailed ones live for days) is honoured only while its owner may sign in."""
    p = programme
    await ok(p, "manager", EXPORT, {"i": {"kind": "POINTS", "format": "CSV",
             "missionId": p.ids["ma"]}}, "exportCreate")  # fmt: skip
    await p.api.run_jobs()
    url = urlparse((await listed(p, "manager", "downloadUrl"))[0]["downloadUrl"])
    assert (await p.api.client.get(f"{url.path}?{url.query}")).status_code == 200
    suspend = "mutation($id: ID!) { userSuspend(input: {id: $id}) { userErrors { code } } }"
    await ok(p, "admin", suspend, {"id": p.ids["manager"]}, "userSuspend")
    refused = await p.api.client.get(f"{url.path}?{url.query}")
    assert refused.status_code == 404
