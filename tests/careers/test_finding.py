"""Finding work: search, filters, facets and orders; saved postings and searches that
notify; recommendations with reasons; employers and their alumni; the figures; statements
that do not grow with the page."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any

from tests.careers.conftest import MOVE, Board, errors
from tests.conftest import subscribe, token_at

REFER = """mutation($i: JobPostingReferInput!) { jobPostingRefer(input: $i) {
  referral { id } userErrors { code } } }"""

SEARCH = """query($q: String, $f: JobPostingFilter, $o: JobPostingOrder, $n: Int) {
  jobPostings(query: $q, filter: $f, orderBy: $o, first: $n) {
    totalCount edges { node { title company { name } skills saved } } } }"""
FACETS = """query($q: String, $f: JobPostingFilter) { jobPostingFacets(query: $q, filter: $f) {
  kinds { value count } remote { value count } countries { value count }
  audiences { value count } companies { value count } skills { value count } } }"""


async def titles(b: Board, who: str, query: str | None = None, **given: Any) -> list[str]:
    body = await b.gql(who, SEARCH, {"q": query, "n": 50, **given})
    assert "errors" not in body, body
    return [e["node"]["title"] for e in body["data"]["jobPostings"]["edges"]]


async def _postings(b: Board) -> None:
    soon = (date.today() + timedelta(days=3)).isoformat()
    later = (date.today() + timedelta(days=30)).isoformat()
    await b.live(title="Data analyst", company="Baobab Bank", kind="FULL_TIME", remote="ON_SITE",
                 country="GH", city="Accra", skills=["SQL", "Data analysis"], closesOn=later,
                 salaryFrom="3000", salaryTo="4500", currency="USD")  # fmt: skip
    await b.live(title="Python developer", company="Kente Systems", kind="CONTRACT",
                 remote="REMOTE", country="KE", skills=["Python"], audience="ALUMNI",
                 closesOn=soon, description="Pipelines & [dashboards](https://x.org)")  # fmt: skip
    await b.live(title="Summer intern", company="Kente Systems", kind="INTERNSHIP",
                 remote="HYBRID", country="GH", skills=["Python", "SQL"], audience="STUDENTS",
                 salaryFrom="800", currency="USD")  # fmt: skip


async def test_search_filters_facets_and_orders(board: Board) -> None:
    b = board
    await _postings(b)
    assert sorted(await titles(b, "s1")) == ["Data analyst", "Summer intern"]
    assert sorted(await titles(b, "admin")) == ["Data analyst", "Python developer", "Summer intern"]
    assert await titles(b, "admin", "pipelines") == ["Python developer"]  # the description
    assert await titles(b, "admin", "kente intern") == ["Summer intern"]  # company and title
    assert set(await titles(b, "admin", "pyth")) == {"Python developer", "Summer intern"}
    assert await titles(b, "admin", "%' OR 1=1 --") == []
    assert await titles(b, "s1", f={"remote": ["REMOTE", "HYBRID"]}) == ["Summer intern"]
    assert await titles(b, "admin", f={"kind": ["CONTRACT"], "country": "ke"}) == [
        "Python developer"
    ]
    assert await titles(b, "admin", f={"skills": ["python", "SQL"]}) == ["Summer intern"]
    assert await titles(b, "admin", f={"company": "baobab  bank"}) == ["Data analyst"]
    assert sorted(await titles(b, "admin", f={"audience": "ALUMNI"})) == [
        "Data analyst",
        "Python developer",
    ]
    assert await titles(b, "admin", f={"salaryFrom": "4000", "currency": "USD"}) == ["Data analyst"]
    assert await titles(b, "admin", f={"postedSince": date.today().isoformat()}) != []
    bad = await b.gql("admin", SEARCH, {"f": {"salaryFrom": "10"}, "n": 5})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await titles(b, "admin", o={"field": "CLOSES_ON"}) == [
        "Python developer",
        "Data analyst",
        "Summer intern",
    ]
    assert await titles(b, "admin", o={"field": "CLOSES_ON", "direction": "DESC"}) == [
        "Summer intern",
        "Data analyst",
        "Python developer",
    ]
    newest = await titles(b, "admin", o={"field": "PUBLISHED_AT"})
    assert newest == ["Summer intern", "Python developer", "Data analyst"]
    assert await titles(b, "admin") == newest  # relevance without a query: newest first
    oldest = await titles(b, "admin", o={"field": "PUBLISHED_AT", "direction": "ASC"})
    assert oldest == newest[::-1]
    # Pages follow each other with cursors.
    first = await b.gql("admin", "{ jobPostings(first: 2, orderBy: {field: PUBLISHED_AT}) { "
                        "pageInfo { endCursor hasNextPage } } }")  # fmt: skip
    info = first["data"]["jobPostings"]["pageInfo"]
    assert info["hasNextPage"]
    after = """query($a: String) { jobPostings(first: 2, after: $a,
      orderBy: {field: PUBLISHED_AT}) { edges { node { title } } } }"""
    rest = await b.gql("admin", after, {"a": info["endCursor"]})
    assert [e["node"]["title"] for e in rest["data"]["jobPostings"]["edges"]] == ["Data analyst"]
    facets = (await b.gql("s1", FACETS))["data"]["jobPostingFacets"]
    assert facets["companies"] == [{"value": "Baobab Bank", "count": 1},
                                   {"value": "Kente Systems", "count": 1}]  # fmt: skip
    assert {f["value"]: f["count"] for f in facets["skills"]} == {"SQL": 2, "Data analysis": 1,
                                                                   "Python": 1}  # fmt: skip
    assert facets["countries"] == [{"value": "GH", "count": 2}]
    assert (await b.api.gql(SEARCH, {"n": 5}))["data"]["jobPostings"]["edges"] == []  # anonymous


async def test_lists_take_the_same_statements_for_any_page(board: Board) -> None:
    b = board
    await _postings(b)

    async def referred_application(i: int) -> None:
        extra = await b.live(title=f"Extra {i}", company=f"Company {i}", skills=["Go"])
        refer = {"jobPostingId": extra["id"], "userId": b.ids["s1"], "note": "Go for it"}
        await b.ok("a1", REFER, {"i": refer}, "jobPostingRefer")
        assert errors(await b.apply("s1", extra["id"]), "jobApplicationCreate") == []

    query = """query($n: Int) { jobPostings(first: $n, orderBy: {field: PUBLISHED_AT}) {
      edges { node { title company { name } skills saved viewerApplication { id } funnel { reached }
      applications(first: 2) { totalCount edges { node { applicantName history { toStatus }
        referral { note jobPosting { id } } } } } } } } }"""
    await referred_application(0)
    one, _ = await b.api.sql_count(query, {"n": 1}, b.tokens["admin"])
    for i in range(1, 6):
        await referred_application(i)
    many, body = await b.api.sql_count(query, {"n": 50}, b.tokens["admin"])
    assert len(body["data"]["jobPostings"]["edges"]) == 9
    assert many == one
    mine = """{ viewer { jobApplications(first: 50) { totalCount edges { node {
      jobPosting { title company { name } skills } history { toStatus } } } } } }"""
    count, body = await b.api.sql_count(mine, None, b.tokens["s1"])
    assert body["data"]["viewer"]["jobApplications"]["totalCount"] == 6
    assert count <= one


async def test_saved_postings_and_searches_that_notify(board: Board) -> None:
    b = board
    await _postings(b)
    posting = await b.gql("s1", SEARCH, {"q": "analyst", "n": 1})
    [edge] = posting["data"]["jobPostings"]["edges"]
    ids = await b.gql("s1", '{ jobPostings(first: 5, query: "analyst") { edges { node { id } } } }')
    analyst = ids["data"]["jobPostings"]["edges"][0]["node"]["id"]
    tail = "(input: {id: $n}) { jobPosting { saved } userErrors { code } } }"
    save = "mutation($n: ID!) { jobPostingSave" + tail
    unsave = "mutation($n: ID!) { jobPostingUnsave" + tail
    for _ in range(2):
        assert (await b.ok("s1", save, {"n": analyst}, "jobPostingSave"))["jobPosting"]["saved"]
    saved = "{ viewer { savedJobPostings(first: 5) { totalCount edges { node { title } } } } }"
    assert (await b.gql("s1", saved))["data"]["viewer"]["savedJobPostings"]["totalCount"] == 1
    other = await b.gql("a1", "query($u: ID!) { node(id: $u) { ... on User { savedJobPostings("
                        "first: 5) { totalCount } } } }", {"u": b.ids["s1"]})  # fmt: skip
    assert other["data"]["node"] is None or (
        other["data"]["node"]["savedJobPostings"]["totalCount"] == 0
    )
    await b.ok("s1", unsave, {"n": analyst}, "jobPostingUnsave")
    assert (await b.gql("s1", saved))["data"]["viewer"]["savedJobPostings"]["totalCount"] == 0
    assert edge["node"]["saved"] is False
    keep = """mutation($i: JobPostingSearchSaveInput!) { jobPostingSearchSave(input: $i) {
      jobPostingSearch { id name filter } userErrors { field code message } } }"""
    bad = await b.gql("s1", keep, {"i": {"name": "x", "filter": {"salaryFrom": "1"}}})
    assert errors(bad, "jobPostingSearchSave") == ["REQUIRED"]
    ghana = {"name": "Python in Ghana", "query": "python", "filter": {"country": "GH"}}
    await b.ok("s1", keep, {"i": ghana}, "jobPostingSearchSave")
    await b.ok("a1", keep, {"i": {"name": "Anything"}}, "jobPostingSearchSave")
    from alumnet.domain.careers import search

    runtime = b.api.app.state.runtime
    assert (await search.notify_matches(runtime))["notified"] == 0  # nothing new since saved
    await b.live(title="Python tutor", country="GH", skills=["Python"], audience="STUDENTS")
    await b.live(title="Cook", country="GH")
    assert (await search.notify_matches(runtime))["notified"] == 2
    assert (await search.notify_matches(runtime))["notified"] == 0  # told once
    kinds = "{ notifications(first: 5, kinds: [JOB_MATCH]) { edges { node { title body } } } }"
    [note] = (await b.gql("s1", kinds))["data"]["notifications"]["edges"]
    assert note["node"] == {"title": "New job postings for your search “Python in Ghana”",
                            "body": "Python tutor"}  # fmt: skip
    [alumnus] = (await b.gql("a1", kinds))["data"]["notifications"]["edges"]
    assert "Python tutor" not in alumnus["node"]["body"]  # for students only


async def test_recommendations_rank_by_fit_and_say_why(board: Board) -> None:
    b = board
    await _postings(b)
    await b.live(title="Go engineer", country="US", skills=["Go"])
    query = """{ viewer { jobRecommendations(first: 10) { jobPosting { title } score
      matchedSkills why } } }"""
    count, body = await b.api.sql_count(query, None, b.tokens["s1"])
    found = body["data"]["viewer"]["jobRecommendations"]
    # Equal scores (11: two skills, country, then city or audience, recency): newest first.
    assert [(r["jobPosting"]["title"], r["score"]) for r in found][:2] == [
        ("Summer intern", 11.0),
        ("Data analyst", 11.0),
    ]
    assert "Python developer" not in [r["jobPosting"]["title"] for r in found]  # alumni only
    top = found[1]
    assert top["matchedSkills"] == ["Data analysis", "SQL"]
    assert top["why"].startswith("Matches your skills Data analysis, SQL; in your city, Accra")
    assert found[-1]["jobPosting"]["title"] == "Go engineer" and found[-1]["matchedSkills"] == []
    assert count <= 5
    # A preference for remote work brings the remote posting up, and says so.
    prefer = """mutation { profileUpdate(input: {remotePreference: REMOTE}) {
      userErrors { code } } }"""
    await b.ok("s1", prefer, {}, "profileUpdate")
    _, body = await b.api.sql_count(query, None, b.tokens["s1"])
    ranked = {r["jobPosting"]["title"]: r for r in body["data"]["viewer"]["jobRecommendations"]}
    assert ranked["Summer intern"]["score"] == 11.5  # hybrid: the next best
    assert "hybrid" in ranked["Summer intern"]["why"]
    other = await b.gql("a1", "query($u: ID!) { node(id: $u) { ... on User { "
                        "jobRecommendations { score } } } }", {"u": b.ids["s1"]})  # fmt: skip
    assert other["data"]["node"] is None or other["data"]["node"]["jobRecommendations"] == []


async def test_employers_their_alumni_and_the_figures(board: Board) -> None:
    b = board
    await _postings(b)
    companies = """{ companies(first: 10, query: "kente") { edges { node { id name
      openJobPostings alumniCount alumni { name } } } } }"""
    [kente] = (await b.gql("s1", companies))["data"]["companies"]["edges"]
    # a2 works there too, but shows their work to nobody.
    assert kente["node"]["alumniCount"] == 1 and kente["node"]["alumni"] == [{"name": "A1 Person"}]
    assert kente["node"]["openJobPostings"] == 1  # the other is for alumni
    [as_admin] = (await b.gql("admin", companies))["data"]["companies"]["edges"]
    assert as_admin["node"]["alumniCount"] == 2
    update = """mutation($i: CompanyUpdateInput!) { companyUpdate(input: $i) {
      company { website industry } userErrors { code } } }"""
    change = {"id": kente["node"]["id"], "website": "https://kente.example", "industry": "Software"}
    assert (await b.gql("s1", update, {"i": change}))["errors"][0]["extensions"]["code"] == (
        "FORBIDDEN"
    )
    bad = await b.gql("manager", update, {"i": {**change, "website": "http://kente.example"}})
    assert errors(bad, "companyUpdate") == ["INVALID_URL"]
    await b.ok("manager", update, {"i": change}, "companyUpdate")
    posting = await b.gql(
        "s1", '{ jobPostings(first: 1, query: "intern") { edges { node { id } } } }'
    )
    intern = posting["data"]["jobPostings"]["edges"][0]["node"]["id"]
    made = await b.apply("s1", intern)
    application = made["data"]["jobApplicationCreate"]["application"]["id"]
    await b.ok("manager", MOVE, {"i": {"id": application, "status": "SCREENING"}},
               "jobApplicationMove")  # fmt: skip
    figures = """{ careersFigures { openJobPostings { audience kind count }
      funnel { status reached now } applications responded averageHoursToFirstResponse
      medianHoursToFirstResponse topHiringCompanies { company { name } openJobPostings
      applications } } }"""
    assert (await b.gql("s1", figures))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    count, body = await b.api.sql_count(figures, None, b.tokens["manager"])
    found = body["data"]["careersFigures"]
    assert {"audience": "STUDENTS", "kind": "INTERNSHIP", "count": 1} in found["openJobPostings"]
    assert found["applications"] == 1 and found["responded"] == 1
    assert found["averageHoursToFirstResponse"] is not None
    steps = {s["status"]: s for s in found["funnel"]}
    assert steps["SCREENING"] == {"status": "SCREENING", "reached": 1, "now": 1}
    assert found["topHiringCompanies"][0] == {
        "company": {"name": "Kente Systems"},
        "openJobPostings": 2,
        "applications": 1,
    }
    assert count <= 9


async def test_application_updates_arrive_live(board: Board, server: str) -> None:
    b = board
    posting = (await b.live(title="Live intern", audience="STUDENTS"))["id"]
    subscription = "subscription { applicationUpdated { status jobPosting { title } } }"
    poster = await subscribe(server, await token_at(server, "manager@example.org"), subscription)
    stranger = await subscribe(server, await token_at(server, "s2@example.org"), subscription)
    async with __import__("httpx").AsyncClient(base_url=f"http://{server}") as client:
        s1 = await token_at(server, "s1@example.org")
        body = {"query": "mutation($n: ID!) { jobApplicationCreate(input: {jobPostingId: $n}) "
                "{ userErrors { code } } }", "variables": {"n": posting}}  # fmt: skip
        response = await client.post("/graphql", json=body,
                                     headers={"Authorization": f"Bearer {s1}"})  # fmt: skip
        assert response.json()["data"]["jobApplicationCreate"]["userErrors"] == []
    event = json.loads(await asyncio.wait_for(poster.recv(), 10))
    assert event["payload"]["data"]["applicationUpdated"] == {
        "status": "APPLIED",
        "jobPosting": {"title": "Live intern"},
    }
    try:
        await asyncio.wait_for(stranger.recv(), 0.5)
        raise AssertionError("a stranger heard of the application")
    except TimeoutError:
        pass
    for ws in (poster, stranger):
        await ws.close()
