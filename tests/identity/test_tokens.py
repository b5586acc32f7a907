"""Sign-in, refresh rotation with reuse detection, sign-out, and bad tokens."""

from __future__ import annotations

import time
from typing import Any

import jwt

from tests.conftest import PASSWORD, Api

SIGN_IN = """mutation($e: String!, $p: String!) {
  tokenCreate(input: {email: $e, password: $p}) {
    accessToken refreshToken accessTokenExpiresAt user { email }
    userErrors { field code message }
  }
}"""
REFRESH = """mutation($t: String!) {
  tokenRefresh(input: {refreshToken: $t}) {
    accessToken refreshToken userErrors { code message }
  }
}"""
VIEWER = "{ viewer { id email name roles permissions emailVerified } }"


async def sign_in(api: Api, email: str, password: str) -> dict[str, Any]:
    body = await api.gql(SIGN_IN, {"e": email, "p": password})
    return body["data"]["tokenCreate"]  # type: ignore[no-any-return]


async def test_sign_in_returns_tokens_and_viewer(api: Api) -> None:
    await api.create_user("ada@example.org", ["ADMIN"], name="Ada")
    payload = await sign_in(api, "ADA@Example.org", PASSWORD)
    assert payload["userErrors"] == []
    assert payload["refreshToken"].startswith("alm_rt_")
    claims = jwt.decode(payload["accessToken"], options={"verify_signature": False})
    assert {"iss", "aud", "exp", "iat", "sub", "jti"} <= set(claims)
    body = await api.gql(VIEWER, token=payload["accessToken"])
    viewer = body["data"]["viewer"]
    assert viewer["email"] == "ada@example.org"
    assert viewer["roles"] == ["ADMIN"]
    assert "USERS_MANAGE" in viewer["permissions"]


async def test_viewer_is_null_without_token(api: Api) -> None:
    body = await api.gql(VIEWER)
    assert body == {"data": {"viewer": None}, "extensions": body["extensions"]}


async def test_wrong_email_and_wrong_password_look_the_same(api: Api) -> None:
    await api.create_user("ada@example.org", ["ADMIN"])
    wrong_password = await sign_in(api, "ada@example.org", "not the password")
    wrong_email = await sign_in(api, "nobody@example.org", PASSWORD)
    assert wrong_password["accessToken"] is None
    assert wrong_password["userErrors"] == wrong_email["userErrors"]
    assert wrong_email["userErrors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_guessing_is_slowed_but_nobody_is_locked_out(api: Api) -> None:
    """Five wrong passwords from one address stop that address (for this account) and
    warn the owner; the right password from the owner's usual address still works, and
    every other address waits longer and longer between attempts."""
    await api.create_user("ada@example.org", ["ADMIN"])
    attacker, second, owner = (api.from_address(ip) for ip in ("198.51.100.1", "198.51.100.2",
                                                               "192.0.2.10"))  # fmt: skip
    limit = api.settings.signin_max_failures
    assert (await sign_in(owner, "ada@example.org", PASSWORD))["accessToken"]  # from home
    for _ in range(limit):
        assert (await sign_in(attacker, "ada@example.org", "wrong password!"))["userErrors"]
    # That address is stopped for this account, even with the right password...
    stopped = await sign_in(attacker, "ada@example.org", PASSWORD)
    assert stopped["accessToken"] is None and stopped["userErrors"][0]["code"] == "THROTTLED"
    # ...the owner is not.
    assert (await sign_in(owner, "ada@example.org", PASSWORD))["accessToken"]
    # Another address, new to this account, waits too: before any password is checked.
    slowed = await sign_in(second, "ada@example.org", PASSWORD)
    assert slowed["userErrors"][0]["code"] == "THROTTLED"
    assert (await sign_in(owner, "ada@example.org", PASSWORD))["accessToken"]
    await api.run_jobs()
    warned = [m for m in api.mailbox.to("ada@example.org") if "trying to sign in" in m]
    assert len(warned) == 1


async def test_refresh_rotates_and_reuse_revokes_the_family(api: Api) -> None:
    await api.create_user("ada@example.org", ["STUDENT"])
    first = await sign_in(api, "ada@example.org", PASSWORD)
    second = (await api.gql(REFRESH, {"t": first["refreshToken"]}))["data"]["tokenRefresh"]
    assert second["userErrors"] == []
    assert second["refreshToken"] != first["refreshToken"]
    assert (await api.gql(VIEWER, token=second["accessToken"]))["data"]["viewer"] is not None

    replay = (await api.gql(REFRESH, {"t": first["refreshToken"]}))["data"]["tokenRefresh"]
    assert replay["accessToken"] is None
    assert replay["userErrors"][0]["code"] == "INVALID_TOKEN"
    # The whole family is gone: the newest refresh token and its access token too.
    after = (await api.gql(REFRESH, {"t": second["refreshToken"]}))["data"]["tokenRefresh"]
    assert after["userErrors"][0]["code"] == "INVALID_TOKEN"
    response = await api.post(VIEWER, token=second["accessToken"])
    assert response.status_code == 401


async def test_revoke_signs_out_at_once(api: Api) -> None:
    await api.create_user("ada@example.org", ["STUDENT"])
    tokens = await sign_in(api, "ada@example.org", PASSWORD)
    body = await api.gql(
        "mutation { tokenRevoke(input: {}) { revoked userErrors { code } } }",
        token=tokens["accessToken"],
    )
    assert body["data"]["tokenRevoke"] == {"revoked": True, "userErrors": []}
    assert (await api.post(VIEWER, token=tokens["accessToken"])).status_code == 401
    again = (await api.gql(REFRESH, {"t": tokens["refreshToken"]}))["data"]["tokenRefresh"]
    assert again["userErrors"][0]["code"] == "INVALID_TOKEN"


async def test_bad_tokens_get_401_with_a_clear_error(api: Api) -> None:
    await api.create_user("ada@example.org", ["STUDENT"])
    good = (await sign_in(api, "ada@example.org", PASSWORD))["accessToken"]
    claims = jwt.decode(good, options={"verify_signature": False})
    s = api.settings
    expired = jwt.encode({**claims, "exp": int(time.time()) - 60}, s.secret_key, algorithm="HS256")
    forged = jwt.encode(claims, "another-secret-of-sufficient-length!!", algorithm="HS256")
    other_alg = jwt.encode(claims, s.secret_key, algorithm="HS512")
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    wrong_aud = jwt.encode({**claims, "aud": "elsewhere"}, s.secret_key, algorithm="HS256")
    for token in (expired, forged, other_alg, unsigned, wrong_aud, "garbage", good + "x"):
        response = await api.post(VIEWER, token=token)
        assert response.status_code == 401, token
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
    response = await api.post(VIEWER, token=expired)
    assert "expired" in response.json()["errors"][0]["message"]
    response = await api.post(VIEWER, headers={"Authorization": "Basic abc"})
    assert response.status_code == 401


async def test_suspended_users_tokens_stop_working_at_once(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    student_id, student = await api.create_user("stu@example.org", ["STUDENT"])
    pat = await api.gql(
        'mutation { personalAccessTokenCreate(input: {name: "script"}) { secret } }',
        token=student,
    )
    secret = pat["data"]["personalAccessTokenCreate"]["secret"]
    assert (await api.gql(VIEWER, token=secret))["data"]["viewer"]["email"] == "stu@example.org"
    body = await api.gql(
        'mutation($id: ID!) { userSuspend(input: {id: $id, reason: "cheating"}) '
        "{ user { status } userErrors { code } } }",
        {"id": student_id},
        token=admin,
    )
    assert body["data"]["userSuspend"] == {"user": {"status": "SUSPENDED"}, "userErrors": []}
    assert (await api.post(VIEWER, token=student)).status_code == 401
    assert (await api.post(VIEWER, token=secret)).status_code == 401
    assert (await sign_in(api, "stu@example.org", PASSWORD))["userErrors"][0]["code"] == (
        "ACCOUNT_SUSPENDED"
    )


async def test_viewer_costs_one_statement(api: Api) -> None:
    await api.create_user("ada@example.org", ["ADMIN", "MENTOR"])
    token = (await sign_in(api, "ada@example.org", PASSWORD))["accessToken"]
    count, body = await api.sql_count(VIEWER, token=token)
    assert body["data"]["viewer"]["roles"] == ["ADMIN", "MENTOR"]
    assert count == 1  # authentication reads everything `viewer` needs


async def test_a_fresh_address_every_time_does_not_escape_the_slow_down(api: Api) -> None:
    """Addresses of one IPv6 /64 count as one; past the account's limit, only the
    addresses it signed in from lately are answered at once."""
    await api.create_user("ada@example.org", ["ADMIN"])
    home = api.from_address("192.0.2.10")
    assert (await sign_in(home, "ada@example.org", PASSWORD))["accessToken"]
    limit = api.settings.signin_max_failures
    for i in range(limit):  # a fresh address of one /64 each time
        guess = await sign_in(api.from_address(f"2001:db8::{i + 1}"), "ada@example.org", "no")
        assert guess["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    same_net = await sign_in(api.from_address("2001:db8::99"), "ada@example.org", "no!")
    assert same_net["userErrors"][0]["code"] == "THROTTLED"
    # The account is being guessed at: a brand new network waits, before any checking...
    elsewhere = await sign_in(api.from_address("2001:db8:1::1"), "ada@example.org", PASSWORD)
    assert elsewhere["userErrors"][0]["code"] == "THROTTLED"
    # ...while the owner at home signs in, even after a typo.
    assert (await sign_in(home, "ada@example.org", "a typo!"))["userErrors"]
    assert (await sign_in(home, "ada@example.org", PASSWORD))["accessToken"]


async def test_strangers_failures_do_not_stop_the_owner_confirming_who_they_are(
    api: Api,
) -> None:
    _, token = await api.create_user("ada@example.org", ["ADMIN"])
    stranger = api.from_address("198.51.100.7")
    for _ in range(api.settings.signin_max_failures + 2):
        await sign_in(stranger, "ada@example.org", "wrong password!")
    change = """mutation($c: String!, $n: String!) { passwordChange(input:
      {currentPassword: $c, newPassword: $n}) { changed userErrors { code } } }"""
    changed = await api.gql(change, {"c": PASSWORD, "n": "a fresh passphrase"}, token=token)
    assert changed["data"]["passwordChange"] == {"changed": True, "userErrors": []}
