"""The directory: text search, filters that respect privacy, facets, hostile input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engagement.conftest import ok
from tests.people.conftest import DEGREE, Programme, profile

SEARCH = """query($q: String, $f: DirectoryFilter, $o: DirectoryOrder) {
  directory(query: $q, filter: $f, orderBy: $o, first: 50) {
    totalCount edges { node { name } } } }"""
FACETS = """query($q: String, $f: DirectoryFilter) { directoryFacets(query: $q, filter: $f) {
  graduationYears { value count } countries { value count } skills { value count } } }"""


async def names(p: Programme, who: str, query: str | None = None, **given: Any) -> list[str]:
    body = await p.gql(who, SEARCH, {"q": query, "f": given.pop("f", None), **given})
    assert "errors" not in body, body
    return [e["node"]["name"] for e in body["data"]["directory"]["edges"]]


@pytest.fixture
async def directory(people: Programme) -> Programme:
    p = people
    people_ = [
        ("ada", "Ada Lovelace", {"headline": "Analytical engines", "company": "Babbage Ltd",
                                 "jobTitle": "Programmer", "country": "GB",
                                 "skills": [{"name": "Mathematics"}, {"name": "Python"}]}, 2010),
        ("grace", "Grace Hopper", {"headline": "Compilers", "company": "Navy",
                                   "country": "US", "skills": [{"name": "COBOL"}]}, 2012),
        ("alan", "Alan Turing", {"headline": "Machines that think", "company": "Bletchley",
                                 "country": "GB", "skills": [{"name": "Python"}],
                                 "privacy": {"work": "ONLY_ME", "location": "ONLY_ME"}}, 2012),
    ]  # fmt: skip
    for key, name, fields, year in people_:
        p.ids[key], p.tokens[key] = await p.api.create_user(
            f"{key}@example.org", ["ALUMNUS"], name=name
        )
        await profile(p, key, **fields)
        await ok(p, key, DEGREE, {"i": {"programmeId": p.ids["cs"], "graduationYear": year}},
                 "degreeAdd")  # fmt: skip
    return p


async def test_text_search_ranks_and_forgives(directory: Programme) -> None:
    p = directory
    assert await names(p, "s1", "ada lovelace") == ["Ada Lovelace"]
    assert await names(p, "s1", "lovel") == ["Ada Lovelace"]  # a prefix
    assert await names(p, "s1", "compilers") == ["Grace Hopper"]  # the headline
    assert await names(p, "s1", "babbage") == ["Ada Lovelace"]  # the company (work visible)
    assert await names(p, "s1", "bletchley") == []  # Alan's work is only his
    assert await names(p, "alan", "bletchley") == ["Alan Turing"]  # but he finds himself
    assert await names(p, "s1", "python") == ["Ada Lovelace"]  # skills, where visible
    assert await names(p, "admin", "python") == ["Ada Lovelace", "Alan Turing"]
    if p.api.settings.database_url.startswith("postgresql"):
        assert await names(p, "s1", "Grace Hoper") == ["Grace Hopper"]  # misspelt: trigram
    assert (await p.api.gql(SEARCH, {"q": "ada"}))["data"]["directory"]["edges"] == []


async def test_filters_respect_privacy(directory: Programme) -> None:
    p = directory
    assert await names(p, "s1", f={"country": "GB"}) == ["Ada Lovelace"]  # Alan's is hidden
    assert await names(p, "admin", f={"country": "gb"}) == ["Ada Lovelace", "Alan Turing"]
    assert await names(p, "s1", f={"skills": ["python"]}) == ["Ada Lovelace"]
    assert await names(p, "s1", f={"company": "navy"}) == ["Grace Hopper"]
    years = {"graduationYearFrom": 2011, "graduationYearTo": 2013}
    assert await names(p, "s1", f=years) == ["Alan Turing", "Grace Hopper"]
    assert await names(p, "s1", f={"programmeId": p.ids["cs"], "roles": ["ALUMNUS"]}) == [
        "Ada Lovelace", "Alan Turing", "Grace Hopper"
    ]  # fmt: skip
    ordered = await names(p, "s1", f={"programmeId": p.ids["cs"]}, o={"field": "GRADUATION_YEAR"})
    assert ordered == ["Alan Turing", "Grace Hopper", "Ada Lovelace"]
    facets = (await p.gql("s1", FACETS, {"f": {"programmeId": p.ids["cs"]}}))["data"][
        "directoryFacets"
    ]
    assert facets["countries"] == [{"value": "GB", "count": 1}, {"value": "US", "count": 1}]
    assert {"value": "2012", "count": 2} in facets["graduationYears"]
    assert {"value": "Python", "count": 1} in facets["skills"]  # Alan's skills are hidden


@pytest.mark.parametrize(
    "query",
    ["%", "_", "'", '"', ":*", "&", "!", "zz & yy | !xx", "ada:*", "x" * 5000, "Łódź 東京 👩‍💻",
     "ada' OR 1=1 --", "\\", "(", "<script>"],
)  # fmt: skip
async def test_hostile_queries_are_matched_literally(directory: Programme, query: str) -> None:
    body = await directory.gql("s1", SEARCH, {"q": query})
    assert "errors" not in body, body
    found = [e["node"]["name"] for e in body["data"]["directory"]["edges"]]
    assert found in ([], ["Ada Lovelace"])  # only "ada…" queries find anyone


async def test_directory_statements_do_not_grow(directory: Programme) -> None:
    p = directory
    query = """{ directory(first: 100) { totalCount edges { node { name headline company
      skills { name } degrees { programmeName } followerCount verified
      followers(first: 3) { totalCount edges { node { name } } } } } } }"""
    few, body = await p.api.sql_count(query, token=p.tokens["admin"])
    assert body["data"]["directory"]["totalCount"] == 3
    for i in range(5):
        await p.api.create_user(f"more{i}@example.org", ["ALUMNUS"], name=f"More {i}")
        token = await p.api.sign_in(f"more{i}@example.org")
        p.tokens[f"more{i}"] = token
        await profile(p, f"more{i}", headline="Hello", skills=[{"name": "Go"}])
    many, body = await p.api.sql_count(query, token=p.tokens["admin"])
    assert body["data"]["directory"]["totalCount"] == 8
    assert many == few


async def test_pages_of_ranked_results_follow_each_other(directory: Programme) -> None:
    p = directory
    page = """query($q: String, $a: String) { directory(query: $q, first: 1, after: $a) {
      totalCount edges { cursor node { name } } pageInfo { hasNextPage } } }"""
    seen, after = [], None
    while True:
        body = await p.gql("admin", page, {"q": "python", "a": after})
        assert "errors" not in body, body
        found = body["data"]["directory"]
        assert found["totalCount"] == 2
        seen += [e["node"]["name"] for e in found["edges"]]
        if not found["pageInfo"]["hasNextPage"]:
            break
        after = found["edges"][-1]["cursor"]
    assert sorted(seen) == ["Ada Lovelace", "Alan Turing"]


async def test_hidden_years_neither_sort_nor_show_in_cursors(directory: Programme) -> None:
    import base64

    p = directory
    await profile(p, "alan", privacy={"education": "ONLY_ME"})
    page = """{ directory(orderBy: {field: GRADUATION_YEAR}, filter: {roles: [ALUMNUS]}) {
      edges { cursor node { name graduationYear } } } }"""
    edges = (await p.gql("s1", page))["data"]["directory"]["edges"]
    assert [e["node"]["name"] for e in edges][:2] == ["Grace Hopper", "Ada Lovelace"]
    alan = next(e for e in edges if e["node"]["name"] == "Alan Turing")
    assert alan["node"]["graduationYear"] is None
    assert b"2012" not in base64.urlsafe_b64decode(alan["cursor"])


async def test_the_directory_sorts_by_name_either_way_and_by_relevance(
    directory: Programme,
) -> None:
    p = directory
    everyone = ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    assert await names(p, "admin") == everyone  # no query: relevance is by name
    assert await names(p, "admin", o={"field": "NAME"}) == everyone
    assert await names(p, "admin", o={"field": "NAME", "direction": "DESC"}) == everyone[::-1]
    assert await names(p, "admin", o={"field": "RELEVANCE", "direction": "ASC"}) == everyone[::-1]
    years = {"field": "GRADUATION_YEAR", "direction": "ASC"}
    oldest = await names(p, "s1", f={"programmeId": p.ids["cs"]}, o=years)
    assert oldest == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    # Ranked, both ways: the same people, in opposite orders.
    best = await names(p, "admin", q="python")
    worst = await names(p, "admin", q="python", o={"field": "RELEVANCE", "direction": "ASC"})
    assert sorted(best) == ["Ada Lovelace", "Alan Turing"] and sorted(worst) == sorted(best)
    page = """query($a: String) { directory(first: 2, after: $a,
      orderBy: {field: NAME, direction: DESC}) { totalCount
      pageInfo { hasNextPage endCursor } edges { node { name } } } }"""
    first = (await p.gql("admin", page, {}))["data"]["directory"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    after = {"a": first["pageInfo"]["endCursor"]}
    rest = (await p.gql("admin", page, after))["data"]["directory"]
    assert [e["node"]["name"] for e in first["edges"] + rest["edges"]] == everyone[::-1]
    assert rest["totalCount"] == 3 and not rest["pageInfo"]["hasNextPage"]
