"""Outgoing webhooks (admins, `webhooks:manage`): endpoints, their signing secrets (shown
once), their deliveries with each attempt, and redelivery."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Self

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.identity.permissions import Permission
from alumnet.domain.ops import webhooks
from alumnet.persistence.models import WebhookAttempt as AttemptModel
from alumnet.persistence.models import WebhookDelivery as DeliveryModel
from alumnet.persistence.models import WebhookEndpoint as EndpointModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import int_ids, optional_gid, readable_rows
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.permissions import requires

ev = strawberry.enum_value
ENDPOINT = "WebhookEndpoint"
DELIVERY = "WebhookDelivery"
# The attempts a delivery lists, newest first (a delivery makes at most nine by itself).
ATTEMPTS_SHOWN = 20


@strawberry.enum(description="An event an endpoint may subscribe to; the body's `type`.")
class WebhookEventType(Enum):
    USER_CREATED = ev(
        "user.created",
        description="A user was created (by staff, by registration, by an admissions conversion; "
        "users an import creates are told by its `import.finished`). "
        "`data`: `id` (a `User` id) and `roles`.",
    )
    USER_UPDATED = ev(
        "user.updated",
        description="Staff changed a user's name, e-mail, phone or graduation year. `data`: "
        "`id` and `changed` (the names of the fields, never their values).",
    )
    ENROLLMENT_CHANGED = ev(
        "enrollment.changed",
        description="Students were enrolled in a mission, or an enrolment's status changed. "
        "`data`: `missionId`, `change` (ENROLLED or STATUS_CHANGED), `status`, and "
        "`studentIds` (a bulk enrolment lists all its students in one event).",
    )
    ATTENDANCE_RECORDED = ev(
        "attendance.recorded",
        description="A day's attendance was recorded by the student or corrected by staff. "
        "`data`: `id` (an `AttendanceRecord` id), `enrollmentId`, `missionId`, `studentId`, "
        "`day` (YYYY-MM-DD) and `status` (present or absent).",
    )
    INTEGRITY_DECISION = ev(
        "integrity.decision",
        description="An integrity decision was made. `data`: `id` (an `IntegrityDecision` "
        "id), `enrollmentId`, `missionId`, `studentId` and `kind` (warn, ban or delist).",
    )
    IMPORT_FINISHED = ev(
        "import.finished",
        description="An import run completed or failed (previews send nothing). `data`: `id` "
        "(an `Import` id), `kind`, `status` (completed or failed) and `counts`.",
    )
    GIFT_CONFIRMED = ev(
        "gift.confirmed",
        description="A gift was confirmed and now counts: recorded by giving staff, a "
        "reported gift confirmed, or paid through the payment provider (gifts an import "
        "records are told by its `import.finished`). `data`: `id` (a `Gift` id), `donorId` "
        "(a `Donor` id), `amount` (a decimal string in the currency's major unit), "
        "`currency` (ISO 4217), `date` (YYYY-MM-DD), `fundId`, `campaignId` (or null), "
        "`source` (staff, self or provider) and `anonymous` (the donor asked not to be named).",
    )
    INQUIRY_CONVERTED = ev(
        "inquiry.converted",
        description="An admissions inquiry was converted into a student. `data`: `id` (an "
        "`Inquiry` id), `userId` (the student's `User` id), `created` (true: a new account, "
        "which also sends `user.created`; false: an existing student's account was linked) "
        "and `missionId` (the mission they were enrolled in, or null).",
    )


@strawberry.enum(description="Where a webhook delivery stands.")
class WebhookDeliveryStatus(Enum):
    PENDING = ev("pending", description="Queued: not tried yet, or queued to be tried again.")
    SUCCEEDED = ev("succeeded", description="The endpoint answered 2xx.")
    FAILED = ev(
        "failed",
        description="The last attempt failed; it is tried again at `nextAttemptAt` (null: "
        "no more attempts; `webhookRedeliver` sends it again).",
    )


@strawberry.type(description="One attempt at sending a webhook delivery.")
class WebhookAttempt:
    attempted_at: datetime = strawberry.field(description="When it was made (UTC).")
    succeeded: bool = strawberry.field(description="Whether the endpoint answered 2xx.")
    response_code: int | None = strawberry.field(
        description="The HTTP status the endpoint answered; null when there was no answer."
    )
    duration_ms: int = strawberry.field(description="How long it took, in milliseconds.")
    error: str | None = strawberry.field(
        description="What went wrong, as a class (HTTP_STATUS, TIMEOUT, ConnectError, "
        "PRIVATE_ADDRESS, UNKNOWN_HOST …), never a message; null on success."
    )


async def _attempts(reads: Any, ids: Sequence[int]) -> list[list[WebhookAttempt]]:
    query = (
        select(AttemptModel.__table__)
        .where(AttemptModel.delivery_id.in_(list(ids)))
        .order_by(AttemptModel.delivery_id, AttemptModel.id.desc())
    )
    found: dict[int, list[WebhookAttempt]] = defaultdict(list)
    async with reads.connect() as conn:
        for row in (await conn.execute(query)).all():
            shown = found[int(row.delivery_id)]
            if len(shown) < ATTEMPTS_SHOWN:
                shown.append(
                    WebhookAttempt(
                        attempted_at=row.attempted_at,
                        succeeded=bool(row.succeeded),
                        response_code=row.response_code,
                        duration_ms=int(row.duration_ms),
                        error=row.error,
                    )
                )
    return [found.get(i, []) for i in ids]


def _manages(info: Info) -> bool:
    return info.context.viewer.can(Permission.WEBHOOKS_MANAGE)


@strawberry.type(
    description="One event for one endpoint, and what became of it: the delivery log. Its "
    "`id` is the `webhook-id` header the endpoint receives, the same at every attempt."
)
class WebhookDelivery(relay.Node):
    id: relay.NodeID[int]
    event_type: WebhookEventType = strawberry.field(description="The event.")
    status: WebhookDeliveryStatus = strawberry.field(description="Where it stands.")
    attempts: int = strawberry.field(description="How many attempts were made so far.")
    last_response_code: int | None = strawberry.field(
        description="The HTTP status of the last attempt; null if none answered."
    )
    last_error: str | None = strawberry.field(
        description="The last attempt's class of error (see `WebhookAttempt.error`)."
    )
    last_attempt_at: datetime | None = strawberry.field(
        description="When the last attempt was made (UTC)."
    )
    duration_ms: int | None = strawberry.field(
        description="How long the last attempt took, in milliseconds."
    )
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is tried again (UTC); null when no attempt is planned."
    )
    created_at: datetime = strawberry.field(description="When the event happened (UTC).")
    endpoint_id: relay.GlobalID = strawberry.field(description="Its `WebhookEndpoint`.")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id,
            event_type=WebhookEventType(row.event_type),
            status=WebhookDeliveryStatus(row.status),
            attempts=int(row.attempts),
            last_response_code=row.last_response_code,
            last_error=row.last_error,
            last_attempt_at=row.last_attempt_at,
            duration_ms=row.last_duration_ms,
            next_attempt_at=row.next_attempt_at,
            created_at=row.created_at,
            endpoint_id=relay.GlobalID(ENDPOINT, str(row.endpoint_id)),
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        if not _manages(info):
            return [None for _ in ids]
        found = await readable_rows(info, DeliveryModel.__table__, ids)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(
        description=f"Its attempts, newest first (at most {ATTEMPTS_SHOWN}): when, the "
        "response code, how long, and the class of error."
    )
    async def attempt_log(self, info: Info) -> list[WebhookAttempt]:
        loader = reads_loader(info, ("webhooks", "attempts"), _attempts)
        return await loader.load(self.id)  # type: ignore[no-any-return]


@strawberry.type(description="Webhook deliveries, a page at a time.")
class WebhookDeliveryConnection(CountedConnection[WebhookDelivery]):
    pass


@strawberry.type(
    description="A receiver of outgoing webhooks: each event it subscribes to is POSTed to "
    "its URL as JSON (`{type, timestamp, data}`), signed with its secret as the Standard "
    "Webhooks spec says (headers `webhook-id`, `webhook-timestamp`, `webhook-signature`). "
    "Admins only; the secret is never shown here."
)
class WebhookEndpoint(relay.Node):
    id: relay.NodeID[int]
    url: str = strawberry.field(description="Where deliveries are POSTed.")
    description: str | None = strawberry.field(description="What it is for.")
    event_types: list[WebhookEventType] = strawberry.field(
        description="The events it subscribes to."
    )
    enabled: bool = strawberry.field(
        description="Whether it receives deliveries; turned off after a day of failures."
    )
    failing_since: datetime | None = strawberry.field(
        description="The first failed attempt since its last success (UTC); null when not "
        "failing. A day of failures disables it."
    )
    last_success_at: datetime | None = strawberry.field(
        description="When it last answered 2xx (UTC)."
    )
    disabled_at: datetime | None = strawberry.field(description="When it was disabled (UTC).")
    disabled_reason: str | None = strawberry.field(description="Why it was disabled.")
    created_at: datetime = strawberry.field(description="When it was registered (UTC).")
    owner_id: relay.GlobalID | None = strawberry.field(
        description="The `User` who registered it, told when it is disabled for failing."
    )

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id,
            url=row.url,
            description=row.description,
            event_types=[
                WebhookEventType(t) for t in row.event_types or () if t in webhooks.EVENT_TYPES
            ],
            enabled=bool(row.enabled),
            failing_since=row.failing_since,
            last_success_at=row.last_success_at,
            disabled_at=row.disabled_at,
            disabled_reason=row.disabled_reason,
            created_at=row.created_at,
            owner_id=optional_gid("User", row.owner_id),
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        if not _manages(info):
            return [None for _ in ids]
        found = await readable_rows(info, _ENDPOINT_COLUMNS, ids)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @relay.connection(
        WebhookDeliveryConnection,
        description="Its deliveries, newest first: the delivery log.",
        max_results=1000,
    )
    def deliveries(
        self,
        info: Info,
        status: Annotated[
            WebhookDeliveryStatus | None,
            strawberry.argument(description="Only deliveries in this state."),
        ] = None,
    ) -> Iterable[WebhookDelivery]:
        query = select(DeliveryModel.__table__)
        if status is not None:
            query = query.where(DeliveryModel.status == status.value)
        return KeysetQuery(
            query,
            [SortKey(DeliveryModel.id, descending=True)],
            WebhookDelivery.from_row,
            info.context.reads,
            partition=(DeliveryModel.endpoint_id, self.id),
            batch_key=("WebhookEndpoint.deliveries", status),
        )


# Every column but the encrypted secret: it never leaves the database through GraphQL.
_ENDPOINT_COLUMNS = select(
    *[c for c in EndpointModel.__table__.c if c.name != "secret_encrypted"]
).subquery("webhook_endpoints")


@strawberry.type(description="Webhook endpoints, a page at a time.")
class WebhookEndpointConnection(CountedConnection[WebhookEndpoint]):
    pass


@strawberry.enum(description="Why a webhook mutation failed.")
class WebhookErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such endpoint or delivery.")
    INVALID_URL = ev("INVALID_URL", description="Not an absolute http(s) URL, or too long.")
    NOT_HTTPS = ev("NOT_HTTPS", description="In production, webhook URLs must use https.")
    CREDENTIALS_IN_URL = ev(
        "CREDENTIALS_IN_URL", description="The URL holds a user name or password."
    )
    PRIVATE_ADDRESS = ev(
        "PRIVATE_ADDRESS",
        description="In production: the host is or resolves to a loopback, private, "
        "link-local, multicast or reserved address.",
    )
    UNKNOWN_HOST = ev(
        "UNKNOWN_HOST", description="In production: the host name could not be resolved."
    )
    ENDPOINT_DISABLED = ev(
        "ENDPOINT_DISABLED", description="The delivery's endpoint is disabled: enable it first."
    )
    TOO_MANY = ev("TOO_MANY", description=f"There are {webhooks.ENDPOINTS_MAX} endpoints already.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    REQUIRED = ev("REQUIRED", description="A required value is missing (an event type).")
    EVENT_NOT_ALLOWED = ev(
        "EVENT_NOT_ALLOWED",
        description="An event whose data the viewer may not read: subscribing to it, or "
        "changing the URL of an endpoint subscribed to it, needs its permission ("
        + "; ".join(f"{e.value}: {p.value}" for e, p in webhooks.EVENT_PERMISSIONS.items())
        + ").",
    )
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a webhook mutation's input.")
class WebhookError(UserError):
    code: WebhookErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The endpoint, or why there is none.")
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint.")
    user_errors: list[WebhookError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The endpoint with its new signing secret, or why there is none.")
class WebhookEndpointSecretPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint.")
    secret: str | None = strawberry.field(
        description="The signing secret (`whsec_` and base64), shown this once only: keep "
        "it with the receiver, which verifies each delivery with it (any Standard Webhooks "
        "library: `Webhook(secret).verify(body, headers)`)."
    )
    user_errors: list[WebhookError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The id of the deleted endpoint, or why nothing was deleted.")
class WebhookEndpointDeletePayload:
    deleted_id: relay.GlobalID | None = strawberry.field(
        description="The deleted `WebhookEndpoint`."
    )
    user_errors: list[WebhookError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The delivery queued again, or why it was not.")
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None = strawberry.field(description="The delivery.")
    user_errors: list[WebhookError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A new webhook endpoint.")
class WebhookEndpointCreateInput:
    url: str = strawberry.field(
        description="Where to POST (at most 2,000 characters). In production: https, to a "
        "host whose addresses are all public; never a user name or password."
    )
    event_types: list[WebhookEventType] = strawberry.field(
        description="The events to send it (at least one)."
    )
    description: str | None = strawberry.field(
        default=None, description="What it is for (at most 500 characters)."
    )


@strawberry.input(description="Changes to a webhook endpoint; what is left out stays.")
class WebhookEndpointUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The `WebhookEndpoint`.")
    url: str | None = strawberry.field(default=None, description="A new URL (same rules).")
    event_types: list[WebhookEventType] | None = strawberry.field(
        default=None, description="The events to send it from now on (at least one)."
    )
    enabled: bool | None = strawberry.field(
        default=None,
        description="False turns it off; true turns it on again and forgets its failures "
        "(deliveries that stopped stay so: redeliver them).",
    )
    description: str | None = strawberry.field(
        default=None, description="What it is for (at most 500 characters; empty removes it)."
    )


@strawberry.input(description="Which webhook endpoint.")
class WebhookEndpointInput:
    id: relay.GlobalID = strawberry.field(description="The `WebhookEndpoint`.")


@strawberry.input(description="Which delivery to send again.")
class WebhookRedeliverInput:
    delivery_id: relay.GlobalID = strawberry.field(description="The `WebhookDelivery`.")


def _errors(problems: Any) -> list[WebhookError]:
    return user_errors(WebhookError, WebhookErrorCode, problems)


async def _secret_payload(
    info: Info, made: tuple[int, str] | None, problems: Any
) -> WebhookEndpointSecretPayload:
    """An endpoint with its new secret (shown this once), or what was wrong."""
    return WebhookEndpointSecretPayload(
        endpoint=await _endpoint_of(info, made[0] if made else None),
        secret=made[1] if made else None,
        user_errors=_errors(problems),
    )


async def _endpoint_of(info: Info, endpoint_id: int | None) -> WebhookEndpoint | None:
    if endpoint_id is None:
        return None
    return (await WebhookEndpoint.resolve_nodes(info=info, node_ids=[str(endpoint_id)]))[0]


@strawberry.type
class WebhookQuery:
    @relay.connection(
        WebhookEndpointConnection,
        description="Every outgoing webhook endpoint, newest first (admins).",
        max_results=1000,
        extensions=requires(Permission.WEBHOOKS_MANAGE),
    )
    def webhook_endpoints(self, info: Info) -> Iterable[WebhookEndpoint]:
        query = select(_ENDPOINT_COLUMNS)
        sort = [SortKey(_ENDPOINT_COLUMNS.c.id, descending=True)]
        return KeysetQuery(query, sort, WebhookEndpoint.from_row, info.context.reads)


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        extensions=requires(Permission.WEBHOOKS_MANAGE),
        description="Register a webhook endpoint. The payload's `secret` is shown this once.",
    )
    async def webhook_endpoint_create(
        self, info: Info, input: Annotated[WebhookEndpointCreateInput, arg("The endpoint.")]
    ) -> WebhookEndpointSecretPayload:
        viewer, rt = info.context.viewer, info.context.runtime
        given = webhooks.EndpointFields(
            url=input.url,
            event_types=[str(t.value) for t in input.event_types],
            description=input.description,
        )

        async def change(uow: Any) -> tuple[int, str]:
            endpoint, secret = await webhooks.create_endpoint(rt, uow, viewer, given)
            return endpoint.id, secret

        return await _secret_payload(info, *await run_in_transaction(info, change))

    @strawberry.mutation(
        extensions=requires(Permission.WEBHOOKS_MANAGE),
        description="Change a webhook endpoint's URL, events or description, or turn it off "
        "or on again.",
    )
    async def webhook_endpoint_update(
        self, info: Info, input: Annotated[WebhookEndpointUpdateInput, arg("The changes.")]
    ) -> WebhookEndpointPayload:
        viewer, rt = info.context.viewer, info.context.runtime
        given = webhooks.EndpointChange(
            url=input.url,
            event_types=(
                [str(t.value) for t in input.event_types] if input.event_types is not None else None
            ),
            enabled=input.enabled,
            description=input.description,
        )

        async def change(uow: Any) -> int:
            endpoint_id = pk_of(input.id, ENDPOINT, "id")
            return (await webhooks.update_endpoint(rt, uow, viewer, endpoint_id, given)).id

        done, problems = await run_in_transaction(info, change)
        return WebhookEndpointPayload(
            endpoint=await _endpoint_of(info, done), user_errors=_errors(problems)
        )

    @strawberry.mutation(
        extensions=requires(Permission.WEBHOOKS_MANAGE),
        description="Give a webhook endpoint a new signing secret, shown this once; the old "
        "one signs nothing more (retries included).",
    )
    async def webhook_endpoint_secret_rotate(
        self, info: Info, input: Annotated[WebhookEndpointInput, arg("The endpoint.")]
    ) -> WebhookEndpointSecretPayload:
        viewer, rt = info.context.viewer, info.context.runtime

        async def change(uow: Any) -> tuple[int, str]:
            endpoint_id = pk_of(input.id, ENDPOINT, "id")
            endpoint, secret = await webhooks.rotate_secret(rt, uow, viewer, endpoint_id)
            return endpoint.id, secret

        return await _secret_payload(info, *await run_in_transaction(info, change))

    @strawberry.mutation(
        extensions=requires(Permission.WEBHOOKS_MANAGE),
        description="Delete a webhook endpoint with its delivery log.",
    )
    async def webhook_endpoint_delete(
        self, info: Info, input: Annotated[WebhookEndpointInput, arg("The endpoint.")]
    ) -> WebhookEndpointDeletePayload:
        viewer = info.context.viewer
        done, problems = await run_in_transaction(
            info,
            lambda uow: webhooks.delete_endpoint(uow, viewer, pk_of(input.id, ENDPOINT, "id")),
        )
        return WebhookEndpointDeletePayload(
            deleted_id=optional_gid(ENDPOINT, done), user_errors=_errors(problems)
        )

    @strawberry.mutation(
        extensions=requires(Permission.WEBHOOKS_MANAGE),
        description="Send a delivery again now, whatever became of it: a new attempt with the "
        "same `webhook-id` (receivers drop duplicates by it). Its endpoint must be enabled.",
    )
    async def webhook_redeliver(
        self, info: Info, input: Annotated[WebhookRedeliverInput, arg("The delivery.")]
    ) -> WebhookDeliveryPayload:
        viewer = info.context.viewer

        async def change(uow: Any) -> WebhookDelivery:
            delivery_id = pk_of(input.delivery_id, DELIVERY, "deliveryId")
            delivery = await webhooks.redeliver(uow, viewer, delivery_id)
            await uow.session.flush()
            return WebhookDelivery.from_row(delivery)

        done, problems = await run_in_transaction(info, change)
        return WebhookDeliveryPayload(delivery=done, user_errors=_errors(problems))


TYPES: list[type] = [WebhookEndpoint, WebhookDelivery]
