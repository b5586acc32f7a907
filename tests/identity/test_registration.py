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


EMAIL_CHANGE = """mutation($e: String!, $p: String!) { emailChangeRequest(input:
  {newEmail: $e, password: $p}) { accepted userErrors { field code } } }"""
EMAIL_CONFIRM = """mutation($t: String!) { emailChangeConfirm(input: {token: $t}) {
  user { email emailVerified } userErrors { code } } }"""


async def test_an_address_changes_only_once_the_new_one_confirms(api: Api) -> None:
    _, token = await api.create_user("ada@example.org", ["ALUMNUS"])
    await api.create_user("taken@example.org", ["ALUMNUS"])
    for new, password, code in (
        ("taken@example.org", PASSWORD, "EMAIL_TAKEN"),
        ("ADA@example.org", PASSWORD, "SAME_ADDRESS"),
        ("not an address", PASSWORD, "INVALID_EMAIL"),
        ("new@example.org", "a wrong one", "INVALID_PASSWORD"),
    ):
        body = await api.gql(EMAIL_CHANGE, {"e": new, "p": password}, token=token)
        assert body["data"]["emailChangeRequest"]["userErrors"][0]["code"] == code, new
    asked = await api.gql(EMAIL_CHANGE, {"e": "new@example.org", "p": PASSWORD}, token=token)
    assert asked["data"]["emailChangeRequest"] == {"accepted": True, "userErrors": []}
    await api.run_jobs()
    # Nothing changed yet: the old address still signs in; the new one got the link.
    assert (await api.gql("{ viewer { email } }", token=token))["data"]["viewer"] == {
        "email": "ada@example.org"
    }
    [link] = api.mailbox.to("new@example.org")
    confirmed = await api.gql(EMAIL_CONFIRM, {"t": token_in(link)})
    assert confirmed["data"]["emailChangeConfirm"] == {
        "user": {"email": "new@example.org", "emailVerified": True},
        "userErrors": [],
    }
    again = await api.gql(EMAIL_CONFIRM, {"t": token_in(link)})
    assert again["data"]["emailChangeConfirm"]["userErrors"] == [{"code": "INVALID_TOKEN"}]
    await api.run_jobs()
    assert any("is now new@example.org" in m for m in api.mailbox.to("ada@example.org"))
    await api.sign_in("new@example.org")


async def test_a_password_change_is_told_by_email(api: Api) -> None:
    _, token = await api.create_user("ada@example.org", ["ALUMNUS"])
    changed = await api.gql(
        """mutation($c: String!, $n: String!) { passwordChange(input:
        {currentPassword: $c, newPassword: $n}) { changed } }""",
        {"c": PASSWORD, "n": "a different passphrase"},
        token=token,
    )
    assert changed["data"]["passwordChange"]["changed"] is True
    await api.run_jobs()
    assert any("password of your alumnet account was changed" in m
               for m in api.mailbox.to("ada@example.org"))  # fmt: skip


async def test_an_administrator_deletes_an_account_with_a_reason(api: Api) -> None:
    student_id, student = await api.create_user("gone@example.org", ["STUDENT"])
    admin_id, admin = await api.create_user("admin@example.org", ["ADMIN"])
    _, manager = await api.create_user("manager@example.org", ["MANAGER"])
    delete = """mutation($u: ID!, $r: String!) { userDelete(input: {userId: $u, reason: $r}) {
      deleted userErrors { field code } } }"""
    refused = await api.gql(delete, {"u": student_id, "r": "Asked by phone."}, token=manager)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    no_reason = await api.gql(delete, {"u": student_id, "r": " "}, token=admin)
    assert no_reason["data"]["userDelete"]["userErrors"][0]["code"] == "REQUIRED"
    itself = await api.gql(delete, {"u": admin_id, "r": "x"}, token=admin)
    assert itself["data"]["userDelete"]["userErrors"][0]["code"] == "INVALID"
    done = await api.gql(delete, {"u": student_id, "r": "Asked by phone."}, token=admin)
    assert done["data"]["userDelete"] == {"deleted": True, "userErrors": []}
    assert (await api.post("{ viewer { id } }", token=student)).status_code == 401
    audit = await api.gql(
        '{ auditEvents(filter: {actions: ["user.delete"]}) { edges { node { details } } } }',
        token=admin,
    )
    [event] = audit["data"]["auditEvents"]["edges"]
    assert event["node"]["details"] == {"reason": "Asked by phone."}
    twice = await api.gql(delete, {"u": student_id, "r": "again"}, token=admin)
    assert twice["data"]["userDelete"]["userErrors"][0]["code"] == "NOT_FOUND"
