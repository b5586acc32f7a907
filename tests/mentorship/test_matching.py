"""Explainable suggestions and their weights."""

from __future__ import annotations

from typing import Any

from tests.mentorship.conftest import ANSWER, Mentoring, codes

SUGGEST = """query($g: String, $z: String, $l: [String!]) {
  mentorSuggestions(first: 10, goals: $g, timeZone: $z, languages: $l) {
    score why parts { skills industry programme location timeZone language load }
    mentor { id headline } } }"""
WEIGHTS = """mutation($i: MatchingWeightsUpdateInput!) { matchingWeightsUpdate(input: $i) {
  weights { skills industry load } userErrors { field code } } }"""
BLOCK = """mutation($u: ID!) { userBlock(input: {userId: $u}) { userErrors { code } } }"""


async def suggestions(p: Mentoring, who: str, **variables: Any) -> list[Any]:
    body = await p.gql(who, SUGGEST, variables)
    assert "errors" not in body, body
    return list(body["data"]["mentorSuggestions"])


async def test_suggestions_rank_and_explain(mentoring: Mentoring) -> None:
    p = mentoring
    python = await p.offer("a1", headline="Python in Accra", capacity=1)  # Python, SQL
    await p.offer("a2", headline="Data in Nairobi", topics=["Data analysis"], languages=["sw"],
                  availability=[{"weekday": 2, "start": "02:00", "end": "04:00"}],
                  timeZone="Africa/Nairobi")  # fmt: skip
    await p.offer("a3", headline="Paused", paused=True)
    await p.offer("m1", headline="Students of others", preferredMentee="ALUMNI")
    found = await suggestions(p, "s1", z="Africa/Accra", l=["en"])
    assert [s["mentor"]["headline"] for s in found] == ["Python in Accra", "Data in Nairobi"]
    best = found[0]
    assert best["parts"]["skills"] == 2.0  # 2 of 3 shared topics, weight 3
    assert best["parts"]["location"] == 1.0 and best["parts"]["language"] == 1.0
    assert best["parts"]["timeZone"] == 1.0 and best["parts"]["load"] == 1.0
    assert best["score"] == round(sum(best["parts"].values()), 4)
    assert best["why"].startswith("Matches: 2 shared topics")
    assert found[1]["parts"]["timeZone"] == 0.0  # 02:00 in Nairobi is night in Accra
    # Goals that name a topic count too.
    named = await suggestions(p, "s2", g="I want to learn data analysis")
    assert named[0]["mentor"]["headline"] == "Data in Nairobi"
    assert named[0]["parts"]["skills"] == 1.0
    # Staff tune the weights: load alone decides, then bad weights change nothing.
    denied = await p.gql("s1", WEIGHTS, {"i": {"skills": 0}})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for bad, code in (({"skills": -1}, "OUT_OF_RANGE"), ({"load": 101}, "OUT_OF_RANGE"),
                      ({"skills": 0, "industry": 0, "programme": 0, "location": 0,
                        "timeZone": 0, "language": 0, "load": 0}, "ALL_ZERO")):  # fmt: skip
        payload = await p.call("manager", WEIGHTS, {"i": bad}, "matchingWeightsUpdate")
        assert codes(payload) == [code], bad
    only_load = {"skills": 0, "location": 0, "language": 0, "timeZone": 0, "industry": 0,
                 "programme": 0}  # fmt: skip
    tuned = await p.ok("manager", WEIGHTS, {"i": only_load}, "matchingWeightsUpdate")
    assert tuned["weights"] == {"skills": 0.0, "industry": 0.0, "load": 1.0}
    flat = await suggestions(p, "s1")
    assert {s["score"] for s in flat} == {1.0}
    # One asked already, one at capacity and one blocked are never suggested.
    ask = await p.ask("s1", python["id"])
    assert [s["mentor"]["headline"] for s in await suggestions(p, "s1")] == ["Data in Nairobi"]
    both = [s["mentor"]["headline"] for s in await suggestions(p, "s2")]
    assert both == ["Python in Accra", "Data in Nairobi"]
    await p.ok("a1", ANSWER, {"i": {"id": ask["request"]["id"], "accept": True}},
               "mentorshipRequestAnswer")  # fmt: skip
    assert [s["mentor"]["headline"] for s in await suggestions(p, "s2")] == ["Data in Nairobi"]
    await p.ok("s2", BLOCK, {"u": p.ids["a2"]}, "userBlock")
    assert await suggestions(p, "s2") == []
    assert await suggestions(p, "manager") == []  # staff are not mentees
