"""Personal access tokens: shown once, stored hashed, last use recorded, revocable."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from alumnet.persistence.models import PersonalAccessToken
from tests.conftest import Api, env_for

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
    await api.create_user("admin@example.org", ["ADMIN"])
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "alumnet.cli",
            "token",
            "create",
            "--email",
            "admin@example.org",
            "--name",
            "ci",
            "--expires-in-days",
            "30",
        ],
        env=env_for(api.settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    body = await api.gql("{ viewer { email roles } }", token=secret)
    assert body["data"]["viewer"] == {"email": "admin@example.org", "roles": ["ADMIN"]}
    missing = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "alumnet.cli", "token", "create", "--email", "nobody@example.org"],
        env=env_for(api.settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1
    assert "NOT_FOUND" in missing.stderr
