"""Giving: online payments. A donor starts a checkout (`givingCheckoutStart`) and pays on
the provider's page; the provider's webhook (src/alumnet/webhooks.py) records the gift."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Self

import strawberry
from strawberry import relay

from alumnet.domain.giving import payments
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.models import PaymentIntent as IntentModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.giving.types import Money
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, run_in_transaction
from alumnet.schema.nodes import int_ids, optional_pk, readable_rows
from alumnet.schema.permissions import requires

ev = strawberry.enum_value


@strawberry.enum(description="Where an online payment stands.")
class PaymentIntentStatus(Enum):
    OPEN = ev("open", description="Waiting for the donor to pay on the provider's page.")
    PAID = ev("paid", description="Paid: the provider confirmed it and the gift is recorded.")
    FAILED = ev("failed", description="The provider said the payment failed.")
    EXPIRED = ev("expired", description="Not paid in time.")


@strawberry.type(
    description="An online gift on its way: what the donor chose to give, before the payment "
    "provider confirms it. Seen by the person who started it and by giving staff only."
)
class PaymentIntent(relay.Node):
    id: relay.NodeID[int]
    reference: str = strawberry.field(
        description="alumnet's reference for this payment, sent to the provider and quoted "
        "in its events (and in questions to the giving office)."
    )
    status: PaymentIntentStatus = strawberry.field(description="Where it stands.")
    amount: Money = strawberry.field(description="What is to be paid, exactly.")
    anonymous: bool = strawberry.field(
        description="Whether the gift is to be shown as anonymous to all but giving staff."
    )
    provider: str = strawberry.field(description="The payment provider's adapter's name.")
    created_at: datetime = strawberry.field(description="When the checkout started (UTC).")
    expires_at: datetime = strawberry.field(
        description="When the checkout closes if not paid (UTC); the page link stops then."
    )
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, reference=row.reference, status=PaymentIntentStatus(row.status),
            amount=Money.of(row.amount_minor, row.currency), anonymous=bool(row.anonymous),
            provider=row.provider, created_at=row.created_at, expires_at=row.expires_at,
            _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        viewer = info.context.viewer
        if not viewer.is_authenticated:
            return [None for _ in ids]
        mine = None if viewer.can(Permission.GIVING) else (
            IntentModel.created_by_id == viewer.user_id
        )  # fmt: skip
        found = await readable_rows(info, IntentModel.__table__, ids, mine)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(
        description="Where the donor pays it (the provider's hosted page), while it is open "
        "and not expired; null otherwise, and with offline (manual) payments."
    )
    def checkout_url(self, info: Info) -> str | None:
        provider = payments.provider_of(info.context.runtime.settings)
        return payments.checkout_url(provider, self._row, datetime.now(UTC))

    @strawberry.field(description="The `Fund` the gift is for.")
    def fund_id(self) -> relay.GlobalID:
        return relay.GlobalID("Fund", str(self._row.fund_id))

    @strawberry.field(description="The `Campaign` the gift counts towards, if any.")
    def campaign_id(self) -> relay.GlobalID | None:
        pk = self._row.campaign_id
        return None if pk is None else relay.GlobalID("Campaign", str(pk))

    @strawberry.field(description="The `Pledge` the gift pays an instalment of, if any.")
    def pledge_id(self) -> relay.GlobalID | None:
        pk = self._row.pledge_id
        return None if pk is None else relay.GlobalID("Pledge", str(pk))

    @strawberry.field(description="The `Gift` recorded once it is paid; null before.")
    def gift_id(self) -> relay.GlobalID | None:
        pk = self._row.gift_id
        return None if pk is None else relay.GlobalID("Gift", str(pk))


@strawberry.enum(description="Why a checkout could not start.")
class PaymentErrorCode(Enum):
    ONLINE_PAYMENTS_OFF = ev(
        "ONLINE_PAYMENTS_OFF",
        description="This alumnet takes no online payments: give through the giving office.",
    )
    INVALID_AMOUNT = ev(
        "INVALID_AMOUNT",
        description="Not more than zero, or more decimal places than the currency has.",
    )
    UNKNOWN_CURRENCY = ev("UNKNOWN_CURRENCY", description="Not an ISO 4217 currency code.")
    WRONG_CURRENCY = ev(
        "WRONG_CURRENCY", description="The campaign (or the pledge) is in another currency."
    )
    WRONG_FUND = ev("WRONG_FUND", description="The campaign does not raise for that fund.")
    NOT_FOUND = ev("NOT_FOUND", description="No such open fund, campaign, or pledge of yours.")
    TOO_MANY = ev("TOO_MANY", description="Too many checkouts started in the last hour.")
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a checkout's input.")
class PaymentError(UserError):
    code: PaymentErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="An online gift to pay.")
class GivingCheckoutStartInput:
    amount: Decimal = strawberry.field(
        description="The amount in major units (dollars, not cents), exact, more than zero, "
        "with at most the currency's decimal places (USD 2, JPY 0)."
    )
    currency: str = strawberry.field(
        description="ISO 4217 code (USD); a campaign's gifts are in its currency."
    )
    fund_id: relay.GlobalID = strawberry.field(description="The open `Fund` to give to.")
    campaign_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The active `Campaign` it counts towards (optional)."
    )
    anonymous: bool = strawberry.field(
        default=False,
        description="Show the gift as anonymous to everyone but giving staff and you.",
    )
    pledge_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Your active `Pledge` this pays an instalment of (optional)."
    )


@strawberry.type(description="The checkout started, or why not.")
class GivingCheckoutStartPayload:
    payment_intent: PaymentIntent | None = strawberry.field(
        description="The payment to make: send the donor to its `checkoutUrl`."
    )
    user_errors: list[PaymentError] = strawberry.field(description="Empty on success.")


@strawberry.type
class PaymentQuery:
    pass


@strawberry.type
class PaymentMutation:
    @strawberry.mutation(
        extensions=requires(),
        description="Start giving online (any signed-in person): alumnet keeps what you "
        "chose (for an hour) and answers the provider's page to pay it on. The gift is "
        "recorded when the provider confirms the payment, not before. At most 20 an hour.",
    )
    async def giving_checkout_start(
        self, info: Info, input: Annotated[GivingCheckoutStartInput, arg("The gift to pay.")]
    ) -> GivingCheckoutStartPayload:
        viewer = info.context.viewer
        provider = payments.provider_of(info.context.runtime.settings)
        given = payments.CheckoutFields(
            amount=input.amount, currency=input.currency,
            fund_id=optional_pk(input.fund_id, "Fund") or -1,
            campaign_id=optional_pk(input.campaign_id, "Campaign"), anonymous=input.anonymous,
            pledge_id=optional_pk(input.pledge_id, "Pledge"),
        )  # fmt: skip
        found, problems = await run_in_transaction(
            info, lambda uow: payments.start_checkout(uow, viewer, provider, given)
        )
        return GivingCheckoutStartPayload(
            payment_intent=PaymentIntent.from_row(found[0]) if found is not None else None,
            user_errors=user_errors(PaymentError, PaymentErrorCode, problems),
        )
