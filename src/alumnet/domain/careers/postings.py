"""Job postings: who may see them, posting and changing them, moderation, reports,
trusted posters, saved postings, and the nightly closing of postings past their date.

A posting by someone untrusted waits for a moderator (``pending``); staff, holders of
``careers:moderate`` and posters a moderator trusts go live at once. An untrusted
poster's change to a live or rejected posting sends it back to the queue, so that what
was approved is what people read.

Salaries are kept as integers in the currency's minor units (cents; yen have none) and
given and shown as exact decimals in major units.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, false, insert, or_, select, update

from alumnet.domain import money
from alumnet.domain.communication.notices import BODY_MAX, render
from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.errors import DomainError, Problems, check_label, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.domain.people.privacy import STAFF
from alumnet.domain.people.profiles import check_url
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import insert_or_ignore, inserted_id
from alumnet.persistence.models import (
    Company,
    JobApplication,
    JobPosting,
    JobPostingReport,
    JobPostingSkill,
    SavedJobPosting,
    Skill,
    TrustedPoster,
    User,
)
from alumnet.persistence.uow import UnitOfWork

KINDS = ("full_time", "part_time", "internship", "contract")
REMOTE = ("on_site", "hybrid", "remote")
AUDIENCES = ("students", "alumni", "both")
TITLE_MAX = 200
COMPANY_MAX = 200
CITY_MAX = 100
SKILLS_MAX = 20
REASON_MAX = 1000
# The largest salary figure, in minor units (ten billion in major units of two digits).
SALARY_MAX = 10**12
CLOSING_MAX = timedelta(days=366)
CLOSE_JOB = "careers.close_expired"
COUNTRY = re.compile(r"[A-Z]{2}")


def audiences_for(viewer: Viewer) -> tuple[str, ...]:
    """The audiences whose postings are addressed to this viewer (staff: every one)."""
    if viewer.roles & STAFF or viewer.can(Permission.CAREERS_MODERATE):
        return AUDIENCES
    found = ["both"]
    if Role.STUDENT in viewer.roles:
        found.append("students")
    if Role.ALUMNUS in viewer.roles:
        found.append("alumni")
    return tuple(found)


def readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """Postings the viewer may see (None: every one, for moderators): their own, those they
    applied to, and live or closed postings addressed to them."""
    if not viewer.is_authenticated:
        return false()
    if viewer.can(Permission.CAREERS_MODERATE):
        return None
    me = viewer.user_id
    return or_(
        JobPosting.poster_id == me,
        and_(
            JobPosting.status.in_(("live", "closed")),
            JobPosting.audience.in_(audiences_for(viewer)),
        ),
        JobPosting.id.in_(
            select(JobApplication.posting_id).where(JobApplication.applicant_id == me)
        ),
    )


def open_now(today: date) -> ColumnElement[bool]:
    """Live and not past its closing date (even before the nightly job closes it)."""
    return and_(
        JobPosting.status == "live",
        or_(JobPosting.closes_on.is_(None), JobPosting.closes_on >= today),
    )


def today() -> date:
    return datetime.now(UTC).date()


def may_manage(viewer: Viewer, posting: JobPosting) -> bool:
    """Whether the viewer may change the posting and read its applicants."""
    return viewer.user_id == posting.poster_id or viewer.can(Permission.CAREERS_MODERATE)


async def readable_posting(
    uow: UnitOfWork, viewer: Viewer, posting_id: int, *, for_update: bool = False
) -> JobPosting:
    """The posting if the viewer may see it; NOT_FOUND otherwise (the same either way)."""
    viewer.require_user()
    query = select(JobPosting).where(JobPosting.id == posting_id)
    condition = readable(viewer)
    if condition is not None:
        query = query.where(condition)
    if for_update:
        query = query.with_for_update()
    found = (await uow.session.execute(query)).scalar_one_or_none()
    if found is None:
        raise DomainError.of("NOT_FOUND", "No such job posting.", "id")
    return found


@dataclass(frozen=True)
class PostingFields:
    """A posting's fields as given; None leaves a field as it is (on update). An empty
    city, country or link clears it; ``clear_salary`` and ``clear_closes_on`` clear those."""

    title: str | None = None
    company: str | None = None
    description: str | None = None
    kind: str | None = None
    city: str | None = None
    country: str | None = None
    remote: str | None = None
    salary_min: Decimal | None = None
    salary_max: Decimal | None = None
    currency: str | None = None
    audience: str | None = None
    apply_url: str | None = None
    closes_on: date | None = None
    skills: tuple[str, ...] | None = None
    clear_salary: bool = False
    clear_closes_on: bool = False


REQUIRED_ON_CREATE = ("title", "company", "description", "kind", "remote", "audience")


def _checked(
    problems: Problems, given: PostingFields, current: JobPosting | None
) -> dict[str, Any]:
    """The column values of the posting after the change, each checked."""
    values: dict[str, Any] = {}
    if current is None:
        for name in REQUIRED_ON_CREATE:
            if getattr(given, name) is None:
                problems.add("REQUIRED", f"Give the posting's {name}.", name)
    if given.title is not None:
        values["title"] = check_label(
            problems, given.title, field="title", max_length=TITLE_MAX, min_length=1,
            label="The title",
        )  # fmt: skip
    if given.company is not None:
        values["company"] = check_label(
            problems, given.company, field="company", max_length=COMPANY_MAX, min_length=1,
            label="The company",
        )  # fmt: skip
    if given.description is not None:
        markdown = check_text(
            problems, given.description, field="description", max_length=BODY_MAX,
            min_length=1, label="The description",
        )  # fmt: skip
        values["description_markdown"] = markdown or ""
        values["description_html"] = render(markdown or "")
    for name, allowed in (("kind", KINDS), ("remote", REMOTE), ("audience", AUDIENCES)):
        value = getattr(given, name)
        if value is not None:
            if value not in allowed:
                problems.add("INVALID", f"Unknown {name}.", name)
            values[name] = value
    if given.city is not None:
        city = check_label(
            problems, given.city, field="city", max_length=CITY_MAX, label="The city"
        )
        values["city"] = city or None
    if given.country is not None:
        country = given.country.strip().upper()
        if country and not COUNTRY.fullmatch(country):
            problems.add("INVALID", "A country is an ISO 3166-1 alpha-2 code (GH, KE).", "country")
        values["country"] = country or None
    if given.apply_url is not None:
        url = given.apply_url.strip()
        values["apply_url"] = check_url(problems, url, "applyUrl", https_only=True) if url else None
    if given.closes_on is not None:
        if given.closes_on < today():
            problems.add("DATE_IN_PAST", "The closing date has passed.", "closesOn")
        elif given.closes_on > today() + CLOSING_MAX:
            problems.add("INVALID", "A posting closes within a year.", "closesOn")
        values["closes_on"] = given.closes_on
    elif given.clear_closes_on:
        values["closes_on"] = None
    values.update(_salary(problems, given, current))
    return values


def _salary(problems: Problems, given: PostingFields, current: JobPosting | None) -> dict[str, Any]:
    if given.clear_salary:
        return {"salary_min": None, "salary_max": None, "currency": None}
    if given.salary_min is None and given.salary_max is None and given.currency is None:
        return {}
    currency = (given.currency or (current.currency if current else None) or "").strip().upper()
    if not currency:
        problems.add("REQUIRED", "Give the salary's currency (ISO 4217, e.g. USD).", "currency")
        return {}
    if not money.known(currency):
        problems.add("INVALID", "A currency is an ISO 4217 code (USD, GHS, KES).", "currency")
        return {}
    found: dict[str, Any] = {"currency": currency}
    moved = current is not None and current.currency not in (None, currency)
    if moved and given.salary_min is None and given.salary_max is None:
        problems.add("REQUIRED", "Give the salary again in the new currency.", "salaryFrom")
        return {}
    for name, field in (("salary_min", "salaryFrom"), ("salary_max", "salaryTo")):
        amount = getattr(given, name)
        if amount is None:
            found[name] = getattr(current, name) if current is not None else None
            continue
        minor = money.minor_units(amount, currency)
        if minor is None or not 0 <= minor <= SALARY_MAX:
            digits = money.digits(currency)
            problems.add(
                "INVALID",
                f"A salary is an amount of 0 or more with at most {digits} decimal places "
                f"in {currency}.",
                field,
            )
        found[name] = minor
    if (
        given.salary_min is None
        and given.salary_max is None
        and (found["salary_min"] is None and found["salary_max"] is None)
    ):
        problems.add("REQUIRED", "Give a salary with its currency, or neither.", "salaryFrom")
    low, high = found["salary_min"], found["salary_max"]
    if low is not None and high is not None and low > high:
        problems.add("SALARY_RANGE", "The lowest salary is above the highest.", "salaryFrom")
    return found


def skill_key(name: str) -> str:
    return " ".join(name.split()).lower()


async def skills_named(
    uow: UnitOfWork, problems: Problems, names: Sequence[str], field: str = "skills"
) -> list[tuple[int, str]]:
    """The vocabulary's skills (id and name) for these names, in order; an unknown name is
    UNKNOWN_SKILL, suggesting the vocabulary's nearest spellings."""
    if len(names) > SKILLS_MAX:
        problems.add("TOO_MANY", f"At most {SKILLS_MAX} skills.", field)
        return []
    keys = list(dict.fromkeys(skill_key(n) for n in names if n.strip()))
    if not keys:
        return []
    query = select(Skill.name_key, Skill.id, Skill.name).where(Skill.name_key.in_(keys))
    found = {r.name_key: (int(r.id), str(r.name)) for r in await uow.session.execute(query)}
    for index, key in enumerate(keys):
        if key not in found:
            near = await _nearest(uow, key)
            hint = f" Did you mean {', '.join(near)}?" if near else " Use a profile skill's name."
            problems.add("UNKNOWN_SKILL", f"Unknown skill {key[:64]!r}.{hint}", (field, str(index)))
    return [found[k] for k in keys if k in found]


async def _nearest(uow: UnitOfWork, key: str) -> list[str]:
    """Up to three of the vocabulary's names spelt most like ``key``."""
    candidates = select(Skill.name_key, Skill.name).where(
        or_(
            Skill.name_key.startswith(key[:1], autoescape=True),
            Skill.name_key.contains(key[:3], autoescape=True),
        )
    )
    names = {r.name_key: r.name for r in await uow.session.execute(candidates.limit(5000))}
    return [names[k] for k in difflib.get_close_matches(key[:64], list(names), n=3, cutoff=0.6)]


async def company_id(uow: UnitOfWork, name: str) -> int:
    """The employer of this name (regardless of case and spacing), added on first use."""
    key = skill_key(name)
    await insert_or_ignore(uow.session, Company, {"name": name, "name_key": key}, ["name_key"])
    found = await uow.session.execute(select(Company.id).where(Company.name_key == key))
    return int(found.scalar_one())


async def is_trusted(uow: UnitOfWork, viewer: Viewer) -> bool:
    if viewer.roles & STAFF or viewer.can(Permission.CAREERS_MODERATE):
        return True
    return await uow.session.get(TrustedPoster, viewer.user_id) is not None


async def _set_skills(uow: UnitOfWork, posting: JobPosting, skills: list[tuple[int, str]]) -> None:
    await uow.session.execute(
        delete(JobPostingSkill).where(JobPostingSkill.posting_id == posting.id)
    )
    if skills:
        await uow.session.execute(
            insert(JobPostingSkill), [{"posting_id": posting.id, "skill_id": s} for s, _ in skills]
        )
    posting.skills_text = " ".join(name for _, name in skills)


async def create(
    uow: UnitOfWork, viewer: Viewer, given: PostingFields, *, client_id: str | None = None
) -> JobPosting:
    """Post a job; it goes live at once for a trusted poster, else waits for a moderator.
    With ``client_id``, posting again returns the first posting."""
    me = viewer.require(Permission.CAREERS_POST)
    problems = Problems()
    if client_id is not None:
        if not 0 < len(client_id) <= 64:
            problems.add("INVALID", "clientId must be 1 to 64 characters.", "clientId")
        else:
            earlier = await uow.session.execute(
                select(JobPosting).where(
                    JobPosting.poster_id == me, JobPosting.client_id == client_id
                )
            )
            if (found := earlier.scalar_one_or_none()) is not None:
                return found
    values = _checked(problems, given, None)
    skills = await skills_named(uow, problems, given.skills or ())
    problems.raise_if_any()
    employer = await company_id(uow, values.pop("company"))
    live = await is_trusted(uow, viewer)
    now = datetime.now(UTC)
    posting = JobPosting(
        **values, poster_id=me, company_id=employer, status="live" if live else "pending",
        published_at=now if live else None, client_id=client_id, created_at=now,
        updated_at=now, skills_text="",
    )  # fmt: skip
    uow.session.add(posting)
    await uow.session.flush()
    await _set_skills(uow, posting, skills)
    await uow.session.flush()
    audit.record(
        uow, "job_posting.create", object_type="JobPosting", object_ids=[posting.id],
        details={"status": posting.status},
    )  # fmt: skip
    return posting


async def _managed(uow: UnitOfWork, viewer: Viewer, posting_id: int) -> JobPosting:
    posting = await readable_posting(uow, viewer, posting_id, for_update=True)
    if not may_manage(viewer, posting):
        raise DomainError.of("NOT_FOUND", "No such job posting.", "id")
    return posting


async def change(
    uow: UnitOfWork, viewer: Viewer, posting_id: int, given: PostingFields
) -> JobPosting:
    """Change a posting (its poster or a moderator); a closed posting stays as it was."""
    posting = await _managed(uow, viewer, posting_id)
    if posting.status == "closed":
        raise DomainError.of("CLOSED", "This posting is closed.", "id")
    problems = Problems()
    values = _checked(problems, given, posting)
    skills = await skills_named(uow, problems, given.skills) if given.skills is not None else None
    problems.raise_if_any()
    if "company" in values:
        posting.company_id = await company_id(uow, values.pop("company"))
    for name, value in values.items():
        setattr(posting, name, value)
    if skills is not None:
        await _set_skills(uow, posting, skills)
    requeued = posting.status in ("live", "rejected") and not await is_trusted(uow, viewer)
    if requeued:
        posting.status = "pending"
    posting.updated_at = datetime.now(UTC)
    await uow.session.flush()
    changed = [f.name for f in fields(given) if getattr(given, f.name) not in (None, False)]
    audit.record(
        uow, "job_posting.update", object_type="JobPosting", object_ids=[posting.id],
        details={"changed": changed, "requeued": requeued},
    )  # fmt: skip
    return posting


async def close(uow: UnitOfWork, viewer: Viewer, posting_id: int) -> JobPosting:
    """Close a posting (its poster or a moderator): no more applications; idempotent."""
    posting = await _managed(uow, viewer, posting_id)
    if posting.status != "closed":
        now = datetime.now(UTC)
        posting.status, posting.closed_at, posting.updated_at = "closed", now, now
        audit.record(uow, "job_posting.close", object_type="JobPosting", object_ids=[posting.id])
    return posting


DECISIONS = ("approve", "reject", "dismiss")


async def moderate(
    uow: UnitOfWork, viewer: Viewer, posting_id: int, *, decision: str, reason: str | None
) -> JobPosting:
    """Approve a pending (or rejected) posting, reject one pending or live with a reason the
    poster reads, or dismiss its reports and leave it as it is. Open reports are settled
    by any decision; the poster is told of an approval or a rejection."""
    me = viewer.require(Permission.CAREERS_MODERATE)
    posting = await readable_posting(uow, viewer, posting_id, for_update=True)
    problems = Problems()
    note = check_text(
        problems, reason, field="reason", max_length=500, label="The reason"
    ) or None  # fmt: skip
    approve = decision == "approve"
    if decision not in DECISIONS:
        problems.add("INVALID", "Unknown decision.", "decision")
    elif decision == "reject" and not note:
        problems.add("REQUIRED", "Say why the posting is rejected.", "reason")
    if decision != "dismiss" and posting.status == "closed":
        problems.add("CLOSED", "This posting is closed.", "id")
    elif approve and posting.status == "live":
        problems.add("INVALID", "This posting is live already.", "id")
    elif decision == "reject" and posting.status == "rejected":
        problems.add("INVALID", "This posting is rejected already.", "id")
    problems.raise_if_any()
    now = datetime.now(UTC)
    await uow.session.execute(
        update(JobPostingReport)
        .where(JobPostingReport.posting_id == posting.id, JobPostingReport.resolved_at.is_(None))
        .values(resolved_at=now)
    )
    if decision == "dismiss":
        audit.record(
            uow, "job_posting.dismiss_reports", object_type="JobPosting",
            object_ids=[posting.id], details={"reason": note},
        )  # fmt: skip
        return posting
    posting.status = "live" if approve else "rejected"
    posting.moderation_note, posting.moderated_by_id, posting.moderated_at = note, me, now
    if approve and posting.published_at is None:
        posting.published_at = now
    posting.updated_at = now
    outcome = "approved and live" if approve else "rejected"
    body = f"Reason: {note}" if note else ""
    await notify_each(
        uow, "job_posting",
        [Item(user_id=posting.poster_id, title=f"Your job posting “{posting.title}” was {outcome}",
              body=body, subject_type="JobPosting", subject_id=posting.id)],
    )  # fmt: skip
    audit.record(
        uow, f"job_posting.{decision}", object_type="JobPosting", object_ids=[posting.id],
        details={"reason": note},
    )  # fmt: skip
    return posting


async def report(uow: UnitOfWork, viewer: Viewer, posting_id: int, reason: str) -> JobPosting:
    """Report a posting for a moderator to review (once per person; again is a no-op)."""
    me = viewer.require_user()
    posting = await readable_posting(uow, viewer, posting_id)
    problems = Problems()
    text = check_text(
        problems, reason, field="reason", max_length=REASON_MAX, min_length=1, label="The reason"
    )
    if posting.poster_id == me:
        problems.add("INVALID", "You cannot report your own posting.", "id")
    problems.raise_if_any()
    added = await insert_or_ignore(
        uow.session, JobPostingReport,
        {"posting_id": posting.id, "reporter_id": me, "reason": text,
         "created_at": datetime.now(UTC)},
        ["posting_id", "reporter_id"],
    )  # fmt: skip
    if added:
        audit.record(uow, "job_posting.report", object_type="JobPosting", object_ids=[posting.id])
    return posting


async def trust(uow: UnitOfWork, viewer: Viewer, user_id: int, trusted: bool) -> User:
    """Let someone's postings go live without waiting (or stop it)."""
    me = viewer.require(Permission.CAREERS_MODERATE)
    user = await uow.session.get(User, user_id)
    if user is None or user.status == "deleted":
        raise DomainError.of("NOT_FOUND", "No such user.", "userId")
    if trusted:
        await insert_or_ignore(
            uow.session, TrustedPoster,
            {"user_id": user_id, "granted_by_id": me, "granted_at": datetime.now(UTC)},
            ["user_id"],
        )  # fmt: skip
    else:
        await uow.session.execute(delete(TrustedPoster).where(TrustedPoster.user_id == user_id))
    audit.record(
        uow, "job_posting.trust", object_type="User", object_ids=[user_id],
        details={"trusted": trusted},
    )  # fmt: skip
    return user


async def save(uow: UnitOfWork, viewer: Viewer, posting_id: int, saved: bool) -> JobPosting:
    """Save a posting to come back to, or forget it; both idempotent."""
    me = viewer.require_user()
    posting = await readable_posting(uow, viewer, posting_id)
    if saved:
        await inserted_id(
            uow.session, SavedJobPosting,
            {"user_id": me, "posting_id": posting.id, "saved_at": datetime.now(UTC)},
            ["user_id", "posting_id"],
        )  # fmt: skip
    else:
        await uow.session.execute(
            delete(SavedJobPosting).where(
                SavedJobPosting.user_id == me, SavedJobPosting.posting_id == posting.id
            )
        )
    return posting


async def close_expired(rt: Runtime) -> dict[str, int]:
    """Close live and pending postings past their closing date, telling their posters."""
    now = datetime.now(UTC)
    async with rt.transaction() as uow:
        closed = await uow.session.execute(
            update(JobPosting)
            .where(JobPosting.status.in_(("live", "pending")), JobPosting.closes_on < now.date())
            .values(status="closed", closed_at=now, updated_at=now)
            .returning(JobPosting.id, JobPosting.poster_id, JobPosting.title)
        )
        rows = closed.all()
        await notify_each(
            uow, "job_posting",
            [Item(user_id=int(r.poster_id), title=f"Your job posting “{r.title}” has closed",
                  body="Its closing date has passed.", subject_type="JobPosting",
                  subject_id=int(r.id)) for r in rows],
        )  # fmt: skip
        if rows:
            audit.record(
                uow, "job_posting.close", object_type="JobPosting",
                object_ids=[int(r.id) for r in rows], details={"expired": True},
            )  # fmt: skip
    return {"closed": len(rows)}
