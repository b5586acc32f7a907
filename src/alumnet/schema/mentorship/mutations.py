"""Mentorship mutations: one's offer to mentor, requests and their answers, ending a
mentorship, and the matching's weights."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.mentorship import assignment, matching, offers, requests, sessions
from alumnet.persistence.models import Mentorship as MentorshipModel
from alumnet.schema.context import Info
from alumnet.schema.errors import user_errors
from alumnet.schema.mentorship.types import (
    MatchingWeights,
    MenteeKind,
    MentorHelpKind,
    MentorOffer,
    Mentorship,
    MentorshipError,
    MentorshipErrorCode,
    MentorshipFeedback,
    MentorshipGoal,
    MentorshipGoalStatus,
    MentorshipNote,
    MentorshipRequest,
    MentorshipSession,
)
from alumnet.schema.mutations import arg, pk_of, run_in_transaction, sent_ids
from alumnet.schema.ops.types import Job, job_node


@strawberry.input(description="A weekly window, in the offer's time zone.")
class AvailabilityWindowInput:
    weekday: int = strawberry.field(description="0 (Monday) to 6 (Sunday).")
    start: str = strawberry.field(description="Start, HH:MM.")
    end: str = strawberry.field(description="End, HH:MM (after the start).")


@strawberry.input(
    description="Your offer to mentor (`mentorship:offer`: alumni, mission mentors and staff). "
    "The first time, give timeZone, capacity and preferredMentee; after that, omitted fields "
    "stay as they are."
)
class MentorOfferSetInput:
    headline: str | None = strawberry.field(default=None, description="In a line (200 at most).")
    topics: list[str] | None = strawberry.field(
        default=None, description="Topics, by the profiles' skill names (20 at most)."
    )
    offers: list[MentorHelpKind] | None = strawberry.field(
        default=None, description="The kinds of help you offer."
    )
    industries: list[str] | None = strawberry.field(
        default=None, description="Industries you know (10 at most)."
    )
    languages: list[str] | None = strawberry.field(
        default=None, description="Languages you mentor in (ISO 639-1, 10 at most)."
    )
    availability: list[AvailabilityWindowInput] | None = strawberry.field(
        default=None, description="When you are available each week (21 windows at most)."
    )
    time_zone: str | None = strawberry.field(default=None, description="Your time zone (IANA).")
    capacity: int | None = strawberry.field(
        default=None,
        description="Mentees at once (1 to 50); below your active ones, you are "
        "offered to nobody until some end.",
    )
    preferred_mentee: MenteeKind | None = strawberry.field(default=None, description="Whom.")
    paused: bool | None = strawberry.field(
        default=None, description="True: pause (nobody new is offered you); false: resume."
    )


@strawberry.type(description="Your offer.")
class MentorOfferPayload:
    offer: MentorOffer | None = strawberry.field(description="The offer, on success.")
    user_errors: list[MentorshipError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A request to a mentor.")
class MentorshipRequestCreateInput:
    mentor_id: relay.GlobalID = strawberry.field(description="The mentor's offer (its id).")
    goals: str = strawberry.field(description="What you want to achieve (2,000 at most).")
    message: str | None = strawberry.field(default=None, description="A note (2,000 at most).")


@strawberry.input(description="Your answer to a request to mentor.")
class MentorshipRequestAnswerInput:
    id: relay.GlobalID = strawberry.field(description="The request.")
    accept: bool = strawberry.field(description="True: accept (within your capacity).")
    reason: str | None = strawberry.field(
        default=None, description="Why you decline (required then; 500 at most)."
    )


@strawberry.input(description="A request of yours to withdraw.")
class MentorshipRequestWithdrawInput:
    id: relay.GlobalID = strawberry.field(description="The request.")


@strawberry.type(description="A request changed.")
class MentorshipRequestPayload:
    request: MentorshipRequest | None = strawberry.field(description="The request.")
    mentorship: Mentorship | None = strawberry.field(
        default=None, description="The mentorship an acceptance began."
    )
    user_errors: list[MentorshipError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A mentorship to end.")
class MentorshipEndInput:
    id: relay.GlobalID = strawberry.field(description="The mentorship.")
    completed: bool = strawberry.field(
        description="True: it reached its goals; false: it ends early (a reason is required)."
    )
    reason: str | None = strawberry.field(default=None, description="Why (500 at most).")


@strawberry.type(description="A mentorship changed.")
class MentorshipPayload:
    mentorship: Mentorship | None = strawberry.field(description="The mentorship.")
    user_errors: list[MentorshipError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="New weights (0 to 100 each); omitted ones stay as they are.")
class MatchingWeightsUpdateInput:
    skills: float | None = strawberry.field(default=None, description="Shared topics.")
    industry: float | None = strawberry.field(default=None, description="Industry.")
    programme: float | None = strawberry.field(default=None, description="Programme.")
    location: float | None = strawberry.field(default=None, description="Location.")
    time_zone: float | None = strawberry.field(default=None, description="Time-zone overlap.")
    language: float | None = strawberry.field(default=None, description="Language.")
    load: float | None = strawberry.field(default=None, description="Free places.")


@strawberry.type(description="The weights now.")
class MatchingWeightsPayload:
    weights: MatchingWeights | None = strawberry.field(description="On success.")
    user_errors: list[MentorshipError] = strawberry.field(description="Empty on success.")


def _errors(problems: Any) -> list[MentorshipError]:
    return user_errors(MentorshipError, MentorshipErrorCode, problems)


def _offer_fields(given: MentorOfferSetInput) -> offers.OfferFields:
    def listed(value: list[Any] | None) -> tuple[Any, ...] | None:
        return tuple(value) if value is not None else None

    return offers.OfferFields(
        headline=given.headline, topics=listed(given.topics),
        offers=tuple(str(o.value) for o in given.offers) if given.offers is not None else None,
        industries=listed(given.industries), languages=listed(given.languages),
        availability=tuple(offers.Window(w.weekday, w.start, w.end)
                           for w in given.availability[:100])
        if given.availability is not None else None,
        time_zone=given.time_zone, capacity=given.capacity,
        preferred_mentee=str(given.preferred_mentee.value)
        if given.preferred_mentee is not None else None,
        paused=given.paused,
    )  # fmt: skip


@strawberry.input(description="A session to book (either side of an active mentorship).")
class MentorshipSessionScheduleInput:
    mentorship_id: relay.GlobalID = strawberry.field(description="The mentorship.")
    starts_at: datetime = strawberry.field(description="When (ISO 8601 with an offset).")
    minutes: int = strawberry.field(description="How long (15 to 480).")
    join_url: str | None = strawberry.field(default=None, description="A link to join (https).")
    place: str | None = strawberry.field(default=None, description="Or a place.")
    agenda: str | None = strawberry.field(default=None, description="What it is for.")


@strawberry.type(description="A session booked or cancelled.")
class MentorshipSessionPayload:
    session: MentorshipSession | None = strawberry.field(description="The session.")
    user_errors: list[MentorshipError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A session to cancel.")
class MentorshipSessionCancelInput:
    id: relay.GlobalID = strawberry.field(description="The session.")


@strawberry.input(description="A note.")
class MentorshipNoteAddInput:
    mentorship_id: relay.GlobalID = strawberry.field(description="The mentorship.")
    body: str = strawberry.field(description="The note (10,000 at most).")
    shared: bool = strawberry.field(
        default=False, description="Share it with the other side (else only you read it)."
    )
    session_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The session it is about."
    )


@strawberry.type(description="A note added.")
class MentorshipNotePayload:
    note: MentorshipNote | None = strawberry.field(description="The note.")
    user_errors: list[MentorshipError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A goal to set.")
class MentorshipGoalAddInput:
    mentorship_id: relay.GlobalID = strawberry.field(description="The mentorship.")
    title: str = strawberry.field(description="The goal (200 at most).")


@strawberry.input(description="A goal's progress or title.")
class MentorshipGoalUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The goal.")
    title: str | None = strawberry.field(default=None, description="New title.")
    status: MentorshipGoalStatus | None = strawberry.field(default=None, description="Progress.")


@strawberry.type(description="A goal changed.")
class MentorshipGoalPayload:
    goal: MentorshipGoal | None = strawberry.field(description="The goal.")
    user_errors: list[MentorshipError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Your rating of the other side.")
class MentorshipFeedbackGiveInput:
    mentorship_id: relay.GlobalID = strawberry.field(description="The mentorship.")
    session_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="A session that took place; omit to rate the mentorship at its end.",
    )
    rating: int = strawberry.field(description="1 to 5.")
    comment: str | None = strawberry.field(default=None, description="2,000 at most.")


@strawberry.type(description="Your rating.")
class MentorshipFeedbackPayload:
    feedback: MentorshipFeedback | None = strawberry.field(description="Your rating.")
    user_errors: list[MentorshipError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Match a mission's students who have no mentor with mentors.")
class MissionMentorsAutoAssignInput:
    mission_id: relay.GlobalID = strawberry.field(description="The mission.")
    dry_run: bool = strawberry.field(
        description="True: only propose (the job's result has `proposal`, a list of "
        "`{studentId, mentorId, score}` with global ids, and the score distribution); false: "
        "assign."
    )
    mentor_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None,
        description="The mentors to choose from (500 at most), each an active mentor; omit: "
        "every active user with the MENTOR role.",
    )
    max_per_mentor: int | None = strawberry.field(
        default=None,
        description="Students a mentor may have in the mission, those they "
        "have already included; omit: an even share of its students.",
    )


@strawberry.type(description="The matching's job.")
class MissionMentorsAutoAssignPayload:
    job: Job | None = strawberry.field(
        description="Follow it with `jobUpdated`; its result says what was (or would be) assigned."
    )
    user_errors: list[MentorshipError] = strawberry.field(description="Empty on success.")


def _session_of(input: Any) -> int | None:
    if input.session_id is None:
        return None
    return pk_of(input.session_id, "MentorshipSession", "sessionId")


async def _mentorship_of(info: Info, request_id: int) -> Mentorship | None:
    async with info.context.reads.connect() as conn:
        row = (
            await conn.execute(
                select(MentorshipModel.__table__).where(MentorshipModel.request_id == request_id)
            )
        ).first()
    return Mentorship.from_row(row) if row is not None else None


@strawberry.type
class MentorshipMutation:
    @strawberry.mutation(description="Offer to mentor, or change, pause or resume your offer.")
    async def mentor_offer_set(
        self, info: Info, input: Annotated[MentorOfferSetInput, arg("Your offer.")]
    ) -> MentorOfferPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: offers.set_offer(uow, viewer, _offer_fields(input))
        )
        return MentorOfferPayload(
            offer=MentorOffer.from_row(found) if found is not None else None,
            user_errors=_errors(problems),
        )

    @strawberry.mutation(
        description="Ask a mentor to mentor you (students and alumni); they are told, and the "
        "request expires unanswered after `ALUMNET_MENTORSHIP_REQUEST_DAYS` (14 by default)."
    )
    async def mentorship_request_create(
        self, info: Info, input: Annotated[MentorshipRequestCreateInput, arg("The request.")]
    ) -> MentorshipRequestPayload:
        viewer = info.context.viewer
        days = info.context.runtime.settings.mentorship_request_days
        found, problems = await run_in_transaction(
            info,
            lambda uow: requests.create(
                uow, viewer, pk_of(input.mentor_id, "MentorOffer", "mentorId"),
                goals=input.goals, message=input.message, expires_in=timedelta(days=days),
            ),
        )  # fmt: skip
        return MentorshipRequestPayload(
            request=MentorshipRequest.from_row(found) if found is not None else None,
            user_errors=_errors(problems),
        )

    @strawberry.mutation(
        description="Accept a request made to you (a mentorship begins; never past your "
        "capacity) or decline it with a reason; the mentee is told."
    )
    async def mentorship_request_answer(
        self, info: Info, input: Annotated[MentorshipRequestAnswerInput, arg("The answer.")]
    ) -> MentorshipRequestPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: requests.answer(
                uow, viewer, pk_of(input.id, "MentorshipRequest", "id"), accept=input.accept,
                reason=input.reason,
            ),
        )  # fmt: skip
        mentorship = None
        if found is not None and found.status == "accepted":
            mentorship = await _mentorship_of(info, found.id)
        return MentorshipRequestPayload(
            request=MentorshipRequest.from_row(found) if found is not None else None,
            mentorship=mentorship, user_errors=_errors(problems),
        )  # fmt: skip

    @strawberry.mutation(description="Withdraw a request of yours that is still pending.")
    async def mentorship_request_withdraw(
        self, info: Info, input: Annotated[MentorshipRequestWithdrawInput, arg("The request.")]
    ) -> MentorshipRequestPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: requests.withdraw(uow, viewer, pk_of(input.id, "MentorshipRequest", "id")),
        )
        return MentorshipRequestPayload(
            request=MentorshipRequest.from_row(found) if found is not None else None,
            user_errors=_errors(problems),
        )

    @strawberry.mutation(
        description="Complete a mentorship, or end it early with a reason (either side); the "
        "other side is told."
    )
    async def mentorship_end(
        self, info: Info, input: Annotated[MentorshipEndInput, arg("The mentorship.")]
    ) -> MentorshipPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: requests.end(
                uow, viewer, pk_of(input.id, "Mentorship", "id"), completed=input.completed,
                reason=input.reason,
            ),
        )  # fmt: skip
        return MentorshipPayload(
            mentorship=Mentorship.from_row(found) if found is not None else None,
            user_errors=_errors(problems),
        )

    @strawberry.mutation(description="Tune the mentor matching's weights (`mentorship:manage`).")
    async def matching_weights_update(
        self, info: Info, input: Annotated[MatchingWeightsUpdateInput, arg("The weights.")]
    ) -> MatchingWeightsPayload:
        viewer = info.context.viewer
        given = {k: float(v) for k, v in vars(input).items() if v is not None}
        found, problems = await run_in_transaction(
            info, lambda uow: matching.set_weights(uow, viewer, given)
        )
        return MatchingWeightsPayload(
            weights=MatchingWeights(**found) if found is not None else None,
            user_errors=_errors(problems),
        )

    @strawberry.mutation(
        description="Book a session (either side of an active mentorship): in the future, "
        "never overlapping either side's other sessions; the other side is told, and both "
        "are reminded a day and an hour before."
    )
    async def mentorship_session_schedule(
        self, info: Info, input: Annotated[MentorshipSessionScheduleInput, arg("The session.")]
    ) -> MentorshipSessionPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: sessions.schedule(
                uow, viewer, pk_of(input.mentorship_id, "Mentorship", "mentorshipId"),
                starts_at=input.starts_at, minutes=input.minutes, join_url=input.join_url,
                place=input.place, agenda=input.agenda,
            ),
        )  # fmt: skip
        return MentorshipSessionPayload(
            session=MentorshipSession.from_row(found) if found is not None else None,
            user_errors=_errors(problems),
        )

    @strawberry.mutation(description="Cancel a session still to come; the other side is told.")
    async def mentorship_session_cancel(
        self, info: Info, input: Annotated[MentorshipSessionCancelInput, arg("The session.")]
    ) -> MentorshipSessionPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: sessions.cancel_session(
                uow, viewer, pk_of(input.id, "MentorshipSession", "id")
            ),
        )
        return MentorshipSessionPayload(
            session=MentorshipSession.from_row(found) if found is not None else None,
            user_errors=_errors(problems),
        )

    @strawberry.mutation(description="Write a note, private or shared with the other side.")
    async def mentorship_note_add(
        self, info: Info, input: Annotated[MentorshipNoteAddInput, arg("The note.")]
    ) -> MentorshipNotePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: sessions.add_note(
                uow, viewer, pk_of(input.mentorship_id, "Mentorship", "mentorshipId"),
                body=input.body, shared=input.shared, session_id=_session_of(input),
            ),
        )  # fmt: skip
        note = None
        if found is not None:
            note = MentorshipNote(
                body=found.body,
                shared=found.shared,
                mine=True,
                session_id=input.session_id,
                created_at=found.created_at,
            )
        return MentorshipNotePayload(note=note, user_errors=_errors(problems))

    @strawberry.mutation(description="Set a goal for a mentorship (either side).")
    async def mentorship_goal_add(
        self, info: Info, input: Annotated[MentorshipGoalAddInput, arg("The goal.")]
    ) -> MentorshipGoalPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: sessions.add_goal(
                uow, viewer, pk_of(input.mentorship_id, "Mentorship", "mentorshipId"), input.title
            ),
        )
        return MentorshipGoalPayload(
            goal=MentorshipGoal.from_row(found) if found is not None else None,
            user_errors=_errors(problems),
        )

    @strawberry.mutation(description="Move a goal on (not started, in progress, done).")
    async def mentorship_goal_update(
        self, info: Info, input: Annotated[MentorshipGoalUpdateInput, arg("The goal.")]
    ) -> MentorshipGoalPayload:
        viewer = info.context.viewer
        status = str(input.status.value) if input.status is not None else None
        found, problems = await run_in_transaction(
            info,
            lambda uow: sessions.update_goal(
                uow, viewer, pk_of(input.id, "MentorshipGoal", "id"), title=input.title,
                status=status,
            ),
        )  # fmt: skip
        return MentorshipGoalPayload(
            goal=MentorshipGoal.from_row(found) if found is not None else None,
            user_errors=_errors(problems),
        )

    @strawberry.mutation(
        description="Rate the other side (1 to 5) after a session, or at the end of the "
        "mentorship; again replaces it. Only you read your comment; they see averages."
    )
    async def mentorship_feedback_give(
        self, info: Info, input: Annotated[MentorshipFeedbackGiveInput, arg("The rating.")]
    ) -> MentorshipFeedbackPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: sessions.give_feedback(
                uow, viewer, pk_of(input.mentorship_id, "Mentorship", "mentorshipId"),
                session_id=_session_of(input), rating=input.rating, comment=input.comment,
            ),
        )  # fmt: skip
        return MentorshipFeedbackPayload(
            feedback=MentorshipFeedback.from_row(found) if found is not None else None,
            user_errors=_errors(problems),
        )

    @strawberry.mutation(
        description="Give every student of a mission who has no mentor one (`mentors:assign`), "
        "as a job: load balanced within each mentor's capacity, total match score maximised "
        "(an assignment problem). A dry run proposes; a run assigns (idempotent, audited, "
        "`missionRosterChanged`)."
    )
    async def mission_mentors_auto_assign(
        self, info: Info, input: Annotated[MissionMentorsAutoAssignInput, arg("The matching.")]
    ) -> MissionMentorsAutoAssignPayload:
        viewer = info.context.viewer
        mentors = None
        if input.mentor_ids is not None:
            mentors = sent_ids(input.mentor_ids[: assignment.MENTORS_MAX + 1], "User")
        found, problems = await run_in_transaction(
            info,
            lambda uow: assignment.request(
                uow, viewer, pk_of(input.mission_id, "Mission", "missionId"),
                dry_run=input.dry_run, mentor_ids=mentors, max_per_mentor=input.max_per_mentor,
            ),
        )  # fmt: skip
        return MissionMentorsAutoAssignPayload(
            job=await job_node(info, found), user_errors=_errors(problems)
        )
