"""Giving: funds and campaigns, donors (people with an account or outside donors), gifts and
their refunds, pledges and their instalments, receipt numbers, giving levels, online
payments (intents and the provider's events), and the running totals that campaign
progress and the donor reports read.

Amounts are integers in the currency's minor units (cents; yen have none), never floats.
A refund is a gift row of its own (kind ``refund``, negative amount, ``refund_of_id``), so
that a recorded gift is never edited. The totals tables are changed only by
``alumnet.domain.giving.totals``, in the transaction that confirms, refunds or removes a
gift.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


class Fund(Base):
    """A designation gifts are given to (a scholarship, a building, the annual fund).
    ``code`` names it in imports and in the payment provider's metadata."""

    __tablename__ = "funds"

    id: Mapped[IdPK]
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Campaign(Base):
    """A time-bound appeal with a goal in one currency, raising for one or more funds.
    Status: draft (giving staff only), active, closed."""

    __tablename__ = "campaigns"

    id: Mapped[IdPK]
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    currency: Mapped[str] = mapped_column(String(3))
    goal_minor: Mapped[int] = mapped_column(BigInteger)
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(16), default="draft")
    cover_image_url: Mapped[str | None] = mapped_column(String(2000))
    # Donors who gave to it (kept with campaign_donors, in the gift's transaction).
    donor_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignFund(Base):
    """A fund a campaign raises for, in order."""

    __tablename__ = "campaign_funds"

    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    fund_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("funds.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


class Donor(Base):
    """Who gives: a person with an account (``user_id``, one donor row each) or an outside
    donor known by name and e-mail (``email_key`` is the e-mail folded for matching)."""

    __tablename__ = "donors"
    __table_args__ = (
        Index(
            "uq_donors_outside_email",
            "email_key",
            unique=True,
            postgresql_where=text("user_id IS NULL"),
            sqlite_where=text("user_id IS NULL"),
        ),
    )

    id: Mapped[IdPK]
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    email_key: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Gift(Base):
    """A gift, or a refund of one (kind ``refund``: negative amount, ``refund_of_id``).

    Status: ``pending`` (self-reported by an alumnus, waiting for giving staff),
    ``confirmed`` (counted, receipted), ``declined``. Only confirmed rows count in any total.
    ``idempotency_key`` (the payment reference, an import's row key, a client's key) makes
    a repeated submission record it once. ``receipt_number`` ("2026-000123") is given when a
    gift is confirmed, from ``receipt_counters``, and never reused."""

    __tablename__ = "gifts"
    __table_args__ = (
        Index("ix_gifts_donor", "donor_id", "gift_date", "id"),
        Index("ix_gifts_campaign", "campaign_id", "gift_date", "id"),
        Index("ix_gifts_date", "gift_date", "id"),
        Index("ix_gifts_status", "status", "created_at", "id"),
        UniqueConstraint("idempotency_key"),
        UniqueConstraint("receipt_year", "receipt_seq"),
    )

    id: Mapped[IdPK]
    kind: Mapped[str] = mapped_column(String(16), default="gift")  # gift, refund
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    donor_id: Mapped[int] = mapped_column(BigId, ForeignKey("donors.id", ondelete="RESTRICT"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    gift_date: Mapped[date]
    fund_id: Mapped[int] = mapped_column(BigId, ForeignKey("funds.id", ondelete="RESTRICT"))
    campaign_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="RESTRICT")
    )
    # cash, cheque, card, bank_transfer, online, other
    payment_method: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    anonymous: Mapped[bool] = mapped_column(default=False, server_default=false())
    tribute_kind: Mapped[str | None] = mapped_column(String(16))  # honour, memory
    tribute_name: Mapped[str | None] = mapped_column(String(200))
    soft_credit_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    note: Mapped[str | None] = mapped_column(Text)
    # staff, self, provider, import
    source: Mapped[str] = mapped_column(String(16))
    import_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("imports.id", ondelete="SET NULL"), index=True
    )
    refund_of_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("gifts.id", ondelete="RESTRICT"), index=True
    )
    pledge_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("pledges.id", ondelete="SET NULL"), index=True
    )
    receipt_year: Mapped[int | None]
    receipt_seq: Mapped[int | None]
    receipt_file_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("stored_files.id", ondelete="SET NULL")
    )
    receipt_sent_at: Mapped[datetime | None]
    recorded_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    decline_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]


class ReceiptCounter(Base):
    """The last receipt number given in a year: raised by one, in the transaction that
    confirms a gift, so that numbers run on without gaps or reuse."""

    __tablename__ = "receipt_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class Pledge(Base):
    """A promise to give ``instalment_minor`` every month, quarter or year, a number of
    times (``instalments``) or until cancelled (null). Status: active, completed, lapsed,
    cancelled."""

    __tablename__ = "pledges"
    __table_args__ = (
        Index("ix_pledges_donor", "donor_id", "id"),
        Index("ix_pledges_campaign", "campaign_id", "status"),
        UniqueConstraint("idempotency_key"),
    )

    id: Mapped[IdPK]
    donor_id: Mapped[int] = mapped_column(BigId, ForeignKey("donors.id", ondelete="RESTRICT"))
    fund_id: Mapped[int] = mapped_column(BigId, ForeignKey("funds.id", ondelete="RESTRICT"))
    campaign_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="RESTRICT")
    )
    currency: Mapped[str] = mapped_column(String(3))
    instalment_minor: Mapped[int] = mapped_column(BigInteger)
    frequency: Mapped[str] = mapped_column(String(16))  # monthly, quarterly, yearly
    instalments: Mapped[int | None]
    starts_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(16), default="active")
    anonymous: Mapped[bool] = mapped_column(default=False, server_default=false())
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    recorded_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lapsed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]


class PledgeInstalment(Base):
    """One instalment of a pledge. Status: scheduled, due (its date has come), paid
    (matched to ``gift_id``), missed (overdue past the grace period), cancelled."""

    __tablename__ = "pledge_instalments"
    __table_args__ = (
        UniqueConstraint("pledge_id", "seq"),
        Index("ix_pledge_instalments_due", "status", "due_on"),
        UniqueConstraint("gift_id"),
    )

    id: Mapped[IdPK]
    pledge_id: Mapped[int] = mapped_column(BigId, ForeignKey("pledges.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date]
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    gift_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("gifts.id", ondelete="SET NULL"))
    reminded_at: Mapped[datetime | None]


class GivingLevel(Base):
    """A giving level (e.g. "Founders' Circle"): donors whose total in a year, in
    ``currency``, reaches ``min_yearly_minor``."""

    __tablename__ = "giving_levels"

    id: Mapped[IdPK]
    name: Mapped[str] = mapped_column(String(100), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    min_yearly_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignFundTotal(Base):
    """What a campaign has raised for one fund (confirmed gifts less refunds), how many
    gifts, and what its active pledges still promise (unpaid instalments)."""

    __tablename__ = "campaign_fund_totals"

    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    fund_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("funds.id", ondelete="CASCADE"), primary_key=True
    )
    raised_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    gift_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pledged_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class CampaignDonor(Base):
    """A donor who gave to a campaign, with how many of their gifts count there."""

    __tablename__ = "campaign_donors"

    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    donor_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("donors.id", ondelete="CASCADE"), primary_key=True
    )
    gift_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class DonorYear(Base):
    """A donor's confirmed giving in one calendar year and currency (gifts less refunds):
    what the participation, LYBUNT, SYBUNT, retention and level figures read."""

    __tablename__ = "donor_years"
    __table_args__ = (Index("ix_donor_years_year", "year", "donor_id"),)

    donor_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("donors.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    total_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    gift_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PaymentIntent(Base):
    """A donor's online gift before the provider has paid it: what, to which fund, by
    whom. ``reference`` travels to the provider and comes back in its webhook. Status:
    open, paid (``gift_id``), failed, expired."""

    __tablename__ = "payment_intents"

    id: Mapped[IdPK]
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(32))
    donor_id: Mapped[int] = mapped_column(BigId, ForeignKey("donors.id", ondelete="CASCADE"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    fund_id: Mapped[int] = mapped_column(BigId, ForeignKey("funds.id", ondelete="RESTRICT"))
    campaign_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="SET NULL")
    )
    pledge_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("pledges.id", ondelete="SET NULL")
    )
    anonymous: Mapped[bool] = mapped_column(default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16), default="open")
    gift_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("gifts.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class PaymentEvent(Base):
    """A webhook event the payment provider delivered and alumnet verified, once per
    provider event id however often it is delivered; ``outcome`` says what it did."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[IdPK]
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(200))
    gift_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("gifts.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
