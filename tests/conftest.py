"""Test fixtures: a real database (PostgreSQL or SQLite), a real queue (RQ on Redis or
in-process), a real SMTP server (aiosmtpd), and the ASGI app over httpx."""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, create_engine, make_url, text

from alumnet.config import QUERY_BUDGETS_DEFAULT, QueryBudget, Settings, load_settings
from alumnet.persistence import migrations
from alumnet.persistence.db import sync_url
from alumnet.persistence.models import Base
from tests import commands
from tests.privacy import SUITE_NAMES, SUITE_PREFIXES, no_personal_data_in_redis  # noqa: F401

TEST_DATABASE_URL = os.environ.get("ALUMNET_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("ALUMNET_TEST_REDIS_URL")
PASSWORD = "correct horse battery"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        # Cleared, it holds every delivery until set again: a slow mail server.
        self.open = threading.Event()
        self.open.set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.get_running_loop().run_in_executor(None, self.open.wait, 30)
        self.messages.append(
            {"to": list(envelope.rcpt_tos), "body": envelope.content.decode("utf-8", "replace")}
        )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[str]:
        return [m["body"] for m in self.messages if address.lower() in [a.lower() for a in m["to"]]]


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.port = port  # type: ignore[attr-defined]
    yield box
    controller.stop()


def _worker_database_url(tmp_root: Path) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if not TEST_DATABASE_URL:
        return f"sqlite:///{tmp_root / f'alumnet-{worker}.db'}"
    url = make_url(TEST_DATABASE_URL)
    name = f"{url.database}_{worker}"
    admin = create_engine(
        url.set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Settings:
    root = tmp_path_factory.mktemp("alumnet")
    base = load_settings({"ALUMNET_ENV": "test"})
    database_url = _worker_database_url(root)
    return replace(
        base,
        var_dir=root / "var",
        database_url=load_settings({"ALUMNET_DATABASE_URL": database_url}).database_url,
        redis_url=TEST_REDIS_URL,
        queue_prefix=f"alumnet-test-{uuid.uuid4().hex[:8]}",
        smtp_url=f"smtp://127.0.0.1:{mailbox.port}",  # type: ignore[attr-defined]
        secret_key=secrets.token_urlsafe(48),
        secret_source="the test set-up",
        metrics_token=secrets.token_urlsafe(32),
        metrics_operations=frozenset({"DashboardProbe"}),
        debug=True,
        argon2_memory_kib=1024,
        job_retry_intervals=(0, 0),
        # Off for the shared app, whose tests count SQL statements per request (a cached
        # credential saves one); tests/identity/test_credential_cache.py turns it on, as
        # do the `alumnet serve` processes tests start.
        auth_cache_seconds=0.0,
        # Budgets no test spends, and time bounds a loaded CI machine never reaches: the
        # tests of limits (tests/test_limits.py) set their own with app_api(...).
        query_budgets=tuple((who, QueryBudget(10**12, 10**9)) for who, _ in QUERY_BUDGETS_DEFAULT),
        db_statement_timeout=30.0,
        request_deadline=120.0,
    )


def env_for(settings: Settings) -> dict[str, str]:
    """The environment that makes a subprocess (CLI, worker, server) use the test setup."""
    env = {
        **os.environ,
        "ALUMNET_ENV": "test",
        "ALUMNET_VAR_DIR": str(settings.var_dir),
        "ALUMNET_DATABASE_URL": settings.database_url,
        "ALUMNET_SECRET_KEY": settings.secret_key,
        "ALUMNET_SMTP_URL": settings.smtp_url or "",
        "ALUMNET_QUEUE_PREFIX": settings.queue_prefix,
        "ALUMNET_ARGON2_MEMORY_KIB": str(settings.argon2_memory_kib),
        "ALUMNET_JOB_RETRY_INTERVALS": ",".join(str(i) for i in settings.job_retry_intervals),
        "ALUMNET_LOG_LEVEL": "WARNING",
        "ALUMNET_LOG_FORMAT": "json",
        "ALUMNET_IMPORT_MAX_BYTES": str(settings.import_max_bytes),
        "ALUMNET_QUERY_BUDGETS": ",".join(
            f"{who}={budget.size}/{budget.rate}" for who, budget in settings.query_budgets
        ),
        "ALUMNET_DB_STATEMENT_TIMEOUT": str(settings.db_statement_timeout),
        "ALUMNET_REQUEST_DEADLINE": str(settings.request_deadline),
    }
    if settings.redis_url:
        env["ALUMNET_REDIS_URL"] = settings.redis_url
    else:
        env.pop("ALUMNET_REDIS_URL", None)
    if settings.otlp_endpoint:
        env["ALUMNET_OTLP_ENDPOINT"] = settings.otlp_endpoint
    return env


@pytest.fixture(scope="session")
def migrated(settings: Settings) -> str:
    migrations.upgrade(settings.database_url)
    return settings.database_url


@functools.cache
def _engine(database_url: str) -> Engine:
    """One engine per test database, kept (a new one for each test took ~20 ms)."""
    return create_engine(sync_url(database_url))


# TRUNCATE's RESTART IDENTITY: each sequence that has handed out an id starts again at 1.
_RESTART_IDS = (
    "SELECT setval(seqrelid, seqstart, false) FROM pg_sequence"
    " WHERE pg_sequence_last_value(seqrelid) IS NOT NULL"
)


def _truncate(database_url: str) -> None:
    """Empty every table, and start ids again at 1: each test starts from nothing."""
    engine = _engine(database_url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]  # children first
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # DELETE, not TRUNCATE, which gives each of the ~100 tables new files: ~150 ms
            # a test, where deleting the few rows a test leaves takes ~2 ms. A superuser
            # (as in CI) turns the foreign-key triggers off meanwhile, which would check
            # ~100 tables for each user deleted.
            if conn.exec_driver_sql("SHOW is_superuser").scalar() == "on":
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.exec_driver_sql("; ".join(f"DELETE FROM {table}" for table in tables))
            conn.exec_driver_sql(_RESTART_IDS)
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
            conn.execute(text("DELETE FROM sqlite_sequence")) if conn.execute(
                text("SELECT name FROM sqlite_master WHERE name='sqlite_sequence'")
            ).first() else None


@pytest.fixture(scope="session")
def app(settings: Settings, migrated: str) -> Any:
    from alumnet.app import create_app

    return create_app(settings)


@dataclass
class Api:
    client: httpx.AsyncClient
    app: Any
    settings: Settings
    mailbox: Mailbox

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        response = await self.post(query, variables, token, headers)
        return response.json()  # type: ignore[no-any-return]

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=sent
        )

    async def metrics(self) -> str:
        """The /metrics page, as a scraper with the metrics token reads it."""
        response = await self.client.get(
            "/metrics", headers={"Authorization": f"Bearer {self.settings.metrics_token}"}
        )
        assert response.status_code == 200, response.text
        return response.text

    def from_address(self, ip: str) -> Api:
        """The same API, called from another client address."""
        transport = httpx.ASGITransport(app=self.app, client=(ip, 5000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        return Api(client=client, app=self.app, settings=self.settings, mailbox=self.mailbox)

    async def sql_count(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """The number of SQL statements an operation took, and its result."""
        body = await self.gql(query, variables, token)
        return int(body["extensions"]["timing"]["sqlStatements"]), body

    async def run_jobs(self) -> None:
        """Run every queued job: in-process, or with `alumnet worker --burst` on Redis."""
        await self.app.state.dispatcher.queue.drain()
        if self.settings.redis_url:
            # The worker, forked from one that has imported alumnet (tests/commands.py).
            await asyncio.to_thread(commands.run, ["worker", "--burst"], env_for(self.settings))

    async def sign_in(self, email: str, password: str = PASSWORD) -> str:
        body = await self.gql(
            "mutation($e: String!, $p: String!) { tokenCreate(input: {email: $e, password: $p})"
            " { accessToken userErrors { code message } } }",
            {"e": email, "p": password},
        )
        payload = body["data"]["tokenCreate"]
        assert payload["userErrors"] == [], payload
        return str(payload["accessToken"])

    async def create_user(
        self, email: str, roles: list[str], name: str | None = None, password: str = PASSWORD
    ) -> tuple[str, str]:
        """Creates the user directly (as the CLI would) and returns (global id, token)."""
        from alumnet.domain.identity.permissions import Role
        from alumnet.domain.identity.users import ensure_user
        from alumnet.persistence.uow import Origin

        runtime = self.app.state.runtime
        async with runtime.transaction(origin=Origin(via="cli")) as uow:
            user, _ = await ensure_user(
                runtime,
                uow,
                email=email,
                name=name or email.split("@")[0].title(),
                roles=[Role(r) for r in roles],
                password=password,
            )
        from strawberry.relay import to_base64

        SUITE_NAMES.add(user.name)
        SUITE_PREFIXES.add(self.settings.queue_prefix)
        return to_base64("User", user.id), await self.sign_in(email, password)


async def app_api(api: Api, **changes: Any) -> AsyncIterator[Api]:
    """Another app on the same database, with other settings (in-process queue, pools)."""
    from alumnet.app import create_app
    from alumnet.bootstrap import close_runtime

    settings = replace(api.settings, **changes)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client=client, app=app, settings=settings, mailbox=api.mailbox)
    await app.state.dispatcher.queue.drain()
    await close_runtime(app.state.runtime, app.state.dispatcher)


@pytest.fixture
async def api(app: Any, settings: Settings, mailbox: Mailbox) -> AsyncIterator[Api]:
    _truncate(settings.database_url)
    # Truncation starts ids again and bypasses the ORM: forget the credentials checked.
    app.state.runtime.credentials.invalidate(None)
    # …and bypasses the tracking of written tables: forget the cached aggregates too.
    if app.state.runtime.aggregates is not None:
        await app.state.runtime.aggregates.forget()
    mailbox.messages.clear()
    mailbox.open.set()
    failures = app.state.runtime.failures
    if hasattr(failures, "_hits"):
        failures._hits.clear()
        failures._holds.clear()
        app.state.runtime.budgets.clear()
    else:
        keys = await failures.redis.keys(f"{settings.queue_prefix}:throttle:*")
        if keys:
            await failures.redis.delete(*keys)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client=client, app=app, settings=settings, mailbox=mailbox)
    await app.state.dispatcher.queue.drain()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(
    api: Api, stderr: Any, extra_env: dict[str, str] | None = None, *, fresh: bool = False
) -> tuple[subprocess.Popen[bytes] | commands.Started, str]:
    """`alumnet serve` on a free port, once it answers; the process and its host:port.

    Forked as tests/commands.py forks commands (~1.5 s of CPU less a server), or, ``fresh``,
    started as `python -m alumnet.cli serve`. ``stderr``: DEVNULL or a file opened by name.
    """
    port = _free_port()
    args = ["serve", "--port", str(port)]
    env = {**env_for(api.settings), **(extra_env or {})}
    process: subprocess.Popen[bytes] | commands.Started
    if fresh:
        process = subprocess.Popen(
            [sys.executable, "-m", "alumnet.cli", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    else:
        errors = os.devnull if stderr == subprocess.DEVNULL else str(stderr.name)
        process = commands.start(args, env, errors)
    base = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("server did not start")
    return process, base


@pytest.fixture
def server(api: Api) -> Iterator[str]:
    process, base = _serve(api, subprocess.DEVNULL)
    yield base
    process.terminate()
    process.wait(timeout=10)


@dataclass
class LoggedServer:
    base: str
    process: subprocess.Popen[bytes] | commands.Started
    log: Path

    def stop(self) -> list[str]:
        """Stop the server; the lines it logged (warnings and worse: ALUMNET_LOG_LEVEL)."""
        self.process.terminate()
        self.process.wait(timeout=10)
        return self.log.read_text().splitlines()


@pytest.fixture
def logged_server(api: Api, tmp_path: Path) -> Iterator[LoggedServer]:
    """A server whose log (stderr) the test reads after `stop()`."""
    log = tmp_path / "server.log"
    with log.open("wb") as stderr:
        process, base = _serve(api, stderr)
        made = LoggedServer(base, process, log)
        yield made
        if process.poll() is None:
            made.stop()


async def post_to(
    base: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"http://{base}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
        )
    return response.json()  # type: ignore[no-any-return]


async def token_at(base: str, email: str, password: str = PASSWORD) -> str:
    """An access token from a running server's own sign-in."""
    signed = await post_to(
        base,
        "mutation($e: String!, $p: String!) { tokenCreate(input: {email: $e, password: $p}) "
        "{ accessToken } }",
        {"e": email, "p": password},
    )
    return str(signed["data"]["tokenCreate"]["accessToken"])


async def subscribe(
    base: str, token: str, query: str, variables: dict[str, Any] | None = None
) -> Any:
    """A graphql-transport-ws subscription to a running server: connected, acknowledged,
    subscribed, and given a second to subscribe before the test changes anything."""
    import json

    import websockets

    ws = await websockets.connect(f"ws://{base}/graphql", subprotocols=["graphql-transport-ws"])
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    )
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    subscription = {"query": query, "variables": variables or {}}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscription}))
    await asyncio.sleep(1.0)
    return ws
