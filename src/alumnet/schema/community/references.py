"""Reference requests: asking an alumnus or a mentor for a reference, their answer, the
reference and its sending."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.community import references
from alumnet.persistence.models import ReferenceRequest as RequestModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import global_pk, int_ids, readable_rows, user_names
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.permissions import requires

if TYPE_CHECKING:
    from alumnet.schema.careers.types import JobPosting
    from alumnet.schema.people.types import Profile

ev = strawberry.enum_value
PEOPLE = "alumnet.schema.people.types"
CAREERS = "alumnet.schema.careers.types"
TYPE = "ReferenceRequest"


@strawberry.enum(description="Where a reference request stands.")
class ReferenceRequestStatus(Enum):
    PENDING = ev("pending", description="Waiting for the writer's answer.")
    ACCEPTED = ev("accepted", description="Accepted: the writer is writing it.")
    DECLINED = ev("declined", description="Declined by the writer (see `declineReason`).")
    SENT = ev("sent", description="Sent to the recipient by e-mail.")
    CANCELLED = ev("cancelled", description="Cancelled by the requester.")
    EXPIRED = ev("expired", description="Its deadline passed before it was sent.")


@strawberry.enum(description="Which side of reference requests to list.")
class ReferenceRequestSide(Enum):
    ASKED_BY_ME = ev("requester", description="Requests you made.")
    ASKED_OF_ME = ev("writer", description="Requests to you, as the writer.")


async def _people(info: Info, user_id: int) -> Any:
    from alumnet.schema.people.types import Profile as ProfileNode

    [found] = await ProfileNode.resolve_nodes(info=info, node_ids=[str(user_id)])
    return found


def _postings(info: Info) -> Any:
    async def load(reads: Any, ids: Sequence[int]) -> list[Any]:
        from alumnet.schema.careers.types import JobPosting as PostingNode

        return await PostingNode.resolve_nodes(info=info, node_ids=[str(i) for i in ids])

    return load


@strawberry.type(
    description="A request for a reference: seen by its requester and its writer only (not "
    "by staff). The reference's text is the writer's: the requester reads it only when the "
    "writer shares it."
)
class ReferenceRequest(relay.Node):
    id: relay.NodeID[int]
    status: ReferenceRequestStatus = strawberry.field(description="Where it stands.")
    purpose: str = strawberry.field(
        description="What the reference is for, as the requester wrote it to the writer."
    )
    deadline: date = strawberry.field(
        description="The last day (UTC) it may be sent; it expires after that."
    )
    recipient_name: str | None = strawberry.field(description="Whom it is addressed to.")
    recipient_email: str | None = strawberry.field(
        description="Where it is sent; null when it goes to the job posting's poster."
    )
    decline_reason: str | None = strawberry.field(
        description="The writer's reason for declining, if they gave one."
    )
    shared: bool = strawberry.field(
        description="Whether the writer lets the requester read the text."
    )
    created_at: datetime = strawberry.field(description="When it was asked (UTC).")
    responded_at: datetime | None = strawberry.field(
        description="When the writer accepted or declined (UTC)."
    )
    sent_at: datetime | None = strawberry.field(description="When it was sent (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, status=ReferenceRequestStatus(row.status), purpose=row.purpose,
            deadline=row.deadline, recipient_name=row.recipient_name,
            recipient_email=row.recipient_email, decline_reason=row.decline_reason,
            shared=bool(row.shared), created_at=row.created_at, responded_at=row.responded_at,
            sent_at=row.sent_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        viewer = info.context.viewer
        if not viewer.is_authenticated:
            return [None for _ in ids]
        found = await readable_rows(info, RequestModel.__table__, ids, references.readable(viewer))
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(
        description="The reference as written: for the writer (also a draft); for the "
        "requester only once it is sent and shared; null for anyone else."
    )
    def text(self, info: Info) -> str | None:
        if references.may_read_text(info.context.viewer, self._row):
            return self._row.text  # type: ignore[no-any-return]
        return None

    @strawberry.field(
        description="When the writer last saved the text (UTC); null for the requester."
    )
    def written_at(self, info: Info) -> datetime | None:
        if info.context.viewer.user_id != self._row.writer_id:
            return None
        return self._row.written_at  # type: ignore[no-any-return]

    @strawberry.field(description="Whether you are the one asked to write it.")
    def viewer_is_writer(self, info: Info) -> bool:
        return bool(info.context.viewer.user_id == self._row.writer_id)

    @strawberry.field(description="The requester's name.")
    async def requester_name(self, info: Info) -> str | None:
        loader = reads_loader(info, ("references", "names"), user_names)
        return await loader.load(self._row.requester_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The writer's name.")
    async def writer_name(self, info: Info) -> str | None:
        loader = reads_loader(info, ("references", "names"), user_names)
        return await loader.load(self._row.writer_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The requester's profile, as the directory shows it to you.")
    async def requester(self, info: Info) -> Annotated[Profile, strawberry.lazy(PEOPLE)] | None:
        return await _people(info, self._row.requester_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The writer's profile, as the directory shows it to you.")
    async def writer(self, info: Info) -> Annotated[Profile, strawberry.lazy(PEOPLE)] | None:
        return await _people(info, self._row.writer_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The job posting it is for (if you may see it); without a recipient "
        "address, the reference goes to the posting's poster."
    )
    async def job_posting(
        self, info: Info
    ) -> Annotated[JobPosting, strawberry.lazy(CAREERS)] | None:
        if self._row.job_posting_id is None:
            return None
        loader = reads_loader(info, ("references", "postings"), _postings(info))
        return await loader.load(self._row.job_posting_id)  # type: ignore[no-any-return]


@strawberry.type(description="Reference requests, a page at a time.")
class ReferenceRequestConnection(CountedConnection[ReferenceRequest]):
    pass


@strawberry.enum(description="Why a reference request mutation failed.")
class ReferenceErrorCode(Enum):
    NOT_FOUND = ev(
        "NOT_FOUND", description="No such request, person or job posting (that you may see)."
    )
    NOT_ALLOWED = ev("NOT_ALLOWED", description="Only students and alumni ask for references.")
    SELF = ev("SELF", description="You cannot ask yourself.")
    NOT_A_WRITER = ev("NOT_A_WRITER", description="References are asked of alumni and mentors.")
    NO_RECIPIENT = ev(
        "NO_RECIPIENT", description="Neither a recipient address nor a job posting to send to."
    )
    OWN_ADDRESS = ev("OWN_ADDRESS", description="The reference cannot be sent to its requester.")
    INVALID_EMAIL = ev("INVALID_EMAIL", description="Not a valid e-mail address.")
    DATE_IN_PAST = ev("DATE_IN_PAST", description="The deadline is today or earlier.")
    OUT_OF_RANGE = ev("OUT_OF_RANGE", description="The deadline is more than a year away.")
    DEADLINE_PASSED = ev("DEADLINE_PASSED", description="The request's deadline has passed.")
    WRONG_STATUS = ev("WRONG_STATUS", description="Not possible in the request's state now.")
    NO_TEXT = ev("NO_TEXT", description="The reference has no text yet.")
    TOO_MANY = ev("TOO_MANY", description="Too many open requests (yours, or to this person).")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a reference request mutation's input.")
class ReferenceError(UserError):
    code: ReferenceErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The reference request, or why there is none.")
class ReferenceRequestPayload:
    request: ReferenceRequest | None = strawberry.field(description="The request.")
    user_errors: list[ReferenceError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A request for a reference.")
class ReferenceRequestCreateInput:
    writer_id: relay.GlobalID = strawberry.field(
        description="The `User` asked to write it: an alumnus or a mentor."
    )
    purpose: str = strawberry.field(
        description="What it is for, to the writer (at most 2,000 characters)."
    )
    deadline: date = strawberry.field(
        description="The last day (UTC) it may be sent: after today, within a year."
    )
    recipient_name: str | None = strawberry.field(
        default=None, description="Whom it is addressed to (at most 200 characters)."
    )
    recipient_email: str | None = strawberry.field(
        default=None,
        description="Where to send it. Give this, a job posting, or both (the address wins).",
    )
    job_posting_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The `JobPosting` it is for; without an address it is sent to the "
        "posting's poster.",
    )
    client_id: str | None = strawberry.field(
        default=None,
        description="Your idempotency key (at most 64 characters): asking again with it "
        "returns the first request and tells no one twice.",
    )


@strawberry.input(description="The writer's answer to a request.")
class ReferenceRequestRespondInput:
    id: relay.GlobalID = strawberry.field(description="The pending request.")
    accept: bool = strawberry.field(description="True to accept, false to decline.")
    reason: str | None = strawberry.field(
        default=None, description="Why you decline, for the requester (at most 500 characters)."
    )


@strawberry.input(description="The reference's text, saved as a draft.")
class ReferenceWriteInput:
    id: relay.GlobalID = strawberry.field(description="The accepted request.")
    text: str = strawberry.field(
        description="The whole reference (at most 20,000 characters), replacing the draft."
    )


@strawberry.input(description="Sending the reference.")
class ReferenceSendInput:
    id: relay.GlobalID = strawberry.field(description="The accepted request, with its text.")
    share: bool = strawberry.field(
        default=False, description="Also let the requester read the text."
    )


@strawberry.input(description="Letting the requester read a sent reference, or not.")
class ReferenceShareInput:
    id: relay.GlobalID = strawberry.field(description="The sent request.")
    share: bool = strawberry.field(description="True: they may read it; false: no longer.")


@strawberry.input(description="Cancelling your request.")
class ReferenceRequestCancelInput:
    id: relay.GlobalID = strawberry.field(description="Your pending or accepted request.")


def _payload(found: Any, problems: Any) -> ReferenceRequestPayload:
    return ReferenceRequestPayload(
        request=ReferenceRequest.from_row(found) if found is not None else None,
        user_errors=user_errors(ReferenceError, ReferenceErrorCode, problems),
    )


@strawberry.type
class ReferenceQuery:
    @relay.connection(
        ReferenceRequestConnection,
        description="Your reference requests, newest first: those you made, or those made to you.",
        max_results=1000,
        extensions=requires(),
    )
    def reference_requests(
        self,
        info: Info,
        side: Annotated[
            ReferenceRequestSide,
            strawberry.argument(description="Made by you (default) or to you."),
        ] = ReferenceRequestSide.ASKED_BY_ME,
        status: Annotated[
            list[ReferenceRequestStatus] | None,
            strawberry.argument(description="Only these states (at most 6); omit for all."),
        ] = None,
    ) -> Iterable[ReferenceRequest]:
        me = info.context.viewer.user_id or -1
        column = RequestModel.writer_id if side is ReferenceRequestSide.ASKED_OF_ME else (
            RequestModel.requester_id
        )  # fmt: skip
        query = select(RequestModel.__table__).where(column == me)
        chosen = sorted({str(s.value) for s in status or ()})
        if chosen:
            query = query.where(RequestModel.status.in_(chosen))
        sort = [SortKey(RequestModel.created_at, descending=True),
                SortKey(RequestModel.id, descending=True)]  # fmt: skip
        return KeysetQuery(query, sort, ReferenceRequest.from_row, info.context.reads)

    @relay.connection(
        ReferenceRequestConnection,
        description="Pending references: requests to you awaiting your answer or your "
        "writing (pending or accepted, deadline not passed), soonest deadline first.",
        max_results=1000,
        extensions=requires(),
    )
    def pending_references(self, info: Info) -> Iterable[ReferenceRequest]:
        me = info.context.viewer.user_id or -1
        query = select(RequestModel.__table__).where(
            RequestModel.writer_id == me,
            RequestModel.status.in_(references.OPEN),
            RequestModel.deadline >= references.today(),
        )
        sort = [SortKey(RequestModel.deadline), SortKey(RequestModel.id)]
        return KeysetQuery(query, sort, ReferenceRequest.from_row, info.context.reads)


@strawberry.type
class ReferenceMutation:
    @strawberry.mutation(
        extensions=requires(),
        description="Ask an alumnus or a mentor for a reference (students and alumni; at "
        "most 20 open requests, 3 to one person). The writer is told.",
    )
    async def reference_request_create(
        self, info: Info, input: Annotated[ReferenceRequestCreateInput, arg("The request.")]
    ) -> ReferenceRequestPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: references.create(
                uow, viewer, writer_id=global_pk(input.writer_id, "User"),
                purpose=input.purpose, deadline=input.deadline,
                recipient_name=input.recipient_name, recipient_email=input.recipient_email,
                job_posting_id=global_pk(input.job_posting_id, "JobPosting"),
                job_posting_named=input.job_posting_id is not None, client_id=input.client_id,
            ),
        )  # fmt: skip
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(),
        description="Accept or decline a request made to you (while pending, before its "
        "deadline). The requester is told.",
    )
    async def reference_request_respond(
        self, info: Info, input: Annotated[ReferenceRequestRespondInput, arg("The answer.")]
    ) -> ReferenceRequestPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: references.respond(
                uow, viewer, pk_of(input.id, TYPE, "id"), accept=input.accept,
                reason=input.reason,
            ),
        )  # fmt: skip
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(),
        description="Save the text of a reference you accepted to write (as often as you "
        "like, until you send it). The requester does not see it.",
    )
    async def reference_write(
        self, info: Info, input: Annotated[ReferenceWriteInput, arg("The text.")]
    ) -> ReferenceRequestPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: references.write(uow, viewer, pk_of(input.id, TYPE, "id"), input.text),
        )
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(),
        description="Send the reference by e-mail to the recipient (the address given, or "
        "the job posting's poster), by a background job. Sending again sends nothing. The "
        "requester is told it was sent, and reads it only if you share it.",
    )
    async def reference_send(
        self, info: Info, input: Annotated[ReferenceSendInput, arg("What to send.")]
    ) -> ReferenceRequestPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: references.send(
                uow, viewer, pk_of(input.id, TYPE, "id"), share=input.share
            ),
        )
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(),
        description="Let the requester read a reference you sent, or stop letting them.",
    )
    async def reference_share(
        self, info: Info, input: Annotated[ReferenceShareInput, arg("The choice.")]
    ) -> ReferenceRequestPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: references.share_text(
                uow, viewer, pk_of(input.id, TYPE, "id"), share=input.share
            ),
        )
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(),
        description="Cancel your request while it is pending or accepted; the writer is told.",
    )
    async def reference_request_cancel(
        self, info: Info, input: Annotated[ReferenceRequestCancelInput, arg("The request.")]
    ) -> ReferenceRequestPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: references.cancel(uow, viewer, pk_of(input.id, TYPE, "id"))
        )
        return _payload(found, problems)
