"""Link previews: fetched by a job from a real local HTTP server, and refused for every
address that is not public, however the link gets there."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from alumnet.domain.community import previews
from alumnet.domain.community.previews import Refused, fetch, is_public
from alumnet.persistence.models import Job, Post
from tests.conftest import Api

# The test server listens on a loopback address of its own, the one address a test allows;
# 127.0.0.1 stays refused, as every loopback address is in production.
HOST = "127.0.0.2"
ALLOWED = (ipaddress.ip_network(f"{HOST}/32"),)

PAGE = b"""<!doctype html><html><head><meta charset="utf-8">
<title>Fallback title</title>
<meta property="og:title" content="  Alumni   &amp; friends\x07 \xe2\x80\xae reunion ">
<meta property="og:description" content="A day of talks.
  Lunch included.">
<meta property="og:image" content="/images/cover.jpg">
<meta property="og:site_name" content="Example Alumni">
<script>alert('x')</script>
</head><body><p>Hello</p></body></html>"""


@dataclass
class Served:
    base: str
    sent: dict[str, int] = field(default_factory=dict)  # bytes sent of a streamed body
    hosts: list[str] = field(default_factory=list)  # the Host header of each request


class Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, kind: str, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        self.server.hosts.append(self.headers.get("Host"))
        match self.path:
            case "/page":
                self._send(200, "text/html; charset=utf-8", PAGE)
            case "/latin":
                body = "<title>Caf\u00e9 des anciens</title>".encode("latin-1")
                self._send(200, "text/html; charset=iso-8859-1", body)
            case "/title-only":
                self._send(200, "text/html", b"<html><head><title> Just a title </title>")
            case "/empty":
                self._send(200, "text/html", b"<html><body>No head at all</body></html>")
            case "/json":
                self._send(200, "application/json", b'{"og:title": "no"}')
            case "/missing":
                self._send(404, "text/html", b"<title>Not found</title>")
            case "/to-page":
                self._send(302, "text/html", b"", Location="/page")
            case "/to-loopback":
                self._send(302, "text/html", b"", Location=f"http://127.0.0.1:{port}/page")
            case "/to-metadata":
                self._send(301, "text/html", b"", Location="http://169.254.169.254/latest/")
            case "/to-file":
                self._send(302, "text/html", b"", Location="file:///etc/passwd")
            case "/loop":
                self._send(302, "text/html", b"", Location="/loop")
            case "/huge":
                self._stream(30 * 1024 * 1024, b'<title>Huge</title><meta property="og:title" '
                             b'content="A huge page">' + b" " * 65536)  # fmt: skip
            case "/slow":
                self._trickle()
            case "/broken":  # CVE-2025-6069: quadratic in the standard library's parser
                self._send(200, "text/html", b"<title>Broken</title>" + b"<a" * 250_000)
            case charset if charset.startswith("/charset?"):
                # A charset named by the headers and a <meta> (a codec, not an encoding).
                given = charset.split("?", 1)[1]
                body = f'<meta charset="{given}"><title>Caf\u00e9 {given}</title>'.encode()
                self._send(200, f"text/html; charset={given}", body)
            case "/to-other-port":
                self._send(302, "text/html", b"", Location=f"http://{HOST}:6379/page")
            case _:
                self._send(404, "text/plain", b"")

    def _stream(self, total: int, head: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(total))
        self.end_headers()
        sent = 0
        chunk = b"<p>" + b"x" * 65533
        try:
            self.wfile.write(head)
            sent += len(head)
            while sent < total:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass
        finally:
            self.server.sent["/huge"] = sent

    def _trickle(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        try:
            self.wfile.write(b"<html><head>")
            for _ in range(100):  # 20 s at most, far past any deadline
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    server = ThreadingHTTPServer((HOST, 0), Handler)
    # The server's port is allowed as its address is, for the test only.
    monkeypatch.setattr(previews, "PORTS", (80, 443, server.server_address[1]))
    server.daemon_threads = True
    server.hosts = []  # type: ignore[attr-defined]
    server.sent = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://{HOST}:{server.server_address[1]}"
        yield Served(base, server.sent, server.hosts)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


async def test_the_open_graph_tags_of_a_page_are_kept(served: Served) -> None:
    found = await fetch(f"{served.base}/page", allowed=ALLOWED)
    assert found == {
        "url": f"{served.base}/page",
        # Entities decoded, control and direction-override characters dropped, spaces made one.
        "title": "Alumni & friends reunion",
        "description": "A day of talks. Lunch included.",
        # Made absolute; an address only, never fetched.
        "image": f"{served.base}/images/cover.jpg",
        "siteName": "Example Alumni",
    }
    title_only = await fetch(f"{served.base}/title-only", allowed=ALLOWED)
    assert title_only["title"] == "Just a title" and title_only["description"] is None
    assert title_only["image"] is None and title_only["siteName"] is None
    latin = await fetch(f"{served.base}/latin", allowed=ALLOWED)
    assert latin["title"] == "Caf\u00e9 des anciens"
    # A redirect within what is allowed is followed, each hop checked.
    moved = await fetch(f"{served.base}/to-page", allowed=ALLOWED)
    assert moved["title"] == "Alumni & friends reunion"


async def test_texts_are_trimmed() -> None:
    long = "word " * 400
    html = f'<meta property="og:title" content="{long}"><meta name="description" content="{long}">'
    found = previews.parse(html, "https://example.org/a")
    assert len(found["title"]) == previews.TITLE_MAX and found["title"].endswith("…")
    assert len(found["description"]) == previews.DESCRIPTION_MAX
    # An image that is not http(s) is dropped.
    assert previews.parse('<meta property="og:image" content="javascript:alert(1)">',
                          "https://example.org/")["image"] is None  # fmt: skip
    assert previews.parse('<meta property="og:image" content="data:image/png;base64,AA">',
                          "https://example.org/")["image"] is None  # fmt: skip


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/json", "not a web page"),
        ("/missing", "HTTP status 404"),
        ("/empty", "no title or description"),
        ("/to-loopback", "private or local"),
        ("/to-metadata", "private or local"),
        ("/to-file", "Only http and https"),
        ("/loop", "redirects more than 3 times"),
    ],
)
async def test_pages_without_a_preview_are_refused(served: Served, path: str, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        await fetch(f"{served.base}{path}", allowed=ALLOWED)
    assert reason in refused.value.reason


async def test_a_redirect_to_loopback_never_reaches_it(served: Served) -> None:
    with pytest.raises(Refused):
        await fetch(f"{served.base}/to-loopback", allowed=ALLOWED)
    # One request (the redirect); the loopback address it named was never asked.
    assert served.hosts == [served.base.removeprefix("http://")]


async def test_a_huge_body_is_cut_at_the_cap(served: Served) -> None:
    started = time.monotonic()
    found = await fetch(f"{served.base}/huge", allowed=ALLOWED)
    assert found["title"] == "A huge page"
    assert time.monotonic() - started < previews.TIMEOUT
    # Past the cap the client stops reading and hangs up; the server could not send 30 MB.
    served_bytes = await _wait_for(lambda: served.sent.get("/huge"))
    assert served_bytes < 30 * 1024 * 1024
    # And what is read is at most the cap: a title past it is not seen.
    with pytest.raises(Refused):
        await fetch(f"{served.base}/page", allowed=ALLOWED, max_bytes=40)


async def _wait_for(get: Any) -> Any:
    import asyncio

    for _ in range(200):
        value = get()
        if value is not None:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError("the server never finished")


async def test_a_slow_server_is_cut_at_the_deadline(served: Served) -> None:
    started = time.monotonic()
    with pytest.raises(Refused) as refused:
        await fetch(f"{served.base}/slow", allowed=ALLOWED, deadline=0.5)
    assert "too long" in refused.value.reason
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.2/",  # allowed only where a test says so
        "http://localhost/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://172.16.5.4/",
        "http://100.64.0.1/",  # shared address space
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
        "http://224.0.0.1/",
        "http://2130706433/",  # 127.0.0.1 written as one number
        "http://0x7f.1/",
        "https://127.0.0.1/",
        "http://[fec0::1]/",  # site-local (deprecated, never public)
        "http://[::ffff:fec0:1]/",
    ],
)
async def test_addresses_that_are_not_public_are_refused(url: str) -> None:
    with pytest.raises(Refused) as refused:
        await fetch(url)
    assert refused.value.reason in {
        "The link points to a private or local network address.",
        "The link's host name could not be found.",
    }, refused.value.reason


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/", "file:///etc/passwd", "javascript:alert(1)", "gopher://x/",
     "http://user:secret@example.org/", "http:///nohost", "not a url", "http://" + "a" * 2001],
)  # fmt: skip
async def test_links_that_are_not_web_addresses_are_refused(url: str) -> None:
    with pytest.raises(Refused):
        await fetch(url)


async def test_a_name_is_refused_if_any_address_it_resolves_to_is_private() -> None:
    answers = {
        "intranet.example": ["10.20.30.40"],
        "rebind.example": ["93.184.216.34", "127.0.0.1"],
        "six.example": ["2606:2800:220:1::1", "fd12::1"],
        "nowhere.example": [],
    }

    async def resolver(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address(a) for a in answers[host]]

    for host in answers:
        with pytest.raises(Refused) as refused:
            await fetch(f"http://{host}/", resolver=resolver)
        expected = "could not be found" if host == "nowhere.example" else "private or local"
        assert expected in refused.value.reason


async def test_the_connection_goes_to_the_address_checked(served: Served) -> None:
    """A name that resolves to the checked address is fetched from that address, with the
    name in the Host header: a second DNS answer is never asked for."""
    asked: list[str] = []
    port = int(served.base.rsplit(":", 1)[1])

    async def resolver(host: str, port: int) -> list[Any]:
        asked.append(host)
        return [ipaddress.ip_address(HOST)]

    found = await fetch(f"http://alumni.example:{port}/page", allowed=ALLOWED, resolver=resolver)
    assert found["title"] == "Alumni & friends reunion"
    assert asked == ["alumni.example"]
    assert served.hosts == [f"alumni.example:{port}"]


def test_public_addresses() -> None:
    public = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"]
    for text in public:
        assert is_public(ipaddress.ip_address(text)), text
    for text in ["127.0.0.1", "10.0.0.1", "169.254.169.254", "192.0.2.1", "198.18.0.1",
                 "255.255.255.255", "::1", "fc00::1", "ff02::1", "2001:db8::1",
                 "::ffff:192.168.1.1", "2001::1", "fec0::1", "fef0::1:2"]:  # fmt: skip
        assert not is_public(ipaddress.ip_address(text)), text
    assert is_public(ipaddress.ip_address(HOST), ALLOWED)
    assert not is_public(ipaddress.ip_address("127.0.0.1"), ALLOWED)


# -- through the API and the job -----------------------------------------------------------

CREATE = """mutation($i: PostCreateInput!) { postCreate(input: $i) {
  post { id link { url status title description imageUrl siteName } }
  userErrors { field code message } } }"""
LINK = """query($id: ID!) { node(id: $id) { ... on Post {
  link { url status title description imageUrl siteName } } } }"""


async def _post(api: Api, token: str, url: str) -> str:
    body = await api.gql(CREATE, {"i": {"body": "Look at this", "linkUrl": url}}, token=token)
    payload = body["data"]["postCreate"]
    assert payload["userErrors"] == [], payload
    assert payload["post"]["link"]["status"] in ("PENDING", "READY", "FAILED")
    return str(payload["post"]["id"])


async def _job(api: Api, post_id: int) -> Job:
    async with api.app.state.runtime.database.session() as session:
        jobs = (
            await session.execute(select(Job).where(Job.name == previews.LINK_PREVIEW_JOB))
        ).scalars().all()  # fmt: skip
    [job] = [j for j in jobs if j.args["post_id"] == post_id]
    return job


def _pk(global_id: str) -> int:
    import base64

    return int(base64.b64decode(global_id).decode().split(":", 1)[1])


async def test_a_post_link_gets_its_preview_from_the_job(
    api: Api, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(previews, "ALLOWED_NETWORKS", ALLOWED)
    _, token = await api.create_user("poster@example.org", ["ALUMNUS"])
    post = await _post(api, token, f"{served.base}/page")
    job = await _job(api, _pk(post))
    assert job.args == {"post_id": _pk(post), "url": f"{served.base}/page"}
    # The worker's handler, in this process (where the test's server is allowed).
    outcome = await previews.make(api.app.state.runtime, job)
    assert outcome["status"] == "ready" and outcome["stored"] is True
    link = (await api.gql(LINK, {"id": post}, token=token))["data"]["node"]["link"]
    assert link == {
        "url": f"{served.base}/page", "status": "READY", "title": "Alumni & friends reunion",
        "description": "A day of talks. Lunch included.",
        "imageUrl": f"{served.base}/images/cover.jpg", "siteName": "Example Alumni",
    }  # fmt: skip


async def test_a_loopback_link_fails_in_the_worker_with_a_reason(api: Api, served: Served) -> None:
    _, token = await api.create_user("poster@example.org", ["ALUMNUS"])
    # On the web's port (the worker, in its own process on Redis, allows no other).
    post = await _post(api, token, "http://127.0.0.1/page")
    await api.run_jobs()
    link = (await api.gql(LINK, {"id": post}, token=token))["data"]["node"]["link"]
    assert link["status"] == "FAILED" and link["title"] is None
    async with api.app.state.runtime.database.session() as session:
        row = await session.get(Post, _pk(post))
        assert row is not None and row.link_preview is not None
        assert row.link_preview["reason"] == (
            "The link points to a private or local network address."
        )
    # The server was never asked.
    assert served.hosts == []


async def test_a_job_for_a_changed_link_stores_nothing(
    api: Api, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(previews, "ALLOWED_NETWORKS", ALLOWED)
    _, token = await api.create_user("poster@example.org", ["ALUMNUS"])
    post = await _post(api, token, f"{served.base}/page")
    job = await _job(api, _pk(post))
    async with api.app.state.runtime.database.session() as session:
        row = await session.get(Post, _pk(post))
        assert row is not None
        row.link_url = f"{served.base}/title-only"
        await session.commit()
    outcome = await previews.make(api.app.state.runtime, job)
    assert outcome["stored"] is False


@pytest.mark.parametrize(
    "url",
    ["http://example.org:22/", "http://example.org:6379/", "https://example.org:8443/",
     "http://93.184.216.34:8080/", "https://[2606:4700:4700::1111]:25/",
     "http://example.org:0/"],
)  # fmt: skip
async def test_only_the_webs_ports_are_fetched(url: str) -> None:
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[Any]:
        asked.append(host)
        raise AssertionError("never looked up, never connected to")

    with pytest.raises(Refused) as refused:
        await fetch(url, resolver=resolver)
    assert refused.value.reason == "Only links on the web's usual ports (80 and 443) have previews."
    assert asked == []  # refused before its name is looked up


async def test_a_redirect_to_another_port_is_refused(served: Served) -> None:
    with pytest.raises(Refused) as refused:
        await fetch(f"{served.base}/to-other-port", allowed=ALLOWED)
    assert "usual ports" in refused.value.reason
    assert len(served.hosts) == 1


async def test_broken_markup_is_read_in_a_moment(served: Served) -> None:
    """A page of half-open tags (quadratic in the standard library's html.parser: minutes
    of one job, the event loop stalled) takes milliseconds."""
    page = "<title>x</title>" + "<a" * 250_000
    started = time.monotonic()
    assert previews.parse(page, "https://example.org/")["title"] == "x"
    assert previews.parse("<title>" + "<a" * 250_000, "https://example.org/")["title"]
    assert previews.parse("<title>" + "&amp;" * 100_000, "https://example.org/")["title"]
    assert previews.parse("<meta " * 100_000 + "<title>y", "https://example.org/")
    assert time.monotonic() - started < 0.5
    started = time.monotonic()
    found = await fetch(f"{served.base}/broken", allowed=ALLOWED)
    assert found["title"] == "Broken"
    assert time.monotonic() - started < 1


def test_only_the_head_is_read() -> None:
    html = (
        '<html><head><title>Head</title><script>var s = "<meta name=description content=no>";'
        '</script><meta name="description" content="yes"></head><body>'
        '<meta property="og:title" content="In the body"><svg><title>No</title></svg>'
    )
    found = previews.parse(html, "https://example.org/")
    assert found["title"] == "Head" and found["description"] == "yes"
    # Without a <head>, what comes before the body's first content is the head.
    assert (
        previews.parse("<title>T</title><p>x</p><title>U</title>", "https://e.org/")["title"] == "T"
    )


@pytest.mark.parametrize(
    "charset", ["rot13", "base64", "hex", "zlib", "bz2", "uu", "quopri", "idna", "punycode",
                "undefined", "unicode_escape", "utf-7", "no-such-charset", "utf-8\x00"],
)  # fmt: skip
async def test_a_charset_that_is_no_text_encoding_is_read_as_utf8(
    served: Served, charset: str
) -> None:
    # Straight from the bytes, as the headers and the page's <meta> name it.
    body = f'<meta charset="{charset}"><title>Caf\u00e9</title>'.encode()
    assert previews.parse(previews.decode(body, charset), "https://e.org/")["title"] == "Caf\u00e9"
    assert previews.decode(body, None).endswith("<title>Caf\u00e9</title>")
    if "\x00" in charset:
        return
    # And from a server that sends it.
    found = await fetch(f"{served.base}/charset?{charset}", allowed=ALLOWED)
    assert found["title"] == f"Caf\u00e9 {charset}"


def test_real_text_encodings_are_kept() -> None:
    latin = "<title>Caf\u00e9</title>".encode("latin-1")
    for name in ("iso-8859-1", "latin1", "cp1252", "windows-1252"):
        assert previews.decode(latin, name) == "<title>Caf\u00e9</title>", name
    utf16 = "<title>Caf\u00e9</title>".encode("utf-16")
    assert previews.decode(utf16, "utf-16") == "<title>Caf\u00e9</title>"
    shift_jis = "<meta charset=shift_jis><title>\u540c\u7a93\u4f1a</title>".encode("shift_jis")
    assert previews.parse(previews.decode(shift_jis, None), "https://e.org/")["title"] == (
        "\u540c\u7a93\u4f1a"
    )
    for name in ("rot13", "base64", "zlib", "idna", "utf-7", "undefined", "nope", ""):
        assert previews.text_encoding(name) is None, name


async def test_a_page_that_breaks_the_reading_fails_the_preview_and_the_job_ends(
    api: Api, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(previews, "ALLOWED_NETWORKS", ALLOWED)
    _, token = await api.create_user("poster@example.org", ["ALUMNUS"])
    # A codec for a charset: read as UTF-8, the preview made.
    rot13 = await _post(api, token, f"{served.base}/charset?rot13")
    outcome = await previews.make(api.app.state.runtime, await _job(api, _pk(rot13)))
    assert outcome["status"] == "ready"
    link = (await api.gql(LINK, {"id": rot13}, token=token))["data"]["node"]["link"]
    assert link["status"] == "READY" and link["title"] == "Caf\u00e9 rot13"

    # Whatever else goes wrong in the reading ends the job, the preview failed with a reason.
    def broken(page: Any) -> Any:
        raise LookupError("unknown encoding: x-broken")

    monkeypatch.setattr(previews, "read", broken)
    post = await _post(api, token, f"{served.base}/page")
    outcome = await previews.make(api.app.state.runtime, await _job(api, _pk(post)))
    assert outcome == {"stored": True, "status": "failed", "reason": "The page could not be read."}
    link = (await api.gql(LINK, {"id": post}, token=token))["data"]["node"]["link"]
    assert link["status"] == "FAILED" and link["title"] is None


def _certificate(name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``name`` and its key, in PEM."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@pytest.fixture
def served_tls(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[int, Any, list[str]]]:
    """An HTTPS server on the test's address with a certificate for `alumni.example`; the
    client context that trusts it; the names clients asked for (SNI)."""
    import ssl

    cert, key = _certificate("alumni.example")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    names: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    context.sni_callback = lambda sock, name, ctx: names.append(str(name)) and None
    server = ThreadingHTTPServer((HOST, 0), Handler)
    monkeypatch.setattr(previews, "PORTS", (80, 443, server.server_address[1]))
    server.daemon_threads = True
    server.hosts = []  # type: ignore[attr-defined]
    server.sent = {}  # type: ignore[attr-defined]
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = ssl.create_default_context(cadata=cert.decode())
    try:
        yield server.server_address[1], client, names
    finally:
        server.shutdown()
        server.server_close()


async def test_https_is_fetched_from_the_checked_address_with_the_name_in_sni(
    served_tls: tuple[int, Any, list[str]],
) -> None:
    port, client, names = served_tls

    async def resolver(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address(HOST)]

    found = await fetch(
        f"https://alumni.example:{port}/page", allowed=ALLOWED, resolver=resolver, verify=client
    )
    assert found["title"] == "Alumni & friends reunion"
    assert names == ["alumni.example"]
    # The certificate is checked against the name: another name's link is refused.
    with pytest.raises(Refused) as refused:
        await fetch(
            f"https://other.example:{port}/page", allowed=ALLOWED, resolver=resolver,
            verify=client,
        )  # fmt: skip
    assert refused.value.reason == "The page could not be reached."
