"""Personal access tokens: shown once, stored hashed, last use recorded, revocable."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from alumnet.persistence.models import PersonalAccessToken
from tests.conftest import PASSWORD, Api

CREATE = """mutation($i: PersonalAccessTokenCreateInput!) {
  personalAccessTokenCreate(input: $i) {
    secret token { id name tokenPrefix active lastUsedAt expiresAt user { email } }
    userErrors { field code message }
  }
}"""
REVOKE = """mutation($id: ID!) {
  personalAccessTokenRevoke(input: {id: $id}) { token { active revokedAt } userErrors { code } }
}"""


async def test_create_use_and_revoke(api: Api) -> None:
    _, token = await api.create_user("script@example.org", ["MANAGER"])
    body = (await api.gql(CREATE, {"i": {"name": "nightly import"}}, token=token))["data"]
    created = body["personalAccessTokenCreate"]
    secret = created["secret"]
    assert secret.startswith("alm_pat_") and created["token"]["tokenPrefix"] == secret[:12]
    assert created["token"]["active"] is True

    # Only a hash is stored.
    async with api.app.state.runtime.database.connect() as conn:
        stored = (await conn.execute(select(PersonalAccessToken.token_hash))).scalars().all()
    assert stored == [hashlib.sha256(secret.encode()).hexdigest()]

    viewer = await api.gql(
        "{ viewer { email personalAccessTokens { edges { node { lastUsedAt } } } } }", token=secret
    )
    assert viewer["data"]["viewer"]["email"] == "script@example.org"
    assert viewer["data"]["viewer"]["personalAccessTokens"]["edges"][0]["node"]["lastUsedAt"]

    revoked = (await api.gql(REVOKE, {"id": created["token"]["id"]}, token=token))["data"]
    assert revoked["personalAccessTokenRevoke"]["token"]["active"] is False
    assert (await api.post("{ viewer { id } }", token=secret)).status_code == 401


async def test_expiry_in_the_past_is_refused_and_expired_tokens_fail(api: Api) -> None:
    _, token = await api.create_user("script@example.org", ["MANAGER"])
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    body = (await api.gql(CREATE, {"i": {"name": "x", "expiresAt": past}}, token=token))["data"]
    assert body["personalAccessTokenCreate"]["userErrors"][0]["code"] == "EXPIRY_IN_PAST"
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    body = (await api.gql(CREATE, {"i": {"name": "x", "expiresAt": soon}}, token=token))["data"]
    secret = body["personalAccessTokenCreate"]["secret"]
    assert (await api.post("{ viewer { id } }", token=secret)).status_code == 200
    await asyncio.sleep(1.2)
    assert (await api.post("{ viewer { id } }", token=secret)).status_code == 401


async def test_nobody_sees_or_revokes_another_users_tokens(api: Api) -> None:
    _, owner = await api.create_user("owner@example.org", ["MENTOR"])
    _, other = await api.create_user("other@example.org", ["MENTOR"])
    _, manager = await api.create_user("manager@example.org", ["MANAGER"])
    created = (await api.gql(CREATE, {"i": {"name": "mine"}}, token=owner))["data"]
    token_id = created["personalAccessTokenCreate"]["token"]["id"]
    for intruder in (other, manager):
        node = await api.gql(
            "query($id: ID!) { node(id: $id) { id } }", {"id": token_id}, token=intruder
        )
        assert node["data"]["node"] is None
        body = (await api.gql(REVOKE, {"id": token_id}, token=intruder))["data"]
        assert body["personalAccessTokenRevoke"]["userErrors"] == [{"code": "NOT_FOUND"}]
    node = await api.gql(
        "query($id: ID!) { node(id: $id) { ... on PersonalAccessToken { name } } }",
        {"id": token_id},
        token=owner,
    )
    assert node["data"]["node"] == {"name": "mine"}


async def test_cli_creates_a_token_for_an_admin(api: Api) -> None:
    from tests.test_cli import alumnet

    await api.create_user("admin@example.org", ["ADMIN"])
    result = await asyncio.to_thread(
        alumnet, api.settings, "token", "create", "--email", "admin@example.org",
        "--name", "ci", "--expires-in-days", "30",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    body = await api.gql("{ viewer { email roles } }", token=secret)
    assert body["data"]["viewer"] == {"email": "admin@example.org", "roles": ["ADMIN"]}
    missing = await asyncio.to_thread(
        alumnet, api.settings, "token", "create", "--email", "nobody@example.org"
    )
    assert missing.returncode == 1
    assert "NOT_FOUND" in missing.stderr


async def _age_sessions(api: Api, email: str, minutes: int = 60) -> None:
    """As if the sign-in behind a (stolen) access token happened ``minutes`` ago."""
    from alumnet.persistence.models import Session, User

    async with api.app.state.runtime.database.session() as session:
        user_id = select(User.id).where(User.email_lower == email).scalar_subquery()
        await session.execute(
            Session.__table__.update()
            .where(Session.user_id == user_id)
            .values(created_at=datetime.now(UTC) - timedelta(minutes=minutes))
        )
        await session.commit()


async def test_a_stolen_access_token_cannot_mint_a_token(api: Api) -> None:
    """An hour after sign-in, an access token alone mints nothing: the password is asked,
    and wrong guesses count towards the account's sign-in limit."""
    _, token = await api.create_user("victim@example.org", ["MANAGER"])
    await _age_sessions(api, "victim@example.org")
    refused = (await api.gql(CREATE, {"i": {"name": "x"}}, token=token))["data"]
    assert refused["personalAccessTokenCreate"]["userErrors"][0]["code"] == "PASSWORD_REQUIRED"
    wrong = {"name": "x", "password": "a wrong guess"}
    guessed = (await api.gql(CREATE, {"i": wrong}, token=token))["data"]
    errors = guessed["personalAccessTokenCreate"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        (["input", "password"], "INVALID_PASSWORD")
    ]
    made = await api.gql(CREATE, {"i": {"name": "x", "password": PASSWORD}}, token=token)
    created = made["data"]["personalAccessTokenCreate"]
    assert created["userErrors"] == [] and created["secret"]
    # A token cannot make tokens either, without the password.
    admin_scoped = {"name": "x", "scope": "ADMIN", "password": PASSWORD}
    pat = await api.gql(CREATE, {"i": admin_scoped}, token=token)
    secret = pat["data"]["personalAccessTokenCreate"]["secret"]
    again = (await api.gql(CREATE, {"i": {"name": "y"}}, token=secret))["data"]
    assert again["personalAccessTokenCreate"]["userErrors"][0]["code"] == "PASSWORD_REQUIRED"


async def test_tokens_expire_in_90_days_by_default_and_within_a_year(api: Api) -> None:
    _, token = await api.create_user("script@example.org", ["MANAGER"])
    made = (await api.gql(CREATE, {"i": {"name": "x"}}, token=token))["data"]
    expires = datetime.fromisoformat(made["personalAccessTokenCreate"]["token"]["expiresAt"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)
    far = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    body = (await api.gql(CREATE, {"i": {"name": "x", "expiresAt": far}}, token=token))["data"]
    assert body["personalAccessTokenCreate"]["userErrors"][0]["code"] == "INVALID"


async def test_a_token_carries_only_its_scope(api: Api) -> None:
    """READ reads; WRITE writes, without administering; ADMIN does what its owner may."""
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    secrets = {}
    for scope in ("READ", "WRITE", "ADMIN"):
        made = await api.gql(CREATE, {"i": {"name": scope, "scope": scope}}, token=admin)
        secrets[scope] = made["data"]["personalAccessTokenCreate"]["secret"]
    new_user = """mutation($e: String!) { userCreate(input: {email: $e, name: "New",
      roles: [STUDENT]}) { user { id } userErrors { code } } }"""
    profile = """mutation { profileUpdate(input: {headline: "Hello"}) { userErrors { code } } }"""
    # Reading works with every scope.
    for scope, secret in secrets.items():
        body = await api.gql("{ users(first: 5) { totalCount } }", token=secret)
        assert body["data"]["users"]["totalCount"] == 1, scope
    read_only = await api.gql(profile, token=secrets["READ"])
    assert read_only["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert read_only["data"] is None
    assert (await api.gql(profile, token=secrets["WRITE"]))["data"]["profileUpdate"] == {
        "userErrors": []
    }
    denied = await api.gql(new_user, {"e": "a@example.org"}, token=secrets["WRITE"])
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    audit = await api.gql("{ auditEvents(first: 1) { totalCount } }", token=secrets["WRITE"])
    assert audit["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    made = await api.gql(new_user, {"e": "b@example.org"}, token=secrets["ADMIN"])
    assert made["data"]["userCreate"]["userErrors"] == []
    listed = await api.gql(
        "{ viewer { personalAccessTokens { edges { node { name scope lastUsedAt } } } } }",
        token=admin,
    )
    nodes = [e["node"] for e in listed["data"]["viewer"]["personalAccessTokens"]["edges"]]
    assert {n["name"]: n["scope"] for n in nodes} == {
        "READ": "READ",
        "WRITE": "WRITE",
        "ADMIN": "ADMIN",
    }
    assert all(n["lastUsedAt"] for n in nodes)


CHANGE = """mutation($c: String!, $n: String!) { passwordChange(input:
  {currentPassword: $c, newPassword: $n}) { changed userErrors { field code } } }"""
SIGN_OUT_EVERYWHERE = "mutation { tokenRevoke(input: {everywhere: true}) { revoked } }"


async def test_what_ends_sessions_revokes_tokens_and_tells_the_owner(api: Api) -> None:
    """A password reset, a password change and signing out everywhere each revoke every
    personal access token, and the owner is e-mailed."""
    from tests.identity.test_registration import RESET, RESET_REQUEST, token_in

    _, token = await api.create_user("owner@example.org", ["MENTOR"])

    async def mint() -> str:
        made = await api.gql(CREATE, {"i": {"name": "script"}}, token=token)
        return str(made["data"]["personalAccessTokenCreate"]["secret"])

    async def told() -> int:
        await api.run_jobs()
        return sum("stopped working" in m for m in api.mailbox.to("owner@example.org"))

    # A password change: other sessions end, this one goes on, the token stops.
    secret, other = await mint(), await api.sign_in("owner@example.org")
    wrong = await api.gql(CHANGE, {"c": "not it at all", "n": "a new passphrase"}, token=token)
    assert wrong["data"]["passwordChange"]["userErrors"] == [
        {"field": ["input", "currentPassword"], "code": "INVALID_PASSWORD"}
    ]
    assert (await api.post("{ viewer { id } }", token=secret)).status_code == 200
    changed = await api.gql(CHANGE, {"c": PASSWORD, "n": "a new passphrase"}, token=token)
    assert changed["data"]["passwordChange"] == {"changed": True, "userErrors": []}
    assert (await api.post("{ viewer { id } }", token=secret)).status_code == 401
    assert (await api.post("{ viewer { id } }", token=other)).status_code == 401
    assert (await api.post("{ viewer { id } }", token=token)).status_code == 200
    assert await told() == 1
    by_token = await api.gql(CHANGE, {"c": "a new passphrase", "n": "x" * 12}, token=await mint())
    assert by_token["data"]["passwordChange"]["userErrors"][0]["code"] == "SIGN_IN_REQUIRED"

    # Signing out everywhere.
    secret = await mint()
    assert (await api.gql(SIGN_OUT_EVERYWHERE, token=token))["data"]["tokenRevoke"]["revoked"]
    assert (await api.post("{ viewer { id } }", token=secret)).status_code == 401
    assert (await api.post("{ viewer { id } }", token=token)).status_code == 401
    assert await told() == 2

    # A password reset.
    token = await api.sign_in("owner@example.org", "a new passphrase")
    secret = await mint()
    await api.gql(RESET_REQUEST, {"e": "owner@example.org"})
    await api.run_jobs()
    reset_token = token_in(api.mailbox.to("owner@example.org")[-1])
    await api.gql(RESET, {"t": reset_token, "p": "yet another passphrase"})
    assert (await api.post("{ viewer { id } }", token=secret)).status_code == 401
    assert await told() == 3


async def test_a_token_made_for_someone_else_is_theirs_to_know_and_ends_with_its_maker(
    api: Api,
) -> None:
    """A user manager may make a READ or WRITE token for someone: its owner is told, and it
    stops when the maker's own tokens do (their password changed)."""
    mentor_id, _ = await api.create_user("mentor@example.org", ["MENTOR"])
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    for_them = {"name": "sync", "scope": "WRITE", "userId": mentor_id}
    made = (await api.gql(CREATE, {"i": for_them}, token=admin))["data"]
    secret = made["personalAccessTokenCreate"]["secret"]
    assert made["personalAccessTokenCreate"]["token"]["user"]["email"] == "mentor@example.org"
    too_strong = await api.gql(CREATE, {"i": {**for_them, "scope": "ADMIN"}}, token=admin)
    assert too_strong["data"]["personalAccessTokenCreate"]["userErrors"][0]["field"] == [
        "input",
        "scope",
    ]
    await api.run_jobs()
    assert any("made a personal access token" in m for m in api.mailbox.to("mentor@example.org"))
    changed = await api.gql(CHANGE, {"c": PASSWORD, "n": "the admin's new phrase"}, token=admin)
    assert changed["data"]["passwordChange"]["changed"] is True
    assert (await api.post("{ viewer { id } }", token=secret)).status_code == 401
    await api.run_jobs()
    assert any("who made them for you" in m for m in api.mailbox.to("mentor@example.org"))
