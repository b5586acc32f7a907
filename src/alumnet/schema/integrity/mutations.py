"""Integrity and outreach mutations."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Annotated

import strawberry
from strawberry import relay

from alumnet.domain.integrity import decisions
from alumnet.domain.outreach import calls, risk
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.integrity.types import (
    Appeal,
    CallOutcome,
    DecisionKind,
    FlagKind,
    IntegrityDecision,
    IntegrityFlag,
)
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import global_pk, optional_pk
from alumnet.schema.ops.types import Job, job_node
from alumnet.schema.outreach.types import CallList, CallListSource, FollowUp

ev = strawberry.enum_value


@strawberry.enum(description="Why an integrity mutation failed.")
class IntegrityErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such enrolment, flag, decision or appeal.")
    ALREADY_DELISTED = ev("ALREADY_DELISTED", description="The student is delisted already.")
    ALREADY_APPEALED = ev("ALREADY_APPEALED", description="This decision was appealed already.")
    ALREADY_REVIEWED = ev("ALREADY_REVIEWED", description="This appeal was reviewed already.")
    DEADLINE_PASSED = ev("DEADLINE_PASSED", description="The time to appeal is over.")
    NOT_IN_FORCE = ev("NOT_IN_FORCE", description="The decision is no longer in force.")
    DATE_IN_PAST = ev("DATE_IN_PAST", description="A date is in the past.")
    OUT_OF_RANGE = ev("OUT_OF_RANGE", description="A number is out of range.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with an integrity mutation's input.")
class IntegrityError(UserError):
    code: IntegrityErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A flag on an enrolment.")
class IntegrityFlagRaiseInput:
    enrollment_id: relay.GlobalID = strawberry.field(description="The enrolment.")
    kind: FlagKind = strawberry.field(description="What it is about.")
    evidence: str = strawberry.field(description="What was seen (at most 5,000 characters).")


@strawberry.type(description="The flag, or why there is none.")
class IntegrityFlagPayload:
    flag: IntegrityFlag | None = strawberry.field(description="The flag.")
    user_errors: list[IntegrityError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A decision on an enrolment (managers).")
class IntegrityDecideInput:
    enrollment_id: relay.GlobalID = strawberry.field(description="The enrolment.")
    kind: DecisionKind = strawberry.field(description="Warn, ban or delist.")
    reason: str = strawberry.field(description="Why (shown to the student).")
    ban_ends_on: date | None = strawberry.field(
        default=None, description="A ban's last day; omit for an indefinite ban."
    )
    penalty_points: int = strawberry.field(default=0, description="Points to take away.")
    flag_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The flag it decides, if any."
    )


@strawberry.type(description="The decision, or why there is none.")
class IntegrityDecisionPayload:
    decision: IntegrityDecision | None = strawberry.field(description="The decision.")
    user_errors: list[IntegrityError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Your appeal of a decision about you.")
class AppealSubmitInput:
    decision_id: relay.GlobalID = strawberry.field(description="The decision.")
    statement: str = strawberry.field(description="Your statement (at most 5,000 characters).")


@strawberry.input(description="A manager's review of an appeal.")
class AppealReviewInput:
    appeal_id: relay.GlobalID = strawberry.field(description="The appeal.")
    accept: bool = strawberry.field(
        description="Accept (restore access, reverse the penalty) or reject."
    )
    reason: str = strawberry.field(description="Why (shown to the student).")


@strawberry.type(description="The appeal, or why nothing changed.")
class AppealPayload:
    appeal: Appeal | None = strawberry.field(description="The appeal.")
    user_errors: list[IntegrityError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="Why an outreach mutation failed.")
class OutreachErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such mission, batch, list or follow-up.")
    NOT_ON_LIST = ev("NOT_ON_LIST", description="The student is not on this call list.")
    NOT_AN_SRE = ev("NOT_AN_SRE", description="Call lists are assigned to SREs.")
    ALREADY_CLOSED = ev("ALREADY_CLOSED", description="The follow-up is closed already.")
    DATE_IN_PAST = ev("DATE_IN_PAST", description="A date is in the past.")
    OUT_OF_RANGE = ev("OUT_OF_RANGE", description="A number is out of range.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    NO_RISK_MODEL = ev(
        "NO_RISK_MODEL",
        description="No trained early-warning model (none yet, or too little history): "
        "build the list from the rules.",
    )
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with an outreach mutation's input.")
class OutreachError(UserError):
    code: OutreachErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="Refresh the at-risk lists now (otherwise nightly).")
class AtRiskRefreshInput:
    mission_id: relay.GlobalID | None = strawberry.field(
        default=None, description="One mission; omit for every active mission."
    )


@strawberry.type(description="The refresh job, or why there is none.")
class AtRiskRefreshPayload:
    job: Job | None = strawberry.field(description="Follow it with `jobUpdated(id:)`.")
    user_errors: list[OutreachError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A mission's at-risk rule; omitted values stay as they are.")
class RiskRulesUpdateInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission.")
    attendance_below_percent: int | None = strawberry.field(
        default=None, description="At risk under this attendance (0 to 100)."
    )
    window_days: int | None = strawberry.field(
        default=None, description="Over the last this many days (1 to 120)."
    )
    missed_submissions: int | None = strawberry.field(
        default=None, description="At risk with this many missed submissions (1 to 100)."
    )
    attendance_alert_days: int | None = strawberry.field(
        default=None,
        description="Tell a student after this many days in a row without attendance "
        "(0 to 60; 0: never).",
    )


@strawberry.type(description="The rule now.")
class RiskRulesPayload:
    attendance_below_percent: int | None = strawberry.field(description="Threshold.")
    window_days: int | None = strawberry.field(description="Window.")
    missed_submissions: int | None = strawberry.field(description="Missed submissions.")
    attendance_alert_days: int | None = strawberry.field(
        description="Days without attendance before the student is told."
    )
    user_errors: list[OutreachError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A call list from the at-risk students of a mission or batch.")
class CallListGenerateInput:
    mission_id: relay.GlobalID | None = strawberry.field(default=None, description="A mission.")
    batch_id: relay.GlobalID | None = strawberry.field(default=None, description="Or a batch.")
    assigned_to_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The SRE to call; default: you."
    )
    limit: int = strawberry.field(default=50, description="At most this many (1 to 500).")
    title: str | None = strawberry.field(default=None, description="A title.")
    source: CallListSource = strawberry.field(
        default=CallListSource.RULES,
        description="Whom to take: the rules' at-risk list (the default), the early-warning "
        "model's predictions, or both.",
    )
    min_probability: float = strawberry.field(
        default=0.5,
        description="With PREDICTION or BOTH: students predicted at least this likely (0 to "
        "1) to finish below the mission's bar.",
    )


@strawberry.type(description="The call list, or why there is none.")
class CallListPayload:
    call_list: CallList | None = strawberry.field(description="The list.")
    students: int = strawberry.field(description="How many students are on it.")
    user_errors: list[OutreachError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A call to a student on a call list.")
class CallLogRecordInput:
    call_list_id: relay.GlobalID = strawberry.field(description="The call list.")
    student_id: relay.GlobalID = strawberry.field(description="The student called.")
    outcome: CallOutcome = strawberry.field(description="How it went.")
    notes: str = strawberry.field(default="", description="Your notes (staff and mentors).")
    student_response: str = strawberry.field(default="", description="What they said.")
    follow_up_on: date | None = strawberry.field(
        default=None,
        description="Follow up on this day (required for RESCHEDULE; give it for a promise).",
    )


@strawberry.type(description="What was recorded.")
class CallLogPayload:
    recorded: bool = strawberry.field(description="Whether the call was recorded.")
    follow_up: FollowUp | None = strawberry.field(description="The follow-up it created.")
    user_errors: list[OutreachError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Close a follow-up.")
class FollowUpCloseInput:
    id: relay.GlobalID = strawberry.field(description="The follow-up.")
    done: bool = strawberry.field(description="Done (true) or missed (false).")
    note: str | None = strawberry.field(default=None, description="What happened.")


@strawberry.type(description="The follow-up, or why nothing changed.")
class FollowUpPayload:
    follow_up: FollowUp | None = strawberry.field(description="The follow-up.")
    user_errors: list[OutreachError] = strawberry.field(description="Empty on success.")


@strawberry.type
class IntegrityMutation:
    @strawberry.mutation(
        description="Flag a student's work (mentors for their mentees; SREs and managers)."
    )
    async def integrity_flag_raise(
        self, info: Info, input: Annotated[IntegrityFlagRaiseInput, arg("The flag.")]
    ) -> IntegrityFlagPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: decisions.raise_flag(
                uow, viewer, pk_of(input.enrollment_id, "Enrollment", "enrollmentId"),
                kind=str(input.kind.value), evidence=input.evidence,
            ),
        )  # fmt: skip
        return IntegrityFlagPayload(
            flag=IntegrityFlag.from_row(found) if found is not None else None,
            user_errors=user_errors(IntegrityError, IntegrityErrorCode, problems),
        )

    @strawberry.mutation(
        description="Warn, ban or delist a student from a mission (managers); audited, the "
        "student is e-mailed and may appeal for 14 days."
    )
    async def integrity_decide(
        self, info: Info, input: Annotated[IntegrityDecideInput, arg("The decision.")]
    ) -> IntegrityDecisionPayload:
        viewer = info.context.viewer
        data = decisions.DecisionInput(
            kind=str(input.kind.value), reason=input.reason, ban_ends_on=input.ban_ends_on,
            penalty_points=input.penalty_points,
            flag_id=optional_pk(input.flag_id, "IntegrityFlag"),
        )  # fmt: skip
        found, problems = await run_in_transaction(
            info,
            lambda uow: decisions.decide(
                uow, viewer, pk_of(input.enrollment_id, "Enrollment", "enrollmentId"), data
            ),
        )
        return IntegrityDecisionPayload(
            decision=IntegrityDecision.from_row(found) if found is not None else None,
            user_errors=user_errors(IntegrityError, IntegrityErrorCode, problems),
        )

    @strawberry.mutation(description="Appeal a decision about you, once, before its deadline.")
    async def appeal_submit(
        self, info: Info, input: Annotated[AppealSubmitInput, arg("The appeal.")]
    ) -> AppealPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: decisions.submit_appeal(
                uow, viewer, pk_of(input.decision_id, "IntegrityDecision", "decisionId"),
                statement=input.statement,
            ),
        )  # fmt: skip
        return AppealPayload(
            appeal=Appeal.from_row(found) if found is not None else None,
            user_errors=user_errors(IntegrityError, IntegrityErrorCode, problems),
        )

    @strawberry.mutation(
        description="Accept or reject an appeal (managers); the student is e-mailed."
    )
    async def appeal_review(
        self, info: Info, input: Annotated[AppealReviewInput, arg("The review.")]
    ) -> AppealPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: decisions.review_appeal(
                uow, viewer, pk_of(input.appeal_id, "Appeal", "appealId"),
                accept=input.accept, reason=input.reason,
            ),
        )  # fmt: skip
        return AppealPayload(
            appeal=Appeal.from_row(found) if found is not None else None,
            user_errors=user_errors(IntegrityError, IntegrityErrorCode, problems),
        )

    @strawberry.mutation(description="Change a mission's at-risk rule (needs `cohorts:manage`).")
    async def risk_rules_update(
        self, info: Info, input: Annotated[RiskRulesUpdateInput, arg("The rule.")]
    ) -> RiskRulesPayload:
        viewer = info.context.viewer
        changes = {
            "attendance_below_percent": input.attendance_below_percent,
            "window_days": input.window_days,
            "missed_submissions": input.missed_submissions,
            "attendance_alert_days": input.attendance_alert_days,
        }
        found, problems = await run_in_transaction(
            info,
            lambda uow: risk.update_rules(
                uow, viewer, pk_of(input.mission_id, "Mission", "missionId"), changes
            ),
        )
        return RiskRulesPayload(
            attendance_below_percent=found["attendance_below_percent"] if found else None,
            window_days=found["window_days"] if found else None,
            missed_submissions=found["missed_submissions"] if found else None,
            attendance_alert_days=found["attendance_alert_days"] if found else None,
            user_errors=user_errors(OutreachError, OutreachErrorCode, problems),
        )

    @strawberry.mutation(description="Refresh the at-risk lists now, in the background.")
    async def at_risk_refresh(
        self, info: Info, input: Annotated[AtRiskRefreshInput, arg("Which missions.")]
    ) -> AtRiskRefreshPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: risk.request_refresh(uow, viewer, optional_pk(input.mission_id, "Mission")),
        )
        return AtRiskRefreshPayload(
            job=await job_node(info, found),
            user_errors=user_errors(OutreachError, OutreachErrorCode, problems),
        )

    @strawberry.mutation(
        description="Generate a prioritised call list from the at-risk students of a mission "
        "or a batch, assigned to an SRE."
    )
    async def call_list_generate(
        self, info: Info, input: Annotated[CallListGenerateInput, arg("The list.")]
    ) -> CallListPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: calls.generate(
                uow, viewer, mission_id=optional_pk(input.mission_id, "Mission"),
                batch_id=optional_pk(input.batch_id, "Batch"),
                assigned_to_id=optional_pk(input.assigned_to_id, "User"),
                limit=input.limit, title=input.title, source=str(input.source.value),
                min_probability=input.min_probability,
            ),
        )  # fmt: skip
        return CallListPayload(
            call_list=CallList.from_row(found[0]) if found is not None else None,
            students=found[1] if found is not None else 0,
            user_errors=user_errors(OutreachError, OutreachErrorCode, problems),
        )

    @strawberry.mutation(
        description="Record a call's outcome; a reschedule or a promise creates a follow-up."
    )
    async def call_log_record(
        self, info: Info, input: Annotated[CallLogRecordInput, arg("The call.")]
    ) -> CallLogPayload:
        viewer = info.context.viewer

        def data() -> calls.CallInput:
            return calls.CallInput(
                call_list_id=pk_of(input.call_list_id, "CallList", "callListId"),
                student_id=global_pk(input.student_id, "User") or -1,
                outcome=str(input.outcome.value), notes=input.notes,
                student_response=input.student_response, follow_up_on=input.follow_up_on,
            )  # fmt: skip

        found, problems = await run_in_transaction(
            info, lambda uow: calls.record_call(uow, viewer, data())
        )
        return CallLogPayload(
            recorded=found is not None,
            follow_up=FollowUp.from_row(found[1]) if found is not None and found[1] else None,
            user_errors=user_errors(OutreachError, OutreachErrorCode, problems),
        )

    @strawberry.mutation(description="Close a follow-up as done or missed.")
    async def follow_up_close(
        self, info: Info, input: Annotated[FollowUpCloseInput, arg("The follow-up.")]
    ) -> FollowUpPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: calls.close_follow_up(
                uow, viewer, pk_of(input.id, "FollowUp", "id"), done=input.done, note=input.note
            ),
        )
        return FollowUpPayload(
            follow_up=FollowUp.from_row(found) if found is not None else None,
            user_errors=user_errors(OutreachError, OutreachErrorCode, problems),
        )
