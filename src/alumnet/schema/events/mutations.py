"""Events mutations: creating (one event or a series), changing, publishing, cancelling
and completing events and their capacity; registering and cancelling; staff registering
people; check-in at the door and walk-ins; feedback; chapter leads; the calendar feed
link; and exports of an event's registrations or a period's events."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import relay

from alumnet.domain.data import exports
from alumnet.domain.events import calendar, catalogue, registrations
from alumnet.schema.communication.announcements import AnnouncementAudienceInput, audience_of_input
from alumnet.schema.context import Info
from alumnet.schema.data.types import ExportFormat, ExportPayload, export_requested
from alumnet.schema.errors import user_errors
from alumnet.schema.events.queries import feed_url
from alumnet.schema.events.types import (
    Event,
    EventError,
    EventErrorCode,
    EventFeedback,
    EventKind,
    EventMode,
    EventRegistration,
    EventRegistrationError,
    EventRegistrationErrorCode,
)
from alumnet.schema.mutations import arg, pk_of, run_in_transaction
from alumnet.schema.nodes import global_pk

ev = strawberry.enum_value
TIME_HELP = "(ISO 8601 with an offset; stored in UTC, shown in `timeZone`)"


@strawberry.input(description="An organiser or a speaker: a user, or a guest by name.")
class EventPersonInput:
    user_id: relay.GlobalID | None = strawberry.field(default=None, description="A user.")
    name: str | None = strawberry.field(default=None, description="Or a guest's name.")
    affiliation: str | None = strawberry.field(
        default=None, description="A guest's organisation or title."
    )


@strawberry.input(description="A question of the registration form.")
class EventQuestionInput:
    key: str = strawberry.field(
        description="Its key (lower-case letters, digits, underscores; e.g. `dietary`)."
    )
    label: str = strawberry.field(description="The question (at most 200 characters).")
    required: bool = strawberry.field(default=False, description="Whether it must be answered.")
    choices: list[str] = strawberry.field(
        default_factory=list, description="Answers to choose from (20 at most); none: free text."
    )


@strawberry.input(description="A new event (a draft until published).")
class EventCreateInput:
    title: str = strawberry.field(description="Its title (at most 200 characters).")
    kind: EventKind = strawberry.field(description="Reunion, talk, career fair…")
    mode: EventMode = strawberry.field(description="In person, online or hybrid.")
    starts_at: datetime = strawberry.field(description=f"When it starts {TIME_HELP}.")
    ends_at: datetime = strawberry.field(description=f"When it ends {TIME_HELP}.")
    time_zone: str = strawberry.field(description="Its time zone (IANA, e.g. Africa/Accra).")
    description: str = strawberry.field(default="", description="Markdown (20,000 at most).")
    venue: str | None = strawberry.field(default=None, description="The venue (in person).")
    city: str | None = strawberry.field(default=None, description="The city (in person).")
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2.")
    join_url: str | None = strawberry.field(
        default=None, description="The link to join online (https); shown to those registered."
    )
    capacity: int | None = strawberry.field(
        default=None, description="Places, guests included (1 to 100,000); omit for unlimited."
    )
    guests_max: int = strawberry.field(default=0, description="Guests each may bring (0 to 10).")
    registration_opens_at: datetime | None = strawberry.field(
        default=None, description="When registration opens; omit: once published."
    )
    registration_closes_at: datetime | None = strawberry.field(
        default=None, description="The deadline (by the start); omit: until it starts."
    )
    cover_image_url: str | None = strawberry.field(default=None, description="An https image.")
    audience: AnnouncementAudienceInput | None = strawberry.field(
        default=None, description="Who it is for, as an announcement's audience; omit: everyone."
    )
    organisers: list[EventPersonInput] = strawberry.field(
        default_factory=list, description="Users who run it with you (20 at most)."
    )
    speakers: list[EventPersonInput] = strawberry.field(
        default_factory=list, description="Its speakers: users or guests (20 at most)."
    )
    questions: list[EventQuestionInput] = strawberry.field(
        default_factory=list, description="The registration form's questions (10 at most)."
    )
    recurrence: str | None = strawberry.field(
        default=None,
        description="For a series, an RFC 5545 rule from the first start, in its time zone "
        "(e.g. FREQ=WEEKLY;BYDAY=TU;COUNT=10): each occurrence becomes an event of its own "
        "(52 at most, within a year).",
    )
    client_id: str | None = strawberry.field(
        default=None,
        description="Your idempotency key (64 at most): creating again returns the first.",
    )


@strawberry.input(
    description="Changes to one event (one occurrence of a series); omitted fields stay as "
    "they are, an empty venue, city, country or link clears it. Those registered are told "
    "when its time, place or link changes."
)
class EventUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The event.")
    title: str | None = strawberry.field(default=None, description="New title.")
    kind: EventKind | None = strawberry.field(default=None, description="New kind.")
    mode: EventMode | None = strawberry.field(default=None, description="New mode.")
    starts_at: datetime | None = strawberry.field(default=None, description="New start.")
    ends_at: datetime | None = strawberry.field(default=None, description="New end.")
    time_zone: str | None = strawberry.field(default=None, description="New time zone.")
    description: str | None = strawberry.field(default=None, description="New Markdown.")
    venue: str | None = strawberry.field(default=None, description="New venue.")
    city: str | None = strawberry.field(default=None, description="New city.")
    country: str | None = strawberry.field(default=None, description="New country.")
    join_url: str | None = strawberry.field(default=None, description="New join link.")
    capacity: int | None = strawberry.field(
        default=None,
        description="New capacity (not below the places taken: see `eventCapacitySet`).",
    )
    unlimited: bool = strawberry.field(default=False, description="Make it unlimited.")
    guests_max: int | None = strawberry.field(default=None, description="New guests allowed.")
    registration_opens_at: datetime | None = strawberry.field(default=None, description="New.")
    registration_closes_at: datetime | None = strawberry.field(default=None, description="New.")
    cover_image_url: str | None = strawberry.field(default=None, description="New image.")
    audience: AnnouncementAudienceInput | None = strawberry.field(
        default=None, description="New audience."
    )
    organisers: list[EventPersonInput] | None = strawberry.field(
        default=None, description="New organisers (all of them)."
    )
    speakers: list[EventPersonInput] | None = strawberry.field(
        default=None, description="New speakers (all of them)."
    )
    questions: list[EventQuestionInput] | None = strawberry.field(
        default=None, description="New questions (all of them)."
    )


@strawberry.input(description="An event to publish.")
class EventPublishInput:
    id: relay.GlobalID = strawberry.field(description="The event.")
    whole_series: bool = strawberry.field(
        default=False, description="Also every later draft of its series."
    )
    announce: bool = strawberry.field(
        default=False,
        description="Tell its audience (a notification of kind `announcement`: in the app "
        "and the digest by default).",
    )


@strawberry.input(description="An event to cancel.")
class EventCancelInput:
    id: relay.GlobalID = strawberry.field(description="The event.")
    reason: str = strawberry.field(description="Why (those registered read it; 500 at most).")
    whole_series: bool = strawberry.field(
        default=False, description="Also every later occurrence of its series."
    )


@strawberry.input(description="An event to act on.")
class EventIdInput:
    id: relay.GlobalID = strawberry.field(description="The event.")


@strawberry.enum(description="Who moves to the waitlist when the capacity falls below the "
                 "places taken.")  # fmt: skip
class EventCapacityOverflow(Enum):
    REFUSE = ev("refuse", description="Nobody: the change is refused.")
    WAITLIST_LATEST = ev(
        "waitlist_latest",
        description="Those confirmed last (not yet checked in) go back to the head of the "
        "waitlist, and are told.",
    )


@strawberry.input(description="A new capacity.")
class EventCapacitySetInput:
    id: relay.GlobalID = strawberry.field(description="The event.")
    capacity: int | None = strawberry.field(description="Places (1 to 100,000); null: unlimited.")
    overflow: EventCapacityOverflow = strawberry.field(
        default=EventCapacityOverflow.REFUSE,
        description="Who moves to the waitlist if places taken exceed it.",
    )


@strawberry.type(description="The events changed.")
class EventPayload:
    event: Event | None = strawberry.field(description="The event (the first of a series).")
    events: list[Event] = strawberry.field(
        description="Every event created or changed (a series' occurrences, in order)."
    )
    user_errors: list[EventError] = strawberry.field(description="Empty on success.")


def _event_payload(found: Any, problems: Any) -> EventPayload:
    made = found if isinstance(found, list) else ([found] if found is not None else [])
    nodes = [Event.from_row(e) for e in made]
    return EventPayload(
        event=nodes[0] if nodes else None, events=nodes,
        user_errors=user_errors(EventError, EventErrorCode, problems),
    )  # fmt: skip


@strawberry.input(description="An answer to one of the event's questions.")
class EventAnswerInput:
    key: str = strawberry.field(description="The question's key.")
    value: str = strawberry.field(description="The answer (500 at most).")


@strawberry.input(description="A registration.")
class EventRegisterInput:
    event_id: relay.GlobalID = strawberry.field(description="The event.")
    answers: list[EventAnswerInput] = strawberry.field(
        default_factory=list, description="Answers to its questions."
    )
    guests: int = strawberry.field(
        default=0, description="Guests you bring (up to the event's `guestsMax`)."
    )
    listed: bool = strawberry.field(
        default=True, description="Whether others may see you among the attendees."
    )


@strawberry.input(description="The event whose registration to act on.")
class EventRegistrationCancelInput:
    event_id: relay.GlobalID = strawberry.field(description="The event.")


@strawberry.input(description="Someone for staff to register.")
class EventPersonRegisterInput:
    event_id: relay.GlobalID = strawberry.field(description="The event.")
    user_id: relay.GlobalID = strawberry.field(description="The person.")
    guests: int = strawberry.field(default=0, description="Their guests.")


@strawberry.input(description="A code shown at the door.")
class EventCheckInInput:
    event_id: relay.GlobalID = strawberry.field(description="The event at whose door you are.")
    code: str = strawberry.field(description="The person's check-in code (text or scanned QR).")


@strawberry.input(description="Someone who came without registering.")
class EventWalkInAddInput:
    event_id: relay.GlobalID = strawberry.field(description="The event.")
    user_id: relay.GlobalID | None = strawberry.field(default=None, description="A user…")
    name: str | None = strawberry.field(default=None, description="…or a name (no account).")


@strawberry.input(description="Feedback on an event you came to.")
class EventFeedbackSubmitInput:
    event_id: relay.GlobalID = strawberry.field(description="The event.")
    rating: int = strawberry.field(description="1 (poor) to 5 (excellent).")
    comment: str | None = strawberry.field(default=None, description="2,000 characters at most.")


@strawberry.type(description="A registration changed.")
class EventRegistrationPayload:
    registration: EventRegistration | None = strawberry.field(description="The registration.")
    already_checked_in: bool = strawberry.field(
        default=False, description="For a check-in: they had been checked in before."
    )
    user_errors: list[EventRegistrationError] = strawberry.field(description="Empty on success.")


def _registration(found: Any, problems: Any, already: bool = False) -> EventRegistrationPayload:
    return EventRegistrationPayload(
        registration=EventRegistration.from_row(found) if found is not None else None,
        already_checked_in=already,
        user_errors=user_errors(EventRegistrationError, EventRegistrationErrorCode, problems),
    )


@strawberry.type(description="Feedback given.")
class EventFeedbackPayload:
    feedback: EventFeedback | None = strawberry.field(description="Your feedback.")
    user_errors: list[EventRegistrationError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Trust (or stop trusting) a person to host events.")
class EventHostSetInput:
    user_id: relay.GlobalID = strawberry.field(description="The person (a chapter lead).")
    host: bool = strawberry.field(description="True: they may create and run events.")


@strawberry.type(description="Done.")
class EventHostSetPayload:
    user_id: relay.GlobalID | None = strawberry.field(description="The person, on success.")
    user_errors: list[EventError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Your calendar feed's new link.")
class CalendarFeedRotatePayload:
    url: str | None = strawberry.field(description="The new link; the old one stops working.")
    user_errors: list[EventError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="An export of an event's registrations.")
class EventRegistrationsExportInput:
    event_id: relay.GlobalID = strawberry.field(description="The event (one you organise).")
    format: ExportFormat = strawberry.field(description="Which file format.")


@strawberry.input(description="An export of every event of a period, one row each.")
class EventsExportInput:
    starts_from: date = strawberry.field(description="First day (UTC).", name="from")
    starts_to: date = strawberry.field(description="Last day (UTC).", name="to")
    format: ExportFormat = strawberry.field(description="Which file format.")


def _people(given: list[EventPersonInput] | None) -> tuple[catalogue.Person, ...] | None:
    if given is None:
        return None
    return tuple(
        catalogue.Person(
            user_id=(global_pk(p.user_id, "User") or -1) if p.user_id is not None else None,
            name=p.name,
            affiliation=p.affiliation,
        )
        for p in given
    )


def _fields(given: Any) -> catalogue.EventFields:
    def chosen(name: str) -> str | None:
        value = getattr(given, name, None)
        return None if value is None else str(value.value)

    questions = getattr(given, "questions", None)
    return catalogue.EventFields(
        title=given.title, description=given.description, kind=chosen("kind"),
        mode=chosen("mode"), venue=given.venue, city=given.city, country=given.country,
        join_url=given.join_url, starts_at=given.starts_at, ends_at=given.ends_at,
        time_zone=given.time_zone, capacity=given.capacity,
        unlimited=bool(getattr(given, "unlimited", False)), guests_max=given.guests_max,
        registration_opens_at=given.registration_opens_at,
        registration_closes_at=given.registration_closes_at,
        cover_image_url=given.cover_image_url,
        audience=audience_of_input(given.audience) if given.audience is not None else None,
        organisers=_people(given.organisers), speakers=_people(given.speakers),
        questions=tuple(
            catalogue.Question(key=q.key, label=q.label, required=q.required,
                               choices=tuple(q.choices))
            for q in questions
        ) if questions is not None else None,
    )  # fmt: skip


@strawberry.type
class EventsMutation:
    @strawberry.mutation(
        description="Create an event as a draft, or a series by a recurrence rule (staff, "
        "`events:host`, and chapter leads trusted with `eventHostSet`)."
    )
    async def event_create(
        self, info: Info, input: Annotated[EventCreateInput, arg("The event.")]
    ) -> EventPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: catalogue.create(
                uow, viewer, _fields(input), recurrence=input.recurrence, client_id=input.client_id
            ),
        )
        return _event_payload(found, problems)

    @strawberry.mutation(description="Change an event you organise (one occurrence).")
    async def event_update(
        self, info: Info, input: Annotated[EventUpdateInput, arg("The changes.")]
    ) -> EventPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: catalogue.change(
                uow, viewer, pk_of(input.id, "Event", "id"), _fields(input)
            ),
        )
        return _event_payload(found, problems)

    @strawberry.mutation(
        description="Publish a draft (a join link is needed online, a venue or city in "
        "person); optionally its series' later drafts, and optionally announce it."
    )
    async def event_publish(
        self, info: Info, input: Annotated[EventPublishInput, arg("The event.")]
    ) -> EventPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: catalogue.publish(
                uow,
                viewer,
                pk_of(input.id, "Event", "id"),
                whole_series=input.whole_series,
                announce=input.announce,
            ),
        )
        return _event_payload(found, problems)

    @strawberry.mutation(
        description="Cancel an event (or it and its series' later occurrences); everyone "
        "registered is told why."
    )
    async def event_cancel(
        self, info: Info, input: Annotated[EventCancelInput, arg("The event.")]
    ) -> EventPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: catalogue.cancel(
                uow,
                viewer,
                pk_of(input.id, "Event", "id"),
                reason=input.reason,
                whole_series=input.whole_series,
            ),
        )
        return _event_payload(found, problems)

    @strawberry.mutation(
        description="Mark an event that has started as completed (the scheduler completes "
        "events once they end)."
    )
    async def event_complete(
        self, info: Info, input: Annotated[EventIdInput, arg("The event.")]
    ) -> EventPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: catalogue.complete(uow, viewer, pk_of(input.id, "Event", "id"))
        )
        return _event_payload(found, problems)

    @strawberry.mutation(
        description="Change an event's capacity: more places promote the waitlist at once; "
        "fewer than are taken need `overflow` to say who moves back to the waitlist."
    )
    async def event_capacity_set(
        self, info: Info, input: Annotated[EventCapacitySetInput, arg("The capacity.")]
    ) -> EventPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: registrations.set_capacity(
                uow, viewer, pk_of(input.id, "Event", "id"), input.capacity,
                overflow=str(input.overflow.value),
            ),
        )  # fmt: skip
        return _event_payload(found, problems)

    @strawberry.mutation(
        description="Register for an event: a place if there is one (guests included), "
        "else the waitlist, in the order people came."
    )
    async def event_register(
        self, info: Info, input: Annotated[EventRegisterInput, arg("The registration.")]
    ) -> EventRegistrationPayload:
        viewer = info.context.viewer
        answers = [registrations.Answer(a.key, a.value) for a in input.answers[:50]]
        found, problems = await run_in_transaction(
            info,
            lambda uow: registrations.register(
                uow, viewer, pk_of(input.event_id, "Event", "eventId"), answers=answers,
                guests=input.guests, listed=input.listed,
            ),
        )  # fmt: skip
        return _registration(found, problems)

    @strawberry.mutation(
        description="Cancel your registration; your place goes to the first person waiting."
    )
    async def event_registration_cancel(
        self, info: Info, input: Annotated[EventRegistrationCancelInput, arg("The event.")]
    ) -> EventRegistrationPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: registrations.cancel(
                uow, viewer, pk_of(input.event_id, "Event", "eventId")
            ),
        )
        return _registration(found, problems)

    @strawberry.mutation(
        description="Register someone yourself (an event's organisers and staff), whatever "
        "its audience and deadline; they are told."
    )
    async def event_person_register(
        self, info: Info, input: Annotated[EventPersonRegisterInput, arg("Who and where.")]
    ) -> EventRegistrationPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: registrations.register_person(
                uow, viewer, pk_of(input.event_id, "Event", "eventId"),
                pk_of(input.user_id, "User", "userId"), guests=input.guests,
            ),
        )  # fmt: skip
        return _registration(found, problems)

    @strawberry.mutation(
        description="Check someone in by their code (the event's organisers). Again is no "
        "error: `alreadyCheckedIn` says so."
    )
    async def event_check_in(
        self, info: Info, input: Annotated[EventCheckInInput, arg("The code.")]
    ) -> EventRegistrationPayload:
        viewer = info.context.viewer
        secret = info.context.runtime.settings.secret_key
        found, problems = await run_in_transaction(
            info,
            lambda uow: registrations.check_in(
                uow, viewer, pk_of(input.event_id, "Event", "eventId"), input.code, secret=secret
            ),
        )
        if found is None:
            return _registration(None, problems)
        return _registration(found.registration, problems, already=found.already)

    @strawberry.mutation(
        description="Add someone who came without registering, checked in at once (the "
        "event's organisers); they take a place."
    )
    async def event_walk_in_add(
        self, info: Info, input: Annotated[EventWalkInAddInput, arg("Who came.")]
    ) -> EventRegistrationPayload:
        viewer = info.context.viewer
        user = pk_of(input.user_id, "User", "userId") if input.user_id is not None else None
        found, problems = await run_in_transaction(
            info,
            lambda uow: registrations.walk_in(
                uow, viewer, pk_of(input.event_id, "Event", "eventId"), user_id=user,
                name=input.name,
            ),
        )  # fmt: skip
        return _registration(found, problems)

    @strawberry.mutation(
        description="Rate an event you came to (1 to 5) with a comment; again replaces it."
    )
    async def event_feedback_submit(
        self, info: Info, input: Annotated[EventFeedbackSubmitInput, arg("The feedback.")]
    ) -> EventFeedbackPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: registrations.give_feedback(
                uow, viewer, pk_of(input.event_id, "Event", "eventId"), input.rating,
                input.comment,
            ),
        )  # fmt: skip
        return EventFeedbackPayload(
            feedback=EventFeedback.from_row(found) if found is not None else None,
            user_errors=user_errors(EventRegistrationError, EventRegistrationErrorCode, problems),
        )

    @strawberry.mutation(
        description="Trust a person (a chapter lead) to create and run events of their own, "
        "or stop (`events:manage`)."
    )
    async def event_host_set(
        self, info: Info, input: Annotated[EventHostSetInput, arg("Who.")]
    ) -> EventHostSetPayload:
        viewer = info.context.viewer
        _, problems = await run_in_transaction(
            info,
            lambda uow: catalogue.set_host(
                uow, viewer, pk_of(input.user_id, "User", "userId"), input.host
            ),
        )
        return EventHostSetPayload(
            user_id=input.user_id if not problems else None,
            user_errors=user_errors(EventError, EventErrorCode, problems),
        )

    @strawberry.mutation(
        description="A new link for your calendar feed: the old one stops working (give the "
        "new one to your calendar application)."
    )
    async def calendar_feed_rotate(self, info: Info) -> CalendarFeedRotatePayload:
        viewer = info.context.viewer
        _, problems = await run_in_transaction(info, lambda uow: calendar.rotate(uow, viewer))
        me = viewer.user_id
        url = await feed_url(info, me) if me is not None and not problems else None
        return CalendarFeedRotatePayload(
            url=url, user_errors=user_errors(EventError, EventErrorCode, problems)
        )

    @strawberry.mutation(
        description="Export an event's registrations (its organisers) as a job: name, status, "
        "arrival, guests, answers, checked in, and e-mail only where privacy allows."
    )
    async def event_registrations_export(
        self, info: Info, input: Annotated[EventRegistrationsExportInput, arg("The export.")]
    ) -> ExportPayload:
        wanted = exports.ExportRequest(
            kind="event_registrations", format=str(input.format.value),
            event_id=global_pk(input.event_id, "Event") or -1,
        )  # fmt: skip
        return await export_requested(info, wanted)

    @strawberry.mutation(
        description="Export every event starting in a period, one row each with its figures "
        "(`events:manage`), as a job."
    )
    async def events_export(
        self, info: Info, input: Annotated[EventsExportInput, arg("The export.")]
    ) -> ExportPayload:
        wanted = exports.ExportRequest(
            kind="events", format=str(input.format.value), since=input.starts_from,
            until=input.starts_to,
        )  # fmt: skip
        return await export_requested(info, wanted)
