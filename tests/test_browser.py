"""A page on another origin calling the API from a real (headless) browser: CORS on
HTTP, and the same list of origins on the WebSocket. The browser is Debian's chromium,
installed here when the machine does not have it."""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright

from tests.conftest import Api, _serve, token_at

PAGE = """<!doctype html><html><body><pre id="out">waiting</pre><script>
const api = "http://%(api)s";
async function call() {
  try {
    const answer = await fetch(api + "/graphql", {
      method: "POST",
      headers: {"Content-Type": "application/json", "Authorization": "Bearer %(token)s"},
      body: JSON.stringify({query: "{ viewer { email } }"}),
    });
    const body = await answer.json();
    return {status: answer.status, email: body.data.viewer.email,
            requestId: answer.headers.get("X-Request-Id") !== null};
  } catch (e) { return {blocked: String(e)}; }
}
function socket() {
  return new Promise((resolve) => {
    const ws = new WebSocket("ws://%(api)s/graphql", "graphql-transport-ws");
    ws.onopen = () => ws.send(JSON.stringify({type: "connection_init", payload: {}}));
    ws.onmessage = (m) => { resolve(JSON.parse(m.data).type); ws.close(); };
    ws.onerror = () => resolve("refused");
    ws.onclose = (e) => resolve("closed " + e.code);
    setTimeout(() => resolve("timeout"), 5000);
  });
}
(async () => {
  const out = {http: await call(), ws: await socket()};
  document.getElementById("out").textContent = JSON.stringify(out);
  document.title = "done";
})();
</script></body></html>"""


# As this machine's closed network needs them: no connections of Chromium's own.
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _chromium() -> str:
    """Debian's chromium, installed (once, whichever test worker comes first) if missing."""
    found = shutil.which("chromium")
    if found:
        return found
    with open(Path(tempfile.gettempdir()) / "alumnet-chromium.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not shutil.which("chromium"):
            install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
            env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            if subprocess.run(install, env=env, capture_output=True).returncode != 0:
                subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
                done = subprocess.run(install, env=env, capture_output=True, text=True)
                assert done.returncode == 0, f"could not install chromium: {done.stderr[-2000:]}"
    found = shutil.which("chromium")
    assert found, "chromium is not on PATH after installing it"
    return found


@pytest.fixture(scope="module")
def chromium() -> str:
    return _chromium()


@contextlib.contextmanager
def _page_server(page: dict[str, str]) -> Iterator[int]:
    """A plain web server on a port of its own, serving ``page["html"]``."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


async def _open(browser: Browser, url: str) -> dict[str, Any]:
    """What the page's script found, once it is done."""
    page = await browser.new_page()
    try:
        await page.goto(url)
        await page.wait_for_function("document.title === 'done'", timeout=20_000)
        return json.loads(await page.inner_text("#out"))  # type: ignore[no-any-return]
    finally:
        await page.close()


async def test_a_page_on_another_origin_calls_the_api_in_a_browser(api: Api, chromium: str) -> None:
    await api.create_user("page@example.org", ["STUDENT"])
    page: dict[str, str] = {}
    with _page_server(page) as port:
        # Pages from 127.0.0.1:<port> may call; the same page from localhost:<port> may not.
        allowed = {"ALUMNET_CORS_ORIGINS": f"http://127.0.0.1:{port}, https://app.example.edu"}
        process, base = _serve(api, subprocess.DEVNULL, allowed)
        try:
            token = await token_at(base, "page@example.org")
            page["html"] = PAGE % {"api": base, "token": token}
            async with async_playwright() as driver:
                browser = await driver.chromium.launch(executable_path=chromium, args=FLAGS)
                try:
                    called = await _open(browser, f"http://127.0.0.1:{port}/")
                    refused = await _open(browser, f"http://localhost:{port}/")
                finally:
                    await browser.close()
        finally:
            process.terminate()
            process.wait(timeout=10)
    # The preflight (Authorization is not a simple header) passed, the answer was readable,
    # with the headers the API exposes; the WebSocket's handshake was accepted.
    assert called["http"] == {"status": 200, "email": "page@example.org", "requestId": True}
    assert called["ws"] == "connection_ack"
    # Another origin: the browser itself refuses the call, and the socket never opens.
    assert "blocked" in refused["http"], refused
    assert refused["ws"] == "refused"


PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}  # fmt: skip


async def test_development_lets_local_pages_call_with_a_cached_preflight(api: Api) -> None:
    answer = await api.client.options(
        "/graphql", headers={"Origin": "http://localhost:5173", **PREFLIGHT}
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "http://localhost:5173"
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert int(answer.headers["access-control-max-age"]) >= 600
    called = await api.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": "http://127.0.0.1:3000"}
    )
    assert called.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://localhost.evil.example:3000", "null"]
)
async def test_a_preflight_from_elsewhere_is_refused_without_cors_headers(
    api: Api, origin: str
) -> None:
    answer = await api.client.options("/graphql", headers={"Origin": origin, **PREFLIGHT})
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "ALUMNET_CORS_ORIGINS" in answer.json()["errors"][0]["message"]
    assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
    # A simple request still runs (CORS is the browser's to enforce) but is not shareable.
    called = await api.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": origin}
    )
    assert not [h for h in called.headers if h.lower().startswith("access-control-")]


def test_production_allows_no_origin_unless_told() -> None:
    from alumnet.config import ConfigurationError, load_settings

    assert load_settings({"ALUMNET_ENV": "production"}).allowed_origins == ()
    told = load_settings({"ALUMNET_ENV": "production", "ALUMNET_CORS_ORIGINS": "https://a.edu"})
    assert told.allowed_origins == ("https://a.edu",)
    assert load_settings({}).allowed_origins == ("http://localhost:*", "http://127.0.0.1:*")
    assert load_settings({"ALUMNET_CORS_ORIGINS": ""}).allowed_origins == ()
    for wrong in ("https://a.edu/app", "a.edu", "ftp://a.edu", "https://a.edu:port"):
        with pytest.raises(ConfigurationError, match="ALUMNET_CORS_ORIGINS"):
            load_settings({"ALUMNET_CORS_ORIGINS": wrong})


async def test_early_refusals_carry_cors_headers_for_allowed_pages(api: Api) -> None:
    """A page must be able to read a 413 (or a 503) as well as an answer."""
    origin = {"Origin": "http://localhost:5173", "Content-Type": "application/json"}
    body = b'{"query": "' + b"x" * (api.settings.max_body_bytes + 10) + b'"}'
    refused = await api.client.post("/graphql", content=body, headers=origin)
    assert refused.status_code == 413
    assert refused.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert refused.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
