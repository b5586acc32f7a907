"""The pages e-mailed links land on: /verify-email, /reset-password, /confirm-email.
Server-rendered forms, used once, refused when sent from elsewhere."""

from __future__ import annotations

import email
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from alumnet.persistence.models import OneTimeToken
from tests.conftest import Api, app_api
from tests.identity.test_registration import REGISTER, RESET_REQUEST

LINK = re.compile(r"(https?://\S+)/(verify-email|reset-password|confirm-email)\?token=(\S+)")
NEW_PASSWORD = "a brand new passphrase"


def link_in(mail: str) -> tuple[str, str, str]:
    message = email.message_from_string(mail)
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    found = LINK.search(part.get_payload(decode=True).decode())
    assert found, mail
    base, page, token = found.groups()
    return base, page, token


async def reset_link(api: Api, email: str) -> str:
    await api.gql(RESET_REQUEST, {"e": email})
    await api.run_jobs()
    base, page, token = link_in(api.mailbox.to(email)[-1])
    assert (base, page) == (api.settings.public_url, "reset-password")
    return token


async def test_the_verification_link_opens_a_page_that_confirms_once(api: Api) -> None:
    data = {"email": "nia@example.org", "name": "Nia Njeri", "password": "a fine passphrase",
            "role": "STUDENT"}  # fmt: skip
    await api.gql(REGISTER, {"i": data})
    await api.run_jobs()
    _, page, token = link_in(api.mailbox.to("nia@example.org")[0])
    assert page == "verify-email"
    shown = await api.client.get(f"/verify-email?token={token}")
    assert shown.status_code == 200 and '<form method="post"' in shown.text
    assert "no-store" in shown.headers["cache-control"]
    assert "script-src 'self'" in shown.headers["content-security-policy"]
    assert "<script" not in shown.text and "style=" not in shown.text
    done = await api.client.post("/verify-email", data={"token": token})
    assert done.status_code == 200 and "is confirmed" in done.text
    session = await api.sign_in("nia@example.org", "a fine passphrase")
    viewer = await api.gql("{ viewer { emailVerified } }", token=session)
    assert viewer["data"]["viewer"] == {"emailVerified": True}
    again = await api.client.get(f"/verify-email?token={token}")
    assert again.status_code == 410 and "already been used" in again.text
    reposted = await api.client.post("/verify-email", data={"token": token})
    assert reposted.status_code == 410 and "already been used" in reposted.text


async def test_the_reset_page_sets_the_password_once(api: Api) -> None:
    await api.create_user("ada@example.org", ["STUDENT"])
    old_session = await api.sign_in("ada@example.org")
    token = await reset_link(api, "ada@example.org")
    assert (await api.client.head(f"/reset-password?token={token}")).status_code == 200
    form = await api.client.get(f"/reset-password?token={token}")
    assert form.status_code == 200 and 'autocomplete="new-password"' in form.text
    # Two different passwords, then a weak one: asked again, nothing changed.
    differ = await api.client.post(
        "/reset-password", data={"token": token, "password": NEW_PASSWORD, "repeat": "other"}
    )
    assert differ.status_code == 200 and "not the same" in differ.text
    weak = await api.client.post(
        "/reset-password", data={"token": token, "password": "short", "repeat": "short"}
    )
    assert weak.status_code == 200 and "at least" in weak.text and 'name="token"' in weak.text
    await api.sign_in("ada@example.org")  # the old password still works
    done = await api.client.post(
        "/reset-password", data={"token": token, "password": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    )
    assert done.status_code == 200 and "password is saved" in done.text
    await api.sign_in("ada@example.org", NEW_PASSWORD)
    assert (await api.post("{ viewer { id } }", token=old_session)).status_code == 401
    used = await api.client.post(
        "/reset-password", data={"token": token, "password": "x" * 12, "repeat": "x" * 12}
    )
    assert used.status_code == 410 and "already been used" in used.text
    await api.sign_in("ada@example.org", NEW_PASSWORD)


async def test_forged_and_expired_links_get_the_same_answer(api: Api) -> None:
    await api.create_user("ada@example.org", ["STUDENT"])
    token = await reset_link(api, "ada@example.org")
    async with api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(OneTimeToken).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    expired = await api.client.get(f"/reset-password?token={token}")
    forged = await api.client.get("/reset-password?token=" + "A" * 43)
    empty = await api.client.get("/reset-password")
    assert expired.status_code == forged.status_code == empty.status_code == 400
    assert expired.text == forged.text == empty.text
    assert "not valid or has expired" in expired.text and "<form" not in expired.text
    posted = await api.client.post(
        "/reset-password", data={"token": token, "password": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    )
    assert posted.status_code == 400
    await api.sign_in("ada@example.org")  # unchanged


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"},
     {"Sec-Fetch-Site": "same-site", "Origin": "https://sub.testserver"}],
)  # fmt: skip
async def test_a_form_sent_from_another_site_changes_nothing(
    api: Api, headers: dict[str, str]
) -> None:
    await api.create_user("ada@example.org", ["STUDENT"])
    token = await reset_link(api, "ada@example.org")
    sent = await api.client.post(
        "/reset-password",
        data={"token": token, "password": NEW_PASSWORD, "repeat": NEW_PASSWORD},
        headers=headers,
    )
    assert sent.status_code == 403 and "its own page" in sent.text
    await api.sign_in("ada@example.org")  # unchanged, and the link still works
    assert (await api.client.get(f"/reset-password?token={token}")).status_code == 200


@pytest.fixture
async def with_frontend(api: Api) -> AsyncIterator[Api]:
    async for other in app_api(api, frontend_url="https://app.example.edu"):
        yield other


async def test_links_go_to_the_frontend_when_one_serves_them(with_frontend: Api) -> None:
    api = with_frontend
    await api.create_user("ada@example.org", ["STUDENT"])
    await api.gql(RESET_REQUEST, {"e": "ada@example.org"})
    await api.run_jobs()
    base, page, _ = link_in(api.mailbox.to("ada@example.org")[-1])
    assert (base, page) == ("https://app.example.edu", "reset-password")
