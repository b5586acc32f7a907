"""Settings, read only from the environment (``ALUMNET_*``), with embedded defaults.

Development needs no configuration at all: SQLite under ``var/``, jobs and pub/sub
in-process, e-mail into ``var/outbox``. Production (``ALUMNET_ENV=production``) refuses
to start without a real secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEVELOPMENT_SECRET = "alumnet-development-secret-do-not-use-in-production"
MIN_SECRET_LENGTH = 32
# Connections the in-process queue keeps per concurrent job: the job's own session, a
# second one for its progress, and a third for a bulk query's reads.
JOB_CONNECTIONS_PER_JOB = 3


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable alumnet."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


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


def normalise_database_url(url: str) -> str:
    """Map the URLs people write to the async drivers alumnet uses."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    var_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    secret_key: str = DEVELOPMENT_SECRET
    smtp_url: str | None = None
    mail_from: str = "alumnet <no-reply@alumnet.local>"
    public_url: str = "http://127.0.0.1:8000"
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
    # Largest spreadsheet accepted for import (an upload is refused as soon as it passes it).
    import_max_bytes: int = 100 * 1024 * 1024
    # Largest file an export or a bulk query may produce (the job fails, saying so, past it).
    export_max_bytes: int = 1024 * 1024 * 1024

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check_production(self) -> None:
        """Stop start-up when production would run with a guessable secret."""
        if not self.is_production:
            return
        if not self.secret_key or self.secret_key == DEVELOPMENT_SECRET:
            raise ConfigurationError(
                "ALUMNET_SECRET_KEY is not set: production needs its own secret key "
                f"(at least {MIN_SECRET_LENGTH} random characters, for example the output "
                "of `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
            )
        if len(self.secret_key) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"ALUMNET_SECRET_KEY is too short: use at least {MIN_SECRET_LENGTH} characters."
            )
        if self.debug:
            raise ConfigurationError("ALUMNET_DEBUG must be off in production.")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    app_env = env.get("ALUMNET_ENV", "development").strip().lower() or "development"
    if app_env not in {"development", "test", "production"}:
        raise ConfigurationError(
            f"ALUMNET_ENV must be development, test or production, got {app_env!r}"
        )
    var_dir = Path(env.get("ALUMNET_VAR_DIR", "var"))
    database_url = env.get("ALUMNET_DATABASE_URL") or f"sqlite:///{(var_dir / 'alumnet.db')}"
    secret = env.get("ALUMNET_SECRET_KEY")
    if secret is None:
        secret = "" if app_env == "production" else DEVELOPMENT_SECRET
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
        redis_url=env.get("ALUMNET_REDIS_URL") or None,
        secret_key=secret,
        smtp_url=env.get("ALUMNET_SMTP_URL") or None,
        mail_from=env.get("ALUMNET_MAIL_FROM", Settings.mail_from),
        public_url=env.get("ALUMNET_PUBLIC_URL", Settings.public_url).rstrip("/"),
        debug=_bool(env.get("ALUMNET_DEBUG")),
        log_format=env.get("ALUMNET_LOG_FORMAT", "json" if app_env == "production" else "console"),
        log_level=env.get("ALUMNET_LOG_LEVEL", "INFO").upper(),
        access_token_ttl_seconds=_int(env, "ALUMNET_ACCESS_TOKEN_TTL", 15 * 60),
        refresh_token_ttl_seconds=_int(env, "ALUMNET_REFRESH_TOKEN_TTL", 30 * 24 * 3600),
        argon2_memory_kib=_int(env, "ALUMNET_ARGON2_MEMORY_KIB", Settings.argon2_memory_kib),
        argon2_time_cost=_int(env, "ALUMNET_ARGON2_TIME_COST", Settings.argon2_time_cost),
        signin_max_failures=_int(env, "ALUMNET_SIGNIN_MAX_FAILURES", 5),
        signin_window_seconds=_int(env, "ALUMNET_SIGNIN_WINDOW", 15 * 60),
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
        import_max_bytes=_int(env, "ALUMNET_IMPORT_MAX_BYTES", 100 * 1024 * 1024),
        export_max_bytes=_int(env, "ALUMNET_EXPORT_MAX_BYTES", 1024 * 1024 * 1024),
    )
