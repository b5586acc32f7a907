"""Reading and grading work: what was handed in (text, link or file), marks and rubrics,
feedback, returning for revision, and the points and reports that follow."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from tests.engagement.conftest import POINTS, Programme, call, codes, ok, points_of
from tests.engagement.test_submissions import CREATE, assignment, at

HAND_IN = """mutation($i: SubmissionCreateInput!) { submissionCreate(input: $i) {
  submission { id version status content file { name contentType size } }
  created userErrors { field code message } } }"""
GRADE = """mutation($i: SubmissionGradeInput!) { submissionGrade(input: $i) {
  submission { id status mark feedback revisionDueAt rubricScores { criterion points } }
  userErrors { field code message } } }"""
READ = """query($id: ID!) { node(id: $id) { ... on Submission { content status mark feedback
  version file { name contentType downloadUrl } gradedBy { name }
  history { version content mark feedback returned } } } }"""
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def upload(p: Programme, who: str, assignment_id: str, name: str, data: bytes) -> Any:
    """submissionCreate with a file, as a GraphQL multipart request."""
    operations = {
        "query": HAND_IN,
        "variables": {"i": {"assignmentId": assignment_id, "file": None}},
    }
    response = await p.api.client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.i.file"]})},
        files={"0": (name, data)},
        headers={"Authorization": f"Bearer {p.tokens[who]}"},
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["submissionCreate"]


async def test_work_is_read_by_its_student_their_mentors_and_staff(programme: Programme) -> None:
    p = programme
    essay = await assignment(p)
    made = await ok(
        p,
        "s1",
        HAND_IN,
        {"i": {"assignmentId": essay, "content": "https://essays.example/s1"}},
        "submissionCreate",
    )
    submission = made["submission"]["id"]
    for who in ("s1", "m1", "manager", "sre"):
        node = (await p.gql(who, READ, {"id": submission}))["data"]["node"]
        assert node["content"] == "https://essays.example/s1", who
    for who in ("s2", "m2", "alumnus"):  # m2 mentors s1 in another mission only
        assert (await p.gql(who, READ, {"id": submission}))["data"]["node"] is None, who


async def test_a_file_is_handed_in_by_its_content_and_read_behind_a_link(
    programme: Programme,
) -> None:
    p = programme
    essay = await assignment(p)
    for name, data in (
        ("essay.pdf", PNG),
        ("notes.docx", _zip({"a.txt": b"x"})),
        ("run.exe", b"MZ\x90\x00"),
    ):
        refused = await upload(p, "s1", essay, name, data)
        assert codes(refused) == ["FILE_TYPE"], name
    too_big = await upload(p, "s1", essay, "big.pdf", PDF + b"0" * (50 * 1024 * 1024))
    assert codes(too_big) == ["FILE_TOO_LARGE"]
    listed = await call(p, "s1", POINTS, {"e": p.ids["e_s1_ma"]}, "node")
    assert listed["progress"]["submissionsOnTime"] == 0  # nothing was written
    made = await upload(p, "s1", essay, "Essay.PDF", PDF)
    assert made["userErrors"] == []
    assert made["submission"]["file"] == {
        "name": "Essay.PDF",
        "contentType": "application/pdf",
        "size": len(PDF),
    }
    word = await upload(
        p,
        "s2",
        essay,
        "essay.docx",
        _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}),
    )
    assert word["submission"]["file"]["contentType"].endswith("wordprocessingml.document")
    read = (await p.gql("m1", READ, {"id": made["submission"]["id"]}))["data"]["node"]
    url = urlparse(read["file"]["downloadUrl"])
    downloaded = await p.api.client.get(f"{url.path}?{url.query}")
    assert downloaded.status_code == 200 and downloaded.content == PDF
    forged = await p.api.client.get(f"{url.path}?token=x{url.query[7:]}")
    assert forged.status_code == 404


async def test_marks_feedback_and_points(programme: Programme) -> None:
    p = programme
    essay = await assignment(p)  # 10 points, on time: 10
    made = await ok(
        p, "s1", HAND_IN, {"i": {"assignmentId": essay, "content": "v1"}}, "submissionCreate"
    )
    submission = made["submission"]["id"]
    for who, given, code in (
        ("m1", {"mark": 11}, "OUT_OF_RANGE"),
        ("m1", {"mark": -1}, "OUT_OF_RANGE"),
        ("m1", {}, "REQUIRED"),
        ("m1", {"rubricScores": [{"criterion": "x", "points": 1}]}, "NO_RUBRIC"),
        ("m2", {"mark": 5}, "NOT_FOUND"),  # not s1's mentor in this mission
        ("s1", {"mark": 10}, "NOT_FOUND"),
    ):
        refused = await call(
            p, who, GRADE, {"i": {"submissionId": submission, **given}}, "submissionGrade"
        )
        assert codes(refused) == [code], (who, given)
    assert (await points_of(p, "s1", p.ids["e_s1_ma"]))["points"] == 10
    graded = await ok(
        p,
        "m1",
        GRADE,
        {"i": {"submissionId": submission, "mark": 7, "feedback": "Good; cite more."}},
        "submissionGrade",
    )
    assert graded["submission"]["status"] == "GRADED" and graded["submission"]["mark"] == 7
    standing = await points_of(p, "s1", p.ids["e_s1_ma"])
    assert standing["points"] == 7
    assert {"points": -3, "reason": "GRADE", "note": "Essay: 7 of 10"} in standing["pointEntries"]
    seen = (await p.gql("s1", READ, {"id": submission}))["data"]["node"]
    assert seen["mark"] == 7 and seen["feedback"] == "Good; cite more."
    assert seen["gradedBy"]["name"] == "M1 Person"
    told = await p.gql("s1", "{ notifications { edges { node { kind title } } } }")
    assert {"kind": "GRADE", "title": "Graded: Essay"} in [
        e["node"] for e in told["data"]["notifications"]["edges"]
    ]
    # Recalculation finds the ledger as the rules and marks say.
    job = await ok(
        p,
        "manager",
        """mutation($m: ID!) { pointsRecalculate(input:
      {missionId: $m}) { job { id } userErrors { code } } }""",
        {"m": p.ids["ma"]},
        "pointsRecalculate",
    )
    assert job["job"]["id"]
    await p.api.run_jobs()
    assert (await points_of(p, "s1", p.ids["e_s1_ma"]))["points"] == 7


async def test_rubrics(programme: Programme) -> None:
    p = programme
    rubric = [{"name": "Clarity", "points": 6}, {"name": "Evidence", "points": 4}]
    mismatch = await call(
        p,
        "sre",
        CREATE,
        {
            "i": {
                "missionId": p.ids["ma"],
                "title": "R",
                "dueAt": at(days=1),
                "maxPoints": 12,
                "rubric": rubric,
            }
        },
        "assignmentCreate",
    )
    assert codes(mismatch) == ["RUBRIC_MISMATCH"]
    essay = await assignment(p, maxPoints=None, rubric=rubric)
    made = await ok(p, "s1", HAND_IN, {"i": {"assignmentId": essay}}, "submissionCreate")
    submission = made["submission"]["id"]
    for given, code in (
        ({"mark": 8}, "RUBRIC_REQUIRED"),
        (
            {
                "rubricScores": [
                    {"criterion": "Clarity", "points": 7},
                    {"criterion": "Evidence", "points": 1},
                ]
            },
            "OUT_OF_RANGE",
        ),
        ({"rubricScores": [{"criterion": "Clarity", "points": 5}]}, "REQUIRED"),
        (
            {
                "rubricScores": [
                    {"criterion": "Style", "points": 1},
                    {"criterion": "Evidence", "points": 1},
                ]
            },
            "UNKNOWN_CRITERION",
        ),
    ):
        refused = await call(
            p, "manager", GRADE, {"i": {"submissionId": submission, **given}}, "submissionGrade"
        )
        assert code in codes(refused), given
    scores = [{"criterion": "clarity", "points": 5}, {"criterion": "Evidence", "points": 3}]
    graded = await ok(
        p,
        "manager",
        GRADE,
        {"i": {"submissionId": submission, "rubricScores": scores}},
        "submissionGrade",
    )
    assert graded["submission"]["mark"] == 8
    assert graded["submission"]["rubricScores"] == [
        {"criterion": "Clarity", "points": 5},
        {"criterion": "Evidence", "points": 3},
    ]


async def test_returned_for_revision_and_handed_in_again(programme: Programme) -> None:
    p = programme
    essay = await assignment(p)
    made = await ok(
        p, "s1", HAND_IN, {"i": {"assignmentId": essay, "content": "draft"}}, "submissionCreate"
    )
    submission = made["submission"]["id"]
    no_deadline = await call(
        p,
        "m1",
        GRADE,
        {
            "i": {
                "submissionId": submission,
                "returnForRevision": True,
                "feedback": "Expand part 2.",
            }
        },
        "submissionGrade",
    )
    assert codes(no_deadline) == ["REQUIRED"]
    past = await call(
        p,
        "m1",
        GRADE,
        {
            "i": {
                "submissionId": submission,
                "mark": 4,
                "returnForRevision": True,
                "feedback": "More.",
                "revisionDueAt": at(days=-1),
            }
        },
        "submissionGrade",
    )
    assert codes(past) == ["DATE_IN_PAST"]
    returned = await ok(
        p,
        "m1",
        GRADE,
        {
            "i": {
                "submissionId": submission,
                "mark": 4,
                "returnForRevision": True,
                "feedback": "Expand part 2.",
                "revisionDueAt": at(days=2),
            }
        },
        "submissionGrade",
    )
    assert returned["submission"]["status"] == "RETURNED"
    assert (await points_of(p, "s1", p.ids["e_s1_ma"]))["points"] == 4
    again = await ok(
        p, "s1", HAND_IN, {"i": {"assignmentId": essay, "content": "final"}}, "submissionCreate"
    )
    assert again["created"] is True and again["submission"]["version"] == 2
    assert again["submission"]["status"] == "SUBMITTED"
    twice = await ok(
        p, "s1", HAND_IN, {"i": {"assignmentId": essay, "content": "x"}}, "submissionCreate"
    )
    assert twice["created"] is False and twice["submission"]["content"] == "final"
    await ok(p, "m1", GRADE, {"i": {"submissionId": submission, "mark": 9}}, "submissionGrade")
    read = (await p.gql("s1", READ, {"id": submission}))["data"]["node"]
    assert (read["content"], read["mark"], read["version"]) == ("final", 9, 2)
    assert read["history"] == [
        {
            "version": 1,
            "content": "draft",
            "mark": 4,
            "feedback": "Expand part 2.",
            "returned": True,
        }
    ]
    assert (await points_of(p, "s1", p.ids["e_s1_ma"]))["points"] == 9


async def test_grade_statistics_missing_work_and_backlog(programme: Programme) -> None:
    p = programme
    essay = await assignment(p, opensAt=at(days=-3), dueAt=at(hours=-1))  # due already
    for who, mark in (("s1", 4), ("s2", 8)):
        made = await ok(p, who, HAND_IN, {"i": {"assignmentId": essay}}, "submissionCreate")
        grader = "m1" if who == "s1" else "m2"
        await ok(
            p,
            grader,
            GRADE,
            {"i": {"submissionId": made["submission"]["id"], "mark": mark}},
            "submissionGrade",
        )
    await assignment(p, opensAt=at(days=-3), dueAt=at(hours=-2), title="Quiz")  # nobody did it
    waiting = await assignment(p, opensAt=at(days=-3), dueAt=at(hours=-3), title="Lab")
    await ok(p, "s1", HAND_IN, {"i": {"assignmentId": waiting}}, "submissionCreate")
    stats = """query($a: ID!) { node(id: $a) { ... on Assignment { gradeStats {
      submitted graded mean median standardDeviation lowest highest p25 p75 p90 } } } }"""
    staff = (await p.gql("manager", stats, {"a": essay}))["data"]["node"]["gradeStats"]
    assert staff == {
        "submitted": 2,
        "graded": 2,
        "mean": 6.0,
        "median": 4,
        "standardDeviation": 2.0,
        "lowest": 4,
        "highest": 8,
        "p25": 4,
        "p75": 8,
        "p90": 8,
    }
    mentor = (await p.gql("m1", stats, {"a": essay}))["data"]["node"]["gradeStats"]
    assert (mentor["submitted"], mentor["mean"]) == (1, 4.0)  # their mentee only
    student = await p.gql("s1", stats, {"a": essay})
    assert student["data"]["node"]["gradeStats"] is None
    work = """query($m: ID!) { node(id: $m) { ... on Mission {
      workByStudent { due submitted missing late graded waiting
        enrollment { student { email } } }
      gradingBacklog { waiting mentor { email } } } } }"""
    mission = (await p.gql("manager", work, {"m": p.ids["ma"]}))["data"]["node"]
    rows = {r["enrollment"]["student"]["email"]: r for r in mission["workByStudent"]}
    assert rows["s2@example.org"] == {
        "due": 3,
        "submitted": 1,
        "missing": 2,
        "late": 1,
        "graded": 1,
        "waiting": 0,
        "enrollment": {"student": {"email": "s2@example.org"}},
    }
    assert rows["s1@example.org"]["waiting"] == 1 and rows["s1@example.org"]["missing"] == 1
    assert mission["workByStudent"][0]["enrollment"]["student"]["email"] == "s2@example.org"
    assert mission["gradingBacklog"] == [{"waiting": 1, "mentor": {"email": "m1@example.org"}}]
    own = (await p.gql("m2", work, {"m": p.ids["ma"]}))["data"]["node"]
    assert own["gradingBacklog"] == []
    assert [r["enrollment"]["student"]["email"] for r in own["workByStudent"]] == ["s2@example.org"]
    assert (await p.gql("s1", work, {"m": p.ids["ma"]}))["data"]["node"]["workByStudent"] is None


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


async def test_grading_lists_cost_the_same_statements_for_more_work(programme: Programme) -> None:
    p = programme
    query = """query($m: ID!) { node(id: $m) { ... on Mission { assignments { title
      gradeStats { graded mean median }
      submissions(first: 10) { edges { node { content mark file { name } gradedBy { name }
        history { version mark file { name } } } } } } } } }"""

    async def grow(title: str) -> None:
        essay = await assignment(p, title=title)
        for who, grader in (("s1", "m1"), ("s2", "m2")):
            made = await upload(p, who, essay, f"{title}.pdf", PDF)
            returned = {"submissionId": made["submission"]["id"], "mark": 3,
                        "feedback": "Again.", "returnForRevision": True,
                        "revisionDueAt": at(days=1)}  # fmt: skip
            await ok(p, grader, GRADE, {"i": returned}, "submissionGrade")
            await ok(p, who, HAND_IN, {"i": {"assignmentId": essay, "content": "v2"}},
                     "submissionCreate")  # fmt: skip

    await grow("One")
    few, _ = await p.api.sql_count(query, {"m": p.ids["ma"]}, p.tokens["manager"])
    for title in ("Two", "Three", "Four"):
        await grow(title)
    many, large = await p.api.sql_count(query, {"m": p.ids["ma"]}, p.tokens["manager"])
    assert "errors" not in large, large
    assert len(large["data"]["node"]["assignments"]) == 4
    assert many == few, (few, many)


async def test_two_graders_at_once_take_turns(programme: Programme) -> None:
    """Each grade replaces the other's, and the points follow the mark that stays (the
    row is locked on SQLite too, so neither adds its difference to a stale mark)."""
    p = programme
    essay = await assignment(p)
    made = await ok(p, "s1", HAND_IN, {"i": {"assignmentId": essay}}, "submissionCreate")
    submission = made["submission"]["id"]
    for _ in range(2):
        results = await asyncio.gather(
            *(
                call(p, who, GRADE, {"i": {"submissionId": submission, "mark": mark}},
                     "submissionGrade")
                for who, mark in (("m1", 3), ("manager", 8), ("sre", 5))
            )
        )  # fmt: skip
        assert all(r["userErrors"] == [] for r in results), results
        mark = (await p.gql("s1", READ, {"id": submission}))["data"]["node"]["mark"]
        assert (await points_of(p, "s1", p.ids["e_s1_ma"]))["points"] == mark
    stale = await call(
        p, "m1", GRADE, {"i": {"submissionId": submission, "mark": 1, "expectedVersion": 2}},
        "submissionGrade",
    )  # fmt: skip
    assert codes(stale) == ["STALE"]
    current = await call(
        p, "m1", GRADE, {"i": {"submissionId": submission, "mark": 1, "expectedVersion": 1}},
        "submissionGrade",
    )  # fmt: skip
    assert current["userErrors"] == [] and current["submission"]["mark"] == 1
    twice = [{"criterion": "x", "points": 1}, {"criterion": "x", "points": 1}]
    rubric = [{"name": "X", "points": 10}]
    scored = await assignment(p, maxPoints=None, rubric=rubric, title="Scored")
    made = await ok(p, "s1", HAND_IN, {"i": {"assignmentId": scored}}, "submissionCreate")
    duplicate = await call(
        p, "m1", GRADE, {"i": {"submissionId": made["submission"]["id"], "rubricScores": twice}},
        "submissionGrade",
    )  # fmt: skip
    assert codes(duplicate) == ["DUPLICATE"]


async def test_files_are_checked_whole_and_named_safely(programme: Programme) -> None:
    p = programme
    essay = await assignment(p)
    for name, data in (
        ("cut.pdf", PDF[:20]),  # no %%EOF: cut short
        ("cut.zip", _zip({"a.txt": b"x" * 100})[:60]),  # its directory is missing
        ("cut.png", PNG),  # no IHDR, no IEND
        ("empty.pdf", b""),
    ):
        assert codes(await upload(p, "s1", essay, name, data)) == ["FILE_TYPE"], name
    as_text = await call(
        p, "s1", HAND_IN, {"i": {"assignmentId": essay, "file": "%PDF-1.7 not a file"}},
        "submissionCreate",
    )  # fmt: skip
    assert codes(as_text) == ["INVALID"]
    hostile = 'a"b\r\nX-Evil: 1/../Essay – été.pdf'
    made = await upload(p, "s1", essay, hostile, PDF)
    # (the client escapes the quote and line break; a path and a colon are made safe here)
    assert made["submission"]["file"]["name"] == "a%22b%0D%0AX-Evil_ 1_.._Essay – été.pdf"
    read = (await p.gql("m1", READ, {"id": made["submission"]["id"]}))["data"]["node"]
    url = urlparse(read["file"]["downloadUrl"])
    downloaded = await p.api.client.get(f"{url.path}?{url.query}")
    assert downloaded.status_code == 200
    assert downloaded.headers["content-disposition"] == (
        "attachment; filename=\"a%22b%0D%0AX-Evil_ 1_.._Essay  ete.pdf\"; filename*=UTF-8''"
        "a%2522b%250D%250AX-Evil_%201_.._Essay%20%E2%80%93%20%C3%A9t%C3%A9.pdf"
    )
    assert "x-evil" not in downloaded.headers
    # A link outlives no one's access: once m1 no longer mentors s1 there, it is dead.
    unassign = """mutation($m: ID!, $s: ID!, $t: ID!) { mentorUnassign(input:
      {missionId: $m, studentId: $s, mentorId: $t}) { unassigned } }"""
    await p.gql("manager", unassign, {"m": p.ids["ma"], "s": p.ids["s1"], "t": p.ids["m1"]})
    assert (await p.api.client.get(f"{url.path}?{url.query}")).status_code == 404


async def test_revisions_keep_the_assignments_deadlines_and_end(programme: Programme) -> None:
    from sqlalchemy import update

    from alumnet.persistence.models import Submission as SubmissionRow

    p = programme
    strict = await assignment(p, latePolicy="NO_LATE")
    made = await ok(p, "s1", HAND_IN, {"i": {"assignmentId": strict}}, "submissionCreate")
    submission = made["submission"]["id"]
    returned = {"submissionId": submission, "mark": 6, "feedback": "Again.",
                "returnForRevision": True, "revisionDueAt": at(days=1)}  # fmt: skip
    await ok(p, "m1", GRADE, {"i": returned}, "submissionGrade")
    lower = await call(
        p, "sre", "mutation($i: AssignmentUpdateInput!) { assignmentUpdate(input: $i) "
        "{ userErrors { field code } } }", {"i": {"id": strict, "maxPoints": 5}},
        "assignmentUpdate",
    )  # fmt: skip
    assert lower["userErrors"] == [{"field": ["input", "maxPoints"], "code": "OUT_OF_RANGE"}]
    database = p.api.app.state.runtime.database
    async with database.connect() as conn:
        await conn.execute(
            update(SubmissionRow).values(revision_due_at=datetime.now(UTC) - timedelta(hours=1))
        )
        await conn.commit()
    closed = await call(
        p, "s1", HAND_IN, {"i": {"assignmentId": strict, "content": "v2"}}, "submissionCreate"
    )
    assert codes(closed) == ["CLOSED"]
    async with database.connect() as conn:
        await conn.execute(update(SubmissionRow).values(version=20, revision_due_at=None))
        await conn.commit()
    returned["revisionDueAt"] = at(days=1)
    too_many = await call(p, "m1", GRADE, {"i": returned}, "submissionGrade")
    assert codes(too_many) == ["TOO_MANY"]


async def test_work_and_backlog_of_many_missions_cost_the_same_statements(
    programme: Programme,
) -> None:
    p = programme
    query = """query($b: ID!) { node(id: $b) { ... on Batch { missions { edges { node { code
      workByStudent { missing waiting enrollment { student { email } } }
      gradingBacklog { waiting mentor { email } } } } } } } }"""
    assign = """mutation($m: ID!, $s: ID!, $t: ID!) { mentorAssign(input:
      {missionId: $m, studentId: $s, mentorId: $t}) { userErrors { code } } }"""
    await ok(p, "manager", assign, {"m": p.ids["mc"], "s": p.ids["s3"], "t": p.ids["m1"]},
             "mentorAssign")  # fmt: skip
    for who, mission in (("s1", "ma"), ("s3", "mc")):
        essay = await assignment(
            p, missionId=p.ids[mission], opensAt=at(days=-3), dueAt=at(hours=-1)
        )
        await ok(p, who, HAND_IN, {"i": {"assignmentId": essay}}, "submissionCreate")
    few, small = await p.api.sql_count(query, {"b": p.ids["b2"]}, p.tokens["manager"])
    other = await assignment(
        p, missionId=p.ids["mb"], opensAt=at(days=-3), dueAt=at(hours=-1), title="B"
    )
    await ok(p, "s1", HAND_IN, {"i": {"assignmentId": other}}, "submissionCreate")
    many, large = await p.api.sql_count(query, {"b": p.ids["b1"]}, p.tokens["manager"])
    assert "errors" not in large, large
    assert many == few, (few, many)
    edges = large["data"]["node"]["missions"]["edges"]
    missions = {e["node"]["code"]: e["node"] for e in edges}
    assert missions["B1-B"]["gradingBacklog"] == [
        {"waiting": 1, "mentor": {"email": "m2@example.org"}}
    ]
    assert missions["B1-A"]["gradingBacklog"] == [
        {"waiting": 1, "mentor": {"email": "m1@example.org"}}
    ]
    assert [r["missing"] for r in missions["B1-A"]["workByStudent"]] == [1, 0]
    assert [r["missing"] for r in missions["B1-B"]["workByStudent"]] == [0]
    assert len(small["data"]["node"]["missions"]["edges"]) == 1  # B2-C


def test_names_kept_and_sent_back_cannot_break_out() -> None:
    from alumnet.domain.data.files import content_disposition, safe_name

    assert safe_name('a"b\r\nX-Evil: 1.pdf') == "a_b_X-Evil_ 1.pdf"
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert safe_name(" ..") == "file"
    long = safe_name("x" * 300 + ".docx")
    assert len(long) == 255 and long.endswith(".docx")
    assert content_disposition("Ésai\x00.pdf") == (
        "attachment; filename=\"Esai_.pdf\"; filename*=UTF-8''%C3%89sai_.pdf"
    )
