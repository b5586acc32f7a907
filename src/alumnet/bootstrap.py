"""The composition root: builds a Runtime from settings, with the right adapters."""

from __future__ import annotations

from typing import Any

from alumnet import tracing
from alumnet.config import JOB_CONNECTIONS_PER_JOB, REPLICA_CHECK_SECONDS, Settings
from alumnet.domain.identity.credential_cache import CredentialCache
from alumnet.domain.identity.permissions import Viewer
from alumnet.domain.runtime import QueryOutcome, Runtime, make_password_hasher
from alumnet.persistence.aggregates import (
    AggregateStore,
    MemoryAggregateStore,
    RedisAggregateStore,
)
from alumnet.persistence.bus import EventBus, InProcessEventBus, RedisEventBus, redis_client
from alumnet.persistence.db import Database
from alumnet.persistence.replicas import RecentWriters, Replicas
from alumnet.persistence.throttle import (
    BudgetStore,
    FailureCounter,
    MemoryBudgetStore,
    MemoryFailureCounter,
    RedisBudgetStore,
    RedisFailureCounter,
)
from alumnet.workers.queue import Dispatcher, InProcessJobQueue, RQJobQueue


def build_runtime(settings: Settings, *, worker: bool = False) -> tuple[Runtime, Dispatcher]:
    """The process's runtime and the dispatcher of what its transactions commit.

    Without Redis, jobs run in this process on a runtime of their own: the same adapters,
    but a connection pool apart (``ALUMNET_JOB_CONCURRENCY`` jobs at once, a few
    connections each), so that background work never waits on, nor starves, requests.
    """
    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.checked()
    # Before the engines are made: each is traced (when tracing is on) as it is made.
    tracing.setup(settings.otlp_endpoint, settings.service_name)
    database = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout,
        # A request waits no longer for SQLite's write lock than for a connection.
        lock_timeout=settings.db_pool_timeout,
        # Workers (and the in-process queue's jobs below) may run statements longer.
        statement_timeout=(
            settings.worker_statement_timeout if worker else settings.db_statement_timeout
        ),
        null_pool=worker,
    )
    bus: EventBus
    failures: FailureCounter
    budgets: BudgetStore
    # Cached aggregates: in Redis, one store for every process; else one for this process
    # (its requests' runtime and its in-process jobs' alike).
    aggregates: AggregateStore | None = None
    if settings.redis_url:
        redis = redis_client(settings.redis_url)
        bus = RedisEventBus(redis, settings.queue_prefix)
        failures = RedisFailureCounter(redis, settings.signin_window_seconds, settings.queue_prefix)
        budgets = RedisBudgetStore(redis, settings.queue_prefix)
        if settings.analytics_cache_seconds > 0:
            # A worker's job ends with its process: its commits wait until their bumps
            # are made (a few seconds at most) rather than leave them owed.
            aggregates = RedisAggregateStore(
                redis, settings.queue_prefix, settings.secret_key, patient=worker
            )
    else:
        bus = InProcessEventBus()
        failures = MemoryFailureCounter(settings.signin_window_seconds)
        budgets = MemoryBudgetStore()
        if settings.analytics_cache_seconds > 0:
            aggregates = MemoryAggregateStore()
    # Read replicas for requests' reads (a worker reads the primary), and who wrote lately
    # (marked by every process, workers' jobs included).
    replicas = None
    if settings.database_replica_urls:
        replicas = Replicas(
            () if worker else settings.database_replica_urls,
            primary=database,
            max_lag=settings.replica_max_lag,
            check_every=REPLICA_CHECK_SECONDS,
            writers=RecentWriters(
                settings.read_your_writes_seconds,
                redis if settings.redis_url else None,
                settings.queue_prefix,
            ),
            pool_size=settings.db_pool_size,
            pool_timeout=settings.db_pool_timeout,
            statement_timeout=settings.db_statement_timeout,
        )
    hasher = make_password_hasher(settings)
    dispatcher = Dispatcher(bus)
    # One per process: what its requests checked, and where its transactions' changes to
    # credentials are announced (workers announce too; only API processes look up).
    checked = CredentialCache(
        bus, settings.auth_cache_seconds, settings.auth_cache_fallback_seconds
    )

    def runtime_on(db: Database) -> Runtime:
        made = Runtime(
            settings,
            db,
            dispatcher,
            bus,
            failures,
            hasher,
            credentials=checked,
            budgets=budgets,
            aggregates=aggregates,
            replicas=replicas,
        )
        made.queries = SchemaQueries(made)
        db.on_credentials = checked.committed
        # Tables written by its committed transactions move their generations on.
        db.on_written = aggregates.bump if aggregates is not None else None
        return made

    if settings.redis_url:
        dispatcher.queue = RQJobQueue(
            settings.redis_url, settings.queue_prefix, settings.job_retry_intervals
        )
    else:
        jobs_database = Database(
            settings.database_url,
            pool_size=settings.job_concurrency * JOB_CONNECTIONS_PER_JOB,
            max_overflow=settings.job_concurrency,
            lock_timeout=30.0,
            statement_timeout=settings.worker_statement_timeout,
            null_pool=worker,
            name="jobs",
        )
        dispatcher.queue = InProcessJobQueue(
            runtime_on(jobs_database), settings.job_concurrency, settings.job_retry_intervals
        )
    runtime = runtime_on(database)
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


async def close_runtime(runtime: Runtime, dispatcher: Dispatcher | None = None) -> None:
    if dispatcher is not None:
        await dispatcher.queue.close()
    if runtime.credentials is not None:
        await runtime.credentials.flush()
    if runtime.aggregates is not None:
        # What this process owes the shared cache is paid before its Redis client closes.
        await runtime.aggregates.close()
    await runtime.bus.close()
    if runtime.replicas is not None:
        await runtime.replicas.close()
    await runtime.database.dispose()
