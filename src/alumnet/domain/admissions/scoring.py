"""The lead score: how promising an inquiry looks, from explainable rules, each worth the
points that ``settings.lead_score_weights`` gives it:

- ``source_<source>``: where it came from (a referral, a walk-in, a campaign, the web form);
- ``programme_fit``: it names a programme that is open (no last graduation year, or one of
  this year or later);
- ``engagement``: the calls, e-mails, meetings and notes logged in the last 30 days, up to
  the rule's points at ``ENGAGEMENT_FULL`` of them;
- ``recency``: the last logged contact (else its creation), the rule's points today and
  falling evenly to none after ``RECENCY_DAYS`` days.

The score is their sum clamped to 0 to 100; each rule gives one reason (its points may be 0),
so that a counsellor sees why. ``score`` is pure; ``rescore`` keeps an inquiry's row up to
date at every change; ``rescore_all`` is the daily job (recency decays with time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from alumnet.domain.admissions.timeline import LOGGED_KINDS
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import Inquiry, InquiryActivity, Programme
from alumnet.persistence.uow import UnitOfWork

RESCORE_JOB = "admissions.rescore"
ENGAGEMENT_DAYS = 30
ENGAGEMENT_FULL = 5
RECENCY_DAYS = 60
# Rows the daily rescore reads and writes per transaction.
BATCH = 500
# Stages whose score still matters (the pipeline's open ones).
SCORED_STAGES = ("new", "contacted", "counselled", "applied")
SOURCE_NAMES = {
    "referral": "a referral",
    "walk_in": "a walk-in",
    "campaign": "a campaign",
    "web_form": "the web form",
}


@dataclass(frozen=True)
class Facts:
    """What the rules read about one inquiry."""

    source: str
    has_programme: bool
    programme_open: bool
    activities_recent: int  # logged in the last ENGAGEMENT_DAYS days
    days_since_contact: int  # since the last logged contact, else since creation


@dataclass(frozen=True)
class Reason:
    rule: str
    points: int
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "points": self.points, "detail": self.detail}


def score(
    facts: Facts, weights: Sequence[tuple[str, int]] | Mapping[str, int]
) -> tuple[int, list[Reason]]:
    """The score (0 to 100) and one reason per rule."""
    w = dict(weights)
    reasons: list[Reason] = []
    rule = f"source_{facts.source}"
    came = SOURCE_NAMES.get(facts.source, facts.source)
    reasons.append(Reason(rule, w.get(rule, 0), f"Came by {came}."))
    if not facts.has_programme:
        reasons.append(Reason("programme_fit", 0, "Names no programme."))
    elif facts.programme_open:
        reasons.append(Reason("programme_fit", w.get("programme_fit", 0),
                              "Names a programme that is open."))  # fmt: skip
    else:
        reasons.append(Reason("programme_fit", 0, "Names a programme that is closed."))
    n = max(0, facts.activities_recent)
    engaged = round(w.get("engagement", 0) * min(n, ENGAGEMENT_FULL) / ENGAGEMENT_FULL)
    reasons.append(Reason("engagement", engaged,
                          f"{n} contact{'s' if n != 1 else ''} logged in the last "
                          f"{ENGAGEMENT_DAYS} days."))  # fmt: skip
    days = max(0, facts.days_since_contact)
    left = max(0, RECENCY_DAYS - days)
    recent = round(w.get("recency", 0) * left / RECENCY_DAYS)
    reasons.append(Reason("recency", recent,
                          f"Last contact (or inquiry) {days} day{'s' if days != 1 else ''} ago; "
                          f"none after {RECENCY_DAYS} days."))  # fmt: skip
    total = max(0, min(100, sum(r.points for r in reasons)))
    return total, reasons


def is_open(last_graduation_year: int | None, on: datetime) -> bool:
    return last_graduation_year is None or last_graduation_year >= on.year


def _days_since(since: datetime, now: datetime) -> int:
    """Whole days from ``since`` to ``now`` (0 if ahead)."""
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return max(0, (now - since).days)


def _activity_counts(inquiry_ids: Sequence[int], now: datetime) -> Any:
    return (
        select(InquiryActivity.inquiry_id, func.count())
        .where(
            InquiryActivity.inquiry_id.in_(list(inquiry_ids)),
            InquiryActivity.kind.in_(LOGGED_KINDS),
            InquiryActivity.occurred_at >= now - timedelta(days=ENGAGEMENT_DAYS),
        )
        .group_by(InquiryActivity.inquiry_id)
    )


async def rescore(rt: Runtime, uow: UnitOfWork, inquiry: Inquiry) -> None:
    """Score one inquiry now and store it on its row (two small reads)."""
    now = datetime.now(UTC)
    await uow.session.flush()
    counts = dict((await uow.session.execute(_activity_counts([inquiry.id], now))).all())
    last_year = None
    if inquiry.programme_id is not None:
        last_year = (
            await uow.session.execute(
                select(Programme.last_graduation_year).where(Programme.id == inquiry.programme_id)
            )
        ).scalar_one_or_none()
    facts = Facts(
        source=inquiry.source,
        has_programme=inquiry.programme_id is not None,
        programme_open=is_open(last_year, now),
        activities_recent=int(counts.get(inquiry.id, 0)),
        days_since_contact=_days_since(inquiry.last_activity_at or inquiry.created_at or now, now),
    )
    total, reasons = score(facts, rt.settings.lead_score_weights)
    inquiry.score = total
    inquiry.score_reasons = [r.as_dict() for r in reasons]
    inquiry.scored_at = now


async def rescore_all(rt: Runtime, now: datetime | None = None) -> dict[str, int]:
    """The daily job: every inquiry in an open stage scored again, ``BATCH`` a
    transaction (one read of the inquiries with their programme, one of their activity
    counts, one bulk update). The read locks the rows it scores and skips those locked
    (PostgreSQL): an inquiry a counsellor is changing is scored by that change, and a
    score written meanwhile is never overwritten with an older one."""
    moment = now or datetime.now(UTC)
    after, done, changed = 0, 0, 0
    while True:
        async with rt.transaction() as uow:
            rows = (
                await uow.session.execute(
                    select(Inquiry.id, Inquiry.source, Inquiry.programme_id,
                           Inquiry.last_activity_at, Inquiry.created_at, Inquiry.score,
                           Programme.last_graduation_year)
                    .outerjoin(Programme, Programme.id == Inquiry.programme_id)
                    .where(Inquiry.stage.in_(SCORED_STAGES), Inquiry.id > after)
                    .order_by(Inquiry.id)
                    .limit(BATCH)
                    .with_for_update(of=Inquiry, skip_locked=True)
                )
            ).all()  # fmt: skip
            if rows:
                ids = [int(r.id) for r in rows]
                counts = dict((await uow.session.execute(_activity_counts(ids, moment))).all())
                values = []
                for r in rows:
                    facts = Facts(
                        source=r.source,
                        has_programme=r.programme_id is not None,
                        programme_open=is_open(r.last_graduation_year, moment),
                        activities_recent=int(counts.get(r.id, 0)),
                        days_since_contact=_days_since(r.last_activity_at or r.created_at, moment),
                    )
                    total, reasons = score(facts, rt.settings.lead_score_weights)
                    changed += int(total != r.score)
                    values.append({"id": int(r.id), "score": total, "scored_at": moment,
                                   "score_reasons": [x.as_dict() for x in reasons]})  # fmt: skip
                await uow.session.execute(update(Inquiry), values)
        done += len(rows)
        if len(rows) < BATCH:
            return {"scored": done, "changed": changed}
        after = int(rows[-1].id)
