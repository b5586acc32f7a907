"""Which browser pages may call the API: CORS for HTTP (Starlette's middleware); the
WebSocket's ``Origin``, which CORS does not cover, is checked against the same list by
Strawberry's handshake (``AlumnetGraphQL.is_websocket_origin_allowed``)."""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Send

from alumnet.config import Settings

# What a browser page may send and read beyond the CORS-safelisted headers.
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Request-Id")
EXPOSED_HEADERS = ("X-Request-Id", "Retry-After", "WWW-Authenticate")
# How long a browser may keep a preflight's answer (Chromium keeps at most 2 hours).
PREFLIGHT_MAX_AGE_SECONDS = 7200


def origin_pattern(origins: tuple[str, ...]) -> re.Pattern[str] | None:
    """One expression for the configured origins: ``*`` stands for any port
    (``http://localhost:*``) or any host names (``https://*.example.edu``), never for a
    slash or another part of the origin."""
    if not origins:
        return None
    if "*" in origins:
        return re.compile(r".*")
    parts = []
    for origin in origins:
        escaped = re.escape(origin.lower())
        if escaped.endswith(r":\*"):  # any port, or none (the scheme's)
            escaped = escaped[: -len(r":\*")] + "(?::[0-9]{1,5})?"
        parts.append(escaped.replace(r"\*", "[a-z0-9-]+(?:\\.[a-z0-9-]+)*"))  # any host part
    return re.compile("|".join(f"(?:{p})" for p in parts))


class Cors(CORSMiddleware):
    """Starlette's CORS middleware, answering a refused preflight in JSON like every other
    error, and without any CORS header (the browser then refuses the call itself)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.pattern = origin_pattern(settings.allowed_origins)
        super().__init__(
            app,
            allow_origin_regex=self.pattern.pattern if self.pattern else None,
            allow_methods=("GET", "POST"),
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=PREFLIGHT_MAX_AGE_SECONDS,
        )

    def is_allowed_origin(self, origin: str) -> bool:
        return self.pattern is not None and bool(self.pattern.fullmatch(origin.lower()))

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if (
            message["type"] == "http.response.start"
            and origin is not None
            and not self.is_allowed_origin(origin)
        ):
            # Not on the list: no CORS header at all (Starlette would expose some anyway).
            headers = MutableHeaders(scope=message)
            headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
            await send(message)
            return
        await super().send(message, send, request_headers)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        origin = request_headers["origin"]
        if not self.is_allowed_origin(origin):
            message = (
                f"Pages from {origin} may not call this API: add the origin to "
                "ALUMNET_CORS_ORIGINS."
            )
        else:
            message = (
                "This cross-origin request is refused: the API takes GET and POST, with the "
                f"headers {', '.join(ALLOWED_HEADERS)} beside the usual ones."
            )
        refused = JSONResponse(
            {"data": None, "errors": [{"message": message, "extensions": {"code": "FORBIDDEN"}}]},
            status_code=403,
        )
        refused.headers["Vary"] = "Origin"
        return refused
