"""Webhooks alumnet receives: the payment provider's, at ``POST /webhooks/payments``.

A delivery is read whole only up to ``payments.BODY_MAX`` bytes (64 KB; 413 past it), its
signature verified over the raw bytes (``ALUMNET_PAYMENTS_PROVIDER``'s adapter, in
domain/giving/payments.py), then applied in one transaction. Answers, in JSON:

- 200 ``{"received": true, "outcome": …}``: the event is stored (or was stored by an
  earlier delivery: ``"duplicate"``, nothing written). A verified event that cannot be
  applied (an unknown reference, an amount other than the intent's) is stored with its
  outcome and answered 200 too, so that the provider stops sending it.
- 400 ``{"error": "BAD_SIGNATURE" | "BAD_EVENT", "message": …}``: not the provider's, not
  now, or not an event; nothing is written, and the provider's retry gets the same.
- 413 past the size limit, 503 when the database is too busy (the provider retries).
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alumnet.domain.giving import payments
from alumnet.domain.runtime import Runtime
from alumnet.observability import get_logger
from alumnet.persistence.uow import Origin

log = get_logger("alumnet.webhooks")


def _refused(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def _body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None once it passes ``limit`` bytes (the rest is not read)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def webhook_routes(runtime: Runtime) -> list[Route]:
    provider = payments.provider_of(runtime.settings)

    async def payment_webhook(request: Request) -> Response:
        raw = await _body(request, payments.BODY_MAX)
        if raw is None:
            return _refused(413, "PAYLOAD_TOO_LARGE",
                            f"The body is larger than {payments.BODY_MAX:,} bytes.")  # fmt: skip
        try:
            event = provider.parse_webhook(request.headers, raw, datetime.now(UTC))
        except payments.BadSignature as exc:
            log.warning("payment_webhook_refused", reason=str(exc))
            return _refused(400, "BAD_SIGNATURE", str(exc))
        except payments.BadEvent as exc:
            log.warning("payment_webhook_refused", reason=str(exc))
            return _refused(400, "BAD_EVENT", str(exc))
        origin = Origin(
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            request_id=request.scope.get("state", {}).get("request_id"),
            via="webhook",
        )
        async with runtime.transaction(origin=origin) as uow:
            received = await payments.receive(uow, provider.name, event)
        return JSONResponse({"received": True, "outcome": received.outcome})

    return [Route("/webhooks/payments", payment_webhook, methods=["POST"])]
