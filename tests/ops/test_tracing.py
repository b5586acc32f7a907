"""OpenTelemetry tracing, through real processes: `alumnet serve` (and on Redis `alumnet
worker`) exporting by OTLP over HTTP to a collector of the test's own (an HTTP server on
127.0.0.1 in a thread, decoding the protobuf it receives). One trace holds the request,
its SQL, the job it recorded and that job's SQL; the request id is on every span and the
trace id on the log lines; nothing secret is in a span; off by default, at no cost."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from alumnet import tracing
from alumnet.domain.identity.mail import EMAIL_JOB
from alumnet.persistence.models import Job
from alumnet.tracing import REQUEST_ID
from tests.conftest import Api, _serve

CREATE = """mutation($i: UserCreateInput!) {
  userCreate(input: $i) { user { id } userErrors { code message } } }"""
NEW_USER = {"email": "traced.person@example.org", "name": "Traced Person", "roles": ["MENTOR"]}
SERVER = ProtoSpan.SpanKind.SPAN_KIND_SERVER
FOREIGN_TRACE = "a" * 32
CONSUMER = ProtoSpan.SpanKind.SPAN_KIND_CONSUMER


@dataclass
class Exported:
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent: str
    attributes: dict[str, Any]
    service: str
    status: str = ""


@dataclass
class Collector:
    """An OTLP/HTTP trace receiver: each POST's path, content type and decoded spans."""

    url: str = ""
    posts: list[tuple[str, str]] = field(default_factory=list)
    spans: list[Exported] = field(default_factory=list)

    def receive(self, path: str, content_type: str, body: bytes) -> None:
        self.posts.append((path, content_type))
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans:
            service = _values(resource.resource.attributes)["service.name"]
            for scope in resource.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        Exported(span.name, span.kind, span.trace_id.hex(), span.span_id.hex(),
                                 span.parent_span_id.hex(), _values(span.attributes), service,
                                 span.status.message)
                    )  # fmt: skip


def _values(attributes: Any) -> dict[str, Any]:
    return {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in attributes}


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    made = Collector()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            made.receive(self.path, self.headers["Content-Type"], body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    made.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield made
    server.shutdown()
    server.server_close()


async def _job_rows(api: Api) -> list[Job]:
    async with api.app.state.runtime.database.session() as session:
        return list((await session.scalars(select(Job).order_by(Job.id))).all())


async def test_a_request_is_traced_through_its_sql_into_its_job(
    api: Api, collector: Collector, tmp_path: Path
) -> None:
    traced = Api(client=api.client, app=api.app, mailbox=api.mailbox,
                 settings=replace(api.settings, otlp_endpoint=collector.url))  # fmt: skip
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    log = tmp_path / "server.log"
    with log.open("wb") as stderr:
        # This test's own address (127.0.0.1) is no trusted proxy.
        env = {"ALUMNET_LOG_LEVEL": "INFO", "ALUMNET_TRUSTED_PROXIES": "192.0.2.0/24"}
        process, base = _serve(traced, stderr, env)
        try:
            async with httpx.AsyncClient(base_url=f"http://{base}") as client:
                response = await client.post(
                    "/graphql",
                    json={"query": CREATE, "variables": {"i": NEW_USER}},
                    headers={
                        "Authorization": f"Bearer {admin}",
                        "X-Request-Id": "trace-me-1",
                        # A stranger's trace context and forwarding: neither honoured.
                        "traceparent": f"00-{FOREIGN_TRACE}-{'b' * 16}-01",
                        "X-Forwarded-For": "203.0.113.7",
                    },
                )
                assert response.json()["data"]["userCreate"]["userErrors"] == []
                # Tokens in a query string or a path are never recorded.
                await client.get("/downloads/file?token=leaky-query-token")
                await client.get("/calendar/feed/leaky-path-token.ics")
                await client.get("/healthz")  # probes are not traced
            [job] = [j for j in await _job_rows(api) if j.name == EMAIL_JOB]
            assert job.trace_context is not None
            assert job.trace_context["alumnet-request-id"] == "trace-me-1"
            if api.settings.redis_url:
                await traced.run_jobs()  # the worker exports its spans itself
            deadline = time.monotonic() + 30
            while [j.status for j in await _job_rows(api) if j.id == job.id] != ["succeeded"]:
                assert time.monotonic() < deadline, "the job did not run"
                await asyncio.sleep(0.05)
        finally:
            process.terminate()  # exits normally: what it recorded is sent first
            process.wait(timeout=20)

    assert collector.posts and {p for p, _ in collector.posts} == {"/v1/traces"}
    assert {t for _, t in collector.posts} == {"application/x-protobuf"}
    spans = collector.spans
    [server] = [
        s for s in spans if s.kind == SERVER and s.attributes.get(REQUEST_ID) == "trace-me-1"
    ]
    assert server.name == "POST /graphql" and server.service == "alumnet"
    assert server.trace_id != FOREIGN_TRACE and server.parent == ""
    assert "203.0.113.7" not in repr(server.attributes)
    trace = [s for s in spans if s.trace_id == server.trace_id]
    assert all(s.attributes[REQUEST_ID] == "trace-me-1" for s in trace)
    request_sql = [
        s for s in trace if s.parent == server.span_id and "db.statement" in s.attributes
    ]
    assert any(s.attributes["db.statement"].startswith("INSERT INTO users") for s in request_sql)
    [job_span] = [s for s in trace if s.name == f"job {EMAIL_JOB}"]
    assert job_span.kind == CONSUMER
    assert job_span.attributes["alumnet.job.id"] == job.id
    assert job_span.attributes["alumnet.job.attempt"] == 1
    job_sql = [s for s in trace if s.parent == job_span.span_id and "db.statement" in s.attributes]
    assert any("outbound_emails" in s.attributes["db.statement"] for s in job_sql), job_sql
    # Probes, and statements outside any request or job (the worker's), start no trace.
    assert not [s for s in spans if "healthz" in s.name]
    assert all(s.parent or s.kind in (SERVER, CONSUMER) for s in spans)
    everything = repr(spans)
    for secret in (admin, "leaky-query-token", "leaky-path-token", NEW_USER["email"]):
        assert secret not in everything  # statements carry placeholders, not values
    assert any(s.attributes.get("http.route") == "/calendar/feed/{token}.ics" for s in spans)

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    [request_line] = [
        line
        for line in lines
        if line["event"] == "request" and line.get("request_id") == "trace-me-1"
    ]
    assert request_line["trace_id"] == server.trace_id
    if not api.settings.redis_url:  # the job ran in the server: its lines carry both ids
        [done] = [line for line in lines if line["event"] == "job_succeeded"]
        assert done["request_id"] == "trace-me-1" and done["trace_id"] == server.trace_id
        assert done["span_id"] == job_span.span_id


async def test_off_by_default_with_nothing_recorded(api: Api) -> None:
    assert api.settings.otlp_endpoint is None and not tracing.enabled()
    assert tracing.job_trace_context("some-request") is None
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    body = await api.gql(CREATE, {"i": NEW_USER}, token=admin)
    assert body["data"]["userCreate"]["userErrors"] == []
    async with api.app.state.runtime.database.session() as session:
        untraced = (
            await session.scalars(select(Job.name).where(Job.trace_context.is_(None)))
        ).all()
    assert EMAIL_JOB in untraced and len(untraced) == len(await _job_rows(api))
    assert not any("OpenTelemetry" in m.cls.__name__ for m in api.app.user_middleware)


async def test_a_failed_statement_s_span_names_the_error_never_its_values(
    api: Api, collector: Collector
) -> None:
    """A unique violation: PostgreSQL's message quotes the duplicate value (``Key
    (email)=(…) already exists``); the statement's span says only the error's class."""
    secret = "duplicate.person@example.org"
    engine = create_async_engine(api.settings.database_url)
    tracing.setup(collector.url, "alumnet-sql-errors")
    try:
        tracing.instrument_engine(engine)
        with tracing.job_span(1, "test.sql_error", 1, None):
            async with engine.connect() as conn:
                await conn.execute(text("CREATE TEMPORARY TABLE traced (email text UNIQUE)"))
                add = text("INSERT INTO traced (email) VALUES (:email)")
                await conn.execute(add, {"email": secret})
                with pytest.raises(IntegrityError) as raised:
                    await conn.execute(add, {"email": secret})
        tracing.flush()
    finally:
        tracing.shutdown()
        await engine.dispose()
    if api.settings.database_url.startswith("postgresql"):
        assert secret in str(raised.value)  # what the instrumentation used to record
    mine = [s for s in collector.spans if s.service == "alumnet-sql-errors"]
    [failed] = [s for s in mine if s.status]
    assert failed.attributes["db.statement"].startswith("INSERT INTO traced")
    assert failed.status == type(raised.value.orig).__name__
    assert secret not in repr(mine)


async def test_a_trace_context_is_honoured_from_trusted_proxies_only() -> None:
    """What the filter ``trace_context_from`` puts outermost lets through, by the
    connection's own peer (the request test above: a stranger's starts a trace of its own)."""
    seen: list[list[bytes]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append([name for name, _ in scope["headers"]])

    honour = tracing._TraceContextFromProxies(app, ["10.0.0.0/8", "::1"])
    sent = [(b"traceparent", f"00-{FOREIGN_TRACE}-{'b' * 16}-01".encode()),
            (b"tracestate", b"k=v"), (b"baggage", b"user=x"), (b"accept", b"*/*")]  # fmt: skip
    for client in (("10.1.2.3", 5000), ("::1", 5000), ("203.0.113.9", 5000), None):
        await honour({"type": "http", "client": client, "headers": list(sent)}, None, None)  # type: ignore[arg-type]
    everything = [name for name, _ in sent]
    assert seen == [everything, everything, [b"accept"], [b"accept"]]
