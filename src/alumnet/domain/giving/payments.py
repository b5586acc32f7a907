"""Online payments, through a payment-provider port.

A donor starts a checkout (``start_checkout``): alumnet keeps a payment intent (what, to
which fund, by whom, with a ``reference`` of its own) and sends the donor to the provider's
hosted payment page. The provider tells alumnet what happened by a webhook (``receive``):
a payment succeeded (the gift is recorded, once), was refunded (a refund entry, once), or
failed. Nothing the donor's browser says counts: only a webhook whose signature verifies.

The port is ``PaymentProvider``; ``ALUMNET_PAYMENTS_PROVIDER`` chooses the adapter:

- ``manual`` (the default): no online payments. Gifts are recorded by giving staff (or
  reported by alumni and confirmed); checkouts are refused (ONLINE_PAYMENTS_OFF) and every
  webhook is refused.
- ``signed``: a generic hosted-payment-page provider. The checkout URL is
  ``ALUMNET_PAYMENTS_CHECKOUT_URL`` with the intent's reference, amount and currency, and an
  HMAC-SHA256 of them (so that the page cannot be sent other figures). Its webhooks carry
  ``Alumnet-Signature: t=<unix seconds>,v1=<hex>``: HMAC-SHA256 with
  ``ALUMNET_PAYMENTS_WEBHOOK_SECRET`` over ``f"{t}.{raw body}"``; several ``v1`` values may
  be sent (while the provider rotates its secret), one must match; ``t`` must lie within
  ``ALUMNET_PAYMENTS_WEBHOOK_TOLERANCE`` seconds of now, either way (a replayed or forged
  old delivery is refused).

Exactly once: each verified event is stored once in ``payment_events`` (unique provider and
event id, insert-or-ignore, the first statement of the delivery's transaction, so that
deliveries of one event at once wait for each other and all but the first write nothing);
the gift's idempotency key is ``f"{provider}:{payment_id}"`` (two events about one payment
record one gift) and a refund's ``f"{provider}:refund:{refund_id}"``.

What a verified event that cannot be applied does (an unknown reference, an amount or
currency other than the intent's, a refund of an unknown payment or larger than the gift, a
fund closed meanwhile): it is stored with its ``outcome`` saying why, nothing else is
written, and the provider is answered 200 so that it stops sending it; giving staff read
the outcome and settle it by hand. A second payment for an intent already paid by another
is not recorded either (refund it at the provider, or record it by hand).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlencode

from sqlalchemy import func, select, update

from alumnet.config import Settings
from alumnet.domain import money
from alumnet.domain.errors import DomainError, Problems
from alumnet.domain.giving import donors as donor_rules
from alumnet.domain.giving import gifts
from alumnet.domain.giving.donors import DonorRef
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.observability import get_logger
from alumnet.persistence.db import inserted_id
from alumnet.persistence.models import Gift, PaymentIntent, Pledge
from alumnet.persistence.models import PaymentEvent as StoredEvent
from alumnet.persistence.uow import UnitOfWork

log = get_logger("alumnet.payments")

SIGNATURE_HEADER = "alumnet-signature"
# The largest webhook body read; a provider's event is a few hundred bytes.
BODY_MAX = 64 * 1024
# How long a checkout stays open for payment.
INTENT_TTL = timedelta(hours=1)
# Checkouts one person may start in an hour.
INTENTS_PER_HOUR = 20
EVENT_TYPES = ("payment.succeeded", "payment.refunded", "payment.failed")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
_AMOUNT = re.compile(r"^[0-9]{1,15}(\.[0-9]{1,10})?$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


class BadSignature(Exception):
    """A webhook delivery that is not the provider's, or not now: missing or malformed
    signature header, no matching signature, timestamp outside the tolerance. Its message
    says which, never a secret or an expected signature."""


class BadEvent(Exception):
    """A delivery whose signature verifies but whose body is not an event alumnet reads
    (not JSON, a field missing or of the wrong kind). Nothing is written."""


@dataclass(frozen=True)
class CheckoutSession:
    """Where the donor pays an intent: the provider's page (None: no online payment) and
    the intent's reference, which comes back in the provider's events."""

    url: str | None
    reference: str


@dataclass(frozen=True)
class PaymentEvent:
    """A verified event of the provider, read from its webhook."""

    event_id: str
    type: str
    created: datetime
    payment_id: str | None
    reference: str | None
    amount: Decimal | None
    currency: str | None
    refund_id: str | None


class PaymentProvider(Protocol):
    """The payment-provider port."""

    name: str
    # Whether donors can pay online through it (the manual adapter: no).
    online: bool

    def checkout(self, intent: PaymentIntent) -> CheckoutSession:
        """Where the donor pays this intent."""
        ...

    def parse_webhook(
        self, headers: Mapping[str, str], raw_body: bytes, now: datetime
    ) -> PaymentEvent:
        """The event a webhook delivery carries, once its signature is verified; raises
        BadSignature (or BadEvent for a verified body that is not an event)."""
        ...


class ManualPayments:
    """No online payments: gifts are recorded by giving staff. No checkout page, and no
    webhook is accepted."""

    name = "manual"
    online = False

    def checkout(self, intent: PaymentIntent) -> CheckoutSession:
        return CheckoutSession(url=None, reference=intent.reference)

    def parse_webhook(
        self, headers: Mapping[str, str], raw_body: bytes, now: datetime
    ) -> PaymentEvent:
        raise BadSignature("Online payments are off: no webhook is accepted.")


class SignedWebhookProvider:
    """A hosted-payment-page provider that signs its webhooks with a shared secret
    (HMAC-SHA256 over the timestamp and the raw body)."""

    name = "signed"
    online = True

    def __init__(self, checkout_url: str, secret: str, tolerance: float) -> None:
        self.checkout_url = checkout_url
        self._secret = secret.encode()
        self.tolerance = tolerance

    def __repr__(self) -> str:  # never the secret
        return f"SignedWebhookProvider(checkout_url={self.checkout_url!r})"

    def sign(self, message: bytes) -> str:
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def checkout(self, intent: PaymentIntent) -> CheckoutSession:
        amount = str(money.major_units(intent.amount_minor, intent.currency))
        signed = f"{intent.reference}.{amount}.{intent.currency}".encode()
        query = urlencode(
            {"reference": intent.reference, "amount": amount, "currency": intent.currency,
             "signature": self.sign(signed)}
        )  # fmt: skip
        joiner = "&" if "?" in self.checkout_url else "?"
        return CheckoutSession(url=f"{self.checkout_url}{joiner}{query}",
                               reference=intent.reference)  # fmt: skip

    def parse_webhook(
        self, headers: Mapping[str, str], raw_body: bytes, now: datetime
    ) -> PaymentEvent:
        header = headers.get(SIGNATURE_HEADER)
        if not header:
            raise BadSignature(f"The {SIGNATURE_HEADER} header is missing.")
        stamp, given = _signature_parts(header)
        expected = self.sign(stamp.encode() + b"." + raw_body)
        matched = False
        for candidate in given:  # every one compared, in constant time each
            matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            raise BadSignature("No signature matches the body.")
        sent_at = int(stamp)
        if abs(now.timestamp() - sent_at) > self.tolerance:
            raise BadSignature("The signature's timestamp is outside the tolerance.")
        return parse_event(raw_body)


def _signature_parts(header: str) -> tuple[str, list[str]]:
    """The timestamp and the v1 signatures of a signature header; BadSignature if it is
    not ``t=<digits>,v1=<64 hex>[,v1=…]`` (other schemes are skipped)."""
    if len(header) > 2_000:
        raise BadSignature("The signature header is malformed.")
    stamp = None
    given: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and stamp is None and value.isascii() and value.isdigit():
            stamp = value if len(value) <= 12 else None
        elif key == "v1" and _HEX.fullmatch(value):
            given.append(value)
    if stamp is None or not given or len(given) > 8:
        raise BadSignature("The signature header is malformed.")
    return stamp, given


def _text(data: Mapping[str, Any], key: str, pattern: re.Pattern[str]) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise BadEvent(f"The event's {key} is not valid.")
    return value


def parse_event(raw_body: bytes) -> PaymentEvent:
    """An event from a verified body. Amounts are strings read as exact decimals; JSON
    numbers with a fraction become decimals too (never floats), and are refused as amounts."""
    try:
        body = json.loads(raw_body, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise BadEvent("The body is not a JSON event.") from exc
    if not isinstance(body, dict) or not isinstance(body.get("data", {}), dict):
        raise BadEvent("The body is not a JSON event.")
    data = body.get("data") or {}
    event_id = _text(body, "id", _ID)
    kind = body.get("type")
    created = body.get("created")
    if event_id is None or not isinstance(kind, str) or len(kind) > 64:
        raise BadEvent("The event has no id or type.")
    if isinstance(created, bool) or not isinstance(created, int) or not 0 < created < 2**40:
        raise BadEvent("The event's created time is not valid.")
    amount = _text(data, "amount", _AMOUNT)
    currency = _text(data, "currency", _CURRENCY)
    return PaymentEvent(
        event_id=event_id, type=kind, created=datetime.fromtimestamp(created, UTC),
        payment_id=_text(data, "payment_id", _ID), reference=_text(data, "reference", _ID),
        amount=Decimal(amount) if amount is not None else None,
        currency=currency.upper() if currency is not None else None,
        refund_id=_text(data, "refund_id", _ID),
    )  # fmt: skip


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def provider_of(settings: Settings) -> PaymentProvider:
    """The adapter ALUMNET_PAYMENTS_PROVIDER names (config.py has checked its settings)."""
    if settings.payments_provider == "signed":
        return SignedWebhookProvider(
            settings.payments_checkout_url or "", settings.payments_webhook_secret or "",
            settings.payments_webhook_tolerance,
        )  # fmt: skip
    return ManualPayments()


# -- checkout ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutFields:
    """A checkout as asked. Ids are primary keys (-1 for an id that names nothing)."""

    amount: Decimal
    currency: str
    fund_id: int
    campaign_id: int | None = None
    anonymous: bool = False
    pledge_id: int | None = None


def may_read(viewer: Viewer, intent: Any) -> bool:
    """An intent is its donor's (who started it) and giving staff's."""
    if viewer.user_id is None:
        return False
    return viewer.user_id == intent.created_by_id or viewer.can(Permission.GIVING)


def checkout_url(provider: PaymentProvider, intent: PaymentIntent, now: datetime) -> str | None:
    """Where the intent is paid, while it is open and not expired."""
    expires = intent.expires_at.replace(tzinfo=UTC) if intent.expires_at.tzinfo is None else (
        intent.expires_at
    )  # fmt: skip
    if intent.status != "open" or expires <= now or intent.provider != provider.name:
        return None
    return provider.checkout(intent).url


async def start_checkout(
    uow: UnitOfWork, viewer: Viewer, provider: PaymentProvider, given: CheckoutFields
) -> tuple[PaymentIntent, CheckoutSession]:
    """A signed-in person starts paying a gift online: the intent (open for an hour) and
    the provider's page to pay it on. Amount, currency, fund and campaign are checked as a
    gift's are; a pledge named must be the person's own, active, in the same currency. At
    most INTENTS_PER_HOUR checkouts a person an hour (TOO_MANY)."""
    me = viewer.require_user()
    if not provider.online:
        raise DomainError.of(
            "ONLINE_PAYMENTS_OFF", "Online payments are off here: give through the giving "
            "office, or report a gift you made.", None,
        )  # fmt: skip
    now = datetime.now(UTC)
    recent = await uow.session.execute(
        select(func.count())
        .select_from(PaymentIntent)
        .where(
            PaymentIntent.created_by_id == me, PaymentIntent.created_at > now - timedelta(hours=1)
        )
    )
    if int(recent.scalar_one()) >= INTENTS_PER_HOUR:
        raise DomainError.of(
            "TOO_MANY", f"At most {INTENTS_PER_HOUR} checkouts an hour: try again later.", None
        )
    problems = Problems()
    fields = gifts.GiftFields(
        amount=given.amount, currency=given.currency, gift_date=gifts.today(),
        fund_id=given.fund_id, campaign_id=given.campaign_id, payment_method="online",
        anonymous=given.anonymous,
    )  # fmt: skip
    values = await gifts.checked(uow, problems, fields)  # the rules of a gift, exactly
    donor = await donor_rules.for_user(uow, me)
    if given.pledge_id is not None:
        pledge = await uow.session.get(Pledge, given.pledge_id)
        if pledge is None or pledge.donor_id != donor.id:
            problems.add("NOT_FOUND", "No such pledge of yours.", "pledgeId")
        elif pledge.status != "active":
            problems.add("INVALID", "This pledge is no longer active.", "pledgeId")
        elif pledge.currency != values["currency"]:
            problems.add("WRONG_CURRENCY", f"This pledge is in {pledge.currency}.", "currency")
    problems.raise_if_any()
    intent = PaymentIntent(
        reference=f"ali_{secrets.token_hex(16)}", provider=provider.name, donor_id=donor.id,
        amount_minor=values["amount_minor"], currency=values["currency"],
        fund_id=given.fund_id, campaign_id=given.campaign_id, pledge_id=given.pledge_id,
        anonymous=given.anonymous, status="open", created_by_id=me, created_at=now,
        expires_at=now + INTENT_TTL,
    )  # fmt: skip
    uow.session.add(intent)
    await uow.session.flush()
    return intent, provider.checkout(intent)


# -- webhooks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """What a delivery did: ``duplicate`` when its event had been received already (nothing
    written), else the outcome stored with the event."""

    outcome: str
    duplicate: bool = False
    gift_id: int | None = None


async def receive(uow: UnitOfWork, provider_name: str, event: PaymentEvent) -> Received:
    """Apply a verified event, once: in the caller's one transaction, the event stored
    first (a delivery of an event received already writes nothing more), then what it
    does, and its outcome."""
    stored = await inserted_id(
        uow.session, StoredEvent,
        {"provider": provider_name, "event_id": event.event_id, "event_type": event.type[:64],
         "outcome": "received", "received_at": datetime.now(UTC)},
        ["provider", "event_id"],
    )  # fmt: skip
    if stored is None:
        return Received("duplicate", duplicate=True)
    if event.type == "payment.succeeded":
        outcome, gift_id = await _succeeded(uow, provider_name, event)
    elif event.type == "payment.refunded":
        outcome, gift_id = await _refunded(uow, provider_name, event)
    elif event.type == "payment.failed":
        outcome, gift_id = await _failed(uow, event), None
    else:
        outcome, gift_id = "ignored: not a type alumnet reads", None
    await uow.session.execute(
        update(StoredEvent)
        .where(StoredEvent.id == stored)
        .values(outcome=outcome[:200], gift_id=gift_id)
    )
    if not outcome.startswith(("recorded", "refunded", "failed")):
        log.warning("payment_event_not_applied", provider=provider_name,
                    event_id=event.event_id, type=event.type, outcome=outcome)  # fmt: skip
    return Received(outcome, gift_id=gift_id)


async def _intent(uow: UnitOfWork, reference: str | None) -> PaymentIntent | None:
    if reference is None:
        return None
    found = await uow.session.execute(
        select(PaymentIntent).where(PaymentIntent.reference == reference).with_for_update()
    )
    return found.scalar_one_or_none()


def _gift_date(event: PaymentEvent) -> date:
    return min(event.created.date(), gifts.today())  # a clock ahead is not a future gift


async def _succeeded(
    uow: UnitOfWork, provider_name: str, event: PaymentEvent
) -> tuple[str, int | None]:
    if event.payment_id is None or event.amount is None or event.currency is None:
        return "ignored: no payment id, amount or currency", None
    intent = await _intent(uow, event.reference)
    if intent is None or intent.provider != provider_name:
        return "unknown reference", None
    paid = money.minor_units(event.amount, event.currency)
    if event.currency != intent.currency or paid != intent.amount_minor:
        return (
            f"mismatch: paid {event.amount} {event.currency}, the intent is "
            f"{money.major_units(intent.amount_minor, intent.currency)} {intent.currency}"
        ), None
    key = f"{provider_name}:{event.payment_id}"
    if intent.status == "paid" and intent.gift_id is not None:
        earlier = await uow.session.get(Gift, intent.gift_id)
        if earlier is None or earlier.idempotency_key != key:
            return "ignored: the intent was paid by another payment (refund this one)", None
    fields = gifts.GiftFields(
        amount=money.major_units(intent.amount_minor, intent.currency) or Decimal(0),
        currency=intent.currency, gift_date=_gift_date(event), fund_id=intent.fund_id,
        campaign_id=intent.campaign_id, payment_method="online", reference=event.payment_id,
        idempotency_key=key, anonymous=intent.anonymous, pledge_id=intent.pledge_id,
    )  # fmt: skip
    try:
        gift, new = await gifts.record(
            uow, None, DonorRef(donor_id=intent.donor_id), fields, source="provider"
        )
    except DomainError as exc:  # raised before anything is written
        return f"refused: {', '.join(p.code for p in exc.problems)}", None
    intent.status, intent.gift_id = "paid", gift.id
    return ("recorded" if new else "recorded already"), gift.id


async def _refunded(
    uow: UnitOfWork, provider_name: str, event: PaymentEvent
) -> tuple[str, int | None]:
    if event.payment_id is None or event.refund_id is None or event.amount is None:
        return "ignored: no payment id, refund id or amount", None
    found = await uow.session.execute(
        select(Gift.id, Gift.currency).where(
            Gift.idempotency_key == f"{provider_name}:{event.payment_id}"
        )
    )
    row = found.first()
    if row is None:
        return "unknown payment", None
    if event.currency is not None and event.currency != row.currency:
        return f"mismatch: refunded in {event.currency}, the gift is in {row.currency}", None
    try:
        entry, new = await gifts.refund(
            uow, None, int(row.id), amount=event.amount,
            idempotency_key=f"{provider_name}:refund:{event.refund_id}", source="provider",
            reason="Refunded at the payment provider.",
        )  # fmt: skip
    except DomainError as exc:  # raised before anything is written
        return f"refused: {', '.join(p.code for p in exc.problems)}", None
    return ("refunded" if new else "refunded already"), entry.id


async def _failed(uow: UnitOfWork, event: PaymentEvent) -> str:
    intent = await _intent(uow, event.reference)
    if intent is None:
        return "unknown reference"
    if intent.status != "open":
        return f"ignored: the intent is {intent.status}"
    intent.status = "failed"
    return "failed"
