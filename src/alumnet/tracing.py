"""OpenTelemetry traces: a request, its SQL and Redis commands, and the jobs it recorded.

Off unless ``ALUMNET_OTLP_ENDPOINT`` names a collector. Off, nothing is instrumented and
OpenTelemetry is not even imported: each function here returns at its first line.

On, one trace follows a request: the HTTP server span (with ``alumnet.request_id``), a
span per SQL statement and Redis command under it, and, through the context a recorded job
keeps in ``jobs.trace_context``, a span per attempt of each job it recorded (in a worker
process or the in-process queue) with that job's own statements under it. Every span of a
request or of its jobs carries the request id; every log line written while a span is
active carries ``trace_id`` and ``span_id``.

Only requests and jobs start traces: a statement or Redis command outside both (the
scheduler's, a worker waiting for work) is not recorded. Nothing a client sent beyond the
method and the route is recorded (no query string, no headers; a path that holds a token
is recorded as its route, ``/calendar/feed/{token}.ics``), and SQL spans carry statements
with their placeholders, never the values (a failed statement's span: the error's class,
not the database's message, which may quote them).
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
import urllib.parse
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer
    from sqlalchemy.ext.asyncio import AsyncEngine
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Receive, Scope, Send

# The attribute that ties a span to the request it served (the X-Request-Id answered).
REQUEST_ID = "alumnet.request_id"
# Where a job's trace context keeps the id of the request that recorded it.
CARRIED_REQUEST_ID = "alumnet-request-id"
# Probes and scrapes, every few seconds from every load balancer: no traces.
UNTRACED_PATHS = ("/healthz", "/readyz", "/metrics")
# How long a work horse waits at its end for its spans to be sent (a collector down or slow
# costs each job at most this; what is not sent by then is lost).
FLUSH_SECONDS = 1.0
# A request's incoming trace context (W3C Trace Context and Baggage): honoured only from
# the proxies of ALUMNET_TRUSTED_PROXIES.
TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})


@dataclass
class _Tracing:
    key: tuple[str, str]
    provider: TracerProvider
    tracer: Tracer
    sql_tracer: Tracer
    connections: Any  # the SQLAlchemy instrumentation's (no-op) connection gauge


_state: _Tracing | None = None
_NOTHING = contextlib.nullcontext()


def enabled() -> bool:
    return _state is not None


def setup(otlp_endpoint: str | None, service_name: str) -> None:
    """Trace this process (ALUMNET_OTLP_ENDPOINT, ALUMNET_SERVICE_NAME): exported by OTLP
    over HTTP to the collector at ``otlp_endpoint``, or off if None. Called again with the
    same settings, it keeps what it has; with others, it sends and stops what it had first."""
    global _state
    endpoint = otlp_endpoint
    key = (endpoint, service_name) if endpoint else None
    if _state is not None and _state.key == key:
        return
    shutdown()
    if key is None or endpoint is None:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sql_version
    from opentelemetry.metrics import get_meter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased

    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: service_name}),
        sampler=ParentBased(root=_requests_and_jobs()),
    )
    provider.add_span_processor(_request_id_copier())
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
    )
    RedisInstrumentor().instrument(tracer_provider=provider)
    _state = _Tracing(
        key=key,
        provider=provider,
        tracer=provider.get_tracer("alumnet"),
        sql_tracer=provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", sql_version),
        connections=get_meter("alumnet").create_up_down_counter(
            "db.client.connections.usage", unit="connections"
        ),
    )


def shutdown() -> None:
    """Stop tracing this process, once what it has recorded is sent."""
    global _state
    if _state is None:
        return
    state, _state = _state, None
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor().uninstrument()
    state.provider.shutdown()


def flush(timeout_seconds: float = FLUSH_SECONDS) -> None:
    """Send what has been recorded now (a worker's work horse ends without ``atexit``),
    waiting ``timeout_seconds`` at most. The SDK's ``force_flush`` ignores its timeout (it
    waits for the exporter: 10 s a request, retried), so it is waited for in a thread."""
    if _state is None:
        return
    sending = threading.Thread(
        target=_state.provider.force_flush, name="alumnet-trace-flush", daemon=True
    )
    sending.start()
    sending.join(timeout_seconds)


def instrument_engine(engine: AsyncEngine) -> None:
    """A span per SQL statement of this engine (its statement, placeholders and all)."""
    if _state is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import engine as instrumented
    from sqlalchemy import event

    sync = engine.sync_engine
    instrumented.EngineTracer(_state.sql_tracer, sync, _state.connections)  # type: ignore[no-untyped-call]
    # Its error listener puts the error's message in the span, and the database's message
    # quotes values (``Key (email)=(…) already exists``): the error's kind only, instead.
    event.remove(sync, "handle_error", instrumented._handle_error)
    event.listen(sync, "handle_error", _sql_failed)


def _sql_failed(context: Any) -> None:
    """A failed statement's span: ended with the error's kind (its class), never its text."""
    span = getattr(context.execution_context, "_otel_span", None)
    if span is None:
        return
    if span.is_recording():
        from opentelemetry.trace import StatusCode

        span.set_status(StatusCode.ERROR, type(context.original_exception).__name__)
    span.end()


def instrument_app(app: Starlette) -> None:
    """A server span per HTTP request and WebSocket connection, named by its route and
    carrying the request id (which ``RequestMiddleware`` sets in the scope's state). Call
    it once the app's own middleware is added: it wraps them all."""
    if _state is None:
        return
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from starlette.middleware import Middleware

    # Innermost: runs after RequestMiddleware has chosen the request's id.
    app.user_middleware.append(Middleware(_RequestIdOnSpan))
    app.add_middleware(
        OpenTelemetryMiddleware,
        excluded_urls=",".join(f"{path}(\\?|$)" for path in UNTRACED_PATHS),
        default_span_details=lambda scope: _span_details(app, scope),
        server_request_hook=_only_the_route,
        tracer_provider=_state.provider,
        # A span per chunk of a body sent or received says nothing the server span does not.
        exclude_spans=["receive", "send"],
    )


def trace_context_from(app: Starlette, trusted_proxies: Sequence[str]) -> None:
    """Honour a request's incoming trace context only from ``trusted_proxies`` (networks):
    anyone else's ``traceparent``, ``tracestate`` and ``baggage`` are dropped, and its
    request starts a trace of its own (a stranger neither joins a trace nor decides what is
    sampled). Call it last in ``create_app``: it must see the connection's own peer, before
    the proxies' ``X-Forwarded-For`` names the client."""
    if _state is None:
        return
    app.add_middleware(_TraceContextFromProxies, trusted=trusted_proxies)


def job_trace_context(request_id: str | None) -> dict[str, str] | None:
    """What a job recorded now keeps of the current trace (W3C ``traceparent``, and the
    request's id), for its attempts to continue it; None when there is none to continue."""
    if _state is None:
        return None
    from opentelemetry.trace import get_current_span
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    if not carrier:
        return None
    # A job recorded by a job: the request id its own span carries.
    request_id = request_id or (getattr(get_current_span(), "attributes", None) or {}).get(
        REQUEST_ID
    )
    if request_id:
        carrier[CARRIED_REQUEST_ID] = request_id
    return carrier


def job_span(
    job_id: int, name: str, attempt: int, trace_context: dict[str, str] | None
) -> contextlib.AbstractContextManager[None]:
    """The span of one attempt of a job, a child of the request (or job) that recorded it;
    its log lines carry that request's id."""
    if _state is None:
        return _NOTHING
    return _job_span(_state.tracer, job_id, name, attempt, trace_context or {})


@contextlib.contextmanager
def _job_span(
    tracer: Tracer, job_id: int, name: str, attempt: int, carried: dict[str, str]
) -> Iterator[None]:
    from opentelemetry.context import Context
    from opentelemetry.trace import SpanKind, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    # From an empty context: the recording request's, or a root, never whatever the running
    # task happens to carry.
    parent = TraceContextTextMapPropagator().extract(carried, context=Context())
    request_id = carried.get(CARRIED_REQUEST_ID)
    attributes: dict[str, str | int] = {
        "alumnet.job.id": job_id,
        "alumnet.job.name": name,
        "alumnet.job.attempt": attempt,
    }
    if request_id:
        attributes[REQUEST_ID] = request_id
    with tracer.start_as_current_span(
        f"job {name}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        # The error's kind only: its message may quote what the job worked on.
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        bound = (
            structlog.contextvars.bound_contextvars(request_id=request_id)
            if request_id
            else _NOTHING
        )
        with bound:
            try:
                yield
            except BaseException as exc:
                span.set_status(StatusCode.ERROR, type(exc.__cause__ or exc).__name__)
                raise


def add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: the trace and span a log line was written in, if traced."""
    if _state is None:
        return event
    from opentelemetry.trace import get_current_span

    context = get_current_span().get_span_context()
    if context.is_valid and context.trace_flags.sampled:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event


class _TraceContextFromProxies:
    """Drops the trace context headers of a request not sent by a trusted proxy."""

    def __init__(self, app: ASGIApp, trusted: Sequence[str]) -> None:
        self.app = app
        self.networks = [ipaddress.ip_network(n, strict=False) for n in trusted]

    def _trusted(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client or not self.networks:
            return False
        try:
            peer = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(peer in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self._trusted(scope):
            headers = scope["headers"]
            if any(name in TRACE_HEADERS for name, _ in headers):
                scope["headers"] = [(n, v) for n, v in headers if n not in TRACE_HEADERS]
        await self.app(scope, receive, send)


class _RequestIdOnSpan:
    """Puts the request's id on its server span (the span current as it runs)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            from opentelemetry.trace import get_current_span

            get_current_span().set_attribute(REQUEST_ID, request_id)
        await self.app(scope, receive, send)


def _route(app: Starlette, scope: Scope) -> str | None:
    from starlette.routing import Match

    partial = None
    for route in app.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "")) or None
        if match is Match.PARTIAL and partial is None:
            partial = str(getattr(route, "path", "")) or None
    return partial


def _span_details(app: Starlette, scope: Scope) -> tuple[str, dict[str, str]]:
    route = _route(app, scope)
    method = scope.get("method") or "WEBSOCKET"
    return (f"{method} {route}", {"http.route": route}) if route else (method, {})


# The attributes the ASGI instrumentation fills from the URL, as either convention names them.
_PATH_KEYS = ("http.target", "url.path")
_URL_KEYS = ("http.url", "url.full")
_QUERY_KEYS = ("url.query",)


def _only_the_route(span: Span, scope: Scope) -> None:
    """The URL as its route, without its query string: a signed download link, a calendar
    feed's token or GraphQL variables sent by GET are nobody's to read in a trace."""
    if not span.is_recording():
        return
    recorded = getattr(span, "attributes", None) or {}
    path = str(recorded.get("http.route") or scope.get("path") or "")
    for key in _PATH_KEYS:
        if key in recorded:
            span.set_attribute(key, path)
    for key in _URL_KEYS:
        if key in recorded:
            parts = urllib.parse.urlsplit(str(recorded[key]))
            span.set_attribute(key, parts._replace(path=path, query="", fragment="").geturl())
    for key in _QUERY_KEYS:
        if key in recorded:
            span.set_attribute(key, "")


def _requests_and_jobs() -> Any:
    """The root sampler: a trace starts at a request or a job, not at a lone statement."""
    from opentelemetry.sdk.trace.sampling import (
        ALWAYS_ON,
        Decision,
        Sampler,
        SamplingResult,
    )
    from opentelemetry.trace import SpanKind

    class RequestsAndJobs(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            if kind is SpanKind.CLIENT:
                return SamplingResult(Decision.DROP)
            return ALWAYS_ON.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return "RequestsAndJobs"

    return RequestsAndJobs()


def _request_id_copier() -> Any:
    """A span processor: every span started under a span with a request id has it too."""
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.trace import get_current_span

    class RequestIdCopier(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            parent = get_current_span(parent_context)
            request_id = (getattr(parent, "attributes", None) or {}).get(REQUEST_ID)
            if request_id:
                span.set_attribute(REQUEST_ID, request_id)

    return RequestIdCopier()
