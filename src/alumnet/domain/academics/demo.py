"""The demo's academics: a software-engineering curriculum (subjects of ordered topics with
estimated hours and prerequisites) in the first programme of study and offered to the demo
missions, led by faculty@ and three more faculty members; each student's progress topic by
topic as far as their pace has taken them (some behind the plan, a few needing revision),
quizzes and projects with marks, four weeks of the faculty's time, and students' feedback
with its sentiment. Deterministic; bulk inserts; dates relative to today; no job, e-mail or
notification is sent."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert, select

from alumnet.domain.academics import feedback, sentiment
from alumnet.domain.cohorts.access import taking_part
from alumnet.persistence.db import copy_rows
from alumnet.persistence.models import (
    Assessment,
    AssessmentMark,
    Enrollment,
    FacultyTarget,
    FacultyTimeEntry,
    MentorAssignment,
    Mission,
    Programme,
    ProgrammeSubject,
    StudentFeedback,
    Subject,
    SubjectOffering,
    Topic,
    TopicPrerequisite,
    TopicProgress,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

# code, name, description, topics (title, hours); topic n needs topic n-1 where marked "*".
SUBJECTS: list[tuple[str, str, str, list[tuple[str, float]]]] = [
    ("PROG", "Programming fundamentals", "Thinking in programs, with Python.", [
        ("*Values, names and types", 2), ("*Conditions and loops", 3), ("*Functions", 3),
        ("Lists and dictionaries", 3), ("*Files and errors", 2), ("Modules and packages", 2),
        ("Testing your code", 3), ("Debugging", 2), ("Objects and classes", 4),
        ("A first project", 6)]),
    ("SYS", "Computer systems", "What happens underneath: machines, networks, the shell.", [
        ("*The command line", 2), ("*Files, processes and permissions", 3),
        ("How the internet works", 2), ("Version control with git", 3),
        ("Memory and the CPU", 2), ("Operating systems", 3), ("Security basics", 2),
        ("Automation with scripts", 3)]),
    ("WEBF", "HTML and CSS", "Pages that work for everyone, on every screen.", [
        ("*Structure with HTML", 2), ("*Styling with CSS", 3), ("Layout: flexbox and grid", 3),
        ("Responsive design", 3), ("Accessibility", 2), ("Forms", 2), ("Design systems", 2),
        ("A portfolio site", 5)]),
    ("JS", "JavaScript", "Programs in the browser.", [
        ("*Syntax and types", 2), ("*Functions and scope", 3), ("The DOM", 3), ("Events", 2),
        ("*Asynchronous code", 4), ("Fetching data", 3), ("Modules and tooling", 2),
        ("Testing JavaScript", 3), ("A small single-page app", 6)]),
    ("DSA", "Data structures and algorithms", "Choosing the right structure, and knowing why.", [
        ("*Complexity and big-O", 3), ("Arrays and strings", 3), ("Linked lists", 2),
        ("Stacks and queues", 2), ("*Hash tables", 3), ("*Recursion", 4), ("Sorting", 4),
        ("Searching", 2), ("*Trees", 4), ("Heaps", 3), ("Graphs", 5),
        ("Dynamic programming", 6)]),
    ("CAP", "Capstone project", "A real product, built in a team, from idea to release.", [
        ("Finding a problem", 3), ("*Planning and scope", 4), ("*Design", 6),
        ("*Building", 20), ("*Testing and feedback", 6), ("Release and demo day", 4)]),
]  # fmt: skip
# Which subjects each demo mission (by its code's ending) is taught.
MISSION_SUBJECTS = {"FND": ["PROG", "SYS"], "WEB": ["WEBF", "JS"], "DSA": ["DSA"],
                    "CAP": ["CAP"]}  # fmt: skip
FACULTY = [("faculty01", "Ibrahim Teacher"), ("faculty02", "Lucia Teacher"),
           ("faculty03", "Noor Teacher")]  # fmt: skip
COMMENTS = [
    (5, "Brilliant sessions, the examples made everything click."),
    (5, "Really clear explanations and very patient with questions. Thank you!"),
    (5, "Loved the live coding, I finally understand it."),
    (4, "Helpful feedback on my work, thanks."),
    (4, "Good pace and useful exercises."),
    (4, "I like the practical work, more of it please."),
    (3, "Okay overall, some topics were rushed."),
    (3, "The content is fine but the slides are hard to read."),
    (2, "Too fast for me, I am struggling to keep up."),
    (2, "The assignments are confusing and badly explained."),
    (1, "Terrible session, nothing worked and I am completely lost and frustrated."),
    (1, "Awful. The lab was broken again and nobody helped."),
]


async def seed_academics(uow: UnitOfWork, domain: str, *, alert_below: float) -> int:
    """Returns how many topic progress rows it added (none when subjects exist already).
    Feedback at or below ``alert_below`` is marked as told to staff already."""
    session = uow.session
    if (await session.execute(select(Subject.id).limit(1))).first() is not None:
        return 0
    rng = random.Random(27)  # noqa: S311  (demo data, not secrets)
    now = datetime.now(UTC)
    today = now.date()
    faculty = await _faculty(uow, domain, now)
    subjects, topics = await _curriculum(uow, now)
    offerings = await _offerings(uow, subjects, faculty, now)
    progress = await _progress(uow, offerings, topics, now)
    await _assessments(uow, rng, offerings, topics, faculty[0], now)
    sessions = await _time(uow, offerings, faculty, today)
    await session.execute(insert(FacultyTarget), [
        {"faculty_id": faculty[0], "weekly_minutes": 25 * 60, "updated_at": now}])  # fmt: skip
    await _feedback(uow, rng, offerings, sessions, now, alert_below)
    return progress


async def _faculty(uow: UnitOfWork, domain: str, now: datetime) -> list[int]:
    """faculty@ first, then three more faculty members (with faculty@'s password)."""
    session = uow.session
    lead = (
        await session.execute(
            select(User.id, User.password_hash).where(User.email_lower == f"faculty@{domain}")
        )
    ).one()
    ids = [int(lead.id)]
    for mailbox, name in FACULTY:
        email = f"{mailbox}@{domain}"
        found = (await session.execute(select(User.id).where(User.email_lower == email))).scalar()
        if found is None:
            user = User(email=email, email_lower=email, name=name, status="active",
                        password_hash=lead.password_hash, email_verified_at=now, created_at=now,
                        updated_at=now)  # fmt: skip
            session.add(user)
            await session.flush()
            session.add(UserRole(user_id=user.id, role="FACULTY"))
            found = user.id
        ids.append(int(found))
    await session.flush()
    return ids


async def _curriculum(
    uow: UnitOfWork, now: datetime
) -> tuple[dict[str, int], dict[str, list[tuple[int, int]]]]:
    """The subjects (code → id) and their topics ((id, minutes) in order), in the first
    programme of study, with prerequisites."""
    session = uow.session
    subjects: dict[str, int] = {}
    topics: dict[str, list[tuple[int, int]]] = {}
    for code, name, description, items in SUBJECTS:
        subject = Subject(code=code, name=name, description=description, created_at=now,
                          updated_at=now)  # fmt: skip
        session.add(subject)
        await session.flush()
        subjects[code] = int(subject.id)
        rows = [{"subject_id": subject.id, "code": f"{code}-{n + 1:02d}", "title": t.lstrip("*"),
                 "description": "", "position": n, "estimated_minutes": int(h * 60),
                 "created_at": now, "updated_at": now}
                for n, (t, h) in enumerate(items)]  # fmt: skip
        await session.execute(insert(Topic), rows)
        found = (
            await session.execute(
                select(Topic.id, Topic.estimated_minutes)
                .where(Topic.subject_id == subject.id)
                .order_by(Topic.position)
            )
        ).all()
        topics[code] = [(int(i), int(m)) for i, m in found]
        needs = [
            {"topic_id": topics[code][n + 1][0], "requires_id": topics[code][n][0]}
            for n, (title, _) in enumerate(items[:-1])
            if items[n + 1][0].startswith("*") or title.startswith("*")
        ]
        if needs:
            await session.execute(insert(TopicPrerequisite), needs)
    # Across subjects: JavaScript's first topic needs programming's first three.
    await session.execute(insert(TopicPrerequisite), [
        {"topic_id": topics["JS"][0][0], "requires_id": topics["PROG"][n][0]} for n in range(3)
    ])  # fmt: skip
    programme = (await session.execute(select(Programme.id).order_by(Programme.id))).scalar()
    if programme is not None:
        await session.execute(insert(ProgrammeSubject), [
            {"programme_id": programme, "subject_id": s, "position": n}
            for n, s in enumerate(subjects.values())])  # fmt: skip
    return subjects, topics


async def _offerings(
    uow: UnitOfWork, subjects: dict[str, int], faculty: list[int], now: datetime
) -> list[dict[str, Any]]:
    """Each demo mission's subjects, offered over the mission's dates; faculty@ leads the
    first batch's foundations and web subjects."""
    session = uow.session
    missions = (await session.execute(
        select(Mission.id, Mission.code, Mission.starts_on, Mission.ends_on).order_by(Mission.id)
    )).all()  # fmt: skip
    offerings: list[dict[str, Any]] = []
    turn = 0
    for mission in missions:
        for code in MISSION_SUBJECTS.get(str(mission.code).rsplit("-", 1)[-1], []):
            lead = faculty[0] if mission.code.startswith("B2026A") and code != "DSA" else (
                faculty[1 + turn % (len(faculty) - 1)])  # fmt: skip
            turn += 1
            offering = SubjectOffering(
                subject_id=subjects[code], mission_id=mission.id, faculty_id=lead,
                starts_on=mission.starts_on, ends_on=mission.ends_on, created_at=now,
            )  # fmt: skip
            session.add(offering)
            await session.flush()
            offerings.append({"id": offering.id, "subject": code, "subject_id": subjects[code],
                              "mission_id": mission.id,
                              "faculty_id": lead, "starts_on": mission.starts_on,
                              "ends_on": mission.ends_on})  # fmt: skip
    return offerings


def _students_of(mission_id: int) -> Any:
    return (
        select(Enrollment.student_id)
        .where(Enrollment.mission_id == mission_id, taking_part())
        .order_by(Enrollment.student_id)
    )


def _pace(student_id: int) -> float:
    """How fast a student goes against the plan: most near it, some well behind or ahead."""
    return (0.45, 0.7, 0.85, 0.95, 1.0, 1.0, 1.05, 1.15, 1.3)[(student_id * 7919) % 9]


def _moment(starts: date, share: float) -> datetime:
    return datetime.combine(starts, time(10), tzinfo=UTC) + timedelta(days=share)


async def _progress(
    uow: UnitOfWork, offerings: list[dict[str, Any]], topics: dict[str, list[tuple[int, int]]],
    now: datetime,
) -> int:  # fmt: skip
    """Each student of each running offering, as far through its topics as their pace has
    taken them: those done completed (a few needing revision), the next in progress."""
    session = uow.session
    today = now.date()
    added = 0
    for offering in offerings:
        starts, ends = offering["starts_on"], offering["ends_on"]
        if starts >= today:
            continue
        days = max(1, (today - starts).days)
        share = days / max(1, (ends - starts).days)
        items = topics[offering["subject"]]
        students = (await session.execute(_students_of(offering["mission_id"]))).scalars().all()
        rows: list[dict[str, Any]] = []
        for student in students:
            done = min(len(items), int(len(items) * share * _pace(int(student))))
            for n, (topic, _) in enumerate(items[: done + 1]):
                finished = n < done
                when = _moment(starts, days * (n + 1) / (done + 1))
                revise = finished and (int(student) + n) % 17 == 0
                rows.append({
                    "student_id": student, "topic_id": topic,
                    "subject_id": offering["subject_id"], "status":
                    "needs_revision" if revise else "completed" if finished else "in_progress",
                    "competency": (2 if revise else 2 + (int(student) + n) % 4) if finished
                    else None, "note": "Revise before the quiz." if revise else None,
                    "started_at": min(when - timedelta(days=2), now), "recorded_by_id":
                    offering["faculty_id"], "completed_at": min(when, now)
                    if finished and not revise else None, "updated_at": min(when, now),
                })  # fmt: skip
        # COPY on PostgreSQL (~53,000 rows: 1.4 s, where INSERTs took 10 s).
        for start in range(0, len(rows), 5000):
            await copy_rows(session, TopicProgress.__table__, rows[start : start + 5000])
        added += len(rows)
    return added


async def _assessments(
    uow: UnitOfWork, rng: random.Random, offerings: list[dict[str, Any]],
    topics: dict[str, list[tuple[int, int]]], faculty_id: int, now: datetime,
) -> None:  # fmt: skip
    """A quiz on every fourth topic and a project on the last, marked for the students who
    completed the topic (out of 20 and 100)."""
    session = uow.session
    for code, items in topics.items():
        subject_id = next((o["subject_id"] for o in offerings if o["subject"] == code), None)
        if subject_id is None:
            continue
        chosen = [(n, "quiz", 20.0) for n in range(3, len(items), 4)]
        chosen.append((len(items) - 1, "project", 100.0))
        for n, kind, top in chosen:
            topic_id = items[n][0]
            assessment = Assessment(
                topic_id=topic_id, subject_id=subject_id, kind=kind,
                title=f"{'Quiz' if kind == 'quiz' else 'Project'}: topic {n + 1}",
                max_marks=top, created_by_id=faculty_id, created_at=now,
            )  # fmt: skip
            session.add(assessment)
            await session.flush()
            done = (await session.execute(
                select(TopicProgress.student_id, TopicProgress.competency).where(
                    TopicProgress.topic_id == topic_id, TopicProgress.status == "completed")
            )).all()  # fmt: skip
            marks = [{"assessment_id": assessment.id, "student_id": s, "recorded_by_id":
                      faculty_id, "recorded_at": now,
                      "marks": round(min(top, top * (0.35 + 0.13 * (c or 3)
                                                      + rng.uniform(-0.1, 0.1))), 1)}
                     for s, c in done]  # fmt: skip
            for start in range(0, len(marks), 5000):
                await session.execute(insert(AssessmentMark), marks[start : start + 5000])


async def _time(
    uow: UnitOfWork, offerings: list[dict[str, Any]], faculty: list[int], today: date
) -> list[tuple[int, int, int, int, datetime]]:
    """Four weeks of each faculty member's working days: a two-hour session of a subject
    they lead in the morning, an hour's preparation, assessment on Fridays. Returns the
    sessions (entry id, mission, subject, faculty member, end)."""
    session = uow.session
    rows: list[dict[str, Any]] = []
    for n, member in enumerate(faculty):
        led = [o for o in offerings if o["faculty_id"] == member and o["starts_on"] < today]
        if not led:
            continue
        for back in range(28, 0, -1):
            day = today - timedelta(days=back)
            if day.weekday() >= 5:
                continue
            offering = led[back % len(led)]
            at = datetime.combine(day, time(8 + n % 2), tzinfo=UTC)
            common = {"faculty_id": member, "subject_id": offering["subject_id"],
                      "mission_id": offering["mission_id"], "created_at": at}  # fmt: skip
            rows.append({**common, "kind": "teaching", "started_at": at,
                         "ended_at": at + timedelta(hours=2), "minutes": 120})  # fmt: skip
            rows.append({**common, "kind": "preparation", "started_at": at + timedelta(hours=3),
                         "ended_at": at + timedelta(hours=4), "minutes": 60})  # fmt: skip
            if day.weekday() == 4:
                rows.append({**common, "kind": "assessment",
                             "started_at": at + timedelta(hours=5),
                             "ended_at": at + timedelta(hours=7), "minutes": 120})  # fmt: skip
    if rows:
        await session.execute(insert(FacultyTimeEntry), rows)
    found = (await session.execute(
        select(FacultyTimeEntry.id, FacultyTimeEntry.mission_id, FacultyTimeEntry.subject_id,
               FacultyTimeEntry.faculty_id, FacultyTimeEntry.ended_at)
        .where(FacultyTimeEntry.kind == "teaching")
    )).all()  # fmt: skip
    return [(int(i), int(m or 0), int(s or 0), int(f), e or today_start(today))
            for i, m, s, f, e in found]  # fmt: skip


def today_start(today: date) -> datetime:
    return datetime.combine(today, time(0), tzinfo=UTC)


async def _feedback(
    uow: UnitOfWork, rng: random.Random, offerings: list[dict[str, Any]],
    sessions: list[tuple[int, int, int, int, datetime]], now: datetime, alert_below: float,
) -> None:  # fmt: skip
    """Feedback from students on their subjects, sessions and mentors over the last six
    weeks, a third anonymous, scored as the sentiment job scores it; the very negative ones
    marked as already told to staff."""
    session = uow.session
    rows: list[dict[str, Any]] = []
    # The sessions of each (mission, subject): (entry, its faculty member, its end).
    taught: dict[tuple[int, int], list[tuple[int, int, datetime]]] = {}
    for entry, mission, subject, member, ended in sessions:
        taught.setdefault((mission, subject), []).append((entry, member, ended))
    for offering in offerings:
        if offering["starts_on"] >= now.date():
            continue
        students = (await session.execute(
            _students_of(offering["mission_id"]).limit(40))).scalars().all()  # fmt: skip
        for k, student in enumerate(students):
            rating, comment = COMMENTS[(int(student) + k) % len(COMMENTS)]
            target = ("subject", "session", "subject", "topic")[k % 4]
            row: dict[str, Any] = {
                "author_id": student, "target": target, "subject_id": offering["subject_id"],
                "recipient_id": offering["faculty_id"], "rating": rating, "comment": comment,
                "anonymous": k % 3 == 0,
                "created_at": now - timedelta(days=rng.randrange(42), hours=rng.randrange(9)),
            }  # fmt: skip
            held = taught.get((offering["mission_id"], offering["subject_id"]))
            if target == "session" and held:
                entry, member, ended = held[k % len(held)]
                after = ended + timedelta(hours=rng.randrange(1, 30))
                row.update(session_id=entry, recipient_id=member, created_at=min(now, after))
            elif target == "session":
                row["target"] = "subject"
            if target == "topic":
                row["topic_id"] = (await session.execute(
                    select(Topic.id).where(Topic.subject_id == offering["subject_id"])
                    .order_by(Topic.position).limit(1))).scalar()  # fmt: skip
            rows.append(row)
    mentored = (await session.execute(
        select(MentorAssignment.student_id, MentorAssignment.mentor_id)
        .order_by(MentorAssignment.id).limit(60))).all()  # fmt: skip
    for k, (student, mentor) in enumerate(mentored):
        rating, comment = COMMENTS[(k * 3) % len(COMMENTS)]
        rows.append({"author_id": student, "target": "mentor", "recipient_id": mentor,
                     "rating": rating, "comment": comment, "anonymous": k % 2 == 0,
                     "created_at": now - timedelta(days=rng.randrange(42))})  # fmt: skip
    for row in rows:
        found = sentiment.score(row["comment"])
        very_negative = found.score <= alert_below
        row.update(public_id=feedback.new_public_id(), sentiment=found.score,
                   sentiment_label=found.label, scored_at=now,
                   alerted_at=now if very_negative else None)  # fmt: skip
    if rows:
        await session.execute(insert(StudentFeedback), rows)
