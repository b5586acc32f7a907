"""Cohorts mutations: batches, missions, enrolments and mentor assignments."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Annotated

import strawberry
from strawberry import relay

from alumnet.domain.cohorts import roster, structure
from alumnet.persistence.uow import UnitOfWork
from alumnet.schema.cohorts.types import (
    Batch,
    Enrollment,
    EnrollmentStatus,
    MentorAssignment,
    Mission,
    MissionStatus,
)
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.mutations import (
    CODE_DESCRIPTION,
    INVALID,
    arg,
    pk_of,
    run_in_transaction,
    sent_ids,
)

ev = strawberry.enum_value


# --- batches and missions ------------------------------------------------------------------


@strawberry.enum(description="Why a batch mutation failed.")
class BatchErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such batch.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A value is longer than allowed.")
    INVALID_CODE = ev("INVALID_CODE", description="The code has characters it may not have.")
    CODE_TAKEN = ev("CODE_TAKEN", description="Another batch has this code.")
    DATES_OUT_OF_ORDER = ev("DATES_OUT_OF_ORDER", description="The end is before the start.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a batch mutation's input.")
class BatchError(UserError):
    code: BatchErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The batch as changed, or why nothing changed.")
class BatchPayload:
    batch: Batch | None = strawberry.field(description="The batch after the change.")
    user_errors: list[BatchError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A new batch.")
class BatchCreateInput:
    name: str = strawberry.field(description="Name (at most 200 characters).")
    code: str = strawberry.field(
        description="Unique code: letters, digits, '-' and '_' (stored in upper case)."
    )
    starts_on: date = strawberry.field(description="First day.")
    ends_on: date = strawberry.field(description="Last day, not before the first.")
    description: str = strawberry.field(default="", description="About the batch.")


@strawberry.input(description="Changes to a batch; omitted fields stay as they are.")
class BatchUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The batch to change.")
    name: str | None = strawberry.field(default=None, description="New name.")
    code: str | None = strawberry.field(default=None, description="New unique code.")
    starts_on: date | None = strawberry.field(default=None, description="New first day.")
    ends_on: date | None = strawberry.field(default=None, description="New last day.")
    description: str | None = strawberry.field(default=None, description="New description.")


@strawberry.input(description="A batch to archive.")
class BatchArchiveInput:
    id: relay.GlobalID = strawberry.field(description="The batch to archive.")


@strawberry.enum(description="Why a mission mutation failed.")
class MissionErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such mission or batch.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A value is longer than allowed.")
    INVALID_CODE = ev("INVALID_CODE", description="The code has characters it may not have.")
    CODE_TAKEN = ev("CODE_TAKEN", description="Another mission has this code.")
    DATES_OUT_OF_ORDER = ev("DATES_OUT_OF_ORDER", description="The end is before the start.")
    OUTSIDE_BATCH_DATES = ev(
        "OUTSIDE_BATCH_DATES", description="The mission must run within its batch's dates."
    )
    BATCH_ARCHIVED = ev("BATCH_ARCHIVED", description="The batch is archived.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a mission mutation's input.")
class MissionError(UserError):
    code: MissionErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The mission as changed, or why nothing changed.")
class MissionPayload:
    mission: Mission | None = strawberry.field(description="The mission after the change.")
    user_errors: list[MissionError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A new mission inside a batch.")
class MissionCreateInput:
    batch_id: relay.GlobalID = strawberry.field(description="The batch it belongs to.")
    title: str = strawberry.field(description="Title (at most 200 characters).")
    code: str = strawberry.field(description="Unique code: letters, digits, '-' and '_'.")
    status: MissionStatus = strawberry.field(
        default=MissionStatus.DRAFT, description="Initial status."
    )
    starts_on: date | None = strawberry.field(
        default=None, description="First day; default: the batch's."
    )
    ends_on: date | None = strawberry.field(
        default=None, description="Last day; default: the batch's."
    )
    description: str = strawberry.field(default="", description="What it is about.")


@strawberry.input(description="Changes to a mission; omitted fields stay as they are.")
class MissionUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The mission to change.")
    title: str | None = strawberry.field(default=None, description="New title.")
    code: str | None = strawberry.field(default=None, description="New unique code.")
    status: MissionStatus | None = strawberry.field(default=None, description="New status.")
    starts_on: date | None = strawberry.field(default=None, description="New first day.")
    ends_on: date | None = strawberry.field(default=None, description="New last day.")
    description: str | None = strawberry.field(default=None, description="New description.")


# --- enrolments ----------------------------------------------------------------------------


@strawberry.enum(description="Why an enrolment mutation failed.")
class EnrollmentErrorCode(Enum):
    NOT_FOUND = ev(
        "NOT_FOUND", description="No such mission, user or enrolment: the id names nothing."
    )
    NOT_A_STUDENT = ev("NOT_A_STUDENT", description="The user is not an active student.")
    RESTRICTED = ev(
        "RESTRICTED", description="Banned or delisted: only an integrity decision changes it."
    )
    UNKNOWN_EMAIL = ev("UNKNOWN_EMAIL", description="No user has this e-mail address.")
    TOO_MANY = ev("TOO_MANY", description="More than 5,000 students in one call.")
    MISSION_MENTOR = ev(
        "MISSION_MENTOR",
        description="The user mentors the whole mission (`missionMentorAdd`): not a student of it.",
    )
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with an enrolment mutation's input.")
class EnrollmentError(UserError):
    code: EnrollmentErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A student to enrol in a mission.")
class EnrollmentCreateInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission.")
    student_id: relay.GlobalID = strawberry.field(description="The student (a User).")


@strawberry.type(description="The enrolment, or why there is none.")
class EnrollmentPayload:
    enrollment: Enrollment | None = strawberry.field(description="The enrolment.")
    created: bool = strawberry.field(
        description="False when the student was already enrolled: nothing changed (safe to retry)."
    )
    user_errors: list[EnrollmentError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A change of an enrolment's status.")
class EnrollmentUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The enrolment.")
    status: EnrollmentStatus = strawberry.field(description="The new status.")


@strawberry.type(description="The enrolment as changed, or why nothing changed.")
class EnrollmentUpdatePayload:
    enrollment: Enrollment | None = strawberry.field(description="The enrolment.")
    user_errors: list[EnrollmentError] = strawberry.field(description="Empty on success.")


@strawberry.input(
    description="Many students to enrol in one mission, by id or by e-mail (5,000 at most)."
)
class EnrollmentBulkCreateInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission.")
    student_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="Students by global id."
    )
    emails: list[str] = strawberry.field(
        default_factory=list, description="Students by e-mail address, any letter case."
    )
    all_or_nothing: bool = strawberry.field(
        default=False,
        description="If any student is unknown or not a student, enrol nobody. By default the "
        "others are enrolled and each problem is reported.",
    )


@strawberry.type(description="What a bulk enrolment did. Safe to repeat: it is idempotent.")
class EnrollmentBulkCreatePayload:
    added: int = strawberry.field(description="Students newly enrolled.")
    already_present: int = strawberry.field(description="Students who were enrolled already.")
    user_errors: list[EnrollmentError] = strawberry.field(
        description="One per entry that was not enrolled: an unknown id (`NOT_FOUND`) or "
        "address (`UNKNOWN_EMAIL`), a user who is not an active student (`NOT_A_STUDENT`) or "
        "who mentors the mission (`MISSION_MENTOR`). `field` points at the entry, e.g. "
        '["input", "emails", "3"] or ["input", "studentIds", "0"]; the message names the '
        "person as you did (the address or the id you sent)."
    )


# --- mentor assignments --------------------------------------------------------------------


@strawberry.enum(description="Why a mentor assignment mutation failed.")
class MentorAssignmentErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such mission or user: the id names nothing.")
    NOT_A_MENTOR = ev("NOT_A_MENTOR", description="The user is not an active mentor.")
    NOT_ENROLLED = ev("NOT_ENROLLED", description="The student is not enrolled in the mission.")
    NOT_ASSIGNED = ev("NOT_ASSIGNED", description="That mentor does not mentor that student.")
    SAME_MENTOR = ev("SAME_MENTOR", description="The two mentors are the same person.")
    SELF_MENTORING = ev("SELF_MENTORING", description="A student cannot mentor themselves.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a mentor assignment mutation's input.")
class MentorAssignmentError(UserError):
    code: MentorAssignmentErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A mentor for one student in one mission.")
class MentorAssignInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission.")
    student_id: relay.GlobalID = strawberry.field(description="The student, enrolled in it.")
    mentor_id: relay.GlobalID = strawberry.field(description="The mentor (a MENTOR user).")


@strawberry.type(description="The assignment, or why there is none.")
class MentorAssignPayload:
    assignment: MentorAssignment | None = strawberry.field(description="The assignment.")
    created: bool = strawberry.field(
        description="False when it existed already: nothing changed (safe to retry)."
    )
    user_errors: list[MentorAssignmentError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Whether the mentor was unassigned.")
class MentorUnassignPayload:
    unassigned: bool = strawberry.field(description="True when the assignment was removed.")
    user_errors: list[MentorAssignmentError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A mentor of a whole mission.")
class MissionMentorInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission.")
    mentor_id: relay.GlobalID = strawberry.field(description="The mentor (a MENTOR user).")


@strawberry.type(description="The mission and its mentor, or why not.")
class MissionMentorPayload:
    mission: Mission | None = strawberry.field(description="The mission.")
    changed: bool = strawberry.field(
        description="False when nothing changed (already a mentor of the mission): safe to retry."
    )
    user_errors: list[MentorAssignmentError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Move students from one mentor to another, in one transaction.")
class MentorReassignInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission.")
    from_mentor_id: relay.GlobalID = strawberry.field(description="The current mentor.")
    to_mentor_id: relay.GlobalID = strawberry.field(description="The new mentor.")
    student_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None,
        description="Which students; omit to move all of the current mentor's students.",
    )


@strawberry.type(description="What a reassignment did.")
class MentorReassignPayload:
    moved: int = strawberry.field(description="How many students now have the new mentor.")
    user_errors: list[MentorAssignmentError] = strawberry.field(
        description="Empty on success; on any error nobody was moved. A problem with one of "
        '`studentIds` points at it, e.g. ["input", "studentIds", "2"].'
    )


def _batch(model: object | None) -> Batch | None:
    return Batch.from_row(model) if model is not None else None  # type: ignore[arg-type]


def _mission(model: object | None) -> Mission | None:
    return Mission.from_row(model) if model is not None else None  # type: ignore[arg-type]


def _enrollment(model: object | None) -> Enrollment | None:
    return Enrollment.from_row(model) if model is not None else None  # type: ignore[arg-type]


@strawberry.type
class CohortsMutation:
    @strawberry.mutation(description="Create a batch (needs `cohorts:manage`).")
    async def batch_create(
        self, info: Info, input: Annotated[BatchCreateInput, arg("The new batch.")]
    ) -> BatchPayload:
        viewer = info.context.viewer
        data = structure.BatchChanges(
            name=input.name,
            code=input.code,
            description=input.description,
            starts_on=input.starts_on,
            ends_on=input.ends_on,
        )
        batch, problems = await run_in_transaction(
            info, lambda uow: structure.create_batch(uow, viewer, data)
        )
        return BatchPayload(
            batch=_batch(batch), user_errors=user_errors(BatchError, BatchErrorCode, problems)
        )

    @strawberry.mutation(description="Change a batch (needs `cohorts:manage`).")
    async def batch_update(
        self, info: Info, input: Annotated[BatchUpdateInput, arg("The changes.")]
    ) -> BatchPayload:
        viewer = info.context.viewer
        data = structure.BatchChanges(
            name=input.name,
            code=input.code,
            description=input.description,
            starts_on=input.starts_on,
            ends_on=input.ends_on,
        )
        batch, problems = await run_in_transaction(
            info,
            lambda uow: structure.update_batch(uow, viewer, pk_of(input.id, "Batch", "id"), data),
        )
        return BatchPayload(
            batch=_batch(batch), user_errors=user_errors(BatchError, BatchErrorCode, problems)
        )

    @strawberry.mutation(
        description="Archive a batch: it stays readable and drops out of default lists."
    )
    async def batch_archive(
        self, info: Info, input: Annotated[BatchArchiveInput, arg("The batch.")]
    ) -> BatchPayload:
        viewer = info.context.viewer
        batch, problems = await run_in_transaction(
            info, lambda uow: structure.archive_batch(uow, viewer, pk_of(input.id, "Batch", "id"))
        )
        return BatchPayload(
            batch=_batch(batch), user_errors=user_errors(BatchError, BatchErrorCode, problems)
        )

    @strawberry.mutation(description="Create a mission in a batch (needs `cohorts:manage`).")
    async def mission_create(
        self, info: Info, input: Annotated[MissionCreateInput, arg("The new mission.")]
    ) -> MissionPayload:
        viewer = info.context.viewer

        async def change(uow: UnitOfWork) -> object:
            data = structure.MissionChanges(
                batch_id=pk_of(input.batch_id, "Batch", "batchId"),
                title=input.title,
                code=input.code,
                description=input.description,
                status=str(input.status.value),
                starts_on=input.starts_on,
                ends_on=input.ends_on,
            )
            return await structure.create_mission(uow, viewer, data)

        mission, problems = await run_in_transaction(info, change)
        return MissionPayload(
            mission=_mission(mission),
            user_errors=user_errors(MissionError, MissionErrorCode, problems),
        )

    @strawberry.mutation(description="Change a mission (needs `cohorts:manage`).")
    async def mission_update(
        self, info: Info, input: Annotated[MissionUpdateInput, arg("The changes.")]
    ) -> MissionPayload:
        viewer = info.context.viewer
        data = structure.MissionChanges(
            title=input.title,
            code=input.code,
            description=input.description,
            status=str(input.status.value) if input.status else None,
            starts_on=input.starts_on,
            ends_on=input.ends_on,
        )
        mission, problems = await run_in_transaction(
            info,
            lambda uow: structure.update_mission(
                uow, viewer, pk_of(input.id, "Mission", "id"), data
            ),
        )
        return MissionPayload(
            mission=_mission(mission),
            user_errors=user_errors(MissionError, MissionErrorCode, problems),
        )

    @strawberry.mutation(
        description="Enrol a student in a mission (needs `enrollments:manage`). Idempotent."
    )
    async def enrollment_create(
        self, info: Info, input: Annotated[EnrollmentCreateInput, arg("Who and where.")]
    ) -> EnrollmentPayload:
        viewer = info.context.viewer
        result, problems = await run_in_transaction(
            info,
            lambda uow: roster.enroll(
                uow,
                viewer,
                pk_of(input.mission_id, "Mission", "missionId"),
                pk_of(input.student_id, "User", "studentId"),
            ),
        )
        return EnrollmentPayload(
            enrollment=_enrollment(result[0]) if result else None,
            created=bool(result and result[1]),
            user_errors=user_errors(EnrollmentError, EnrollmentErrorCode, problems),
        )

    @strawberry.mutation(description="Change an enrolment's status (needs `enrollments:manage`).")
    async def enrollment_update(
        self, info: Info, input: Annotated[EnrollmentUpdateInput, arg("The change.")]
    ) -> EnrollmentUpdatePayload:
        viewer = info.context.viewer
        result, problems = await run_in_transaction(
            info,
            lambda uow: roster.set_enrollment_status(
                uow, viewer, pk_of(input.id, "Enrollment", "id"), str(input.status.value)
            ),
        )
        return EnrollmentUpdatePayload(
            enrollment=_enrollment(result),
            user_errors=user_errors(EnrollmentError, EnrollmentErrorCode, problems),
        )

    @strawberry.mutation(
        description="Enrol up to 5,000 students in a mission at once, by id or e-mail. "
        "Idempotent: students already enrolled are counted, not duplicated."
    )
    async def enrollment_bulk_create(
        self, info: Info, input: Annotated[EnrollmentBulkCreateInput, arg("Who and where.")]
    ) -> EnrollmentBulkCreatePayload:
        viewer = info.context.viewer
        ids = sent_ids(input.student_ids, "User")

        async def change(uow: UnitOfWork) -> roster.BulkEnrollment:
            return await roster.enroll_many(
                uow,
                viewer,
                pk_of(input.mission_id, "Mission", "missionId"),
                student_ids=ids,
                emails=input.emails,
                all_or_nothing=input.all_or_nothing,
            )

        result, problems = await run_in_transaction(info, change)
        if result is None:
            return EnrollmentBulkCreatePayload(
                added=0,
                already_present=0,
                user_errors=user_errors(EnrollmentError, EnrollmentErrorCode, problems),
            )
        return EnrollmentBulkCreatePayload(
            added=result.added,
            already_present=result.already_present,
            user_errors=user_errors(EnrollmentError, EnrollmentErrorCode, result.problems),
        )

    @strawberry.mutation(
        description="Assign a mentor to a student in a mission (needs `mentors:assign`). "
        "Idempotent."
    )
    async def mentor_assign(
        self, info: Info, input: Annotated[MentorAssignInput, arg("Who mentors whom, where.")]
    ) -> MentorAssignPayload:
        viewer = info.context.viewer
        result, problems = await run_in_transaction(
            info,
            lambda uow: roster.assign_mentor(
                uow,
                viewer,
                pk_of(input.mission_id, "Mission", "missionId"),
                pk_of(input.student_id, "User", "studentId"),
                pk_of(input.mentor_id, "User", "mentorId"),
            ),
        )
        return MentorAssignPayload(
            assignment=MentorAssignment.from_row(result[0]) if result else None,  # type: ignore[arg-type]
            created=bool(result and result[1]),
            user_errors=user_errors(MentorAssignmentError, MentorAssignmentErrorCode, problems),
        )

    @strawberry.mutation(description="Remove a mentor from a student in a mission.")
    async def mentor_unassign(
        self, info: Info, input: Annotated[MentorAssignInput, arg("Which assignment.")]
    ) -> MentorUnassignPayload:
        viewer = info.context.viewer
        result, problems = await run_in_transaction(
            info,
            lambda uow: roster.unassign_mentor(
                uow,
                viewer,
                pk_of(input.mission_id, "Mission", "missionId"),
                pk_of(input.student_id, "User", "studentId"),
                pk_of(input.mentor_id, "User", "mentorId"),
            ),
        )
        return MentorUnassignPayload(
            unassigned=bool(result),
            user_errors=user_errors(MentorAssignmentError, MentorAssignmentErrorCode, problems),
        )

    @strawberry.mutation(
        description="Make a mentor the mentor of a whole mission (`mentors:assign`): they see "
        "its roster and mentor every student enrolled, now or later, without an assignment "
        "per student. Shown in `Mission.mentors` with `wholeMission`."
    )
    async def mission_mentor_add(
        self, info: Info, input: Annotated[MissionMentorInput, arg("Which mission and mentor.")]
    ) -> MissionMentorPayload:
        viewer = info.context.viewer
        result, problems = await run_in_transaction(
            info,
            lambda uow: roster.add_mission_mentor(
                uow, viewer, pk_of(input.mission_id, "Mission", "missionId"),
                pk_of(input.mentor_id, "User", "mentorId"),
            ),
        )  # fmt: skip
        return MissionMentorPayload(
            mission=_mission(result[0]) if result else None,
            changed=bool(result and result[1]),
            user_errors=user_errors(MentorAssignmentError, MentorAssignmentErrorCode, problems),
        )

    @strawberry.mutation(
        description="A mentor no longer mentors the whole mission (`mentors:assign`); their "
        "assignments to single students stay."
    )
    async def mission_mentor_remove(
        self, info: Info, input: Annotated[MissionMentorInput, arg("Which mission and mentor.")]
    ) -> MissionMentorPayload:
        viewer = info.context.viewer
        result, problems = await run_in_transaction(
            info,
            lambda uow: roster.remove_mission_mentor(
                uow, viewer, pk_of(input.mission_id, "Mission", "missionId"),
                pk_of(input.mentor_id, "User", "mentorId"),
            ),
        )  # fmt: skip
        return MissionMentorPayload(
            mission=_mission(result),
            changed=result is not None,
            user_errors=user_errors(MentorAssignmentError, MentorAssignmentErrorCode, problems),
        )

    @strawberry.mutation(
        description="Move students from one mentor to another in one transaction: all or none."
    )
    async def mentor_reassign(
        self, info: Info, input: Annotated[MentorReassignInput, arg("Who moves where.")]
    ) -> MentorReassignPayload:
        viewer = info.context.viewer

        async def change(uow: UnitOfWork) -> list[int]:
            students = None
            if input.student_ids is not None:
                students = sent_ids(input.student_ids, "User")
            return await roster.reassign_mentor(
                uow,
                viewer,
                pk_of(input.mission_id, "Mission", "missionId"),
                pk_of(input.from_mentor_id, "User", "fromMentorId"),
                pk_of(input.to_mentor_id, "User", "toMentorId"),
                students,
            )

        moved, problems = await run_in_transaction(info, change)
        return MentorReassignPayload(
            moved=len(moved or []),
            user_errors=user_errors(MentorAssignmentError, MentorAssignmentErrorCode, problems),
        )
