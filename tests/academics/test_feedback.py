"""Students' feedback: giving it on each target and who may, idempotency keys, its
sentiment job and the alert on very negative feedback, anonymity towards the recipient
(node, lists, order, time, random ids, the next-day delay, enough possible authors), the
summaries and the trend, and statement counts."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select

from alumnet.domain.academics import feedback
from alumnet.domain.identity.permissions import Role
from alumnet.domain.identity.users import ensure_user
from alumnet.persistence.models import (
    AuditEvent,
    Enrollment,
    FacultyTimeEntry,
    MentorAssignment,
    Notification,
    StudentFeedback,
    SubjectOffering,
)
from alumnet.persistence.uow import Origin
from tests.academics.conftest import Academics, codes, gid, pk_of

SUBMIT = """
mutation($input: StudentFeedbackSubmitInput!) {
  studentFeedbackSubmit(input: $input) {
    feedback { id target rating comment anonymous createdOn createdAt
               author { id } recipient { id } recipientName subjectId topicId sessionId }
    userErrors { field code message }
  }
}"""

FIELDS = """id target rating comment anonymous sentiment sentimentLabel createdOn createdAt
            author { id name } recipient { id } recipientName"""
NODE = "query($id: ID!) { node(id: $id) { ... on StudentFeedback { " + FIELDS + " } } }"
RECEIVED = "{ feedbackReceived(first: 100) { totalCount edges { node { " + FIELDS + " } } } }"
GIVEN = "{ myFeedbackGiven(first: 100) { totalCount edges { node { " + FIELDS + " } } } }"
ALL = "{ studentFeedback(first: 100) { totalCount edges { node { " + FIELDS + " } } } }"

POSITIVE = "The lectures were clear and really helpful, I loved the examples. Great teacher!"
NEGATIVE = "Terrible, boring and a complete waste of time. I hate these awful useless classes."


async def submit(a: Academics, who: str, **given: Any) -> dict[str, Any]:
    body = await a.gql(who, SUBMIT, {"input": {"rating": 4, "comment": "ok", **given}})
    assert "errors" not in body, body
    return body["data"]["studentFeedbackSubmit"]  # type: ignore[no-any-return]


async def ok(a: Academics, who: str, **given: Any) -> dict[str, Any]:
    payload = await submit(a, who, **given)
    assert payload["userErrors"] == [], payload
    return payload["feedback"]  # type: ignore[no-any-return]


async def add_session(
    a: Academics, faculty: str, *, student: str | None = None, ahead: bool = False
) -> str:
    now = datetime.now(UTC)
    start = now + timedelta(hours=2) if ahead else now - timedelta(hours=2)
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        entry = FacultyTimeEntry(
            faculty_id=a.pks[faculty], kind="teaching", subject_id=a.pks["subject"],
            student_id=a.pks[student] if student else None, mission_id=a.pks["mission"],
            started_at=start, ended_at=start + timedelta(hours=1), minutes=60,
        )  # fmt: skip
        uow.session.add(entry)
        await uow.session.flush()
        return gid("FacultyTimeEntry", entry.id)


async def rows(a: Academics) -> int:
    async with a.runtime.transaction() as uow:
        found = await uow.session.execute(select(func.count()).select_from(StudentFeedback))
        return int(found.scalar_one())


async def insert_rows(a: Academics, items: list[dict[str, Any]]) -> None:
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        await uow.session.execute(insert(StudentFeedback), items)


def row(a: Academics, author: str, **extra: Any) -> dict[str, Any]:
    base = {
        "public_id": feedback.new_public_id(), "author_id": a.pks[author], "target": "subject",
        "subject_id": a.pks["subject"], "recipient_id": a.pks["faculty"], "rating": 3,
        "comment": "fine", "anonymous": False, "created_at": datetime.now(UTC),
    }  # fmt: skip
    return {**base, **extra}


async def crowd(a: Academics, n: int, *, mentored: bool = False, mission: str = "mission") -> None:
    """``n`` more students taking part in a mission (the first by default), mentored by
    ``mentor`` if asked: more students who could give the same feedback."""
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        start = len([k for k in a.pks if k.startswith("crowd")])
        for i in range(start, start + n):
            user, _ = await ensure_user(
                a.runtime, uow, email=f"crowd{i}@example.org", name=f"Crowd {i}",
                roles=[Role.STUDENT], password="a long enough password 123",
            )  # fmt: skip
            enrolment = Enrollment(mission_id=a.pks[mission], student_id=user.id)
            uow.session.add(enrolment)
            await uow.session.flush()
            if mentored:
                uow.session.add(MentorAssignment(
                    enrollment_id=enrolment.id, mission_id=a.pks[mission],
                    student_id=user.id, mentor_id=a.pks["mentor"],
                ))  # fmt: skip
            a.pks[f"crowd{i}"] = int(user.id)


async def age(a: Academics, *global_ids: str, days: int = 1) -> None:
    """Move these feedback (all if none is named) ``days`` back in time, as if given then."""
    wanted = [pk_of(g) for g in global_ids]
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        query = select(StudentFeedback)
        if wanted:
            query = query.where(StudentFeedback.public_id.in_(wanted))
        for found in (await uow.session.execute(query)).scalars():
            found.created_at = found.created_at - timedelta(days=days)


async def test_feedback_on_each_target_and_who_may_give_it(academics: Academics) -> None:
    a = academics
    await crowd(a, 1)  # three students could give feedback on the subject's sessions
    subject = gid("Subject", a.pks["subject"])
    on_subject = await ok(a, "student", target="SUBJECT", subjectId=subject, rating=5)
    # A student may not see a faculty member's account: the name says who it is about.
    assert on_subject["recipientName"] == "Faculty Person"
    seen = (await a.gql("manager", NODE, {"id": on_subject["id"]}))["data"]["node"]
    assert seen["recipient"]["id"] == a.ids["faculty"]
    assert on_subject["author"]["id"] == a.ids["student"]
    assert on_subject["subjectId"] == subject
    on_topic = await ok(a, "student", target="TOPIC", topicId=gid("Topic", a.topics[1]))
    assert on_topic["recipientName"] == "Faculty Person"
    assert on_topic["subjectId"] == subject
    session = await add_session(a, "faculty")
    on_session = await ok(a, "student", target="SESSION", sessionId=session, anonymous=True)
    assert (on_session["sessionId"], on_session["recipientName"]) == (session, "Faculty Person")
    on_mentor = await ok(a, "student", target="MENTOR", mentorId=a.ids["mentor"], rating=2)
    assert on_mentor["recipient"]["id"] == a.ids["mentor"]  # students see their mentors
    assert on_mentor["subjectId"] is None
    assert await rows(a) == 4

    # Not theirs: a subject offered to another mission, a mentor not theirs, a session of
    # another's, one not begun, a one-to-one session anonymously.
    refused = [
        ("student3", {"target": "SUBJECT", "subjectId": subject}, "NOT_TAUGHT"),
        ("student3", {"target": "TOPIC", "topicId": gid("Topic", a.topics[0])}, "NOT_TAUGHT"),
        ("student3", {"target": "SESSION", "sessionId": session}, "NOT_FOUND"),
        ("student2", {"target": "MENTOR", "mentorId": a.ids["mentor"]}, "NOT_FOUND"),
        ("student2", {"target": "MENTOR", "mentorId": a.ids["faculty"]}, "NOT_FOUND"),
        ("student2", {"target": "SESSION", "sessionId": await add_session(a, "faculty",
                                                                      ahead=True)}, "NOT_YET"),
        ("student2", {"target": "SESSION", "sessionId": await add_session(a, "faculty",
                                                                      student="student")},
         "NOT_FOUND"),
        ("student", {"target": "SESSION", "anonymous": True,
                     "sessionId": await add_session(a, "faculty", student="student")},
         "ANONYMITY_IMPOSSIBLE"),
        ("student", {"target": "SUBJECT", "subjectId": gid("Subject", 999999)}, "NOT_FOUND"),
        ("counsellor", {"target": "SUBJECT", "subjectId": subject}, "NOT_TAUGHT"),
    ]  # fmt: skip
    for who, given, code in refused:
        assert codes(await submit(a, who, **given)) == [code], (who, given)

    # Bad input: a clear userError on the field, nothing written.
    for rating in (0, 6):
        payload = await submit(a, "student2", target="SUBJECT", subjectId=subject, rating=rating)
        assert payload["userErrors"][0]["field"] == ["input", "rating"]
        assert codes(payload) == ["INVALID"] and payload["feedback"] is None
    payload = await submit(a, "student2", target="SUBJECT", comment="x" * 2001, subjectId=subject)
    assert codes(payload) == ["TOO_LONG"]
    payload = await submit(a, "student2", target="SUBJECT")
    assert (codes(payload), payload["userErrors"][0]["field"]) == (
        ["REQUIRED"], ["input", "subjectId"]
    )  # fmt: skip
    payload = await submit(a, "student2", target="SUBJECT", subjectId=subject,
                           topicId=gid("Topic", a.topics[0]))  # fmt: skip
    assert codes(payload) == ["INVALID"]
    assert await rows(a) == 4

    # Once a day per target; a retry with a key gets the first back, writing nothing;
    # other feedback with the same key is a conflict.
    again = await submit(a, "student", target="SUBJECT", subjectId=subject, rating=5)
    assert codes(again) == ["DUPLICATE"]
    first = await ok(a, "student2", target="SUBJECT", subjectId=subject, idempotencyKey="k1")
    retry = await ok(a, "student2", target="SUBJECT", subjectId=subject, idempotencyKey="k1")
    assert retry["id"] == first["id"]
    changed = await submit(a, "student2", target="SUBJECT", subjectId=subject, rating=1,
                           idempotencyKey="k1")  # fmt: skip
    assert codes(changed) == ["IDEMPOTENCY_CONFLICT"] and changed["feedback"] is None
    assert changed["userErrors"][0]["field"] == ["input", "idempotencyKey"]
    elsewhere = await submit(a, "student2", target="TOPIC", topicId=gid("Topic", a.topics[0]),
                             idempotencyKey="k1")  # fmt: skip
    assert codes(elsewhere) == ["IDEMPOTENCY_CONFLICT"]
    other_key = await submit(a, "student2", target="SUBJECT", subjectId=subject,
                             idempotencyKey="k2")  # fmt: skip
    assert codes(other_key) == ["DUPLICATE"]
    # Keys are each author's own: another student's k1 is theirs.
    assert (await ok(a, "student", target="TOPIC", topicId=gid("Topic", a.topics[3]),
                     idempotencyKey="k1"))["id"] != first["id"]  # fmt: skip
    assert await rows(a) == 6

    # 20 a day in all.
    await insert_rows(a, [row(a, "student2", target="topic") for _ in range(19)])
    throttled = await submit(a, "student2", target="MENTOR", mentorId=a.ids["mentor"])
    assert codes(throttled) == ["NOT_FOUND"]  # checked before the limits
    topic = gid("Topic", a.topics[2])
    assert codes(await submit(a, "student2", target="TOPIC", topicId=topic)) == ["THROTTLED"]
    assert await rows(a) == 25

    # Signed out: an authentication error.
    body = await a.api.gql(SUBMIT, {"input": {"target": "SUBJECT", "subjectId": subject,
                                              "rating": 3}})  # fmt: skip
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_idempotency_keys_across_days_races_and_id_collisions(
    academics: Academics, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = academics
    subject = gid("Subject", a.pks["subject"])
    given = {"target": "SUBJECT", "subjectId": subject, "rating": 5, "comment": " Good "}
    first = await ok(a, "student", idempotencyKey="once", **given)
    # Sent again on a later day: the first, nothing written (no DUPLICATE, no new row).
    await age(a, first["id"])
    again = await ok(a, "student", idempotencyKey="once", **given)
    assert again["id"] == first["id"] and await rows(a) == 1
    changed = await submit(a, "student", idempotencyKey="once", **{**given, "anonymous": True})
    assert codes(changed) == ["IDEMPOTENCY_CONFLICT"] and await rows(a) == 1

    # A request with the same key that committed between the lookup and the insert: the
    # insert adds nothing, and the one written is returned (or a conflict if different).
    await insert_rows(a, [row(a, "student2", idempotency_key="race", rating=5, comment="Good",
                              created_at=datetime.now(UTC) - timedelta(days=1))])  # fmt: skip
    real = feedback._by_key
    misses: list[int] = []

    async def late(uow: Any, me: int, key: str | None) -> Any:
        if key == "race" and not misses:
            misses.append(me)
            return None
        return await real(uow, me, key)

    monkeypatch.setattr(feedback, "_by_key", late)
    raced = await ok(a, "student2", idempotencyKey="race", **given)
    async with a.runtime.transaction() as uow:
        stored = (await uow.session.execute(
            select(StudentFeedback.public_id).where(StudentFeedback.idempotency_key == "race")
        )).scalar_one()  # fmt: skip
    assert pk_of(raced["id"]) == stored and misses and await rows(a) == 2
    misses.clear()
    other = await submit(a, "student2", idempotencyKey="race", **{**given, "rating": 1})
    assert codes(other) == ["IDEMPOTENCY_CONFLICT"] and await rows(a) == 2

    # A public id drawn twice is drawn again.
    drawn = iter([pk_of(first["id"]), 12345])
    monkeypatch.setattr(feedback, "new_public_id", lambda: next(drawn))
    fresh = await ok(a, "student", target="TOPIC", topicId=gid("Topic", a.topics[0]))
    assert pk_of(fresh["id"]) == 12345 and await rows(a) == 3


async def notifications_of(a: Academics, who: str) -> list[Any]:
    async with a.runtime.transaction() as uow:
        found = await uow.session.execute(
            select(Notification).where(
                Notification.user_id == a.pks[who], Notification.kind == "academics"
            )
        )
        return list(found.scalars())


async def test_the_job_scores_and_alerts_managers_once(academics: Academics) -> None:
    a = academics
    await crowd(a, 1)
    subject = gid("Subject", a.pks["subject"])
    good = await ok(a, "student", target="SUBJECT", subjectId=subject, comment=POSITIVE)
    bad = await ok(a, "student2", target="SUBJECT", subjectId=subject, comment=NEGATIVE,
                   rating=1, anonymous=True)  # fmt: skip
    await a.api.run_jobs()
    found = (await a.gql("manager", NODE, {"id": good["id"]}))["data"]["node"]
    assert found["sentimentLabel"] == "POSITIVE" and found["sentiment"] > 0.5
    found = (await a.gql("manager", NODE, {"id": bad["id"]}))["data"]["node"]
    assert found["sentimentLabel"] == "NEGATIVE" and found["sentiment"] < -0.6

    told = await notifications_of(a, "manager")
    assert len(told) == 1
    assert told[0].subject_type == "StudentFeedback"
    assert gid("StudentFeedback", told[0].subject_id) == bad["id"]
    assert "Student2" not in told[0].title + told[0].body
    assert len(await notifications_of(a, "admin")) == 1  # holds academics:manage too
    assert await notifications_of(a, "faculty") == []  # the recipient is not told
    assert await notifications_of(a, "student2") == []

    # Idempotent: nothing left to score, nobody told twice.
    again = await feedback.score_pending(a.runtime)
    assert again == {"scored": 0, "alerted": 0}
    again = await feedback.score_pending(a.runtime, list(range(1, 50)))
    assert again == {"scored": 0, "alerted": 0}
    assert len(await notifications_of(a, "manager")) == 1


async def test_two_hundred_comments_scored_in_one_run(academics: Academics) -> None:
    a = academics
    comments = [POSITIVE, NEGATIVE, "The room was on the second floor."]
    await insert_rows(a, [row(a, "student", comment=comments[i % 3]) for i in range(200)])
    done = await feedback.score_pending(a.runtime)
    assert done["scored"] == 200
    assert done["alerted"] == 67  # the negative ones
    async with a.runtime.transaction() as uow:
        labels = dict(
            (
                await uow.session.execute(
                    select(StudentFeedback.sentiment_label, func.count()).group_by(
                        StudentFeedback.sentiment_label
                    )
                )
            ).all()
        )
    assert labels == {"positive": 67, "negative": 67, "neutral": 66}
    # A backlog is told as one summary a batch of 500, not 67 notifications and e-mails.
    [summary] = await notifications_of(a, "manager")
    assert summary.title == "67 very negative feedback to review"
    assert summary.subject_id is None


async def test_the_job_counts_only_what_it_scored(academics: Academics) -> None:
    a = academics
    await insert_rows(a, [row(a, "student", comment=POSITIVE) for _ in range(6)])
    async with a.runtime.transaction() as uow:
        ids = sorted((await uow.session.execute(select(StudentFeedback.id))).scalars())
    taken = ", ".join(str(i) for i in ids[:2])
    engine = a.runtime.database.engine.sync_engine

    fired: list[str] = []

    def concurrent(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # Another run scores two of the rows between this run's read and its UPDATE.
        if (
            not fired
            and statement.lstrip().upper().startswith("UPDATE STUDENT_FEEDBACK")
            and ("sentiment_label" in statement)
        ):
            fired.append(statement)
            cursor.execute(
                "UPDATE student_feedback SET sentiment = 0.5, sentiment_label = 'positive', "
                f"scored_at = '2026-01-01 00:00:00' WHERE id IN ({taken})"
            )

    event.listen(engine, "before_cursor_execute", concurrent)
    try:
        done = await feedback.score_pending(a.runtime)
    finally:
        event.remove(engine, "before_cursor_execute", concurrent)
    assert fired
    assert done == {"scored": 4, "alerted": 0}
    assert await feedback.score_pending(a.runtime) == {"scored": 0, "alerted": 0}


def authors(body: dict[str, Any], key: str) -> list[Any]:
    assert "errors" not in body, body
    return [e["node"] for e in body["data"][key]["edges"]]


async def test_anonymous_feedback_never_reveals_its_author_to_its_recipient(
    academics: Academics,
) -> None:
    a = academics
    await crowd(a, 2, mentored=True)  # the mentor mentors three, the subject has four
    subject = gid("Subject", a.pks["subject"])
    session = await add_session(a, "faculty")
    managed = await add_session(a, "manager")  # a session the MANAGER taught
    # student2 gives named feedback on the subject and anonymous on the session, at once.
    named = await ok(a, "student2", target="SUBJECT", subjectId=subject)
    hidden = await ok(a, "student2", target="SESSION", sessionId=session, anonymous=True,
                      comment="secret")  # fmt: skip
    to_manager = await ok(a, "student", target="SESSION", sessionId=managed, anonymous=True)
    on_mentor = await ok(a, "student", target="MENTOR", mentorId=a.ids["mentor"], anonymous=True)
    # The payload itself shows the author their own.
    assert hidden["author"]["id"] == a.ids["student2"] and hidden["createdAt"] is not None
    # The audit log (read by whoever holds audit:read) holds the named one only.
    async with a.runtime.database.connect() as conn:
        audited = (await conn.execute(select(AuditEvent.object_ids).where(
            AuditEvent.action == "feedback.submit"))).scalars().all()  # fmt: skip
    assert [[str(i) for i in ids] for ids in audited] == [[str(pk_of(named["id"]))]]
    # Recipients see anonymous feedback from the next UTC day (test_..._the_next_day).
    await age(a, hidden["id"], to_manager["id"], on_mentor["id"])
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()

    # The recipient (faculty): no author, no time, by node and in the list.
    node = (await a.gql("faculty", NODE, {"id": hidden["id"]}))["data"]["node"]
    assert node["comment"] == "secret" and node["anonymous"] is True
    assert node["author"] is None and node["createdAt"] is None
    assert node["createdOn"] == yesterday
    listed = {n["id"]: n for n in authors(await a.gql("faculty", RECEIVED), "feedbackReceived")}
    assert set(listed) == {named["id"], hidden["id"]}
    assert listed[hidden["id"]]["author"] is None and listed[hidden["id"]]["createdAt"] is None
    assert listed[named["id"]]["author"]["id"] == a.ids["student2"]

    # A MANAGER who is the recipient: never the author of what is about them, even though
    # they hold integrity:decide and academics:manage; but they do see other authors.
    node = (await a.gql("manager", NODE, {"id": to_manager["id"]}))["data"]["node"]
    assert node["author"] is None and node["createdAt"] is None
    everything = {n["id"]: n for n in authors(await a.gql("manager", ALL), "studentFeedback")}
    assert len(everything) == 4
    assert everything[to_manager["id"]]["author"] is None
    assert everything[to_manager["id"]]["createdAt"] is None
    assert everything[hidden["id"]]["author"]["id"] == a.ids["student2"]  # integrity staff
    received = authors(await a.gql("manager", RECEIVED), "feedbackReceived")
    assert [(n["id"], n["author"]) for n in received] == [(to_manager["id"], None)]

    # Integrity staff (ADMIN) see every author; the mentor sees theirs anonymous.
    node = (await a.gql("admin", NODE, {"id": to_manager["id"]}))["data"]["node"]
    assert node["author"]["id"] == a.ids["student"]
    node = (await a.gql("mentor", NODE, {"id": on_mentor["id"]}))["data"]["node"]
    assert node["author"] is None and node["rating"] == 4

    # The wrong people see nothing: not even that it exists.
    for who in ("faculty2", "student3", "sre", "alumnus", "counsellor", "mentor"):
        assert (await a.gql(who, NODE, {"id": hidden["id"]}))["data"]["node"] is None, who
    assert (await a.api.gql(NODE, {"id": hidden["id"]}))["data"]["node"] is None
    assert authors(await a.gql("faculty2", RECEIVED), "feedbackReceived") == []
    for who in ("faculty", "student", "sre", "mentor"):
        body = await a.gql(who, ALL)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    # The author sees their own, with the time; nobody else's appear in their list.
    mine = authors(await a.gql("student2", GIVEN), "myFeedbackGiven")
    assert {n["id"] for n in mine} == {named["id"], hidden["id"]}
    assert all(n["author"]["id"] == a.ids["student2"] and n["createdAt"] for n in mine)
    assert authors(await a.gql("faculty", GIVEN), "myFeedbackGiven") == []


SUMMED = "{ feedbackSummary(groupBy: PERIOD) { count } }"
TRENDED = "{ feedbackSentimentTrend(period: MONTH) { count } }"


def total(body: dict[str, Any], key: str) -> int:
    assert "errors" not in body, body
    return sum(int(r["count"]) for r in body["data"][key])


async def test_its_recipient_sees_anonymous_feedback_from_the_next_day(
    academics: Academics,
) -> None:
    a = academics
    await crowd(a, 1)
    subject = gid("Subject", a.pks["subject"])
    named = await ok(a, "student", target="TOPIC", topicId=gid("Topic", a.topics[0]))
    hidden = await ok(a, "student2", target="SUBJECT", subjectId=subject, anonymous=True)

    async def faculty_sees() -> tuple[Any, set[str], int, int, int]:
        node = (await a.gql("faculty", NODE, {"id": hidden["id"]}))["data"]["node"]
        body = await a.gql("faculty", RECEIVED)
        listed = {n["id"] for n in authors(body, "feedbackReceived")}
        count = body["data"]["feedbackReceived"]["totalCount"]
        summed = total(await a.gql("faculty", SUMMED), "feedbackSummary")
        trended = total(await a.gql("faculty", TRENDED), "feedbackSentimentTrend")
        return node, listed, count, summed, trended

    # The day it is given: not to its recipient, anywhere; the named one at once.
    node, listed, count, summed, trended = await faculty_sees()
    assert node is None and listed == {named["id"]}
    assert (count, summed, trended) == (1, 1, 1)
    # Managers, integrity staff and the author at once.
    for who in ("manager", "admin", "student2"):
        assert (await a.gql(who, NODE, {"id": hidden["id"]}))["data"]["node"] is not None, who
    assert (await a.gql("manager", ALL))["data"]["studentFeedback"]["totalCount"] == 2
    assert total(await a.gql("manager", SUMMED), "feedbackSummary") == 2
    assert total(await a.gql("manager", TRENDED), "feedbackSentimentTrend") == 2
    assert {n["id"] for n in authors(await a.gql("student2", GIVEN), "myFeedbackGiven")} == {
        hidden["id"]
    }

    # From the next UTC day, to its recipient too (still without author or time).
    await age(a, hidden["id"])
    node, listed, count, summed, trended = await faculty_sees()
    assert node is not None and node["author"] is None and node["createdAt"] is None
    assert listed == {named["id"], hidden["id"]}
    assert (count, summed, trended) == (2, 2, 2)


async def test_anonymous_only_with_enough_possible_authors(academics: Academics) -> None:
    a = academics
    subject = gid("Subject", a.pks["subject"])
    session = await add_session(a, "faculty")
    topic = gid("Topic", a.topics[0])
    targets = {
        "MENTOR": {"target": "MENTOR", "mentorId": a.ids["mentor"]},
        "SUBJECT": {"target": "SUBJECT", "subjectId": subject},
        "TOPIC": {"target": "TOPIC", "topicId": topic},
        "SESSION": {"target": "SESSION", "sessionId": session},
    }
    # The mentor mentors one student; the subject has two: anonymity would be a pretence.
    for name, given in targets.items():
        payload = await submit(a, "student", anonymous=True, **given)
        assert codes(payload) == ["ANONYMITY_IMPOSSIBLE"], name
        assert payload["userErrors"][0]["field"] == ["input", "anonymous"]
        assert str(feedback.ANONYMITY_MIN) in payload["userErrors"][0]["message"]
    assert await rows(a) == 0
    # Named feedback is fine.
    assert (await ok(a, "student", **targets["MENTOR"]))["anonymous"] is False

    # A third student in the mission: the subject, its topics and sessions take anonymous
    # feedback; the mentor (still one mentee) does not.
    await crowd(a, 1)
    for name in ("SUBJECT", "TOPIC", "SESSION"):
        assert (await ok(a, "student2", anonymous=True, **targets[name]))["anonymous"], name
    mentor = await submit(a, "student", anonymous=True, **targets["MENTOR"])
    assert codes(mentor) == ["ANONYMITY_IMPOSSIBLE"]  # checked before DUPLICATE
    # Three mentees: accepted (the next day: once a day per target).
    await crowd(a, 2, mentored=True)
    await age(a)
    assert (await ok(a, "student", anonymous=True, **targets["MENTOR"]))["anonymous"] is True

    # The recipient's own offerings count: faculty2 leads the subject for the second
    # mission, where student3 is alone (the subject's four others do not hide them).
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        today = datetime.now(UTC).date()
        uow.session.add(SubjectOffering(
            subject_id=a.pks["subject"], mission_id=a.pks["mission2"],
            faculty_id=a.pks["faculty2"], starts_on=today - timedelta(days=7),
            ends_on=today + timedelta(days=30),
        ))  # fmt: skip
    alone = await submit(a, "student3", anonymous=True, **targets["SUBJECT"])
    assert codes(alone) == ["ANONYMITY_IMPOSSIBLE"]
    named = await ok(a, "student3", **targets["SUBJECT"])
    assert named["recipientName"] == "Faculty2 Person"


async def test_ids_are_random_and_order_says_nothing_of_who_gave_what_when(
    academics: Academics,
) -> None:
    a = academics
    subject = gid("Subject", a.pks["subject"])
    # Two feedback given one after the other: their ids are neither row ids nor neighbours.
    one = await ok(a, "student", target="SUBJECT", subjectId=subject)
    two = await ok(a, "student2", target="SUBJECT", subjectId=subject)
    async with a.runtime.transaction() as uow:
        found = await uow.session.execute(select(StudentFeedback.id, StudentFeedback.public_id))
        by_public = {int(p): int(i) for i, p in found.all()}
    first, second = pk_of(one["id"]), pk_of(two["id"])
    assert by_public[second] == by_public[first] + 1  # consecutive rows…
    assert abs(second - first) > 1  # …but not consecutive ids
    assert {first, second}.isdisjoint({by_public[first], by_public[second]})
    assert all(0 < p <= 2**62 for p in (first, second))

    # Named and anonymous feedback interleaved in time yesterday, all about the faculty
    # member (who sees yesterday's anonymous feedback).
    start = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), datetime.min.time(),
                             tzinfo=UTC) + timedelta(hours=9)  # fmt: skip
    await insert_rows(
        a, [row(a, "student" if i % 2 else "student2", anonymous=bool(i % 2),
                created_at=start + timedelta(minutes=i)) for i in range(12)]
    )  # fmt: skip
    async with a.runtime.transaction() as uow:
        found = await uow.session.execute(
            select(StudentFeedback.public_id)
            .where(StudentFeedback.public_id.not_in([first, second]))
            .order_by(StudentFeedback.id)
        )  # fmt: skip
        given_order = [int(p) for p in found.scalars()]
    listed = authors(await a.gql("faculty", RECEIVED), "feedbackReceived")
    got = [pk_of(n["id"]) for n in listed]
    # Today's first, then yesterday's; within a day by the random id, not by time.
    assert sorted(got[:2]) == got[:2] and set(got[:2]) == {first, second}
    assert got[2:] == sorted(given_order) and got[2:] != given_order
    # Paging through gives the same order, and cursors carry only the day and the id.
    page = await a.gql("faculty", "{ feedbackReceived(first: 5) { pageInfo { endCursor } "
                       "edges { cursor node { id } } } }")  # fmt: skip
    cursor = page["data"]["feedbackReceived"]["pageInfo"]["endCursor"]
    for edge in page["data"]["feedbackReceived"]["edges"]:
        raw = base64.urlsafe_b64decode(edge["cursor"]).decode()
        values = json.loads(raw[raw.index("[") :])
        assert values == [listed[0]["createdOn"] if pk_of(edge["node"]["id"]) in got[:2]
                          else start.date().isoformat(), pk_of(edge["node"]["id"])]  # fmt: skip
    rest = await a.gql("faculty", "query($c: String) { feedbackReceived(first: 100, after: $c) "
                       "{ edges { node { id } } } }", {"c": cursor})  # fmt: skip
    paged = [e["node"]["id"] for e in page["data"]["feedbackReceived"]["edges"]] + [
        e["node"]["id"] for e in rest["data"]["feedbackReceived"]["edges"]
    ]
    assert paged == [n["id"] for n in listed]
    # The author's own list: newest first by time.
    mine = authors(await a.gql("student", GIVEN), "myFeedbackGiven")
    times = [n["createdAt"] for n in mine]
    assert times == sorted(times, reverse=True) and len(mine) == 7
    # Earlier days come after later ones.
    await insert_rows(a, [row(a, "student", created_at=datetime.now(UTC) - timedelta(days=3))])
    days = [n["createdOn"] for n in authors(await a.gql("faculty", RECEIVED), "feedbackReceived")]
    assert days == sorted(days, reverse=True) and len(set(days)) == 3
    # A row id, or a random id, names nothing.
    for other in (by_public[first], 1, 2**62 + 5):
        body = await a.gql("manager", NODE, {"id": gid("StudentFeedback", other)})
        assert body["data"]["node"] is None, other


SUMMARY = """query($g: FeedbackGroup!, $from: Date, $to: Date) {
  feedbackSummary(groupBy: $g, period: MONTH, from: $from, to: $to) {
    subjectId recipientId periodStart label count averageRating averageSentiment
    positive neutral negative unscored
  }
}"""
TREND = """query($from: Date, $to: Date) {
  feedbackSentimentTrend(period: MONTH, from: $from, to: $to) {
    periodStart count averageSentiment averageRating positive neutral negative
  }
}"""


async def test_summaries_and_trend(academics: Academics) -> None:
    a = academics
    jan, mar = datetime(2026, 1, 10, 12, tzinfo=UTC), datetime(2026, 3, 5, 9, tzinfo=UTC)
    scored = {"scored_at": datetime(2026, 3, 6, tzinfo=UTC)}
    await insert_rows(a, [
        row(a, "student", rating=5, sentiment=0.8, sentiment_label="positive", created_at=jan,
            **scored),
        row(a, "student2", rating=3, sentiment=0.0, sentiment_label="neutral", created_at=jan,
            anonymous=True, **scored),
        row(a, "student", rating=1, sentiment=-0.7, sentiment_label="negative", created_at=mar,
            **scored),
        row(a, "student", rating=2, created_at=mar),  # not scored yet
        row(a, "student", target="mentor", subject_id=None, recipient_id=a.pks["mentor"],
            rating=4, sentiment=0.5, sentiment_label="positive", created_at=mar, **scored),
    ])  # fmt: skip
    span = {"from": "2026-01-01", "to": "2026-03-31"}
    body = await a.gql("manager", SUMMARY, {"g": "SUBJECT", **span})
    assert "errors" not in body, body
    by_subject = {r["label"]: r for r in body["data"]["feedbackSummary"]}
    python = by_subject["Python"]
    assert python["subjectId"] == gid("Subject", a.pks["subject"])
    assert (python["count"], python["averageRating"]) == (4, 2.75)
    assert python["averageSentiment"] == pytest.approx(0.0333, abs=1e-3)
    assert (python["positive"], python["neutral"], python["negative"], python["unscored"]) == (
        1, 1, 1, 1
    )  # fmt: skip
    assert by_subject["No subject"]["count"] == 1
    body = await a.gql("manager", SUMMARY, {"g": "FACULTY", **span})
    by_person = {r["recipientId"]: r["count"] for r in body["data"]["feedbackSummary"]}
    assert by_person == {a.ids["faculty"]: 4, a.ids["mentor"]: 1}
    body = await a.gql("manager", SUMMARY, {"g": "PERIOD", **span})
    months = [(r["periodStart"], r["count"]) for r in body["data"]["feedbackSummary"]]
    assert months == [("2026-01-01", 2), ("2026-03-01", 3)]

    # A recipient counts only what is about them; others nothing.
    body = await a.gql("mentor", SUMMARY, {"g": "SUBJECT", **span})
    assert [(r["label"], r["count"]) for r in body["data"]["feedbackSummary"]] == [
        ("No subject", 1)
    ]
    body = await a.gql("student3", SUMMARY, {"g": "PERIOD", **span})
    assert body["data"]["feedbackSummary"] == []

    body = await a.gql("faculty", TREND, span)
    points = body["data"]["feedbackSentimentTrend"]
    assert [(p["periodStart"], p["count"]) for p in points] == [
        ("2026-01-01", 2), ("2026-02-01", 0), ("2026-03-01", 2)
    ]  # fmt: skip
    assert points[0]["averageSentiment"] == 0.4 and points[0]["averageRating"] == 4.0
    assert points[1]["averageSentiment"] is None
    assert points[2]["averageSentiment"] == -0.7 and points[2]["averageRating"] == 1.5

    # Bad ranges are refused.
    body = await a.gql("manager", TREND, {"from": "2026-03-01", "to": "2026-01-01"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await a.gql("manager", TREND, {"from": "2016-01-01", "to": "2026-01-01"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await a.api.gql(TREND, span))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_lists_take_as_many_statements_for_two_items_as_for_ten(
    academics: Academics,
) -> None:
    a = academics
    counts: dict[str, list[int]] = {"manager": [], "faculty": [], "student": []}
    query = {"manager": ALL, "faculty": RECEIVED, "student": GIVEN}
    have = 0
    yesterday = datetime.now(UTC) - timedelta(days=1)  # anonymous ones reach the recipient
    for n in (2, 10):
        await insert_rows(
            a, [row(a, "student", anonymous=bool(i % 2), sentiment=0.1, sentiment_label="positive",
                    scored_at=datetime.now(UTC), created_at=yesterday) for i in range(n - have)]
        )  # fmt: skip
        have = n
        for who in counts:
            statements, body = await a.api.sql_count(query[who], None, a.tokens[who])
            assert "errors" not in body, body
            key = next(iter(body["data"]))
            assert len(body["data"][key]["edges"]) == n, (who, n)
            counts[who].append(statements)
    for who, (two, ten) in counts.items():
        assert two == ten, (who, two, ten)


async def test_every_date_filter_is_by_day(academics: Academics) -> None:
    a = academics
    await insert_rows(a, [
        row(a, "student", created_at=datetime.now(UTC) - timedelta(days=2)),
        row(a, "student", created_at=datetime.now(UTC)),
    ])  # fmt: skip
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    body = await a.gql(
        "faculty",
        "query($f: Date) { feedbackReceived(filter: {from: $f}) { totalCount } }",
        {"f": yesterday},
    )
    assert body["data"]["feedbackReceived"]["totalCount"] == 1
    body = await a.gql(
        "manager",
        "query($t: Date) { studentFeedback(filter: {to: $t}) { totalCount } }",
        {"t": yesterday},
    )
    assert body["data"]["studentFeedback"]["totalCount"] == 1
