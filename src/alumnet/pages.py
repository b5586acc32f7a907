"""The few pages alumnet renders itself: where e-mailed links land (verify an address,
choose a password, confirm a new address, unsubscribe). Server-rendered, no JavaScript,
under the same CSP as everything else. A GET only shows the page (mail scanners follow
links); the action is a POST of the page's own form, which carries the link's token (a
page elsewhere cannot forge it) and must come from this origin. Each action is the same
domain function as its GraphQL mutation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from alumnet.domain.communication import notifications
from alumnet.domain.errors import DomainError
from alumnet.domain.identity import users
from alumnet.domain.runtime import Runtime
from alumnet.persistence.uow import Origin, UnitOfWork

_TEMPLATES = Environment(
    loader=PackageLoader("alumnet", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)
# What each link's page says and does.
LINKS: dict[str, dict[str, str]] = {
    "verify-email": {
        "title": "Confirm your e-mail address",
        "ask": "Confirm that this address is yours to finish setting up your alumnet account.",
        "button": "Confirm my address",
        "done": "Your e-mail address is confirmed.",
        "used_hint": "Your address is confirmed already.",
        "invalid_hint": 'Choosing a new password (passwordResetRequest, or "Forgot your '
        'password?") also confirms your address.',
    },
    "reset-password": {
        "title": "Choose a new password",
        "ask": "Choose the password you will sign in with.",
        "button": "Save my password",
        "done": "Your password is saved: sign in with it. Every other session has ended.",
        "used_hint": "Ask for a new one if you still need to change your password.",
        "invalid_hint": "Ask for a new one with passwordResetRequest (links work for a "
        "limited time, and once).",
    },
    "confirm-email": {
        "title": "Confirm your new e-mail address",
        "ask": "Confirm that your alumnet account should use this address from now on.",
        "button": "Use this address",
        "done": "Your account uses this address now; sign in with it.",
        "used_hint": "The address was changed already.",
        "invalid_hint": "Ask for the change again from your settings.",
    },
}


def render(template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    page = HTMLResponse(_TEMPLATES.get_template(template).render(**context), status_code)
    # The token is in the address and in the form: nothing here may be kept.
    page.headers["Cache-Control"] = "no-store"
    return page


def same_origin(request: Request, public_url: str) -> bool:
    """A form sent from this server's own page. Browsers say where a POST comes from
    (Sec-Fetch-Site, or at least Origin); a request that says neither is not a browser's
    page (and still needs the link's token)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    netloc = urlsplit(origin).netloc.lower()
    return netloc in (request.headers.get("host", "").lower(), urlsplit(public_url).netloc.lower())


def _origin(request: Request) -> Origin:
    return Origin(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=request.scope.get("state", {}).get("request_id"),
        via="page",
    )


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def link_pages(runtime: Runtime) -> list[Route]:
    settings = runtime.settings
    next_url = settings.frontend_url or ""

    def page(name: str, state: str, token: str = "", **extra: Any) -> HTMLResponse:
        said = LINKS[name]
        status = {"invalid": 400, "used": 410, "refused": 403}.get(state, 200)
        return render(
            "link.html", status_code=status, state=state, token=token, action=f"/{name}",
            password=name == "reset-password", min_length=users.PASSWORD_MIN,
            max_length=users.PASSWORD_MAX,
            next_url=next_url, problems=extra.get("problems", []), **said,
        )  # fmt: skip

    def handler(
        name: str, act: Callable[[UnitOfWork, dict[str, str]], Awaitable[Any]]
    ) -> Callable[[Request], Awaitable[HTMLResponse]]:
        purpose = users.LINK_PURPOSES[name]

        async def endpoint(request: Request) -> HTMLResponse:
            if request.method != "POST":  # GET, or HEAD (link checkers): only look
                token = request.query_params.get("token", "")
                async with runtime.database.connect() as conn:
                    state = await users.link_state(conn, token, purpose)
                return page(name, "ask" if state == "valid" else state, token)
            if not same_origin(request, settings.public_url):
                return page(name, "refused")
            form = await _form(request)
            token = form.get("token", "")
            if name == "reset-password" and form.get("password") != form.get("repeat"):
                problems = ["The two passwords are not the same."]
                async with runtime.database.connect() as conn:
                    state = await users.link_state(conn, token, purpose)
                return page(name, "ask" if state == "valid" else state, token, problems=problems)
            try:
                async with runtime.transaction(origin=_origin(request)) as uow:
                    await act(uow, form)
            except DomainError as exc:
                codes = {p.code for p in exc.problems}
                if codes & {"INVALID_TOKEN", "EMAIL_TAKEN"}:
                    async with runtime.database.connect() as conn:
                        state = await users.link_state(conn, token, purpose)
                    if "EMAIL_TAKEN" in codes:
                        return page(name, "invalid", problems=[exc.problems[0].message])
                    return page(name, "used" if state == "used" else "invalid")
                # Only a password can be refused as such: say why, and ask again.
                return page(name, "ask", token, problems=[p.message for p in exc.problems])
            return page(name, "done")

        return endpoint

    async def verify(uow: UnitOfWork, form: dict[str, str]) -> Any:
        return await users.verify_email(uow, form.get("token", ""))

    async def reset(uow: UnitOfWork, form: dict[str, str]) -> Any:
        return await users.reset_password(
            runtime, uow, form.get("token", ""), form.get("password", "")
        )

    async def confirm(uow: UnitOfWork, form: dict[str, str]) -> Any:
        return await users.confirm_email_change(uow, form.get("token", ""))

    async def unsubscribe(request: Request) -> HTMLResponse:
        """The link in every notification e-mail. GET shows a button (link scanners must
        not unsubscribe anyone); POST, from that button or a mail client's one-click
        unsubscribe (RFC 8058, which sends no Origin), turns the e-mails off."""
        token = request.query_params.get("token", "")
        if request.method == "POST" and not token:
            token = (await _form(request)).get("token", "")
        found = notifications.read_unsubscribe_token(settings, token) if token else None
        if found is None:
            return render("unsubscribe.html", status_code=400, title="E-mail settings",
                          state="invalid", kind="", token="")  # fmt: skip
        user_id, kind = found
        if request.method != "POST":  # GET, or HEAD (link checkers): only ask
            return render("unsubscribe.html", title="E-mail settings", state="ask", kind=kind,
                          token=token)  # fmt: skip
        async with runtime.transaction(origin=_origin(request)) as uow:
            done = await notifications.unsubscribe(uow, user_id, kind)
        return render("unsubscribe.html", status_code=200 if done else 400,
                      title="E-mail settings", state="done" if done else "invalid", kind=kind,
                      token="")  # fmt: skip

    methods = ["GET", "POST"]
    return [
        Route("/verify-email", handler("verify-email", verify), methods=methods),
        Route("/reset-password", handler("reset-password", reset), methods=methods),
        Route("/confirm-email", handler("confirm-email", confirm), methods=methods),
        Route("/unsubscribe", unsubscribe, methods=methods),
    ]
