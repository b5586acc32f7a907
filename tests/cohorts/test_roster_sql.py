"""A mission's whole roster costs a constant number of SQL statements."""

from __future__ import annotations

from tests.cohorts.conftest import Programme

ROSTER = """query($id: ID!) { node(id: $id) { ... on Mission {
  enrollments(first: 1000) { totalCount edges { node { id status
    student { name email } mentors { name } mission { code } } } }
  mentors { mentor { name } menteeCount } } } }"""
DASHBOARD = """{ batches(first: 5) { edges { node { code students(first: 1000) { totalCount }
  missions(first: 10) { edges { node { code enrollments(first: 1000) { totalCount edges { node {
    student { email } mentors { email } } } } } } } } } } }"""


async def _grow(programme: Programme, n: int, offset: int) -> None:
    api = programme.api
    ids = programme.ids
    students = []
    for i in range(offset, offset + n):
        sid, _ = await api.create_user(f"r{i}@example.org", ["STUDENT"])
        students.append(sid)
    for mission in ("ma", "mb", "mc"):
        await programme.gql(
            "admin",
            """mutation($i: EnrollmentBulkCreateInput!) {
          enrollmentBulkCreate(input: $i) { added } }""",
            {"i": {"missionId": ids[mission], "studentIds": students}},
        )
        for k, sid in enumerate(students):
            mentor = ids["m1"] if k % 2 else ids["m2"]
            await programme.gql(
                "admin",
                """mutation($m: ID!, $s: ID!, $t: ID!) {
              mentorAssign(input: {missionId: $m, studentId: $s, mentorId: $t}) { created } }""",
                {"m": ids[mission], "s": sid, "t": mentor},
            )


async def test_roster_statements_do_not_grow(programme: Programme) -> None:
    few, _ = await programme.api.sql_count(
        ROSTER, {"id": programme.ids["ma"]}, token=programme.tokens["sre"]
    )
    few_dash, _ = await programme.api.sql_count(DASHBOARD, token=programme.tokens["sre"])
    await _grow(programme, 25, 0)
    many, large = await programme.api.sql_count(
        ROSTER, {"id": programme.ids["ma"]}, token=programme.tokens["sre"]
    )
    many_dash, dash = await programme.api.sql_count(DASHBOARD, token=programme.tokens["sre"])
    assert large["data"]["node"]["enrollments"]["totalCount"] == 27
    assert "errors" not in dash
    assert many == few
    assert many_dash == few_dash
