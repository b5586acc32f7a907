"""Employers: their details, kept by moderators (a posting names its employer by name)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy import update as sql_update

from alumnet.domain.careers.postings import COMPANY_MAX, skill_key
from alumnet.domain.errors import DomainError, Problems, check_label
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.people.profiles import check_url
from alumnet.persistence.models import Company, JobPosting
from alumnet.persistence.uow import UnitOfWork


async def update(
    uow: UnitOfWork,
    viewer: Viewer,
    company_id: int,
    *,
    name: str | None,
    website: str | None,
    logo_url: str | None,
    industry: str | None,
) -> Company:
    """Correct an employer's name, website, logo or industry; an empty text clears it."""
    viewer.require(Permission.CAREERS_MODERATE)
    company = await uow.session.get(Company, company_id, with_for_update=True)
    if company is None:
        raise DomainError.of("NOT_FOUND", "No such company.", "id")
    problems = Problems()
    if name is not None:
        label = check_label(
            problems, name, field="name", max_length=COMPANY_MAX, min_length=1, label="A name"
        )
        key = skill_key(label)
        taken = await uow.session.execute(
            select(Company.id).where(Company.name_key == key, Company.id != company.id)
        )
        if taken.first() is not None:
            problems.add("TAKEN", "Another company has this name.", "name")
        if label != company.name:
            # Its postings' search documents name it: rewritten by their trigger.
            await uow.session.execute(
                sql_update(JobPosting)
                .where(JobPosting.company_id == company.id)
                .values(title=JobPosting.title)
            )
        company.name, company.name_key = label, key
    for field, value, attr in (("website", website, "website"), ("logoUrl", logo_url, "logo_url")):
        if value is not None:
            url = value.strip()
            setattr(
                company, attr, check_url(problems, url, field, https_only=True) if url else None
            )
    if industry is not None:
        text = check_label(
            problems, industry, field="industry", max_length=100, label="The industry"
        )
        company.industry = text or None
    problems.raise_if_any()
    audit.record(uow, "company.update", object_type="Company", object_ids=[company.id])
    return company
