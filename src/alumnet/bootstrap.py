"""The composition root: builds a Runtime from settings, with the right adapters."""

from __future__ import annotations

from redis.asyncio import Redis

from alumnet.config import Settings
from alumnet.domain.runtime import Runtime, make_password_hasher
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
    dispatcher.runtime = runtime
    return runtime, dispatcher


async def close_runtime(runtime: Runtime) -> None:
    await runtime.bus.close()
    await runtime.database.dispose()
