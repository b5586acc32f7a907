"""Logs, metrics and per-request SQL accounting shared by every layer.

Nothing here knows about GraphQL or HTTP; the app and the database engine feed it.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram

from alumnet.tracing import add_trace_ids


@dataclass
class RequestStats:
    """What one request (or job) has cost so far."""

    started: float = field(default_factory=time.perf_counter)
    sql_statements: int = 0
    sql_seconds: float = 0.0
    # The codes of the expected errors answered (FORBIDDEN, GRAPHQL_VALIDATION_FAILED, …):
    # said on the request's one log line, never logged as tracebacks.
    error_codes: list[str] = field(default_factory=list)

    def timing(self) -> dict[str, float | int]:
        return {
            "sqlStatements": self.sql_statements,
            "sqlMs": round(self.sql_seconds * 1000, 3),
            "totalMs": round((time.perf_counter() - self.started) * 1000, 3),
        }


current_stats: ContextVar[RequestStats | None] = ContextVar("alumnet_request_stats", default=None)

GRAPHQL_REQUESTS = Counter(
    "alumnet_graphql_requests_total",
    "GraphQL operations served, by operation name and outcome.",
    ["operation", "outcome"],
)
GRAPHQL_LATENCY = Histogram(
    "alumnet_graphql_request_seconds",
    "Time to execute a GraphQL operation, by operation name.",
    ["operation"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CACHE_LOOKUPS = Counter(
    "alumnet_graphql_cache_lookups_total",
    "Lookups in the per-process caches of compiled operations (parse, validation, the "
    "fast path's SQL), by outcome (hit, miss).",
    ["cache", "outcome"],
)
SQL_STATEMENTS = Counter("alumnet_sql_statements_total", "SQL statements executed.")
JOBS = Counter(
    "alumnet_jobs_total",
    "Job attempts run by this process, by name and outcome.",
    ["job", "outcome"],
)
JOBS_BY_STATUS = Gauge(
    "alumnet_jobs_recorded",
    "Jobs recorded in the database by name and status (all processes and workers), read at "
    "scrape time.",
    ["job", "status"],
    multiprocess_mode="mostrecent",
)

# Connection pools ("api": requests; "jobs": the in-process queue's own) and the in-process
# queue, kept current as they change; summed over the live processes of a multi-worker
# server.
DB_POOL_CAPACITY = Gauge(
    "alumnet_db_pool_connections",
    "Database connections a pool may hold at once (its size plus its burst overflow).",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_POOL_IN_USE = Gauge(
    "alumnet_db_pool_in_use",
    "Database connections of a pool checked out right now.",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "alumnet_db_pool_waiting",
    "Callers waiting for a connection of a pool right now.",
    ["pool"],
    multiprocess_mode="livesum",
)
JOB_QUEUE_CONCURRENCY = Gauge(
    "alumnet_job_queue_concurrency",
    "Jobs the in-process queue may run at once (ALUMNET_JOB_CONCURRENCY); 0 with RQ.",
    multiprocess_mode="livesum",
)
JOB_QUEUE_JOBS = Gauge(
    "alumnet_job_queue_jobs",
    "Jobs of the in-process queue: running, or queued and waiting for their turn.",
    ["state"],
    multiprocess_mode="livesum",
)


DB_READS = Counter(
    "alumnet_db_reads_total",
    "Reads of requests (each use of a request's read connection) by where they went: "
    "primary or replica. Counted only with read replicas configured.",
    ["target"],
)
_READS_ON = {True: DB_READS.labels(target="replica"), False: DB_READS.labels(target="primary")}


def count_read(*, replica: bool) -> None:
    _READS_ON[replica].inc()


def record_sql(seconds: float) -> None:
    SQL_STATEMENTS.inc()
    stats = current_stats.get()
    if stats is not None:
        stats.sql_statements += 1
        stats.sql_seconds += seconds


def operation_label(name: str | None, allowed: frozenset[str]) -> str:
    """Operation names come from clients: only the allowed ones become labels (each label
    adds a dozen series), every other name is "other"."""
    if not name:
        return "anonymous"
    return name if name in allowed else "other"


_REDACTED_KEYS = {"password", "token", "secret", "authorization", "refresh_token", "access_token"}


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in _REDACTED_KEYS:
            event[key] = "[redacted]"
    return event


def configure_logging(log_format: str = "console", level: str = "INFO") -> None:
    """One JSON object per line in production, readable lines in a terminal."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_trace_ids,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level, logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


class RareWarning:
    """A warning logged at most once every ``seconds``: what a dependency that stays
    unreachable (Redis, a replica) would otherwise log at every request."""

    def __init__(self, logger: Any, event: str, seconds: float = 30.0) -> None:
        self.logger = logger
        self.event = event
        self.seconds = seconds
        self._last = float("-inf")

    def __call__(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last > self.seconds:
            self._last = now
            self.logger.warning(self.event, error=type(exc).__name__)
