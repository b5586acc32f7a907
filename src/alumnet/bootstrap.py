"""The composition root: builds a Runtime from settings, with the right adapters."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from alumnet.config import Settings
from alumnet.domain.identity.permissions import Viewer
from alumnet.domain.runtime import QueryOutcome, Runtime, make_password_hasher
from alumnet.persistence.bus import EventBus, InProcessEventBus, RedisEventBus
from alumnet.persistence.db import Database
from alumnet.persistence.throttle import FailureCounter, MemoryFailureCounter, RedisFailureCounter
from alumnet.workers.queue import Dispatcher, InProcessJobQueue, JobQueue, RQJobQueue


def build_runtime(settings: Settings, *, worker: bool = False) -> tuple[Runtime, Dispatcher]:
    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url, pool_size=settings.db_pool_size, null_pool=worker)
    bus: EventBus
    failures: FailureCounter
    queue: JobQueue
    if settings.redis_url:
        redis = Redis.from_url(settings.redis_url)
        bus = RedisEventBus(redis, settings.queue_prefix)
        failures = RedisFailureCounter(redis, settings.signin_window_seconds, settings.queue_prefix)
        queue = RQJobQueue(settings.redis_url, settings.queue_prefix, settings.job_retry_intervals)
    else:
        bus = InProcessEventBus()
        failures = MemoryFailureCounter(settings.signin_window_seconds)
        queue = InProcessJobQueue(settings.job_retry_intervals)
    dispatcher = Dispatcher(queue, bus)
    runtime = Runtime(
        settings=settings,
        database=database,
        after_commit=dispatcher,
        bus=bus,
        failures=failures,
        hasher=make_password_hasher(settings),
    )
    runtime.queries = SchemaQueries(runtime)
    dispatcher.runtime = runtime
    return runtime, dispatcher


class SchemaQueries:
    """The runtime's ``QueryRunner``: the GraphQL schema, imported on first use (a worker
    that only sends e-mail never loads it)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(
        self, viewer: Viewer, query: str, variables: dict[str, Any], operation_name: str | None
    ) -> QueryOutcome:
        from alumnet.schema.data.bulk import run_query

        return await run_query(self.runtime, viewer, query, variables, operation_name)


async def close_runtime(runtime: Runtime) -> None:
    await runtime.bus.close()
    await runtime.database.dispose()
