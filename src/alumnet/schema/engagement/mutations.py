"""Engagement mutations: attendance, meetings, assignments, submissions and point rules."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload

from alumnet.domain.engagement import (
    assignments,
    attendance,
    certificates,
    grading,
    meetings,
    resources,
    rewards,
    rules,
)
from alumnet.persistence.loaders import engagement as loaders
from alumnet.schema.context import Info
from alumnet.schema.engagement.types import (
    Assignment,
    AttendanceKind,
    AttendanceRecord,
    AttendanceStatus,
    Certificate,
    EngagementRules,
    LatePolicy,
    Meeting,
    Resource,
    Submission,
)
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.mutations import (
    CODE_DESCRIPTION,
    INVALID,
    arg,
    pk_of,
    run_in_transaction,
    sent_ids,
    uploaded,
)
from alumnet.schema.nodes import global_pk
from alumnet.schema.ops.types import Job, job_node

ev = strawberry.enum_value


# --- attendance ----------------------------------------------------------------------------


@strawberry.enum(description="Why an attendance mutation failed.")
class AttendanceErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such mission or enrolment (that you may see).")
    NOT_ENROLLED = ev("NOT_ENROLLED", description="You are not enrolled in this mission.")
    NOT_ACTIVE = ev("NOT_ACTIVE", description="Your enrolment is not active.")
    ACCESS_RESTRICTED = ev(
        "ACCESS_RESTRICTED", description="Banned or delisted from the mission by a decision."
    )
    NOT_TAKING_ATTENDANCE = ev(
        "NOT_TAKING_ATTENDANCE", description="The mission takes no attendance in its status."
    )
    FUTURE_DAY = ev("FUTURE_DAY", description="The day has not come yet (mission time).")
    WINDOW_CLOSED = ev("WINDOW_CLOSED", description="Too late to submit that day yourself.")
    OUTSIDE_MISSION = ev("OUTSIDE_MISSION", description="The day is outside the mission.")
    REPORT_REQUIRED = ev("REPORT_REQUIRED", description="The mission asks for a report.")
    NOTHING_TO_CORRECT = ev("NOTHING_TO_CORRECT", description="Nothing was recorded that day.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with an attendance mutation's input.")
class AttendanceError(UserError):
    code: AttendanceErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="Today's attendance (or yesterday's, within the grace period).")
class AttendanceSubmitInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission.")
    day: date | None = strawberry.field(
        default=None, description="The mission's local date; default: today there."
    )
    report: str | None = strawberry.field(
        default=None, description="The day's report (at most 2,000 characters), if asked for."
    )


@strawberry.input(description="A correction of a student's attendance on one day.")
class AttendanceCorrectInput:
    enrollment_id: relay.GlobalID = strawberry.field(description="The enrolment.")
    day: date = strawberry.field(description="The mission's local date.")
    present: bool = strawberry.field(description="Present (true) or absent (false).")
    reason: str = strawberry.field(description="Why (at most 500 characters; audited).")


@strawberry.type(description="The attendance as recorded, or why nothing was.")
class AttendancePayload:
    attendance: AttendanceRecord | None = strawberry.field(description="The day's record.")
    created: bool = strawberry.field(
        description="False when it was recorded already: nothing changed (safe to retry)."
    )
    user_errors: list[AttendanceError] = strawberry.field(description="Empty on success.")


def _record(found: attendance.Recorded | None) -> AttendanceRecord | None:
    if found is None:
        return None
    return AttendanceRecord(
        id=found.id, day=found.day, kind=AttendanceKind(found.kind), report=found.report,
        status=AttendanceStatus(found.status), recorded_at=found.recorded_at,
        _enrollment_id=found.enrollment_id,
        _student_id=found.student_id,
    )  # fmt: skip


# --- meetings ------------------------------------------------------------------------------


@strawberry.enum(description="Why a meeting mutation failed.")
class MeetingErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such mission, meeting or user (that you may see).")
    NOT_ENROLLED = ev("NOT_ENROLLED", description="Not enrolled in the meeting's mission.")
    NOT_ACTIVE = ev("NOT_ACTIVE", description="The enrolment is not active.")
    ACCESS_RESTRICTED = ev(
        "ACCESS_RESTRICTED", description="Banned or delisted from the mission by a decision."
    )
    NOT_YOUR_MENTEE = ev("NOT_YOUR_MENTEE", description="You do not mentor that student.")
    NOT_YOURS = ev("NOT_YOURS", description="Mentors schedule their own meetings.")
    NOT_A_MENTOR = ev("NOT_A_MENTOR", description="That user is not a mentor.")
    FUTURE_DAY = ev("FUTURE_DAY", description="The meeting has not happened yet.")
    WINDOW_CLOSED = ev("WINDOW_CLOSED", description="Too late to report it yourself.")
    OUTSIDE_MISSION = ev("OUTSIDE_MISSION", description="The date is outside the mission.")
    TOO_MANY = ev("TOO_MANY", description="Too many students at once.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a meeting mutation's input.")
class MeetingError(UserError):
    code: MeetingErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A new meeting of a mission.")
class MeetingCreateInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission.")
    held_on: date = strawberry.field(description="The mission's local date.")
    topic: str = strawberry.field(description="What it is about (at most 200 characters).")
    mentor_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Who holds it; default: you, if you are its mentor."
    )


@strawberry.input(description="Say that you attended a meeting (students).")
class MeetingAttendanceSubmitInput:
    meeting_id: relay.GlobalID = strawberry.field(description="The meeting.")


@strawberry.input(description="Mark students present at or absent from a meeting.")
class MeetingAttendanceRecordInput:
    meeting_id: relay.GlobalID = strawberry.field(description="The meeting.")
    student_ids: list[relay.GlobalID] = strawberry.field(description="The students (≤ 500).")
    present: bool = strawberry.field(default=True, description="Present (true) or absent.")


@strawberry.type(description="The meeting, or why nothing changed.")
class MeetingPayload:
    meeting: Meeting | None = strawberry.field(description="The meeting.")
    created: bool = strawberry.field(description="Whether something new was recorded.")
    user_errors: list[MeetingError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="How many students' attendance changed.")
class MeetingAttendanceRecordPayload:
    changed: int = strawberry.field(description="Students whose attendance changed.")
    user_errors: list[MeetingError] = strawberry.field(
        description="Empty on success; on any error nothing changed."
    )


# --- assignments and submissions -----------------------------------------------------------


@strawberry.enum(description="Why an assignment or submission mutation failed.")
class AssignmentErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such mission or assignment.")
    NOT_ENROLLED = ev("NOT_ENROLLED", description="You are not enrolled in its mission.")
    NOT_ACTIVE = ev("NOT_ACTIVE", description="Your enrolment is not active.")
    ACCESS_RESTRICTED = ev(
        "ACCESS_RESTRICTED", description="Banned or delisted from the mission by a decision."
    )
    NOT_OPEN = ev("NOT_OPEN", description="The assignment has not opened yet.")
    CLOSED = ev("CLOSED", description="Past the due time (late work refused) or the cut-off.")
    FUTURE_TIME = ev("FUTURE_TIME", description="The submission time is in the future.")
    DATES_OUT_OF_ORDER = ev("DATES_OUT_OF_ORDER", description="Times are out of order.")
    OUT_OF_RANGE = ev("OUT_OF_RANGE", description="A number is out of range.")
    TOO_MANY = ev("TOO_MANY", description="Too many addresses at once.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    DUPLICATE = ev("DUPLICATE", description="A rubric criterion is named twice.")
    RUBRIC_MISMATCH = ev(
        "RUBRIC_MISMATCH", description="The rubric's points do not add up to the maximum."
    )
    FILE_TYPE = ev(
        "FILE_TYPE",
        description="Not a PDF, DOCX, ZIP or image, or not what its name says it is.",
    )
    FILE_TOO_LARGE = ev("FILE_TOO_LARGE", description="The file is over the size limit.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.input(description="One criterion of a rubric.")
class RubricCriterionInput:
    name: str = strawberry.field(description="What is judged (at most 100 characters).")
    points: int = strawberry.field(description="The most it is worth (1 to 10,000).")
    description: str = strawberry.field(
        default="", description="What earns the points (at most 500 characters)."
    )


@strawberry.type(description="A problem with an assignment or submission mutation's input.")
class AssignmentError(UserError):
    code: AssignmentErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A new assignment of a mission.")
class AssignmentCreateInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission.")
    title: str = strawberry.field(description="Title (at most 200 characters).")
    due_at: datetime = strawberry.field(description="When it is due.")
    opens_at: datetime | None = strawberry.field(default=None, description="Default: now.")
    description: str = strawberry.field(default="", description="What to do.")
    max_points: int | None = strawberry.field(
        default=None, description="0 to 10,000; default: 10, or the rubric's total."
    )
    late_policy: LatePolicy = strawberry.field(
        default=LatePolicy.ACCEPT_LATE, description="Whether late work is accepted."
    )
    late_cutoff_at: datetime | None = strawberry.field(
        default=None, description="The last moment late work is accepted; default: none."
    )
    rubric: list[RubricCriterionInput] | None = strawberry.field(
        default=None,
        description="Criteria to grade by (at most 20), their points adding up to the maximum.",
    )


@strawberry.input(description="Changes to an assignment; omitted fields stay as they are.")
class AssignmentUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The assignment.")
    title: str | None = strawberry.field(default=None, description="New title.")
    description: str | None = strawberry.field(default=None, description="New description.")
    opens_at: datetime | None = strawberry.field(default=None, description="New opening.")
    due_at: datetime | None = strawberry.field(default=None, description="New due time.")
    max_points: int | None = strawberry.field(
        default=None, description="New maximum; points already given are recalculated."
    )
    late_policy: LatePolicy | None = strawberry.field(default=None, description="New policy.")
    late_cutoff_at: datetime | None = strawberry.field(default=None, description="New cut-off.")
    clear_late_cutoff: bool = strawberry.field(default=False, description="Remove the cut-off.")
    rubric: list[RubricCriterionInput] | None = strawberry.field(
        default=None,
        description="A new rubric (its points adding up to the maximum); an empty list "
        "removes it. Work graded already keeps its marks.",
    )


@strawberry.type(description="The assignment, or why nothing changed.")
class AssignmentPayload:
    assignment: Assignment | None = strawberry.field(description="The assignment.")
    recalculation: Job | None = strawberry.field(
        description="The points recalculation this change started, if any."
    )
    user_errors: list[AssignmentError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Your submission of an assignment (students).")
class SubmissionCreateInput:
    assignment_id: relay.GlobalID = strawberry.field(description="The assignment.")
    content: str | None = strawberry.field(
        default=None, description="A link or text (at most 10,000 characters)."
    )
    file: Upload | None = strawberry.field(
        default=None,
        description="A file (GraphQL multipart request): PDF, DOCX, ZIP, PNG, JPEG, GIF or "
        "WebP, its type read from its content, within the size limit.",
    )


@strawberry.type(description="The submission, or why there is none.")
class SubmissionPayload:
    submission: Submission | None = strawberry.field(description="The submission.")
    created: bool = strawberry.field(
        description="False when you had submitted already: the first one counts."
    )
    user_errors: list[AssignmentError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="Why `pointsAward` failed.")
class PointsAwardErrorCode(Enum):
    NOT_FOUND = ev(
        "NOT_FOUND", description="No such enrolment (for mentors: not one of your mentees')."
    )
    OUT_OF_RANGE = ev("OUT_OF_RANGE", description="Award or deduct 1 to 1,000 points.")
    UNKNOWN_CATEGORY = ev("UNKNOWN_CATEGORY", description="Not one of the mission's categories.")
    ACCESS_RESTRICTED = ev(
        "ACCESS_RESTRICTED", description="The student is banned or delisted: no awards."
    )
    REQUIRED = ev("REQUIRED", description="The reason is missing.")
    TOO_LONG = ev("TOO_LONG", description="The reason is too long.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a `pointsAward` input.")
class PointsAwardError(UserError):
    code: PointsAwardErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(
    description="Points awarded (positive) or deducted (negative) by hand, by staff or one of "
    "the student's mentors in the mission."
)
class PointsAwardInput:
    enrollment_id: relay.GlobalID = strawberry.field(description="The student's enrolment.")
    points: int = strawberry.field(description="-1,000 to 1,000, not 0.")
    category: str = strawberry.field(
        description="One of the mission's categories (`engagementRules.rewardCategories`)."
    )
    reason: str = strawberry.field(description="Why, for the student (at most 500 characters).")


@strawberry.type(description="The student's points now, or why nothing changed.")
class PointsAwardPayload:
    points: int | None = strawberry.field(description="The enrolment's points now.")
    user_errors: list[PointsAwardError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="Why `submissionGrade` failed.")
class GradeErrorCode(Enum):
    NOT_FOUND = ev(
        "NOT_FOUND", description="No such submission, or not one of your mentees' (for mentors)."
    )
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    OUT_OF_RANGE = ev(
        "OUT_OF_RANGE", description="A mark or score above its maximum, or below zero."
    )
    NO_RUBRIC = ev("NO_RUBRIC", description="Scores were given but the assignment has no rubric.")
    RUBRIC_REQUIRED = ev(
        "RUBRIC_REQUIRED", description="The assignment has a rubric: score its criteria."
    )
    UNKNOWN_CRITERION = ev("UNKNOWN_CRITERION", description="No such criterion in the rubric.")
    RUBRIC_MISMATCH = ev("RUBRIC_MISMATCH", description="The mark is not the scores' sum.")
    DATE_IN_PAST = ev("DATE_IN_PAST", description="The new deadline has passed already.")
    TOO_LONG = ev("TOO_LONG", description="The feedback is too long.")
    DUPLICATE = ev("DUPLICATE", description="A criterion is scored twice.")
    TOO_MANY = ev(
        "TOO_MANY", description="Returned for revision too often (20 versions): grade it."
    )
    STALE = ev(
        "STALE", description="Handed in again since the version you read (`expectedVersion`)."
    )
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a `submissionGrade` input.")
class GradeError(UserError):
    code: GradeErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="The points given for one criterion of the rubric.")
class RubricScoreInput:
    criterion: str = strawberry.field(description="The criterion's name (any case).")
    points: int = strawberry.field(description="0 to the criterion's worth.")


@strawberry.input(
    description="A grade for a submission (staff, or the student's mentors in the mission): "
    "a mark, or a score for every criterion of the rubric; or its return for revision."
)
class SubmissionGradeInput:
    submission_id: relay.GlobalID = strawberry.field(description="The submission.")
    mark: int | None = strawberry.field(
        default=None,
        description="0 to the assignment's maximum; with a rubric, omit it (the scores' sum).",
    )
    rubric_scores: list[RubricScoreInput] | None = strawberry.field(
        default=None, description="With a rubric: every criterion's points."
    )
    feedback: str | None = strawberry.field(
        default=None, description="Written feedback for the student (at most 10,000 characters)."
    )
    return_for_revision: bool = strawberry.field(
        default=False,
        description="Return it to be handed in again by `revisionDueAt` (feedback required; "
        "a mark is optional).",
    )
    revision_due_at: datetime | None = strawberry.field(
        default=None, description="The new deadline, when returning it (UTC)."
    )
    expected_version: int | None = strawberry.field(
        default=None,
        description="The version you read (`Submission.version`): if it was handed in again "
        "since, nothing changes (STALE).",
    )


@strawberry.type(description="The graded submission, or why nothing changed.")
class SubmissionGradePayload:
    submission: Submission | None = strawberry.field(description="The submission, as graded.")
    user_errors: list[GradeError] = strawberry.field(description="Empty on success.")


@strawberry.input(
    description="Record the submissions of the students whose e-mail addresses are pasted "
    "(one or more per line, any case; other text is reported, not fatal)."
)
class SubmissionBulkRecordInput:
    assignment_id: relay.GlobalID = strawberry.field(description="The assignment.")
    emails: str = strawberry.field(description="The pasted text (at most 5,000 addresses).")
    submitted_at: datetime | None = strawberry.field(
        default=None, description="When they submitted; default: now. Decides lateness."
    )


@strawberry.enum(description="What became of one pasted address or line.")
class BulkLineOutcome(Enum):
    RECORDED = ev("RECORDED", description="A submission was recorded.")
    ALREADY_RECORDED = ev("ALREADY_RECORDED", description="The student had one already.")
    DUPLICATE = ev("DUPLICATE", description="The address appeared earlier in the paste.")
    UNKNOWN_EMAIL = ev("UNKNOWN_EMAIL", description="No user has this address.")
    NOT_ENROLLED = ev("NOT_ENROLLED", description="Not an active student of the mission.")
    NOT_AN_ADDRESS = ev("NOT_AN_ADDRESS", description="No e-mail address on this line.")


@strawberry.type(description="One address (or junk line) of the paste and its outcome.")
class SubmissionBulkLine:
    line: int = strawberry.field(description="The line number in the paste (from 1).")
    text: str = strawberry.field(description="The address, or the line's text.")
    outcome: BulkLineOutcome = strawberry.field(description="What happened.")


@strawberry.type(description="What a bulk recording did. Safe to repeat: it is idempotent.")
class SubmissionBulkRecordPayload:
    recorded: int = strawberry.field(description="Submissions newly recorded.")
    already_recorded: int = strawberry.field(description="Students who had submitted already.")
    late: bool = strawberry.field(description="Whether these count as late.")
    lines: list[SubmissionBulkLine] = strawberry.field(description="Per address or line.")
    user_errors: list[AssignmentError] = strawberry.field(
        description="Empty on success; on an error nothing was recorded."
    )


# --- rules ---------------------------------------------------------------------------------


@strawberry.enum(description="Why a rules mutation failed.")
class EngagementRulesErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such mission.")
    INVALID_TIME_ZONE = ev("INVALID_TIME_ZONE", description="Not an IANA time zone.")
    OUT_OF_RANGE = ev("OUT_OF_RANGE", description="A number is out of range.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a rules mutation's input.")
class EngagementRulesError(UserError):
    code: EngagementRulesErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="Changes to a mission's engagement rules; omitted stay as they are.")
class EngagementRulesUpdateInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission.")
    time_zone: str | None = strawberry.field(default=None, description="IANA time zone.")
    attendance_when_draft: AttendanceKind | None = strawberry.field(
        default=None, description="While draft."
    )
    attendance_when_active: AttendanceKind | None = strawberry.field(
        default=None, description="While active."
    )
    attendance_when_completed: AttendanceKind | None = strawberry.field(
        default=None, description="Once completed."
    )
    grace_minutes: int | None = strawberry.field(default=None, description="0 to 1,440.")
    attendance_points: int | None = strawberry.field(default=None, description="0 to 10,000.")
    meeting_points: int | None = strawberry.field(default=None, description="0 to 10,000.")
    on_time_submission_percent: int | None = strawberry.field(
        default=None, description="0 to 10,000."
    )
    late_submission_percent: int | None = strawberry.field(default=None, description="0 to 10,000.")
    reward_categories: list[str] | None = strawberry.field(
        default=None,
        description="The categories of points given by hand (1 to 30, each at most 50 characters).",
    )
    completion_min_points: int | None = strawberry.field(
        default=None,
        description="Points a student needs for a certificate when the mission is completed "
        "(0 to 1,000,000).",
    )
    completion_min_attendance_percent: int | None = strawberry.field(
        default=None,
        description="Share of the mission's days a student must have attended for a "
        "certificate (0 to 100).",
    )


@strawberry.type(description="The rules as changed, or why nothing changed.")
class EngagementRulesPayload:
    rules: EngagementRules | None = strawberry.field(description="The rules now.")
    recalculation: Job | None = strawberry.field(
        description="The points recalculation started because point rules changed, if any."
    )
    user_errors: list[EngagementRulesError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Recalculate a mission's points from its records and rules.")
class PointsRecalculateInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission.")


@strawberry.type(description="The recalculation job, or why there is none.")
class PointsRecalculatePayload:
    job: Job | None = strawberry.field(description="Follow it with `jobUpdated(id:)`.")
    user_errors: list[EngagementRulesError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="Why a resource mutation failed.")
class ResourceErrorCode(Enum):
    NOT_FOUND = ev(
        "NOT_FOUND",
        description="No such mission or resource, or not one you may change (staff who run "
        "engagement, or the mission's mentors for what they added).",
    )
    REQUIRED = ev("REQUIRED", description="A title, and a link or a file, are needed.")
    TOO_LONG = ev("TOO_LONG", description="A title or a folder is longer than allowed.")
    INVALID_URL = ev("INVALID_URL", description="Not an https:// address with a host.")
    TOO_MANY = ev("TOO_MANY", description="The mission has as many resources as it may.")
    FILE_TYPE = ev(
        "FILE_TYPE",
        description="Not a PDF, DOCX, ZIP or image, or not what its name says it is.",
    )
    FILE_TOO_LARGE = ev("FILE_TOO_LARGE", description="The file is over the size limit.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a resource mutation's input.")
class ResourceError(UserError):
    code: ResourceErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A document or a link for a mission: give `url` or `file`.")
class ResourceCreateInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission.")
    title: str = strawberry.field(description="What it is (at most 200 characters).")
    folder: str = strawberry.field(
        default="",
        description="A folder to keep it in (at most 100 characters; none).",
    )
    url: str | None = strawberry.field(default=None, description="An https:// link.")
    file: Upload | None = strawberry.field(
        default=None,
        description="Or a file (GraphQL multipart request): PDF, DOCX, ZIP, PNG, JPEG, GIF or "
        "WebP, its type read from its content, within `ALUMNET_RESOURCE_MAX_BYTES`.",
    )


@strawberry.input(description="Changes to a resource; omitted values stay as they are.")
class ResourceUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The resource.")
    title: str | None = strawberry.field(default=None, description="A new title.")
    folder: str | None = strawberry.field(default=None, description="Another folder.")
    url: str | None = strawberry.field(default=None, description="A new link (links only).")


@strawberry.input(description="The resource to delete.")
class ResourceDeleteInput:
    id: relay.GlobalID = strawberry.field(description="The resource.")


@strawberry.type(description="The resource, or why there is none.")
class ResourcePayload:
    resource: Resource | None = strawberry.field(description="The resource.")
    user_errors: list[ResourceError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Whether the resource was deleted.")
class ResourceDeletePayload:
    deleted_id: relay.GlobalID | None = strawberry.field(description="Its id, once deleted.")
    user_errors: list[ResourceError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="Why a certificate mutation failed.")
class CertificateErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such mission or certificate.")
    NOT_COMPLETED = ev("NOT_COMPLETED", description="The mission is not completed yet.")
    REQUIRED = ev("REQUIRED", description="A reason is needed.")
    TOO_LONG = ev("TOO_LONG", description="The reason is longer than 1,000 characters.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a certificate mutation's input.")
class CertificateError(UserError):
    code: CertificateErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="The completed mission whose students to certify.")
class CertificateIssueInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission (completed).")


@strawberry.type(description="The job issuing the certificates, or why there is none.")
class CertificateIssuePayload:
    job: Job | None = strawberry.field(description="Follow it with `jobUpdated(id:)`.")
    user_errors: list[CertificateError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="The certificate to revoke, and why.")
class CertificateRevokeInput:
    id: relay.GlobalID = strawberry.field(description="The certificate.")
    reason: str = strawberry.field(description="Why (at most 1,000 characters).")


@strawberry.type(description="The certificate, revoked, or why not.")
class CertificateRevokePayload:
    certificate: Certificate | None = strawberry.field(description="The certificate.")
    user_errors: list[CertificateError] = strawberry.field(description="Empty on success.")


def _kind(value: AttendanceKind | None) -> str | None:
    return str(value.value) if value is not None else None


@strawberry.type
class EngagementMutation:
    @strawberry.mutation(
        description="Submit your attendance for today (the mission's time zone); sending it "
        "twice records it once."
    )
    async def attendance_submit(
        self, info: Info, input: Annotated[AttendanceSubmitInput, arg("The day.")]
    ) -> AttendancePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: attendance.submit(
                uow, viewer, pk_of(input.mission_id, "Mission", "missionId"),
                day=input.day, report=input.report,
            ),
        )  # fmt: skip
        return AttendancePayload(
            attendance=_record(found),
            created=bool(found and found.created),
            user_errors=user_errors(AttendanceError, AttendanceErrorCode, problems),
        )

    @strawberry.mutation(
        description="Correct a student's attendance on one day (their mentor, SREs, managers); "
        "audited, and points follow."
    )
    async def attendance_correct(
        self, info: Info, input: Annotated[AttendanceCorrectInput, arg("The correction.")]
    ) -> AttendancePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: attendance.correct(
                uow, viewer, pk_of(input.enrollment_id, "Enrollment", "enrollmentId"),
                day=input.day, present=input.present, reason=input.reason,
            ),
        )  # fmt: skip
        return AttendancePayload(
            attendance=_record(found),
            created=bool(found and found.created),
            user_errors=user_errors(AttendanceError, AttendanceErrorCode, problems),
        )

    @strawberry.mutation(description="Schedule a meeting (staff, or a mentor of the mission).")
    async def meeting_create(
        self, info: Info, input: Annotated[MeetingCreateInput, arg("The meeting.")]
    ) -> MeetingPayload:
        viewer = info.context.viewer
        mentor = global_pk(input.mentor_id, "User") if input.mentor_id is not None else None
        if input.mentor_id is not None and mentor is None:
            mentor = -1
        found, problems = await run_in_transaction(
            info,
            lambda uow: meetings.create(
                uow, viewer, pk_of(input.mission_id, "Mission", "missionId"),
                held_on=input.held_on, topic=input.topic, mentor_id=mentor,
            ),
        )  # fmt: skip
        return MeetingPayload(
            meeting=Meeting.from_row(found) if found is not None else None,
            created=found is not None,
            user_errors=user_errors(MeetingError, MeetingErrorCode, problems),
        )

    @strawberry.mutation(description="Say you attended a meeting (students); idempotent.")
    async def meeting_attendance_submit(
        self, info: Info, input: Annotated[MeetingAttendanceSubmitInput, arg("The meeting.")]
    ) -> MeetingPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: meetings.attend(
                uow, viewer, pk_of(input.meeting_id, "Meeting", "meetingId")
            ),
        )
        return MeetingPayload(
            meeting=Meeting.from_row(found[0]) if found is not None else None,
            created=bool(found and found[1]),
            user_errors=user_errors(MeetingError, MeetingErrorCode, problems),
        )

    @strawberry.mutation(
        description="Mark students present at or absent from a meeting (their mentor, or "
        "staff); audited."
    )
    async def meeting_attendance_record(
        self, info: Info, input: Annotated[MeetingAttendanceRecordInput, arg("Who.")]
    ) -> MeetingAttendanceRecordPayload:
        viewer = info.context.viewer
        ids = sent_ids(input.student_ids, "User")
        changed, problems = await run_in_transaction(
            info,
            lambda uow: meetings.record(
                uow, viewer, pk_of(input.meeting_id, "Meeting", "meetingId"),
                student_ids=ids, present=input.present,
            ),
        )  # fmt: skip
        return MeetingAttendanceRecordPayload(
            changed=changed or 0,
            user_errors=user_errors(MeetingError, MeetingErrorCode, problems),
        )

    @strawberry.mutation(description="Create an assignment (needs `engagement:manage`).")
    async def assignment_create(
        self, info: Info, input: Annotated[AssignmentCreateInput, arg("The assignment.")]
    ) -> AssignmentPayload:
        viewer = info.context.viewer
        data = assignments.AssignmentChanges(
            title=input.title, description=input.description, opens_at=input.opens_at,
            due_at=input.due_at, max_points=input.max_points,
            late_policy=str(input.late_policy.value), late_cutoff_at=input.late_cutoff_at,
            rubric=_criteria(input.rubric),
        )  # fmt: skip
        found, problems = await run_in_transaction(
            info,
            lambda uow: assignments.create(
                uow, viewer, pk_of(input.mission_id, "Mission", "missionId"), data
            ),
        )
        return AssignmentPayload(
            assignment=Assignment.from_row(found) if found is not None else None,
            recalculation=None,
            user_errors=user_errors(AssignmentError, AssignmentErrorCode, problems),
        )

    @strawberry.mutation(
        description="Change an assignment (needs `engagement:manage`); a new maximum "
        "recalculates the mission's points."
    )
    async def assignment_update(
        self, info: Info, input: Annotated[AssignmentUpdateInput, arg("The changes.")]
    ) -> AssignmentPayload:
        viewer = info.context.viewer
        data = assignments.AssignmentChanges(
            title=input.title, description=input.description, opens_at=input.opens_at,
            due_at=input.due_at, max_points=input.max_points,
            late_policy=str(input.late_policy.value) if input.late_policy else None,
            late_cutoff_at=input.late_cutoff_at, clear_late_cutoff=input.clear_late_cutoff,
            rubric=_criteria(input.rubric),
        )  # fmt: skip
        found, problems = await run_in_transaction(
            info,
            lambda uow: assignments.update(uow, viewer, pk_of(input.id, "Assignment", "id"), data),
        )
        return AssignmentPayload(
            assignment=Assignment.from_row(found[0]) if found is not None else None,
            recalculation=await job_node(info, found[1]) if found is not None else None,
            user_errors=user_errors(AssignmentError, AssignmentErrorCode, problems),
        )

    @strawberry.mutation(description="Hand in an assignment (students); the first one counts.")
    async def submission_create(
        self, info: Info, input: Annotated[SubmissionCreateInput, arg("The submission.")]
    ) -> SubmissionPayload:
        viewer, settings = info.context.viewer, info.context.runtime.settings
        given: Any = input.file

        async def change(uow: Any) -> Any:
            upload = assignments.Upload(*uploaded(given)) if given is not None else None
            return await assignments.submit(
                uow, viewer, pk_of(input.assignment_id, "Assignment", "assignmentId"),
                content=input.content, upload=upload,
                upload_limit=settings.submission_max_bytes,
            )  # fmt: skip

        found, problems = await run_in_transaction(info, change)
        return SubmissionPayload(
            submission=Submission.from_row(found[0]) if found is not None else None,
            created=bool(found and found[1]),
            user_errors=user_errors(AssignmentError, AssignmentErrorCode, problems),
        )

    @strawberry.mutation(
        description="Add a document (a file) or a link to a mission (staff with "
        "`engagement:manage`, or the mission's mentors); its active students see it."
    )
    async def resource_create(
        self, info: Info, input: Annotated[ResourceCreateInput, arg("The resource.")]
    ) -> ResourcePayload:
        viewer, settings = info.context.viewer, info.context.runtime.settings
        given: Any = input.file

        async def change(uow: Any) -> Any:
            upload = assignments.Upload(*uploaded(given)) if given is not None else None
            return await resources.create(
                uow, viewer, pk_of(input.mission_id, "Mission", "missionId"),
                resources.ResourceChanges(title=input.title, folder=input.folder,
                                          url=input.url),
                upload, settings.resource_max_bytes,
            )  # fmt: skip

        found, problems = await run_in_transaction(info, change)
        return ResourcePayload(
            resource=Resource.from_row(found) if found is not None else None,
            user_errors=user_errors(ResourceError, ResourceErrorCode, problems),
        )

    @strawberry.mutation(
        description="Rename a resource, move it to another folder, or change its link (staff "
        "with `engagement:manage`, or its author while they mentor the mission)."
    )
    async def resource_update(
        self, info: Info, input: Annotated[ResourceUpdateInput, arg("The changes.")]
    ) -> ResourcePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: resources.update(
                uow, viewer, pk_of(input.id, "Resource", "id"),
                resources.ResourceChanges(title=input.title, folder=input.folder,
                                          url=input.url),
            ),
        )  # fmt: skip
        return ResourcePayload(
            resource=Resource.from_row(found) if found is not None else None,
            user_errors=user_errors(ResourceError, ResourceErrorCode, problems),
        )

    @strawberry.mutation(
        description="Delete a resource for everyone (staff with `engagement:manage`, or its "
        "author while they mentor the mission); its file is deleted too."
    )
    async def resource_delete(
        self, info: Info, input: Annotated[ResourceDeleteInput, arg("Which one.")]
    ) -> ResourceDeletePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: resources.delete(uow, viewer, pk_of(input.id, "Resource", "id"))
        )
        return ResourceDeletePayload(
            deleted_id=input.id if found is not None else None,
            user_errors=user_errors(ResourceError, ResourceErrorCode, problems),
        )

    @strawberry.mutation(
        description="Certify the students of a completed mission who meet its completion rule "
        "and have no certificate yet (`engagement:manage`), in the background; completing a "
        "mission does this by itself."
    )
    async def certificate_issue(
        self, info: Info, input: Annotated[CertificateIssueInput, arg("The mission.")]
    ) -> CertificateIssuePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: certificates.request_issue(
                uow, viewer, pk_of(input.mission_id, "Mission", "missionId")
            ),
        )
        return CertificateIssuePayload(
            job=await job_node(info, found) if found is not None else None,
            user_errors=user_errors(CertificateError, CertificateErrorCode, problems),
        )

    @strawberry.mutation(
        description="Revoke a certificate (`engagement:manage`): it no longer verifies."
    )
    async def certificate_revoke(
        self, info: Info, input: Annotated[CertificateRevokeInput, arg("Which, and why.")]
    ) -> CertificateRevokePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: certificates.revoke(
                uow, viewer, pk_of(input.id, "Certificate", "id"), input.reason
            ),
        )
        row = None
        if found is not None:
            row = (await loaders.certificates_by_id(info.context.reads, [found.id]))[0]
        return CertificateRevokePayload(
            certificate=Certificate.from_row(row) if row is not None else None,
            user_errors=user_errors(CertificateError, CertificateErrorCode, problems),
        )

    @strawberry.mutation(
        description="Award or deduct points by hand, in one of the mission's categories, with "
        "a reason (staff with `engagement:manage`, or the student's mentors in the mission); "
        "the student is told."
    )
    async def points_award(
        self, info: Info, input: Annotated[PointsAwardInput, arg("The award.")]
    ) -> PointsAwardPayload:
        viewer = info.context.viewer
        total, problems = await run_in_transaction(
            info,
            lambda uow: rewards.award(
                uow, viewer, pk_of(input.enrollment_id, "Enrollment", "enrollmentId"),
                points_given=input.points, category=input.category, reason=input.reason,
            ),
        )  # fmt: skip
        return PointsAwardPayload(
            points=total, user_errors=user_errors(PointsAwardError, PointsAwardErrorCode, problems)
        )

    @strawberry.mutation(
        description="Grade a submission, or return it for revision (staff with "
        "`engagement:manage`, or the student's mentors in the mission); the student is told, "
        "and the mark becomes the points the work earns."
    )
    async def submission_grade(
        self, info: Info, input: Annotated[SubmissionGradeInput, arg("The grade.")]
    ) -> SubmissionGradePayload:
        viewer = info.context.viewer
        scores = (
            [grading.Score(criterion=s.criterion, points=s.points) for s in input.rubric_scores]
            if input.rubric_scores is not None
            else None
        )
        given = grading.Grading(
            mark=input.mark, scores=scores, feedback=input.feedback,
            return_for_revision=input.return_for_revision, revision_due_at=input.revision_due_at,
            expected_version=input.expected_version,
        )  # fmt: skip
        found, problems = await run_in_transaction(
            info,
            lambda uow: grading.grade(
                uow, viewer, pk_of(input.submission_id, "Submission", "submissionId"), given
            ),
        )
        return SubmissionGradePayload(
            submission=Submission.from_row(found) if found is not None else None,
            user_errors=user_errors(GradeError, GradeErrorCode, problems),
        )

    @strawberry.mutation(
        description="Record submissions from a pasted list of e-mail addresses (needs "
        "`engagement:manage`); reports every line, idempotent."
    )
    async def submission_bulk_record(
        self, info: Info, input: Annotated[SubmissionBulkRecordInput, arg("The paste.")]
    ) -> SubmissionBulkRecordPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: assignments.bulk_record(
                uow, viewer, pk_of(input.assignment_id, "Assignment", "assignmentId"),
                pasted=input.emails, submitted_at=input.submitted_at,
            ),
        )  # fmt: skip
        return SubmissionBulkRecordPayload(
            recorded=found.recorded if found else 0,
            already_recorded=found.already_recorded if found else 0,
            late=found.late if found else False,
            lines=[
                SubmissionBulkLine(line=x.line, text=x.text, outcome=BulkLineOutcome[x.outcome])
                for x in (found.lines if found else [])
            ],
            user_errors=user_errors(AssignmentError, AssignmentErrorCode, problems),
        )

    @strawberry.mutation(
        description="Change a mission's engagement rules (needs `cohorts:manage`); changed "
        "point rules recalculate the mission's points in the background."
    )
    async def engagement_rules_update(
        self, info: Info, input: Annotated[EngagementRulesUpdateInput, arg("The changes.")]
    ) -> EngagementRulesPayload:
        viewer = info.context.viewer
        changes = {
            "time_zone": input.time_zone,
            "attendance_when_draft": _kind(input.attendance_when_draft),
            "attendance_when_active": _kind(input.attendance_when_active),
            "attendance_when_completed": _kind(input.attendance_when_completed),
            "grace_minutes": input.grace_minutes,
            "attendance_points": input.attendance_points,
            "meeting_points": input.meeting_points,
            "on_time_percent": input.on_time_submission_percent,
            "late_percent": input.late_submission_percent,
            "reward_categories": input.reward_categories,
            "completion_min_points": input.completion_min_points,
            "completion_min_attendance_percent": input.completion_min_attendance_percent,
        }
        found, problems = await run_in_transaction(
            info,
            lambda uow: rules.update_rules(
                uow, viewer, pk_of(input.mission_id, "Mission", "missionId"), changes
            ),
        )
        return EngagementRulesPayload(
            rules=EngagementRules.of(found[0]) if found is not None else None,
            recalculation=await job_node(info, found[1]) if found is not None else None,
            user_errors=user_errors(EngagementRulesError, EngagementRulesErrorCode, problems),
        )

    @strawberry.mutation(
        description="Recalculate a mission's points in the background (needs "
        "`engagement:manage`), e.g. after corrections; follow the job with `jobUpdated`."
    )
    async def points_recalculate(
        self, info: Info, input: Annotated[PointsRecalculateInput, arg("The mission.")]
    ) -> PointsRecalculatePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: rules.request_recalculation(
                uow, viewer, pk_of(input.mission_id, "Mission", "missionId")
            ),
        )
        return PointsRecalculatePayload(
            job=await job_node(info, found),
            user_errors=user_errors(EngagementRulesError, EngagementRulesErrorCode, problems),
        )


def _criteria(given: list[RubricCriterionInput] | None) -> list[grading.Criterion] | None:
    if given is None:
        return None
    return [grading.Criterion(name=c.name, points=c.points, description=c.description)
            for c in given]  # fmt: skip
