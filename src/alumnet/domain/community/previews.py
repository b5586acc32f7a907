"""Link previews: a post's link is fetched once by a job, never by the request that posts
it, and what its page says in Open Graph tags (or its <title>) is kept with the post.

The fetch is made safe against a link that aims at the server's own network: only http
and https, on the web's ports (80 and 443); the host name is resolved first and every
address it resolves to must be public (no loopback, private, link-local, site-local,
shared, multicast, reserved or unspecified address, nor one of these inside IPv6); the
connection is then made to the address that was checked (the name goes in the Host header
and in TLS's SNI, and the certificate is checked against the name), so that a second DNS
answer cannot send it elsewhere. Redirects are followed by hand, at most three, each
checked as the first. The whole fetch has one deadline, at most 512 KB of the body is
read, and only HTML is parsed. The page's image is kept as an address only, never fetched.

The page is read with libxml2's HTML parser (lxml), whose time grows in step with the
markup however broken it is (never the network, never an entity from outside the page),
only as far as the end of its <head>, in a thread: nothing a page holds can stall the
event loop. Its text is decoded as its headers or a <meta> say only when that is a real
text encoding (not a codec such as rot13, base64 or zlib), else as UTF-8; whatever goes
wrong, the job ends with the preview failed and a reason, never retried for ever.
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
from typing import Any

import httpx
from lxml import etree
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
# The ports a link may name (its scheme's default when it names none): a public host's
# other services are not this server's to reach.
PORTS: tuple[int, ...] = (80, 443)
PARSE_CHUNK = 16 * 1024  # the parser is fed this much at a time, until the <head> ends

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
            or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
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


def _checked_url(url: str, ports: Sequence[int] = PORTS) -> httpx.URL:
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
    port = parsed.port if parsed.port is not None else 443 if parsed.scheme == "https" else 80
    if port not in ports:
        raise Refused(
            "Only links on the web's usual ports ("
            + " and ".join(str(p) for p in ports) + ") have previews."
        )  # fmt: skip
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
    ports: Sequence[int],
) -> Page:
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        parsed = _checked_url(current, ports)
        host = parsed.raw_host.decode("ascii")
        port = parsed.port if parsed.port is not None else 443 if parsed.scheme == "https" else 80
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
    ports: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The preview of the page at ``url``: ``{"url", "title", "description", "image",
    "siteName"}``; raises ``Refused`` with the reason when there is none. ``verify``: the
    TLS context that checks certificates (the system's authorities by default); ``allowed``
    and ``ports``: tests' own server (``ALLOWED_NETWORKS`` and ``PORTS`` otherwise)."""
    allowed = ALLOWED_NETWORKS if allowed is None else allowed
    ports = PORTS if ports is None else ports
    try:
        async with asyncio.timeout(deadline):
            async with httpx.AsyncClient(
                follow_redirects=False, trust_env=False, timeout=deadline, verify=verify,
                # Not compressed: the cap is on what is read from the network and parsed.
                headers={"Accept-Encoding": "identity"},
            ) as client:  # fmt: skip
                page = await _get(
                    client, url, allowed=allowed, resolver=resolver, max_bytes=max_bytes,
                    ports=ports,
                )  # fmt: skip
    except TimeoutError as exc:
        raise Refused("The page took too long to answer.") from exc
    except (httpx.HTTPError, OSError) as exc:  # ssl.SSLError is an OSError
        raise Refused("The page could not be reached.") from exc
    found = await asyncio.to_thread(read, page)
    if not (found.get("title") or found.get("description")):
        raise Refused("The page has no title or description to show.")
    return {"url": url, **found}


# -- parsing ---------------------------------------------------------------------------------

_META_CHARSET = re.compile(
    rb"""<meta[^>]{1,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I
)
# Text encodings to Python that are no web page's charset: they refuse to replace what
# they cannot decode (idna, punycode, undefined), or read escapes (unicode-escape), or
# are forbidden in HTML (utf-7).
NOT_CHARSETS = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "utf-7"}
)


def text_encoding(name: str | None) -> str | None:
    """The codec a page's charset names, if it is a real text encoding (bytes to text):
    rot13, base64, hex, zlib and the like are codecs to Python, not charsets."""
    if not name:
        return None
    try:
        info = codecs.lookup(name.strip())
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in NOT_CHARSETS:
        return None
    return info.name


def decode(body: bytes, charset: str | None) -> str:
    """The page's text: the charset from its headers, else from a <meta> near its start,
    else UTF-8 (undecodable bytes replaced). A charset that is not a text encoding is
    passed over."""
    candidates = [charset]
    found = _META_CHARSET.search(body[:4096])
    if found:
        candidates.append(found.group(1).decode("ascii"))
    for name in candidates:
        encoding = text_encoding(name)
        if encoding is None:
            continue
        try:
            return body.decode(encoding, errors="replace")
        except (UnicodeError, LookupError, ValueError, TypeError):
            continue
    return body.decode("utf-8", errors="replace")


class _Head:
    """An lxml parser target: the <meta> tags and the first <title> of the page's <head>;
    ``done`` once the <head> has ended (the parser is fed no more)."""

    def __init__(self) -> None:
        self.meta: dict[str, str] = {}
        self.title: list[str] = []
        self.done = False
        self._title_length = 0
        self._in_title = False
        self._title_done = False

    def start(self, tag: str, attrib: Any) -> None:
        if self.done:
            return
        if tag == "body":
            self.done = True
        elif tag == "meta":
            given = {str(k).lower(): str(v) for k, v in attrib.items()}
            key = (given.get("property") or given.get("name") or "").strip().lower()
            if key and key not in self.meta and "content" in given:
                self.meta[key] = given["content"]
        elif tag == "title" and not self._title_done:
            self._in_title = True

    def end(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self._title_done = True
        elif tag == "head":
            self.done = True

    def data(self, data: str) -> None:
        if self._in_title and self._title_length < TITLE_MAX * 4:
            self.title.append(data)
            self._title_length += len(data)

    def close(self) -> None:
        return None


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
    and to the description <meta>), from the page's <head>. libxml2's HTML parser takes
    time in step with the text, whatever its markup; it never reaches the network."""
    head = _Head()
    parser = etree.HTMLParser(
        target=head, encoding="utf-8", recover=True, no_network=True, huge_tree=False,
        remove_comments=True, remove_pis=True,
    )  # fmt: skip
    data = html.encode("utf-8", errors="replace")
    try:
        for start in range(0, len(data), PARSE_CHUNK):
            parser.feed(data[start : start + PARSE_CHUNK])
            if head.done:
                break
        parser.close()
    except etree.LxmlError:  # what libxml2 could not recover from: what was read is kept
        pass
    meta = head.meta
    return {
        "title": clean(meta.get("og:title") or "".join(head.title), TITLE_MAX),
        "description": clean(
            meta.get("og:description") or meta.get("description"), DESCRIPTION_MAX
        ),
        "image": _image(meta.get("og:image:secure_url") or meta.get("og:image"), base),
        "siteName": clean(meta.get("og:site_name"), SITE_NAME_MAX),
    }


def read(page: Page) -> dict[str, Any]:
    """A fetched page's preview: decoded and parsed (run in a thread, off the event loop)."""
    return parse(decode(page.body, page.charset), page.url)


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
    except Exception as exc:  # a page that breaks the reading fails; its job is not retried
        log.exception("link_preview_error", post=post_id, error=type(exc).__name__)
        preview, status = {"url": url, "reason": "The page could not be read."}, FAILED
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
