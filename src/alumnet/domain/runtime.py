"""What domain functions need from the running process, assembled once per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY

from alumnet.config import Settings
from alumnet.persistence.aggregates import AggregateStore
from alumnet.persistence.bus import EventBus
from alumnet.persistence.db import Database
from alumnet.persistence.replicas import Replicas, audited_users
from alumnet.persistence.throttle import BudgetStore, FailureCounter
from alumnet.persistence.uow import AfterCommit, Origin, UnitOfWork, unit_of_work

if TYPE_CHECKING:
    from alumnet.domain.identity.credential_cache import CredentialCache
    from alumnet.domain.identity.permissions import Viewer


def make_password_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        hash_len=RFC_9106_LOW_MEMORY.hash_len,
        salt_len=RFC_9106_LOW_MEMORY.salt_len,
    )


@dataclass(frozen=True)
class QueryOutcome:
    """What a GraphQL operation answered: its data and its errors' messages."""

    data: dict[str, Any] | None
    errors: list[str] = field(default_factory=list)
    # Whether an error only said the database was too busy (SERVICE_UNAVAILABLE).
    busy: bool = False
    # Seconds to wait before running it again, when the viewer's budget was spent.
    retry_after: int | None = None


class QueryRunner(Protocol):
    """Runs a GraphQL query as a viewer, outside any HTTP request (bulk queries run by
    jobs). The composition root provides it; the domain never imports the GraphQL layer."""

    async def __call__(
        self, viewer: Viewer, query: str, variables: dict[str, Any], operation_name: str | None
    ) -> QueryOutcome: ...


@dataclass
class Runtime:
    settings: Settings
    database: Database
    after_commit: AfterCommit
    bus: EventBus
    failures: FailureCounter
    hasher: PasswordHasher
    queries: QueryRunner | None = None
    # Credentials this process has checked (domain/identity/credential_cache.py).
    credentials: CredentialCache | None = None
    # Query-cost budgets (domain/identity/budgets.py); None: no budgets are kept.
    budgets: BudgetStore | None = None
    # Cached aggregates (domain/analytics/cache.py); None: the cache is off.
    aggregates: AggregateStore | None = None
    # Read replicas and who wrote lately (persistence/replicas.py); None: no replicas.
    replicas: Replicas | None = None

    @asynccontextmanager
    async def transaction(
        self, *, actor_id: int | None = None, origin: Origin | None = None
    ) -> AsyncIterator[UnitOfWork]:
        async with unit_of_work(
            self.database,
            self.after_commit,
            origin=origin,
            actor_id=actor_id,
            job_attempts=len(self.settings.job_retry_intervals) + 1,
        ) as uow:
            yield uow
        if self.replicas is not None:
            # Committed: its actor, and whoever it audited an action of (a sign-in or a
            # password reset has no actor yet), read from the primary for a while.
            wrote = audited_users(uow.session)
            if actor_id is not None:
                wrote.add(actor_id)
            for user_id in sorted(wrote):
                await self.replicas.wrote(user_id)
