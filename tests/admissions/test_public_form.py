"""The public inquiry form: anyone (signed out or in) may send it; it says only whether it
was taken; a filled honeypot looks like success and writes nothing; bad input is refused
with nothing written; bursts from one network, and from everyone, are throttled with
exactly the limit written; the same e-mail within a day joins its open inquiry; staff are
not told of each inquiry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from alumnet.persistence.models import (
    Inquiry,
    InquiryActivity,
    InquiryStageChange,
    Notification,
)
from tests.admissions.conftest import Admissions, gid
from tests.conftest import Api, app_api

SUBMIT = """mutation($input: InquirySubmitInput!) { inquirySubmit(input: $input) {
  ok userErrors { field code message } } }"""


def form(**more: Any) -> dict[str, Any]:
    given: dict[str, Any] = {"name": "Tomás Ortega", "email": "tomas@example.net",
                             "message": "Do you offer evening classes?"}  # fmt: skip
    given.update(more)
    return {k: v for k, v in given.items() if v is not ...}


async def send(api: Api, token: str | None = None, **more: Any) -> dict[str, Any]:
    body = await api.gql(SUBMIT, {"input": form(**more)}, token=token)
    assert "errors" not in body, body
    return body["data"]["inquirySubmit"]  # type: ignore[no-any-return]


async def written(a: Admissions) -> tuple[int, int, int]:
    async with a.runtime.transaction() as uow:
        found = []
        for model in (Inquiry, InquiryStageChange, InquiryActivity):
            found.append(int((await uow.session.execute(
                select(func.count()).select_from(model))).scalar_one()))  # fmt: skip
    return found[0], found[1], found[2]


async def inquiries(a: Admissions) -> list[Inquiry]:
    async with a.runtime.transaction() as uow:
        return list((await uow.session.execute(select(Inquiry).order_by(Inquiry.id))).scalars())


async def test_anyone_may_send_the_form_and_learns_only_that_it_was_taken(
    admissions: Admissions,
) -> None:
    a = admissions
    payload = await send(a.api, programmeId=gid("Programme", a.pks["programme"]))
    assert payload == {"ok": True, "userErrors": []}
    [inquiry] = await inquiries(a)
    assert (inquiry.name, inquiry.email, inquiry.source, inquiry.stage, inquiry.furthest) == (
        "Tomás Ortega", "tomas@example.net", "web_form", "new", 1)  # fmt: skip
    assert inquiry.notes == "Do you offer evening classes?"
    assert inquiry.created_by_id is None and inquiry.score == 60  # web 10, fit 20, recent 30
    assert {r["rule"] for r in inquiry.score_reasons} == {
        "source_web_form", "programme_fit", "engagement", "recency"}  # fmt: skip
    assert await written(a) == (1, 1, 1)
    async with a.runtime.transaction() as uow:
        change = (await uow.session.execute(select(InquiryStageChange))).scalar_one()
        assert (change.from_stage, change.to_stage) == (None, "new")
        # Admissions staff are not told of each inquiry (a spam amplifier).
        told = await uow.session.execute(select(func.count()).select_from(Notification))
        assert told.scalar_one() == 0
    # Signed in works too; a campaign code makes it a campaign's.
    payload = await send(a.api, a.tokens["student"], email="t2@example.net", campaign="SPRING-25")
    assert payload["ok"] is True
    last = (await inquiries(a))[-1]
    assert (last.source, last.source_detail) == ("campaign", "SPRING-25")


async def test_a_filled_honeypot_looks_like_success_and_writes_nothing(
    admissions: Admissions,
) -> None:
    a = admissions
    payload = await send(a.api, website="http://cheap-pills.example")
    assert payload == {"ok": True, "userErrors": []}
    assert await written(a) == (0, 0, 0)


async def test_bad_input_is_refused_and_writes_nothing(admissions: Admissions) -> None:
    a = admissions
    cases = [
        ({"email": "tomas@"}, "INVALID_EMAIL", ["input", "email"]),
        ({"email": ..., "phone": "ring me"}, "INVALID_PHONE", ["input", "phone"]),
        ({"email": ..., "phone": ...}, "REQUIRED", ["input", "email"]),
        ({"email": "", "phone": " "}, "REQUIRED", ["input", "email"]),
        ({"name": ""}, "REQUIRED", ["input", "name"]),
        ({"message": "x" * 2001}, "TOO_LONG", ["input", "message"]),
        ({"campaign": "<script>"}, "INVALID", ["input", "campaign"]),
        ({"programmeId": gid("Programme", 999)}, "NOT_FOUND", ["input", "programmeId"]),
    ]
    for change, code, field in cases:
        payload = await send(a.api, **change)
        assert payload["ok"] is False
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, field)], change
    assert await written(a) == (0, 0, 0)
    # A phone alone is enough.
    assert (await send(a.api, email=..., phone="+44 20 7946 0958"))["ok"] is True


async def test_a_burst_from_one_network_is_throttled_at_the_limit(
    admissions: Admissions,
) -> None:
    a = admissions
    limit = a.api.settings.inquiries_per_address
    spammer = a.api.from_address("198.51.100.23")
    answers = [(await send(spammer, email=f"s{i}@example.net")) for i in range(limit + 3)]
    assert [p["ok"] for p in answers] == [True] * limit + [False] * 3
    assert {e["code"] for p in answers[limit:] for e in p["userErrors"]} == {"THROTTLED"}
    assert (await written(a))[0] == limit
    # Honeypot answers count too, and other networks are not held back.
    assert (await send(spammer, email="late@example.net", website="x"))["ok"] is False
    assert (await send(a.api.from_address("192.0.2.10"), email="fine@example.net"))["ok"]
    assert (await written(a))[0] == limit + 1


async def test_everyone_together_is_throttled_at_the_hourly_limit(
    admissions: Admissions,
) -> None:
    a = admissions
    async for other in app_api(a.api, inquiries_per_hour=4):
        answers = [
            await send(other.from_address(f"203.0.113.{100 + i}"), email=f"m{i}@example.net")
            for i in range(7)
        ]
        assert [p["ok"] for p in answers] == [True] * 4 + [False] * 3
        assert {e["code"] for p in answers[4:] for e in p["userErrors"]} == {"THROTTLED"}
    assert (await written(a))[0] == 4


async def test_the_same_email_within_a_day_joins_its_open_inquiry(
    admissions: Admissions,
) -> None:
    a = admissions
    first = await send(a.api)
    again = await send(a.api, email="TOMAS@example.net", message="Also: is there parking?")
    assert first == again == {"ok": True, "userErrors": []}
    [inquiry] = await inquiries(a)
    async with a.runtime.transaction() as uow:
        entries = (await uow.session.execute(
            select(InquiryActivity.kind, InquiryActivity.summary)
            .where(InquiryActivity.inquiry_id == inquiry.id).order_by(InquiryActivity.id)
        )).all()  # fmt: skip
    assert [e.kind for e in entries] == ["submitted", "submitted"]
    assert entries[1].summary == (
        "Submitted the public form again (not verified: anyone may "
        "use the form): Also: is there parking?"
    )
    # Someone else's name with that address is an inquiry of its own, not an entry in it.
    await send(a.api, email="tomas@example.net", name="Not Tomas", message="I withdraw.")
    assert len(await inquiries(a)) == 2
    async with a.runtime.transaction() as uow:
        stranger = (await uow.session.execute(
            select(Inquiry).where(Inquiry.name == "Not Tomas"))).scalar_one()  # fmt: skip
        stranger.stage = "lost"
    # Once it is closed (lost), the same e-mail makes a new inquiry.
    async with a.runtime.transaction() as uow:
        found = await uow.session.get(Inquiry, inquiry.id)
        assert found is not None
        found.stage = "lost"
    await send(a.api)
    assert len(await inquiries(a)) == 3
