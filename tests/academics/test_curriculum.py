"""Curriculum through GraphQL: subjects and topics (create, order, prerequisites without
circles, delete unless progress), programmes' subjects, offerings (their rules, the lead
told), who sees what, and the statement counts of the lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from alumnet.persistence.models import (
    AuditEvent,
    Notification,
    Programme,
    Subject,
    SubjectOffering,
    Topic,
    TopicPrerequisite,
    TopicProgress,
)
from alumnet.persistence.uow import Origin
from tests.academics.conftest import Academics, add_subject, codes, gid, pk_of

SUBJECT_CREATE = """mutation($i: SubjectCreateInput!) { subjectCreate(input: $i) {
  subject { id code name status topicCount estimatedHours }
  userErrors { field code message } } }"""
SUBJECT_UPDATE = """mutation($i: SubjectUpdateInput!) { subjectUpdate(input: $i) {
  subject { id code name status } userErrors { field code message } } }"""
TOPIC_CREATE = """mutation($i: TopicCreateInput!) { topicCreate(input: $i) {
  topic { id code title position estimatedHours subject { code } }
  userErrors { field code message } } }"""
TOPIC_UPDATE = """mutation($i: TopicUpdateInput!) { topicUpdate(input: $i) {
  topic { id code title estimatedHours } userErrors { field code message } } }"""
TOPIC_DELETE = """mutation($i: TopicDeleteInput!) { topicDelete(input: $i) {
  deletedTopicId subject { topics { edges { node { code position } } } }
  userErrors { field code message } } }"""
REORDER = """mutation($i: TopicsReorderInput!) { topicsReorder(input: $i) {
  subject { topics { edges { node { code position } } } } userErrors { field code message } } }"""
PREREQUISITES = """mutation($i: TopicPrerequisitesSetInput!) { topicPrerequisitesSet(input: $i) {
  topic { code prerequisites { code } } userErrors { field code message } } }"""
PROGRAMME_SUBJECTS = """mutation($i: ProgrammeSubjectsSetInput!) {
  programmeSubjectsSet(input: $i) { programme { code } subjects { code }
  userErrors { field code message } } }"""
OFFERING_CREATE = """mutation($i: SubjectOfferingCreateInput!) { subjectOfferingCreate(input: $i) {
  subjectOffering { id startsOn endsOn subject { code } mission { code } batch { code }
  faculty { id } } userErrors { field code message } } }"""
OFFERING_UPDATE = """mutation($i: SubjectOfferingUpdateInput!) { subjectOfferingUpdate(input: $i) {
  subjectOffering { id endsOn faculty { id } } userErrors { field code message } } }"""
OFFERING_DELETE = """mutation($i: SubjectOfferingDeleteInput!) { subjectOfferingDelete(input: $i) {
  deletedSubjectOfferingId userErrors { field code message } } }"""
TOPICS = """query($n: ID!) { node(id: $n) { ... on Subject { code topicCount estimatedHours
  topics { totalCount edges { node { code position prerequisites { code } requiredBy { code } } } }
} } }"""
SUBJECTS = """query($f: SubjectFilter) { subjects(filter: $f, first: 20) { totalCount
  edges { node { code topicCount estimatedHours programmes { code }
  topics(first: 10) { edges { node { code estimatedHours prerequisites { code }
    requiredBy { code } subject { code } } } }
  offerings(first: 5) { totalCount edges { node { id mission { code } } } } } } } }"""
OFFERINGS = """query($f: SubjectOfferingFilter) { subjectOfferings(filter: $f, first: 100) {
  totalCount edges { node { id subject { code } mission { code } batch { code } faculty { id }
  } } } }"""
MINE = (
    """{ mySubjectOfferings(first: 100) { totalCount edges { node { id subject { code } } } } }"""
)
NODE = """query($n: ID!) { node(id: $n) { id } }"""


def _day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


async def _read(a: Academics, query: Any) -> list[Any]:
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        return list((await uow.session.execute(query)).all())


async def _subject(a: Academics, code: str, name: str = "Some subject") -> str:
    made = await a.ok(
        "manager", SUBJECT_CREATE, {"i": {"code": code, "name": name}}, "subjectCreate"
    )
    return str(made["subject"]["id"])


async def _topic(a: Academics, subject: str, code: str, hours: float = 1, **more: Any) -> str:
    made = await a.ok(
        "manager",
        TOPIC_CREATE,
        {
            "i": {
                "subjectId": subject,
                "code": code,
                "title": f"Topic {code}",
                "estimatedHours": hours,
                **more,
            }
        },
        "topicCreate",
    )
    return str(made["topic"]["id"])


async def _order(a: Academics, subject: str) -> list[str]:
    body = await a.gql("student", TOPICS, {"n": subject})
    return [e["node"]["code"] for e in body["data"]["node"]["topics"]["edges"]]


async def test_subjects_and_topics(academics: Academics) -> None:
    a = academics
    subject = await _subject(a, " db-101 ", "Databases")
    body = await a.gql("manager", TOPICS, {"n": subject})
    assert body["data"]["node"]["code"] == "DB-101"
    t1 = await _topic(a, subject, "sql", 1.5)
    t2 = await _topic(a, subject, "T2", 2)
    t0 = await _topic(a, subject, "T0", 0.25, position=1)
    assert await _order(a, subject) == ["T0", "SQL", "T2"]
    found = (await a.gql("alumnus", TOPICS, {"n": subject}))["data"]["node"]
    assert found["topicCount"] == 3
    assert found["estimatedHours"] == 3.75
    assert [e["node"]["position"] for e in found["topics"]["edges"]] == [1, 2, 3]

    # Bad input: clear errors, nothing written.
    bad = await a.gql(
        "manager",
        TOPIC_CREATE,
        {"i": {"subjectId": subject, "code": "sql", "title": "Again", "estimatedHours": 1}},
    )
    assert codes(bad["data"]["topicCreate"]) == ["DUPLICATE_CODE"]
    for hours in (1.1, -1, 1000.25):
        bad = await a.gql(
            "manager",
            TOPIC_CREATE,
            {"i": {"subjectId": subject, "code": "X", "title": "X", "estimatedHours": hours}},
        )
        assert codes(bad["data"]["topicCreate"]) == ["INVALID_HOURS"], hours
    bad = await a.gql(
        "manager",
        TOPIC_CREATE,
        {"i": {"subjectId": subject, "code": "a b", "title": "X", "position": 9}},
    )
    assert sorted(codes(bad["data"]["topicCreate"])) == ["INVALID", "INVALID"]
    again = await a.gql("manager", SUBJECT_CREATE, {"i": {"code": "Db-101", "name": "Again"}})
    assert codes(again["data"]["subjectCreate"]) == ["DUPLICATE_CODE"]
    assert await _order(a, subject) == ["T0", "SQL", "T2"]
    assert len(await _read(a, select(Subject.id).where(Subject.code == "DB-101"))) == 1

    # Update and reorder.
    await a.ok(
        "manager",
        TOPIC_UPDATE,
        {"i": {"id": t1, "title": "SQL basics", "estimatedHours": 2}},
        "topicUpdate",
    )
    bad = await a.gql("manager", TOPIC_UPDATE, {"i": {"id": t1, "code": "T2"}})
    assert codes(bad["data"]["topicUpdate"]) == ["DUPLICATE_CODE"]
    moved = await a.ok(
        "manager", REORDER, {"i": {"subjectId": subject, "topicIds": [t2, t1, t0]}}, "topicsReorder"
    )
    assert [e["node"]["code"] for e in moved["subject"]["topics"]["edges"]] == ["T2", "SQL", "T0"]
    for wrong in ([t2, t1], [t2, t1, t0, t0], [t2, t1, gid("Topic", a.topics[0])]):
        bad = await a.gql("manager", REORDER, {"i": {"subjectId": subject, "topicIds": wrong}})
        assert codes(bad["data"]["topicsReorder"]) == ["INVALID"], wrong
    assert await _order(a, subject) == ["T2", "SQL", "T0"]

    # Archive.
    archived = await a.ok(
        "manager", SUBJECT_UPDATE, {"i": {"id": subject, "status": "ARCHIVED"}}, "subjectUpdate"
    )
    assert archived["subject"]["status"] == "ARCHIVED"
    listed = await a.gql("student", SUBJECTS, {"f": {"status": "ACTIVE"}})
    assert [e["node"]["code"] for e in listed["data"]["subjects"]["edges"]] == ["PY"]
    listed = await a.gql("student", SUBJECTS, {"f": {"search": "datab"}})
    assert [e["node"]["code"] for e in listed["data"]["subjects"]["edges"]] == ["DB-101"]
    actions = {r[0] for r in await _read(a, select(AuditEvent.action))}
    assert {
        "subject.create",
        "topic.create",
        "topic.update",
        "subject.topics_reorder",
        "subject.archive",
    } <= actions

    # Delete: the others move up; refused once progress is recorded.
    done = await a.ok("manager", TOPIC_DELETE, {"i": {"id": t1}}, "topicDelete")
    edges = done["subject"]["topics"]["edges"]
    assert [(e["node"]["code"], e["node"]["position"]) for e in edges] == [("T2", 1), ("T0", 2)]
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        uow.session.add(
            TopicProgress(
                student_id=a.pks["student"],
                topic_id=a.topics[0],
                subject_id=a.pks["subject"],
                status="in_progress",
            )
        )
    bad = await a.gql("manager", TOPIC_DELETE, {"i": {"id": gid("Topic", a.topics[0])}})
    assert codes(bad["data"]["topicDelete"]) == ["HAS_PROGRESS"]
    assert len(await _read(a, select(Topic.id).where(Topic.id == a.topics[0]))) == 1


async def test_prerequisites_never_circular(academics: Academics) -> None:
    a = academics
    subject = await _subject(a, "ALG")
    ta, tb, tc = [await _topic(a, subject, c) for c in ("A", "B", "C")]
    other = gid("Topic", a.topics[0])  # PY/T1
    await a.ok(
        "manager",
        PREREQUISITES,
        {"i": {"topicId": ta, "prerequisiteIds": [tb, other]}},
        "topicPrerequisitesSet",
    )
    made = await a.ok(
        "manager",
        PREREQUISITES,
        {"i": {"topicId": tb, "prerequisiteIds": [tc]}},
        "topicPrerequisitesSet",
    )
    assert made["topic"]["prerequisites"] == [{"code": "C"}]
    before = await _read(a, select(TopicPrerequisite.topic_id, TopicPrerequisite.requires_id))

    bad = await a.gql("manager", PREREQUISITES, {"i": {"topicId": tc, "prerequisiteIds": [ta]}})
    errors = bad["data"]["topicPrerequisitesSet"]["userErrors"]
    assert [e["code"] for e in errors] == ["CIRCULAR_PREREQUISITE"]
    assert "C → A → B → C" in errors[0]["message"]
    assert errors[0]["field"] == ["input", "prerequisiteIds"]
    bad = await a.gql("manager", PREREQUISITES, {"i": {"topicId": ta, "prerequisiteIds": [ta]}})
    assert codes(bad["data"]["topicPrerequisitesSet"]) == ["SELF_PREREQUISITE"]
    bad = await a.gql(
        "manager", PREREQUISITES, {"i": {"topicId": ta, "prerequisiteIds": [gid("Topic", 99999)]}}
    )
    assert codes(bad["data"]["topicPrerequisitesSet"]) == ["NOT_FOUND"]
    after = await _read(a, select(TopicPrerequisite.topic_id, TopicPrerequisite.requires_id))
    assert sorted(after) == sorted(before)

    found = (await a.gql("student", TOPICS, {"n": subject}))["data"]["node"]["topics"]["edges"]
    by_code = {e["node"]["code"]: e["node"] for e in found}
    assert by_code["A"]["prerequisites"] == [{"code": "B"}, {"code": "T1"}]
    assert by_code["C"]["requiredBy"] == [{"code": "B"}]
    # Replacing with none clears them.
    await a.ok(
        "manager",
        PREREQUISITES,
        {"i": {"topicId": tb, "prerequisiteIds": []}},
        "topicPrerequisitesSet",
    )
    await a.ok(
        "manager",
        PREREQUISITES,
        {"i": {"topicId": tc, "prerequisiteIds": [ta]}},
        "topicPrerequisitesSet",
    )


async def test_programme_subjects(academics: Academics) -> None:
    a = academics
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        programme = Programme(code="BSC-CS", name="Computer science", first_graduation_year=2000)
        uow.session.add(programme)
        await uow.session.flush()
        programme_gid = gid("Programme", programme.id)
    other = await _subject(a, "ALG")
    py = gid("Subject", a.pks["subject"])
    made = await a.ok(
        "manager",
        PROGRAMME_SUBJECTS,
        {"i": {"programmeId": programme_gid, "subjectIds": [other, py]}},
        "programmeSubjectsSet",
    )
    assert made["subjects"] == [{"code": "ALG"}, {"code": "PY"}]
    listed = await a.gql("student", SUBJECTS, {"f": {"programmeId": programme_gid}})
    nodes = [e["node"] for e in listed["data"]["subjects"]["edges"]]
    assert [(n["code"], n["programmes"]) for n in nodes] == [
        ("ALG", [{"code": "BSC-CS"}]),
        ("PY", [{"code": "BSC-CS"}]),
    ]
    bad = await a.gql(
        "manager", PROGRAMME_SUBJECTS, {"i": {"programmeId": programme_gid, "subjectIds": [py, py]}}
    )
    assert codes(bad["data"]["programmeSubjectsSet"]) == ["INVALID"]
    denied = await a.gql(
        "faculty", PROGRAMME_SUBJECTS, {"i": {"programmeId": programme_gid, "subjectIds": []}}
    )
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_offerings(academics: Academics) -> None:
    a = academics
    subject = await _subject(a, "ALG")
    mission2, batch = gid("Mission", a.pks["mission2"]), gid("Batch", a.pks["batch"])
    given = {
        "subjectId": subject,
        "missionId": mission2,
        "facultyId": a.ids["faculty2"],
        "startsOn": _day(0),
        "endsOn": _day(60),
    }
    made = await a.ok("manager", OFFERING_CREATE, {"i": given}, "subjectOfferingCreate")
    offering = made["subjectOffering"]
    assert offering["mission"] == {"code": "ACB-2"}
    assert offering["faculty"] == {"id": a.ids["faculty2"]}
    told = await _read(a, select(Notification.user_id, Notification.kind, Notification.title))
    assert [(u, k) for u, k, _ in told] == [(a.pks["faculty2"], "academics")]

    # The rules: nothing is written.
    cases = [
        ({**given}, "DUPLICATE"),
        ({**given, "batchId": batch}, "INVALID"),
        ({**given, "missionId": None}, "INVALID"),
        (
            {**given, "missionId": None, "batchId": batch, "facultyId": a.ids["mentor"]},
            "NOT_FACULTY",
        ),
        ({**given, "missionId": None, "batchId": batch, "endsOn": _day(0)}, "INVALID_DATES"),
        ({**given, "missionId": None, "batchId": batch, "endsOn": _day(400)}, "INVALID_DATES"),
        (
            {
                **given,
                "missionId": None,
                "batchId": batch,
                "startsOn": "0001-01-01",
                "endsOn": "0001-06-01",
            },
            "INVALID_DATES",
        ),
        (
            {
                **given,
                "missionId": None,
                "batchId": batch,
                "startsOn": _day(2000),
                "endsOn": _day(2100),
            },
            "INVALID_DATES",
        ),
        ({**given, "subjectId": gid("Subject", 99999)}, "NOT_FOUND"),
    ]
    for values, code in cases:
        bad = await a.gql("manager", OFFERING_CREATE, {"i": values})
        assert code in codes(bad["data"]["subjectOfferingCreate"]), (values, bad)
    assert len(await _read(a, select(SubjectOffering.id))) == 2  # PY's, and this one
    denied = await a.gql(
        "faculty", OFFERING_CREATE, {"i": {**given, "missionId": None, "batchId": batch}}
    )
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # A new lead is told; clearing the lead tells nobody.
    changed = await a.ok(
        "manager",
        OFFERING_UPDATE,
        {"i": {"id": offering["id"], "facultyId": a.ids["faculty"], "endsOn": _day(90)}},
        "subjectOfferingUpdate",
    )
    assert changed["subjectOffering"]["faculty"] == {"id": a.ids["faculty"]}
    cleared = await a.ok(
        "manager",
        OFFERING_UPDATE,
        {"i": {"id": offering["id"], "facultyId": None}},
        "subjectOfferingUpdate",
    )
    assert cleared["subjectOffering"]["faculty"] is None
    assert cleared["subjectOffering"]["endsOn"] == _day(90)
    bad = await a.gql("manager", OFFERING_UPDATE, {"i": {"id": offering["id"], "endsOn": _day(-1)}})
    assert codes(bad["data"]["subjectOfferingUpdate"]) == ["INVALID_DATES"]
    told = await _read(a, select(Notification.user_id).where(Notification.kind == "academics"))
    assert sorted(u for (u,) in told) == sorted([a.pks["faculty2"], a.pks["faculty"]])

    # Archived subjects are offered no more.
    await a.ok(
        "manager", SUBJECT_UPDATE, {"i": {"id": subject, "status": "ARCHIVED"}}, "subjectUpdate"
    )
    bad = await a.gql(
        "manager", OFFERING_CREATE, {"i": {**given, "missionId": None, "batchId": batch}}
    )
    assert codes(bad["data"]["subjectOfferingCreate"]) == ["ARCHIVED"]

    gone = await a.ok(
        "manager", OFFERING_DELETE, {"i": {"id": offering["id"]}}, "subjectOfferingDelete"
    )
    assert gone["deletedSubjectOfferingId"] == offering["id"]
    assert (await a.gql("manager", NODE, {"n": offering["id"]}))["data"]["node"] is None


async def test_who_sees_what(academics: Academics) -> None:
    a = academics
    py_offering = (await _read(a, select(SubjectOffering.id)))[0][0]
    py_gid = gid("SubjectOffering", py_offering)
    # A batch-wide offering of another subject: every student of the batch sees it.
    other, _ = await add_subject(a, "ALG", "Algorithms", 2, batch_id=a.pks["batch"])
    batch_offering = (
        await _read(a, select(SubjectOffering.id).where(SubjectOffering.subject_id == other))
    )[0][0]
    expected = {
        "manager": {py_offering, batch_offering},
        "admin": {py_offering, batch_offering},
        "faculty2": {py_offering, batch_offering},
        "sre": {py_offering, batch_offering},
        "student": {py_offering, batch_offering},
        "mentor": {py_offering, batch_offering},
        "student3": {batch_offering},  # only in mission 2: PY is mission 1's
        "alumnus": set(),
        "counsellor": set(),
    }
    for who, seen in expected.items():
        body = await a.gql(who, OFFERINGS, {})
        assert "errors" not in body, (who, body)
        got = {pk_of(e["node"]["id"]) for e in body["data"]["subjectOfferings"]["edges"]}
        assert got == seen, who
        node = (await a.gql(who, NODE, {"n": py_gid}))["data"]["node"]
        assert (node is not None) == (py_offering in seen), who
    mine = {
        "student": {py_offering, batch_offering},
        "student3": {batch_offering},
        "faculty": {py_offering},
        "faculty2": set(),
        "mentor": {py_offering, batch_offering},
        "alumnus": set(),
        "manager": set(),
    }
    for who, seen in mine.items():
        body = await a.gql(who, MINE)
        got = {pk_of(e["node"]["id"]) for e in body["data"]["mySubjectOfferings"]["edges"]}
        assert got == seen, who
    filtered = await a.gql(
        "manager", OFFERINGS, {"f": {"missionId": gid("Mission", a.pks["mission2"])}}
    )
    assert [pk_of(e["node"]["id"]) for e in filtered["data"]["subjectOfferings"]["edges"]] == [
        batch_offering
    ]
    filtered = await a.gql("manager", OFFERINGS, {"f": {"facultyId": a.ids["faculty"]}})
    assert filtered["data"]["subjectOfferings"]["totalCount"] == 1

    # Anonymous: nothing at all.
    for query, variables in ((OFFERINGS, {}), (SUBJECTS, {}), (MINE, {})):
        body = await a.api.gql(query, variables)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for node in (py_gid, gid("Subject", a.pks["subject"]), gid("Topic", a.topics[0])):
        assert (await a.api.gql(NODE, {"n": node}))["data"]["node"] is None
    # The curriculum is no secret to anyone signed in.
    body = await a.gql("alumnus", SUBJECTS, {})
    assert body["data"]["subjects"]["totalCount"] == 2
    # Changing it is academics managers' alone.
    for who in ("faculty", "student", "sre", "counsellor", "mentor"):
        body = await a.gql(who, SUBJECT_CREATE, {"i": {"code": "X", "name": "X"}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
        body = await a.gql(who, TOPIC_DELETE, {"i": {"id": gid("Topic", a.topics[0])}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    assert len(await _read(a, select(Subject.id))) == 2


async def _many(a: Academics, start: int, count: int, topics: int) -> None:
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        for n in range(start, start + count):
            subject = Subject(code=f"S{n:03}", name=f"Subject {n}", description="")
            uow.session.add(subject)
            await uow.session.flush()
            made = []
            for t in range(topics):
                topic = Topic(
                    subject_id=subject.id, code=f"T{t}", title="t", position=t, estimated_minutes=60
                )
                uow.session.add(topic)
                await uow.session.flush()
                made.append(topic.id)
            for later, earlier in zip(made[1:], made, strict=False):
                uow.session.add(TopicPrerequisite(topic_id=later, requires_id=earlier))
            uow.session.add(
                SubjectOffering(
                    subject_id=subject.id,
                    mission_id=a.pks["mission"],
                    faculty_id=a.pks["faculty"],
                    starts_on=datetime.now(UTC).date(),
                    ends_on=datetime.now(UTC).date() + timedelta(days=30),
                )
            )


async def test_statement_counts(academics: Academics) -> None:
    a = academics
    await _many(a, 0, 2, 2)
    token = a.tokens["student"]
    few, body = await a.api.sql_count(SUBJECTS, {}, token)
    assert body["data"]["subjects"]["totalCount"] == 3
    few_o, body_o = await a.api.sql_count(OFFERINGS, {}, token)
    assert body_o["data"]["subjectOfferings"]["totalCount"] == 3
    await _many(a, 2, 8, 5)
    many, body = await a.api.sql_count(SUBJECTS, {}, token)
    assert body["data"]["subjects"]["totalCount"] == 11
    assert many == few, (few, many)
    many_o, body_o = await a.api.sql_count(OFFERINGS, {}, token)
    assert body_o["data"]["subjectOfferings"]["totalCount"] == 11
    assert all(
        e["node"]["mission"] == {"code": "ACB-1"}
        for e in body_o["data"]["subjectOfferings"]["edges"]
    )
    assert many_o == few_o, (few_o, many_o)
    counted = await _read(a, select(func.count()).select_from(Topic))
    assert counted[0][0] == 4 + 2 * 2 + 8 * 5
