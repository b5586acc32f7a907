"""Students' feedback: giving it on each target and who may, its sentiment job and the
alert on very negative feedback, anonymity towards the recipient (node, lists, order,
time), the summaries and the trend, and statement counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from alumnet.domain.academics import feedback
from alumnet.persistence.models import FacultyTimeEntry, Notification, StudentFeedback
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
        "author_id": a.pks[author], "target": "subject", "subject_id": a.pks["subject"],
        "recipient_id": a.pks["faculty"], "rating": 3, "comment": "fine", "anonymous": False,
        "created_at": datetime.now(UTC),
    }  # fmt: skip
    return {**base, **extra}


async def test_feedback_on_each_target_and_who_may_give_it(academics: Academics) -> None:
    a = academics
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

    # Once a day per target; a retry with a key gets the first back, writing nothing.
    again = await submit(a, "student", target="SUBJECT", subjectId=subject, rating=5)
    assert codes(again) == ["DUPLICATE"]
    first = await ok(a, "student2", target="SUBJECT", subjectId=subject, idempotencyKey="k1")
    retry = await ok(a, "student2", target="SUBJECT", subjectId=subject, idempotencyKey="k1")
    assert retry["id"] == first["id"]
    changed = await submit(a, "student2", target="SUBJECT", subjectId=subject, rating=1,
                           idempotencyKey="k1")  # fmt: skip
    assert codes(changed) == ["DUPLICATE"]
    assert await rows(a) == 5

    # 20 a day in all.
    await insert_rows(a, [row(a, "student2", target="topic") for _ in range(19)])
    throttled = await submit(a, "student2", target="MENTOR", mentorId=a.ids["mentor"])
    assert codes(throttled) == ["NOT_FOUND"]  # checked before the limits
    topic = gid("Topic", a.topics[2])
    assert codes(await submit(a, "student2", target="TOPIC", topicId=topic)) == ["THROTTLED"]
    assert await rows(a) == 24

    # Signed out: an authentication error.
    body = await a.api.gql(SUBMIT, {"input": {"target": "SUBJECT", "subjectId": subject,
                                              "rating": 3}})  # fmt: skip
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


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
    assert len(await notifications_of(a, "manager")) == 67


def authors(body: dict[str, Any], key: str) -> list[Any]:
    assert "errors" not in body, body
    return [e["node"] for e in body["data"][key]["edges"]]


async def test_anonymous_feedback_never_reveals_its_author_to_its_recipient(
    academics: Academics,
) -> None:
    a = academics
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

    # The recipient (faculty): no author, no time, by node and in the list.
    node = (await a.gql("faculty", NODE, {"id": hidden["id"]}))["data"]["node"]
    assert node["comment"] == "secret" and node["anonymous"] is True
    assert node["author"] is None and node["createdAt"] is None
    assert node["createdOn"] == datetime.now(UTC).date().isoformat()
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


async def test_ids_and_order_say_nothing_of_who_gave_what_when(academics: Academics) -> None:
    a = academics
    # Named and anonymous feedback interleaved in time, all about the faculty member.
    await insert_rows(
        a, [row(a, "student" if i % 2 else "student2", anonymous=bool(i % 2),
                created_at=datetime.now(UTC) - timedelta(minutes=60 - i)) for i in range(12)]
    )  # fmt: skip
    async with a.runtime.transaction() as uow:
        pks = list((await uow.session.execute(select(StudentFeedback.id))).scalars())
    ids = feedback.ids_for(a.api.settings.secret_key)
    listed = authors(await a.gql("faculty", RECEIVED), "feedbackReceived")
    got = [pk_of(n["id"]) for n in listed]
    # Public ids are not row ids, and the order is the keyed scramble's, not time's.
    assert sorted(ids.row_id(g) for g in got) == sorted(pks)  # type: ignore[type-var]
    assert got == sorted(got)  # by the scramble (public id = scramble + 1)
    assert [ids.row_id(g) for g in got] != sorted(pks)
    assert [ids.permute(p) for p in range(1, 60)] != sorted(ids.permute(p) for p in range(1, 60))
    # Paging through gives the same order.
    page = await a.gql("faculty", "{ feedbackReceived(first: 5) { pageInfo { endCursor } "
                       "edges { node { id } } } }")  # fmt: skip
    cursor = page["data"]["feedbackReceived"]["pageInfo"]["endCursor"]
    rest = await a.gql("faculty", "query($c: String) { feedbackReceived(first: 100, after: $c) "
                       "{ edges { node { id } } } }", {"c": cursor})  # fmt: skip
    paged = [e["node"]["id"] for e in page["data"]["feedbackReceived"]["edges"]] + [
        e["node"]["id"] for e in rest["data"]["feedbackReceived"]["edges"]
    ]
    assert paged == [n["id"] for n in listed]
    # Earlier days come after later ones.
    await insert_rows(a, [row(a, "student", created_at=datetime.now(UTC) - timedelta(days=3))])
    days = [n["createdOn"] for n in authors(await a.gql("faculty", RECEIVED), "feedbackReceived")]
    assert days == sorted(days, reverse=True) and len(set(days)) == 2
    # A random id, or another type's, names nothing.
    for other in (gid("StudentFeedback", 1), gid("StudentFeedback", 2**62 + 5)):
        assert (await a.gql("manager", NODE, {"id": other}))["data"]["node"] is None or (
            ids.row_id(pk_of(other)) in pks
        )


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
    for n in (2, 10):
        await insert_rows(
            a, [row(a, "student", anonymous=bool(i % 2), sentiment=0.1, sentiment_label="positive",
                    scored_at=datetime.now(UTC)) for i in range(n - have)]
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
