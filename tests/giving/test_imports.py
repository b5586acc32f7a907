"""Historical gifts through the import pipeline: preview (nothing written), run (recorded once
each through gifts.record, the totals kept, no receipt), run again (unchanged), bad rows
refused with their reasons, Excel as well as CSV, rollback (the totals back to zero; a gift
refunded since is kept), and who may import gifts (`giving`, not `data:import`)."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from sqlalchemy import func, select

from alumnet.domain.giving import gifts as gift_rules
from alumnet.persistence.models import (
    Campaign,
    CampaignDonor,
    CampaignFundTotal,
    Donor,
    DonorYear,
    Gift,
)
from alumnet.persistence.uow import Origin
from tests.data.conftest import status, upload
from tests.giving.conftest import Giving

RUN = """mutation($n: ID!) { importRun(input: {importId: $n}) { import { id status }
  userErrors { code } } }"""
ROLLBACK = """mutation($n: ID!) { importRollback(input: {importId: $n}) { import { id status }
  userErrors { code } } }"""
TEMPLATES = """query($k: ImportKind) { importTemplates(kind: $k) { kind csvUrl
  fields { field required header } } }"""
IMPORTS = """{ imports(first: 50) { totalCount edges { node { id kind } } } }"""
NODE = """query($n: ID!) { node(id: $n) { ... on Import { id kind } } }"""

GIFTS = (
    "Donor email,Donor name,Amount,Currency,Gift date,Fund code,Campaign,Payment method,"
    "Reference,Anonymous,Key\n"
    "alumnus@example.org,,100.50,USD,2024-03-12,SCHOL,Library appeal,bank transfer,R1,no,K1\n"
    'parent@example.org,Parent Person,"1,000.00",usd,05/01/2025,build,LIBRARY APPEAL,cheque,'
    ",yes,K2\n"
    "alumnus2@example.org,,25,EUR,2023-06-01,SCHOL,,,,,\n"
    "stranger@example.org,,10,USD,2024-01-01,SCHOL,,,,,\n"  # an outside donor, no name
    "alumnus@example.org,,10.555,USD,2024-01-01,SCHOL,,,,,\n"  # finer than cents
    "alumnus@example.org,,10,ZZZ,2024-01-01,SCHOL,,,,,\n"  # no such currency
    "alumnus@example.org,,10,USD,2099-01-01,SCHOL,,,,,\n"  # in the future
    "alumnus@example.org,,10,USD,2024-01-01,NOPE,,,,,\n"  # no such fund
    "alumnus@example.org,,10,EUR,2024-01-01,SCHOL,Library appeal,,,,\n"  # not the campaign's
    "alumnus2@example.org,,25,EUR,2023-06-01,SCHOL,,,,,\n"  # the third row again
    "alumnus@example.org,,-5,USD,2024-01-01,SCHOL,,,,,\n"  # not more than zero
    "alumnus@example.org,,ten,USD,2024-01-01,SCHOL,,,,,\n"  # not an amount
)
REFUSED = {
    5: {"donor_name": "REQUIRED"},
    6: {"amount": "INVALID_AMOUNT"},
    7: {"currency": "UNKNOWN_CURRENCY"},
    8: {"date": "FUTURE_DATE"},
    9: {"fund": "NOT_FOUND"},
    10: {"currency": "WRONG_CURRENCY"},
    11: {"": "DUPLICATE_IN_FILE"},
    12: {"amount": "INVALID_AMOUNT"},
    13: {"amount": "INVALID_AMOUNT"},
}


async def _send(g: Giving, who: str, content: bytes, name: str = "gifts.csv", **given: Any) -> Any:
    made = await upload(g, who, content, name, kind="GIFTS", **given)  # type: ignore[arg-type]
    assert "errors" not in made, made
    assert made["data"]["importUpload"]["userErrors"] == [], made
    found = made["data"]["importUpload"]["import"]["id"]
    return {**await status(g, found), "id": found}  # type: ignore[arg-type]


async def _read(g: Giving, query: Any) -> list[Any]:
    async with g.runtime.transaction(origin=Origin(via="cli")) as uow:
        return list((await uow.session.execute(query)).all())


async def _gifts(g: Giving) -> list[Any]:
    return await _read(
        g, select(Gift.amount_minor, Gift.currency, Gift.source, Gift.receipt_seq, Gift.import_id,
                  Gift.anonymous, Gift.status).order_by(Gift.id)
    )  # fmt: skip


async def _totals(g: Giving) -> dict[str, Any]:
    funds = await _read(g, select(CampaignFundTotal.fund_id, CampaignFundTotal.raised_minor,
                                  CampaignFundTotal.gift_count))  # fmt: skip
    years = await _read(g, select(Donor.email, DonorYear.year, DonorYear.currency,
                                  DonorYear.total_minor, DonorYear.gift_count)
                        .join(Donor, Donor.id == DonorYear.donor_id))  # fmt: skip
    [(donors,)] = await _read(g, select(Campaign.donor_count))
    [(listed,)] = await _read(g, select(func.count()).select_from(CampaignDonor))
    return {
        "funds": {int(f): (int(r), int(n)) for f, r, n in funds},
        "years": {(str(e), int(y), str(c)): (int(t), int(n)) for e, y, c, t, n in years},
        "donors": (int(donors), int(listed)),
    }


def _problems(row: dict[str, Any]) -> dict[str, str]:
    return {p["field"]: p["code"] for p in row["problems"]}


async def test_preview_run_again_and_roll_back(giving: Giving) -> None:
    g = giving
    preview = await _send(g, "advancement", GIFTS.encode())
    assert preview["status"] == "PREVIEWED"
    assert (preview["created"], preview["unchanged"], preview["rejected"]) == (3, 0, 9)
    rows = {r["rowNumber"]: r for r in preview["rows"]}
    assert [n for n, r in rows.items() if r["action"] == "CREATE"] == [2, 3, 4]
    for number, wanted in REFUSED.items():
        assert rows[number]["action"] == "REJECT"
        assert wanted.items() <= _problems(rows[number]).items(), rows[number]
        assert all(p["message"] for p in rows[number]["problems"])
    assert rows[2]["naturalKey"] == "K1"
    assert rows[3]["after"]["amount"] == "1000.00" and rows[3]["after"]["anonymous"] is True
    assert await _gifts(g) == []  # a preview writes nothing
    assert (await _totals(g))["funds"] == {}

    await g.ok("advancement", RUN, {"n": preview["id"]}, "importRun")
    done = await status(g, preview["id"])  # type: ignore[arg-type]
    assert (done["status"], done["created"], done["rejected"]) == ("COMPLETED", 3, 9)
    recorded = await _gifts(g)
    assert [(a, c) for a, c, *_ in recorded] == [(10050, "USD"), (100000, "USD"), (2500, "EUR")]
    # Imported: counted, confirmed, never receipted by alumnet, tied to their import.
    assert {(s, r, st) for _, _, s, r, _, _, st in recorded} == {("import", None, "confirmed")}
    assert [anon for *_, anon, _ in recorded] == [False, True, False]
    totals = await _totals(g)
    assert totals["funds"] == {g.pks["fund"]: (10050, 1), g.pks["fund2"]: (100000, 1)}
    assert totals["donors"] == (2, 2)
    assert totals["years"] == {
        ("alumnus@example.org", 2024, "USD"): (10050, 1),
        ("parent@example.org", 2025, "USD"): (100000, 1),
        ("alumnus2@example.org", 2023, "EUR"): (2500, 1),
    }
    created = {r["rowNumber"]: r for r in done["rows"]}
    assert created[2]["action"] == "CREATED"

    # The same file again: each gift is there once already.
    again = await _send(g, "advancement", GIFTS.encode(), dryRun=False)
    assert (again["status"], again["created"], again["unchanged"]) == ("COMPLETED", 0, 3)
    assert len(await _gifts(g)) == 3 and await _totals(g) == totals

    await g.ok("advancement", ROLLBACK, {"n": preview["id"]}, "importRollback")
    undone = await status(g, preview["id"])  # type: ignore[arg-type]
    assert undone["status"] == "ROLLED_BACK"
    assert [r["action"] for r in undone["rows"] if r["rowNumber"] < 5] == ["ROLLED_BACK"] * 3
    assert await _gifts(g) == []
    zero = await _totals(g)
    assert set(zero["funds"].values()) == {(0, 0)} and zero["donors"] == (0, 0)
    assert set(zero["years"].values()) == {(0, 0)}


async def test_excel_all_or_nothing_and_a_refund_kept_by_rollback(giving: Giving) -> None:
    from openpyxl import Workbook

    g = giving
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["E-mail", "Gift amount", "Currency", "Date of gift", "Designation", "Gift ID"])
    sheet.append(["alumnus@example.org", 250.75, "USD", date(2022, 12, 31), "SCHOL", "X-1"])
    sheet.append(["alumnus2@example.org", 40, "JPY", date(2021, 5, 4), "BUILD", "X-2"])
    buffer = io.BytesIO()
    book.save(buffer)
    content = buffer.getvalue()

    bad = GIFTS.encode()
    whole = await _send(g, "admin", bad, dryRun=False, allOrNothing=True)
    assert whole["status"] == "FAILED" and "nothing was written" in whole["error"]
    assert await _gifts(g) == []

    done = await _send(g, "advancement", content, "gifts.xlsx", dryRun=False)
    assert (done["status"], done["created"], done["rejected"]) == ("COMPLETED", 2, 0), done
    assert [(a, c) for a, c, *_ in await _gifts(g)] == [(25075, "USD"), (40, "JPY")]
    assert {r["naturalKey"] for r in done["rows"]} == {"X-1", "X-2"}

    async with g.runtime.transaction(origin=Origin(via="cli")) as uow:
        first = await uow.session.scalar(select(Gift.id).where(Gift.amount_minor == 25075))
        await gift_rules.refund(uow, None, int(first))
    await g.ok("advancement", ROLLBACK, {"n": done["id"]}, "importRollback")
    undone = await status(g, done["id"])  # type: ignore[arg-type]
    assert undone["status"] == "ROLLED_BACK"
    actions = {r["naturalKey"]: r["action"] for r in undone["rows"]}
    assert actions == {"X-1": "CREATED", "X-2": "ROLLED_BACK"}  # refunded since: kept
    left = await _gifts(g)
    assert [(a, c) for a, c, *_ in left] == [(25075, "USD"), (-25075, "USD")]
    totals = await _totals(g)
    assert totals["years"][("alumnus@example.org", 2022, "USD")] == (0, 1)
    assert totals["years"][("alumnus2@example.org", 2021, "JPY")] == (0, 0)


async def test_who_may_import_gifts(giving: Giving) -> None:
    g = giving
    csv = b"Donor email,Amount,Currency,Gift date,Fund code\na@x.org,5,USD,2024-01-01,X\n"
    for who in ("manager", "alumnus", "student"):
        refused = await upload(g, who, csv, "gifts.csv", kind="GIFTS")  # type: ignore[arg-type]
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
        kinds = [t["kind"] for t in (await g.gql(who, TEMPLATES))["data"]["importTemplates"]]
        # Managers import curricula (academics:manage), and nothing else.
        assert kinds == (["CURRICULUM"] if who == "manager" else [])
    # Advancement staff import gifts (`giving`), and nothing else (no `data:import`).
    person = b"email,name\na@example.org,A\n"
    people = await upload(g, "advancement", person, "p.csv")  # type: ignore[arg-type]
    assert people["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    theirs = await _send(g, "advancement", csv)
    admins = await upload(g, "admin", person, "p.csv")  # type: ignore[arg-type]
    alumni_import = admins["data"]["importUpload"]["import"]["id"]
    await g.api.run_jobs()

    templates = (await g.gql("advancement", TEMPLATES))["data"]["importTemplates"]
    assert [t["kind"] for t in templates] == ["GIFTS"]
    required = {f["field"] for f in templates[0]["fields"] if f["required"]}
    assert required == {"donor_email", "amount", "currency", "date", "fund"}
    link = templates[0]["csvUrl"].split("/downloads/", 1)[1]
    got = await g.api.client.get(f"/downloads/{link}")
    assert got.status_code == 200 and got.content.decode("utf-8-sig").startswith("Donor email,")
    admin_kinds = {t["kind"] for t in (await g.gql("admin", TEMPLATES))["data"]["importTemplates"]}
    assert "GIFTS" in admin_kinds and "ALUMNI" in admin_kinds

    listed = (await g.gql("advancement", IMPORTS))["data"]["imports"]
    assert [e["node"]["kind"] for e in listed["edges"]] == ["GIFTS"] and listed["totalCount"] == 1
    assert (await g.gql("advancement", NODE, {"n": alumni_import}))["data"]["node"] is None
    assert (await g.gql("advancement", NODE, {"n": theirs["id"]}))["data"]["node"][
        "kind"
    ] == "GIFTS"
    for who in ("manager", "alumnus"):
        assert (await g.gql(who, NODE, {"n": theirs["id"]}))["data"]["node"] is None
        ran = await g.gql(who, RUN, {"n": theirs["id"]})
        if who == "manager":  # who imports some kind: as if it were not there
            assert ran["data"]["importRun"]["userErrors"] == [{"code": "NOT_FOUND"}]
        else:
            assert ran["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # An import of people is not theirs to run or roll back: as if it were not there.
    ran = await g.gql("advancement", RUN, {"n": alumni_import})
    assert ran["data"]["importRun"]["userErrors"] == [{"code": "NOT_FOUND"}]
    assert await _gifts(g) == []  # previews only, all along
    # Nor theirs to follow: the subscription ends at once, before it listens for anything.
    assert await _follow(g, "advancement", alumni_import) == ([], [])


async def _follow(g: Giving, who: str, import_id: str) -> tuple[list[Any], list[str]]:
    """``importProgress`` run in-process as the WebSocket handler runs it, for a moment:
    what it sent before ending, and the bus channels it listened on (it must end by
    itself, else the wait fails)."""
    import asyncio
    from contextlib import asynccontextmanager

    from alumnet.domain.identity.auth import authenticate
    from alumnet.schema import build_schema
    from alumnet.schema.context import Context

    runtime = g.runtime
    token = g.tokens[who]
    found = await authenticate(runtime, runtime.database, token)
    context = Context(runtime=runtime, viewer=found.viewer, bearer=token)
    schema = getattr(g.api.app.state, "schema", None) or build_schema(g.api.settings)
    entered: list[str] = []
    bus, subscription = runtime.bus, runtime.bus.subscription

    @asynccontextmanager
    async def spied(channel: str) -> Any:
        entered.append(channel)
        async with subscription(channel) as events:
            yield events

    bus.subscription = spied
    try:
        result = await schema.subscribe(
            "subscription($n: ID!) { importProgress(importId: $n) { id status } }",
            variable_values={"n": import_id}, context_value=context,
        )  # fmt: skip
        assert hasattr(result, "__anext__"), result

        async def drained() -> list[Any]:
            return [item async for item in result]

        try:
            sent = await asyncio.wait_for(drained(), 10)
        finally:
            await result.aclose()
        return sent, entered
    finally:
        bus.subscription = subscription
