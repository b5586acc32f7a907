"""The per-process cache of checked credentials: no SQL to know who asks, and every change
that ends or narrows a credential (sign-out, refresh-token reuse, suspension, roles,
password, merge, a revoked personal access token) stops it at once here and within a
second on every other process."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from alumnet.domain.identity import credential_cache
from alumnet.domain.identity.auth import Authenticated
from alumnet.domain.identity.credential_cache import CredentialCache, Entry
from alumnet.domain.identity.permissions import ANONYMOUS
from alumnet.persistence.bus import InProcessEventBus
from tests.conftest import PASSWORD, Api, _serve, app_api, post_to, token_at

VIEWER = "{ viewer { id name email roles } }"


@dataclass
class Following:
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def cached(api: Api) -> AsyncIterator[Api]:
    """An app with the cache on, following its bus as `alumnet serve` does."""
    async for made in app_api(api, auth_cache_seconds=60.0):
        cache = made.app.state.runtime.credentials
        following = Following(asyncio.create_task(cache.follow()))
        made.following = following  # type: ignore[attr-defined]
        if cache.bus.shared:
            for _ in range(100):
                if cache.following():
                    break
                await asyncio.sleep(0.05)
            assert cache.following()
        yield made
        await following.stop()


async def _statements(api: Api, token: str) -> tuple[int, httpx.Response]:
    response = await api.post(VIEWER, token=token)
    if response.status_code != 200:
        return -1, response
    return int(response.json()["extensions"]["timing"]["sqlStatements"]), response


async def test_a_checked_credential_costs_no_sql(cached: Api) -> None:
    api = cached
    _, token = await api.create_user("ada@example.org", ["STUDENT"], name="Ada")
    first, response = await _statements(api, token)
    assert first == 1, response.text
    again, response = await _statements(api, token)
    assert again == 0
    assert response.json()["data"]["viewer"]["email"] == "ada@example.org"
    # A name changed by an admin is seen at once (the user's row changed).
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    me = response.json()["data"]["viewer"]["id"]
    changed = await api.gql(
        'mutation($i: ID!) { userUpdate(input: {id: $i, name: "Ada L."}) { userErrors { code } } }',
        {"i": me},
        admin,
    )
    assert changed["data"]["userUpdate"]["userErrors"] == []
    assert (await api.gql(VIEWER, token=token))["data"]["viewer"]["name"] == "Ada L."


async def test_every_change_to_a_credential_ends_it_at_once(cached: Api) -> None:
    api = cached
    admin_id, admin = await api.create_user("admin@example.org", ["ADMIN"])

    async def warm(token: str) -> None:
        await api.post(VIEWER, token=token)
        assert (await _statements(api, token))[0] == 0  # cached

    # Signing out.
    _, token = await api.create_user("a@example.org", ["STUDENT"])
    await warm(token)
    await api.gql("mutation { tokenRevoke(input: {}) { userErrors { code } } }", token=token)
    assert (await api.post(VIEWER, token=token)).status_code == 401

    # Suspension, by an admin.
    user_id, token = await api.create_user("b@example.org", ["STUDENT"])
    await warm(token)
    suspend = "mutation($i: ID!) { userSuspend(input: {id: $i}) { userErrors { code } } }"
    assert (await api.gql(suspend, {"i": user_id}, admin))["data"]["userSuspend"][
        "userErrors"
    ] == []
    assert (await api.post(VIEWER, token=token)).status_code == 401

    # Roles changed: the next request has the new ones.
    user_id, token = await api.create_user("c@example.org", ["STUDENT"])
    await warm(token)
    roles = """mutation($i: ID!) { userRolesSet(input: {id: $i, roles: [ALUMNUS]}) {
      userErrors { code } } }"""
    done = await api.gql(roles, {"i": user_id}, admin)
    assert done["data"]["userRolesSet"]["userErrors"] == []
    assert (await api.gql(VIEWER, token=token))["data"]["viewer"]["roles"] == ["ALUMNUS"]

    # A password change ends the other sessions.
    _, token = await api.create_user("d@example.org", ["STUDENT"])
    other = await api.sign_in("d@example.org")
    await warm(other)
    change = """mutation($c: String!) { passwordChange(input: {currentPassword: $c,
      newPassword: "another long password"}) { userErrors { code } } }"""
    assert (await api.gql(change, {"c": PASSWORD}, token))["data"]["passwordChange"][
        "userErrors"
    ] == []
    assert (await api.post(VIEWER, token=other)).status_code == 401

    # A refresh token used twice ends its session, access token included.
    signed = await api.gql(
        """mutation { tokenCreate(input: {email: "e@example.org", password: "x"}) {
        accessToken } }"""
    )
    assert signed["data"]["tokenCreate"]["accessToken"] is None
    await api.create_user("e@example.org", ["STUDENT"])
    pair = (
        await api.gql(
            """mutation($p: String!) { tokenCreate(input: {email: "e@example.org", password: $p})
            { accessToken refreshToken } }""",
            {"p": PASSWORD},
        )
    )["data"]["tokenCreate"]
    await warm(pair["accessToken"])
    refresh = """mutation($r: String!) { tokenRefresh(input: {refreshToken: $r}) {
      accessToken userErrors { code } } }"""
    assert (await api.gql(refresh, {"r": pair["refreshToken"]}))["data"]["tokenRefresh"][
        "accessToken"
    ]
    reused = await api.gql(refresh, {"r": pair["refreshToken"]})
    assert reused["data"]["tokenRefresh"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    assert (await api.post(VIEWER, token=pair["accessToken"])).status_code == 401

    # A personal access token revoked.
    made = await api.gql(
        """mutation { personalAccessTokenCreate(input: {name: "script"}) {
        secret token { id } } }""",
        token=admin,
    )
    secret = made["data"]["personalAccessTokenCreate"]["secret"]
    await warm(secret)
    revoke = (
        "mutation($i: ID!) { personalAccessTokenRevoke(input: {id: $i}) { userErrors { code } } }"
    )
    token_id = made["data"]["personalAccessTokenCreate"]["token"]["id"]
    assert (await api.gql(revoke, {"i": token_id}, admin))["data"]["personalAccessTokenRevoke"][
        "userErrors"
    ] == []
    assert (await api.post(VIEWER, token=secret)).status_code == 401
    assert (await api.post(VIEWER, token=admin)).status_code == 200
    assert admin_id


async def test_a_silent_bus_leaves_a_short_maximum_age(cached: Api) -> None:
    api = cached
    cache = api.app.state.runtime.credentials
    _, token = await api.create_user("ada@example.org", ["STUDENT"])
    await api.post(VIEWER, token=token)
    assert (await _statements(api, token))[0] == 0
    # The bus goes quiet (as when Redis is unreachable; without Redis it is never heard):
    # nothing heard for over a second.
    await api.following.stop()  # type: ignore[attr-defined]
    cache._heard = time.monotonic() - credential_cache.SILENCE_SECONDS - 0.5
    assert not cache.following()
    ready = (await api.client.get("/readyz")).json()
    assert "1 s at most" in ready["checks"]["credentialCache"], ready
    # An entry younger than the fallback's maximum age (1 s) is still used; an older one
    # is read again.
    (entry,) = cache._entries.values()
    entry.stored = time.monotonic() - 0.5
    assert (await _statements(api, token))[0] == 0
    entry.stored = time.monotonic() - 1.5
    assert (await _statements(api, token))[0] == 1


def test_a_lost_message_is_noticed_by_its_number() -> None:
    """A listener that sees a sender's numbers jump forgets everything it holds; in order,
    only what a change names."""
    bus = InProcessEventBus()
    bus.shared = True  # type: ignore[misc]
    cache = CredentialCache(bus, 60.0, 1.0)

    def hold(*users: int) -> None:
        for user in users:
            cache.put(f"t{user}", Entry(Authenticated(ANONYMOUS), user, time.monotonic()),
                      cache.generation)  # fmt: skip

    cache._hear({"from": "b", "seq": 1, "beat": True})
    hold(1, 2)
    cache._hear({"from": "b", "seq": 2, "users": [1]})
    assert len(cache) == 1  # user 2's entry stays
    cache._hear({"from": "b", "seq": 3, "beat": True})
    assert len(cache) == 1
    cache._hear({"from": "b", "seq": 5, "beat": True})  # number 4 never arrived
    assert len(cache) == 0
    hold(3)
    cache._hear({"from": "c", "seq": 9, "beat": True})  # a sender heard first mid-way
    assert len(cache) == 0
    hold(4)
    cache._hear({"from": "b", "seq": 6, "all": True})
    assert len(cache) == 0


async def test_a_change_that_cannot_be_published_is_tried_again() -> None:
    class Flaky(InProcessEventBus):
        shared = True
        failures = 2
        sent: list[dict[str, Any]] = []

        async def publish(self, channel: str, payload: dict[str, Any]) -> None:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("down")
            self.sent.append(payload)

    bus = Flaky()
    cache = CredentialCache(bus, 60.0, 1.0)
    cache.committed(frozenset({7}))
    await cache.flush()
    # Two numbers spent on the failures (listeners notice the gap); what was lost becomes
    # a change to everyone; a process that does not beat sends one beat after its change.
    assert [(m.get("all"), m.get("beat"), m["seq"]) for m in bus.sent] == [
        (True, None, 3),
        (None, False, 4),
    ]


def test_a_heartbeating_process_gone_quiet_shortens_trust() -> None:
    bus = InProcessEventBus()
    bus.shared = True  # type: ignore[misc]
    cache = CredentialCache(bus, 60.0, 1.0)
    cache._hear({"from": "me-too", "seq": 1, "beat": True})
    cache._hear({"from": "api-2", "seq": 1, "beat": True})
    cache._hear("not ours")  # ignored
    assert cache.following()
    # api-2 stops beating (crashed, or cannot publish): trust falls to the fallback age.
    cache._heard = time.monotonic()
    cache._beaters["api-2"] = time.monotonic() - 2
    cache._quiet_checked = 0.0
    assert not cache.following() and "went quiet" in cache.status()
    # Back, with its numbers in order: everything held meanwhile is forgotten anyway.
    cache.put("t", Entry(Authenticated(ANONYMOUS), 1, time.monotonic()), cache.generation)
    cache._hear({"from": "api-2", "seq": 2, "beat": True})
    assert len(cache) == 0 and cache.following()
    # A process that stops says goodbye: its silence then means nothing.
    cache._hear({"from": "api-2", "seq": 3, "bye": True})
    cache._quiet_checked = 0.0
    assert cache.following()


def test_an_answer_read_before_a_change_is_not_kept() -> None:
    """A request that read a credential, then saw a change to its user commit before
    storing what it read, must not store it; a change to someone else does not matter."""
    cache = CredentialCache(InProcessEventBus(), 60.0, 1.0)
    generation = cache.generation
    cache.invalidate(frozenset({7}))  # a change to user 7 commits meanwhile
    entry = Entry(Authenticated(ANONYMOUS), 7, time.monotonic())
    cache.put("token", entry, generation)
    assert len(cache) == 0
    other = Entry(Authenticated(ANONYMOUS), 8, time.monotonic())
    cache.put("other", other, generation)
    assert len(cache) == 1
    cache.invalidate(None)
    cache.put("other", other, generation + 1)
    assert len(cache) == 0
    cache.put("token", entry, cache.generation)
    assert len(cache) == 1
    cache.invalidate(frozenset({8}))
    assert len(cache) == 1
    cache.invalidate(frozenset({7}))
    assert len(cache) == 0


async def _refused_within(base: str, token: str, seconds: float) -> float:
    """How long after now the server at `base` starts refusing `token` (at most `seconds`)."""
    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        while time.monotonic() - started < seconds:
            response = await client.post(
                f"http://{base}/graphql",
                json={"query": "{ viewer { id } }"},
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.status_code == 401:
                return time.monotonic() - started
            await asyncio.sleep(0.02)
    return float("inf")


async def _hits(base: str, api: Api) -> float:
    async with httpx.AsyncClient() as client:
        text = (
            await client.get(
                f"http://{base}/metrics",
                headers={"Authorization": f"Bearer {api.settings.metrics_token}"},
            )
        ).text
    for line in text.splitlines():
        if line.startswith('alumnet_auth_cache_lookups_total{outcome="hit"}'):
            return float(line.split()[-1])
    return 0.0


async def test_sign_out_and_suspension_reach_another_process_within_a_second(api: Api) -> None:
    if not api.settings.redis_url:
        pytest.skip("API processes share changes through Redis; the embedded default has one")
    admin_id, _ = await api.create_user("admin@example.org", ["ADMIN"])
    student_id, _ = await api.create_user("s@example.org", ["STUDENT"])
    first, base_a = _serve(api, subprocess.DEVNULL)
    second, base_b = _serve(api, subprocess.DEVNULL)
    try:
        admin = await token_at(base_a, "admin@example.org")
        student = await token_at(base_a, "s@example.org")
        other = await token_at(base_a, "s@example.org")
        # Both of the student's tokens are checked, then cached, by the second process.
        before = await _hits(base_b, api)
        for token in (student, other, student, other):
            body = await post_to(base_b, "{ viewer { id } }", token=token)
            assert body["data"]["viewer"]["id"] == student_id
        assert await _hits(base_b, api) >= before + 2
        # Signed out on the first process: the second refuses that token within a second.
        signed_out = await post_to(
            base_a, "mutation { tokenRevoke(input: {}) { userErrors { code } } }", token=student
        )
        assert signed_out["data"]["tokenRevoke"]["userErrors"] == []
        assert await _refused_within(base_b, student, 3.0) < 1.0
        body: dict[str, Any] = await post_to(base_b, "{ viewer { id } }", token=other)
        assert body["data"]["viewer"]["id"] == student_id  # the other session still works
        # Suspended on the first process: refused on the second within a second.
        suspended = await post_to(
            base_a,
            "mutation($i: ID!) { userSuspend(input: {id: $i}) { userErrors { code } } }",
            {"i": student_id},
            token=admin,
        )
        assert suspended["data"]["userSuspend"]["userErrors"] == []
        assert await _refused_within(base_b, other, 3.0) < 1.0
        assert admin_id
    finally:
        for process in (first, second):
            process.terminate()
            process.wait(timeout=10)
