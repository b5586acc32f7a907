"""The Starlette application: /graphql (HTTP and WebSocket), health, readiness, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import ipaddress
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import structlog
from cross_web import HTTPException
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from alumnet import tracing
from alumnet.bootstrap import build_runtime, close_runtime
from alumnet.config import Settings, load_settings
from alumnet.cors import Cors, origin_pattern
from alumnet.domain.careers import applications
from alumnet.domain.community import pages as public_pages
from alumnet.domain.community import photos
from alumnet.domain.data import files, templates
from alumnet.domain.engagement import certificates, grading, resources
from alumnet.domain.events import calendar
from alumnet.domain.giving import receipts as gift_receipts
from alumnet.domain.identity.auth import AuthenticationFailed, authenticate, viewer_of
from alumnet.domain.identity.permissions import ANONYMOUS, Viewer
from alumnet.domain.identity.two_factor import required_roles
from alumnet.domain.mentorship import sessions as mentorship_sessions
from alumnet.domain.ops import jobs as job_rules
from alumnet.domain.runtime import Runtime
from alumnet.observability import (
    JOBS_BY_STATUS,
    RequestStats,
    configure_logging,
    current_stats,
    get_logger,
)
from alumnet.pages import link_pages
from alumnet.persistence.db import SharedConnection, is_busy
from alumnet.persistence.uow import Origin
from alumnet.schema import build_schema
from alumnet.schema.context import Context
from alumnet.schema.errors import (
    RETRY_AFTER_SECONDS,
    TIMEOUT,
    UNAUTHENTICATED,
    service_unavailable,
    timed_out,
)
from alumnet.schema.extensions import may_see_schema, without_suggestions
from alumnet.webhooks import webhook_routes

log = get_logger("alumnet.http")

STATIC_DIR = Path(__file__).parent / "static"
# How long browsers and CDNs may keep a signed-out read asked for by GET: short, since
# some public answers can be withdrawn (a certificate revoked).
PUBLIC_MAX_AGE_SECONDS = 10
# How long a public page (GET /pages/<slug>) may be kept before asking again with its ETag.
PAGE_MAX_AGE_SECONDS = 60
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


class BodyTooLarge(Exception):
    pass


class NulInBody(Exception):
    """PostgreSQL text cannot hold U+0000; refuse it at the door, for every field at once."""


NUL_MARKERS = (b"\\u0000", b"\x00")
NUL_IN_QUERY = (b"%00", b"%5cu0000", b"%5Cu0000")


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, credential = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise AuthenticationFailed("malformed")
    return credential.strip()


# What each refusal of Strawberry's HTTP layer is called in `errors[].extensions.code`.
REFUSAL_CODES = {
    400: "BAD_REQUEST",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


class Refusal(HTTPException):
    """A request alumnet will not run, with the code its GraphQL error carries."""

    def __init__(self, status_code: int, reason: str, code: str) -> None:
        super().__init__(status_code, reason)
        self.code = code


SUBSCRIPTION_HINT = (
    "Subscriptions run over the WebSocket at /graphql (subprotocol graphql-transport-ws, "
    "as GraphiQL and the graphql-ws client do), not over HTTP POST or GET"
)


def _refusal(exc: HTTPException) -> str:
    if exc.reason == "Unable to parse request body as JSON":
        return (
            "The request's JSON (its body, or `variables` in the URL) is not valid: it must "
            "be UTF-8 text, without lone surrogates (\\ud800 alone), nested at most 1,024 "
            "levels deep."
        )
    return exc.reason if exc.reason.endswith(".") else f"{exc.reason}."


INTERNAL_MESSAGE = "Something went wrong on our side; it has been logged."


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """An error outside GraphQL in GraphQL's shape, so that clients read one shape."""
    error = {"message": message, "extensions": {"code": code}}
    return JSONResponse({"data": None, "errors": [error]}, status_code=status)


def _busy_response() -> JSONResponse:
    error = service_unavailable()
    return JSONResponse(
        {"data": None, "errors": [{"message": error.message, "extensions": error.extensions}]},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _unauthenticated(reason: str) -> JSONResponse:
    message = (
        "Your access token has expired: get a new one with tokenRefresh."
        if reason == "expired"
        else "The token you sent is not valid (malformed, forged, revoked, or its user is "
        "suspended). Sign in again."
    )
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": UNAUTHENTICATED}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class PrivateTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, saying no more of the schema than HTTP does: in production,
    a stranger's errors lose their "Did you mean …?" (WebSocket results do not pass
    through the schema extension that strips them from HTTP answers)."""

    async def send_message(self, message: Any) -> None:
        payload = message.get("payload") if isinstance(message, dict) else None
        viewer = getattr(self.context, "viewer", None)
        settings = self.view.runtime.settings  # type: ignore[attr-defined]
        if payload and not may_see_schema(settings, viewer):
            errors = payload if message.get("type") == "error" else payload.get("errors")
            for error in errors or ():
                if isinstance(error, dict) and isinstance(error.get("message"), str):
                    error["message"] = without_suggestions(error["message"])
        await super().send_message(message)


class AlumnetGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = PrivateTransportWS

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(
            build_schema(runtime.settings),
            graphql_ide="graphiql",
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            keep_alive=True,
            keep_alive_interval=15,
            # File uploads (the GraphQL multipart request spec): spreadsheets to import.
            multipart_uploads_enabled=True,
        )
        self.runtime = runtime
        self.origins = origin_pattern(runtime.settings.allowed_origins)
        index = STATIC_DIR / "graphiql" / "index.html"
        self._ide_html = index.read_text() if index.exists() else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except AuthenticationFailed as exc:
            if scope["type"] == "http":
                await _unauthenticated(exc.reason)(scope, receive, send)
            else:
                raise

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        # Strawberry lets same-origin pages (GraphiQL) and clients without an Origin in;
        # other pages need their origin on the same list as CORS.
        return self.origins is not None and bool(self.origins.fullmatch(origin.lower()))

    async def _viewer(self, context: Context, authorization: str | None) -> Viewer:
        bearer = _bearer(authorization)
        if bearer is None:
            return ANONYMOUS
        found = await authenticate(self.runtime, context.reads, bearer)
        user_id = found.viewer.user_id
        if user_id is not None:
            # What authentication read answers `viewer { … }` without another statement.
            context.loaders.user_by_id.prime(user_id, found.user_row)
            context.loaders.roles_by_user_id.prime(user_id, list(found.role_names))
        return found.viewer

    async def get_context(self, request: Any, response: Any) -> Context:
        client = request.client.host if request.client else None
        state = request.scope.setdefault("state", {})
        shared = None
        if isinstance(request, Request):
            # Closed by RequestMiddleware once the response is sent.
            shared = state["alumnet.reads"] = SharedConnection(
                self.runtime.database, self.runtime.replicas
            )
        context = Context(
            runtime=self.runtime,
            request=request,
            response=response,
            origin=Origin(
                ip=client,
                user_agent=request.headers.get("user-agent"),
                request_id=state.get("request_id"),
            ),
            shared=shared,
        )
        if isinstance(request, Request):
            state["alumnet.context"] = context
            context.viewer = await self._viewer(context, request.headers.get("authorization"))
            if shared is not None:
                # Signing in read (and may have written) on the primary; the operation's
                # reads may go to a replica (a mutation's go back: ReadsFollowWrites).
                await shared.read_replica(context.viewer.user_id)
        return context

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET with only a persisted query's hash (no `query`) is an operation, not a
        # browser asking for GraphiQL. In production, GraphiQL only if ALUMNET_GRAPHIQL.
        return (
            self.runtime.settings.graphiql_enabled
            and super().should_render_graphql_ide(request)
            and "extensions" not in request.query_params
        )

    async def process_result(self, request: Any, result: Any) -> Any:
        processed = await super().process_result(request, result)
        context = request.scope.get("state", {}).get("alumnet.context")
        if request.method == "GET" and context is not None:
            # Reads by GET (persisted queries) may be cached: a signed-out reader's answer
            # is the same for everyone signed out; anything else is nobody else's.
            public = context.viewer.user_id is None and not result.errors
            headers = context.response.headers
            headers["Cache-Control"] = (
                f"public, max-age={PUBLIC_MAX_AGE_SECONDS}" if public else "private, no-store"
            )
            cost = (processed.get("extensions") or {}).get("cost")
            if public and isinstance(cost, dict):
                # One address's budget is not everyone's to read from a shared cache.
                cost.pop("throttleStatus", None)
            vary = [v for v in headers.get("Vary", "").split(",") if v.strip()]
            headers["Vary"] = ", ".join([*vary, "Authorization"])
        return processed

    async def on_ws_connect(self, context: Context) -> Any:
        params: Mapping[str, Any] = context.connection_params or {}
        raw = params.get("Authorization") or params.get("authorization")
        try:
            context.viewer = await self._viewer(context, raw if isinstance(raw, str) else None)
            context.bearer = _bearer(raw if isinstance(raw, str) else None)
        except AuthenticationFailed as exc:
            raise ConnectionRejectionError({"reason": "invalid token"}) from exc
        return {"viewer": context.viewer.user_id is not None}

    async def render_graphql_ide(self, request: Request) -> Response:
        if self._ide_html is None:
            return HTMLResponse("GraphiQL assets are missing from this build.", status_code=500)
        return HTMLResponse(self._ide_html)

    def decode_json(self, data: str | bytes) -> object:
        # orjson refuses what the standard library lets through to fail later as a 500:
        # bytes that are not UTF-8, lone surrogates, and nesting past 1,024 levels (its
        # depth limit, where the standard library recurses until RecursionError).
        decoded = orjson.loads(data)
        # Every JSON alumnet reads (a body, `variables`, a multipart `operations` or `map`)
        # is an object; anything else would fail deeper as a 500.
        if not isinstance(decoded, dict):
            raise HTTPException(400, "The request's JSON must be an object")
        return decoded

    async def run(  # type: ignore[override]
        self, request: Any, context: Any = UNSET, root_value: Any = UNSET
    ) -> Any:
        try:
            return await super().run(request, context, root_value)
        except (HTTPException, StarletteHTTPException) as exc:
            if not isinstance(request, Request):
                raise
            if isinstance(exc, StarletteHTTPException):  # a multipart body Starlette refused
                exc = HTTPException(exc.status_code, str(exc.detail).rstrip("."))
            # A request alumnet cannot read: a GraphQL error in JSON, and one warning line
            # (the request's own) in the log, never a stack trace.
            request.scope.setdefault("state", {})["alumnet.refused"] = exc.reason
            code = getattr(exc, "code", None) or REFUSAL_CODES.get(exc.status_code, "BAD_REQUEST")
            error = {"message": _refusal(exc), "extensions": {"code": code}}
            return JSONResponse({"data": None, "errors": [error]}, status_code=exc.status_code)

    async def execute_single(  # type: ignore[override]
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> Any:
        # Strawberry's, except that a subscription over plain HTTP is refused with a code
        # and a hint (Strawberry would run it as a query and answer "Cannot return null"),
        # and each refusal says which code it is.
        allowed = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        settings = self.runtime.settings
        # The whole operation has a deadline (ALUMNET_REQUEST_DEADLINE), beyond each of its
        # statements' timeouts: past it, it is cancelled and answers TIMEOUT; until a
        # mutation's transaction begins (Context.transaction), never after. A request that
        # carries a file (an import, work handed in) stores up to 100 MB: the workers' time.
        deadline = settings.request_deadline
        if request_adapter.content_type and "multipart/form-data" in request_adapter.content_type:
            deadline = max(deadline, settings.worker_statement_timeout)
        try:
            async with asyncio.timeout(deadline) as bound:
                if isinstance(context, Context):
                    context.deadline = bound
                return await self.schema.execute(
                    request_data.query,
                    root_value=root_value,
                    variable_values=request_data.variables,
                    context_value=context,
                    operation_name=request_data.operation_name,
                    allowed_operation_types=allowed,
                    operation_extensions=request_data.extensions,
                )
        except TimeoutError:
            log.warning("request_deadline", seconds=deadline)
            stats = current_stats.get()
            if stats is not None:
                stats.error_codes.append(TIMEOUT)
            return ExecutionResult(data=None, errors=[timed_out()])
        except CannotGetOperationTypeError as exc:
            if exc.operation_name is None:
                raise Refusal(400, "The document has no operation to run", "BAD_REQUEST") from exc
            named = (
                f'The document has no operation named "{exc.operation_name}": send one of its '
                "operations' names as `operationName`, or none if it has one operation"
            )
            raise Refusal(400, named, "OPERATION_NOT_FOUND") from exc
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise Refusal(400, SUBSCRIPTION_HINT, "SUBSCRIPTION_OVER_HTTP") from exc
            reason = exc.as_http_error_reason(request_adapter.method)
            raise Refusal(400, reason[:1].upper() + reason[1:], "BAD_REQUEST") from exc
        except MissingQueryError as exc:
            raise Refusal(400, "No GraphQL query found in the request", "BAD_REQUEST") from exc

    def encode_json(self, data: object) -> str:
        # Text, not bytes: WebSocket messages must be text frames for browser clients.
        return orjson.dumps(data).decode()

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = Response(
            orjson.dumps(response_data), status_code=200, media_type="application/json"
        )
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        return response


class RequestMiddleware:
    """Request id, per-request SQL accounting, body limit, timing and security headers."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.max_body = settings.max_body_bytes
        # The largest file a request may carry (a spreadsheet to import, work handed in),
        # and room for the rest of the multipart body.
        self.max_upload = (
            max(
                settings.import_max_bytes,
                settings.submission_max_bytes,
                settings.resource_max_bytes,
                settings.photo_max_bytes,
            )
            + 1024 * 1024
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        stats = RequestStats()
        stats_token = current_stats.set(stats)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = {"code": 0}
        try:
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
                return
            length = headers.get(b"content-length")
            # A multipart request carries a file (to import, or work handed in): its own,
            # larger limit (each mutation refuses the file itself past its own limit).
            # Only a signed-in caller's multipart request gets it (the mutation checks who).
            multipart = headers.get(b"content-type", b"").startswith(
                b"multipart/form-data"
            ) and bool(headers.get(b"authorization"))
            limit = self.max_upload if multipart else self.max_body
            if length is not None and length.isdigit() and int(length) > limit:
                await self._too_large(scope, receive, send, limit)
                return
            if any(marker in scope.get("query_string", b"") for marker in NUL_IN_QUERY):
                await self._nul(scope, receive, send)
                return
            received = {"bytes": 0}
            tail = {"bytes": b""}

            async def limited_receive() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    body = message.get("body", b"")
                    received["bytes"] += len(body)
                    if received["bytes"] > limit:
                        raise BodyTooLarge
                    window = tail["bytes"] + body
                    # A file in a multipart request is binary (an .xlsx is a zip), so raw NUL
                    # bytes pass there; an escaped one in the operations' JSON does not (a raw
                    # one is not valid JSON). Cells are checked where they are read.
                    markers = NUL_MARKERS[:1] if multipart else NUL_MARKERS
                    if any(marker in window for marker in markers):
                        raise NulInBody
                    tail["bytes"] = window[-6:]
                return message

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                    extra = [
                        (b"x-request-id", request_id.encode()),
                        (b"x-content-type-options", b"nosniff"),
                        (b"referrer-policy", b"no-referrer"),
                        (b"content-security-policy", CSP.encode()),
                    ]
                    if self.settings.debug:
                        timing = stats.timing()
                        extra.append(
                            (
                                b"server-timing",
                                (
                                    f'sql;dur={timing["sqlMs"]};desc="{timing["sqlStatements"]} '
                                    f'statements", total;dur={timing["totalMs"]}'
                                ).encode(),
                            )
                        )
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                await send(message)

            try:
                await self.app(scope, limited_receive, send_with_headers)
            except BodyTooLarge:
                if status["code"] == 0:
                    await self._too_large(scope, receive, send, limit)
            except NulInBody:
                if status["code"] == 0:
                    await self._nul(scope, receive, send)
            except Exception as exc:
                # Before the operation runs (signing the viewer in) or outside GraphQL: a
                # database too busy to lend a connection is a 503 to retry, not a 500.
                if status["code"] != 0:
                    raise
                if is_busy(exc):
                    log.warning("service_busy", path=scope.get("path"), error=type(exc).__name__)
                    status["code"] = 503
                    await _busy_response()(scope, receive, send_with_headers)
                    return
                # A bug: logged here with the request's id, answered in JSON with its headers.
                log.exception("unhandled_error", path=scope.get("path"))
                status["code"] = 500
                await error_response(500, "INTERNAL_SERVER_ERROR", INTERNAL_MESSAGE)(
                    scope, receive, send_with_headers
                )
        finally:
            reads = scope.get("state", {}).pop("alumnet.reads", None)
            if reads is not None:
                await reads.close()
            refused = scope.get("state", {}).get("alumnet.refused")
            if scope["type"] == "http" and scope.get("path") != "/metrics":
                (log.warning if refused else log.info)(
                    "request",
                    **({"refused": refused} if refused else {}),
                    **(
                        {"errors": ",".join(sorted(set(stats.error_codes)))}
                        if stats.error_codes
                        else {}
                    ),
                    method=scope.get("method"),
                    path=scope.get("path"),
                    status=status["code"],
                    ms=round((time.perf_counter() - stats.started) * 1000, 2),
                    sql=stats.sql_statements,
                )
            structlog.contextvars.unbind_contextvars("request_id")
            current_stats.reset(stats_token)

    async def _nul(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = "Text must not contain NUL (U+0000) characters."
        await error_response(400, "BAD_USER_INPUT", message)(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        message = f"The request body is larger than {limit:,} bytes."
        await error_response(413, "PAYLOAD_TOO_LARGE", message)(scope, receive, send)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = (settings or load_settings()).checked()
    configure_logging(settings.log_format, settings.log_level)
    runtime, dispatcher = build_runtime(settings)
    graphql = AlumnetGraphQL(runtime)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks: dict[str, Any] = {}
        try:
            await runtime.database.ping()
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        if settings.redis_url:
            try:
                from alumnet.persistence.bus import redis_client

                client = redis_client(settings.redis_url)
                try:
                    await client.ping()
                finally:
                    await client.aclose()
                checks["redis"] = "ok"
            except Exception as exc:
                # Said, but no reason to stop sending requests here: they are served
                # without it (docs/RELIABILITY.md), jobs wait as rows until it is back.
                checks["redis"] = f"unreachable: {type(exc).__name__} (degraded)"
        else:
            checks["redis"] = "not configured (in-process queue and pub/sub)"
        ready = checks["database"] == "ok"
        # Said, but no reason to stop sending requests here: while the bus is silent the
        # process reads credentials more often, and serves as correctly.
        if runtime.credentials is not None:
            checks["credentialCache"] = runtime.credentials.status()
        body: dict[str, Any] = {"status": "ready" if ready else "unavailable", "checks": checks}
        if runtime.replicas is not None and runtime.replicas.replicas:
            # Each replica's state; one that is down or lagging degrades, never fails, the
            # process: its reads go to the primary, which answers them all.
            checks["replicas"] = await runtime.replicas.status()
            unused = sum(not v.startswith("ok") for v in checks["replicas"].values())
            if unused:
                body["degraded"] = (
                    f"{unused} of {len(checks['replicas'])} read replicas not in use: their "
                    "reads go to the primary; this process stays ready while the primary answers."
                )
        return JSONResponse(body, status_code=200 if ready else 503)

    # The insights page (static/insights, docs/INSIGHTS.md): one static page, served like
    # GraphiQL (its assets from /static, nothing from a CDN) under the same CSP; it signs in
    # and reads `dashboard` over /graphql itself, so it is the same for everyone.
    insights_index = STATIC_DIR / "insights" / "index.html"
    insights_html = insights_index.read_text() if insights_index.exists() else None

    async def insights(request: Request) -> Response:
        if insights_html is None:
            return HTMLResponse("The insights page is missing from this build.", status_code=500)
        return HTMLResponse(insights_html, headers={"Cache-Control": "no-cache"})

    networks = [ipaddress.ip_network(n, strict=False) for n in settings.metrics_networks]

    def may_scrape(request: Request) -> bool:
        if settings.metrics_token:
            given = request.headers.get("authorization", "")
            expected = f"Bearer {settings.metrics_token}"
            if hmac.compare_digest(given.encode(), expected.encode()):
                return True
        try:
            client = ipaddress.ip_address(request.client.host if request.client else "")
        except ValueError:
            return False
        return any(client in network for network in networks)

    async def metrics(request: Request) -> Response:
        if not may_scrape(request):
            return error_response(
                403, "FORBIDDEN", "Metrics are served to the addresses in "
                "ALUMNET_METRICS_NETWORKS, or with the ALUMNET_METRICS_TOKEN bearer token.",
            )  # fmt: skip
        try:
            counted = await job_rules.counts_by_status(runtime)
        except Exception as exc:
            if not is_busy(exc):
                raise
            counted = None  # the pools' own figures matter most right now: serve them
        if counted is not None:
            JOBS_BY_STATUS.clear()
            for name, status, count in counted:
                JOBS_BY_STATUS.labels(job=name, status=status).set(count)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            payload = generate_latest(registry)
        else:
            payload = generate_latest()
        return Response(payload, media_type=CONTENT_TYPE_LATEST)

    async def file_download(request: Request) -> Response:
        """A signed, short-lived link to one of one's stored files (an export), streamed."""
        found = files.read_link(settings, request.query_params.get("token", ""))
        stored = await files.owned(runtime.database, *found) if found else None
        viewer = None
        if stored is not None and found is not None:
            # Only while the link's user may still sign in (a link e-mailed days ago to
            # someone suspended or deleted since opens nothing).
            async with runtime.database.connect() as conn:
                viewer = await viewer_of(
                    conn, found[0], None, required=required_roles(runtime.settings)
                )
            if viewer is None:
                stored = None
        # Shared with the link's user (a student's work for a mentor, a mission's document):
        # only while they may still read it.
        if (
            stored is not None
            and found is not None
            and viewer is not None
            and found[2]
            and not (
                await grading.may_read_file(runtime.database, viewer, stored.id)
                or await resources.may_read_file(runtime.database, viewer, stored.id)
                or await certificates.may_read_file(runtime.database, viewer, stored.id)
                or await applications.may_read_file(runtime.database, viewer, stored.id)
                or await gift_receipts.may_read_file(runtime.database, viewer, stored.id)
            )
        ):
            stored = None
        if stored is None:
            return error_response(404, "NOT_FOUND", "This link is not valid or has expired.")
        return StreamingResponse(
            files.chunks(runtime.database, stored.id), media_type=stored.content_type,
            headers={"Content-Disposition": files.content_disposition(stored.name),
                     "Cache-Control": "no-store"},
        )  # fmt: skip

    async def photo_download(request: Request) -> Response:
        """One size of a photo at its signed link (domain/community/photos.py says which
        links last and which expire), cached as its link allows; 304 when unchanged."""
        found = await photos.served(
            runtime.database, settings, request.path_params["photo_id"],
            request.path_params["size"], dict(request.query_params),
        )  # fmt: skip
        if found is None:
            return error_response(404, "NOT_FOUND", "This link is not valid or has expired.")
        headers = {"Cache-Control": found.cache_control, "ETag": found.etag}
        if found.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        headers["Content-Length"] = str(found.size)
        return StreamingResponse(
            photos.content(runtime.database, found), media_type=found.content_type,
            headers=headers,
        )  # fmt: skip

    async def import_template_download(request: Request) -> Response:
        """An empty import template (`importTemplates`' signed link): headers, no data."""
        found = templates.read_link(settings, request.query_params.get("token", ""))
        if found is None:
            return error_response(404, "NOT_FOUND", "This link is not valid or has expired.")
        body, content_type, name = templates.render(*found)
        return Response(
            body, media_type=content_type,
            headers={"Content-Disposition": files.content_disposition(name),
                     "Cache-Control": "no-store"},
        )  # fmt: skip

    def _calendar_file(body: bytes, name: str) -> Response:
        return Response(
            body, media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"',
                     "Cache-Control": "private, no-store"},
        )  # fmt: skip

    async def event_calendar(request: Request) -> Response:
        """One event (or its whole series) as an .ics file, at a person's signed link:
        only while they may still see it; the join link only if they have a place."""
        found = calendar.read_event_token(settings, request.query_params.get("token", ""))
        body = None
        if found is not None:
            async with runtime.database.connect() as conn:
                viewer = await viewer_of(
                    conn, found[0], None, required=required_roles(runtime.settings)
                )
                if viewer is not None:
                    make = calendar.series_ics if request.url.path.endswith("series.ics") else (
                        calendar.event_ics
                    )  # fmt: skip
                    body = await make(conn, viewer, found[1], settings.public_url)
        if body is None:
            return error_response(404, "NOT_FOUND", "This link is not valid or has expired.")
        return _calendar_file(body, f"event-{found[1]}.ics" if found else "event.ics")

    async def session_calendar(request: Request) -> Response:
        """A mentorship session as an .ics file, for one of its two sides."""
        token = request.query_params.get("token", "")
        found = calendar.read_event_token(settings, token, calendar.SESSION_AUDIENCE)
        body = None
        if found is not None:
            async with runtime.database.connect() as conn:
                if (
                    await viewer_of(conn, found[0], None, required=required_roles(runtime.settings))
                    is not None
                ):
                    body = await mentorship_sessions.session_ics(
                        conn, found[0], found[1], settings.public_url
                    )
        if body is None:
            return error_response(404, "NOT_FOUND", "This link is not valid or has expired.")
        return _calendar_file(body, "mentorship-session.ics")

    async def public_page(request: Request) -> Response:
        """A public page (domain/community/pages.py) as JSON, for anyone: one read in
        autocommit (never a write), an ETag of the body, and 304 when the reader has it."""
        reads = SharedConnection(runtime.database)
        try:
            row = await public_pages.public_page(reads, str(request.path_params["slug"]))
        finally:
            await reads.close()
        if row is None:
            return error_response(404, "NOT_FOUND", "There is no such page.")
        body = public_pages.public_body(row)
        tag = public_pages.etag(body)
        headers = {"ETag": tag, "Cache-Control": f"public, max-age={PAGE_MAX_AGE_SECONDS}"}
        if public_pages.etag_matches(request.headers.get("if-none-match"), tag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    async def calendar_feed(request: Request) -> Response:
        """A person's private calendar feed, for calendar applications to subscribe to: the
        link's signature and version (rotating the link makes a new one) are checked."""
        token = str(request.path_params.get("token", ""))
        found = calendar.read_feed_token(settings, token)
        body = None
        if found is not None:
            async with runtime.database.connect() as conn:
                viewer = await viewer_of(
                    conn, found[0], None, required=required_roles(runtime.settings)
                )
                if viewer is not None and await calendar.feed_version(conn, found[0]) == found[1]:
                    body = await calendar.feed(conn, found[0], settings.public_url,
                                               viewer.name or "")  # fmt: skip
        if body is None:
            return error_response(404, "NOT_FOUND", "This feed link is not valid.")
        return _calendar_file(body, "alumnet.ics")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await dispatcher.requeue_stale()
        # Objects alive after start-up are never garbage; keep the collector off them.
        gc.collect()
        gc.freeze()
        # Collections of the youngest generation after this many allocations (Python's
        # default is 700): a request allocates thousands of objects, and collecting every
        # 700 of them spent time on the young objects of requests still in flight.
        gen0 = settings.gc_threshold
        if gen0:
            _, gen1, gen2 = gc.get_threshold()
            gc.set_threshold(gen0, gen1, gen2)
        log.info(
            "started",
            env=settings.env,
            secret_source=settings.secret_source,
            database=runtime.database.engine.url.get_backend_name(),
            redis=bool(settings.redis_url),
        )
        following = None
        if runtime.credentials is not None and runtime.credentials.enabled:
            following = asyncio.create_task(runtime.credentials.follow())
        relay = dispatcher.relay(settings.job_relay_seconds)  # with Redis: jobs it missed
        schedule = None
        if not settings.redis_url and settings.env != "test":
            # Without Redis there is no `alumnet scheduler`: run the schedule here.
            from alumnet.workers.schedule import run_in_process

            schedule = asyncio.create_task(run_in_process(runtime))
        yield
        for task in (schedule, following, relay):
            if task is not None:
                task.cancel()
                # Awaited: the credentials listener says goodbye on the bus as it ends.
                with contextlib.suppress(BaseException):
                    await task
        # Jobs running finish their attempt; queued ones stay rows for the next start.
        await close_runtime(runtime, dispatcher)
        # Spans sent now (1 s at most): `serve --workers N`'s processes end by the signal,
        # without the exit hooks that would send them (docs/OPERATIONS.md, "Processes").
        tracing.flush()

    async def http_error(request: Request, exc: Exception) -> Response:
        # Starlette's own refusals (no such path, a method a route does not take) in the
        # same JSON shape as every other error.
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "BAD_REQUEST")
        message = (
            f"Nothing is served at {request.url.path}: the API is at /graphql."
            if exc.status_code == 404
            else f"{request.method} is not taken here."
            if exc.status_code == 405
            else str(exc.detail)
        )
        refused = error_response(exc.status_code, code, message)
        refused.headers.update(exc.headers or {})
        return refused

    app = Starlette(
        exception_handlers={StarletteHTTPException: http_error},
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/insights", insights),
            *link_pages(runtime),
            Route("/downloads/file", file_download),
            Route("/downloads/import-template", import_template_download),
            Route("/photos/{photo_id}/{size}", photo_download),
            Route("/calendar/event.ics", event_calendar),
            Route("/calendar/series.ics", event_calendar),
            Route("/calendar/session.ics", session_calendar),
            Route("/calendar/feed/{token}.ics", calendar_feed),
            Route("/pages/{slug}", public_page, methods=["GET"]),
            *webhook_routes(runtime),
            Mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(RequestMiddleware, settings=settings)
    # Outermost: every answer a page on an allowed origin gets, the body limit's 413 and the
    # busy database's 503 included, carries the CORS headers the page needs to read it.
    app.add_middleware(Cors, settings=settings)
    # Around them all (when tracing is on): a server span per request, with its id.
    tracing.instrument_app(app)
    # Who the client is, as only the proxies of ALUMNET_TRUSTED_PROXIES may say (their
    # X-Forwarded-For and -Proto), for everything inside: limits, logs, spans.
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    # Outermost (when tracing is on), seeing the connection's own peer: an incoming trace
    # context is honoured from those proxies only.
    tracing.trace_context_from(app, settings.trusted_proxies)
    app.state.runtime = runtime
    app.state.dispatcher = dispatcher
    return app


__all__ = ["WebSocket", "create_app"]
