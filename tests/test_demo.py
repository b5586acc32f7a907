"""The demo data looks like a programme running today: weeks of attendance, work and
points behind it, integrity cases, students at risk being called, notices being read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from strawberry.relay import to_base64

from alumnet.domain.demo import calendar, demo_phone, seed_demo
from alumnet.domain.engagement import points
from alumnet.persistence.models import AttendanceDay, Enrollment, Mission, PointEntry, Submission
from tests.conftest import Api

PASSWORD = "alumnet-demo"


def test_the_calendar_is_running_whatever_the_day() -> None:
    for today in (date(2026, 12, 21), date(2027, 1, 1), date(2028, 2, 29), date(2031, 6, 15)):
        (first, last), (second, ends) = calendar(today)
        assert first.weekday() == second.weekday() == 0  # Mondays
        assert first <= today - timedelta(weeks=8) < first + timedelta(days=7)
        assert today + timedelta(weeks=9) < last <= today + timedelta(weeks=11)
        assert first < second < today < ends
    numbers = {phone for i in range(5000) if (phone := demo_phone(i))}
    assert len(numbers) == 4800  # every 25th person has none; the others are all different
    assert all(" 555 01" in n for n in numbers)  # the range reserved for fiction


async def test_seeded_demo_is_alive_today(api: Api) -> None:
    runtime = api.app.state.runtime
    await seed_demo(runtime, scale=0.03)
    today = datetime.now(UTC).date()
    async with runtime.database.connect() as conn:
        missions = {
            code: (mid, status, starts, ends)
            for mid, code, status, starts, ends in (
                await conn.execute(
                    select(Mission.id, Mission.code, Mission.status, Mission.starts_on,
                           Mission.ends_on)
                )
            ).all()
        }  # fmt: skip
        fnd, status, starts, ends = missions["B2026A-FND"]
        assert status == "active" and starts < today - timedelta(weeks=7) and ends > today
        assert missions["B2026A-ORI"][3] < today  # the orientation is over
        # Attendance on every past day, the last weeks included; a few students slipping.
        days = dict(
            (
                await conn.execute(
                    select(AttendanceDay.day, func.count())
                    .where(AttendanceDay.mission_id == fnd)
                    .group_by(AttendanceDay.day)
                )
            ).all()
        )
        assert all(days.get(starts + timedelta(days=n)) for n in range((today - starts).days))
        per_student = (
            await conn.execute(
                select(
                    AttendanceDay.enrollment_id,
                    func.count().filter(AttendanceDay.day < starts + timedelta(days=21)),
                    func.count().filter(AttendanceDay.day >= today - timedelta(days=7)),
                )
                .where(AttendanceDay.mission_id == fnd)
                .group_by(AttendanceDay.enrollment_id)
            )
        ).all()
        regular = [e for e, early, late in per_student if early >= 17 and late >= 5]
        slipping = [e for e, early, late in per_student if early >= 15 and late <= 3]
        assert len(regular) > len(per_student) / 2 and slipping
        # Work on time, late and missing, much of it graded.
        work = dict(
            (
                await conn.execute(select(Submission.late, func.count()).group_by(Submission.late))
            ).all()
        )
        assert work[False] > 10 * work[True] > 0
        graded = select(func.count()).where(Submission.mark.is_not(None))
        assert (await conn.execute(graded)).scalar_one() > work[False] / 2
        # Every enrolment's points are its ledger's sum, and the ledger is what the rules
        # make of the facts: a recalculation changes nothing.
        ledger = (
            select(func.coalesce(func.sum(PointEntry.points), 0))
            .where(PointEntry.enrollment_id == Enrollment.id)
            .scalar_subquery()
        )
        wrong = select(func.count()).where(Enrollment.points != ledger)
        assert (await conn.execute(wrong)).scalar_one() == 0
    assert (await points.recalculate(runtime, fnd))["adjustments"] == 0

    mission_id = to_base64("Mission", fnd)
    manager = await api.sign_in("manager@demo.alumnet.dev", PASSWORD)
    sre = await api.sign_in("sre@demo.alumnet.dev", PASSWORD)
    student = await api.sign_in("student@demo.alumnet.dev", PASSWORD)
    standing = await api.gql(
        "query($m: ID!) { node(id: $m) { ... on Mission { leaderboard(first: 3) { rank points }"
        " attendanceByWeek { present possible } } }"
        " appeals { edges { node { status decision { kind banEndsOn } } } }"
        " integrityFlags { totalCount } }",
        {"m": mission_id},
        token=manager,
    )
    mission = standing["data"]["node"]
    assert mission["leaderboard"][0]["rank"] == 1 and mission["leaderboard"][0]["points"] > 50
    assert len(mission["attendanceByWeek"]) >= 8
    assert all(w["present"] for w in mission["attendanceByWeek"])
    appealed = {(a["node"]["status"], a["node"]["decision"]["kind"],
                 a["node"]["decision"]["banEndsOn"])
                for a in standing["data"]["appeals"]["edges"]}  # fmt: skip
    ban_ends = (today + timedelta(days=14)).isoformat()
    assert appealed == {("PENDING", "WARN", None), ("PENDING", "BAN", ban_ends)}
    assert standing["data"]["integrityFlags"]["totalCount"] == 3

    outreach = await api.gql(
        "{ viewer { phone } overdue: followUps(when: OVERDUE) { totalCount }"
        " upcoming: followUps(when: UPCOMING) { totalCount }"
        " callLists(mine: false) { edges { node { entries { called phone } } } }"
        " outreachDashboard { atRiskByMission { count } outcomeMix { outcome count } } }",
        token=sre,
    )
    data = outreach["data"]
    assert data["viewer"]["phone"].startswith("+44 7700 900")
    assert data["overdue"]["totalCount"] >= 1 and data["upcoming"]["totalCount"] >= 3
    entries = [e for c in data["callLists"]["edges"] for e in c["node"]["entries"]]
    assert any(e["called"] for e in entries) and not all(e["called"] for e in entries)
    assert sum(1 for e in entries if e["phone"]) > len(entries) / 2
    assert sum(m["count"] for m in data["outreachDashboard"]["atRiskByMission"]) > 0
    if datetime.now(UTC).hour >= 2:  # today's calls so far
        assert len(data["outreachDashboard"]["outcomeMix"]) >= 3

    mine = await api.gql(
        "{ notices { edges { node { title myAcknowledgement { acknowledgedAt } } } } }",
        token=student,
    )
    read = {n["node"]["title"]: n["node"]["myAcknowledgement"] is not None
            for n in mine["data"]["notices"]["edges"]}  # fmt: skip
    assert read["Code of conduct"] and not read["Mid-programme review next week"]
    counts = await api.gql(
        "{ notices { edges { node { acknowledgements { audience acknowledged } } } } }",
        token=manager,
    )
    shares = [n["node"]["acknowledgements"] for n in counts["data"]["notices"]["edges"]]
    assert any(0 < s["acknowledged"] < s["audience"] for s in shares)

    # The README's example: student@ gives today's attendance, whatever the date.
    attended = await api.gql(
        "mutation($m: ID!) { attendanceSubmit(input: {missionId: $m}) {"
        " attendance { day } created userErrors { code } } }",
        {"m": mission_id},
        token=student,
    )
    assert attended["data"]["attendanceSubmit"]["created"] is True
    assert attended["data"]["attendanceSubmit"]["attendance"]["day"] == today.isoformat()


async def test_the_demo_community_is_lively(api: Api) -> None:
    """A feed with comments and likes whose counts add up, a report waiting for the
    moderators, reference requests in every state, volunteering, the public pages, and
    giving whose totals add up."""
    from alumnet.persistence.models import Comment, CommentLike, Post, PostLike

    runtime = api.app.state.runtime
    await seed_demo(runtime, scale=0.03)
    student = await api.sign_in("student@demo.alumnet.dev", PASSWORD)
    alumnus = await api.sign_in("alumnus@demo.alumnet.dev", PASSWORD)
    manager = await api.sign_in("manager@demo.alumnet.dev", PASSWORD)
    feed = await api.gql(
        "{ feed(first: 20) { edges { node { likeCount commentCount author { name } } } } }",
        token=student,
    )
    posts = [e["node"] for e in feed["data"]["feed"]["edges"]]
    assert len(posts) == 20 and posts[0]["author"]["name"] == "Stella Student"
    assert any(p["likeCount"] for p in posts) and any(p["commentCount"] for p in posts)
    async with runtime.database.connect() as conn:
        likes = select(func.count()).where(PostLike.post_id == Post.id).scalar_subquery()
        comments = select(func.count()).where(Comment.post_id == Post.id).scalar_subquery()
        wrong = select(func.count()).where(
            (Post.like_count != likes) | (Post.comment_count != comments)
        )
        assert (await conn.execute(wrong)).scalar_one() == 0
        liked = select(func.count()).where(CommentLike.comment_id == Comment.id)
        wrong = select(func.count()).where(Comment.like_count != liked.scalar_subquery())
        assert (await conn.execute(wrong)).scalar_one() == 0
    staff = await api.gql(
        "{ moderationQueue { edges { node { reportCount } } }"
        " volunteeringReport(groupBy: KIND) { total { hours } }"
        ' page(slug: "about") { title } }',
        token=manager,
    )
    assert [e["node"]["reportCount"] for e in staff["data"]["moderationQueue"]["edges"]] == [2]
    assert float(staff["data"]["volunteeringReport"]["total"]["hours"]) > 0
    assert staff["data"]["page"]["title"]
    asked = await api.gql("{ pendingReferences { totalCount } viewer { id } }", token=alumnus)
    assert asked["data"]["pendingReferences"]["totalCount"] >= 1
    made = await api.gql(
        "{ referenceRequests(first: 100) { edges { node { status } } } }", token=student
    )
    states = {e["node"]["status"] for e in made["data"]["referenceRequests"]["edges"]}
    assert {"PENDING", "ACCEPTED", "DECLINED", "SENT"} <= states, states
    mine = await api.gql(
        "query($u: ID!) { volunteering(userId: $u) { totalCount } }",
        {"u": asked["data"]["viewer"]["id"]},
        token=alumnus,
    )
    assert mine["data"]["volunteering"]["totalCount"] >= 3
    # Giving: five years of gifts whose running totals add up to a recount of the gifts.
    from alumnet.domain.giving import recount
    from alumnet.persistence.models import Gift, PledgeInstalment

    async with runtime.transaction() as uow:
        assert await recount.differences(uow) == []
        years = select(func.count(func.distinct(Gift.receipt_year)))
        assert (await uow.session.execute(years)).scalar_one() >= 4
        paid = select(func.count()).where(PledgeInstalment.gift_id.is_not(None))
        assert (await uow.session.execute(paid)).scalar_one() > 0
    advancement = await api.sign_in("advancement@demo.alumnet.dev", PASSWORD)
    assert advancement


async def test_the_demo_teaches_and_counsels(api: Api) -> None:
    """faculty@ leads offerings whose students have progress, some behind the plan, time
    logged and feedback scored; counsellor@ has inquiries at every stage with their scores,
    tasks, and a funnel that agrees with them; student@ has progress of their own."""
    runtime = api.app.state.runtime
    await seed_demo(runtime, scale=0.03)
    faculty = await api.sign_in("faculty@demo.alumnet.dev", PASSWORD)
    counsellor = await api.sign_in("counsellor@demo.alumnet.dev", PASSWORD)
    student = await api.sign_in("student@demo.alumnet.dev", PASSWORD)

    led = await api.gql(
        "{ mySubjectOfferings { edges { node { id subject { id name topicCount } "
        "mission { id } } } } }",
        token=faculty,
    )
    offerings = [e["node"] for e in led["data"]["mySubjectOfferings"]["edges"]]
    assert offerings, led
    first = next(o for o in offerings if o["mission"] is not None)
    table = await api.gql(
        "query($s: ID!, $m: ID!) { subjectProgress(subjectId: $s, missionId: $m, first: 200) "
        "{ totalCount edges { node { completed behind velocity } } } }",
        {"s": first["subject"]["id"], "m": first["mission"]["id"]},
        token=faculty,
    )
    rows = [e["node"] for e in table["data"]["subjectProgress"]["edges"]]
    assert rows and any(r["completed"] for r in rows) and any(r["behind"] for r in rows)
    week = await api.gql("{ facultyUtilisation(weeks: 2) { weeks { totalMinutes } } }",
                         token=faculty)  # fmt: skip
    assert any(w["totalMinutes"] for w in week["data"]["facultyUtilisation"]["weeks"]), week
    received = await api.gql(
        "{ feedbackReceived(first: 50) { totalCount edges { node { sentimentLabel } } } }",
        token=faculty,
    )
    labels = {e["node"]["sentimentLabel"] for e in received["data"]["feedbackReceived"]["edges"]}
    assert {"POSITIVE", "NEGATIVE"} <= labels, received
    mine = await api.gql("{ myAcademicProgress { completed topics } }", token=student)
    assert any(r["completed"] for r in mine["data"]["myAcademicProgress"]), mine

    inquiries = await api.gql(
        "{ inquiries(first: 1000, orderBy: SCORE) { totalCount edges { node { stage "
        "leadScore { score reasons { rule points } } } } } }",
        token=counsellor,
    )
    found = [e["node"] for e in inquiries["data"]["inquiries"]["edges"]]
    assert {"NEW", "CONTACTED", "APPLIED", "ENROLLED", "LOST"} <= {i["stage"] for i in found}
    scored = [i for i in found if i["stage"] not in ("ENROLLED", "LOST")]
    assert all(i["leadScore"]["score"] == sum(r["points"] for r in i["leadScore"]["reasons"])
               for i in scored)  # fmt: skip
    funnel = await api.gql("{ admissionsFunnel { inquiries stages { stage reached } } }",
                           token=counsellor)  # fmt: skip
    assert (
        funnel["data"]["admissionsFunnel"]["inquiries"]
        == (inquiries["data"]["inquiries"]["totalCount"])
    )
    tasks = await api.gql("{ myInquiryTasks { totalCount } }", token=counsellor)
    assert tasks["data"]["myInquiryTasks"]["totalCount"] > 0, tasks
