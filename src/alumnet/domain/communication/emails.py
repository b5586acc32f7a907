"""E-mail templates (Jinja2, HTML autoescaped): every notification e-mail has a plain-text
part and an HTML part, and an unsubscribe footer added when it is sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

FOOTER_MARK = "<!-- alumnet:footer -->"

_TEMPLATES = Environment(
    loader=PackageLoader("alumnet.domain.communication", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def _render(name: str, **context: Any) -> str:
    return _TEMPLATES.get_template(name).render(**context)


def render_notification(*, title: str, text: str, html: str | None) -> tuple[str, str]:
    """(plain text, HTML) of one notification; ``html`` is trusted, already-safe HTML."""
    return (
        _render("notification.txt", title=title, text=text),
        _render("notification.html", title=title, text=text, html=html),
    )


def render_digest(items: Sequence[Any], *, more: int) -> tuple[str, str]:
    title = "What happened on alumnet since your last digest"
    return (
        _render("digest.txt", title=title, items=items, more=more),
        _render("digest.html", title=title, items=items, more=more),
    )


def render_pair(name: str, **context: Any) -> tuple[str, str]:
    """(plain text, HTML) of an e-mail that is not a notification, from its two templates
    ``name``.txt and ``name``.html (a scheduled report's: ``report``)."""
    return _render(f"{name}.txt", **context), _render(f"{name}.html", **context)


def with_footer(text: str, html: str | None, *, kind: str, url: str) -> tuple[str, str | None]:
    """The e-mail's parts with the unsubscribe footer for this recipient."""
    text = text.rstrip("\n") + "\n" + _render("footer.txt", kind=kind, url=url)
    if html is not None:
        footer = _render("footer.html", kind=kind, url=url)
        html = html.replace(FOOTER_MARK, footer) if FOOTER_MARK in html else html + footer
    return text, html
