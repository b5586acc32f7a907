"""Donors and giving levels: a donor's summary worked out by hand (lifetime per currency,
first and last gift, largest gift, consecutive years, level), levels saved and refused, who
reads which donor, and constant statement counts for a page of donors."""

from __future__ import annotations

from typing import Any

from tests.giving.conftest import Giving, codes, gid
from tests.giving.test_reports import World, Y, build

SAVE = """mutation($i: GivingLevelSaveInput!) { givingLevelSave(input: $i) {
  level { id name minimumYearly { amount currency } } userErrors { field code message } } }"""
DELETE = """mutation($i: GivingLevelDeleteInput!) { givingLevelDelete(input: $i) {
  deletedId userErrors { field code message } } }"""
LEVELS = "{ givingLevels { id name minimumYearly { amount currency } } }"
SUMMARY = """summary { firstGiftOn lastGiftOn lifetime { amount currency } giftCount
  consecutiveYears levelYear level { name } lastYear: level(year: %d) { name }
  largestGift { id amount { amount currency } }
  years { year total { amount currency } gifts } }""".replace("%d", str(Y - 1))
DONORS = (
    """query($n: Int, $f: DonorFilter) { donors(first: $n, filter: $f) { totalCount
  edges { node { id name kind email user { id } %s
    gifts(first: 2) { totalCount edges { node { id date } } } } } } }"""
).replace("%s", SUMMARY)
MINE = "{ myGiving { id name email %s } }".replace("%s", SUMMARY)
NODE = "query($id: ID!) { node(id: $id) { ... on Donor { id name } } }"


async def levels(g: Giving) -> dict[str, str]:
    made = {}
    for name, amount in (("Gold", "25"), ("Platinum", "100")):
        payload = await g.ok("advancement", SAVE, {"i": {"name": name, "currency": "USD",
                                                         "minimumYearly": amount}},
                             "givingLevelSave")  # fmt: skip
        made[name] = payload["level"]["id"]
    return made


async def test_donor_summary_levels_and_who_reads_it(giving: Giving) -> None:
    w: World = await build(giving)
    g = w.g
    made = await levels(g)
    body = await g.gql("alumnus", LEVELS)
    assert [lv["name"] for lv in body["data"]["givingLevels"]] == ["Platinum", "Gold"]
    body = await g.gql("advancement", DONORS, {"n": 50, "f": {"search": "ALUMNUS p"}})
    assert "errors" not in body, body
    [edge] = body["data"]["donors"]["edges"]
    donor = edge["node"]
    assert donor["id"] == gid("Donor", w.donors["alumnus"])
    assert (donor["kind"], donor["email"], donor["user"]) == (
        "PERSON", "alumnus@example.org", {"id": g.ids["alumnus"]})  # fmt: skip
    summary = donor["summary"]
    assert summary["lifetime"] == [{"amount": "380.00", "currency": "USD"}]
    assert (summary["firstGiftOn"], summary["lastGiftOn"]) == (f"{Y - 3}-03-10", f"{Y}-01-01")
    assert (summary["giftCount"], summary["consecutiveYears"]) == (4, 4)
    assert summary["levelYear"] == Y
    assert summary["level"] == {"name": "Gold"}  # 30 this year
    assert summary["lastYear"] == {"name": "Platinum"}  # 200 last year
    largest = {"id": gid("Gift", w.gifts["al1"]), "amount": {"amount": "200.00", "currency": "USD"}}
    assert summary["largestGift"] == largest
    assert [y["year"] for y in summary["years"]] == [Y, Y - 1, Y - 2, Y - 3]
    assert donor["gifts"]["totalCount"] == 4
    assert [e["node"]["date"] for e in donor["gifts"]["edges"]] == [f"{Y}-01-01", f"{Y - 1}-03-10"]
    # The outside donor: the reporting currency first; no level in EUR.
    body = await g.gql("advancement", DONORS, {"n": 50, "f": {"search": "olive@"}})
    outside = body["data"]["donors"]["edges"][0]["node"]
    assert outside["kind"] == "OUTSIDE" and outside["user"] is None
    assert outside["summary"]["lifetime"] == [{"amount": "500.00", "currency": "USD"},
                                              {"amount": "70.00", "currency": "EUR"}]  # fmt: skip
    assert outside["summary"]["consecutiveYears"] == 2
    # Refunded in full: a4 gave nothing last year, so their years in a row stop at none.
    body = await g.gql("advancement", DONORS, {"n": 50, "f": {"search": "a4@"}})
    a4 = body["data"]["donors"]["edges"][0]["node"]["summary"]
    assert a4["consecutiveYears"] == 0
    assert a4["years"][0] == {"year": Y - 1, "total": {"amount": "0.00", "currency": "USD"},
                              "gifts": 1}  # fmt: skip
    # By level: this year's total reaches Gold (alumnus 30, outside 500), Platinum (outside).
    for level, names in (("Gold", ["Alumnus Person", "Olive Outside"]),
                         ("Platinum", ["Olive Outside"])):  # fmt: skip
        body = await g.gql("advancement", DONORS, {"n": 50, "f": {"levelId": made[level]}})
        assert [e["node"]["name"] for e in body["data"]["donors"]["edges"]] == names
    # The donor reads their own, without e-mail; nobody else's; others have none.
    body = await g.gql("alumnus", MINE)
    mine = body["data"]["myGiving"]
    assert mine["id"] == gid("Donor", w.donors["alumnus"]) and mine["email"] is None
    assert mine["summary"]["lifetime"] == [{"amount": "380.00", "currency": "USD"}]
    assert (await g.gql("student", MINE))["data"]["myGiving"] is None
    other = gid("Donor", w.donors["alumnus2"])
    assert (await g.gql("alumnus", NODE, {"id": other}))["data"]["node"] is None
    assert (await g.gql("manager", NODE, {"id": other}))["data"]["node"] is None
    assert (await g.gql("advancement", NODE, {"id": other}))["data"]["node"]["id"] == other
    for who in ("alumnus", "manager", "student"):
        body = await g.gql(who, DONORS, {"n": 5})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    # A page of donors takes the same statements for one donor as for all of them.
    api, token = g.api, g.tokens["advancement"]
    one, body = await api.sql_count(DONORS, {"n": 1}, token)
    assert len(body["data"]["donors"]["edges"]) == 1
    every, body = await api.sql_count(DONORS, {"n": 50}, token)
    assert len(body["data"]["donors"]["edges"]) == 6
    assert one == every


async def test_levels_are_checked_and_kept_by_giving_staff(giving: Giving) -> None:
    g = giving
    made = await levels(g)
    for given, code in [
        ({"name": "gold", "currency": "USD", "minimumYearly": "5"}, "DUPLICATE"),
        ({"name": "Bronze", "currency": "ZZZ", "minimumYearly": "5"}, "UNKNOWN_CURRENCY"),
        ({"name": "Bronze", "currency": "USD", "minimumYearly": "0"}, "INVALID_AMOUNT"),
        ({"name": "Bronze", "currency": "USD", "minimumYearly": "5.001"}, "INVALID_AMOUNT"),
        ({"name": "Bronze", "currency": "JPY", "minimumYearly": "5.5"}, "INVALID_AMOUNT"),
        ({"name": " ", "currency": "USD", "minimumYearly": "5"}, "REQUIRED"),
        ({"name": "x" * 101, "currency": "USD", "minimumYearly": "5"}, "TOO_LONG"),
        ({"id": gid("GivingLevel", 999_999), "name": "B", "currency": "USD",
          "minimumYearly": "5"}, "NOT_FOUND"),
        ({"id": gid("Fund", g.pks["fund"]), "name": "B", "currency": "USD",
          "minimumYearly": "5"}, "NOT_FOUND"),
    ]:  # fmt: skip
        body = await g.gql("advancement", SAVE, {"i": given})
        assert codes(body["data"]["givingLevelSave"]) == [code], (given, body)
    body = await g.gql("alumnus", LEVELS)
    assert len(body["data"]["givingLevels"]) == 2
    change = {"id": made["Gold"], "name": "Gold Circle", "currency": "eur",
              "minimumYearly": "30.5"}  # fmt: skip
    payload = await g.ok("admin", SAVE, {"i": change}, "givingLevelSave")
    saved = {"amount": "30.50", "currency": "EUR"}
    assert payload["level"] == {"id": made["Gold"], "name": "Gold Circle", "minimumYearly": saved}
    for who in ("alumnus", "manager"):
        body = await g.gql(who, SAVE, {"i": change})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        body = await g.gql(who, DELETE, {"i": {"id": made["Gold"]}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    payload = await g.ok("advancement", DELETE, {"i": {"id": made["Gold"]}}, "givingLevelDelete")
    assert payload["deletedId"] == made["Gold"]
    body = await g.gql("advancement", DELETE, {"i": {"id": made["Gold"]}})
    assert codes(body["data"]["givingLevelDelete"]) == ["NOT_FOUND"]
    body: Any = await g.api.gql(LEVELS)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
