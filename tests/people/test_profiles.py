"""Profiles: editing, validation, privacy per field group, verification, completeness."""

from __future__ import annotations

from tests.engagement.conftest import call, codes, ok
from tests.people.conftest import DEGREE, PROFILE, Programme, profile

VIEW = """query($n: ID!) { node(id: $n) { ... on Profile { name headline email jobTitle company
  skills { name } degrees { graduationYear } graduationYear city country
  studentNumber privacy { contact } } } }"""


def profile_id(p: Programme, who: str) -> str:
    from strawberry.relay import from_base64, to_base64

    return to_base64("Profile", from_base64(p.ids[who])[1])


async def test_edit_own_profile_and_bad_input(people: Programme) -> None:
    p = people
    made = await profile(
        p, "alumnus", headline="Data engineer", jobTitle="Engineer", company="Acme",
        country="gh", city="Accra", photoUrl="https://example.org/me.png",
        skills=[{"name": "Python", "proficiency": "EXPERT"}, {"name": "SQL"}],
        socialLinks=[{"kind": "GITHUB", "url": "https://github.com/alumnus"}],
        workHistory=[{"company": "Acme", "title": "Engineer", "startedOn": "2020-01-01"}],
    )  # fmt: skip
    assert made["profile"]["country"] == "GH"
    assert made["profile"]["skills"] == [
        {"name": "Python", "proficiency": "EXPERT"}, {"name": "SQL", "proficiency": "INTERMEDIATE"}
    ]  # fmt: skip
    assert "photo" not in made["profile"]["completeness"]["missing"]
    assert "degree" in made["profile"]["completeness"]["missing"]
    bad = [
        ({"photoUrl": "http://example.org/me.png"}, "INVALID_URL"),
        ({"photoUrl": "javascript:alert(1)"}, "INVALID_URL"),
        ({"socialLinks": [{"kind": "WEBSITE", "url": "ftp://x.org"}]}, "INVALID_URL"),
        ({"country": "Ghana"}, "INVALID"),
        ({"headline": "x" * 201}, "TOO_LONG"),
        ({"skills": [{"name": "Go"}, {"name": "go"}]}, "INVALID"),
        ({"cgpa": 11.0}, "INVALID"),
        ({"workHistory": [{"company": "A", "title": "B", "startedOn": "2020-01-01",
                           "endedOn": "2019-01-01"}]}, "INVALID"),
    ]  # fmt: skip
    for fields, code in bad:
        assert codes(await call(p, "alumnus", PROFILE, {"i": fields}, "profileUpdate")) == [code], (
            fields
        )
    # Nothing changed by the refused updates.
    again = (await p.gql("alumnus", VIEW, {"n": profile_id(p, "alumnus")}))["data"]["node"]
    assert again["headline"] == "Data engineer" and again["skills"] == [
        {"name": "Python"}, {"name": "SQL"}
    ]  # fmt: skip
    # Someone else's profile: only user managers.
    other = {"userId": p.ids["s1"], "headline": "Hacked"}
    assert codes(await call(p, "alumnus", PROFILE, {"i": other}, "profileUpdate")) == ["NOT_FOUND"]
    assert (await call(p, "admin", PROFILE, {"i": other}, "profileUpdate"))["userErrors"] == []


async def test_privacy_per_field_group(people: Programme) -> None:
    p = people
    await profile(
        p, "alumnus", headline="Open", jobTitle="Engineer", company="Acme", country="GH",
        skills=[{"name": "Python"}],
        privacy={"contact": "ONLY_ME", "work": "ALUMNI", "location": "STAFF"},
    )  # fmt: skip
    await p.api.create_user("alumna@example.org", ["ALUMNUS"], name="Alumna")
    p.tokens["alumna"] = await p.api.sign_in("alumna@example.org")
    seen = {}
    for who in ("alumnus", "alumna", "s1", "sre", "admin"):
        node = (await p.gql(who, VIEW, {"n": profile_id(p, "alumnus")}))["data"]["node"]
        seen[who] = (node["email"] is not None, node["company"] is not None,
                     node["country"] is not None, node["headline"])  # fmt: skip
    assert seen == {
        "alumnus": (True, True, True, "Open"),  # the owner sees all
        "alumna": (False, True, False, "Open"),  # alumni see work
        "s1": (False, False, False, "Open"),  # a student sees the open fields only
        "sre": (False, True, True, "Open"),  # staff see work and location
        "admin": (True, True, True, "Open"),  # user managers see all
    }
    assert (await p.api.gql(VIEW, {"n": profile_id(p, "alumnus")}))["data"]["node"] is None
    mine = (await p.gql("s1", VIEW, {"n": profile_id(p, "alumnus")}))["data"]["node"]
    assert mine["privacy"] is None and mine["studentNumber"] is None


async def test_degrees_years_and_verification(people: Programme) -> None:
    p = people
    await profile(p, "alumnus", dateOfBirth="1990-05-01")
    degree = {"programmeId": p.ids["cs"], "graduationYear": 2012, "startYear": 2008}
    added = await ok(p, "alumnus", DEGREE, {"i": degree}, "degreeAdd")
    [made] = added["profile"]["degrees"]
    assert made["verification"] == "UNVERIFIED"
    for fields, code in [
        ({"graduationYear": 1995}, "OUT_OF_RANGE"),  # before the programme's first graduates
        ({"graduationYear": 2200}, "OUT_OF_RANGE"),
        ({"graduationYear": 2012, "startYear": 1980}, "INVALID"),
    ]:
        body = await call(p, "alumnus", DEGREE, {"i": {**degree, **fields}}, "degreeAdd")
        assert code in codes(body), fields
    early = await call(p, "alumnus", PROFILE, {"i": {"dateOfBirth": "2015-01-01"}}, "profileUpdate")
    assert codes(early) == ["BEFORE_BIRTH"]  # a degree of 2012 before a birth in 2015
    submit = """mutation($d: ID!) { verificationSubmit(input: {degreeId: $d}) {
      profile { verified degrees { verification } } userErrors { code } } }"""
    sent = await ok(p, "alumnus", submit, {"d": made["id"]}, "verificationSubmit")
    assert sent["profile"]["degrees"][0]["verification"] == "PENDING"
    decide = """mutation($d: ID!, $v: Boolean!, $n: String) {
      verificationDecide(input: {degreeId: $d, verified: $v, note: $n}) {
      profile { verified } userErrors { code } } }"""
    refused = await p.gql("sre", decide, {"d": made["id"], "v": True})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert codes(
        await call(p, "admin", decide, {"d": made["id"], "v": False}, "verificationDecide")
    ) == ["REQUIRED"]
    done = await ok(p, "admin", decide, {"d": made["id"], "v": True}, "verificationDecide")
    assert done["profile"]["verified"] is True
    notes = await p.gql("alumnus", "{ notifications { edges { node { kind title } } } }")
    assert notes["data"]["notifications"]["edges"][0]["node"]["kind"] == "VERIFICATION"
    view = (await p.gql("s1", VIEW, {"n": profile_id(p, "alumnus")}))["data"]["node"]
    assert view["graduationYear"] == 2012
    remove = """mutation($d: ID!) { degreeRemove(input: {degreeId: $d}) {
      profile { graduationYear } userErrors { code } } }"""
    gone = await ok(p, "alumnus", remove, {"d": made["id"]}, "degreeRemove")
    assert gone["profile"]["graduationYear"] is None  # no degree left: no year
