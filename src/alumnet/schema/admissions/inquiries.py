"""Admissions: inquiries (the public form and staff), the pipeline, the timeline, lead
scores and converting an inquiry into a student."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Self

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.admissions import convert, inquiries
from alumnet.domain.admissions.timeline import LOGGED_KINDS
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.loaders.common import by_id, grouped
from alumnet.persistence.models import Inquiry as InquiryModel
from alumnet.persistence.models import InquiryActivity as ActivityModel
from alumnet.persistence.models import InquiryStageChange as StageChangeModel
from alumnet.persistence.models import Programme as ProgrammeModel
from alumnet.schema.admissions.people import office_user
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, bad_input, user_errors
from alumnet.schema.identity.types import User
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import int_ids, optional_pk, readable_rows
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.people.types import Programme
from alumnet.schema.permissions import requires

ev = strawberry.enum_value
TYPE = "Inquiry"
ACTIVITY = "InquiryActivity"
SEARCH_MAX = 200
# The stage changes an inquiry shows (oldest first); a pipeline has a handful.
STAGE_CHANGES_MAX = 100


@strawberry.enum(description="Where an inquiry came from.")
class InquirySource(Enum):
    WEB_FORM = ev("web_form", description="The public inquiry form (`inquirySubmit`).")
    WALK_IN = ev("walk_in", description="The person came in.")
    REFERRAL = ev("referral", description="Someone referred them (`sourceDetail`: who).")
    CAMPAIGN = ev("campaign", description="A campaign (`sourceDetail`: its code).")


@strawberry.enum(
    description="An inquiry's place in the counselling pipeline: new → contacted → "
    "counselled → applied → enrolled, or lost."
)
class InquiryStage(Enum):
    NEW = ev("new", description="Not contacted yet.")
    CONTACTED = ev("contacted", description="A counsellor has been in touch.")
    COUNSELLED = ev("counselled", description="Counselled about the programme.")
    APPLIED = ev("applied", description="Applied; `inquiryConvert` enrols them.")
    ENROLLED = ev("enrolled", description="Converted into a student (`student`).")
    LOST = ev("lost", description="Lost (`lostReason`); may be reopened at its stage.")


@strawberry.enum(description="What a timeline entry records.")
class InquiryActivityKind(Enum):
    CALL = ev("call", description="A phone call, logged by a counsellor.")
    EMAIL = ev("email", description="An e-mail, logged by a counsellor.")
    MEETING = ev("meeting", description="A meeting, logged by a counsellor.")
    NOTE = ev("note", description="A note, logged by a counsellor.")
    SUBMITTED = ev("submitted", description="The inquiry came in, or the form was sent again.")
    ASSIGNED = ev("assigned", description="A counsellor was assigned (or none).")
    STAGE = ev("stage", description="The inquiry moved in the pipeline.")
    TASK = ev("task", description="A follow-up task was added or done.")
    CONVERTED = ev("converted", description="The inquiry became a student.")


@strawberry.enum(description="What a counsellor logs on an inquiry's timeline.")
class InquiryContactKind(Enum):
    CALL = ev("call", description="A phone call.")
    EMAIL = ev("email", description="An e-mail.")
    MEETING = ev("meeting", description="A meeting.")
    NOTE = ev("note", description="A note.")


@strawberry.enum(description="How to sort inquiries.")
class InquiryOrder(Enum):
    SCORE = ev("score", description="Highest lead score first (the newest first among equals).")
    NEWEST = ev("newest", description="Newest first.")
    STAGE_AGE = ev("stage_age", description="Longest in their current stage first (those waiting).")


@strawberry.type(description="One rule of the lead score and what it gave.")
class LeadScoreReason:
    rule: str = strawberry.field(
        description="The rule: source_referral, source_walk_in, source_campaign, "
        "source_web_form, programme_fit, engagement or recency (its weight is a setting)."
    )
    points: int = strawberry.field(description="The points it gave (0 when it did not apply).")
    detail: str = strawberry.field(description="Why, in a sentence for a person.")


@strawberry.type(
    description="How promising an inquiry looks, 0 to 100, from explainable rules: where it "
    "came from, whether it names an open programme, the contacts logged in the last 30 "
    "days, and how recent the last contact is. Kept at every change and daily."
)
class LeadScore:
    score: int = strawberry.field(description="The score, 0 to 100.")
    reasons: list[LeadScoreReason] = strawberry.field(
        description="One reason per rule, in the order the rules run."
    )
    scored_at: datetime | None = strawberry.field(description="When it was computed (UTC).")


async def _programmes(reads: Any, ids: Sequence[int]) -> list[Any]:
    return await by_id(reads, [ProgrammeModel.__table__], ProgrammeModel.id, ids)


async def _stage_changes(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
    c = StageChangeModel
    query = (
        select(c.__table__)
        .where(c.inquiry_id.in_(list(ids)))
        .order_by(c.inquiry_id, c.changed_at, c.id)
    )
    return await grouped(reads, query, "inquiry_id", ids)


async def _lost_from(reads: Any, ids: Sequence[int]) -> list[str | None]:
    """Per lost inquiry: the stage it was lost from (its last move to lost)."""
    c = StageChangeModel
    query = (
        select(c.inquiry_id, c.from_stage)
        .where(c.inquiry_id.in_(list(ids)), c.to_stage == "lost")
        .order_by(c.inquiry_id, c.changed_at, c.id)
    )
    async with reads.connect() as conn:
        found = {int(r.inquiry_id): r.from_stage for r in (await conn.execute(query)).all()}
    return [found.get(i) for i in ids]


@strawberry.type(description="One move of an inquiry in the pipeline.")
class InquiryStageChange:
    from_stage: InquiryStage | None = strawberry.field(
        description="The stage it left; null for its first (when it came in)."
    )
    to_stage: InquiryStage = strawberry.field(description="The stage it moved to.")
    reason: str | None = strawberry.field(description="Why (a loss's reason), if said.")
    changed_at: datetime = strawberry.field(description="When (UTC).")
    _by: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            from_stage=InquiryStage(row.from_stage) if row.from_stage else None,
            to_stage=InquiryStage(row.to_stage), reason=row.reason, changed_at=row.changed_at,
            _by=row.changed_by_id,
        )  # fmt: skip

    @strawberry.field(description="Who moved it; null for the public form or the system.")
    async def changed_by(self, info: Info) -> User | None:
        return await office_user(info, self._by)


@strawberry.type(
    description="One entry of an inquiry's timeline: a call, e-mail, meeting or note a "
    "counsellor logged, or what the system did. Seen by admissions staff only."
)
class InquiryActivity(relay.Node):
    id: relay.NodeID[int]
    kind: InquiryActivityKind = strawberry.field(description="What it records.")
    summary: str = strawberry.field(description="What happened, as written.")
    outcome: str | None = strawberry.field(description="Its outcome, if one was logged.")
    occurred_at: datetime = strawberry.field(description="When it happened (UTC).")
    created_at: datetime = strawberry.field(description="When it was written down (UTC).")
    inquiry_id: relay.GlobalID = strawberry.field(description="Its `Inquiry`.")
    _actor: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, kind=InquiryActivityKind(row.kind), summary=row.summary or "",
            outcome=row.outcome, occurred_at=row.occurred_at, created_at=row.created_at,
            inquiry_id=relay.GlobalID(TYPE, str(row.inquiry_id)), _actor=row.actor_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        if not info.context.viewer.can(Permission.ADMISSIONS):
            return [None for _ in ids]
        found = await readable_rows(info, ActivityModel.__table__, ids)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Who logged it or did it; null for the public form.")
    async def actor(self, info: Info) -> User | None:
        return await office_user(info, self._actor)


@strawberry.type(description="An inquiry's timeline, a page at a time.")
class InquiryActivityConnection(CountedConnection[InquiryActivity]):
    pass


@strawberry.type(
    description="A prospective student's inquiry and its way through the counselling "
    "pipeline. Seen by admissions staff (`admissions`) only: null for everyone else."
)
class Inquiry(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="The prospective student's name.")
    email: str | None = strawberry.field(description="Their e-mail address, if given.")
    phone: str | None = strawberry.field(description="Their phone number, if given.")
    source: InquirySource = strawberry.field(description="Where it came from.")
    source_detail: str | None = strawberry.field(
        description="Who referred them, or the campaign's code."
    )
    notes: str = strawberry.field(description="Notes (the form's message, staff's notes).")
    stage: InquiryStage = strawberry.field(description="Its stage in the pipeline.")
    lost_reason: str | None = strawberry.field(description="Why it was lost (while lost).")
    created_at: datetime = strawberry.field(description="When it came in (UTC).")
    stage_changed_at: datetime = strawberry.field(
        description="When it reached its current stage (UTC)."
    )
    last_activity_at: datetime | None = strawberry.field(
        description="The last call, e-mail, meeting or note logged (UTC); null before any."
    )
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, name=row.name, email=row.email, phone=row.phone,
            source=InquirySource(row.source), source_detail=row.source_detail,
            notes=row.notes or "", stage=InquiryStage(row.stage), lost_reason=row.lost_reason,
            created_at=row.created_at, stage_changed_at=row.stage_changed_at,
            last_activity_at=row.last_activity_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        where = inquiries.readable(info.context.viewer)
        found = await readable_rows(info, InquiryModel.__table__, ids, where)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="The lead score and its reasons.")
    def lead_score(self) -> LeadScore:
        reasons = [
            LeadScoreReason(rule=str(r.get("rule", "")), points=int(r.get("points", 0)),
                            detail=str(r.get("detail", "")))
            for r in (self._row.score_reasons or [])
        ]  # fmt: skip
        return LeadScore(score=int(self._row.score), reasons=reasons,
                         scored_at=self._row.scored_at)  # fmt: skip

    @strawberry.field(description="The programme of study they asked about, if any.")
    async def programme(self, info: Info) -> Programme | None:
        if self._row.programme_id is None:
            return None
        row = await reads_loader(info, ("admissions", "programme"), _programmes).load(
            self._row.programme_id
        )
        return Programme.from_row(row) if row is not None else None

    @strawberry.field(
        description="The counsellor it is assigned to, if any (a fellow member of the office)."
    )
    async def counsellor(self, info: Info) -> User | None:
        return await office_user(info, self._row.counsellor_id)

    @strawberry.field(description="The student account it became (once converted); null before.")
    async def student(self, info: Info) -> User | None:
        return await office_user(info, self._row.user_id)

    @strawberry.field(
        description="The stages `inquiryStageChange` may move it to now (enrolled is "
        "`inquiryConvert`'s)."
    )
    async def next_stages(self, info: Info) -> list[InquiryStage]:
        stage = self._row.stage
        if stage in inquiries.OPEN_STAGES:
            step = inquiries.FORWARD.get(stage)
            return [InquiryStage(s) for s in (*([step] if step else []), "lost")]
        if stage != "lost":
            return []
        back = await reads_loader(info, ("admissions", "lost_from"), _lost_from).load(self.id)
        return [InquiryStage(back)] if back in inquiries.OPEN_STAGES else []

    @strawberry.field(
        description=f"Its moves through the pipeline, oldest first (the first "
        f"{STAGE_CHANGES_MAX}); the first is its arrival (no `fromStage`)."
    )
    async def stage_changes(self, info: Info) -> list[InquiryStageChange]:
        rows = await reads_loader(info, ("admissions", "stage_changes"), _stage_changes).load(
            self.id
        )
        return [InquiryStageChange.from_row(r) for r in rows[:STAGE_CHANGES_MAX]]

    @relay.connection(
        InquiryActivityConnection,
        description="Its timeline, newest first.",
        max_results=1000,
    )
    def activities(self, info: Info) -> Iterable[InquiryActivity]:
        a = ActivityModel
        return KeysetQuery(
            select(a.__table__),
            [SortKey(a.occurred_at, descending=True), SortKey(a.id, descending=True)],
            InquiryActivity.from_row,
            info.context.reads,
            partition=(a.inquiry_id, self.id),
            batch_key="Inquiry.activities",
        )


@strawberry.type(description="Inquiries, a page at a time.")
class InquiryConnection(CountedConnection[Inquiry]):
    pass


@strawberry.input(description="Which inquiries to list (all given must hold).")
class InquiryFilter:
    stage: InquiryStage | None = strawberry.field(default=None, description="Only this stage.")
    counsellor_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only those assigned to this `User`."
    )
    source: InquirySource | None = strawberry.field(
        default=None, description="Only those from this source."
    )
    programme_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only those asking about this `Programme`."
    )
    search: str | None = strawberry.field(
        default=None,
        description=f"Only those whose name or e-mail contains this (any case; at most "
        f"{SEARCH_MAX} characters).",
    )
    mine: bool | None = strawberry.field(
        default=None, description="True: only those assigned to you."
    )
    unassigned: bool | None = strawberry.field(
        default=None, description="True: only those assigned to nobody."
    )


# Mutations -------------------------------------------------------------------------------


@strawberry.enum(description="Why the public inquiry form was refused.")
class InquirySubmitErrorCode(Enum):
    REQUIRED = ev("REQUIRED", description="A name, and an e-mail or a phone, are required.")
    INVALID_EMAIL = ev("INVALID_EMAIL", description="Not a valid e-mail address.")
    INVALID_PHONE = ev("INVALID_PHONE", description="Not a phone number.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    NOT_FOUND = ev("NOT_FOUND", description="No such programme.")
    THROTTLED = ev(
        "THROTTLED",
        description="Too many inquiries from your network, or from everyone, this hour.",
    )
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with the public inquiry form.")
class InquirySubmitError(UserError):
    code: InquirySubmitErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="Whether the inquiry was taken.")
class InquirySubmitPayload:
    ok: bool = strawberry.field(
        description="True when it was taken (a counsellor will be in touch); false with "
        "`userErrors`."
    )
    user_errors: list[InquirySubmitError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="The public inquiry form.")
class InquirySubmitInput:
    name: str = strawberry.field(description="Your name (at most 200 characters).")
    email: str | None = strawberry.field(
        default=None, description="Your e-mail address (this or a phone number is required)."
    )
    phone: str | None = strawberry.field(
        default=None, description="Your phone number: digits, spaces, ()- and a leading +."
    )
    programme_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The `Programme` you are interested in."
    )
    message: str | None = strawberry.field(
        default=None, description="Anything you would like to tell us (at most 2,000)."
    )
    campaign: str | None = strawberry.field(
        default=None,
        description="The campaign code that brought you, if any (letters, digits, '.', '-' "
        "and '_', at most 64).",
    )
    website: str | None = strawberry.field(
        default=None,
        description="Leave empty. (A field hidden from people in the form: robots fill it.)",
    )


@strawberry.enum(description="Why an inquiry mutation failed.")
class InquiryErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such inquiry, programme, user or mission.")
    NOT_ALLOWED = ev(
        "NOT_ALLOWED", description="Enrolling in a mission needs `enrollments:manage` there."
    )
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    INVALID_EMAIL = ev("INVALID_EMAIL", description="Not a valid e-mail address.")
    INVALID_PHONE = ev("INVALID_PHONE", description="Not a phone number.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    NOT_COUNSELLOR = ev(
        "NOT_COUNSELLOR", description="The person named does not hold `admissions`."
    )
    STAGE_NOT_ALLOWED = ev(
        "STAGE_NOT_ALLOWED",
        description="The pipeline does not allow this move now; the message lists the "
        "stages it may move to.",
    )
    OUT_OF_RANGE = ev(
        "OUT_OF_RANGE", description="A time in the future, or before the inquiry came in."
    )
    IDEMPOTENCY_CONFLICT = ev(
        "IDEMPOTENCY_CONFLICT", description="That idempotency key made a different inquiry."
    )
    EMAIL_REQUIRED = ev(
        "EMAIL_REQUIRED", description="Converting needs the applicant's e-mail address."
    )
    ACCOUNT_EXISTS = ev(
        "ACCOUNT_EXISTS",
        description="An account with the inquiry's e-mail exists (of any kind): only a user "
        "manager (`users:manage`) may link it, and only a student's.",
    )
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with an inquiry mutation's input.")
class InquiryError(UserError):
    code: InquiryErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The inquiry, or why there is none.")
class InquiryPayload:
    inquiry: Inquiry | None = strawberry.field(description="The inquiry as it is now.")
    user_errors: list[InquiryError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The entry logged, or why there is none.")
class InquiryActivityPayload:
    inquiry: Inquiry | None = strawberry.field(description="The inquiry as it is now.")
    activity: InquiryActivity | None = strawberry.field(description="The new entry.")
    user_errors: list[InquiryError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The converted inquiry and its student, or why not.")
class InquiryConvertPayload:
    inquiry: Inquiry | None = strawberry.field(description="The inquiry, now enrolled.")
    student: User | None = strawberry.field(description="The student account it became.")
    user_errors: list[InquiryError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="An inquiry entered by admissions staff.")
class InquiryCreateInput:
    name: str = strawberry.field(description="The prospective student's name (at most 200).")
    email: str | None = strawberry.field(
        default=None, description="Their e-mail address (this or a phone is required)."
    )
    phone: str | None = strawberry.field(
        default=None, description="Their phone number: digits, spaces, ()- and a leading +."
    )
    source: InquirySource = strawberry.field(description="Where it came from.")
    source_detail: str | None = strawberry.field(
        default=None, description="Who referred them, or the campaign's code (at most 200)."
    )
    programme_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The `Programme` they are interested in."
    )
    notes: str | None = strawberry.field(default=None, description="Notes (at most 10,000).")
    counsellor_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The counsellor (a `User` with `admissions`) to assign; they are told.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Your key (at most 200 characters): sending again with it returns the "
        "first inquiry and writes nothing.",
    )


@strawberry.input(description="Changes to an inquiry; a field left out stays as it is.")
class InquiryUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The inquiry.")
    name: str | None = strawberry.field(default=None, description="The name.")
    email: str | None = strawberry.field(
        default=None, description='The e-mail address ("" removes it; a phone must remain).'
    )
    phone: str | None = strawberry.field(
        default=None, description='The phone number ("" removes it; an e-mail must remain).'
    )
    programme_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The `Programme` they are interested in."
    )
    notes: str | None = strawberry.field(default=None, description="The notes, replaced.")
    source_detail: str | None = strawberry.field(
        default=None, description='Who referred them, or the campaign\'s code ("" removes it).'
    )


@strawberry.input(description="Assigning an inquiry.")
class InquiryAssignInput:
    id: relay.GlobalID = strawberry.field(description="The inquiry.")
    counsellor_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The counsellor (a `User` with `admissions`), told of it; null: nobody.",
    )


@strawberry.input(description="Moving an inquiry in the pipeline.")
class InquiryStageChangeInput:
    id: relay.GlobalID = strawberry.field(description="The inquiry.")
    stage: InquiryStage = strawberry.field(
        description="One step forward (new → contacted → counselled → applied), LOST from "
        "any open stage, or back from LOST to the stage it was lost from. ENROLLED is "
        "`inquiryConvert`'s."
    )
    reason: str | None = strawberry.field(
        default=None, description="Why (required for LOST; at most 500 characters)."
    )


@strawberry.input(description="A contact logged on an inquiry's timeline.")
class InquiryActivityLogInput:
    id: relay.GlobalID = strawberry.field(description="The inquiry.")
    kind: InquiryContactKind = strawberry.field(description="A call, e-mail, meeting or note.")
    summary: str = strawberry.field(description="What happened (1 to 2,000 characters).")
    outcome: str | None = strawberry.field(
        default=None, description="Its outcome (at most 200 characters)."
    )
    occurred_at: datetime | None = strawberry.field(
        default=None,
        description="When it happened (UTC; by default now): not in the future, not before "
        "the inquiry came in.",
    )


@strawberry.input(description="Converting an applied inquiry into a student.")
class InquiryConvertInput:
    id: relay.GlobalID = strawberry.field(description="The applied inquiry (with an e-mail).")
    mission_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="A `Mission` to enrol the student in (needs `enrollments:manage` there).",
    )


def _payload(found: Any, problems: Any) -> InquiryPayload:
    return InquiryPayload(
        inquiry=Inquiry.from_row(found) if found is not None else None,
        user_errors=user_errors(InquiryError, InquiryErrorCode, problems),
    )


ORDERS = {
    InquiryOrder.SCORE: [SortKey(InquiryModel.score, descending=True),
                         SortKey(InquiryModel.id, descending=True)],
    InquiryOrder.NEWEST: [SortKey(InquiryModel.created_at, descending=True),
                          SortKey(InquiryModel.id, descending=True)],
    InquiryOrder.STAGE_AGE: [SortKey(InquiryModel.stage_changed_at),
                             SortKey(InquiryModel.id)],
}  # fmt: skip


@strawberry.type
class InquiryQuery:
    @relay.connection(
        InquiryConnection,
        description="Inquiries (admissions staff), newest first unless `orderBy` says otherwise.",
        max_results=1000,
        extensions=requires(Permission.ADMISSIONS),
    )
    def inquiries(
        self,
        info: Info,
        filter: Annotated[
            InquiryFilter | None, strawberry.argument(description="Which inquiries.")
        ] = None,
        order_by: Annotated[
            InquiryOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[Inquiry]:
        m = InquiryModel
        query = select(m.__table__)
        if filter is not None:
            if filter.stage is not None:
                query = query.where(m.stage == filter.stage.value)
            if filter.source is not None:
                query = query.where(m.source == filter.source.value)
            if filter.counsellor_id is not None:
                query = query.where(m.counsellor_id == optional_pk(filter.counsellor_id, "User"))
            if filter.programme_id is not None:
                query = query.where(m.programme_id == optional_pk(filter.programme_id, "Programme"))
            if filter.search is not None and filter.search.strip():
                if len(filter.search) > SEARCH_MAX:
                    raise bad_input(f"`search` must be at most {SEARCH_MAX} characters.")
                query = query.where(inquiries.search(filter.search))
            if filter.mine:
                query = query.where(m.counsellor_id == (info.context.viewer.user_id or -1))
            if filter.unassigned:
                query = query.where(m.counsellor_id.is_(None))
        sort = ORDERS[order_by or InquiryOrder.NEWEST]
        return KeysetQuery(query, sort, Inquiry.from_row, info.context.reads)


@strawberry.type
class InquiryMutation:
    @strawberry.mutation(
        description="The public inquiry form: no sign-in needed. Takes a name and an e-mail "
        "or a phone; at most `inquiries_per_address` an hour from one network and "
        "`inquiries_per_hour` from everyone (THROTTLED past either, nothing written). The "
        "answer says only whether it was taken: never the inquiry, nor whether the address "
        "inquired before (the same e-mail within 24 hours joins its open inquiry)."
    )
    async def inquiry_submit(
        self, info: Info, input: Annotated[InquirySubmitInput, arg("The form.")]
    ) -> InquirySubmitPayload:
        rt = info.context.runtime
        viewer = info.context.viewer
        form = inquiries.PublicForm(
            name=input.name, email=input.email, phone=input.phone,
            programme_id=optional_pk(input.programme_id, "Programme"),
            message=input.message, campaign=input.campaign, website=input.website,
        )  # fmt: skip
        _, problems = await run_in_transaction(
            info, lambda uow: inquiries.submit(rt, uow, viewer, form)
        )
        return InquirySubmitPayload(
            ok=not problems,
            user_errors=user_errors(InquirySubmitError, InquirySubmitErrorCode, problems),
        )

    @strawberry.mutation(
        extensions=requires(Permission.ADMISSIONS),
        description="Enter an inquiry (admissions staff): a walk-in, a referral, a call. It "
        "is scored at once; a counsellor named is assigned and told.",
    )
    async def inquiry_create(
        self, info: Info, input: Annotated[InquiryCreateInput, arg("The inquiry.")]
    ) -> InquiryPayload:
        rt = info.context.runtime
        viewer = info.context.viewer
        given = inquiries.InquiryFields(
            name=input.name, source=str(input.source.value), email=input.email,
            phone=input.phone, source_detail=input.source_detail,
            programme_id=optional_pk(input.programme_id, "Programme"), notes=input.notes,
            counsellor_id=optional_pk(input.counsellor_id, "User"),
            idempotency_key=input.idempotency_key,
        )  # fmt: skip

        async def change(uow: Any) -> Any:
            inquiry, _ = await inquiries.create(rt, uow, viewer, given)
            return inquiry

        found, problems = await run_in_transaction(info, change)
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(Permission.ADMISSIONS),
        description="Correct an inquiry's contact, programme, notes or source's detail "
        "(admissions staff); it is scored again.",
    )
    async def inquiry_update(
        self, info: Info, input: Annotated[InquiryUpdateInput, arg("The changes.")]
    ) -> InquiryPayload:
        rt = info.context.runtime
        viewer = info.context.viewer
        changes = inquiries.InquiryChanges(
            name=input.name, email=input.email, phone=input.phone,
            programme_id=optional_pk(input.programme_id, "Programme"), notes=input.notes,
            source_detail=input.source_detail,
        )  # fmt: skip
        found, problems = await run_in_transaction(
            info,
            lambda uow: inquiries.update(rt, uow, viewer, pk_of(input.id, TYPE, "id"), changes),
        )
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(Permission.ADMISSIONS),
        description="Assign an inquiry to a counsellor (someone with `admissions`, told in "
        "the `admissions` notifications), or to nobody; a timeline entry records it.",
    )
    async def inquiry_assign(
        self, info: Info, input: Annotated[InquiryAssignInput, arg("The assignment.")]
    ) -> InquiryPayload:
        rt = info.context.runtime
        viewer = info.context.viewer
        counsellor = optional_pk(input.counsellor_id, "User")
        found, problems = await run_in_transaction(
            info,
            lambda uow: inquiries.assign(rt, uow, viewer, pk_of(input.id, TYPE, "id"), counsellor),
        )
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(Permission.ADMISSIONS),
        description="Move an inquiry in the pipeline (admissions staff): one step forward, "
        "to LOST from any open stage (with a reason), or back from LOST to the stage it "
        "was lost from. Anything else is STAGE_NOT_ALLOWED (the message lists the moves "
        "possible) and writes nothing.",
    )
    async def inquiry_stage_change(
        self, info: Info, input: Annotated[InquiryStageChangeInput, arg("The move.")]
    ) -> InquiryPayload:
        rt = info.context.runtime
        viewer = info.context.viewer
        stage = str(input.stage.value)
        found, problems = await run_in_transaction(
            info,
            lambda uow: inquiries.change_stage(
                rt, uow, viewer, pk_of(input.id, TYPE, "id"), stage, input.reason
            ),
        )
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(Permission.ADMISSIONS),
        description="Log a call, e-mail, meeting or note on an inquiry's timeline "
        "(admissions staff); the lead score follows.",
    )
    async def inquiry_activity_log(
        self, info: Info, input: Annotated[InquiryActivityLogInput, arg("The entry.")]
    ) -> InquiryActivityPayload:
        rt = info.context.runtime
        viewer = info.context.viewer
        kind = str(input.kind.value)
        assert kind in LOGGED_KINDS
        found, problems = await run_in_transaction(
            info,
            lambda uow: inquiries.log_activity(
                rt,
                uow,
                viewer,
                pk_of(input.id, TYPE, "id"),
                kind=kind,
                summary=input.summary,
                outcome=input.outcome,
                occurred_at=input.occurred_at,
            ),
        )
        inquiry, activity = found if found is not None else (None, None)
        return InquiryActivityPayload(
            inquiry=Inquiry.from_row(inquiry) if inquiry is not None else None,
            activity=InquiryActivity.from_row(activity) if activity is not None else None,
            user_errors=user_errors(InquiryError, InquiryErrorCode, problems),
        )

    @strawberry.mutation(
        extensions=requires(Permission.ADMISSIONS),
        description="Convert an applied inquiry into a student (admissions staff; a WRITE "
        "token will do): a new STUDENT account made as `userCreate` makes one (an invitation "
        "e-mail to choose a password) with a profile holding the programme of interest; "
        "optionally enrolled in a mission. If an account with that e-mail exists, a user "
        "manager (`users:manage`) links it when it is a student's (its profile left as it "
        "is); otherwise ACCOUNT_EXISTS, whatever the account, and nothing is written. The "
        "inquiry is enrolled. Converting again returns the same student.",
    )
    async def inquiry_convert(
        self, info: Info, input: Annotated[InquiryConvertInput, arg("The conversion.")]
    ) -> InquiryConvertPayload:
        rt = info.context.runtime
        viewer = info.context.viewer
        mission = optional_pk(input.mission_id, "Mission")
        found, problems = await run_in_transaction(
            info,
            lambda uow: convert.convert(rt, uow, viewer, pk_of(input.id, TYPE, "id"), mission),
        )
        inquiry, student = found if found is not None else (None, None)
        return InquiryConvertPayload(
            inquiry=Inquiry.from_row(inquiry) if inquiry is not None else None,
            student=User.from_row(student) if student is not None else None,
            user_errors=user_errors(InquiryError, InquiryErrorCode, problems),
        )


# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = [Inquiry, InquiryActivity]
