"""Settings, read only from the environment (``ALUMNET_*``), with embedded defaults.

Development needs no configuration at all: SQLite under ``var/`` (with a secret key made
at the first start and kept in ``var/secret_key``), jobs and pub/sub in-process, e-mail
into ``var/outbox``. Any other database, and production, refuse to start without a secret
key of their own (``Settings.checked``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy.engine import make_url

from alumnet.domain import money

MIN_SECRET_LENGTH = 32
# Secrets that have been public (in this source, or in examples): never accepted.
KNOWN_SECRETS = frozenset(
    {
        "alumnet-development-secret-do-not-use-in-production",
        "test-secret-key-that-is-long-enough-for-hs256",
    }
)
# Where the embedded default keeps the secret it generated on its first start.
SECRET_FILE = "secret_key"
SECRET_HELP = (
    f"at least {MIN_SECRET_LENGTH} random characters, for example the output of "
    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
)
# Connections the in-process queue keeps per concurrent job: the job's own session, a
# second one for its progress, and a third for a bulk query's reads.
JOB_CONNECTIONS_PER_JOB = 3


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable alumnet."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _strict_bool(env: Mapping[str, str], name: str) -> bool:
    """A switch that must not fail open on a typo: on, off, or refused."""
    raw = (env.get(name) or "").strip().lower()
    if raw in {"", "0", "false", "no", "off"}:
        return False
    if raw in {"1", "true", "yes", "on"}:
        return True
    raise ConfigurationError(f"{name} must be 1/true/yes/on or 0/false/no/off, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise ConfigurationError(f"{name} must be at least 1, got {value}")
    return value


def _names(raw: str) -> list[str]:
    return [n.strip() for n in raw.split(",") if n.strip()]


def _networks(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None:
        return default
    networks = _names(raw)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise ConfigurationError(
                f"{name} must list networks such as 10.0.0.0/8, got {network!r}"
            ) from exc
    return tuple(networks)


def _positive_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from exc
    if not value > 0 or value == float("inf"):
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _seconds_or_off(env: Mapping[str, str], name: str, default: float) -> float:
    """A number of seconds, where 0 means off."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    if raw.strip() == "0":
        return 0.0
    return _positive_seconds(env, name, default)


CORS_DEVELOPMENT_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*")
# Roles that must sign in with a second factor in production unless
# ALUMNET_TWO_FACTOR_ROLES says otherwise (the built-in roles' names).
TWO_FACTOR_PRODUCTION_ROLES = frozenset({"ADMIN", "MANAGER", "SRE", "ADVANCEMENT", "ADMISSIONS"})
_ROLE_NAMES = frozenset(
    {
        "ADMIN",
        "DEVELOPER",
        "MANAGER",
        "SRE",
        "MENTOR",
        "STUDENT",
        "ALUMNUS",
        "ADVANCEMENT",
        "FACULTY",
        "ADMISSIONS",
    }
)


def _two_factor_roles(env: Mapping[str, str], name: str) -> frozenset[str] | None:
    raw = env.get(name)
    if raw is None:
        return None
    roles = {n.upper() for n in _names(raw)}
    if roles == {"NONE"}:
        return frozenset()
    unknown = sorted(roles - _ROLE_NAMES)
    if unknown:
        raise ConfigurationError(
            f"{name} must list built-in roles ({', '.join(sorted(_ROLE_NAMES))}) or say "
            f"none, got {', '.join(unknown)}"
        )
    return frozenset(roles)


def _fernet_keys(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    from cryptography.fernet import Fernet

    keys = tuple(_names(env.get(name, "")))
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError as exc:
            raise ConfigurationError(
                f"{name}: key {position} is not a Fernet key (32 url-safe base64-encoded "
                "bytes, as cryptography's Fernet.generate_key() makes)"
            ) from exc
    return keys


_ORIGIN = re.compile(r"^(https?)://([A-Za-z0-9*.-]+|\[[0-9A-Fa-f:]+\])(:([0-9]+|\*))?$")


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    raw = env.get(name)
    if raw is None:
        return None
    origins = _names(raw)
    for origin in origins:
        if origin != "*" and not _ORIGIN.match(origin):
            raise ConfigurationError(
                f"{name} must list origins such as https://app.example.edu or "
                f"http://localhost:* (scheme, host and port only, no path), got {origin!r}"
            )
    return tuple(origins)


def _currency(env: Mapping[str, str], name: str, default: str) -> str:
    """An ISO 4217 currency one can pay in (upper-cased), as ``alumnet.domain.money`` knows
    them."""
    code = (env.get(name) or default).strip().upper()
    if not money.known(code):
        raise ConfigurationError(f"{name} must be an ISO 4217 currency code (USD, EUR), got "
                                 f"{env.get(name)!r}")  # fmt: skip
    return code


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first when unset)."""
    raw = (env.get(name) or choices[0]).strip().lower()
    if raw not in choices:
        raise ConfigurationError(f"{name} must be {' or '.join(choices)}, got {raw!r}")
    return raw


def _url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", raw):
        raise ConfigurationError(
            f"{name} must be an http(s) URL such as https://x.edu, got {raw!r}"
        )
    return raw.rstrip("/")


# The lead score's rules and their weights in points (ALUMNET_LEAD_SCORE_WEIGHTS overrides
# any of them, as RULE=points pairs): points for where the inquiry came from, for naming a
# programme that is open, up to ``engagement`` points for the activity logged in the last 30
# days, and up to ``recency`` points for a recent last contact (none after 60 days).
LEAD_SCORE_WEIGHTS_DEFAULT: tuple[tuple[str, int], ...] = (
    ("source_referral", 25),
    ("source_walk_in", 20),
    ("source_campaign", 10),
    ("source_web_form", 10),
    ("programme_fit", 20),
    ("engagement", 25),
    ("recency", 30),
)
_WEIGHT = re.compile(r"^\s*([a-z_]+)\s*=\s*(-?\d+)\s*$")


def _weights(env: Mapping[str, str], name: str) -> tuple[tuple[str, int], ...]:
    """``rule=points`` pairs, comma-separated, over the defaults (0 to 100 points each)."""
    weights = dict(LEAD_SCORE_WEIGHTS_DEFAULT)
    for item in _names(env.get(name) or ""):
        found = _WEIGHT.match(item.lower())
        if found is None or found[1] not in weights:
            raise ConfigurationError(
                f"{name} must list rule=points pairs of the rules {', '.join(weights)} "
                f"(such as source_referral=30), got {item!r}"
            )
        points = int(found[2])
        if not 0 <= points <= 100:
            raise ConfigurationError(f"{name}: {found[1]} must be 0 to 100 points, got {points}")
        weights[found[1]] = points
    best = max(v for k, v in weights.items() if k.startswith("source_")) + sum(
        v for k, v in weights.items() if not k.startswith("source_")
    )
    if best > 100:
        raise ConfigurationError(
            f"{name}: the best source's points, programme_fit, engagement and recency add up "
            f"to {best}; a lead score is at most 100 points, so their sum must be too"
        )
    return tuple(weights.items())


def _ratio(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from exc
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be from {low} to {high}, got {raw!r}")
    return value


@dataclass(frozen=True)
class QueryBudget:
    """A query-cost budget (a leaky bucket): ``size`` points at most, ``rate`` points
    coming back each second."""

    size: int
    rate: int


# Who gets which budget (ALUMNET_QUERY_BUDGETS overrides any of them): the anonymous budget
# is per client address, the others per person. A page of 1,000 students with a few fields
# costs some 11,000 points; a whole introspection 50,000.
QUERY_BUDGETS_DEFAULT: tuple[tuple[str, QueryBudget], ...] = (
    ("ANONYMOUS", QueryBudget(100_000, 5_000)),
    ("STUDENT", QueryBudget(200_000, 10_000)),
    ("ALUMNUS", QueryBudget(200_000, 10_000)),
    ("MENTOR", QueryBudget(500_000, 25_000)),
    ("SRE", QueryBudget(1_000_000, 50_000)),
    ("ADVANCEMENT", QueryBudget(1_000_000, 50_000)),
    ("FACULTY", QueryBudget(1_000_000, 50_000)),
    ("ADMISSIONS", QueryBudget(1_000_000, 50_000)),
    ("MANAGER", QueryBudget(2_000_000, 100_000)),
    ("DEVELOPER", QueryBudget(2_000_000, 100_000)),
    ("ADMIN", QueryBudget(2_000_000, 100_000)),
)
_BUDGET = re.compile(r"^\s*([A-Za-z_]+)\s*=\s*(-?\d+)\s*/\s*(-?\d+)\s*$")


def _budgets(env: Mapping[str, str], name: str) -> tuple[tuple[str, QueryBudget], ...]:
    """``ROLE=size/rate`` pairs, comma-separated, over the defaults."""
    budgets = dict(QUERY_BUDGETS_DEFAULT)
    for item in _names(env.get(name) or ""):
        found = _BUDGET.match(item)
        if found is None:
            raise ConfigurationError(
                f"{name} must list ROLE=size/rate pairs such as ANONYMOUS=100000/5000 "
                f"(points, points per second), got {item!r}"
            )
        who, size, rate = found[1].upper(), int(found[2]), int(found[3])
        if who not in budgets:
            raise ConfigurationError(
                f"{name} names {who!r}, which is not one of {', '.join(budgets)}"
            )
        if size < 1 or rate < 1:
            raise ConfigurationError(
                f"{name}: {who}'s size and rate must be at least 1 (a budget of zero would "
                f"refuse every request), got {size}/{rate}"
            )
        budgets[who] = QueryBudget(size, rate)
    return tuple(budgets.items())


def normalise_database_url(url: str) -> str:
    """Map the URLs people write to the async drivers alumnet uses."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


# How long a read replica's health, once checked, is trusted (persistence/replicas.py).
REPLICA_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    var_dir: Path = Path("var")
    database_url: str = ""
    # Read replicas of the primary (streaming replicas): requests' reads go to one of them
    # (persistence/replicas.py), unless it lags more than ``replica_max_lag`` seconds or is
    # down; a request that wrote, and a viewer who wrote in the last
    # ``read_your_writes_seconds``, read from the primary.
    database_replica_urls: tuple[str, ...] = ()
    replica_max_lag: float = 10.0
    read_your_writes_seconds: float = 15.0
    redis_url: str | None = None
    # Signs access tokens, unsubscribe and download links. Set by ALUMNET_SECRET_KEY; on the
    # embedded default, generated once and kept in var/secret_key (see ``checked``).
    secret_key: str = ""
    # Where the secret came from, said at start-up.
    secret_source: str = "unset"
    smtp_url: str | None = None
    mail_from: str = "alumnet <no-reply@alumnet.local>"
    # The institution's name, as printed on gift receipts.
    institution_name: str = "alumnet"
    # Where people reach this server: the links in e-mails (verification, password reset,
    # unsubscribe) and downloads start with it. `alumnet serve` sets it to the address it
    # listens on unless ALUMNET_PUBLIC_URL says otherwise (behind a proxy, say so there).
    public_url: str = "http://127.0.0.1:8000"
    # A frontend that serves /verify-email and /reset-password itself: e-mails link there
    # instead of to the small pages this server renders.
    frontend_url: str | None = None
    # Browser origins (scheme://host[:port], `*` for any run of host or port characters)
    # whose pages may call the API and open its WebSocket. None: development's defaults
    # (any port on localhost and 127.0.0.1); production allows none unless this is set.
    cors_origins: tuple[str, ...] | None = None
    # Roles whose holders must sign in with a second factor (TOTP) and cannot use those
    # roles' permissions until they have enrolled. None: production requires it of ADMIN,
    # MANAGER and SRE; development and test of nobody (the demo signs in with passwords).
    two_factor_roles: frozenset[str] | None = None
    # Keys that encrypt authenticator secrets at rest (Fernet): the first encrypts, every
    # one decrypts, so that a key can be rotated. None given: a key derived from the
    # secret key.
    two_factor_keys: tuple[str, ...] = ()
    debug: bool = False
    log_format: str = "console"
    log_level: str = "INFO"
    jwt_issuer: str = "alumnet"
    jwt_audience: str = "alumnet-api"
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    email_token_ttl_seconds: int = 48 * 3600
    password_reset_ttl_seconds: int = 3600
    argon2_memory_kib: int = 47_104
    argon2_time_cost: int = 1
    argon2_parallelism: int = 1
    signin_max_failures: int = 5
    signin_window_seconds: int = 15 * 60
    signin_max_failures_per_address: int = 50
    # Registrations one client address may make in an hour.
    registrations_per_address: int = 20
    max_query_depth: int = 12
    max_aliases: int = 15
    max_tokens: int = 2000
    # Fields times page sizes: a 1,000-row roster page with students and mentors is about
    # 11,000; three nested lists of 50 with a few fields each about 600,000.
    max_query_cost: int = 1_000_000
    # Bulk mutations carry up to 5,000 e-mail addresses (about 150 KB) in their variables.
    max_body_bytes: int = 1024 * 1024
    job_retry_intervals: tuple[int, ...] = (10, 60, 300)
    queue_prefix: str = "alumnet"
    # Database connections each server process keeps open for requests (and may add half
    # as many again under a burst); above what it keeps, every request would open and close
    # one.
    db_pool_size: int = 20
    # How long a request waits for one of those connections before it is answered 503
    # (SERVICE_UNAVAILABLE, Retry-After) rather than left hanging.
    db_pool_timeout: float = 3.0
    # Jobs run at once by the in-process queue (no Redis), on connections of their own
    # (JOB_CONNECTIONS_PER_JOB each), so that background work never takes the requests'.
    job_concurrency: int = 2
    # Reverse proxies whose X-Forwarded-For names the client (addresses or networks).
    # Behind a proxy not listed here, every client has the proxy's address: the per-address
    # limits (sign-in, registration) would count everyone together, and /metrics would
    # take everyone for a local scraper.
    trusted_proxies: tuple[str, ...] = ()
    # Who may read /metrics: clients from these networks (the scraper on this host by
    # default), or anyone sending ``Authorization: Bearer <metrics_token>``.
    metrics_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    metrics_token: str | None = None
    # Operation names counted under their own label in /metrics; any other name is counted
    # as "other" (a client choosing names must not grow the series without bound).
    metrics_operations: frozenset[str] = frozenset()
    # Largest file a student may hand in with a submission.
    submission_max_bytes: int = 20 * 1024 * 1024
    # A CV sent with a job application (PDF or DOCX).
    cv_max_bytes: int = 5 * 1024 * 1024
    # Days a mentorship request waits for its mentor's answer before it expires.
    mentorship_request_days: int = 14
    # The largest document staff or mentors may add to a mission's resources.
    resource_max_bytes: int = 50 * 1024 * 1024
    # The largest photo (profile photo or post image) one may upload.
    photo_max_bytes: int = 10 * 1024 * 1024
    # The most pixels (width times height) a photo may have, read from its header; decoding one
    # (in a job, one at a time per process) takes up to ~16 bytes a pixel at its peak.
    photo_max_pixels: int = 24_000_000
    # Largest spreadsheet accepted for import (an upload is refused as soon as it passes it).
    import_max_bytes: int = 100 * 1024 * 1024
    # Largest file an export or a bulk query may produce (the job fails, saying so, past it).
    export_max_bytes: int = 1024 * 1024 * 1024
    # How long an API process trusts a signed-in session (or personal access token) it has
    # checked, without reading it again: every change to a user's sessions, tokens, roles
    # or status is announced on the event bus and ends it at once on every process. 0 turns
    # the cache off (every request reads its session).
    auth_cache_seconds: float = 60.0
    # While the event bus is silent (Redis unreachable), what the cache trusts instead: an
    # entry at most this old, so that a sign-out or suspension still stops access soon.
    auth_cache_fallback_seconds: float = 1.0
    # With Redis, how often each API process queues the jobs that were committed while
    # Redis was down (or lost with its data, or left by a worker that died).
    job_relay_seconds: float = 5.0
    # How long a heavy aggregate (a dashboard's, a report's figures) is kept once computed.
    # Every committed change to a table it reads makes it unreachable at once (before the
    # response of the request that made the change), so this bounds only memory and what
    # writes made outside alumnet (psql, a restore) leave stale. 0 turns the cache off.
    analytics_cache_seconds: float = 300.0
    # Production's registered-operations mode: only the operations registered with
    # `alumnet operations register` run (by their hash, or their exact text).
    persisted_only: bool = False
    # The garbage collector's youngest-generation threshold in API processes (0: Python's
    # default). See docs/PERFORMANCE.md for the measurement behind the default.
    gc_threshold: int = 20_000
    # Query-cost budgets by role (and ANONYMOUS, per client address): see QueryBudget. A
    # person with several roles gets the most generous of theirs.
    query_budgets: tuple[tuple[str, QueryBudget], ...] = QUERY_BUDGETS_DEFAULT
    # Seconds one SQL statement of a request may run before it is cancelled (TIMEOUT), and
    # of a job (workers, the in-process queue, CLI commands).
    db_statement_timeout: float = 2.0
    worker_statement_timeout: float = 30.0
    # Seconds a whole GraphQL request over HTTP may take before it is answered TIMEOUT.
    request_deadline: float = 5.0
    # Whether GET /graphql serves GraphiQL (None: everywhere but production).
    graphiql: bool | None = None
    # The currency giving reports count in when none is asked (ISO 4217).
    giving_currency: str = "USD"
    # Online payments (domain/giving/payments.py): ``manual`` (none: staff record gifts) or
    # ``signed`` (a hosted payment page at ``payments_checkout_url``, whose webhooks are
    # signed with ``payments_webhook_secret`` and accepted within ``payments_webhook_tolerance``
    # seconds of their timestamp, either way).
    payments_provider: str = "manual"
    payments_checkout_url: str | None = None
    payments_webhook_secret: str | None = field(default=None, repr=False)
    payments_webhook_tolerance: float = 300.0
    # Academics: a faculty member's weekly target of logged hours unless one is set for them;
    # feedback whose sentiment (VADER's compound score, -1 to 1) is at or below
    # ``feedback_alert_below`` is told to academics staff.
    faculty_weekly_hours: int = 30
    feedback_alert_below: float = -0.6
    # Admissions: the public inquiry form takes ``inquiries_per_address`` inquiries an hour
    # from one client address and ``inquiries_per_hour`` from everyone; the lead score's rules.
    inquiries_per_address: int = 5
    inquiries_per_hour: int = 500
    lead_score_weights: tuple[tuple[str, int], ...] = LEAD_SCORE_WEIGHTS_DEFAULT
    # OpenTelemetry traces, exported by OTLP over HTTP to this collector's base URL (the
    # exporter adds /v1/traces); None: no tracing (the default).
    otlp_endpoint: str | None = None
    # The service's name in traces (``service.name``).
    service_name: str = "alumnet"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """The browser origins that may call the API (see ``cors_origins``)."""
        if self.cors_origins is not None:
            return self.cors_origins
        return () if self.is_production else CORS_DEVELOPMENT_ORIGINS

    @property
    def two_factor_required_roles(self) -> frozenset[str]:
        """The roles that need two-factor sign-in (see ``two_factor_roles``)."""
        if self.two_factor_roles is not None:
            return self.two_factor_roles
        return TWO_FACTOR_PRODUCTION_ROLES if self.is_production else frozenset()

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def _check_payments(self) -> None:
        """The signed provider needs its page and its webhook secret (in production, one of
        at least 32 characters): without them a webhook could not be verified."""
        if self.payments_provider != "signed":
            return
        if not self.payments_checkout_url:
            raise ConfigurationError(
                "ALUMNET_PAYMENTS_PROVIDER=signed needs ALUMNET_PAYMENTS_CHECKOUT_URL (the "
                "provider's hosted payment page)."
            )
        secret = self.payments_webhook_secret or ""
        if not secret or (self.is_production and len(secret) < MIN_SECRET_LENGTH):
            raise ConfigurationError(
                "ALUMNET_PAYMENTS_PROVIDER=signed needs ALUMNET_PAYMENTS_WEBHOOK_SECRET, the "
                f"secret shared with the provider ({SECRET_HELP})."
            )

    def _check_replicas(self) -> None:
        """Replicas are PostgreSQL servers other than the primary: a replica URL that is the
        primary's (same host, port and database) would send nothing anywhere new."""
        if not self.database_replica_urls:
            return
        if self.is_sqlite:
            raise ConfigurationError(
                "ALUMNET_DATABASE_REPLICA_URLS needs a PostgreSQL primary "
                "(ALUMNET_DATABASE_URL): the embedded SQLite database has no replicas."
            )
        primary = _server_of(self.database_url)
        for url in self.database_replica_urls:
            if not url.startswith("postgresql"):
                raise ConfigurationError(
                    f"ALUMNET_DATABASE_REPLICA_URLS: {_redacted(url)} is not a PostgreSQL URL."
                )
            if _server_of(url) == primary:
                raise ConfigurationError(
                    f"ALUMNET_DATABASE_REPLICA_URLS: {_redacted(url)} is the primary "
                    "(ALUMNET_DATABASE_URL) itself: list its replicas, or nothing."
                )
        if len(set(map(_server_of, self.database_replica_urls))) != len(self.database_replica_urls):
            raise ConfigurationError("ALUMNET_DATABASE_REPLICA_URLS lists a replica twice.")
        # A replica is read while it lags up to the maximum, as last checked (up to a check
        # ago): a writer's mark must outlast that, or they could read a replica without
        # their write once it expires.
        least = self.replica_max_lag + REPLICA_CHECK_SECONDS
        if self.read_your_writes_seconds <= least:
            raise ConfigurationError(
                f"ALUMNET_READ_YOUR_WRITES_SECONDS ({self.read_your_writes_seconds:g}) must be "
                f"longer than ALUMNET_REPLICA_MAX_LAG ({self.replica_max_lag:g}) plus "
                f"{REPLICA_CHECK_SECONDS:g} s (how stale a replica's health check may be), "
                "or someone who wrote could read a replica that does not have it yet: "
                f"set it above {least:g}."
            )

    def checked(self) -> Settings:
        """These settings, fit to start on, with their secret key: from ALUMNET_SECRET_KEY
        (at least 32 characters, never a published one), or on the embedded SQLite
        default only, generated at the first start and kept in var/secret_key (mode 0600).
        Any other database without a secret of its own is refused, whatever ALUMNET_ENV
        says: a secret known to others would let anyone sign tokens as anyone."""
        if self.debug and self.is_production:
            raise ConfigurationError("ALUMNET_DEBUG must be off in production.")
        if self.metrics_token is not None and len(self.metrics_token) < 24:
            raise ConfigurationError("ALUMNET_METRICS_TOKEN is too short: use 24+ characters.")
        self._check_payments()
        self._check_replicas()
        if self.secret_key:
            if self.secret_key in KNOWN_SECRETS:
                raise ConfigurationError(
                    "ALUMNET_SECRET_KEY is a published example, so anyone could sign tokens "
                    f"with it: use a secret of your own ({SECRET_HELP})."
                )
            if len(self.secret_key) < MIN_SECRET_LENGTH:
                raise ConfigurationError(f"ALUMNET_SECRET_KEY is too short: use {SECRET_HELP}.")
            return self
        if self.is_production:
            raise ConfigurationError(
                "ALUMNET_SECRET_KEY is not set: production needs its own secret key "
                f"({SECRET_HELP})."
            )
        if not self.is_sqlite:
            raise ConfigurationError(
                "ALUMNET_SECRET_KEY is not set: with a database other than the embedded SQLite "
                f"one, alumnet needs a secret key of its own ({SECRET_HELP}), the same for "
                "every server and worker process."
            )
        secret, source = _embedded_secret(self.var_dir / SECRET_FILE)
        return replace(self, secret_key=secret, secret_source=source)


def _embedded_secret(path: Path) -> tuple[str, str]:
    """The embedded default's secret: read from ``path``, or made there (readable by its
    owner only) by the first process to start; any other process reads that one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole to a file of our own, then linked into place: a process starting
        # at the same moment either wins the link or reads the complete winner.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(draft, path)
            made = True
        except FileExistsError:
            made = False
        finally:
            draft.unlink()
        if made:
            return path.read_text().strip(), f"{path} (generated now, readable by you only)"
    kept = path.read_text().strip()
    if len(kept) < MIN_SECRET_LENGTH or kept in KNOWN_SECRETS:
        raise ConfigurationError(
            f"{path} does not hold a usable secret key: delete it to have a new one made "
            "(everyone signs in again), or set ALUMNET_SECRET_KEY."
        )
    return kept, f"{path} (made at an earlier start)"


def _server_of(url: str) -> tuple[str, int, str]:
    """The server and database a URL names (host in lower case, default port filled)."""
    parsed = make_url(url)
    host = (parsed.host or "localhost").lower()
    if host in {"127.0.0.1", "::1", "localhost"}:
        host = "localhost"
    return host, parsed.port or 5432, parsed.database or ""


def _redacted(url: str) -> str:
    """A URL as it may be said in an error or a log: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(an unreadable URL)"


def _replica_urls(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    return tuple(normalise_database_url(u.strip()) for u in raw.split(",") if u.strip())


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    app_env = env.get("ALUMNET_ENV", "development").strip().lower() or "development"
    if app_env not in {"development", "test", "production"}:
        raise ConfigurationError(
            f"ALUMNET_ENV must be development, test or production, got {app_env!r}"
        )
    var_dir = Path(env.get("ALUMNET_VAR_DIR", "var"))
    database_url = env.get("ALUMNET_DATABASE_URL") or f"sqlite:///{(var_dir / 'alumnet.db')}"
    secret = env.get("ALUMNET_SECRET_KEY", "").strip()
    intervals_raw = env.get("ALUMNET_JOB_RETRY_INTERVALS")
    intervals = (
        tuple(int(x) for x in intervals_raw.split(",") if x.strip())
        if intervals_raw
        else Settings.job_retry_intervals
    )
    return Settings(
        env=app_env,
        var_dir=var_dir,
        database_url=normalise_database_url(database_url),
        database_replica_urls=_replica_urls(env, "ALUMNET_DATABASE_REPLICA_URLS"),
        replica_max_lag=_positive_seconds(env, "ALUMNET_REPLICA_MAX_LAG", Settings.replica_max_lag),
        read_your_writes_seconds=_positive_seconds(
            env, "ALUMNET_READ_YOUR_WRITES_SECONDS", Settings.read_your_writes_seconds
        ),
        redis_url=env.get("ALUMNET_REDIS_URL") or None,
        secret_key=secret,
        secret_source="ALUMNET_SECRET_KEY" if secret else "unset",
        smtp_url=env.get("ALUMNET_SMTP_URL") or None,
        mail_from=env.get("ALUMNET_MAIL_FROM", Settings.mail_from),
        institution_name=(env.get("ALUMNET_INSTITUTION_NAME") or "").strip()[:200]
        or Settings.institution_name,
        public_url=_url(env, "ALUMNET_PUBLIC_URL", Settings.public_url) or Settings.public_url,
        frontend_url=_url(env, "ALUMNET_FRONTEND_URL", None),
        cors_origins=_origins(env, "ALUMNET_CORS_ORIGINS"),
        two_factor_roles=_two_factor_roles(env, "ALUMNET_TWO_FACTOR_ROLES"),
        two_factor_keys=_fernet_keys(env, "ALUMNET_TWO_FACTOR_KEYS"),
        debug=_bool(env.get("ALUMNET_DEBUG")),
        log_format=env.get("ALUMNET_LOG_FORMAT", "json" if app_env == "production" else "console"),
        log_level=env.get("ALUMNET_LOG_LEVEL", "INFO").upper(),
        access_token_ttl_seconds=_int(env, "ALUMNET_ACCESS_TOKEN_TTL", 15 * 60),
        refresh_token_ttl_seconds=_int(env, "ALUMNET_REFRESH_TOKEN_TTL", 30 * 24 * 3600),
        argon2_memory_kib=_int(env, "ALUMNET_ARGON2_MEMORY_KIB", Settings.argon2_memory_kib),
        argon2_time_cost=_int(env, "ALUMNET_ARGON2_TIME_COST", Settings.argon2_time_cost),
        signin_max_failures=_int(env, "ALUMNET_SIGNIN_MAX_FAILURES", 5),
        signin_window_seconds=_int(env, "ALUMNET_SIGNIN_WINDOW", 15 * 60),
        registrations_per_address=_positive_int(
            env, "ALUMNET_REGISTRATIONS_PER_ADDRESS", Settings.registrations_per_address
        ),
        max_query_depth=_int(env, "ALUMNET_MAX_QUERY_DEPTH", 12),
        max_aliases=_int(env, "ALUMNET_MAX_ALIASES", 15),
        max_tokens=_int(env, "ALUMNET_MAX_TOKENS", 2000),
        max_query_cost=_int(env, "ALUMNET_MAX_QUERY_COST", 1_000_000),
        max_body_bytes=_int(env, "ALUMNET_MAX_BODY_BYTES", 1024 * 1024),
        job_retry_intervals=intervals,
        queue_prefix=env.get("ALUMNET_QUEUE_PREFIX", "alumnet"),
        db_pool_size=_positive_int(env, "ALUMNET_DB_POOL_SIZE", Settings.db_pool_size),
        db_pool_timeout=_positive_seconds(env, "ALUMNET_DB_POOL_TIMEOUT", Settings.db_pool_timeout),
        job_concurrency=_positive_int(env, "ALUMNET_JOB_CONCURRENCY", Settings.job_concurrency),
        metrics_networks=_networks(env, "ALUMNET_METRICS_NETWORKS", Settings.metrics_networks),
        trusted_proxies=_networks(env, "ALUMNET_TRUSTED_PROXIES", ()),
        metrics_token=env.get("ALUMNET_METRICS_TOKEN") or None,
        metrics_operations=frozenset(_names(env.get("ALUMNET_METRICS_OPERATIONS", ""))),
        import_max_bytes=_int(env, "ALUMNET_IMPORT_MAX_BYTES", 100 * 1024 * 1024),
        submission_max_bytes=_positive_int(
            env, "ALUMNET_SUBMISSION_MAX_BYTES", Settings.submission_max_bytes
        ),
        cv_max_bytes=_positive_int(env, "ALUMNET_CV_MAX_BYTES", Settings.cv_max_bytes),
        mentorship_request_days=_positive_int(
            env, "ALUMNET_MENTORSHIP_REQUEST_DAYS", Settings.mentorship_request_days
        ),
        resource_max_bytes=_positive_int(
            env, "ALUMNET_RESOURCE_MAX_BYTES", Settings.resource_max_bytes
        ),
        photo_max_bytes=_positive_int(env, "ALUMNET_PHOTO_MAX_BYTES", Settings.photo_max_bytes),
        photo_max_pixels=_positive_int(env, "ALUMNET_PHOTO_MAX_PIXELS", Settings.photo_max_pixels),
        export_max_bytes=_int(env, "ALUMNET_EXPORT_MAX_BYTES", 1024 * 1024 * 1024),
        auth_cache_seconds=_seconds_or_off(
            env, "ALUMNET_AUTH_CACHE_SECONDS", Settings.auth_cache_seconds
        ),
        job_relay_seconds=_positive_seconds(
            env, "ALUMNET_JOB_RELAY_SECONDS", Settings.job_relay_seconds
        ),
        auth_cache_fallback_seconds=_seconds_or_off(
            env, "ALUMNET_AUTH_CACHE_FALLBACK_SECONDS", Settings.auth_cache_fallback_seconds
        ),
        analytics_cache_seconds=_seconds_or_off(
            env, "ALUMNET_ANALYTICS_CACHE_SECONDS", Settings.analytics_cache_seconds
        ),
        persisted_only=_strict_bool(env, "ALUMNET_PERSISTED_ONLY"),
        gc_threshold=_int(env, "ALUMNET_GC_THRESHOLD", Settings.gc_threshold),
        query_budgets=_budgets(env, "ALUMNET_QUERY_BUDGETS"),
        db_statement_timeout=_positive_seconds(
            env, "ALUMNET_DB_STATEMENT_TIMEOUT", Settings.db_statement_timeout
        ),
        worker_statement_timeout=_positive_seconds(
            env, "ALUMNET_WORKER_STATEMENT_TIMEOUT", Settings.worker_statement_timeout
        ),
        request_deadline=_positive_seconds(
            env, "ALUMNET_REQUEST_DEADLINE", Settings.request_deadline
        ),
        graphiql=_strict_bool(env, "ALUMNET_GRAPHIQL") if env.get("ALUMNET_GRAPHIQL") else None,
        giving_currency=_currency(env, "ALUMNET_GIVING_CURRENCY", Settings.giving_currency),
        payments_provider=_choice(env, "ALUMNET_PAYMENTS_PROVIDER", ("manual", "signed")),
        payments_checkout_url=_url(env, "ALUMNET_PAYMENTS_CHECKOUT_URL", None),
        payments_webhook_secret=(env.get("ALUMNET_PAYMENTS_WEBHOOK_SECRET") or "").strip() or None,
        payments_webhook_tolerance=_positive_seconds(
            env, "ALUMNET_PAYMENTS_WEBHOOK_TOLERANCE", Settings.payments_webhook_tolerance
        ),
        faculty_weekly_hours=_positive_int(
            env, "ALUMNET_FACULTY_WEEKLY_HOURS", Settings.faculty_weekly_hours
        ),
        feedback_alert_below=_ratio(
            env, "ALUMNET_FEEDBACK_ALERT_BELOW", Settings.feedback_alert_below, -1.0, 1.0
        ),
        inquiries_per_address=_positive_int(
            env, "ALUMNET_INQUIRIES_PER_ADDRESS", Settings.inquiries_per_address
        ),
        inquiries_per_hour=_positive_int(
            env, "ALUMNET_INQUIRIES_PER_HOUR", Settings.inquiries_per_hour
        ),
        lead_score_weights=_weights(env, "ALUMNET_LEAD_SCORE_WEIGHTS"),
        otlp_endpoint=_url(env, "ALUMNET_OTLP_ENDPOINT", None),
        service_name=(env.get("ALUMNET_SERVICE_NAME") or "").strip()[:100] or Settings.service_name,
    )
