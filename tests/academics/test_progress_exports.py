"""Exports of a subject's progress table (TOPIC_PROGRESS) and of its students behind the plan
(STUDENTS_BEHIND), through the export pipeline: `data:export`, the rows the table shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from tests.academics.conftest import Academics, codes, gid

RECORD = """mutation($i: TopicProgressRecordInput!) { topicProgressRecord(input: $i) {
  userErrors { code } } }"""
EXPORT = """mutation($i: ExportCreateInput!) { exportCreate(input: $i) { job { id }
  userErrors { field code } } }"""


async def exported(a: Academics, who: str, **given: Any) -> bytes:
    await a.ok(who, EXPORT, {"i": given}, "exportCreate")
    await a.api.run_jobs()
    body = await a.gql(who, "{ exports(first: 1) { edges { node { downloadUrl } } } }")
    url = urlparse(body["data"]["exports"]["edges"][0]["node"]["downloadUrl"])
    response = await a.api.client.get(f"{url.path}?{url.query}")
    assert response.status_code == 200
    return response.content


async def test_progress_tables_export(academics: Academics) -> None:
    a = academics
    for topic in range(3):
        given = {"topicId": gid("Topic", a.topics[topic]),
                 "entries": [{"studentId": a.ids["student"], "status": "COMPLETED",
                              "competency": 4}]}  # fmt: skip
        await a.ok("faculty", RECORD, {"i": given}, "topicProgressRecord")
    subject = gid("Subject", a.pks["subject"])
    mission = gid("Mission", a.pks["mission"])
    got = await exported(a, "manager", kind="TOPIC_PROGRESS", format="CSV", subjectId=subject,
                         missionId=mission)  # fmt: skip
    lines = got.decode().splitlines()
    assert lines[0] == (
        "name,email,topics,completed,in_progress,needs_revision,not_started,percent_complete,"
        "average_competency,velocity,forecast_completion,expected_completed,behind,"
        "last_recorded_at,topics_behind"
    )
    today = datetime.now(UTC).date()
    first = lines[1].split(",")
    # Three topics completed now: 0.75 a week, one topic left (ten days).
    assert first[:13] == ["Student Person", "student@example.org", "4", "3", "0", "0", "1",
                          "75.0", "4.0", "0.75", str(today + timedelta(days=10)), "2",
                          "False"]  # fmt: skip
    assert first[14] == "0"
    assert lines[2].split(",")[:8] == ["Student2 Person", "student2@example.org", "4", "0", "0",
                                       "0", "4", "0.0"]  # fmt: skip
    assert len(lines) == 3
    rows = (await exported(a, "admin", kind="STUDENTS_BEHIND", format="JSONL",
                           subjectId=subject, batchId=gid("Batch", a.pks["batch"])))  # fmt: skip
    found = [json.loads(r) for r in rows.splitlines()]
    assert [(r["name"], r["behind"], r["topics_behind"]) for r in found] == [
        ("Student2 Person", True, 2)
    ]
    # data:export, a subject, and a mission or a batch.
    for who in ("faculty", "mentor", "student"):
        body = await a.gql(
            who,
            EXPORT,
            {
                "i": {
                    "kind": "TOPIC_PROGRESS",
                    "format": "CSV",
                    "subjectId": subject,
                    "missionId": mission,
                }
            },
        )
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    for given, code, field in [
        ({"subjectId": gid("Subject", 10**6), "missionId": mission}, "NOT_FOUND", "subjectId"),
        ({"subjectId": subject, "missionId": mission, "batchId": gid("Batch", a.pks["batch"])},
         "INVALID", "missionId"),
        ({"subjectId": subject, "batchId": gid("Batch", 10**6)}, "NOT_FOUND", "batchId"),
    ]:  # fmt: skip
        body = await a.gql("manager", EXPORT, {"i": {"kind": "STUDENTS_BEHIND", "format": "CSV",
                                                     **given}})  # fmt: skip
        payload = body["data"]["exportCreate"]
        assert codes(payload) == [code] and payload["userErrors"][0]["field"] == ["input", field]


async def test_an_export_holds_only_the_rows_its_requester_may_read(
    academics: Academics,
) -> None:
    """Who holds data:export but reads no progress (admissions counsellors) gets a file with
    its header only."""
    a = academics
    got = await exported(a, "counsellor", kind="TOPIC_PROGRESS", format="CSV",
                         subjectId=gid("Subject", a.pks["subject"]),
                         missionId=gid("Mission", a.pks["mission"]))  # fmt: skip
    lines = got.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("name,email,topics")
