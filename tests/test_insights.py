"""The insights page (/insights): served like GraphiQL under the same CSP, its vendored
chart library as its README says, and, in Debian's chromium (tests/test_browser.py's),
signing in and drawing each staff member's dashboard with the network limited to the
alumnet server."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from graphql import FieldNode, SelectionSetNode, build_schema, parse, validate
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from alumnet.app import CSP
from alumnet.domain.identity import two_factor
from tests.cohorts.conftest import ASSIGN, BATCH, ENROLL, MISSION, Programme
from tests.conftest import PASSWORD, Api, _serve
from tests.engagement.conftest import ok
from tests.integrity.test_outreach import GENERATE, LOG, REFRESH
from tests.test_browser import FLAGS, chromium  # noqa: F401  (the fixture)

ROOT = Path(__file__).parents[1]
STATIC = ROOT / "src" / "alumnet" / "static" / "insights"


def page_query() -> str:
    """The query dashboard.js sends (its lines, joined as the page joins them)."""
    source = (STATIC / "dashboard.js").read_text()
    found = re.search(r"var QUERY = \[(.*?)\]\.join\(\"\\n\"\)", source, flags=re.S)
    assert found is not None, "dashboard.js has no QUERY"
    return "\n".join(json.loads(line) for line in re.findall(r'"(?:[^"\\]|\\.)*"', found.group(1)))


def field_paths(selections: SelectionSetNode | None, prefix: str = "") -> set[str]:
    """Every field a selection asks for, as dotted paths (aliases and arguments aside)."""
    paths: set[str] = set()
    for node in selections.selections if selections else ():
        assert isinstance(node, FieldNode), "no fragments here"
        path = f"{prefix}{node.name.value}"
        paths |= {path, *field_paths(node.selection_set, path + ".")}
    return paths


@pytest.fixture(scope="module")
async def browser(chromium: str) -> AsyncIterator[Browser]:  # noqa: F811
    """One browser for the module; each visit gets a context of its own (no shared storage)."""
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=chromium, args=FLAGS)
        yield launched
        await launched.close()


@contextlib.contextmanager
def serving(api: Api, env: dict[str, str] | None = None) -> Iterator[str]:
    """`alumnet serve` on the test database (host:port), with these settings."""
    process, base = _serve(api, subprocess.DEVNULL, env)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def served(api: Api) -> Iterator[str]:
    """`alumnet serve` on the test database: host:port."""
    with serving(api) as base:
        yield base


TOKEN = "sessionStorage.getItem('alumnet.insights.token')"
# Functions, not expressions: Playwright evaluates an expression with eval(), which the
# page's CSP refuses.
SIGNED_OUT = "() => document.body.dataset.state === 'signed-out'"

# Every CSP violation the page causes, collected before its own scripts run.
WATCH_CSP = """window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(e.violatedDirective + " " + e.blockedURI));"""

# Each chart's data as Chart.js holds it, and proof that it is on the canvas: for every
# element of every dataset, whether the pixel at its centre has the element's colour
# (grid lines and text are grey or black; the palette's colours are not).
CHARTS = """() => Array.from(document.querySelectorAll("canvas[data-chart]")).map((canvas) => {
  const chart = Chart.getChart(canvas);
  const ratio = chart.currentDevicePixelRatio;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const paintedAs = (point, colour) => {
    const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(colour);
    const at = (Math.round(point.y * ratio) * canvas.width + Math.round(point.x * ratio)) * 4;
    return hex !== null && pixels[at + 3] > 200 &&
      [1, 2, 3].every((k) => Math.abs(pixels[at + k - 1] - parseInt(hex[k], 16)) <= 12);
  };
  return {
    key: canvas.dataset.chart,
    type: chart.config.type,
    labels: chart.data.labels,
    datasets: chart.data.datasets.map((d, i) => ({
      label: d.label,
      data: d.data,
      drawn: chart.getDatasetMeta(i).data.map(
        (e) => paintedAs(e.getCenterPoint(), e.options.backgroundColor)),
    })),
  };
})"""


@dataclass
class Visit:
    """One person's tab on the page, with what the network and the console saw."""

    context: BrowserContext
    page: Page
    headers: dict[str, str]
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def sign_in(self, email: str, password: str = PASSWORD) -> str:
        await self.page.fill("#email", email)
        await self.page.fill("#password", password)
        await self.page.click("#password-form button[type=submit]")
        return await self.settled()

    async def settled(self) -> str:
        """The page's state once it has answered (ready, message, code or signed-out)."""
        await self.page.wait_for_function(
            "() => !document.body.dataset.busy"
            " && ['ready', 'message', 'code', 'signed-out'].includes(document.body.dataset.state)",
            timeout=20_000,
        )
        return str(await self.page.evaluate("document.body.dataset.state"))

    async def second_step(self, code: str) -> str:
        await self.page.fill("#code", code)
        await self.page.click("#code-form button[type=submit]")
        return await self.settled()

    async def charts(self) -> dict[str, dict[str, Any]]:
        found = await self.page.evaluate(CHARTS)
        return {chart["key"]: chart for chart in found}

    async def text(self, selector: str) -> str:
        return str(await self.page.inner_text(selector))

    async def violations(self) -> list[str]:
        return list(await self.page.evaluate("window.__violations"))

    async def close(self) -> None:
        await self.context.close()


async def visit(browser: Browser, base: str) -> Visit:
    """/insights in a fresh context whose only reachable server is alumnet's."""
    context = await browser.new_context()
    blocked: list[str] = []

    async def only_alumnet(route: Route) -> None:
        if route.request.url.startswith(f"http://{base}/"):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_alumnet)
    await context.add_init_script(WATCH_CSP)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    response = await page.goto(f"http://{base}/insights")
    assert response is not None and response.status == 200
    found = Visit(context, page, await response.all_headers(), blocked, errors)
    assert await found.settled() == "signed-out"
    return found


# ---- the page and its assets, without a browser ---------------------------------------


async def test_the_page_is_served_with_the_csp_and_only_its_own_assets(api: Api) -> None:
    page = await api.client.get("/insights")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP
    html = page.text
    # No inline script, style or handler: the CSP would refuse them.
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html and not re.search(r"\son[a-z]+=", html) and " style=" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert [a for a in assets if not a.startswith(("/static/insights/", "data:"))] == []
    for asset in assets:
        if asset.startswith("/static/"):
            served = await api.client.get(asset)
            assert served.status_code == 200, asset
            assert served.headers["content-security-policy"] == CSP


def test_the_vendored_chart_library_is_the_one_its_readme_names() -> None:
    readme = (STATIC / "README.md").read_text()
    found = re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, flags=re.M)
    listed = {name: digest for digest, name in found}
    assert set(listed) == {"chart.umd.min.js", "LICENSE.chart.js.txt"}
    for name, digest in listed.items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
    library = (STATIC / "chart.umd.min.js").read_text()
    version = re.search(r"Chart\.js v(\d+\.\d+\.\d+)", library)
    assert version is not None and version.group(1).startswith("4.")
    assert f"chart.js@{version.group(1)}" in readme
    assert "MIT License" in (STATIC / "LICENSE.chart.js.txt").read_text()


def test_the_page_asks_for_documented_dashboard_fields_only() -> None:
    """The page draws from `dashboard` as docs/DASHBOARDS.md gives it: every field it asks
    for there is in the documented queries, and the whole query is valid."""
    query = page_query()
    schema = build_schema((ROOT / "schema.graphql").read_text())
    assert validate(schema, parse(query)) == []
    documented: set[str] = set()
    for block in re.findall(
        r"```graphql\n(.*?)```", (ROOT / "docs" / "DASHBOARDS.md").read_text(), re.S
    ):
        for operation in parse(block).definitions:
            documented |= field_paths(operation.selection_set)  # type: ignore[attr-defined]
    asked = field_paths(parse(query).definitions[0].selection_set)  # type: ignore[attr-defined]
    under_dashboard = {path for path in asked if path.startswith("dashboard")}
    assert {p.split(".")[1] for p in under_dashboard if "." in p} == {
        "sections", "admin", "manager", "mentor", "sre"
    }  # fmt: skip
    assert under_dashboard - documented == set()


# ---- in the browser ---------------------------------------------------------------------


async def test_strangers_students_and_wrong_passwords_get_plain_words(
    api: Api, browser: Browser
) -> None:
    await api.create_user("student@example.org", ["STUDENT"], name="Sam Student")
    await api.create_user("manager@example.org", ["MANAGER"], name="Mo Manager")
    # Managers must sign in with a second factor: until they enrol, their role is withheld.
    with serving(api, {"ALUMNET_TWO_FACTOR_ROLES": "MANAGER"}) as base:
        tab = await visit(browser, base)
        try:
            # A stranger: the sign-in form, nothing else.
            assert await tab.page.is_visible("#password-form")
            assert not await tab.page.is_visible("#dashboard")
            assert await tab.sign_in("student@example.org", "not the password") == "signed-out"
            said = await tab.text("#sign-in-error")
            assert said == "The e-mail address or password is incorrect."
            # A student: a sentence, no charts, no error dump.
            assert await tab.sign_in("student@example.org") == "message"
            message = await tab.text("#message-text")
            assert "for staff" in message and "Your own attendance" in message
            assert "{" not in message
            assert await tab.page.locator("canvas").count() == 0
            assert await tab.text("#who-name") == "Sam Student"
            # The token never appears in the address.
            assert tab.page.url.endswith("/insights")
            # Signing out ends the session on the server and shows the form again.
            token = await tab.page.evaluate(TOKEN)
            await tab.page.click("#sign-out")
            await tab.page.wait_for_function(SIGNED_OUT)
            assert await tab.page.evaluate(TOKEN) is None
            ended = await api.gql("{ viewer { name } }", token=token)
            assert ended["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            # A manager who has not enrolled in two-factor sign-in is told what to do.
            assert await tab.sign_in("manager@example.org") == "message"
            assert "two-factor" in await tab.text("#message-text")
            assert tab.blocked == [] and await tab.violations() == [] and tab.errors == []
        finally:
            await tab.close()


ENROL = """mutation($p: String) { twoFactorEnroll(input: {password: $p}) {
  secret userErrors { code } } }"""
CONFIRM = """mutation($c: String!) { twoFactorConfirm(input: {code: $c}) {
  userErrors { code } } }"""
CORRECT = """mutation($i: AttendanceCorrectInput!) { attendanceCorrect(input: $i) {
  created userErrors { field code message } } }"""
POST = """mutation($i: NoticePostInput!) { noticePost(input: $i) {
  notice { id } userErrors { field code message } } }"""
ACK = """mutation($i: NoticeAcknowledgeInput!) { noticeAcknowledge(input: $i) {
  created userErrors { field code message } } }"""

TODAY = datetime.now(UTC).date()
STAFF = [("admin", ["ADMIN"]), ("manager", ["MANAGER"]), ("sre", ["SRE"]), ("m1", ["MENTOR"])]
# Days present, relative to today, in mission A (s6 and s7 never: at risk).
PRESENT = {"s1": [-3, -2, -1, 0], "s2": [-2, -1], "s3": [-10, -9], "s4": [0], "s5": [-1],
           "s8": [-7]}  # fmt: skip


def day(delta: int) -> str:
    return (TODAY + timedelta(days=delta)).isoformat()


async def programme(api: Api) -> Programme:
    """Batch B1 with mission A (s1 to s8; m1 mentors s1, s2 and s3) and mission B (s9,
    s10), running since 13 days ago; attendance in A; a notice to A acknowledged by four
    of its eight students; A's at-risk list; two calls logged by the SRE."""
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    people = [*STAFF, *((f"s{i}", ["STUDENT"]) for i in range(1, 11))]
    for who, roles in people:
        ids[who], tokens[who] = await api.create_user(
            f"{who}@example.org", roles, name=f"{who.upper()} Person"
        )
    p = Programme(api=api, tokens=tokens, ids=ids)
    batch = {"name": "Batch 1", "code": "B1", "startsOn": day(-60), "endsOn": day(60)}
    ids["b1"] = (await ok(p, "admin", BATCH, {"i": batch}, "batchCreate"))["batch"]["id"]
    for key, code in (("ma", "B1-A"), ("mb", "B1-B")):
        made = {"batchId": ids["b1"], "title": f"Mission {code}", "code": code,
                "status": "ACTIVE", "startsOn": day(-13), "endsOn": day(30)}  # fmt: skip
        ids[key] = (await ok(p, "admin", MISSION, {"i": made}, "missionCreate"))["mission"]["id"]
    placed = [(f"s{i}", "ma") for i in range(1, 9)] + [("s9", "mb"), ("s10", "mb")]
    for student, mission in placed:
        enrolled = await ok(p, "admin", ENROLL, {"m": ids[mission], "s": ids[student]},
                            "enrollmentCreate")  # fmt: skip
        ids[f"e_{student}"] = enrolled["enrollment"]["id"]
    for student in ("s1", "s2", "s3"):
        await ok(p, "admin", ASSIGN, {"m": ids["ma"], "s": ids[student], "t": ids["m1"]},
                 "mentorAssign")  # fmt: skip
    for student, days in PRESENT.items():
        for delta in days:
            change = {"enrollmentId": ids[f"e_{student}"], "day": day(delta), "present": True,
                      "reason": "Register."}  # fmt: skip
            await ok(p, "manager", CORRECT, {"i": change}, "attendanceCorrect")
    notice = {"missionId": ids["ma"], "title": "Read me", "body": "Please."}
    ids["notice"] = (await ok(p, "manager", POST, {"i": notice}, "noticePost"))["notice"]["id"]
    for student in ("s1", "s2", "s3", "s4"):
        await ok(p, student, ACK, {"i": {"noticeId": ids["notice"]}}, "noticeAcknowledge")
    await ok(p, "sre", REFRESH, {"m": ids["ma"]}, "atRiskRefresh")
    await api.run_jobs()
    listed = await ok(p, "sre", GENERATE, {"i": {"missionId": ids["ma"], "limit": 10}},
                      "callListGenerate")  # fmt: skip
    for student, outcome in (("s6", "NO_ANSWER"), ("s7", "PICKED_UP")):
        call = {"callListId": listed["callList"]["id"], "studentId": ids[student],
                "outcome": outcome}  # fmt: skip
        await ok(p, "sre", LOG, {"i": call}, "callLogRecord")
    return p


async def two_factor_for(p: Programme, who: str) -> pyotp.TOTP:
    """Two-factor sign-in turned on for them (confirmed with the previous step's code, so
    that the current one is still unused)."""
    enrol = await ok(p, who, ENROL, {"p": PASSWORD}, "twoFactorEnroll")
    totp = pyotp.TOTP(enrol["secret"])
    # The confirmation is read against the instant its code was made, so that a slow
    # request crossing into the next step cannot make it two steps old.
    now = time.time()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(two_factor, "clock", lambda: now)
        await ok(p, who, CONFIRM, {"c": totp.at(now - 30)}, "twoFactorConfirm")
    return totp


async def renews_an_expired_token(tab: Visit) -> None:
    """An access token the server refuses (expired, here made unreadable) is renewed once
    with the refresh token the page holds in memory, and the dashboard drawn again."""
    await tab.page.evaluate("sessionStorage.setItem('alumnet.insights.token', 'stale')")
    before = len(tab.errors)
    await tab.page.click("#reload")
    assert await tab.settled() == "ready"
    # The browser logs the refusal it got; nothing else.
    assert [e for e in tab.errors[before:] if "status of 401" not in e] == []
    assert len(tab.errors) == before + 1
    del tab.errors[before:]
    renewed = await tab.page.evaluate(TOKEN)
    assert renewed not in (None, "stale")
    assert await tab.page.locator("canvas[data-chart]").count() == len(CHARTS_OF["manager"])


def pct(value: float | None) -> float | None:
    """A rate as the page charts it: a percentage to one decimal."""
    return None if value is None else round(value * 1000) / 10


def assert_drawn(chart: dict[str, Any]) -> None:
    """Every element of a non-zero value has its centre painted on the canvas."""
    for dataset in chart["datasets"]:
        for value, drawn in zip(dataset["data"], dataset["drawn"], strict=True):
            if value:
                assert drawn, (chart["key"], dataset["label"], value)


# What each staff member's page draws (charts with no figures show a sentence instead).
CHARTS_OF = {
    "manager": {"manager-attendance-trend", "manager-at-risk", "manager-acknowledgement",
                "manager-mentor-load", "manager-rates", "manager-points"},
    "sre": {"sre-at-risk", "sre-calls-by-outcome", "sre-calls-by-day", "sre-tickets-by-age"},
    "m1": {"mentor-attendance", "mentor-points", "mentor-missions", "mentor-missions-points"},
    "admin": {"admin-users-by-role", "admin-users-by-status", "admin-activity"},
}  # fmt: skip


async def test_each_staff_member_sees_their_dashboard_as_charts_offline(
    api: Api, served: str, browser: Browser
) -> None:
    p = await programme(api)
    totp = await two_factor_for(p, "sre")
    seen: dict[str, dict[str, dict[str, Any]]] = {}
    for who, _ in STAFF:
        tab = await visit(browser, served)
        try:
            assert tab.headers["content-security-policy"] == CSP
            signed = await tab.sign_in(f"{who}@example.org")
            if who == "sre":
                # Two-factor sign-in: the page asks for the code; a wrong one is said so.
                assert signed == "code"
                assert await tab.second_step("000000") == "code"
                assert "code" in (await tab.text("#sign-in-error")).lower()
                signed = await tab.second_step(totp.now())
            assert signed == "ready", await tab.text("main")
            assert await tab.text("#who-name") == f"{who.upper()} Person"
            seen[who] = await tab.charts()
            if who == "manager":
                await renews_an_expired_token(tab)
            # Nothing but the alumnet server was asked for anything, the CSP refused nothing
            # and the page logged no error.
            assert tab.blocked == [], tab.blocked
            assert await tab.violations() == []
            assert tab.errors == []
        finally:
            await tab.close()
        assert set(seen[who]) == CHARTS_OF[who], who
        for chart in seen[who].values():
            assert_drawn(chart)

    # The charts hold what the page's query answers.
    query = page_query()
    answers = {who: (await p.gql(who, query))["data"]["dashboard"] for who, _ in STAFF}

    manager, charts = answers["manager"]["manager"], seen["manager"]
    trend = charts["manager-attendance-trend"]
    assert trend["labels"] == [t["label"] for t in manager["attendanceTrend"]]
    assert trend["datasets"][0]["data"] == [pct(t["value"]) for t in manager["attendanceTrend"]]
    assert any(trend["datasets"][0]["data"])
    acknowledged = charts["manager-acknowledgement"]
    assert acknowledged["labels"] == ["B1-A", "B1-B"]
    assert acknowledged["datasets"][0]["data"] == [50.0, None]  # four of eight; none posted
    at_risk = charts["manager-at-risk"]
    assert at_risk["labels"][0] == "B1-A" and at_risk["datasets"][0]["data"][0] >= 2
    assert at_risk["datasets"][0]["data"] == [m["value"] for m in manager["atRiskByMission"]]
    load = charts["manager-mentor-load"]
    assert load["labels"] == ["M1 Person"] and load["datasets"][0]["data"] == [3]

    sre = answers["sre"]["sre"]
    outcomes = seen["sre"]["sre-calls-by-outcome"]
    assert sorted(outcomes["labels"]) == ["no answer", "picked up"]
    assert outcomes["datasets"][0]["data"] == [1, 1]
    assert seen["sre"]["sre-at-risk"]["datasets"][0]["data"] == [
        m["value"] for m in sre["atRiskByMission"]
    ]

    mentor = seen["m1"]
    assert mentor["mentor-attendance"]["labels"] == [
        "S1 Person (B1-A)", "S2 Person (B1-A)", "S3 Person (B1-A)"
    ]  # fmt: skip
    mine = answers["m1"]["mentor"]["mentees"]
    assert mentor["mentor-attendance"]["datasets"][0]["data"] == [
        pct(m["standing"]["attendanceRate"]) for m in mine
    ]
    # Five other students in A: the mission's average is shown beside the mentees'.
    assert mentor["mentor-missions"]["labels"] == ["B1-A (3 of 8)"]
    versus = mentor["mentor-missions"]["datasets"]
    assert [d["label"] for d in versus] == ["your mentees", "the whole mission"]
    assert versus[1]["data"][0] is not None

    roles = seen["admin"]["admin-users-by-role"]
    assert dict(zip(roles["labels"], roles["datasets"][0]["data"], strict=True)) == {
        "ADMIN": 1, "MANAGER": 1, "MENTOR": 1, "SRE": 1, "STUDENT": 10,
    }  # fmt: skip
