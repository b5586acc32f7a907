"""Outgoing webhooks: admins register endpoints (a URL and the event types it wants); each
event is POSTed to every enabled endpoint subscribed to it, signed as the Standard Webhooks
spec says (HMAC-SHA256 over ``webhook-id.webhook-timestamp.body``, with the endpoint's
``whsec_`` secret).

The outbox: ``emit`` writes one delivery row per endpoint, and one job each, in the
transaction of the change itself, so that a rollback sends nothing and a commit always has
its jobs. A job makes one attempt (POST, 10 s, no redirects; 2xx is success) and records it
(status, response code, duration, time, the error's class: never a message, a body or the
secret). A failed delivery is tried again by the sweep (``RETRY_JOB``, every five minutes)
after ``BACKOFF`` (5 minutes doubling to 8 hours; nine attempts over about a day); its
``webhook-id`` stays the same across attempts and redeliveries, so receivers can drop
duplicates (delivery is at least once). An endpoint whose deliveries have failed for a day
with no success since is disabled, its undelivered deliveries stop, and the admin who
registered it is told once (notification kind ``webhooks``).

Addresses: http is allowed outside production only (so a local receiver works); a URL with
a user name or password is refused; in production every address the host resolves to must
be public (link previews' rule: no loopback, private, link-local, multicast, reserved…),
checked when the endpoint is saved and again at each attempt, which then connects to the
address it checked (the name in Host and SNI), so that DNS changed in between cannot aim it
at the server's own network.

The secret is made by the server, shown once (on creation and rotation), and kept
encrypted with the two-factor Fernet keys; it is in no log, audit row, delivery row,
error or GraphQL field.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
from sqlalchemy import delete, func, insert, select, update
from standardwebhooks import Webhook

from alumnet.config import Settings
from alumnet.domain.communication.notifications import Event, notify
from alumnet.domain.community import previews
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit, two_factor
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.runtime import Runtime
from alumnet.observability import get_logger
from alumnet.persistence.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from alumnet.persistence.uow import UnitOfWork

log = get_logger(__name__)

DELIVER_JOB = "ops.webhook_deliver"
RETRY_JOB = "ops.webhook_retry"
KIND = "webhooks"
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
STATUSES = (PENDING, SUCCEEDED, FAILED)
# Seconds after the 1st, 2nd, … failed attempt before the next; none after the last.
BACKOFF: tuple[int, ...] = (300, 900, 1800, 3600, 7200, 14400, 28800, 28800)
DISABLE_AFTER = timedelta(days=1)
TIMEOUT = 10.0  # seconds, for one attempt
URL_MAX = 2000
DESCRIPTION_MAX = 500
ENDPOINTS_MAX = 50
SWEEP_BATCH = 500
USER_AGENT = "alumnet-webhooks/1.0 (+Standard Webhooks)"


class EventType(StrEnum):
    """What an endpoint may subscribe to: the ``type`` of the JSON body."""

    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    ENROLLMENT_CHANGED = "enrollment.changed"
    ATTENDANCE_RECORDED = "attendance.recorded"
    INTEGRITY_DECISION = "integrity.decision"
    IMPORT_FINISHED = "import.finished"
    GIFT_CONFIRMED = "gift.confirmed"
    INQUIRY_CONVERTED = "inquiry.converted"


EVENT_TYPES = tuple(e.value for e in EventType)

# What a subscriber to each event must hold (everywhere): its deliveries carry that data,
# so only someone who may read it may send it to an address (webhooks:manage alone does not
# reach donors' gifts or prospective students).
EVENT_PERMISSIONS: dict[EventType, Permission] = {
    EventType.USER_CREATED: Permission.USERS_READ,
    EventType.USER_UPDATED: Permission.USERS_READ,
    EventType.ENROLLMENT_CHANGED: Permission.COHORTS_READ,
    EventType.ATTENDANCE_RECORDED: Permission.COHORTS_READ,
    EventType.INTEGRITY_DECISION: Permission.INTEGRITY_DECIDE,
    EventType.IMPORT_FINISHED: Permission.DATA_IMPORT,
    EventType.GIFT_CONFIRMED: Permission.GIVING,
    EventType.INQUIRY_CONVERTED: Permission.ADMISSIONS,
}


@dataclass(frozen=True)
class EndpointFields:
    url: str
    event_types: Sequence[str]
    description: str | None = None


@dataclass(frozen=True)
class EndpointChange:
    """What ``update_endpoint`` changes: None leaves a value as it is."""

    url: str | None = None
    event_types: Sequence[str] | None = None
    enabled: bool | None = None
    description: str | None = None


@dataclass(frozen=True)
class Outcome:
    """One attempt: the response code (None: no response), its class of error, if any."""

    code: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


def gid(type_name: str, pk: int) -> str:
    """The global id GraphQL shows for an object (base64 of ``Type:pk``)."""
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode("ascii")


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


# -- addresses -------------------------------------------------------------------------------


def _parsed(problems: Problems, url: str, field: str) -> httpx.URL | None:
    if len(url) > URL_MAX:
        problems.add("INVALID_URL", f"A webhook URL has at most {URL_MAX} characters.", field)
        return None
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        problems.add("INVALID_URL", "Give an absolute https:// URL.", field)
        return None
    if parsed.userinfo:
        problems.add("CREDENTIALS_IN_URL", "A webhook URL may not hold a user name or "
                     "password: receivers check the signature instead.", field)  # fmt: skip
        return None
    return parsed


async def _production_addresses(
    problems: Problems, url: str, field: str
) -> tuple[httpx.URL | None, list[previews.IPAddress]]:
    """Production's rules: the URL, https, and every address its host resolves to (public
    ones only, else a problem); resolved once, so that the caller connects to what was
    checked."""
    parsed = _parsed(problems, url, field)
    if parsed is None:
        return None, []
    if parsed.scheme != "https":
        problems.add("NOT_HTTPS", "Webhook URLs must use https.", field)
        return parsed, []
    host = parsed.raw_host.decode("ascii").strip("[]")
    try:
        addresses = await previews.resolve(host, parsed.port or 443)
    except previews.Refused:
        addresses = []
    if not addresses:
        problems.add("UNKNOWN_HOST", "The URL's host name could not be found.", field)
    elif not all(previews.is_public(a) for a in addresses):
        problems.add("PRIVATE_ADDRESS", "The URL points to a loopback, private or otherwise "
                     "non-public network address.", field)  # fmt: skip
    return parsed, addresses


async def check_url(settings: Settings, problems: Problems, url: str, field: str = "url") -> str:
    """The URL, trimmed, with a problem added for each rule it breaks: well formed, no user
    name or password, and in production https to public addresses only."""
    url = url.strip()
    if settings.is_production:
        await _production_addresses(problems, url, field)
    else:
        _parsed(problems, url, field)
    return url


def _check_types(problems: Problems, given: Sequence[str]) -> list[str]:
    chosen = sorted(set(given))
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        problems.add("INVALID", f"Unknown event types: {', '.join(unknown)[:200]}.", "eventTypes")
    elif not chosen:
        problems.add("REQUIRED", "Subscribe to at least one event type.", "eventTypes")
    return chosen


def _check_allowed(problems: Problems, viewer: Viewer, types: Sequence[str]) -> None:
    """A problem for each event whose data this viewer may not read (``EVENT_PERMISSIONS``)."""
    for t in types:
        if t not in EVENT_TYPES:
            continue
        needed = EVENT_PERMISSIONS[EventType(t)]
        if not viewer.can(needed):
            problems.add("EVENT_NOT_ALLOWED", f"Subscribing to {t} needs the "
                         f"{needed.value} permission: its deliveries carry that data.",
                         "eventTypes")  # fmt: skip


def _host(url: str) -> str:
    """What audit rows say of a URL: its host only (a query string may carry a token)."""
    try:
        return httpx.URL(url).host
    except (httpx.InvalidURL, ValueError):
        return ""


# -- endpoints -------------------------------------------------------------------------------


async def _endpoint(uow: UnitOfWork, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await uow.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise DomainError.of("NOT_FOUND", "No such webhook endpoint.", "id")
    return endpoint


async def create_endpoint(
    rt: Runtime, uow: UnitOfWork, viewer: Viewer, given: EndpointFields
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown this once)."""
    owner = viewer.require(Permission.WEBHOOKS_MANAGE)
    problems = Problems()
    url = await check_url(rt.settings, problems, given.url)
    types = _check_types(problems, given.event_types)
    _check_allowed(problems, viewer, types)
    description = check_text(problems, given.description, field="description",
                             max_length=DESCRIPTION_MAX, label="The description")  # fmt: skip
    problems.raise_if_any()
    count = await uow.session.scalar(select(func.count()).select_from(WebhookEndpoint))
    if (count or 0) >= ENDPOINTS_MAX:
        raise DomainError.of("TOO_MANY", f"At most {ENDPOINTS_MAX} webhook endpoints.")
    secret = new_secret()
    now = datetime.now(UTC)
    endpoint = WebhookEndpoint(
        url=url, description=description or None, event_types=types, enabled=True,
        secret_encrypted=two_factor.seal(rt.settings, secret), owner_id=owner,
        created_at=now, updated_at=now,
    )  # fmt: skip
    uow.session.add(endpoint)
    await uow.session.flush()
    audit.record(uow, "webhook.create", object_type="WebhookEndpoint", object_ids=[endpoint.id],
                 details={"host": _host(url), "eventTypes": types})  # fmt: skip
    return endpoint, secret


async def update_endpoint(
    rt: Runtime, uow: UnitOfWork, viewer: Viewer, endpoint_id: int, change: EndpointChange
) -> WebhookEndpoint:
    """Change an endpoint's URL, event types, description, or turn it off or on again
    (on again: its failures so far are forgotten; deliveries that had stopped stay so,
    and ``webhookRedeliver`` sends one again)."""
    viewer.require(Permission.WEBHOOKS_MANAGE)
    endpoint = await _endpoint(uow, endpoint_id)
    problems = Problems()
    url = await check_url(rt.settings, problems, change.url) if change.url is not None else None
    types = _check_types(problems, change.event_types) if change.event_types is not None else None
    if (url is not None and url != endpoint.url) or types is not None:
        # Where its events go, and which: only for someone who may read all of them.
        _check_allowed(problems, viewer, types if types is not None else endpoint.event_types)
    description = check_text(problems, change.description, field="description",
                             max_length=DESCRIPTION_MAX, label="The description")  # fmt: skip
    problems.raise_if_any()
    now = datetime.now(UTC)
    changed: list[str] = []
    if url is not None and url != endpoint.url:
        endpoint.url = url
        changed.append("url")
    if types is not None and types != list(endpoint.event_types):
        endpoint.event_types = types
        changed.append("eventTypes")
    if description is not None and (description or None) != endpoint.description:
        endpoint.description = description or None
        changed.append("description")
    if change.enabled is not None and change.enabled != endpoint.enabled:
        endpoint.enabled = change.enabled
        changed.append("enabled")
        if change.enabled:
            endpoint.disabled_at = endpoint.disabled_reason = endpoint.failing_since = None
        else:
            endpoint.disabled_at, endpoint.disabled_reason = now, "Turned off by an admin."
    if changed:
        endpoint.updated_at = now
        audit.record(uow, "webhook.update", object_type="WebhookEndpoint",
                     object_ids=[endpoint.id],
                     details={"changed": changed, "host": _host(endpoint.url)})  # fmt: skip
    return endpoint


async def rotate_secret(
    rt: Runtime, uow: UnitOfWork, viewer: Viewer, endpoint_id: int
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret (shown this once); the old one signs nothing from now on,
    retries of earlier deliveries included."""
    viewer.require(Permission.WEBHOOKS_MANAGE)
    endpoint = await _endpoint(uow, endpoint_id)
    secret = new_secret()
    endpoint.secret_encrypted = two_factor.seal(rt.settings, secret)
    endpoint.updated_at = datetime.now(UTC)
    audit.record(uow, "webhook.rotate_secret", object_type="WebhookEndpoint",
                 object_ids=[endpoint.id])  # fmt: skip
    return endpoint, secret


async def delete_endpoint(uow: UnitOfWork, viewer: Viewer, endpoint_id: int) -> int:
    """Remove an endpoint with its deliveries and their attempts."""
    viewer.require(Permission.WEBHOOKS_MANAGE)
    endpoint = await _endpoint(uow, endpoint_id)
    mine = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id)
    await uow.session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(mine)))
    await uow.session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    )
    host = _host(endpoint.url)
    await uow.session.delete(endpoint)
    audit.record(uow, "webhook.delete", object_type="WebhookEndpoint", object_ids=[endpoint_id],
                 details={"host": host})  # fmt: skip
    return endpoint_id


async def redeliver(uow: UnitOfWork, viewer: Viewer, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again, whatever became of it (a new attempt, the same webhook-id),
    if its endpoint is enabled."""
    viewer.require(Permission.WEBHOOKS_MANAGE)
    delivery = await uow.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise DomainError.of("NOT_FOUND", "No such webhook delivery.", "deliveryId")
    endpoint = await uow.session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        raise DomainError.of("ENDPOINT_DISABLED", "Its endpoint is disabled: enable it first.",
                             "deliveryId")  # fmt: skip
    delivery.status, delivery.next_attempt_at = PENDING, None
    await uow.add_job(DELIVER_JOB, {"delivery_id": delivery.id})
    audit.record(uow, "webhook.redeliver", object_type="WebhookDelivery",
                 object_ids=[delivery.id])  # fmt: skip
    return delivery


# -- the outbox ------------------------------------------------------------------------------


async def emit(uow: UnitOfWork, event_type: EventType, data: dict[str, Any]) -> int:
    """In the caller's transaction: a delivery of this event for each enabled endpoint
    subscribed to it, and its job; returns how many. ``data`` holds global ids and few,
    non-secret fields."""
    found = await uow.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(WebhookEndpoint.enabled)
    )
    wanted = [int(i) for i, types in found.all() if event_type.value in (types or ())]
    if not wanted:
        return 0
    now = datetime.now(UTC)
    payload = {"type": event_type.value, "timestamp": now.isoformat(), "data": data}
    rows = [
        {"endpoint_id": e, "event_type": event_type.value, "payload": payload,
         "status": PENDING, "attempts": 0, "created_at": now}
        for e in wanted
    ]  # fmt: skip
    ids = (
        await uow.session.execute(insert(WebhookDelivery).returning(WebhookDelivery.id), rows)
    ).scalars()
    await uow.add_jobs(DELIVER_JOB, [{"delivery_id": int(i)} for i in ids])
    return len(wanted)


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_headers(secret: str, msg_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
    }


async def _post(settings: Settings, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    started = time.monotonic()
    code: int | None = None
    error: str | None = None
    try:
        parsed = httpx.URL(url)
        target = parsed
        extensions: dict[str, Any] = {}
        sent = {**headers, "content-type": "application/json", "user-agent": USER_AGENT}
        if settings.is_production:
            # Checked again now (DNS may have changed), and connected to what was checked.
            problems = Problems()
            _, addresses = await _production_addresses(problems, url, "url")
            if problems.items or not addresses:
                return Outcome(None, problems.items[0].code if problems.items else None, 0)
            host = parsed.raw_host.decode("ascii").strip("[]")
            target = parsed.copy_with(host=str(addresses[0]))
            sent["host"] = host if parsed.port is None else f"{host}:{parsed.port}"
            extensions["sni_hostname"] = host
        async with httpx.AsyncClient(
            timeout=TIMEOUT, follow_redirects=False, trust_env=False
        ) as client:
            request = client.build_request(
                "POST", target, content=body, headers=sent, extensions=extensions
            )
            response = await client.send(request, stream=True)
            code = response.status_code
            await response.aclose()
    except previews.Refused:
        error = "UNKNOWN_HOST"
    except httpx.TimeoutException:
        error = "TIMEOUT"
    except (httpx.HTTPError, OSError, ValueError) as exc:
        error = type(exc).__name__[:100]
    if code is not None and not 200 <= code < 300:
        error = "HTTP_STATUS"
    return Outcome(code, error, int((time.monotonic() - started) * 1000))


async def deliver(rt: Runtime, delivery_id: int) -> dict[str, Any]:
    """One attempt at a delivery (the job ``DELIVER_JOB``); never raises for the receiver's
    failure: the sweep tries again after the back-off, not the job queue."""
    async with rt.database.session() as session:
        row = (
            await session.execute(
                select(
                    WebhookDelivery.status,
                    WebhookDelivery.payload,
                    WebhookEndpoint.id,
                    WebhookEndpoint.url,
                    WebhookEndpoint.enabled,
                    WebhookEndpoint.secret_encrypted,
                )
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.id == delivery_id)
            )
        ).first()
    if row is None:
        return {"skipped": "gone"}
    if not row.enabled:
        return {"skipped": "disabled"}
    if row.status != PENDING:
        return {"skipped": row.status}
    secret = two_factor.unseal(rt.settings, row.secret_encrypted)
    if secret is None:
        outcome = Outcome(None, "SECRET_UNAVAILABLE", 0)
    else:
        at = datetime.now(UTC)
        body = body_of(row.payload)
        outcome = await _post(
            rt.settings, row.url, body, signed_headers(secret, gid("WebhookDelivery",
                                                                   delivery_id), body, at)
        )  # fmt: skip
    async with rt.transaction() as uow:
        await _record(uow, delivery_id, int(row.id), outcome)
    if not outcome.succeeded:
        log.info("webhook_attempt_failed", delivery_id=delivery_id, endpoint_id=int(row.id),
                 code=outcome.code, error=outcome.error)  # fmt: skip
    return {"delivery_id": delivery_id, "code": outcome.code, "error": outcome.error}


async def _record(uow: UnitOfWork, delivery_id: int, endpoint_id: int, outcome: Outcome) -> None:
    now = datetime.now(UTC)
    session = uow.session
    await session.execute(insert(WebhookAttempt).values(
        delivery_id=delivery_id, attempted_at=now, succeeded=outcome.succeeded,
        response_code=outcome.code, duration_ms=outcome.duration_ms, error=outcome.error,
    ))  # fmt: skip
    delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None:  # the endpoint was deleted meanwhile
        return
    delivery.attempts += 1
    delivery.last_response_code, delivery.last_error = outcome.code, outcome.error
    delivery.last_attempt_at, delivery.last_duration_ms = now, outcome.duration_ms
    if outcome.succeeded:
        delivery.status, delivery.next_attempt_at = SUCCEEDED, None
        await session.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
            .values(failing_since=None, last_success_at=now)
        )  # fmt: skip
        return
    delivery.status = FAILED
    step = delivery.attempts - 1
    delivery.next_attempt_at = now + timedelta(seconds=BACKOFF[step]) if step < len(
        BACKOFF) else None  # fmt: skip
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None))
        .values(failing_since=now)
    )
    await _disable_if_failing(uow, endpoint_id, now)


async def _disable_if_failing(uow: UnitOfWork, endpoint_id: int, now: datetime) -> None:
    """Disable the endpoint once it has failed for a day with no success since; its owner
    is told once (only the update that turns it off notifies)."""
    turned_off = await uow.session.execute(
        update(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.enabled,
            WebhookEndpoint.failing_since <= now - DISABLE_AFTER,
        )
        .values(
            enabled=False,
            disabled_at=now,
            updated_at=now,
            disabled_reason="Every delivery failed for a day.",
        )
        .returning(WebhookEndpoint.owner_id, WebhookEndpoint.url)
    )
    found = turned_off.first()
    if found is None:
        return
    await uow.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status.in_((PENDING, FAILED)),
        )
        .values(status=FAILED, next_attempt_at=None)
    )
    audit.record(uow, "webhook.disable", object_type="WebhookEndpoint", object_ids=[endpoint_id],
                 details={"host": _host(found.url)}, actor_id=None)  # fmt: skip
    if found.owner_id is not None:
        await notify(uow, [int(found.owner_id)], Event(
            kind=KIND, title=f"Webhook endpoint disabled: {_host(found.url)}"[:200],
            body="Every delivery to this endpoint failed for a day, so alumnet stopped "
            "sending to it. Fix the receiver, enable the endpoint again "
            "(webhookEndpointUpdate), and redeliver what it missed.",
            subject_type="WebhookEndpoint", subject_id=endpoint_id,
        ))  # fmt: skip


async def retry_due(rt: Runtime) -> dict[str, Any]:
    """The sweep (``RETRY_JOB``): failed deliveries whose next attempt is due, of enabled
    endpoints, queued again (a batch at a time)."""
    now = datetime.now(UTC)
    async with rt.transaction() as uow:
        due = (
            (
                await uow.session.execute(
                    select(WebhookDelivery.id)
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                    .where(
                        WebhookEndpoint.enabled,
                        WebhookDelivery.status == FAILED,
                        WebhookDelivery.next_attempt_at <= now,
                    )
                    .order_by(WebhookDelivery.next_attempt_at)
                    .limit(SWEEP_BATCH)
                )
            )
            .scalars()
            .all()
        )
        ids = [int(i) for i in due]
        if ids:
            await uow.session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                .values(status=PENDING, next_attempt_at=None)
            )  # fmt: skip
            await uow.add_jobs(DELIVER_JOB, [{"delivery_id": i} for i in ids])
    return {"queued": len(ids)}
