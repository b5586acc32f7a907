"""Funds and campaigns: what gifts are given to, and the appeals that raise for them.

A fund (a scholarship, a building, the annual fund) has a unique ``code`` that names it in
imports and in the payment provider's metadata; a fund taken out of use (``active`` false)
takes no new gifts and no new campaigns, and is shown only to giving staff.

A campaign has a goal in one currency and raises for 1 to 20 funds, in order. Its status
moves draft → active → closed; an active campaign goes back to draft only while no gift
names it, and a closed one stays closed. A draft is shown only to giving staff: to anyone
else it is as if it did not exist. Its currency is fixed once a gift, a pledge or a
payment names it (gifts to it must be in it), and a fund leaves its list only while
nothing was given or pledged to the campaign for that fund.

Only giving staff (``giving``) create and change either; each change is audited. Campaign
progress is read from the running totals (``totals``), never from the gifts themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, or_, select

from alumnet.domain import money
from alumnet.domain.errors import DomainError, Problems, check_label, check_text
from alumnet.domain.giving import gifts, totals
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.people.profiles import check_url
from alumnet.persistence.models import (
    Campaign,
    CampaignFund,
    Fund,
    Gift,
    PaymentIntent,
    Pledge,
)
from alumnet.persistence.uow import UnitOfWork

CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,63}$")
NAME_MAX = 200
DESCRIPTION_MAX = 10_000
FUNDS_MAX = 20
STATUSES = ("draft", "active", "closed")
# The moves a campaign's status may make (active → draft only while no gift names it).
MOVES = {("draft", "active"), ("active", "closed"), ("active", "draft")}
EARLIEST = date(1900, 1, 1)
LATEST = date(2200, 12, 31)


def sees_drafts(viewer: Viewer) -> bool:
    return viewer.can(Permission.GIVING)


def campaign_readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """The campaigns the viewer may read (None: all of them): drafts for giving staff only.
    Anonymous callers are refused before this is asked."""
    return None if sees_drafts(viewer) else Campaign.status != "draft"


def fund_readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """The funds the viewer may read by id (None: all): inactive ones for giving staff only.
    A readable campaign shows all of its funds, inactive ones too."""
    return None if sees_drafts(viewer) else Fund.active.is_(True)


# Funds -----------------------------------------------------------------------------------


def _check_code(problems: Problems, code: str) -> str:
    folded = (code or "").strip().upper()
    if not CODE.match(folded):
        problems.add(
            "INVALID_CODE", "A fund's code has 1 to 64 letters, digits, '-' or '_' (it is "
            "kept in capitals), starting with a letter or digit.", "code",
        )  # fmt: skip
    return folded


def _check_description(problems: Problems, value: str | None) -> str | None:
    if value is None:
        return None
    return check_text(
        problems, value.replace("\r\n", "\n"), field="description",
        max_length=DESCRIPTION_MAX, label="The description",
    )  # fmt: skip


async def create_fund(
    uow: UnitOfWork, viewer: Viewer, *, code: str, name: str, description: str | None = None
) -> Fund:
    """A new, active fund; its code (kept in capitals) must be unused (CODE_TAKEN)."""
    me = viewer.require(Permission.GIVING)
    problems = Problems()
    folded = _check_code(problems, code)
    label = check_label(problems, name, field="name", max_length=NAME_MAX, min_length=1,
                        label="The name")  # fmt: skip
    text = _check_description(problems, description) or ""
    if not problems.items and await _fund_by_code(uow, folded) is not None:
        problems.add("CODE_TAKEN", "Another fund has this code.", "code")
    problems.raise_if_any()
    fund = Fund(code=folded, name=label, description=text, active=True)
    uow.session.add(fund)
    await uow.session.flush()
    audit.record(uow, "fund.create", object_type="Fund", object_ids=[fund.id], actor_id=me,
                 details={"code": folded, "name": label})  # fmt: skip
    return fund


async def _fund_by_code(uow: UnitOfWork, code: str) -> int | None:
    found = await uow.session.execute(select(Fund.id).where(Fund.code == code))
    return found.scalar_one_or_none()


async def update_fund(
    uow: UnitOfWork,
    viewer: Viewer,
    fund_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> Fund:
    """Change a fund's name, description or whether it is in use (None: kept). Its code
    never changes: imports and the payment provider name the fund by it."""
    me = viewer.require(Permission.GIVING)
    found = await uow.session.execute(select(Fund).where(Fund.id == fund_id).with_for_update())
    fund = found.scalar_one_or_none()
    if fund is None:
        raise DomainError.of("NOT_FOUND", "No such fund.", "id")
    problems = Problems()
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = check_label(problems, name, field="name", max_length=NAME_MAX,
                                      min_length=1, label="The name")  # fmt: skip
    if description is not None:
        changes["description"] = _check_description(problems, description) or ""
    if active is not None:
        changes["active"] = active
    problems.raise_if_any()
    changed = {k: v for k, v in changes.items() if getattr(fund, k) != v}
    for key, value in changed.items():
        setattr(fund, key, value)
    if changed:
        audit.record(uow, "fund.update", object_type="Fund", object_ids=[fund.id],
                     actor_id=me, details=changed)  # fmt: skip
    return fund


# Campaigns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignFields:
    """A campaign's values as given; None: not given (kept, on a change). Fund ids are
    primary keys, -1 for an id that names no fund."""

    name: str | None = None
    description: str | None = None
    currency: str | None = None
    goal: Decimal | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    clear_ends_on: bool = False
    fund_ids: list[int] | None = None
    cover_image_url: str | None = None
    clear_cover_image_url: bool = False
    status: str | None = None


def _check_day(problems: Problems, day: date, field: str) -> None:
    if not EARLIEST <= day <= LATEST:
        problems.add("INVALID_DATES", f"A day between {EARLIEST} and {LATEST}.", field)


async def _check_funds(
    uow: UnitOfWork, problems: Problems, ids: list[int], listed: set[int]
) -> None:
    """1 to FUNDS_MAX distinct funds that exist and are in use (a fund already listed may
    stay though it was taken out of use since)."""
    if not 1 <= len(ids) <= FUNDS_MAX:
        problems.add("INVALID_FUNDS", f"A campaign raises for 1 to {FUNDS_MAX} funds.",
                     "fundIds")  # fmt: skip
        return
    if len(set(ids)) != len(ids):
        problems.add("INVALID_FUNDS", "A fund is listed once.", "fundIds")
        return
    found = await uow.session.execute(select(Fund.id, Fund.active).where(Fund.id.in_(ids)))
    usable = {pk for pk, active in found.all() if active or pk in listed}
    for index, pk in enumerate(ids):
        if pk not in usable:
            problems.add("FUND_NOT_FOUND", "No such fund in use.", ("fundIds", str(index)))


async def _names_it(uow: UnitOfWork, campaign_id: int, fund_ids: list[int] | None = None) -> bool:
    """Whether a gift (of any status), a pledge or a payment names the campaign (and, with
    ``fund_ids``, one of these funds)."""
    parts = []
    for model in (Gift, Pledge, PaymentIntent):
        query = select(model.id).where(model.campaign_id == campaign_id)
        if fund_ids is not None:
            query = query.where(model.fund_id.in_(fund_ids))
        parts.append(exists(query))
    found = await uow.session.execute(select(or_(*parts)))
    return bool(found.scalar())


def _check_status(problems: Problems, status: str) -> None:
    if status not in STATUSES:
        problems.add("INVALID", "Unknown status.", "status")


async def create_campaign(uow: UnitOfWork, viewer: Viewer, given: CampaignFields) -> Campaign:
    """A new campaign, a draft unless ``status`` says active; every problem reported at
    once and nothing written."""
    me = viewer.require(Permission.GIVING)
    problems = Problems()
    name = check_label(problems, given.name or "", field="name", max_length=NAME_MAX,
                       min_length=1, label="The name")  # fmt: skip
    description = _check_description(problems, given.description) or ""
    currency = gifts.check_currency(problems, given.currency or "")
    goal = _check_goal(problems, given.goal, currency)
    starts_on = given.starts_on
    if starts_on is None:
        problems.add("REQUIRED", "Give the day the campaign starts.", "startsOn")
    else:
        _check_day(problems, starts_on, "startsOn")
    ends_on = None if given.clear_ends_on else given.ends_on
    _check_span(problems, starts_on, ends_on)
    fund_ids = list(given.fund_ids or [])
    await _check_funds(uow, problems, fund_ids, set())
    cover = _check_cover(problems, given.cover_image_url)
    status = given.status or "draft"
    _check_status(problems, status)
    if status == "closed":
        problems.add("INVALID_STATUS", "A new campaign is a draft or active.", "status")
    problems.raise_if_any()
    assert starts_on is not None
    assert goal is not None
    now = datetime.now(UTC)
    campaign = Campaign(
        name=name, description=description, currency=currency, goal_minor=goal,
        starts_on=starts_on, ends_on=ends_on, status=status, cover_image_url=cover,
        donor_count=0, created_by_id=me, created_at=now, updated_at=now,
    )  # fmt: skip
    uow.session.add(campaign)
    await uow.session.flush()
    for position, fund_id in enumerate(fund_ids):
        uow.session.add(CampaignFund(campaign_id=campaign.id, fund_id=fund_id, position=position))
    await uow.session.flush()
    audit.record(uow, "campaign.create", object_type="Campaign", object_ids=[campaign.id],
                 actor_id=me, details=_details(campaign, fund_ids))  # fmt: skip
    return campaign


def _check_goal(problems: Problems, goal: Decimal | None, currency: str) -> int | None:
    """The goal in minor units: more than zero and exact in the currency (INVALID_GOAL)."""
    if goal is None:
        problems.add("REQUIRED", "Give the campaign's goal.", "goal")
        return None
    if not money.known(currency):
        return None
    found = Problems()
    minor = gifts.check_amount(found, goal, currency, "goal")
    for problem in found.items:
        problems.add("INVALID_GOAL", problem.message, "goal")
    return minor


def _check_span(problems: Problems, starts_on: date | None, ends_on: date | None) -> None:
    if ends_on is None:
        return
    _check_day(problems, ends_on, "endsOn")
    if starts_on is not None and ends_on < starts_on:
        problems.add("INVALID_DATES", "A campaign ends on or after the day it starts.", "endsOn")


def _check_cover(problems: Problems, url: str | None) -> str | None:
    if url is None or not url.strip():
        return None
    return check_url(problems, url, "coverImageUrl", https_only=True)


def _details(campaign: Campaign, fund_ids: list[int]) -> dict[str, Any]:
    return {
        "name": campaign.name, "currency": campaign.currency,
        "goal": str(money.major_units(campaign.goal_minor, campaign.currency)),
        "startsOn": campaign.starts_on.isoformat(),
        "endsOn": campaign.ends_on.isoformat() if campaign.ends_on else None,
        "status": campaign.status, "funds": fund_ids,
    }  # fmt: skip


async def _fund_ids_of(uow: UnitOfWork, campaign_id: int) -> list[int]:
    found = await uow.session.execute(
        select(CampaignFund.fund_id)
        .where(CampaignFund.campaign_id == campaign_id)
        .order_by(CampaignFund.position)
    )
    return list(found.scalars())


async def update_campaign(
    uow: UnitOfWork, viewer: Viewer, campaign_id: int, given: CampaignFields
) -> Campaign:
    """Change a campaign (fields not given are kept), its status included: draft → active
    → closed, and active → draft while no gift names it (INVALID_STATUS otherwise). The
    currency is fixed once a gift, pledge or payment names the campaign (CURRENCY_LOCKED);
    the goal is then re-read in the new currency when not given. A fund leaves the list
    only while nothing names the campaign with it (FUND_IN_USE)."""
    me = viewer.require(Permission.GIVING)
    found = await uow.session.execute(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update()
    )
    campaign = found.scalar_one_or_none()
    if campaign is None:
        raise DomainError.of("NOT_FOUND", "No such campaign.", "id")
    problems = Problems()
    changes: dict[str, Any] = {}
    if given.name is not None:
        changes["name"] = check_label(problems, given.name, field="name", max_length=NAME_MAX,
                                      min_length=1, label="The name")  # fmt: skip
    if given.description is not None:
        changes["description"] = _check_description(problems, given.description) or ""
    currency = campaign.currency
    if given.currency is not None:
        currency = gifts.check_currency(problems, given.currency)
        if currency != campaign.currency and money.known(currency):
            if await _names_it(uow, campaign.id):
                problems.add("CURRENCY_LOCKED", "Gifts, pledges or payments name this "
                             "campaign: its currency cannot change.", "currency")  # fmt: skip
            changes["currency"] = currency
    if given.goal is not None or "currency" in changes:
        goal = given.goal
        if goal is None:
            goal = money.major_units(campaign.goal_minor, campaign.currency)
        changes["goal_minor"] = _check_goal(problems, goal, currency)
    starts_on = given.starts_on or campaign.starts_on
    if given.starts_on is not None:
        _check_day(problems, given.starts_on, "startsOn")
        changes["starts_on"] = given.starts_on
    ends_on = None if given.clear_ends_on else (given.ends_on or campaign.ends_on)
    if given.clear_ends_on or given.ends_on is not None:
        changes["ends_on"] = ends_on
    if given.clear_ends_on or given.ends_on is not None or given.starts_on is not None:
        _check_span(problems, starts_on, ends_on)
    if given.clear_cover_image_url:
        changes["cover_image_url"] = None
    elif given.cover_image_url is not None:
        changes["cover_image_url"] = _check_cover(problems, given.cover_image_url)
    listed = await _fund_ids_of(uow, campaign.id)
    fund_ids = listed
    if given.fund_ids is not None:
        fund_ids = list(given.fund_ids)
        await _check_funds(uow, problems, fund_ids, set(listed))
        leaving = [f for f in listed if f not in fund_ids]
        if leaving and await _names_it(uow, campaign.id, leaving):
            problems.add("FUND_IN_USE", "Gifts, pledges or payments name this campaign with "
                         "a fund taken off its list.", "fundIds")  # fmt: skip
    if given.status is not None and given.status != campaign.status:
        _check_status(problems, given.status)
        move = (campaign.status, given.status)
        if move not in MOVES:
            problems.add("INVALID_STATUS", f"A campaign cannot go from {campaign.status} to "
                         f"{given.status}.", "status")  # fmt: skip
        elif move == ("active", "draft") and await _names_it(uow, campaign.id):
            problems.add("INVALID_STATUS", "Gifts, pledges or payments name this campaign: "
                         "it cannot go back to draft.", "status")  # fmt: skip
        changes["status"] = given.status
    problems.raise_if_any()
    changed = {k: v for k, v in changes.items() if getattr(campaign, k) != v}
    funds_changed = fund_ids != listed
    if not changed and not funds_changed:
        return campaign
    for key, value in changed.items():
        setattr(campaign, key, value)
    campaign.updated_at = datetime.now(UTC)
    if funds_changed:
        await uow.session.execute(
            delete(CampaignFund).where(CampaignFund.campaign_id == campaign.id)
        )
        for position, fund_id in enumerate(fund_ids):
            uow.session.add(
                CampaignFund(campaign_id=campaign.id, fund_id=fund_id, position=position)
            )
    await uow.session.flush()
    said = {k: _said(v) for k, v in changed.items()}
    if funds_changed:
        said["funds"] = fund_ids
    only_status = set(changed) == {"status"} and not funds_changed
    action = "campaign.status" if only_status else "campaign.update"
    audit.record(uow, action, object_type="Campaign", object_ids=[campaign.id], actor_id=me,
                 details=said)  # fmt: skip
    # Its goal, status or funds shape the progress its subscribers see.
    uow.publish(totals.campaign_channel(campaign.id), {"campaign": campaign.id})
    return campaign


def _said(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
