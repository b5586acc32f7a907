"""What domain functions need from the running process, assembled once per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY

from alumnet.config import Settings
from alumnet.persistence.bus import EventBus
from alumnet.persistence.db import Database
from alumnet.persistence.throttle import FailureCounter
from alumnet.persistence.uow import AfterCommit, Origin, UnitOfWork, unit_of_work


def make_password_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        hash_len=RFC_9106_LOW_MEMORY.hash_len,
        salt_len=RFC_9106_LOW_MEMORY.salt_len,
    )


@dataclass
class Runtime:
    settings: Settings
    database: Database
    after_commit: AfterCommit
    bus: EventBus
    failures: FailureCounter
    hasher: PasswordHasher

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
