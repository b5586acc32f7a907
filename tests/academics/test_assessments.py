"""Assessments: created by academics managers and the subject's faculty; marks recorded
(all or nothing, upserted per student, never above the maximum) by who may record the
students' progress; seen by who reads progress in the subject, a student only their own
marks; the subject's average mark per student in its progress table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from alumnet.persistence.models import Assessment, AssessmentMark
from tests.academics.conftest import Academics, codes, gid

CREATE = """mutation($i: AssessmentCreateInput!) { assessmentCreate(input: $i) {
  assessment { id kind title maxMarks heldOn topicId subjectId }
  userErrors { field code message } } }"""
MARKS = """mutation($i: AssessmentMarksRecordInput!) { assessmentMarksRecord(input: $i) {
  assessment { id } marks { id marks note recordedByName student { id } }
  userErrors { field code message } } }"""
NODE = """query($id: ID!) { node(id: $id) { ... on Assessment { id title
  marks(first: 50) { totalCount edges { node { marks student { name } } } } } } }"""
LIST = """query($j: ID!, $t: ID) { assessments(subjectId: $j, topicId: $t, first: 50) {
  totalCount edges { node { id title marks(first: 50) { edges { node { marks
    recordedByName student { name } } } } } } } }"""
TABLE = """query($j: ID!, $m: ID) { subjectProgress(subjectId: $j, missionId: $m) {
  edges { node { student { name } averageMarkPercent } } } }"""


def new(a: Academics, topic: int = 0, **more: Any) -> dict[str, Any]:
    given = {"topicId": gid("Topic", a.topics[topic]), "kind": "QUIZ", "title": "Quiz 1",
             "maxMarks": 20, **more}  # fmt: skip
    return {"i": given}


def marks(assessment: str, *entries: tuple[str, float]) -> dict[str, Any]:
    return {"i": {"assessmentId": assessment,
                  "entries": [{"studentId": s, "marks": m} for s, m in entries]}}  # fmt: skip


async def count(a: Academics, model: Any) -> int:
    async with a.runtime.database.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar())


async def test_assessments_are_created_by_managers_and_the_subjects_faculty(
    academics: Academics,
) -> None:
    a = academics
    made = await a.ok("faculty", CREATE, new(a, heldOn="2026-03-01"), "assessmentCreate")
    quiz = made["assessment"]
    assert quiz["kind"] == "QUIZ" and quiz["maxMarks"] == 20.0 and quiz["heldOn"] == "2026-03-01"
    assert quiz["subjectId"] == gid("Subject", a.pks["subject"])
    await a.ok("manager", CREATE, new(a, 1, kind="PROJECT", title="Project"), "assessmentCreate")
    # Sent again: the same assessment, nothing new.
    again = await a.ok("faculty", CREATE, new(a, heldOn="2026-03-01"), "assessmentCreate")
    assert again["assessment"]["id"] == quiz["id"]
    for who in ("faculty2", "mentor", "student", "sre", "counsellor"):
        body = await a.gql(who, CREATE, new(a))
        assert codes(body["data"]["assessmentCreate"]) == ["NOT_ALLOWED"], who
    for given, code, field in [
        (new(a, maxMarks=0), "OUT_OF_RANGE", "maxMarks"),
        (new(a, maxMarks=10001), "OUT_OF_RANGE", "maxMarks"),
        (new(a, title="  "), "REQUIRED", "title"),
        (new(a, title="x" * 201), "TOO_LONG", "title"),
        ({"i": {**new(a)["i"], "topicId": gid("Topic", 10**6)}}, "NOT_FOUND", "topicId"),
    ]:
        body = await a.gql("manager", CREATE, given)
        payload = body["data"]["assessmentCreate"]
        assert codes(payload) == [code] and payload["userErrors"][0]["field"] == ["input", field]
    assert await count(a, Assessment) == 2


async def test_marks_are_recorded_within_the_maximum(academics: Academics) -> None:
    a = academics
    quiz = (await a.ok("faculty", CREATE, new(a), "assessmentCreate"))["assessment"]["id"]
    recorded = await a.ok("faculty", MARKS, marks(quiz, (a.ids["student"], 15),
                                                  (a.ids["student2"], 20)),
                          "assessmentMarksRecord")  # fmt: skip
    assert [m["marks"] for m in recorded["marks"]] == [15.0, 20.0]
    assert recorded["marks"][0]["recordedByName"] == "Faculty Person"
    # Recorded again: replaced; the same again changes nothing.
    again = await a.ok("mentor", MARKS, marks(quiz, (a.ids["student"], 18)),
                       "assessmentMarksRecord")  # fmt: skip
    assert again["marks"][0]["id"] == recorded["marks"][0]["id"]
    assert again["marks"][0]["marks"] == 18.0
    assert await count(a, AssessmentMark) == 2
    for given, code, field in [
        (marks(quiz, (a.ids["student"], 1), (a.ids["student2"], 20.5)), "MARKS_ABOVE_MAXIMUM",
         ["input", "entries", "1", "marks"]),
        (marks(quiz, (a.ids["student"], -1)), "OUT_OF_RANGE", ["input", "entries", "0", "marks"]),
        (marks(quiz, (a.ids["student3"], 1)), "OUTSIDE_MISSIONS", ["input", "entries"]),
        (marks(quiz, (a.ids["student"], 1), (a.ids["student"], 2)), "DUPLICATE",
         ["input", "entries", "1", "studentId"]),
        (marks(quiz), "INVALID", ["input", "entries"]),
        (marks(gid("Assessment", 10**6), (a.ids["student"], 1)), "NOT_FOUND",
         ["input", "assessmentId"]),
    ]:  # fmt: skip
        body = await a.gql("manager", MARKS, given)
        payload = body["data"]["assessmentMarksRecord"]
        assert codes(payload) == [code], payload
        assert payload["userErrors"][0]["field"] == field and payload["marks"] == []
    for who, student in [("faculty2", "student"), ("mentor", "student2"), ("student", "student"),
                         ("counsellor", "student")]:  # fmt: skip
        body = await a.gql(who, MARKS, marks(quiz, (a.ids[student], 1)))
        assert codes(body["data"]["assessmentMarksRecord"]) == ["NOT_ALLOWED"], who
    # Nothing of the refused ones was written.
    async with a.runtime.database.connect() as conn:
        found = sorted((await conn.execute(select(AssessmentMark.marks))).scalars())
    assert found == [18.0, 20.0]


async def test_marks_are_seen_by_who_reads_the_students_progress(academics: Academics) -> None:
    a = academics
    quiz = (await a.ok("faculty", CREATE, new(a), "assessmentCreate"))["assessment"]["id"]
    project = (await a.ok("manager", CREATE, new(a, 1, kind="PROJECT", maxMarks=80),
                          "assessmentCreate"))["assessment"]["id"]  # fmt: skip
    await a.ok("faculty", MARKS, marks(quiz, (a.ids["student"], 15), (a.ids["student2"], 5)),
               "assessmentMarksRecord")  # fmt: skip
    await a.ok("faculty", MARKS, marks(project, (a.ids["student"], 60)), "assessmentMarksRecord")
    both = ["Student Person", "Student2 Person"]
    for who, seen in [
        ("manager", both), ("faculty", both), ("faculty2", both), ("sre", both),
        ("mentor", ["Student Person"]), ("student", ["Student Person"]),
        ("student2", ["Student2 Person"]), ("student3", None), ("alumnus", None),
        ("counsellor", None),
    ]:  # fmt: skip
        node = (await a.gql(who, NODE, {"id": quiz}))["data"]["node"]
        if seen is None:
            assert node is None, who
            continue
        names = [e["node"]["student"]["name"] for e in node["marks"]["edges"]]
        assert names == seen and node["marks"]["totalCount"] == len(seen), who
    # The average mark in the table: (15 + 60) / (20 + 80) and 5 / 20.
    body = await a.gql("manager", TABLE, {"j": gid("Subject", a.pks["subject"]),
                                          "m": gid("Mission", a.pks["mission"])})  # fmt: skip
    figures = {e["node"]["student"]["name"]: e["node"]["averageMarkPercent"]
               for e in body["data"]["subjectProgress"]["edges"]}  # fmt: skip
    assert figures == {"Student Person": 75.0, "Student2 Person": 25.0}
    body = await a.gql("manager", LIST, {"j": gid("Subject", a.pks["subject"]),
                                         "t": gid("Topic", a.topics[1])})  # fmt: skip
    assert [e["node"]["id"] for e in body["data"]["assessments"]["edges"]] == [project]
    body = await a.gql("counsellor", LIST, {"j": gid("Subject", a.pks["subject"])})
    assert body["data"]["assessments"]["edges"] == []


async def test_assessments_with_their_marks_take_the_same_statements_whatever_their_number(
    academics: Academics,
) -> None:
    a = academics
    subject = gid("Subject", a.pks["subject"])
    token = a.tokens["faculty"]
    for n in range(2):
        made = await a.ok("faculty", CREATE, new(a, title=f"Quiz {n}"), "assessmentCreate")
        await a.ok("faculty", MARKS, marks(made["assessment"]["id"], (a.ids["student"], n)),
                   "assessmentMarksRecord")  # fmt: skip
    small, body = await a.api.sql_count(LIST, {"j": subject}, token)
    assert len(body["data"]["assessments"]["edges"]) == 2
    for n in range(2, 8):
        made = await a.ok("faculty", CREATE, new(a, title=f"Quiz {n}"), "assessmentCreate")
        await a.ok("faculty", MARKS, marks(made["assessment"]["id"], (a.ids["student"], n),
                                           (a.ids["student2"], n)),
                   "assessmentMarksRecord")  # fmt: skip
    large, body = await a.api.sql_count(LIST, {"j": subject}, token)
    assert len(body["data"]["assessments"]["edges"]) == 8
    assert small == large
