"""Topic progress: recorded through GraphQL by the subject's faculty, the student's mentor
and academics managers (all or nothing, idempotent, started and completed moments kept);
bad input and the wrong people refused with nothing written; read per topic and node by
who may read it; the subject's progress table (velocity, forecast, behind the plan)
computed in SQL, per role, in a constant number of statements; a student's own progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from alumnet.domain.academics.progress import expected_done
from alumnet.persistence.models import Enrollment, TopicProgress
from alumnet.persistence.uow import Origin
from tests.academics.conftest import Academics, add_subject, codes, gid, pk_of

RECORD = """mutation($i: TopicProgressRecordInput!) { topicProgressRecord(input: $i) {
  progress { id status competency note startedAt completedAt updatedAt recordedByName
    topicId subjectId student { id } }
  userErrors { field code message } } }"""
STANDING = """query($s: ID!, $j: ID!) { topicProgress(studentId: $s, subjectId: $j) {
  topicId topicTitle position status competency progressId recordedByName } }"""
NODE = """query($id: ID!) { node(id: $id) { ... on TopicProgress { id status } } }"""
TABLE = """query($j: ID!, $m: ID, $b: ID, $f: SubjectProgressFilter, $o: SubjectProgressOrder,
  $n: Int) {
  subjectProgress(subjectId: $j, missionId: $m, batchId: $b, filter: $f, orderBy: $o,
    first: $n) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { student { id name } subjectName topics completed inProgress needsRevision
      notStarted percentComplete averageCompetency velocity forecastCompletion
      expectedCompleted behind lastRecordedAt averageMarkPercent } } } }"""
MINE = """{ myAcademicProgress { subjectId subjectName topics completed percentComplete
  expectedCompleted behind } }"""


def entry(a: Academics, who: str, status: str = "IN_PROGRESS", **more: Any) -> dict[str, Any]:
    return {"studentId": a.ids[who], "status": status, **more}


def record_input(a: Academics, topic: int, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"i": {"topicId": gid("Topic", a.topics[topic]), "entries": list(entries)}}


async def rows(a: Academics) -> int:
    async with a.runtime.database.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(TopicProgress))).scalar())


async def test_record_and_record_again(academics: Academics) -> None:
    a = academics
    given = record_input(a, 0, entry(a, "student", competency=3, note=" Good start "),
                         entry(a, "student2"))  # fmt: skip
    payload = await a.ok("faculty", RECORD, given, "topicProgressRecord")
    first, second = payload["progress"]
    assert first["status"] == "IN_PROGRESS" and first["competency"] == 3
    assert first["note"] == "Good start" and first["recordedByName"] == "Faculty Person"
    assert first["startedAt"] is not None and first["completedAt"] is None
    assert first["student"]["id"] == a.ids["student"] and second["competency"] is None
    assert first["topicId"] == gid("Topic", a.topics[0])
    assert first["subjectId"] == gid("Subject", a.pks["subject"])
    # The same again changes nothing.
    again = await a.ok("faculty", RECORD, given, "topicProgressRecord")
    assert again["progress"] == payload["progress"]
    # Completed, then needs revision: started kept, completed set then cleared.
    done = await a.ok("mentor", RECORD, record_input(a, 0, entry(a, "student", "COMPLETED",
                                                                 competency=4)),
                      "topicProgressRecord")  # fmt: skip
    [row] = done["progress"]
    assert row["id"] == first["id"] and row["completedAt"] is not None
    assert row["startedAt"] == first["startedAt"] and row["recordedByName"] == "Mentor Person"
    revise = await a.ok("manager", RECORD, record_input(a, 0, entry(a, "student",
                                                                    "NEEDS_REVISION")),
                        "topicProgressRecord")  # fmt: skip
    [row] = revise["progress"]
    assert row["completedAt"] is None and row["startedAt"] == first["startedAt"]
    assert row["competency"] is None
    assert await rows(a) == 2


async def test_bad_input_is_refused_and_nothing_is_written(academics: Academics) -> None:
    a = academics
    cases = [
        (record_input(a, 0, entry(a, "student"), entry(a, "student2", competency=6)),
         ["OUT_OF_RANGE"], ["input", "entries", "1", "competency"]),
        (record_input(a, 0, entry(a, "student"), entry(a, "student3")),
         ["OUTSIDE_MISSIONS"], ["input", "entries"]),
        (record_input(a, 0, entry(a, "student"), entry(a, "student")),
         ["DUPLICATE"], ["input", "entries", "1", "studentId"]),
        (record_input(a, 0, entry(a, "student", note="x" * 2001)),
         ["TOO_LONG"], ["input", "entries", "0", "note"]),
        (record_input(a, 0), ["INVALID"], ["input", "entries"]),
        (record_input(a, 0, *[{"studentId": gid("User", 10**6 + n), "status": "COMPLETED"}
                              for n in range(501)]), ["INVALID"], ["input", "entries"]),
        ({"i": {"topicId": gid("Topic", 10**6), "entries": [entry(a, "student")]}},
         ["NOT_FOUND"], ["input", "topicId"]),
        ({"i": {"topicId": gid("Topic", a.topics[0]),
                "entries": [{"studentId": gid("Batch", 1), "status": "COMPLETED"}]}},
         ["NOT_FOUND"], ["input", "entries", "0", "studentId"]),
    ]  # fmt: skip
    for variables, expected, field in cases:
        body = await a.gql("manager", RECORD, variables)
        payload = body["data"]["topicProgressRecord"]
        assert codes(payload) == expected, payload
        assert payload["userErrors"][0]["field"] == field
        assert payload["progress"] == []
    assert await rows(a) == 0


async def test_the_wrong_people_record_nothing(academics: Academics) -> None:
    a = academics
    asks = [("faculty2", "student"), ("mentor", "student2"), ("student", "student"),
            ("student2", "student"), ("counsellor", "student"), ("alumnus", "student"),
            ("sre", "student")]  # fmt: skip
    for who, student in asks:
        body = await a.gql(who, RECORD, record_input(a, 1, entry(a, student)))
        assert codes(body["data"]["topicProgressRecord"]) == ["NOT_ALLOWED"], (who, body)
    # The mentor with one mentee among two: nothing for either.
    body = await a.gql("mentor", RECORD, record_input(a, 1, entry(a, "student"),
                                                      entry(a, "student2")))  # fmt: skip
    assert codes(body["data"]["topicProgressRecord"]) == ["NOT_ALLOWED"]
    body = await a.api.gql(RECORD, record_input(a, 1, entry(a, "student")))
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await rows(a) == 0


async def test_progress_is_read_by_who_may_read_it(academics: Academics) -> None:
    a = academics
    payload = await a.ok("faculty", RECORD, record_input(a, 1, entry(a, "student", "COMPLETED",
                                                                     competency=5),
                                                         entry(a, "student2")),
                         "topicProgressRecord")  # fmt: skip
    mine, theirs = (p["id"] for p in payload["progress"])
    subject = gid("Subject", a.pks["subject"])
    for who, seen in [
        ("admin", {mine, theirs}), ("manager", {mine, theirs}), ("sre", {mine, theirs}),
        ("faculty", {mine, theirs}), ("faculty2", {mine, theirs}),  # cohorts:read
        ("mentor", {mine}), ("student", {mine}), ("student2", {theirs}), ("student3", set()),
        ("alumnus", set()), ("counsellor", set()),
    ]:  # fmt: skip
        found = set()
        for pid in (mine, theirs):
            body = await a.gql(who, NODE, {"id": pid})
            if body["data"]["node"] is not None:
                found.add(pid)
        assert found == seen, who
        for student, pid in (("student", mine), ("student2", theirs)):
            body = await a.gql(who, STANDING, {"s": a.ids[student], "j": subject})
            standing = body["data"]["topicProgress"]
            if pid in seen:
                assert [s["status"] for s in standing] == (
                    ["NOT_STARTED", "COMPLETED", "NOT_STARTED", "NOT_STARTED"]
                    if student == "student"
                    else ["NOT_STARTED", "IN_PROGRESS", "NOT_STARTED", "NOT_STARTED"]
                ), who
                assert [s["position"] for s in standing] == [0, 1, 2, 3]
                assert standing[1]["progressId"] == pid and standing[0]["progressId"] is None
                assert standing[1]["recordedByName"] == "Faculty Person"
            else:
                assert standing == [], (who, student)
    body = await a.api.gql(NODE, {"id": mine})
    assert body["data"]["node"] is None


async def set_completed(a: Academics, student: str, topic: int, days_ago: int) -> None:
    moment = datetime.now(UTC) - timedelta(days=days_ago)
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        await uow.session.execute(
            update(TopicProgress)
            .where(TopicProgress.student_id == a.pks[student],
                   TopicProgress.topic_id == a.topics[topic])
            .values(completed_at=moment, started_at=moment - timedelta(days=1))
        )  # fmt: skip


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    edges = body["data"]["subjectProgress"]["edges"]
    return {e["node"]["student"]["name"]: e["node"] for e in edges}


async def test_the_table_computes_velocity_forecast_and_behind(academics: Academics) -> None:
    a = academics
    # student: topics 1-3 completed (two within 28 days, one 40 days ago), topic 4 in
    # progress with competency 2 and 4; student2: one topic completed 60 days ago.
    for topic in range(3):
        await a.ok("faculty", RECORD, record_input(a, topic, entry(a, "student", "COMPLETED",
                                                                   competency=4)),
                   "topicProgressRecord")  # fmt: skip
    await a.ok("faculty", RECORD, record_input(a, 3, entry(a, "student", competency=2),
                                               entry(a, "student2", "NEEDS_REVISION")),
               "topicProgressRecord")  # fmt: skip
    await a.ok("faculty", RECORD, record_input(a, 0, entry(a, "student2", "COMPLETED")),
               "topicProgressRecord")  # fmt: skip
    await set_completed(a, "student", 0, 40)
    await set_completed(a, "student", 1, 20)
    await set_completed(a, "student", 2, 3)
    await set_completed(a, "student2", 0, 60)
    subject = gid("Subject", a.pks["subject"])
    body = await a.gql("manager", TABLE, {"j": subject, "m": gid("Mission", a.pks["mission"])})
    assert "errors" not in body, body
    table = by_name(body)
    assert list(table) == ["Student Person", "Student2 Person"]
    one, two = table["Student Person"], table["Student2 Person"]
    assert body["data"]["subjectProgress"]["totalCount"] == 2
    assert (one["topics"], one["completed"], one["inProgress"], one["needsRevision"],
            one["notStarted"]) == (4, 3, 1, 0, 0)  # fmt: skip
    assert one["percentComplete"] == 75.0 and one["averageCompetency"] == 3.5
    assert one["velocity"] == 0.5  # two topics in four weeks
    today = datetime.now(UTC).date()
    assert one["forecastCompletion"] == (today + timedelta(days=14)).isoformat()
    # Started four weeks ago for eight weeks: half of the plan's minutes, two topics.
    assert one["expectedCompleted"] == 2 and one["behind"] is False
    assert one["subjectName"] == "Python" and one["lastRecordedAt"] is not None
    assert (two["completed"], two["needsRevision"], two["notStarted"]) == (1, 1, 2)
    assert two["velocity"] == 0.0 and two["forecastCompletion"] is None
    assert two["behind"] is True and two["averageCompetency"] is None
    assert two["percentComplete"] == 25.0
    # Filters and orders.
    body = await a.gql("manager", TABLE, {"j": subject, "m": gid("Mission", a.pks["mission"]),
                                          "f": {"behindOnly": True}})  # fmt: skip
    assert list(by_name(body)) == ["Student2 Person"]
    body = await a.gql("manager", TABLE, {"j": subject, "b": gid("Batch", a.pks["batch"]),
                                          "o": {"field": "BEHIND"}})  # fmt: skip
    assert list(by_name(body)) == ["Student2 Person", "Student Person"]
    body = await a.gql("manager", TABLE, {"j": subject, "b": gid("Batch", a.pks["batch"]),
                                          "o": {"field": "PERCENT"}, "n": 1})  # fmt: skip
    assert list(by_name(body)) == ["Student Person"]
    cursor = body["data"]["subjectProgress"]["pageInfo"]["endCursor"]
    body = await a.api.gql(
        TABLE.replace("first: $n)", "first: $n, after: $c)").replace("$n: Int)", "$n: Int, "
                                                                      "$c: String)"),
        {"j": subject, "b": gid("Batch", a.pks["batch"]), "o": {"field": "PERCENT"}, "n": 1,
         "c": cursor}, token=a.tokens["manager"],
    )  # fmt: skip
    assert list(by_name(body)) == ["Student2 Person"]
    body = await a.gql("manager", TABLE, {"j": subject, "b": gid("Batch", a.pks["batch"]),
                                          "f": {"search": "student2"}})  # fmt: skip
    assert list(by_name(body)) == ["Student2 Person"]
    # Neither mission nor batch: every student the subject is taught to; both: refused.
    body = await a.gql("manager", TABLE, {"j": subject})
    assert list(by_name(body)) == ["Student Person", "Student2 Person"]
    body = await a.gql("manager", TABLE, {"j": subject, "m": gid("Mission", a.pks["mission"]),
                                          "b": gid("Batch", a.pks["batch"])})  # fmt: skip
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_the_plan_expects_topics_by_cumulative_minutes() -> None:
    start = datetime(2026, 1, 1).date()
    end = start + timedelta(days=100)
    minutes = [60, 60, 120, 360, 400]  # 1,000 minutes
    assert expected_done(minutes, start, end, start - timedelta(days=1)) == 0
    assert expected_done(minutes, start, end, start + timedelta(days=11)) == 1
    assert expected_done(minutes, start, end, start + timedelta(days=12)) == 2
    assert expected_done(minutes, start, end, start + timedelta(days=59)) == 3
    assert expected_done(minutes, start, end, start + timedelta(days=60)) == 4
    assert expected_done(minutes, start, end, end) == 5
    assert expected_done([0, 0, 0, 0], start, end, start + timedelta(days=50)) == 2


async def test_the_table_shows_each_role_what_it_may_read(academics: Academics) -> None:
    a = academics
    subject = gid("Subject", a.pks["subject"])
    mission = gid("Mission", a.pks["mission"])
    everyone = ["Student Person", "Student2 Person"]
    for who, seen in [
        ("admin", everyone), ("manager", everyone), ("sre", everyone), ("faculty", everyone),
        ("faculty2", everyone), ("mentor", ["Student Person"]), ("student", []),
        ("student2", []), ("alumnus", []), ("counsellor", []),
    ]:  # fmt: skip
        body = await a.gql(who, TABLE, {"j": subject, "m": mission})
        assert list(by_name(body)) == seen, who
    # The second mission: no offering of the subject covers it.
    body = await a.gql("manager", TABLE, {"j": subject, "m": gid("Mission", a.pks["mission2"])})
    assert by_name(body) == {}
    body = await a.api.gql(TABLE, {"j": subject, "m": mission})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def add_students(a: Academics, count: int) -> None:
    for n in range(count):
        uid, _ = await a.api.create_user(f"extra{n}@example.org", ["STUDENT"], name=f"Extra {n}")
        async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
            uow.session.add(Enrollment(mission_id=a.pks["mission"], student_id=pk_of(uid)))


async def test_the_table_takes_the_same_statements_for_2_or_10_students(
    academics: Academics,
) -> None:
    a = academics
    subject = gid("Subject", a.pks["subject"])
    variables = {"j": subject, "m": gid("Mission", a.pks["mission"]), "n": 50}
    token = a.tokens["manager"]
    small, body = await a.api.sql_count(TABLE, variables, token)
    assert len(body["data"]["subjectProgress"]["edges"]) == 2
    await add_students(a, 8)
    await a.ok("faculty", RECORD, record_input(a, 0, *[
        {"studentId": gid("User", s), "status": "COMPLETED"}
        for s in await _all_students(a)
    ]), "topicProgressRecord")  # fmt: skip
    large, body = await a.api.sql_count(TABLE, variables, token)
    assert len(body["data"]["subjectProgress"]["edges"]) == 10
    assert small == large


async def _all_students(a: Academics) -> list[int]:
    async with a.runtime.database.connect() as conn:
        found = await conn.execute(
            select(Enrollment.student_id).where(Enrollment.mission_id == a.pks["mission"])
        )
        return [int(s) for s in found.scalars()]


async def test_a_student_reads_their_own_progress(academics: Academics) -> None:
    a = academics
    # A second subject offered to the whole batch, not led by anyone.
    await add_subject(a, "DB", "Databases", 2, batch_id=a.pks["batch"])
    await a.ok("manager", RECORD, record_input(a, 0, entry(a, "student", "COMPLETED")),
               "topicProgressRecord")  # fmt: skip
    body = await a.gql("student", MINE)
    mine = body["data"]["myAcademicProgress"]
    assert [(m["subjectName"], m["topics"], m["completed"]) for m in mine] == [
        ("Databases", 2, 0), ("Python", 4, 1),
    ]  # fmt: skip
    assert mine[1]["percentComplete"] == 25.0 and mine[1]["expectedCompleted"] == 2
    body = await a.gql("student3", MINE)
    assert [m["subjectName"] for m in body["data"]["myAcademicProgress"]] == ["Databases"]
    for who in ("alumnus", "manager"):
        body = await a.gql(who, MINE)
        assert body["data"]["myAcademicProgress"] == []
