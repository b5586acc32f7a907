"""The demo data set: one user per role, and a realistic mentorship programme around them,
so that a fresh checkout answers interesting queries at once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, insert, select, update

from alumnet.domain.academics.demo import seed_academics
from alumnet.domain.admissions import scoring
from alumnet.domain.admissions.demo import seed_admissions
from alumnet.domain.careers.demo import seed_careers
from alumnet.domain.communication.demo import seed_notices, seed_tickets
from alumnet.domain.community.demo import seed_community
from alumnet.domain.engagement import points
from alumnet.domain.engagement.demo import seed_engagement
from alumnet.domain.errors import DomainError
from alumnet.domain.events.demo import seed_events
from alumnet.domain.giving.demo import seed_giving
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.domain.identity.users import ensure_user
from alumnet.domain.integrity.demo import seed_integrity
from alumnet.domain.mentorship.demo import seed_mentorship
from alumnet.domain.outreach.demo import seed_outreach
from alumnet.domain.people.demo import seed_alumni
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import (
    Announcement,
    Assignment,
    Batch,
    Enrollment,
    MentorAssignment,
    Mission,
    MissionMentor,
    User,
    UserRole,
)
from alumnet.persistence.uow import Origin, UnitOfWork

DEMO_PASSWORD = "alumnet-demo"
DEMO_DOMAIN = "demo.alumnet.dev"

DEMO_PEOPLE = [
    (Role.ADMIN, "Ada Admin"),
    (Role.DEVELOPER, "Dev Developer"),
    (Role.MANAGER, "Maya Manager"),
    (Role.SRE, "Sam Relations"),
    (Role.MENTOR, "Mo Mentor"),
    (Role.STUDENT, "Stella Student"),
    (Role.ALUMNUS, "Alex Alumnus"),
    (Role.ADVANCEMENT, "Avery Advancement"),
    (Role.FACULTY, "Farah Faculty"),
    (Role.ADMISSIONS, "Cory Counsellor"),
]

FIRST_NAMES = [
    "Aarav", "Abena", "Adaeze", "Aiko", "Alejandro", "Amara", "Anika", "Arjun", "Ayesha",
    "Bilal", "Camila", "Chen", "Chiara", "Dario", "Deepa", "Diego", "Elif", "Emeka", "Fatima",
    "Femi", "Hana", "Hiroshi", "Ikenna", "Imani", "Isabel", "Jamal", "Jin", "Kavya", "Kenji",
    "Kwame", "Lara", "Leila", "Lucas", "Maya", "Mehmet", "Mina", "Nadia", "Naveen", "Nia",
    "Omar", "Priya", "Rafael", "Rania", "Ravi", "Rosa", "Sana", "Santiago", "Sara", "Tariq",
    "Tomás", "Uchenna", "Valentina", "Wei", "Yara", "Yusuf", "Zainab", "Zara", "Ifeoma", "Kofi",
    "Lina",
]  # fmt: skip
LAST_NAMES = [
    "Abubakar", "Adeyemi", "Ahmed", "Alvarez", "Banerjee", "Boateng", "Castillo", "Chowdhury",
    "Costa", "Das", "Diallo", "Eze", "Fernandes", "Gupta", "Haddad", "Hassan", "Iyer", "Kamau",
    "Khan", "Kim", "Kowalski", "Kumar", "Li", "Mendoza", "Mensah", "Moreno", "Murphy", "Nair",
    "Nakamura", "Ndlovu", "Nguyen", "Okafor", "Okonkwo", "Osei", "Park", "Patel", "Pereira",
    "Quispe", "Rahman", "Reddy", "Rossi", "Saleh", "Santos", "Schmidt", "Sharma", "Silva",
    "Singh", "Suzuki", "Tanaka", "Torres", "Usman", "Varga", "Wang", "Yadav", "Yilmaz", "Zhou",
]  # fmt: skip

# (code, students, [(mission code, title), ...]); the dates are relative to today (see
# ``calendar``), so that the programme is always running: the codes stay, for the README.
BATCHES = [
    ("B2026A", 3000, [("B2026A-FND", "Foundations"), ("B2026A-WEB", "Web development"),
                      ("B2026A-DSA", "Data structures and algorithms")]),
    ("B2026B", 1200, [("B2026B-FND", "Foundations"), ("B2026B-WEB", "Web development"),
                      ("B2026B-CAP", "Capstone project")]),
]  # fmt: skip
# Weeks since each batch began (on a Monday) and weeks until it ends (on a Friday).
BATCH_WEEKS = [(8, 10), (3, 30)]
MENTORS = 60
ALUMNI = 5_000  # with degrees, careers and skills, for the directory
MENTOR_DEMO_MENTEES = 50


def calendar(today: date) -> list[tuple[date, date]]:
    """Each batch's first and last day around ``today``: the first batch began eight
    weeks ago on a Monday and ends in ten weeks, the second began three weeks ago; both
    are running whatever the date."""
    monday = today - timedelta(days=today.weekday())
    return [
        (monday - timedelta(weeks=before), monday + timedelta(weeks=after, days=4))
        for before, after in BATCH_WEEKS
    ]


def demo_phone(i: int) -> str | None:
    """A number reserved for fiction (NANP 555-0100 to 555-0199, in area codes from 201
    on), different for every index below 70,000; every 25th person has none."""
    if i % 25 == 24:
        return None
    return f"+1 {201 + i // 100} 555 01{i % 100:02d}"


DEMO_PHONES = {role: f"+44 7700 900{n:03d}" for n, (role, _) in enumerate(DEMO_PEOPLE, 1)}


# The demo accounts' names before the @ where they are not the role's (counsellors work in
# the admissions office).
DEMO_MAILBOXES = {Role.ADMISSIONS: "counsellor"}


def demo_email(role: Role) -> str:
    return f"{DEMO_MAILBOXES.get(role, role.value.lower())}@{DEMO_DOMAIN}"


def person_name(i: int) -> str:
    """Deterministic, varied names: the same index always gives the same person."""
    first = FIRST_NAMES[i % len(FIRST_NAMES)]
    last = LAST_NAMES[(i * 7 + i // len(FIRST_NAMES)) % len(LAST_NAMES)]
    return f"{first} {last}"


async def is_empty(rt: Runtime) -> bool:
    async with rt.database.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(User))).scalar_one()) == 0


async def seed_demo(rt: Runtime, scale: float = 1.0) -> int:
    """Idempotent: creates what is missing and returns how many users it created.

    ``scale`` shrinks the programme (students and mentors) for tests; 1.0 is the full demo.
    Everything is dated around today (UTC): the batches are running, with weeks of
    attendance, meetings, work and points behind them.
    """
    if rt.settings.is_production:
        raise DomainError.of(
            "PRODUCTION", "The demo data is never loaded with ALUMNET_ENV=production."
        )
    now = datetime.now(UTC)
    today = now.date()
    async with rt.transaction(origin=Origin(via="cli")) as uow:
        count = select(func.count()).select_from(User)
        before = int((await uow.session.execute(count)).scalar_one())
        for role, name in DEMO_PEOPLE:
            await ensure_user(
                rt, uow, email=demo_email(role), name=name, roles=[role], password=DEMO_PASSWORD
            )
        await seed_programme(rt, uow, scale, today=today)
        await seed_alumni(
            uow, count=max(20, round(ALUMNI * scale)), name_of=person_name,
            password_hash=rt.hasher.hash(DEMO_PASSWORD), domain=DEMO_DOMAIN,
        )  # fmt: skip
        await seed_communication(uow)
        await seed_work(uow)
        missions = await seed_running(uow, today=today, now=now)
        await seed_careers(uow, DEMO_DOMAIN)
        await seed_events(uow, DEMO_DOMAIN)
        await seed_mentorship(uow, DEMO_DOMAIN)
        await seed_community(uow, DEMO_DOMAIN)
        await seed_giving(uow, DEMO_DOMAIN)
        await seed_academics(uow, DEMO_DOMAIN, alert_below=rt.settings.feedback_alert_below)
        await seed_admissions(uow, DEMO_DOMAIN)
        created = int((await uow.session.execute(count)).scalar_one()) - before
    # The points of the missions with a history, recalculated as the app does after a
    # change of rules: the ledger written above already adds up, so this changes nothing.
    for mission_id in missions:
        await points.recalculate(rt, mission_id)
    # The inquiries' lead scores, as the daily job gives them.
    await scoring.rescore_all(rt)
    return created


async def seed_running(uow: UnitOfWork, *, today: date, now: datetime) -> list[int]:
    """What makes the programme look alive: weeks of attendance, meetings, work and points
    in the active missions, integrity cases, at-risk students with calls and follow-ups,
    notices partly acknowledged and tickets; phone numbers for the demo people. Returns
    the missions given a history (none when it was there already)."""
    people = dict(
        (await uow.session.execute(select(User.email_lower, User.id).where(
            User.email_lower.in_([demo_email(r) for r, _ in DEMO_PEOPLE]
                                 + [f"sre2@{DEMO_DOMAIN}"])))).all()
    )  # fmt: skip
    for role, phone in DEMO_PHONES.items():
        await uow.session.execute(
            update(User).where(User.email_lower == demo_email(role), User.phone.is_(None))
            .values(phone=phone)
        )  # fmt: skip
    student = people[demo_email(Role.STUDENT)]
    seeded = await seed_engagement(uow, today=today, now=now, regular={student})
    if seeded is None:
        return []
    staff = {role: people[demo_email(role)] for role in (Role.MANAGER, Role.SRE)}
    sres = [staff[Role.SRE]] + [i for e, i in people.items() if e == f"sre2@{DEMO_DOMAIN}"]
    kinds = {sid: habit.kind for sid, habit in seeded.habits.items()}
    await seed_integrity(uow, today=today, habits=kinds, staff=staff,
                         spare=frozenset({student}))  # fmt: skip
    await seed_outreach(uow, now=now, sres=sres, missions=seeded.missions)
    await seed_notices(uow, now=now, author=staff[Role.MANAGER], skip={student})
    await seed_tickets(uow, now=now, sres=sres, skip={student})
    return seeded.missions


async def seed_programme(
    rt: Runtime, uow: UnitOfWork, scale: float = 1.0, *, today: date | None = None
) -> int:
    """Two batches, six missions, 60 mentors and 4,200 students, enrolled and mentored,
    running around ``today`` (by default the UTC date).

    Bulk inserts in the caller's transaction; skipped when the first batch exists.
    """
    session = uow.session
    if (await session.execute(select(Batch.id).where(Batch.code == BATCHES[0][0]))).first():
        return 0
    now = datetime.now(UTC)
    dates = calendar(today or now.date())
    password_hash = rt.hasher.hash(DEMO_PASSWORD)  # one hash for every generated person
    known = {
        str(e): int(i) for e, i in (await session.execute(select(User.email_lower, User.id))).all()
    }

    async def add_users(rows: list[tuple[str, str]], role: Role) -> list[int]:
        fresh = [(email, name) for email, name in rows if email not in known]
        for start in range(0, len(fresh), 500):
            chunk = fresh[start : start + 500]
            await session.execute(
                insert(User),
                [
                    {"email": e, "email_lower": e, "name": n, "status": "active",
                     "password_hash": password_hash, "email_verified_at": now,
                     "phone": demo_phone(len(known) + k), "created_at": now,
                     "updated_at": now}
                    for k, (e, n) in enumerate(chunk)
                ],
            )  # fmt: skip
            ids = await session.execute(
                select(User.email_lower, User.id).where(User.email_lower.in_([e for e, _ in chunk]))
            )
            known.update({str(e): int(i) for e, i in ids.all()})
            await session.execute(
                insert(UserRole), [{"user_id": known[e], "role": role.value} for e, _ in chunk]
            )
        return [known[e] for e, _ in rows]

    await add_users([(f"sre2@{DEMO_DOMAIN}", "Sol Relations")], Role.SRE)
    mentor_count = max(3, round(MENTORS * scale))
    mentors = await add_users(
        [(demo_email(Role.MENTOR), "Mo Mentor")]
        + [
            (f"mentor{i:02d}@{DEMO_DOMAIN}", person_name(10_000 + i))
            for i in range(1, mentor_count)
        ],
        Role.MENTOR,
    )
    created = mentor_count
    split = max(2, mentor_count * 2 // 3)
    pools = [mentors[:split], mentors[split:] or mentors]
    offset = 0
    for b_index, (code, size, missions) in enumerate(BATCHES):
        starts, ends = dates[b_index]
        name = f"{starts:%B %Y} intake"
        size = max(3, round(size * scale))
        batch = Batch(name=name, code=code, description=f"The {name.lower()}.", status="active",
                      starts_on=starts, ends_on=ends)  # fmt: skip
        session.add(batch)
        await session.flush()
        mission_ids = []
        for m_index, (m_code, title) in enumerate(missions):
            mission = Mission(
                batch_id=batch.id, title=title, code=m_code,
                description=f"{title} for the {name.lower()}.",
                status="active" if m_index < 2 else "draft", starts_on=starts, ends_on=ends,
            )  # fmt: skip
            session.add(mission)
            await session.flush()
            mission_ids.append(mission.id)
        people = [
            (demo_email(Role.STUDENT), "Stella Student")
            if b_index == 0 and i == 0
            else (f"student{offset + i:05d}@{DEMO_DOMAIN}", person_name(offset + i))
            for i in range(size)
        ]
        students = await add_users(people, Role.STUDENT)
        created += size
        offset += size
        rows = [
            {"mission_id": mission_ids[m], "student_id": sid, "status": "active",
             "created_at": now, "updated_at": now}
            for i, sid in enumerate(students)
            for m in (0, 1 + i % 2)  # everyone in the first mission, half in each other
        ]  # fmt: skip
        await session.execute(insert(Enrollment), rows)
        enrolled = (
            await session.execute(
                select(Enrollment.id, Enrollment.mission_id, Enrollment.student_id)
                .where(Enrollment.mission_id.in_(mission_ids))
                .order_by(Enrollment.mission_id, Enrollment.student_id)
            )
        ).all()
        pool = pools[b_index]
        others = pool[1:] if b_index == 0 else pool
        assignments: list[dict[str, object]] = []
        for k, (eid, mid, sid) in enumerate(enrolled):
            if b_index == 0 and mid == mission_ids[0] and k < MENTOR_DEMO_MENTEES:
                first = mentors[0]  # mentor@ mentors about 50 students of the first batch
            else:
                first = others[k % len(others)]
            chosen = [first]
            second = others[(k // 10 + 1) % len(others)]
            if k % 10 == 0 and second != first:
                chosen.append(second)  # some students have a second mentor
            assignments.extend(
                {"enrollment_id": eid, "mission_id": mid, "student_id": sid, "mentor_id": m,
                 "created_at": now}
                for m in chosen
            )  # fmt: skip
        await session.execute(insert(MentorAssignment), assignments)
        if b_index == 1:  # the capstone has a mentor of the whole mission
            await session.execute(
                insert(MissionMentor),
                {"mission_id": mission_ids[2], "mentor_id": pool[0], "created_at": now},
            )
    audit.record(uow, "demo.seed", summary=f"demo programme: {created} people")
    return created


async def seed_communication(uow: UnitOfWork) -> None:
    """A pinned welcome announcement, a conversation between mentor@ and student@, and an
    answered ticket from student@ to the SREs; skipped when any announcement exists."""
    from alumnet.domain.communication import announcements, messages, tickets

    if (await uow.session.execute(select(Announcement.id).limit(1))).first():
        return
    emails = [demo_email(r) for r in (Role.MANAGER, Role.MENTOR, Role.STUDENT, Role.SRE)]
    found = await uow.session.execute(
        select(User.email_lower, User.id).where(User.email_lower.in_(emails))
    )
    ids = {str(e): int(i) for e, i in found.all()}

    def viewer(role: Role) -> Viewer:
        return Viewer(user_id=ids[demo_email(role)], roles=frozenset({role}))

    await announcements.post(
        uow, viewer(Role.MANAGER), title="Welcome to alumnet",
        body="This is where notices, messages and tickets live. Set how you want to be told "
        "in your **notification preferences**.",
        priority="normal", pinned=True, expires_at=None, audience=announcements.Audience(),
    )  # fmt: skip
    mentor, student = viewer(Role.MENTOR), viewer(Role.STUDENT)
    first = await messages.send(
        uow, mentor, conversation_id=None, recipient_id=student.user_id, client_id=None,
        body="Welcome to Foundations! Shall we meet on Monday to plan your first weeks?",
    )  # fmt: skip
    await messages.send(
        uow, student, conversation_id=first.message.conversation_id, recipient_id=None,
        client_id=None, body="Yes, Monday works. Thank you!",
    )  # fmt: skip
    ticket = await tickets.open_ticket(
        uow, student, queue="sre", mentor_id=None, subject="Changing missions",
        body="Can I move from Web development to Data structures?",
    )  # fmt: skip
    await tickets.reply(
        uow, viewer(Role.SRE), ticket.id,
        "Yes: ask before the end of the month and we will move your enrolment.",
    )  # fmt: skip


async def seed_work(uow: UnitOfWork) -> None:
    """Graded work in Foundations: an essay graded by its rubric (student@'s returned for
    revision), and a quiz that was due yesterday, with work still waiting for mentor@;
    work due tomorrow, and the mission's handbook and reading links.
    Made through the domain's own functions, so that points and the ledger agree; skipped
    when the mission has assignments."""
    from alumnet.domain.engagement import assignments, grading, resources

    found = await uow.session.execute(select(Mission.id).where(Mission.code == "B2026A-FND"))
    mission_id = found.scalar_one_or_none()
    if (
        mission_id is None
        or (
            await uow.session.execute(
                select(Assignment.id).where(Assignment.mission_id == mission_id)
            )
        ).first()
    ):
        return
    emails = [demo_email(r) for r in (Role.MANAGER, Role.MENTOR, Role.STUDENT)]
    people = dict(
        (await uow.session.execute(select(User.email_lower, User.id).where(
            User.email_lower.in_(emails)))).all()
    )  # fmt: skip
    manager = Viewer(user_id=people[demo_email(Role.MANAGER)], roles=frozenset({Role.MANAGER}))
    mentor = Viewer(user_id=people[demo_email(Role.MENTOR)], roles=frozenset({Role.MENTOR}))
    mentees = (
        await uow.session.execute(
            select(MentorAssignment.student_id)
            .where(MentorAssignment.mission_id == mission_id,
                   MentorAssignment.mentor_id == mentor.user_id)
            .order_by(MentorAssignment.student_id).limit(12)
        )
    ).scalars().all()  # fmt: skip
    now = datetime.now(UTC)
    rubric = [grading.Criterion("Argument", 6, "A clear claim, defended step by step."),
              grading.Criterion("Sources", 4, "Cited, and read.")]  # fmt: skip
    essay = await assignments.create(uow, manager, mission_id, assignments.AssignmentChanges(
        title="Why version control matters", description="600 words; cite two sources.",
        opens_at=now - timedelta(days=7), due_at=now + timedelta(days=2), rubric=rubric,
    ))  # fmt: skip
    quiz = await assignments.create(uow, manager, mission_id, assignments.AssignmentChanges(
        title="Week 1 quiz", opens_at=now - timedelta(days=7), due_at=now + timedelta(hours=1),
        max_points=10,
    ))  # fmt: skip
    for i, student_id in enumerate(mentees):
        student = Viewer(user_id=student_id, roles=frozenset({Role.STUDENT}))
        handed, _ = await assignments.submit(
            uow, student, essay.id, content=f"https://essays.demo.alumnet.dev/{student_id}"
        )
        if student_id == people[demo_email(Role.STUDENT)]:
            await grading.grade(uow, mentor, handed.id, grading.Grading(
                mark=None, scores=None, feedback="Good start: add a second source.",
                return_for_revision=True, revision_due_at=now + timedelta(days=3),
            ))  # fmt: skip
        elif i % 3 != 2:
            scores = [grading.Score("Argument", 3 + i % 4), grading.Score("Sources", 1 + i % 4)]
            await grading.grade(uow, mentor, handed.id, grading.Grading(
                mark=None, scores=scores, feedback="Clear and well argued.",
            ))  # fmt: skip
        if i % 2 == 0:
            await assignments.submit(uow, student, quiz.id, content=None)
    # Due tomorrow and not handed in: the reminders tell students (the scheduler's first
    # run, when `alumnet serve` or `alumnet scheduler` starts).
    await assignments.create(uow, manager, mission_id, assignments.AssignmentChanges(
        title="Reading notes, chapter 2", opens_at=now - timedelta(hours=1),
        due_at=now + timedelta(hours=20), max_points=5,
    ))  # fmt: skip
    for title, folder, url in (
        ("Course handbook", "", "https://handbook.demo.alumnet.dev/foundations"),
        ("Git in 15 minutes", "Week 1", "https://handbook.demo.alumnet.dev/git"),
        ("Writing a good essay", "Week 2", "https://handbook.demo.alumnet.dev/essays"),
    ):
        await resources.create(uow, manager, mission_id, resources.ResourceChanges(
            title=title, folder=folder, url=url), upload=None, upload_limit=0)  # fmt: skip
    # The quiz is due now: work handed in later counts as late.
    quiz.due_at = now - timedelta(minutes=1)
    await seed_cases(uow, mission_id, manager, mentor, list(mentees))
    await seed_orientation(uow, mission_id, mentor, list(mentees))


async def seed_orientation(
    uow: UnitOfWork, foundations_id: int, mentor: Viewer, students: list[int]
) -> None:
    """A two-week orientation that is over: student@ and mentor@'s first mentees completed
    it, mentor@ mentored it as a whole, and its certificates are issued by the job (as
    completing a mission does)."""
    from alumnet.domain.engagement import certificates

    foundations = await uow.session.get(Mission, foundations_id)
    assert foundations is not None
    now = datetime.now(UTC)
    orientation = Mission(
        batch_id=foundations.batch_id, title="Orientation", code="B2026A-ORI",
        description="Two weeks to meet the programme, its tools and its people.",
        status="completed", starts_on=foundations.starts_on,
        ends_on=foundations.starts_on + timedelta(days=13), created_at=now, updated_at=now,
        completed_at=datetime.combine(foundations.starts_on + timedelta(days=14), time(),
                                      tzinfo=UTC),
    )  # fmt: skip
    uow.session.add(orientation)
    await uow.session.flush()
    await uow.session.execute(
        insert(Enrollment),
        [{"mission_id": orientation.id, "student_id": sid, "status": "completed",
          "created_at": now, "updated_at": now} for sid in students],
    )  # fmt: skip
    await uow.session.execute(
        insert(MissionMentor),
        {"mission_id": orientation.id, "mentor_id": mentor.user_id, "created_at": now},
    )
    await certificates.on_completed(uow, orientation.id)


async def seed_cases(
    uow: UnitOfWork, mission_id: int, manager: Viewer, mentor: Viewer, mentees: list[int]
) -> None:
    """Points given by hand, and an integrity case whose appeal waits in the managers'
    queue (a flag raised by mentor@, a warning, the student's appeal)."""
    from alumnet.domain.engagement import rewards
    from alumnet.domain.integrity import decisions

    enrolments = dict(
        (await uow.session.execute(
            select(Enrollment.student_id, Enrollment.id).where(
                Enrollment.mission_id == mission_id, Enrollment.student_id.in_(mentees))
        )).all()
    )  # fmt: skip
    first, other = mentees[0], mentees[-1]
    await rewards.award(uow, mentor, enrolments[first], points_given=3,
                        category="participation", reason="Ran the first stand-up.")  # fmt: skip
    flag = await decisions.raise_flag(
        uow, mentor, enrolments[other], kind="plagiarism",
        evidence="Two paragraphs of the essay match a blog post word for word.",
    )  # fmt: skip
    warning = await decisions.decide(uow, manager, enrolments[other], decisions.DecisionInput(
        kind="warn", reason="Cite what you quote.", flag_id=flag.id,
    ))  # fmt: skip
    student = Viewer(user_id=other, roles=frozenset({Role.STUDENT}))
    await decisions.submit_appeal(
        uow, student, warning.id, statement="I quoted the post and linked it at the end."
    )
