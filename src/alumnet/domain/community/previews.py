"""Link previews: a post's link is fetched once by a job, never by the request that posts
it, and what its page says in Open Graph tags (or its <title>) is kept with the post.

The fetch is made safe against a link that aims at the server's own network: only http
and https; the host name is resolved first and every address it resolves to must be
public (no loopback, private, link-local, shared, multicast, reserved or unspecified
address, nor one of these inside IPv6); the connection is then made to the address that
was checked (the name goes in the Host header and in TLS's SNI, and the certificate is
checked against the name), so that a second DNS answer cannot send it elsewhere. Redirects
are followed by hand, at most three, each checked as the first. The whole fetch has one
deadline, at most 512 KB of the body is read, and only HTML is parsed. The page's image is
kept as an address only, never fetched.
"""

from __future__ import annotations

import asyncio
import codecs
import ipaddress
import re
import socket
import ssl
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import httpx
from sqlalchemy import select, update

from alumnet.domain.errors import BIDI_CONTROLS
from alumnet.domain.runtime import Runtime
from alumnet.observability import get_logger
from alumnet.persistence.models import Job, Post
from alumnet.persistence.uow import UnitOfWork

log = get_logger(__name__)

LINK_PREVIEW_JOB = "community.link_preview"
PENDING, READY, FAILED = "pending", "ready", "failed"
TIMEOUT = 5.0  # seconds, for the whole fetch with its redirects
MAX_BYTES = 512 * 1024
MAX_REDIRECTS = 3
URL_MAX = 2000
TITLE_MAX = 300
DESCRIPTION_MAX = 1000
SITE_NAME_MAX = 200
USER_AGENT = "alumnet-link-preview/1.0 (+Open Graph)"
HTML_TYPES = ("text/html", "application/xhtml+xml")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

# Addresses fetched although they are not public. Empty in production, and no setting
# fills it: only tests add the loopback address of the server they start.
ALLOWED_NETWORKS: tuple[Network, ...] = ()


async def request(uow: UnitOfWork, post: Post) -> None:
    """Called when a post is created or its link changes: mark its preview pending and
    record the job that fetches it (in the same transaction). A post without a link has
    no preview."""
    post.link_preview = None
    if not post.link_url:
        post.link_status = None
        return
    post.link_status = PENDING
    if post.id is None:
        await uow.session.flush()
    await uow.add_job(LINK_PREVIEW_JOB, {"post_id": post.id, "url": post.link_url})


# -- addresses -------------------------------------------------------------------------------


class Refused(Exception):
    """No preview: ``reason`` is a sentence for people, never a fetch's internal detail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_public(address: IPAddress, allowed: Sequence[Network] = ()) -> bool:
    """Whether a fetch may connect to ``address``: a public unicast address, or one of
    ``allowed``. IPv4 inside IPv6 (mapped, 6to4, Teredo, NAT64) is judged as the IPv4."""
    if any(address.version == n.version and address in n for n in allowed):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if address.teredo is not None:
            embedded = address.teredo[1]
        if address in ipaddress.IPv6Network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded, allowed)
    return bool(
        address.is_global
        and not (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        )
    )


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an address literal is itself)."""
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused("The link's host name could not be found.") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _checked_url(url: str) -> httpx.URL:
    if len(url) > URL_MAX:
        raise Refused("The link is too long.")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise Refused("The link is not a valid web address.") from exc
    if parsed.scheme not in ("http", "https"):
        raise Refused("Only http and https links have previews.")
    if not parsed.host:
        raise Refused("The link is not a valid web address.")
    if parsed.userinfo:
        raise Refused("Links with a user name or password have no preview.")
    return parsed


# -- fetching --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    url: str  # where the page was found, after redirects
    body: bytes
    charset: str | None
    truncated: bool


async def _get(
    client: httpx.AsyncClient,
    url: str,
    *,
    allowed: Sequence[Network],
    resolver: Resolver,
    max_bytes: int,
) -> Page:
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        parsed = _checked_url(current)
        host = parsed.raw_host.decode("ascii")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        addresses = await resolver(host.strip("[]"), port)
        if not addresses:
            raise Refused("The link's host name could not be found.")
        if not all(is_public(a, allowed) for a in addresses):
            raise Refused("The link points to a private or local network address.")
        address = addresses[0]
        # Connect to the address checked; the name travels in Host and SNI.
        target = parsed.copy_with(host=str(address))
        host_header = host if parsed.port is None else f"{host}:{parsed.port}"
        extensions: dict[str, Any] = {}
        if parsed.scheme == "https":
            extensions["sni_hostname"] = host.strip("[]")
        sent = client.build_request(
            "GET", target, extensions=extensions,
            headers={"Host": host_header, "User-Agent": USER_AGENT,
                     "Accept": "text/html,application/xhtml+xml;q=0.9"},
        )  # fmt: skip
        response = await client.send(sent, stream=True)
        try:
            if response.status_code in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if not location:
                    raise Refused("The page redirects nowhere.")
                try:
                    current = str(httpx.URL(current).join(location))
                except (httpx.InvalidURL, ValueError) as exc:
                    raise Refused("The page redirects to an invalid address.") from exc
                continue
            if response.status_code != 200:
                raise Refused(f"The page answered with HTTP status {response.status_code}.")
            kind = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if kind not in HTML_TYPES:
                raise Refused("The link is not a web page (HTML).")
            body = bytearray()
            truncated = False
            async for chunk in response.aiter_raw():
                body.extend(chunk)
                if len(body) >= max_bytes:
                    truncated = True
                    del body[max_bytes:]
                    break
            return Page(current, bytes(body), response.charset_encoding, truncated)
        finally:
            await response.aclose()
    raise Refused(f"The page redirects more than {MAX_REDIRECTS} times.")


async def fetch(
    url: str,
    *,
    allowed: Sequence[Network] | None = None,
    resolver: Resolver = resolve,
    deadline: float = TIMEOUT,
    max_bytes: int = MAX_BYTES,
    verify: ssl.SSLContext | bool = True,
) -> dict[str, Any]:
    """The preview of the page at ``url``: ``{"url", "title", "description", "image",
    "siteName"}``; raises ``Refused`` with the reason when there is none. ``verify``: the
    TLS context that checks certificates (the system's authorities by default)."""
    allowed = ALLOWED_NETWORKS if allowed is None else allowed
    try:
        async with asyncio.timeout(deadline):
            async with httpx.AsyncClient(
                follow_redirects=False, trust_env=False, timeout=deadline, verify=verify,
                # Not compressed: the cap is on what is read from the network and parsed.
                headers={"Accept-Encoding": "identity"},
            ) as client:  # fmt: skip
                page = await _get(
                    client, url, allowed=allowed, resolver=resolver, max_bytes=max_bytes
                )
    except TimeoutError as exc:
        raise Refused("The page took too long to answer.") from exc
    except (httpx.HTTPError, OSError) as exc:  # ssl.SSLError is an OSError
        raise Refused("The page could not be reached.") from exc
    found = parse(decode(page.body, page.charset), page.url)
    if not (found.get("title") or found.get("description")):
        raise Refused("The page has no title or description to show.")
    return {"url": url, **found}


# -- parsing ---------------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)


def decode(body: bytes, charset: str | None) -> str:
    """The page's text: the charset from its headers, else from a <meta> near its start,
    else UTF-8 (undecodable bytes replaced)."""
    candidates = [charset]
    found = _META_CHARSET.search(body[:4096])
    if found:
        candidates.append(found.group(1).decode("ascii"))
    for name in candidates:
        if not name:
            continue
        try:
            codecs.lookup(name)
        except LookupError:
            continue
        return body.decode(name, errors="replace")
    return body.decode("utf-8", errors="replace")


class _OpenGraph(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title: list[str] = []
        self._in_title = False
        self._title_done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            given = {k.lower(): (v or "") for k, v in attrs}
            key = (given.get("property") or given.get("name") or "").strip().lower()
            if key and key not in self.meta and "content" in given:
                self.meta[key] = given["content"]
        elif tag == "title" and not self._title_done:
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self._title_done = True

    def handle_data(self, data: str) -> None:
        if self._in_title and sum(map(len, self.title)) < TITLE_MAX * 4:
            self.title.append(data)


def clean(value: str | None, limit: int) -> str | None:
    """Plain one-paragraph text: white space made single spaces, control and
    direction-override characters dropped, cut to ``limit`` characters."""
    if not value:
        return None
    kept = "".join(
        " " if c.isspace() else c
        for c in value
        if c.isspace() or not (unicodedata.category(c) in ("Cc", "Cf") or c in BIDI_CONTROLS)
    )
    text = " ".join(kept.split())
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _image(value: str | None, base: str) -> str | None:
    if not value:
        return None
    try:
        url = httpx.URL(base).join(value.strip())
    except (httpx.InvalidURL, ValueError, TypeError):
        return None
    text = str(url)
    if url.scheme not in ("http", "https") or not url.host or len(text) > URL_MAX:
        return None
    return text


def parse(html: str, base: str) -> dict[str, Any]:
    """Open Graph title, description, image and site name (falling back to the <title>,
    and to the description <meta>)."""
    parser = _OpenGraph()
    try:
        parser.feed(html)
        parser.close()
    except AssertionError:  # html.parser's answer to some broken markup
        pass
    meta = parser.meta
    return {
        "title": clean(meta.get("og:title") or "".join(parser.title), TITLE_MAX),
        "description": clean(
            meta.get("og:description") or meta.get("description"), DESCRIPTION_MAX
        ),
        "image": _image(meta.get("og:image:secure_url") or meta.get("og:image"), base),
        "siteName": clean(meta.get("og:site_name"), SITE_NAME_MAX),
    }


# -- the job ---------------------------------------------------------------------------------


async def make(rt: Runtime, job: Job, *, resolver: Resolver = resolve) -> dict[str, Any]:
    """The job: fetch the post's link and keep its preview, unless the post was deleted
    or its link changed meanwhile (a newer job then makes that one's)."""
    post_id, url = int(job.args["post_id"]), str(job.args["url"])
    async with rt.database.connect() as conn:
        post = (
            await conn.execute(select(Post.link_url, Post.deleted_at).where(Post.id == post_id))
        ).first()
    if post is None or post.deleted_at is not None or post.link_url != url:
        return {"stored": False, "reason": "The post was deleted or its link changed."}
    try:
        preview: dict[str, Any] = await fetch(url, resolver=resolver)
        status = READY
    except Refused as refused:
        preview, status = {"url": url, "reason": refused.reason}, FAILED
    preview["fetchedAt"] = datetime.now(UTC).isoformat()
    async with rt.transaction() as uow:
        changed = await uow.session.execute(
            update(Post)
            .where(Post.id == post_id, Post.link_url == url)
            .values(link_status=status, link_preview=preview)
        )
    stored = bool(changed.rowcount)  # type: ignore[attr-defined]
    log.info("link_preview", post=post_id, status=status, stored=stored)
    return {"stored": stored, "status": status, "reason": preview.get("reason")}
