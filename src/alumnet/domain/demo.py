"""The demo data set: one user per role, so that a fresh checkout answers queries at once."""

from __future__ import annotations

from sqlalchemy import func, select

from alumnet.domain.errors import DomainError
from alumnet.domain.identity.permissions import Role
from alumnet.domain.identity.users import ensure_user
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import User
from alumnet.persistence.uow import Origin

DEMO_PASSWORD = "alumnet-demo"
DEMO_DOMAIN = "demo.alumnet.dev"

DEMO_PEOPLE = [
    (Role.ADMIN, "Ada Admin"),
    (Role.DEVELOPER, "Dev Developer"),
    (Role.MANAGER, "Maya Manager"),
    (Role.SRE, "Sam Relations"),
    (Role.MENTOR, "Mo Mentor"),
    (Role.STUDENT, "Stella Student"),
    (Role.ALUMNUS, "Alex Alumnus"),
]


def demo_email(role: Role) -> str:
    return f"{role.value.lower()}@{DEMO_DOMAIN}"


async def is_empty(rt: Runtime) -> bool:
    async with rt.database.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(User))).scalar_one()) == 0


async def seed_demo(rt: Runtime) -> int:
    """Idempotent: creates what is missing and returns how many users it created."""
    if rt.settings.is_production:
        raise DomainError.of(
            "PRODUCTION", "The demo data is never loaded with ALUMNET_ENV=production."
        )
    created = 0
    async with rt.transaction(origin=Origin(via="cli")) as uow:
        for role, name in DEMO_PEOPLE:
            _, new = await ensure_user(
                rt, uow, email=demo_email(role), name=name, roles=[role], password=DEMO_PASSWORD
            )
            created += int(new)
    return created
