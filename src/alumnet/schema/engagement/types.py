"""Engagement types, and the engagement fields of missions, batches, enrolments and users.

Visibility follows cohorts: whoever may see an enrolment sees its attendance,
submissions, points and progress; whoever may see a mission sees its assignments and
meetings; mission and batch rates are for staff and the mission's mentors."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.cohorts import access
from alumnet.domain.data import files
from alumnet.domain.engagement import attendance, resources
from alumnet.domain.engagement.rules import Rules
from alumnet.persistence.loaders import engagement as loaders
from alumnet.persistence.loaders.cohorts import ENROLLMENT_COLUMNS
from alumnet.persistence.models import AttendanceDay as AttendanceModel
from alumnet.persistence.models import Enrollment as EnrollmentModel
from alumnet.persistence.models import Meeting as MeetingModel
from alumnet.persistence.models import MeetingAttendance as MeetingAttendanceModel
from alumnet.persistence.models import PointEntry as PointEntryModel
from alumnet.persistence.models import Resource as ResourceModel
from alumnet.persistence.models import Submission as SubmissionModel
from alumnet.persistence.models import User as UserModel
from alumnet.schema.context import Info
from alumnet.schema.errors import bad_input
from alumnet.schema.nodes import enrollment_object, load_visible, readable_rows, visible_user
from alumnet.schema.pagination import (
    MAX_PAGE,
    ORDER_DIRECTION_DESCRIPTION,
    CountedConnection,
    KeysetQuery,
    SortDirection,
    SortKey,
    descending,
    reads_loader,
)

if TYPE_CHECKING:
    from alumnet.schema.cohorts.types import Enrollment, EnrollmentConnection
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
COHORTS = "alumnet.schema.cohorts.types"
IDENTITY = "alumnet.schema.identity.types"
RATE_DAYS_MAX = 400
FromDay = Annotated[
    date | None, strawberry.argument(name="from", description="Default: the first day.")
]
ToDay = Annotated[
    date | None, strawberry.argument(description="Default: today, or the last day if earlier.")
]


@strawberry.enum(description="What a student submits each day.")
class AttendanceKind(Enum):
    NONE = ev("none", description="Nothing: the mission takes no attendance in this status.")
    CHECK_IN = ev("check_in", description="A check-in: present today.")
    REPORT = ev("report", description="A check-in with a short report of the day's work.")


@strawberry.enum(description="Whether the student counts as present that day.")
class AttendanceStatus(Enum):
    PRESENT = ev("present", description="Present (points awarded).")
    ABSENT = ev("absent", description="Marked absent by a correction (points taken back).")


@strawberry.enum(description="Where a submission stands.")
class SubmissionStatus(Enum):
    SUBMITTED = ev("submitted", description="Handed in (again), waiting to be graded.")
    GRADED = ev("graded", description="Graded: see `mark` and `feedback`.")
    RETURNED = ev(
        "returned", description="Returned for revision: hand it in again by `revisionDueAt`."
    )


@strawberry.type(description="One criterion of an assignment's rubric.")
class RubricCriterion:
    name: str = strawberry.field(description="What is judged.")
    description: str = strawberry.field(description="What earns the points (may be empty).")
    points: int = strawberry.field(description="The most it is worth.")


@strawberry.type(description="The points given for one criterion of the rubric.")
class RubricScore:
    criterion: str = strawberry.field(description="The criterion's name.")
    points: int = strawberry.field(description="Points given, 0 to the criterion's worth.")


def _scores(stored: Any) -> list[RubricScore] | None:
    if not stored:
        return None
    return [RubricScore(criterion=s["criterion"], points=s["points"]) for s in stored]


@strawberry.type(
    description="A stored file of a mission: work handed in, or one of its resources; a PDF, "
    "DOCX, ZIP or an image."
)
class AttachedFile:
    name: str = strawberry.field(description="Its name, as uploaded.")
    content_type: str = strawberry.field(description="Its type, read from its content.")
    size: int = strawberry.field(description="Bytes.")
    _id: strawberry.Private[int]

    @strawberry.field(description="A link to download it, for you, valid for 15 minutes.")
    def download_url(self, info: Info) -> str:
        viewer = info.context.viewer.user_id or 0
        return files.download_url(info.context.runtime.settings, viewer, self._id, shared=True)


async def attached_file(info: Info, file_id: int | None) -> AttachedFile | None:
    if file_id is None:
        return None
    row = await reads_loader(info, ("engagement", "files"), loaders.files_by_id).load(file_id)
    if row is None:
        return None
    return AttachedFile(name=row.name, content_type=row.content_type, size=row.size, _id=row.id)


@strawberry.type(
    description="A mission's document or link, with a title and a folder: for its active "
    "students, its mentors and staff."
)
class Resource(relay.Node):
    id: relay.NodeID[int]
    title: str = strawberry.field(description="What it is.")
    folder: str = strawberry.field(description="The folder it is kept in; empty for none.")
    url: str | None = strawberry.field(description="The link (https), for a link.")
    created_at: datetime = strawberry.field(description="When it was added (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")
    _mission_id: strawberry.Private[int]
    _file_id: strawberry.Private[int | None]
    _created_by_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, title=row.title, folder=row.folder, url=row.url,
            created_at=row.created_at, updated_at=row.updated_at, _mission_id=row.mission_id,
            _file_id=row.file_id, _created_by_id=row.created_by_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = [int(i) for i in node_ids]
        rows = await readable_rows(
            info, ResourceModel.__table__, list(ids), resources.readable(info.context.viewer)
        )
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]

    @strawberry.field(description="The file, for a document.")
    async def file(self, info: Info) -> AttachedFile | None:
        return await attached_file(info, self._file_id)

    @strawberry.field(description="Who added it, if you may see them.")
    async def created_by(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._created_by_id)  # type: ignore[no-any-return]


async def mission_resources(info: Info, mission_id: int, folder: str | None) -> list[Resource]:
    loader = reads_loader(
        info,
        ("engagement", "mission.resources"),
        functools.partial(loaders.resources_by_mission_id,
                          condition=resources.readable(info.context.viewer)),
    )  # fmt: skip
    rows = await loader.load(mission_id)
    return [Resource.from_row(r) for r in rows if folder is None or r.folder == folder]


@strawberry.type(
    description="A certificate of completion: the student met the mission's completion rule "
    "when it was completed. Seen by whoever may see the enrolment."
)
class Certificate(relay.Node):
    id: relay.NodeID[int]
    code: str = strawberry.field(
        description="The verification code, as printed (`certificateVerify(code:)`)."
    )
    student_name: str = strawberry.field(description="The name printed on it.")
    mission_title: str = strawberry.field(description="The mission printed on it.")
    completed_on: date = strawberry.field(description="The date printed on it.")
    points: int = strawberry.field(description="The student's points when it was issued.")
    attendance_percent: int = strawberry.field(
        description="Share of the mission's days the student attended, when it was issued."
    )
    issued_at: datetime = strawberry.field(description="When it was issued (UTC).")
    revoked_at: datetime | None = strawberry.field(
        description="When it was revoked, if it was: it no longer verifies."
    )
    revoked_reason: str | None = strawberry.field(description="Why it was revoked.")
    _enrollment_id: strawberry.Private[int]
    _file_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        from alumnet.domain.engagement.certificates import shown

        return cls(
            id=row.id, code=shown(row.code), student_name=row.student_name,
            mission_title=row.mission_title, completed_on=row.completed_on, points=row.points,
            attendance_percent=row.attendance_percent, issued_at=row.issued_at,
            revoked_at=row.revoked_at, revoked_reason=row.revoked_reason,
            _enrollment_id=row.enrollment_id, _file_id=row.file_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        scope = await info.context.cohort_scope()
        return await load_visible(
            reads_loader(info, ("engagement", "certificate"), loaders.certificates_by_id),
            node_ids, lambda viewer, row: scope.sees_enrollment(row.enrollment_id),
            info.context.viewer, cls.from_row,
        )  # fmt: skip

    @strawberry.field(description="The PDF.")
    async def file(self, info: Info) -> AttachedFile | None:
        return await attached_file(info, self._file_id)


async def enrollment_certificate(info: Info, enrollment_id: int) -> Certificate | None:
    """The certificate of an enrolment the viewer may already see."""
    row = await reads_loader(
        info, ("engagement", "enrollment.certificate"), loaders.certificates_by_enrollment_id
    ).load(enrollment_id)
    return Certificate.from_row(row) if row is not None else None


@strawberry.type(description="What a verification code certifies: nothing more.")
class CertificateVerification:
    name: str = strawberry.field(description="Who completed the mission.")
    mission: str = strawberry.field(description="The mission.")
    completed_on: date = strawberry.field(description="When.")


@strawberry.type
class EngagementQuery:
    @strawberry.field(
        description="Check a certificate of completion by its code (anyone, signed in or "
        "not): its name, mission and date, or null for a code that is unknown or revoked."
    )
    async def certificate_verify(
        self,
        info: Info,
        code: Annotated[str, strawberry.argument(description="As printed (any case).")],
    ) -> CertificateVerification | None:
        from alumnet.domain.engagement import certificates

        if len(code) > 64:
            return None
        found = await certificates.verify(info.context.reads, code)
        if found is None:
            return None
        return CertificateVerification(
            name=found.name, mission=found.mission, completed_on=found.completed_on
        )


@strawberry.type(description="An earlier version of a submission, with the grade it had.")
class SubmissionVersion:
    version: int = strawberry.field(description="1 for the first one handed in.")
    submitted_at: datetime = strawberry.field(description="When it was handed in (UTC).")
    late: bool = strawberry.field(description="Handed in after its deadline.")
    content: str | None = strawberry.field(description="The text or link handed in.")
    mark: int | None = strawberry.field(description="Its mark, if it was graded.")
    rubric_scores: list[RubricScore] | None = strawberry.field(
        description="Its scores per criterion, if it was graded by the rubric."
    )
    feedback: str | None = strawberry.field(description="The feedback it got.")
    graded_at: datetime | None = strawberry.field(description="When it was graded (UTC).")
    returned: bool = strawberry.field(description="Whether it was returned for revision.")
    _file_id: strawberry.Private[int | None]

    @strawberry.field(description="The file handed in with it, if any.")
    async def file(self, info: Info) -> AttachedFile | None:
        return await attached_file(info, self._file_id)


@strawberry.enum(description="What happens to work handed in after the due time.")
class LatePolicy(Enum):
    ACCEPT_LATE = ev(
        "accept_late", description="Accepted as late (until the late cut-off, if any)."
    )
    NO_LATE = ev("no_late", description="Not accepted after the due time.")


@strawberry.enum(description="Why points were added or taken away.")
class PointReason(Enum):
    ATTENDANCE = ev("attendance", description="A day's attendance.")
    MEETING = ev("meeting", description="Attending a meeting.")
    SUBMISSION_ON_TIME = ev("submission_on_time", description="A submission on time.")
    SUBMISSION_LATE = ev("submission_late", description="A late submission.")
    CORRECTION = ev("correction", description="A mentor's or staff correction.")
    RECALCULATION = ev("recalculation", description="Rules or data changed; recalculated.")
    PENALTY = ev("penalty", description="An integrity decision.")
    GRADE = ev("grade", description="Work graded: its mark replaced the points it earned.")
    RESUBMISSION = ev(
        "resubmission", description="Work handed in again: on time or late by its new deadline."
    )
    AWARD = ev("award", description="Points awarded by hand, in a category, with a reason.")
    DEDUCTION = ev(
        "deduction", description="Points deducted by hand, in a category, with a reason."
    )


@strawberry.type(description="A mission's engagement settings and point rules.")
class EngagementRules:
    time_zone: str = strawberry.field(description="IANA time zone that defines 'today'.")
    attendance_when_draft: AttendanceKind = strawberry.field(description="Asked while draft.")
    attendance_when_active: AttendanceKind = strawberry.field(description="Asked while active.")
    attendance_when_completed: AttendanceKind = strawberry.field(
        description="Asked once completed."
    )
    grace_minutes: int = strawberry.field(
        description="Minutes after local midnight during which yesterday's attendance is "
        "still accepted."
    )
    attendance_points: int = strawberry.field(description="Points for a day's attendance.")
    meeting_points: int = strawberry.field(description="Points for attending a meeting.")
    on_time_submission_percent: int = strawberry.field(
        description="Percent of an assignment's maximum points for an on-time submission."
    )
    late_submission_percent: int = strawberry.field(
        description="Percent of an assignment's maximum points for a late submission."
    )
    reward_categories: list[str] = strawberry.field(
        description="What staff and mentors award or deduct points for by hand (`pointsAward`)."
    )
    completion_min_points: int = strawberry.field(
        description="The completion rule: points a student needs for a certificate."
    )
    completion_min_attendance_percent: int = strawberry.field(
        description="The completion rule: share of the mission's days attended (0 to 100)."
    )

    @classmethod
    def of(cls, rules: Rules) -> Self:
        return cls(
            time_zone=rules.time_zone,
            attendance_when_draft=AttendanceKind(rules.attendance_when_draft),
            attendance_when_active=AttendanceKind(rules.attendance_when_active),
            attendance_when_completed=AttendanceKind(rules.attendance_when_completed),
            grace_minutes=rules.grace_minutes,
            attendance_points=rules.attendance_points,
            meeting_points=rules.meeting_points,
            on_time_submission_percent=rules.on_time_percent,
            late_submission_percent=rules.late_percent,
            reward_categories=list(rules.reward_categories),
            completion_min_points=rules.completion_min_points,
            completion_min_attendance_percent=rules.completion_min_attendance_percent,
        )


async def rules_for(info: Info, mission_id: int) -> Rules:
    return Rules.from_row(
        await reads_loader(info, ("engagement", "rules"), loaders.rules_by_mission_id).load(
            mission_id
        )
    )


@strawberry.type(description="A student's attendance of one day of a mission.")
class AttendanceRecord(relay.Node):
    id: relay.NodeID[int]
    day: date = strawberry.field(description="The mission's local date.")
    kind: AttendanceKind = strawberry.field(description="What was submitted.")
    report: str | None = strawberry.field(description="The day's report, if one was asked for.")
    status: AttendanceStatus = strawberry.field(
        description="Present, or absent after a correction."
    )
    recorded_at: datetime = strawberry.field(description="When it was first recorded (UTC).")
    _enrollment_id: strawberry.Private[int]
    _student_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, day=row.day, kind=AttendanceKind(row.kind), report=row.report,
            status=AttendanceStatus(row.status), recorded_at=row.created_at,
            _enrollment_id=row.enrollment_id, _student_id=row.student_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        scope = await info.context.cohort_scope()
        return await load_visible(
            reads_loader(info, ("engagement", "attendance"), loaders.attendance_by_id), node_ids,
            lambda viewer, row: scope.sees_enrollment(row.enrollment_id),
            info.context.viewer, cls.from_row,
        )  # fmt: skip

    @strawberry.field(description="The enrolment (student in mission) it belongs to.")
    async def enrollment(self, info: Info) -> Annotated[Enrollment, strawberry.lazy(COHORTS)]:
        return await enrollment_object(info, self._enrollment_id)  # type: ignore[no-any-return]


@strawberry.type(description="Attendance records, a page at a time.")
class AttendanceConnection(CountedConnection[AttendanceRecord]):
    pass


@strawberry.input(description="Narrows attendance records; every condition given must hold.")
class AttendanceFilter:
    day: date | None = strawberry.field(default=None, description="Only this day.")
    from_: date | None = strawberry.field(
        default=None, name="from", description="Only from this day on."
    )
    to: date | None = strawberry.field(default=None, description="Only up to this day.")
    student_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only this student."
    )


def attendance_query(
    info: Info, *, partition: tuple[Any, int], filter: AttendanceFilter | None
) -> KeysetQuery[AttendanceRecord]:
    """Attendance of one parent (an enrolment or a mission); the pages of every parent in a
    response are fetched together."""
    from alumnet.schema.nodes import global_pk

    query = select(*loaders.ATTENDANCE_COLUMNS)
    visible = access.visible_enrollments(info.context.viewer)
    if visible is not None:
        query = query.where(
            AttendanceModel.enrollment_id.in_(select(EnrollmentModel.id).where(visible))
        )
    if filter is not None:
        student = None if filter.student_id is None else global_pk(filter.student_id, "User") or -1
        query = query.where(
            *attendance.attendance_conditions(filter.day, filter.from_, filter.to, student)
        )
    given = None
    if filter is not None:
        given = (filter.day, filter.from_, filter.to, str(filter.student_id))
    return KeysetQuery(
        query,
        [SortKey(AttendanceModel.day, True), SortKey(AttendanceModel.id, True)],
        AttendanceRecord.from_row,
        info.context.reads,
        partition=partition,
        batch_key=("attendance", partition[0].key, given, info.context.viewer.user_id),
    )


@strawberry.enum(description="What a meeting's attendees can be sorted by.")
class MeetingAttendeeOrderField(Enum):
    RECORDED_AT = ev(
        "recorded_at", description="When their attendance was recorded (natural: earliest first)."
    )
    STUDENT_NAME = ev("student_name", description="The student's name (natural: A first).")


@strawberry.input(description="How to sort a meeting's attendees; ties are broken by the order "
                  "they were recorded.")  # fmt: skip
class MeetingAttendeeOrder:
    field: MeetingAttendeeOrderField = strawberry.field(
        default=MeetingAttendeeOrderField.RECORDED_AT, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


@strawberry.type(description="A meeting of a mission, held by a mentor.")
class Meeting(relay.Node):
    id: relay.NodeID[int]
    held_on: date = strawberry.field(description="The mission's local date of the meeting.")
    topic: str = strawberry.field(description="What it is about.")
    _mission_id: strawberry.Private[int]
    _mentor_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, held_on=row.held_on, topic=row.topic,
            _mission_id=row.mission_id, _mentor_id=row.mentor_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        scope = await info.context.cohort_scope()
        return await load_visible(
            reads_loader(info, ("engagement", "meeting"), loaders.meetings_by_id), node_ids,
            lambda viewer, row: scope.sees_mission(row.mission_id),
            info.context.viewer, cls.from_row,
        )  # fmt: skip

    @strawberry.field(description="The mentor holding it, if one was named.")
    async def mentor(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._mentor_id)  # type: ignore[no-any-return]

    @relay.connection(
        Annotated["EnrollmentConnection", strawberry.lazy(COHORTS)],
        description="The enrolments of the students who attended (those you may see), in "
        "the order they were recorded unless `orderBy` says otherwise.",
        max_results=MAX_PAGE,
    )
    def attendees(
        self,
        info: Info,
        order_by: Annotated[
            MeetingAttendeeOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[Any]:
        return meeting_attendees(info, self.id, order_by)


@strawberry.type(description="Meetings, a page at a time.")
class MeetingConnection(CountedConnection[Meeting]):
    pass


@strawberry.enum(description="What a mission's meetings can be sorted by.")
class MeetingOrderField(Enum):
    HELD_ON = ev("held_on", description="The day it is held (natural: earliest first).")
    TOPIC = ev("topic", description="Its topic (natural: A first).")


@strawberry.input(description="How to sort meetings; ties are broken by meeting.")
class MeetingOrder:
    field: MeetingOrderField = strawberry.field(
        default=MeetingOrderField.HELD_ON, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


def mission_meetings(
    info: Info, mission_id: int, order_by: MeetingOrder | None
) -> KeysetQuery[Meeting]:
    """A mission's meetings (whoever sees the mission sees them): the pages of every
    mission in the response together."""
    order = order_by or MeetingOrder()
    down = descending(order.direction, SortDirection.ASC)
    column = MeetingModel.topic if order.field == MeetingOrderField.TOPIC else MeetingModel.held_on
    return KeysetQuery(
        select(*loaders.MEETING_COLUMNS),
        [SortKey(column, down), SortKey(MeetingModel.id, down)],
        Meeting.from_row,
        info.context.reads,
        partition=(MeetingModel.mission_id, mission_id),
        batch_key=("Mission.meetings", order.field, down),
    )


def meeting_attendees(
    info: Info, meeting_id: int, order_by: MeetingAttendeeOrder | None
) -> KeysetQuery[Any]:
    """The enrolments that attended a meeting, with their students, those the viewer may
    see: the pages of every meeting in the response together."""
    from alumnet.schema.cohorts.types import STUDENT_COLUMNS, Enrollment

    query = (
        select(
            *ENROLLMENT_COLUMNS, *STUDENT_COLUMNS, MeetingAttendanceModel.meeting_id,
            MeetingAttendanceModel.id.label("attendance_id"),
        )
        .join(EnrollmentModel, EnrollmentModel.id == MeetingAttendanceModel.enrollment_id)
        .join(UserModel, UserModel.id == EnrollmentModel.student_id)
    )  # fmt: skip
    visible = access.visible_enrollments(info.context.viewer)
    if visible is not None:
        query = query.where(visible)
    order = order_by or MeetingAttendeeOrder()
    down = descending(order.direction, SortDirection.ASC)
    sort = []
    if order.field == MeetingAttendeeOrderField.STUDENT_NAME:
        sort.append(SortKey(UserModel.name, down, attr="student_name"))
    # Attendance is recorded in the order of its ids.
    sort.append(SortKey(MeetingAttendanceModel.id, down, attr="attendance_id"))
    return KeysetQuery(
        query, sort, Enrollment.from_row, info.context.reads,
        partition=(MeetingAttendanceModel.meeting_id, meeting_id),
        batch_key=("Meeting.attendees", order.field, down, info.context.viewer.user_id),
    )  # fmt: skip


@strawberry.type(description="Work students hand in, with opening and due times.")
class Assignment(relay.Node):
    id: relay.NodeID[int]
    title: str = strawberry.field(description="What it is called.")
    description: str = strawberry.field(description="What to do (plain text).")
    opens_at: datetime = strawberry.field(description="From when it may be submitted (UTC).")
    due_at: datetime = strawberry.field(description="When it is due (UTC).")
    max_points: int = strawberry.field(description="Points for an on-time submission at 100%.")
    late_policy: LatePolicy = strawberry.field(description="Whether late work is accepted.")
    late_cutoff_at: datetime | None = strawberry.field(
        description="The last moment late work is accepted (UTC); null: no cut-off."
    )
    rubric: list[RubricCriterion] | None = strawberry.field(
        description="The criteria work is graded by, their points adding up to `maxPoints`; "
        "null: graded with a mark alone."
    )
    _mission_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, title=row.title, description=row.description, opens_at=row.opens_at,
            due_at=row.due_at, max_points=row.max_points,
            late_policy=LatePolicy(row.late_policy), late_cutoff_at=row.late_cutoff_at,
            rubric=[RubricCriterion(name=c["name"], description=c.get("description", ""),
                                    points=c["points"]) for c in row.rubric]
            if row.rubric else None,
            _mission_id=row.mission_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        scope = await info.context.cohort_scope()
        return await load_visible(
            reads_loader(info, ("engagement", "assignment"), loaders.assignments_by_id), node_ids,
            lambda viewer, row: scope.sees_mission(row.mission_id),
            info.context.viewer, cls.from_row,
        )  # fmt: skip

    @strawberry.field(
        description="How its work was graded (staff, and the mission's mentors over their "
        "mentees); null for others."
    )
    async def grade_stats(self, info: Info) -> GradeStats | None:
        return await assignment_grade_stats(info, self)

    @relay.connection(
        Annotated["SubmissionConnection", strawberry.lazy("alumnet.schema.engagement.types")],
        description="Its submissions (those you may see), latest first.",
        max_results=MAX_PAGE,
    )
    def submissions(self, info: Info) -> Iterable[Submission]:
        query = select(*loaders.SUBMISSION_COLUMNS)
        visible = access.visible_enrollments(info.context.viewer)
        if visible is not None:
            query = query.where(
                SubmissionModel.enrollment_id.in_(select(EnrollmentModel.id).where(visible))
            )
        return KeysetQuery(
            query,
            [SortKey(SubmissionModel.submitted_at, True), SortKey(SubmissionModel.id, True)],
            Submission.from_row,
            info.context.reads,
            partition=(SubmissionModel.assignment_id, self.id),
            batch_key=("Assignment.submissions", info.context.viewer.user_id),
        )


@strawberry.type(
    description="A student's submission of an assignment: seen by the student, their "
    "mentors in the mission, and staff."
)
class Submission(relay.Node):
    id: relay.NodeID[int]
    submitted_at: datetime = strawberry.field(
        description="When its current version was handed in (UTC)."
    )
    late: bool = strawberry.field(
        description="Handed in after the due time (a revision: after its new deadline)."
    )
    recorded_in_bulk: bool = strawberry.field(
        description="Recorded by staff from a pasted list, not by the student."
    )
    content: str | None = strawberry.field(description="The text or link handed in.")
    status: SubmissionStatus = strawberry.field(description="Waiting, graded or returned.")
    mark: int | None = strawberry.field(
        description="The latest mark, 0 to the assignment's `maxPoints` (kept while a "
        "revision waits to be graded); null until graded. The points it earns are this, in "
        "the mission's percent for on-time or late work."
    )
    rubric_scores: list[RubricScore] | None = strawberry.field(
        description="The latest mark's scores per criterion, with a rubric."
    )
    feedback: str | None = strawberry.field(description="The grader's written feedback.")
    graded_at: datetime | None = strawberry.field(description="When it was last graded (UTC).")
    revision_due_at: datetime | None = strawberry.field(
        description="When a returned submission is due again (UTC)."
    )
    version: int = strawberry.field(description="1, then one more for each revision.")
    _assignment_id: strawberry.Private[int]
    _enrollment_id: strawberry.Private[int]
    _file_id: strawberry.Private[int | None]
    _graded_by_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, submitted_at=row.submitted_at, late=row.late,
            recorded_in_bulk=row.source == "bulk", content=row.content,
            status=SubmissionStatus(row.status), mark=row.mark,
            rubric_scores=_scores(row.rubric_scores), feedback=row.feedback,
            graded_at=row.graded_at, revision_due_at=row.revision_due_at, version=row.version,
            _assignment_id=row.assignment_id, _enrollment_id=row.enrollment_id,
            _file_id=row.file_id, _graded_by_id=row.graded_by_id,
        )  # fmt: skip

    @strawberry.field(description="The file handed in, if any.")
    async def file(self, info: Info) -> AttachedFile | None:
        return await attached_file(info, self._file_id)

    @strawberry.field(description="Who graded it last (null if you may not see them).")
    async def graded_by(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._graded_by_id)  # type: ignore[no-any-return]

    @strawberry.field(description="Its earlier versions with their grades, oldest first.")
    async def history(self, info: Info) -> list[SubmissionVersion]:
        rows = await reads_loader(
            info, ("engagement", "versions"), loaders.versions_by_submission_id
        ).load(self.id)
        return [
            SubmissionVersion(
                version=r.version, submitted_at=r.submitted_at, late=r.late, content=r.content,
                mark=r.mark, rubric_scores=_scores(r.rubric_scores), feedback=r.feedback,
                graded_at=r.graded_at, returned=r.returned, _file_id=r.file_id,
            )
            for r in rows
        ]  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        scope = await info.context.cohort_scope()
        return await load_visible(
            reads_loader(info, ("engagement", "submission"), loaders.submissions_by_id), node_ids,
            lambda viewer, row: scope.sees_enrollment(row.enrollment_id),
            info.context.viewer, cls.from_row,
        )  # fmt: skip

    @strawberry.field(description="The assignment.")
    async def assignment(self, info: Info) -> Assignment:
        row = await reads_loader(
            info, ("engagement", "assignment"), loaders.assignments_by_id
        ).load(self._assignment_id)
        return Assignment.from_row(row)

    @strawberry.field(description="The enrolment (student in mission).")
    async def enrollment(self, info: Info) -> Annotated[Enrollment, strawberry.lazy(COHORTS)]:
        return await enrollment_object(info, self._enrollment_id)  # type: ignore[no-any-return]


@strawberry.type(description="Submissions, a page at a time.")
class SubmissionConnection(CountedConnection[Submission]):
    pass


@strawberry.type(description="One change of a student's points, with its reason.")
class PointEntry:
    points: int = strawberry.field(description="Added (positive) or taken away (negative).")
    reason: PointReason = strawberry.field(description="Why.")
    note: str | None = strawberry.field(description="A person's or the system's explanation.")
    category: str | None = strawberry.field(
        description="For points awarded or deducted by hand: the mission's category."
    )
    created_at: datetime = strawberry.field(description="When (UTC).")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            points=row.points, reason=PointReason(row.reason), note=row.note,
            category=row.category, created_at=row.created_at,
        )  # fmt: skip


@strawberry.type(description="Ledger entries, a page at a time.")
class PointEntryConnection(CountedConnection[PointEntry]):  # type: ignore[type-var]
    pass


@strawberry.enum(description="What a points ledger can be sorted by.")
class PointEntryOrderField(Enum):
    CREATED_AT = ev("created_at", description="When it was recorded (natural: latest first).")
    POINTS = ev("points", description="Points added or taken (natural: most added first).")


@strawberry.input(description="How to sort ledger entries; ties are broken by entry.")
class PointEntryOrder:
    field: PointEntryOrderField = strawberry.field(
        default=PointEntryOrderField.CREATED_AT, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


@strawberry.type(description="A student's standing in a mission, computed in SQL.")
class StudentProgress:
    days_elapsed: int = strawberry.field(
        description="Days of the mission so far (its local dates), today included."
    )
    days_present: int = strawberry.field(description="Days with attendance.")
    attendance_rate: float | None = strawberry.field(
        description="Days present ÷ days elapsed (0 to 1); null before the mission starts."
    )
    submissions_on_time: int = strawberry.field(description="Submissions handed in on time.")
    submissions_late: int = strawberry.field(description="Submissions handed in late.")
    submissions_missing: int = strawberry.field(
        description="Assignments already due that the student has not handed in."
    )
    points: int = strawberry.field(description="Total points (the ledger's sum).")
    rank: int | None = strawberry.field(
        description="Rank by points among the mission's active students (ties share a "
        "rank); null when the enrolment is not active."
    )


def days_elapsed(starts_on: date, ends_on: date, today: date) -> int:
    if today < starts_on:
        return 0
    return (min(today, ends_on) - starts_on).days + 1


async def enrollment_progress(info: Info, enrollment_id: int) -> StudentProgress | None:
    row = await reads_loader(
        info, ("engagement", "progress"), loaders.progress_by_enrollment_id
    ).load(enrollment_id)
    if row is None:
        return None
    rules = Rules(time_zone=row.time_zone or "UTC")
    elapsed = days_elapsed(row.starts_on, row.ends_on, rules.today())
    return StudentProgress(
        days_elapsed=elapsed,
        days_present=int(row.days_present),
        attendance_rate=round(min(1.0, row.days_present / elapsed), 4) if elapsed else None,
        submissions_on_time=int(row.on_time),
        submissions_late=int(row.late),
        submissions_missing=max(0, int(row.missing)),
        points=int(row.points),
        rank=int(row.rank) if row.rank is not None else None,
    )


def enrollment_point_entries(
    info: Info, enrollment_id: int, order_by: PointEntryOrder | None
) -> KeysetQuery[Any]:
    """An enrolment's ledger: the pages of every enrolment in the response together."""
    query = select(
        PointEntryModel.id, PointEntryModel.enrollment_id, PointEntryModel.points,
        PointEntryModel.reason, PointEntryModel.note, PointEntryModel.category,
        PointEntryModel.created_at,
    )  # fmt: skip
    order = order_by or PointEntryOrder()
    down = descending(order.direction, SortDirection.DESC)
    # The ledger's order is its ids' (entries recorded in one transaction share a time).
    column = PointEntryModel.points if order.field == PointEntryOrderField.POINTS else None
    sort = [SortKey(column, down)] if column is not None else []
    sort.append(SortKey(PointEntryModel.id, down))
    return KeysetQuery(  # type: ignore[type-var]
        query, sort, PointEntry.from_row, info.context.reads,
        partition=(PointEntryModel.enrollment_id, enrollment_id),
        batch_key=("Enrollment.pointEntries", order.field, down),
    )  # fmt: skip


@strawberry.type(description="A place on a mission's leaderboard.")
class LeaderboardEntry:
    rank: int = strawberry.field(description="1 for the most points; ties share a rank.")
    points: int = strawberry.field(description="Total points.")
    _enrollment_id: strawberry.Private[int]

    @strawberry.field(description="The enrolment (student in mission).")
    async def enrollment(self, info: Info) -> Annotated[Enrollment, strawberry.lazy(COHORTS)]:
        return await enrollment_object(info, self._enrollment_id)  # type: ignore[no-any-return]


async def mission_leaderboard(info: Info, mission_id: int, first: int) -> list[LeaderboardEntry]:
    if not 0 <= first <= MAX_PAGE:
        raise bad_input(f"`first` must be between 0 and {MAX_PAGE}.")
    visible = access.visible_enrollments(info.context.viewer)
    rows = await loaders.leaderboard(info.context.reads, mission_id, visible, first)
    return [
        LeaderboardEntry(rank=int(r.rank), points=int(r.points), _enrollment_id=r.id) for r in rows
    ]


@strawberry.type(description="Attendance on one day.")
class DayRate:
    day: date = strawberry.field(description="The local date.")
    present: int = strawberry.field(description="Students present.")
    enrolled: int = strawberry.field(description="Students actively enrolled (today).")
    rate: float | None = strawberry.field(description="present ÷ enrolled; null if nobody.")


@strawberry.type(description="Attendance over one week (Monday to Sunday).")
class WeekRate:
    week_start: date = strawberry.field(description="The Monday.")
    days: int = strawberry.field(description="Days of the week inside the range asked for.")
    present: int = strawberry.field(description="Attendances that week.")
    possible: int = strawberry.field(description="enrolled × days.")
    rate: float | None = strawberry.field(description="present ÷ possible; null if nothing.")


async def may_see_rates(info: Info, mission_ids: Sequence[int]) -> bool:
    """Staff, or a mentor of one of these missions (from the request's cohort scope)."""
    scope = await info.context.cohort_scope()
    if scope.everything:
        return True
    mentored = {mission for mission, _ in scope.mentees} | scope.whole_missions
    return any(m in mentored for m in mission_ids)


def _range(
    first: date | None, last: date | None, starts_on: date, ends_on: date
) -> tuple[date, date]:
    first = first or starts_on
    last = last or min(ends_on, datetime.now(UTC).date())
    if last < first:
        raise bad_input("`to` is before `from`.")
    if (last - first).days >= RATE_DAYS_MAX:
        raise bad_input(f"Ask for at most {RATE_DAYS_MAX} days at once.")
    return first, last


async def day_rates(
    info: Info, mission_ids: Sequence[int], first: date, last: date
) -> list[DayRate]:
    """Summed over the missions; each mission's counts come through dataloaders, so a
    list of missions asking for the same range costs two statements in all."""
    counts = await reads_loader(info, ("engagement", "day_counts"), loaders.day_counts).load_many(
        [(m, first, last) for m in mission_ids]
    )
    enrolled = sum(
        await reads_loader(info, ("engagement", "active_counts"), loaders.active_counts).load_many(
            list(mission_ids)
        )
    )
    out = []
    day = first
    while day <= last:
        n = sum(c.get(day, 0) for c in counts)
        rate = round(n / enrolled, 4) if enrolled else None
        out.append(DayRate(day=day, present=n, enrolled=enrolled, rate=rate))
        day += timedelta(days=1)
    return out


def week_rates(days: list[DayRate]) -> list[WeekRate]:
    weeks: dict[date, WeekRate] = {}
    for d in days:
        start = d.day - timedelta(days=d.day.weekday())
        week = weeks.setdefault(
            start, WeekRate(week_start=start, days=0, present=0, possible=0, rate=None)
        )
        week.days += 1
        week.present += d.present
        week.possible += d.enrolled
    for week in weeks.values():
        week.rate = round(week.present / week.possible, 4) if week.possible else None
    return list(weeks.values())


async def rates(
    info: Info,
    mission_ids: Sequence[int],
    first: date | None,
    last: date | None,
    starts_on: date,
    ends_on: date,
) -> list[DayRate] | None:
    if not mission_ids or not await may_see_rates(info, mission_ids):
        return None
    scope = await info.context.cohort_scope()
    if not scope.everything:
        # A mentor's figures cover only the missions they mentor in.
        mentored = {mission for mission, _ in scope.mentees} | scope.whole_missions
        mission_ids = [m for m in mission_ids if m in mentored]
    if first is None and last is None and min(ends_on, datetime.now(UTC).date()) < starts_on:
        return []  # not started yet: no days so far
    lo, hi = _range(first, last, starts_on, ends_on)
    return await day_rates(info, mission_ids, lo, hi)


async def enrollment_submissions(info: Info, enrollment_id: int) -> list[Submission]:
    rows = await reads_loader(
        info, ("engagement", "submissions"), loaders.submissions_by_enrollment_id
    ).load(enrollment_id)
    return [Submission.from_row(r) for r in rows]


async def student_points(info: Info, student_id: int, mission_id: int) -> int | None:
    row = await reads_loader(
        info, ("engagement", "points"), loaders.points_by_student_mission
    ).load((student_id, mission_id))
    if row is None:
        return None
    scope = await info.context.cohort_scope()
    return int(row.points) if scope.sees_enrollment(row.id) else None


# --- grading reports ---------------------------------------------------------------------


@strawberry.type(
    description="How an assignment's work was graded: over the submissions you may see "
    "(staff: all; a mentor: their mentees'). Percentiles are nearest-rank."
)
class GradeStats:
    submitted: int = strawberry.field(description="Submissions handed in.")
    graded: int = strawberry.field(description="Of them, graded (they have a mark).")
    mean: float | None = strawberry.field(description="The marks' mean; null if none.")
    median: int | None = strawberry.field(description="The 50th percentile mark.")
    standard_deviation: float | None = strawberry.field(
        description="The marks' population standard deviation."
    )
    lowest: int | None = strawberry.field(description="The lowest mark.")
    highest: int | None = strawberry.field(description="The highest mark.")
    p25: int | None = strawberry.field(description="The 25th percentile mark.")
    p75: int | None = strawberry.field(description="The 75th percentile mark.")
    p90: int | None = strawberry.field(description="The 90th percentile mark.")


@strawberry.type(description="One student's work in a mission, for the assignments due so far.")
class StudentWork:
    due: int = strawberry.field(description="Assignments due so far.")
    submitted: int = strawberry.field(description="Of them, handed in.")
    missing: int = strawberry.field(description="Of them, not handed in.")
    late: int = strawberry.field(description="Handed in late.")
    graded: int = strawberry.field(description="Graded.")
    waiting: int = strawberry.field(description="Handed in (again), waiting to be graded.")
    returned: int = strawberry.field(description="Returned for revision, not handed in again.")
    _enrollment_id: strawberry.Private[int]

    @strawberry.field(description="The enrolment (student in mission).")
    async def enrollment(self, info: Info) -> Annotated[Enrollment, strawberry.lazy(COHORTS)]:
        return await enrollment_object(info, self._enrollment_id)  # type: ignore[no-any-return]


@strawberry.type(description="A mentor's submissions waiting to be graded in a mission.")
class MentorBacklog:
    waiting: int = strawberry.field(description="Submissions of their mentees to grade.")
    oldest: datetime = strawberry.field(description="When the longest-waiting one came (UTC).")
    _mentor_id: strawberry.Private[int]

    @strawberry.field(description="The mentor.")
    async def mentor(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._mentor_id)  # type: ignore[no-any-return]


async def grades_staff(info: Info, mission_id: int) -> bool:
    """Whether the viewer sees a mission's grading figures: staff, or one of its mentors."""
    scope = await info.context.cohort_scope()
    return scope.sees_whole_mission(mission_id) or any(m == mission_id for m, _ in scope.mentees)


async def assignment_grade_stats(info: Info, assignment: Any) -> GradeStats | None:
    if not await grades_staff(info, assignment._mission_id):
        return None
    visible = access.visible_enrollments(info.context.viewer)
    key = ("engagement", "grade_stats", info.context.viewer.user_id)
    stats = await reads_loader(
        info, key, functools.partial(loaders.grade_stats, visible=visible)
    ).load(assignment.id)
    return GradeStats(
        submitted=stats["submitted"], graded=stats["graded"], mean=stats.get("mean"),
        median=stats.get("p50"), standard_deviation=stats.get("standard_deviation"),
        lowest=stats.get("lowest"), highest=stats.get("highest"), p25=stats.get("p25"),
        p75=stats.get("p75"), p90=stats.get("p90"),
    )  # fmt: skip


async def mission_work(info: Info, mission_id: int, first: int) -> list[StudentWork] | None:
    if not 0 <= first <= MAX_PAGE:
        raise bad_input(f"`first` must be between 0 and {MAX_PAGE}.")
    if not await grades_staff(info, mission_id):
        return None
    visible = access.visible_enrollments(info.context.viewer)
    load = functools.partial(
        loaders.work_by_student, visible=visible, now=datetime.now(UTC), first=first
    )
    key = ("engagement", "work_by_student", info.context.viewer.user_id, first)
    rows = await reads_loader(info, key, load).load(mission_id)
    return [
        StudentWork(due=r.due, submitted=r.submitted, missing=r.missing, late=r.late,
                    graded=r.graded, waiting=r.waiting, returned=r.returned,
                    _enrollment_id=r.enrollment_id)
        for r in rows
    ]  # fmt: skip


async def mission_backlog(info: Info, mission_id: int) -> list[MentorBacklog] | None:
    if not await grades_staff(info, mission_id):
        return None
    scope = await info.context.cohort_scope()
    mentor = None if scope.sees_whole_mission(mission_id) else info.context.viewer.user_id
    load = functools.partial(loaders.grading_backlog, mentor_id=mentor)
    key = ("engagement", "grading_backlog", info.context.viewer.user_id, mentor)
    rows = await reads_loader(info, key, load).load(mission_id)
    return [MentorBacklog(waiting=r.waiting, oldest=r.oldest, _mentor_id=r.mentor_id)
            for r in rows]  # fmt: skip
