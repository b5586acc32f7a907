"""Self-registration, e-mail verification and password reset, through real e-mail."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD, Api

REGISTER = """mutation($i: UserRegisterInput!) {
  userRegister(input: $i) { accepted userErrors { field code message } }
}"""
VERIFY = (
    "mutation($t: String!) { emailVerify(input: {token: $t}) { verified userErrors { code } } }"
)
RESET_REQUEST = """mutation($e: String!) {
  passwordResetRequest(input: {email: $e}) { accepted userErrors { code } }
}"""
RESET = """mutation($t: String!, $p: String!) {
  passwordReset(input: {token: $t, password: $p}) { reset userErrors { field code message } }
}"""


def token_in(body: str) -> str:
    match = re.search(r"mutation:\s+(\S+)", body)
    assert match, body
    return match.group(1)


async def register(api: Api, email: str, role: str = "STUDENT", **extra: str) -> dict:
    data = {"email": email, "name": "Nia Njeri", "password": PASSWORD, "role": role, **extra}
    body = await api.gql(REGISTER, {"i": data})
    return body["data"]["userRegister"]  # type: ignore[no-any-return]


async def test_register_then_verify_by_email(api: Api) -> None:
    assert await register(api, "nia@example.org") == {"accepted": True, "userErrors": []}
    await api.run_jobs()
    [mail] = api.mailbox.to("nia@example.org")
    assert "Confirm your e-mail address" in mail
    token = await api.sign_in("nia@example.org")
    viewer = (await api.gql("{ viewer { emailVerified roles } }", token=token))["data"]["viewer"]
    assert viewer == {"emailVerified": False, "roles": ["STUDENT"]}

    verified = (await api.gql(VERIFY, {"t": token_in(mail)}))["data"]["emailVerify"]
    assert verified == {"verified": True, "userErrors": []}
    viewer = (await api.gql("{ viewer { emailVerified } }", token=token))["data"]["viewer"]
    assert viewer == {"emailVerified": True}
    again = (await api.gql(VERIFY, {"t": token_in(mail)}))["data"]["emailVerify"]
    assert again["userErrors"] == [{"code": "INVALID_TOKEN"}]


async def test_registering_a_taken_address_looks_the_same_and_warns_the_owner(api: Api) -> None:
    await api.create_user("taken@example.org", ["ALUMNUS"])
    assert await register(api, "TAKEN@example.org") == {"accepted": True, "userErrors": []}
    await api.run_jobs()
    [mail] = api.mailbox.to("taken@example.org")
    assert "already have one" in mail
    users = await api.gql(
        '{ users(filter: {search: "taken"}) { totalCount } }',
        token=(await api.create_user("admin@example.org", ["ADMIN"]))[1],
    )
    assert users["data"]["users"]["totalCount"] == 1


async def test_registration_validates_and_changes_nothing(api: Api) -> None:
    bad = await register(api, "not-an-address", role="ADMIN", password="short", name="x" * 201)
    codes = {(tuple(e["field"]), e["code"]) for e in bad["userErrors"]}
    assert codes == {
        (("input", "email"), "INVALID_EMAIL"),
        (("input", "name"), "TOO_LONG"),
        (("input", "password"), "PASSWORD_TOO_SHORT"),
        (("input", "role"), "ROLE_NOT_ALLOWED"),
    }
    assert bad["accepted"] is False
    await api.run_jobs()
    assert api.mailbox.messages == []


async def test_password_reset_never_reveals_whether_an_address_exists(api: Api) -> None:
    await api.create_user("ada@example.org", ["STUDENT"])
    known = (await api.gql(RESET_REQUEST, {"e": "ada@example.org"}))["data"]
    unknown = (await api.gql(RESET_REQUEST, {"e": "ghost@example.org"}))["data"]
    assert known == unknown == {"passwordResetRequest": {"accepted": True, "userErrors": []}}
    await api.run_jobs()
    assert api.mailbox.to("ghost@example.org") == []
    [mail] = api.mailbox.to("ada@example.org")
    token = token_in(mail)

    old_session = await api.sign_in("ada@example.org")
    weak = (await api.gql(RESET, {"t": token, "p": "short"}))["data"]["passwordReset"]
    assert weak["userErrors"][0]["code"] == "PASSWORD_TOO_SHORT"
    done = (await api.gql(RESET, {"t": token, "p": "a brand new passphrase"}))["data"]
    assert done["passwordReset"] == {"reset": True, "userErrors": []}
    # Single use, and every existing session is signed out.
    reuse = (await api.gql(RESET, {"t": token, "p": "another new passphrase"}))["data"]
    assert reuse["passwordReset"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    assert (await api.post("{ viewer { id } }", token=old_session)).status_code == 401
    await api.sign_in("ada@example.org", "a brand new passphrase")


async def test_forged_reset_token_is_refused(api: Api) -> None:
    body = (await api.gql(RESET, {"t": "' OR 1=1 --", "p": "a brand new passphrase"}))["data"]
    assert body["passwordReset"]["userErrors"][0]["code"] == "INVALID_TOKEN"


async def test_taken_addresses_cost_the_same_and_their_owners_are_told_once(api: Api) -> None:
    """Both paths hash the password (the time of an answer tells nothing), and 25 attempts
    with a taken address e-mail its owner once."""
    runtime = api.app.state.runtime
    hashed: list[str] = []
    hasher = runtime.hasher

    class Counting(type(hasher)):  # type: ignore[misc]
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            hashed.append("x")
            return str(super().hash(password, salt=salt))

    counting = Counting.from_parameters(hasher._parameters)
    await api.create_user("taken@example.org", ["ALUMNUS"])
    runtime.hasher = counting
    try:
        await register(api, "fresh@example.org")
        await register(api, "taken@example.org")
    finally:
        runtime.hasher = hasher
    assert len(hashed) == 2
    for i in range(24):  # from many addresses, as a flood would come
        attempt = await register(api.from_address(f"192.0.2.{i + 1}"), "taken@example.org")
        assert attempt == {"accepted": True, "userErrors": []}
    await api.run_jobs()
    assert len(api.mailbox.to("taken@example.org")) == 1


async def test_registration_is_throttled_per_client_address(api: Api) -> None:
    limit = api.settings.registrations_per_address
    for i in range(limit):
        assert (await register(api, f"new{i}@example.org"))["accepted"], i
    refused = await register(api, "one-more@example.org")
    assert refused["accepted"] is False and refused["userErrors"][0]["code"] == "THROTTLED"
    elsewhere = await register(api.from_address("192.0.2.44"), "one-more@example.org")
    assert elsewhere == {"accepted": True, "userErrors": []}
