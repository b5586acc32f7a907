"""Online payments: a checkout through GraphQL, and a simulated payment provider that signs
real HTTP requests to /webhooks/payments (through the ASGI app). Each gift is recorded once
however often (and however concurrently) its event is delivered; anything not signed by the
provider, not now, altered, or not matching the checkout writes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from alumnet.config import ConfigurationError, load_settings
from alumnet.domain.giving import payments
from alumnet.persistence.models import Gift, PaymentEvent, PaymentIntent
from tests.conftest import Api, app_api
from tests.giving.conftest import Giving, codes, gid, pk_of

SECRET = secrets.token_urlsafe(40)
CHECKOUT = "https://pay.example.com/checkout"

START = """
mutation($i: GivingCheckoutStartInput!) {
  givingCheckoutStart(input: $i) {
    paymentIntent { id reference status checkoutUrl amount { amount currency } fundId giftId }
    userErrors { code field message }
  }
}"""
NODE = "query($id: ID!) { node(id: $id) { ... on PaymentIntent { reference status giftId } } }"


@dataclass
class Provider:
    """The payment provider, simulated: it signs its events as a real one would."""

    api: Api
    secret: str = SECRET

    def event(self, kind: str, **data: Any) -> dict[str, Any]:
        return {"id": f"evt_{secrets.token_hex(8)}", "type": kind,
                "created": int(time.time()), "data": data}  # fmt: skip

    def headers(self, body: bytes, *, secret: str | None = None, at: float | None = None,
                extra: tuple[str, ...] = ()) -> dict[str, str]:  # fmt: skip
        stamp = str(int(time.time() if at is None else at))
        key = (secret or self.secret).encode()
        signature = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {"Alumnet-Signature": ",".join([f"t={stamp}", *extra, f"v1={signature}"]),
                "Content-Type": "application/json"}  # fmt: skip

    async def send(self, body: bytes, headers: dict[str, str]) -> Any:
        return await self.api.client.post("/webhooks/payments", content=body, headers=headers)

    async def deliver(self, event: dict[str, Any] | bytes, **signing: Any) -> Any:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        return await self.send(body, self.headers(body, **signing))


@pytest.fixture
async def signed(giving: Giving) -> AsyncIterator[Api]:
    """The app with the signed provider, on the giving fixture's database."""
    async for api in app_api(
        giving.api, payments_provider="signed", payments_checkout_url=CHECKOUT,
        payments_webhook_secret=SECRET,
    ):  # fmt: skip
        yield api


async def start(api: Api, g: Giving, who: str = "alumnus", **more: Any) -> dict[str, Any]:
    given = {"amount": "25.50", "currency": "USD", "fundId": gid("Fund", g.pks["fund"]),
             "campaignId": gid("Campaign", g.pks["campaign"]), **more}  # fmt: skip
    body = await api.gql(START, {"i": given}, token=g.tokens[who])
    assert "errors" not in body, body
    return body["data"]["givingCheckoutStart"]  # type: ignore[no-any-return]


async def count(g: Giving, model: Any, *where: Any) -> int:
    async with g.runtime.transaction() as uow:
        found = await uow.session.execute(select(func.count()).select_from(model).where(*where))
        return int(found.scalar_one())


async def intent_status(g: Giving, reference: str) -> str:
    async with g.runtime.transaction() as uow:
        found = await uow.session.execute(
            select(PaymentIntent.status).where(PaymentIntent.reference == reference)
        )
        return str(found.scalar_one())


async def test_a_payment_is_recorded_once_however_often_delivered(
    giving: Giving, signed: Api
) -> None:
    g, provider = giving, Provider(signed)
    started = await start(signed, g)
    assert started["userErrors"] == []
    intent = started["paymentIntent"]
    assert intent["status"] == "OPEN" and intent["amount"] == {"amount": "25.50",
                                                                 "currency": "USD"}  # fmt: skip
    # The page gets the figures, signed so that they cannot be changed on the way.
    url = urlsplit(intent["checkoutUrl"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == CHECKOUT
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (query["reference"], query["amount"], query["currency"]) == (
        intent["reference"], "25.50", "USD")  # fmt: skip
    message = f"{intent['reference']}.25.50.USD".encode()
    assert query["signature"] == hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    # Only its owner and giving staff see the intent.
    for who, seen in [("alumnus", True), ("advancement", True), ("alumnus2", False),
                      ("manager", False)]:  # fmt: skip
        body = await signed.gql(NODE, {"id": intent["id"]}, token=g.tokens[who])
        assert (body["data"]["node"] is not None) is seen, who

    paid = provider.event(
        "payment.succeeded",
        payment_id="pay_1",
        reference=intent["reference"],
        amount="25.50",
        currency="USD",
    )
    first = await provider.deliver(paid)
    assert first.status_code == 200 and first.json()["outcome"] == "recorded", first.text
    for _ in range(4):
        again = await provider.deliver(paid)
        # A delivery of an event received already: one statement (the insert ignored).
        assert 'desc="1 statements"' in again.headers["server-timing"]
        assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    at_once = await asyncio.gather(*(provider.deliver(paid) for _ in range(10)))
    assert {r.status_code for r in at_once} == {200}
    # Another event about the same payment (a provider's retry under a new id).
    other = {**paid, "id": "evt_other"}
    assert (await provider.deliver(other)).json()["outcome"] == "recorded already"
    # And ten different events of it at once.
    many = [{**paid, "id": f"evt_many_{i}"} for i in range(10)]
    assert {r.status_code for r in await asyncio.gather(*map(provider.deliver, many))} == {200}

    assert await count(g, Gift) == 1
    assert await count(g, PaymentEvent) == 12
    async with g.runtime.transaction() as uow:
        gift = (await uow.session.execute(select(Gift))).scalar_one()
        assert (gift.amount_minor, gift.currency, gift.status) == (2550, "USD", "confirmed")
        assert (gift.source, gift.payment_method) == ("provider", "online")
        assert gift.idempotency_key == "signed:pay_1" and gift.receipt_seq == 1
        gift_id = gift.id
    assert await intent_status(g, intent["reference"]) == "paid"
    body = await signed.gql(NODE, {"id": intent["id"]}, token=g.tokens["alumnus"])
    assert body["data"]["node"]["giftId"] == gid("Gift", gift_id)

    # A refund, delivered twice: one refund entry.
    refund = provider.event("payment.refunded", payment_id="pay_1", refund_id="re_1",
                            amount="10.00", currency="USD")  # fmt: skip
    assert (await provider.deliver(refund)).json()["outcome"] == "refunded"
    assert (await provider.deliver({**refund, "id": "evt_re_again"})).json()["outcome"] == (
        "refunded already"
    )
    assert await count(g, Gift, Gift.refund_of_id == gift_id, Gift.amount_minor == -1000) == 1
    # More than is left of the gift: stored, refused, nothing refunded.
    too_much = provider.event("payment.refunded", payment_id="pay_1", refund_id="re_2",
                              amount="15.51", currency="USD")  # fmt: skip
    assert (await provider.deliver(too_much)).json()["outcome"] == "refused: REFUND_TOO_LARGE"
    assert await count(g, Gift, Gift.kind == "refund") == 1


async def test_what_the_provider_did_not_sign_now_writes_nothing(
    giving: Giving, signed: Api
) -> None:
    g, provider = giving, Provider(signed)
    intent = (await start(signed, g))["paymentIntent"]
    event = provider.event(
        "payment.succeeded",
        payment_id="pay_9",
        reference=intent["reference"],
        amount="25.50",
        currency="USD",
    )
    body = json.dumps(event).encode()
    now = time.time()
    refused = {
        "bad signature": {**provider.headers(body), "Alumnet-Signature": f"t={int(now)},v1="
                          + "0" * 64},
        "wrong secret": provider.headers(body, secret=secrets.token_urlsafe(40)),
        "stale": provider.headers(body, at=now - 301),
        "from the future": provider.headers(body, at=now + 301),
        "missing header": {"Content-Type": "application/json"},
        "malformed header": {"Alumnet-Signature": "v1=abc,t=x"},
    }  # fmt: skip
    for why, headers in refused.items():
        answer = await provider.send(body, headers)
        assert answer.status_code == 400, why
        assert answer.json()["error"] == "BAD_SIGNATURE", why
        assert SECRET not in answer.text
    # A body altered after signing (the amount raised).
    altered = body.replace(b'"25.50"', b'"2550.00"')
    answer = await provider.send(altered, provider.headers(body))
    assert answer.status_code == 400
    # Signed, but not an event.
    for raw in [
        b"{not json",
        b"[1, 2]",
        b'{"id": "evt_1", "type": "payment.succeeded"}',
        b'{"id": "e", "type": "payment.succeeded", "created": 1.5e9, "data": {}}',
        json.dumps({**event, "data": {**event["data"], "amount": 25.5}}).encode(),
    ]:
        answer = await provider.deliver(raw)
        assert (answer.status_code, answer.json()["error"]) == (400, "BAD_EVENT"), raw
    # Too large: refused before it is read whole.
    answer = await provider.deliver(b"{" + b" " * payments.BODY_MAX + b"}")
    assert answer.status_code == 413
    assert await count(g, PaymentEvent) == 0
    # Signed now, but not what the checkout said: stored with why, no gift.
    for amount, currency in [("25.49", "USD"), ("25.50", "EUR"), ("25.505", "USD"),
                             ("12.345", "USD")]:  # fmt: skip
        wrong = provider.event(
            "payment.succeeded",
            payment_id="pay_9",
            reference=intent["reference"],
            amount=amount,
            currency=currency,
        )
        answer = await provider.deliver(wrong)
        assert answer.status_code == 200 and answer.json()["outcome"].startswith("mismatch")
    # An unknown reference: stored (the provider stops retrying), nothing else.
    unknown = provider.event("payment.succeeded", payment_id="pay_x", reference="ali_nope",
                             amount="25.50", currency="USD")  # fmt: skip
    assert (await provider.deliver(unknown)).json()["outcome"] == "unknown reference"
    # Rotation: the old secret's signature alongside the new one's is accepted.
    rotated = provider.headers(body, extra=("v1=" + "a" * 64,))
    assert (await provider.send(body, rotated)).json()["outcome"] == "recorded"
    assert await count(g, Gift) == 1
    assert await count(g, PaymentEvent) == 6
    # A failure after the payment changes nothing; a failed checkout is failed.
    second = (await start(signed, g))["paymentIntent"]
    failed = provider.event("payment.failed", reference=second["reference"])
    assert (await provider.deliver(failed)).json()["outcome"] == "failed"
    assert await intent_status(g, second["reference"]) == "failed"
    late = provider.event("payment.failed", reference=intent["reference"])
    assert (await provider.deliver(late)).json()["outcome"] == "ignored: the intent is paid"


async def test_checkout_is_checked_as_a_gift_is(giving: Giving, signed: Api) -> None:
    g = giving
    # Offline payments (the shared app's default): no checkout at all.
    off = await start(g.api, g)
    assert codes(off) == ["ONLINE_PAYMENTS_OFF"] and off["paymentIntent"] is None
    body = await signed.gql(START, {"i": {"amount": "1", "currency": "USD",
                                          "fundId": gid("Fund", g.pks["fund"])}})  # fmt: skip
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for more, code in [
        ({"amount": "0"}, "INVALID_AMOUNT"), ({"amount": "-5"}, "INVALID_AMOUNT"),
        ({"amount": "1.005"}, "INVALID_AMOUNT"), ({"currency": "ZZZ"}, "UNKNOWN_CURRENCY"),
        ({"currency": "EUR"}, "WRONG_CURRENCY"), ({"fundId": gid("Fund", 999)}, "NOT_FOUND"),
        ({"fundId": gid("User", g.pks["alumnus"])}, "NOT_FOUND"),
        ({"campaignId": gid("Campaign", 999)}, "NOT_FOUND"),
        ({"pledgeId": gid("Pledge", 999)}, "NOT_FOUND"),
    ]:  # fmt: skip
        refused = await start(signed, g, **more)
        assert code in codes(refused), (more, refused)
    assert await count(g, PaymentIntent) == 0
    # At most 20 checkouts an hour a person.
    made = await start(signed, g, "student")
    assert made["userErrors"] == []
    async with g.runtime.transaction() as uow:
        row = await uow.session.get(PaymentIntent, pk_of(made["paymentIntent"]["id"]))
        assert row is not None
        for n in range(payments.INTENTS_PER_HOUR - 1):
            uow.session.add(
                PaymentIntent(
                    reference=f"ali_bulk_{n}",
                    provider="signed",
                    donor_id=row.donor_id,
                    amount_minor=100,
                    currency="USD",
                    fund_id=row.fund_id,
                    created_by_id=row.created_by_id,
                    created_at=datetime.now(UTC),
                    expires_at=datetime.now(UTC) + timedelta(hours=1),
                )
            )
    assert codes(await start(signed, g, "student")) == ["TOO_MANY"]
    assert (await start(signed, g, "alumnus2"))["userErrors"] == []


def test_settings_of_the_signed_provider() -> None:
    base = {
        "ALUMNET_ENV": "production",
        "ALUMNET_SECRET_KEY": secrets.token_urlsafe(48),
        "ALUMNET_PAYMENTS_PROVIDER": "signed",
        "ALUMNET_PAYMENTS_CHECKOUT_URL": CHECKOUT,
    }
    assert load_settings({}).payments_provider == "manual"
    with pytest.raises(ConfigurationError):
        load_settings({"ALUMNET_PAYMENTS_PROVIDER": "stripe"})
    with pytest.raises(ConfigurationError):
        load_settings(base).checked()
    short = "short-secret"
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**base, "ALUMNET_PAYMENTS_WEBHOOK_SECRET": short}).checked()
    assert short not in str(caught.value)
    with pytest.raises(ConfigurationError):
        load_settings({**base, "ALUMNET_PAYMENTS_CHECKOUT_URL": "",
                       "ALUMNET_PAYMENTS_WEBHOOK_SECRET": SECRET}).checked()  # fmt: skip
    settings = load_settings({**base, "ALUMNET_PAYMENTS_WEBHOOK_SECRET": SECRET}).checked()
    assert settings.payments_webhook_tolerance == 300
    assert SECRET not in repr(settings)
    assert SECRET not in repr(payments.provider_of(settings))
    assert replace(settings, payments_provider="manual").checked().payments_provider == "manual"
