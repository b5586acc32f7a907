"""Two-factor sign-in (TOTP): enrolment, the challenge, replays, recovery codes, the lock,
roles that require it, turning it off and an administrator's reset; and sessions: the
device list, ending one or all, and the notice of a new device."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pyotp
import pytest
from sqlalchemy import create_engine, text

from alumnet.domain.identity import two_factor
from alumnet.persistence.db import sync_url
from tests.conftest import PASSWORD, Api, app_api

SIGN_IN = """mutation($e: String!, $p: String!) {
  tokenCreate(input: {email: $e, password: $p}) {
    accessToken twoFactorChallenge twoFactorChallengeExpiresAt twoFactorEnrollmentRequired
    user { email } userErrors { field code message }
  }
}"""
SECOND_STEP = """mutation($c: String!, $code: String!) {
  tokenCreateTwoFactor(input: {challenge: $c, code: $code}) {
    accessToken refreshToken user { email } userErrors { field code message }
  }
}"""
ENROL = """mutation($p: String) {
  twoFactorEnroll(input: {password: $p}) {
    secret otpauthUri qrCodeSvg userErrors { field code message }
  }
}"""
CONFIRM = """mutation($code: String!) {
  twoFactorConfirm(input: {code: $code}) { recoveryCodes userErrors { field code message } }
}"""
DISABLE = """mutation($p: String!, $code: String!) {
  twoFactorDisable(input: {password: $p, code: $code}) {
    user { twoFactor { enabled } } userErrors { field code message }
  }
}"""
STATUS = "{ viewer { twoFactor { enabled pending required recoveryCodesLeft locked } } }"
SESSIONS = """{ viewer { sessions(first: 10) { totalCount edges { node {
  id device ipAddress userAgent createdAt lastUsedAt current } } } } }"""
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
NOW = 1_790_000_000.0  # a fixed moment, so that no test straddles a 30-second step


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [NOW]
    monkeypatch.setattr(two_factor, "clock", lambda: now[0])
    return now


def code_at(secret: str, moment: float) -> str:
    return pyotp.TOTP(secret).at(int(moment))


async def enrolled(api: Api, token: str, clock: list[float]) -> tuple[str, list[str]]:
    """Enrols with the previous step's code (the current one stays unused)."""
    body = await api.gql(ENROL, {"p": PASSWORD}, token=token)
    enrol = body["data"]["twoFactorEnroll"]
    assert enrol["userErrors"] == [], enrol
    secret = enrol["secret"]
    confirm = await api.gql(CONFIRM, {"code": code_at(secret, clock[0] - 30)}, token=token)
    payload = confirm["data"]["twoFactorConfirm"]
    assert payload["userErrors"] == [], payload
    return secret, payload["recoveryCodes"]


async def challenge_of(api: Api, email: str) -> str:
    body = await api.gql(SIGN_IN, {"e": email, "p": PASSWORD})
    payload = body["data"]["tokenCreate"]
    assert payload["accessToken"] is None and payload["user"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["TWO_FACTOR_REQUIRED"]
    return str(payload["twoFactorChallenge"])


async def second_step(api: Api, challenge: str, code: str) -> dict[str, Any]:
    body = await api.gql(SECOND_STEP, {"c": challenge, "code": code})
    return body["data"]["tokenCreateTwoFactor"]  # type: ignore[no-any-return]


def _codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def test_enrol_then_sign_in_with_a_code_never_accepted_twice(
    api: Api, clock: list[float]
) -> None:
    _, token = await api.create_user("ada@example.org", ["STUDENT"])
    body = await api.gql(ENROL, {"p": PASSWORD}, token=token)
    enrol = body["data"]["twoFactorEnroll"]
    assert enrol["otpauthUri"].startswith("otpauth://totp/alumnet:ada%40example.org?secret=")
    assert "issuer=alumnet" in enrol["otpauthUri"]
    assert enrol["qrCodeSvg"].startswith("data:image/svg+xml")
    secret = enrol["secret"]
    # Not yet on: a wrong first code changes nothing.
    wrong = await api.gql(CONFIRM, {"code": "000000"}, token=token)
    assert _codes(wrong["data"]["twoFactorConfirm"]) == ["INVALID_CODE"]
    status = await api.gql(STATUS, token=token)
    assert status["data"]["viewer"]["twoFactor"]["pending"] is True
    confirm = await api.gql(CONFIRM, {"code": code_at(secret, NOW - 30)}, token=token)
    codes = confirm["data"]["twoFactorConfirm"]["recoveryCodes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    status = await api.gql(STATUS, token=token)
    assert status["data"]["viewer"]["twoFactor"] == {
        "enabled": True, "pending": False, "required": False, "recoveryCodesLeft": 10,
        "locked": False,
    }  # fmt: skip

    # The secret is kept encrypted, the recovery codes hashed.
    engine = create_engine(sync_url(api.settings.database_url))
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT secret_encrypted FROM two_factor")).scalar_one()
        hashes = conn.execute(text("SELECT code_hash FROM recovery_codes")).scalars().all()
    engine.dispose()
    assert secret not in stored and len(stored) > 80
    assert not set(codes) & set(hashes)

    # The password answers a challenge; the step confirmed is not accepted again.
    challenge = await challenge_of(api, "ada@example.org")
    replay = await second_step(api, challenge, code_at(secret, NOW - 30))
    assert _codes(replay) == ["INVALID_CODE"] and replay["accessToken"] is None
    ok = await second_step(api, challenge, code_at(secret, NOW))
    assert ok["userErrors"] == [] and ok["user"] == {"email": "ada@example.org"}
    assert (await api.gql("{ viewer { email } }", token=ok["accessToken"]))["data"]["viewer"]
    # The challenge was used; the current step was used too.
    again = await second_step(api, challenge, code_at(secret, NOW))
    assert _codes(again) == ["INVALID_CHALLENGE"]
    fresh = await challenge_of(api, "ada@example.org")
    assert _codes(await second_step(api, fresh, code_at(secret, NOW))) == ["INVALID_CODE"]
    # The next step works; a code two steps old does not.
    clock[0] = NOW + 60
    assert _codes(await second_step(api, fresh, code_at(secret, NOW))) == ["INVALID_CODE"]
    assert (await second_step(api, fresh, code_at(secret, NOW + 60)))["userErrors"] == []


async def test_recovery_codes_work_once_and_challenges_are_bound(
    api: Api, clock: list[float]
) -> None:
    _, token = await api.create_user("ada@example.org", ["STUDENT"])
    _, other_token = await api.create_user("bob@example.org", ["STUDENT"])
    _, codes = await enrolled(api, token, clock)
    other_secret, _ = await enrolled(api, other_token, clock)

    challenge = await challenge_of(api, "ada@example.org")
    # Another account's code does not answer this account's challenge.
    assert _codes(await second_step(api, challenge, code_at(other_secret, NOW))) == ["INVALID_CODE"]
    used = await second_step(api, challenge, codes[0].upper())
    assert used["userErrors"] == []
    second = await challenge_of(api, "ada@example.org")
    assert _codes(await second_step(api, second, codes[0])) == ["INVALID_CODE"]
    assert (await second_step(api, second, codes[1]))["userErrors"] == []
    status = await api.gql(STATUS, token=used["accessToken"])
    assert status["data"]["viewer"]["twoFactor"]["recoveryCodesLeft"] == 8

    # An expired challenge, a forged one, an access token given as one.
    expired = jwt.encode(
        {
            "iss": api.settings.jwt_issuer, "aud": "alumnet-two-factor", "sub": "1",
            "jti": "x", "iat": int(NOW), "exp": int(datetime.now(UTC).timestamp()) - 10,
        },
        api.settings.secret_key,
        algorithm="HS256",
    )  # fmt: skip
    for bad in (expired, challenge[:-3] + "abc", used["accessToken"], "x" * 5000):
        assert _codes(await second_step(api, bad, codes[2])) == ["INVALID_CHALLENGE"]
    # The challenge is no access token either.
    refused = await api.post("{ viewer { email } }", token=second)
    assert refused.status_code == 401
    # Refused challenges of this account are in the audit log: the expired one, and the
    # first one used again.
    assert _codes(await second_step(api, challenge, codes[2])) == ["INVALID_CHALLENGE"]
    _, admin = await api.create_user("root@example.org", ["ADMIN"])
    audit = await api.gql(
        '{ auditEvents(filter: {actions: ["two_factor.challenge_refused"]}) '
        "{ edges { node { details objectIds } } } }",
        token=admin,
    )
    reasons = sorted(e["node"]["details"]["reason"] for e in audit["data"]["auditEvents"]["edges"])
    assert reasons == ["expired", "used"]


async def test_five_wrong_codes_lock_it_for_fifteen_minutes(api: Api, clock: list[float]) -> None:
    _, token = await api.create_user("ada@example.org", ["STUDENT"])
    _, admin = await api.create_user("root@example.org", ["ADMIN"])
    secret, _ = await enrolled(api, token, clock)
    challenge = await challenge_of(api, "ada@example.org")
    for _ in range(4):
        assert _codes(await second_step(api, challenge, "123456")) == ["INVALID_CODE"]
    assert _codes(await second_step(api, challenge, "123457")) == ["TWO_FACTOR_LOCKED"]
    # Locked: even the right code is refused.
    assert _codes(await second_step(api, challenge, code_at(secret, NOW))) == ["TWO_FACTOR_LOCKED"]
    audit = await api.gql(
        '{ auditEvents(filter: {actions: ["two_factor.locked", "two_factor.failed"]}) '
        "{ edges { node { action } } } }",
        token=admin,
    )
    actions = [e["node"]["action"] for e in audit["data"]["auditEvents"]["edges"]]
    assert actions.count("two_factor.failed") == 4 and actions.count("two_factor.locked") == 1


@pytest.fixture
async def required(api: Api) -> AsyncIterator[Api]:
    async for other in app_api(api, two_factor_roles=frozenset({"MANAGER", "SRE", "ADMIN"})):
        yield other


PAT = """mutation { personalAccessTokenCreate(input: {name: "script", scope: ADMIN}) {
  secret userErrors { code } } }"""
USERS = "{ users(first: 1) { totalCount } }"


async def _refused(api: Api, token: str) -> bool:
    body = await api.gql(USERS, token=token)
    return bool(body.get("errors")) and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_staff_roles_need_a_credential_that_passed_the_second_factor(
    required: Api, clock: list[float]
) -> None:
    api = required
    await api.create_user("mia@example.org", ["MANAGER", "MENTOR"], password=PASSWORD)
    _, student = await api.create_user("sam@example.org", ["STUDENT"])
    student_id = (await api.gql("{ viewer { id } }", token=student))["data"]["viewer"]["id"]
    body = await api.gql(SIGN_IN, {"e": "mia@example.org", "p": PASSWORD})
    payload = body["data"]["tokenCreate"]
    assert payload["twoFactorEnrollmentRequired"] is True and payload["userErrors"] == []
    token = payload["accessToken"]
    # Another sign-in (a stolen password, say) and a token made before enrolling.
    other = (await api.gql(SIGN_IN, {"e": "mia@example.org", "p": PASSWORD}))["data"][
        "tokenCreate"
    ]["accessToken"]
    early_pat = (await api.gql(PAT, token=token))["data"]["personalAccessTokenCreate"]["secret"]
    viewer = await api.gql("{ viewer { permissions twoFactor { required } } }", token=token)
    assert viewer["data"]["viewer"]["permissions"] == ["MENTORSHIP_OFFER", "TOKENS_CREATE"]
    assert viewer["data"]["viewer"]["twoFactor"]["required"] is True
    assert await _refused(api, token) and await _refused(api, early_pat)
    # A withheld manager is no staff anywhere: not even to write to any student.
    start = """mutation($u: ID!) { conversationStart(input: {userId: $u}) {
      userErrors { code } } }"""
    started = await api.gql(start, {"u": student_id}, token=token)
    assert started["data"]["conversationStart"]["userErrors"] == [{"code": "NOT_REACHABLE"}]

    # Enrolling shows the authenticator in this session: it may use the role now.
    secret, _ = await enrolled(api, token, clock)
    assert not await _refused(api, token)
    # What was made without the second factor stays without the role.
    assert await _refused(api, other) and await _refused(api, early_pat)
    # A sign-in with a code, and a token made by it, have it.
    challenge = await challenge_of(api, "mia@example.org")
    fresh = (await second_step(api, challenge, code_at(secret, NOW)))["accessToken"]
    assert not await _refused(api, fresh)
    late_pat = (await api.gql(PAT, token=fresh))["data"]["personalAccessTokenCreate"]["secret"]
    assert not await _refused(api, late_pat)

    # Turning it off and on again gives nothing back to the old credentials.
    clock[0] = NOW + 30
    off = await api.gql(DISABLE, {"p": PASSWORD, "code": code_at(secret, NOW + 30)}, token=fresh)
    assert off["data"]["twoFactorDisable"]["userErrors"] == []
    assert await _refused(api, fresh) and await _refused(api, late_pat)
    clock[0] = NOW + 120
    await enrolled(api, fresh, clock)
    assert not await _refused(api, fresh)
    assert await _refused(api, late_pat)


async def test_guesses_sent_at_once_do_not_pass_the_lock(api: Api, clock: list[float]) -> None:
    import asyncio

    _, token = await api.create_user("ada@example.org", ["STUDENT"])
    _, codes = await enrolled(api, token, clock)
    challenge = await challenge_of(api, "ada@example.org")
    answers = await asyncio.gather(
        *(second_step(api, challenge, f"{100000 + i}") for i in range(12))
    )
    wrong = [a for a in answers if _codes(a) == ["INVALID_CODE"]]
    assert len(wrong) <= 5 and all(a["accessToken"] is None for a in answers)
    # One challenge answered twice at once with two good codes: one sign-in, at most.
    clock[0] = NOW + 3600  # past the lock
    await api.app.state.runtime.failures.clear("2fa:locked:1")
    await api.app.state.runtime.failures.clear("2fa:failures:1")
    fresh = await challenge_of(api, "ada@example.org")
    both = await asyncio.gather(
        second_step(api, fresh, codes[0]), second_step(api, fresh, codes[1])
    )
    assert sum(1 for a in both if a["accessToken"]) == 1, both


async def test_turning_off_needs_password_and_code_and_admins_reset(
    api: Api, clock: list[float]
) -> None:
    user_id, token = await api.create_user("ada@example.org", ["STUDENT"])
    _, admin = await api.create_user("root@example.org", ["ADMIN"])
    _, student = await api.create_user("eve@example.org", ["STUDENT"])
    secret, codes = await enrolled(api, token, clock)
    wrong_password = await api.gql(
        DISABLE, {"p": "wrong", "code": code_at(secret, NOW)}, token=token
    )
    assert _codes(wrong_password["data"]["twoFactorDisable"]) == ["INVALID_PASSWORD"]
    wrong_code = await api.gql(DISABLE, {"p": PASSWORD, "code": "999999"}, token=token)
    assert _codes(wrong_code["data"]["twoFactorDisable"]) == ["INVALID_CODE"]
    off = await api.gql(DISABLE, {"p": PASSWORD, "code": codes[0]}, token=token)
    assert off["data"]["twoFactorDisable"] == {
        "user": {"twoFactor": {"enabled": False}}, "userErrors": []
    }  # fmt: skip
    assert (await api.gql(SIGN_IN, {"e": "ada@example.org", "p": PASSWORD}))["data"]["tokenCreate"][
        "accessToken"
    ]

    await enrolled(api, token, clock)
    reset = """mutation($u: ID!, $r: String!) { twoFactorReset(input: {userId: $u, reason: $r})
      { user { twoFactor { enabled } } userErrors { code field } } }"""
    denied = await api.gql(reset, {"u": user_id, "r": "lost phone"}, token=student)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    blank = await api.gql(reset, {"u": user_id, "r": "  "}, token=admin)
    assert _codes(blank["data"]["twoFactorReset"]) == ["INVALID"]
    api.mailbox.messages.clear()
    done = await api.gql(reset, {"u": user_id, "r": "lost phone"}, token=admin)
    assert done["data"]["twoFactorReset"]["user"] == {"twoFactor": {"enabled": False}}
    await api.run_jobs()
    assert any("two-factor sign-in was reset" in m for m in api.mailbox.to("ada@example.org"))
    audit = await api.gql(
        '{ auditEvents(filter: {actions: ["two_factor.reset"]}) '
        "{ edges { node { details actor { email } } } } }",
        token=admin,
    )
    [event] = audit["data"]["auditEvents"]["edges"]
    assert event["node"]["details"] == {"reason": "lost phone"}
    assert event["node"]["actor"] == {"email": "root@example.org"}


async def test_sessions_are_listed_ended_and_new_devices_told(api: Api) -> None:
    await api.create_user("ada@example.org", ["STUDENT"])
    _, other = await api.create_user("bob@example.org", ["STUDENT"])

    async def sign_in_from(agent: str) -> str:
        response = await api.post(
            SIGN_IN, {"e": "ada@example.org", "p": PASSWORD}, headers={"User-Agent": agent}
        )
        return str(response.json()["data"]["tokenCreate"]["accessToken"])

    api.mailbox.messages.clear()
    laptop = await sign_in_from(FIREFOX)
    again = await sign_in_from(FIREFOX.replace("128.0", "129.0"))  # an update: same device
    phone = await sign_in_from(IPHONE)
    body = await api.gql(SESSIONS, token=laptop)
    listed = body["data"]["viewer"]["sessions"]
    # create_user signed in too (python-httpx): four sessions.
    assert listed["totalCount"] == 4
    devices = [e["node"]["device"] for e in listed["edges"]]
    assert devices[:3] == [
        "Mobile Safari on iOS (iPhone)",
        "Firefox on Windows",
        "Firefox on Windows",
    ]
    current = [e["node"] for e in listed["edges"] if e["node"]["current"]]
    assert len(current) == 1 and current[0]["ipAddress"] == "203.0.113.7"
    await api.run_jobs()
    told = [m for m in api.mailbox.to("ada@example.org") if "New sign-in to your" in m]
    assert len(told) == 2  # Firefox, then the iPhone; not the updated Firefox
    assert any("Mobile Safari on iOS (iPhone)" in m for m in told)
    notes = await api.gql(
        "{ notifications(first: 5) { edges { node { kind title } } } }", token=laptop
    )
    kinds = [e["node"]["kind"] for e in notes["data"]["notifications"]["edges"]]
    assert kinds.count("SECURITY") == 2

    phone_id = listed["edges"][0]["node"]["id"]
    revoke = """mutation($id: ID!) { sessionRevoke(input: {id: $id}) {
      session { revokedAt } userErrors { code } } }"""
    # Somebody else's session does not exist for them.
    theirs = await api.gql(revoke, {"id": phone_id}, token=other)
    assert theirs["data"]["sessionRevoke"]["userErrors"] == [{"code": "NOT_FOUND"}]
    _, admin = await api.create_user("root@example.org", ["ADMIN"])
    tried = await api.gql(
        '{ auditEvents(filter: {actions: ["session.revoke_refused"]}) '
        "{ edges { node { actor { email } } } } }",
        token=admin,
    )
    assert [e["node"]["actor"]["email"] for e in tried["data"]["auditEvents"]["edges"]] == [
        "bob@example.org"
    ]
    assert (await api.post("{ viewer { email } }", token=phone)).status_code == 200
    mine = await api.gql(revoke, {"id": phone_id}, token=laptop)
    assert mine["data"]["sessionRevoke"]["session"]["revokedAt"] is not None
    assert (await api.post("{ viewer { email } }", token=phone)).status_code == 401

    revoke_all = "mutation { sessionRevokeAll(input: {}) { revokedCount userErrors { code } } }"
    ended = await api.gql(revoke_all, token=laptop)
    assert ended["data"]["sessionRevokeAll"] == {"revokedCount": 2, "userErrors": []}
    assert (await api.post("{ viewer { email } }", token=again)).status_code == 401
    still = await api.gql(SESSIONS, token=laptop)
    assert still["data"]["viewer"]["sessions"]["totalCount"] == 1
    # Nobody else sees them.
    other_view = await api.gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": phone_id}, token=other
    )
    assert other_view["data"]["node"] is None


async def test_stale_last_use_is_recorded(api: Api) -> None:
    _, token = await api.create_user("ada@example.org", ["STUDENT"])
    engine = create_engine(sync_url(api.settings.database_url))
    old = datetime.now(UTC) - timedelta(hours=2)
    with engine.begin() as conn:
        conn.execute(text("UPDATE sessions SET last_used_at = :t"), {"t": old})
    engine.dispose()
    body = await api.gql(SESSIONS, token=token)
    [edge] = body["data"]["viewer"]["sessions"]["edges"]
    used = datetime.fromisoformat(edge["node"]["lastUsedAt"])
    assert used > datetime.now(UTC) - timedelta(minutes=1)


async def test_the_operator_resets_from_the_command_line(api: Api, clock: list[float]) -> None:
    from tests.test_cli import alumnet

    _, token = await api.create_user("ada@example.org", ["ADMIN"])
    await enrolled(api, token, clock)
    await api.run_jobs()  # the e-mail about it is sent before the command runs
    unknown = alumnet(
        api.settings, "user", "two-factor-reset", "--email", "x@example.org", "--reason", "r"
    )
    assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr
    done = alumnet(
        api.settings, "user", "two-factor-reset", "--email", "ada@example.org",
        "--reason", "lost phone and codes",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Their sessions ended; the password alone signs in again.
    assert (await api.post(STATUS, token=token)).status_code == 401
    token = await api.sign_in("ada@example.org")
    status = await api.gql(STATUS, token=token)
    assert status["data"]["viewer"]["twoFactor"]["enabled"] is False
    audit = await api.gql(
        '{ auditEvents(filter: {actions: ["two_factor.reset"]}) '
        "{ edges { node { details actor { email } } } } }",
        token=token,
    )
    [event] = audit["data"]["auditEvents"]["edges"]
    assert event["node"] == {
        "details": {"reason": "lost phone and codes", "via": "cli"}, "actor": None
    }  # fmt: skip


def test_custom_roles_wait_for_the_second_factor_too() -> None:
    """Where any role requires two-factor sign-in, a custom role (staff powers by another
    name) works only through a credential that passed it."""
    from types import SimpleNamespace

    from alumnet.domain.identity.auth import _authenticated
    from alumnet.domain.identity.permissions import Permission, Role

    def rows(enrolled: bool) -> list[SimpleNamespace]:
        return [
            SimpleNamespace(
                id=7, email="c@example.org", name="C", status="active",
                email_verified_at=None, role="MENTOR",
                two_factor_enabled_at=datetime.now(UTC) if enrolled else None,
                grant_id=1, grant_role_id=1, grant_role_name="Coordinator",
                grant_permissions=["users:read"], grant_batch_id=None, grant_mission_id=None,
            )
        ]  # fmt: skip

    required = frozenset({Role.ADMIN})
    for enrolled, passed, expected in (
        (False, False, False), (True, False, False), (True, True, True),
    ):  # fmt: skip
        found = _authenticated(rows(enrolled), required, passed)
        assert found is not None
        assert found.viewer.can(Permission.USERS_READ) is expected
        assert Role.MENTOR in found.viewer.roles
    # Nothing required (development's default): custom roles work as they are.
    found = _authenticated(rows(False), frozenset(), False)
    assert found is not None and found.viewer.can(Permission.USERS_READ)


async def test_two_factor_of_a_list_of_users_is_batched(api: Api) -> None:
    """User managers reading `twoFactor` down a list: the same statements for 3 or 9."""
    _, admin = await api.create_user("root@example.org", ["ADMIN"])
    query = "{ users(first: 50) { edges { node { twoFactor { enabled required } } } } }"
    counts = []
    for batch in ("a", "b"):
        for i in range(3 if batch == "a" else 6):
            await api.create_user(f"{batch}{i}@example.org", ["STUDENT"])
        statements, body = await api.sql_count(query, token=admin)
        assert "errors" not in body, body
        counts.append(statements)
    assert counts[0] == counts[1], counts


async def test_permission_check_says_when_the_second_factor_is_due(
    api: Api, clock: list[float]
) -> None:
    """permissionCheck answers as the checks decide: a role that requires two-factor
    sign-in grants nothing before enrolment, and only through a sign-in with it after."""
    from strawberry.relay import from_base64

    from alumnet.domain.identity import roles
    from alumnet.domain.identity.permissions import Permission, Role, Viewer

    user_id, token = await api.create_user("mia@example.org", ["MANAGER"])
    db = api.app.state.runtime.database
    asking = Viewer(user_id=10_000, roles=frozenset({Role.ADMIN}))
    me = int(from_base64(user_id)[1])

    async def check(required: frozenset[Role]) -> Any:
        return await roles.permission_check(
            db, asking, user_id=me, permission=Permission.USERS_READ, two_factor_roles=required
        )

    assert (await check(frozenset())).allowed is True
    before = await check(frozenset({Role.MANAGER}))
    assert before.allowed is False and any("twoFactorEnroll" in r for r in before.reasons)
    await enrolled(api, token, clock)
    after = await check(frozenset({Role.MANAGER}))
    assert after.allowed is True and any("second factor" in r for r in after.reasons)
