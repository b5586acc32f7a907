"""Job postings: moderation, trust, changes, closing, reports, and input that is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tests.careers.conftest import CREATE, MODERATE, Board, errors

NODE = """query($n: ID!) { node(id: $n) { ... on JobPosting { id title status moderationNote
  salaryFrom currency posterName reports { reason resolved } } } }"""
UPDATE = """mutation($i: JobPostingUpdateInput!) { jobPostingUpdate(input: $i) {
  jobPosting { id status title skills } userErrors { field code message } } }"""
REVIEW = "{ jobPostingsToReview(first: 50) { totalCount edges { node { title status } } } }"
SEARCH = "query($q: String) { jobPostings(query: $q, first: 50) { edges { node { title } } } }"
NOTES = "{ notifications(first: 20) { edges { node { kind title body } } } }"


async def titles(b: Board, who: str, query: str | None = None) -> list[str]:
    body = await b.gql(who, SEARCH, {"q": query})
    assert "errors" not in body, body
    return [e["node"]["title"] for e in body["data"]["jobPostings"]["edges"]]


async def test_an_alumnus_posting_waits_for_a_moderator(board: Board) -> None:
    b = board
    made = await b.post("a1", title="Data intern", skills=["python", "SQL"], audience="STUDENTS")
    assert made["status"] == "PENDING" and made["skills"] == ["Python", "SQL"]
    # Its employer's name is not shown to anyone but moderators until it is approved.
    named = "{ companies(first: 5) { edges { node { name } } } }"
    assert (await b.gql("s1", named))["data"]["companies"]["edges"] == []
    assert (await b.gql("manager", named))["data"]["companies"]["edges"] != []
    assert made["company"]["name"] == "Kente Systems"
    posting = made["id"]
    # Nobody but the poster and moderators sees it yet.
    assert (await b.gql("s1", NODE, {"n": posting}))["data"]["node"] is None
    assert await titles(b, "s1") == []
    assert (await b.gql("a1", NODE, {"n": posting}))["data"]["node"]["status"] == "PENDING"
    queue = (await b.gql("manager", REVIEW))["data"]["jobPostingsToReview"]
    assert queue["edges"] == [{"node": {"title": "Data intern", "status": "PENDING"}}]
    assert (await b.gql("a2", REVIEW))["data"]["jobPostingsToReview"]["totalCount"] == 0
    # A rejection needs a reason, which the poster reads.
    no_reason = await b.gql("manager", MODERATE, {"i": {"id": posting, "decision": "REJECT"}})
    assert errors(no_reason, "jobPostingModerate") == ["REQUIRED"]
    rejected = await b.ok(
        "manager", MODERATE,
        {"i": {"id": posting, "decision": "REJECT", "reason": "Say the stipend."}},
        "jobPostingModerate",
    )  # fmt: skip
    assert rejected["jobPosting"]["moderationNote"] == "Say the stipend."
    note = (await b.gql("a1", NOTES))["data"]["notifications"]["edges"][0]["node"]
    assert note["kind"] == "JOB_POSTING" and "rejected" in note["title"]
    assert note["body"] == "Reason: Say the stipend."
    # A student cannot moderate; approving makes it live for its audience only.
    refused = await b.gql("s1", MODERATE, {"i": {"id": posting, "decision": "APPROVE"}})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await b.ok("manager", MODERATE, {"i": {"id": posting, "decision": "APPROVE"}},
               "jobPostingModerate")  # fmt: skip
    assert await titles(b, "s1") == ["Data intern"]
    assert await titles(b, "a2") == []  # for students only
    # An untrusted poster's change goes back to the queue; a trusted one's does not.
    changed = await b.ok("a1", UPDATE, {"i": {"id": posting, "title": "Data science intern"}},
                         "jobPostingUpdate")  # fmt: skip
    assert changed["jobPosting"]["status"] == "PENDING"
    trust = """mutation($u: ID!) { jobPosterTrustSet(input: {userId: $u, trusted: true}) {
      trusted userErrors { code } } }"""
    assert (await b.gql("s1", trust, {"u": b.ids["a1"]}))["errors"][0]["extensions"]["code"] == (
        "FORBIDDEN"
    )
    await b.ok("manager", trust, {"u": b.ids["a1"]}, "jobPosterTrustSet")
    assert (await b.post("a1", title="Go developer"))["status"] == "LIVE"
    assert sorted(await titles(b, "s2")) == ["Go developer"]


async def test_reports_closing_and_the_nightly_job(board: Board) -> None:
    b = board
    posting = (await b.live(title="Sales lead", closesOn=date.today().isoformat()))["id"]
    report = """mutation($i: JobPostingReportInput!) { jobPostingReport(input: $i) {
      jobPosting { id } userErrors { code } } }"""
    for _ in range(2):  # reporting again is a no-op
        await b.ok("s1", report, {"i": {"id": posting, "reason": "Asks for a fee"}},
                   "jobPostingReport")  # fmt: skip
    own = await b.gql("manager", report, {"i": {"id": posting, "reason": "x"}})
    assert errors(own, "jobPostingReport") == ["INVALID"]
    queue = (await b.gql("manager", REVIEW))["data"]["jobPostingsToReview"]["edges"]
    assert queue == [{"node": {"title": "Sales lead", "status": "LIVE"}}]
    seen = (await b.gql("manager", NODE, {"n": posting}))["data"]["node"]
    assert seen["reports"] == [{"reason": "Asks for a fee", "resolved": False}]
    dismiss = await b.ok("manager", MODERATE, {"i": {"id": posting, "decision": "DISMISS"}},
                         "jobPostingModerate")  # fmt: skip
    assert dismiss["jobPosting"]["status"] == "LIVE"
    assert (await b.gql("manager", REVIEW))["data"]["jobPostingsToReview"]["edges"] == []
    for _ in range(2):  # a new report puts it back in the queue
        await b.ok("s2", report, {"i": {"id": posting, "reason": "Still a fee"}},
                   "jobPostingReport")  # fmt: skip
    assert len((await b.gql("manager", REVIEW))["data"]["jobPostingsToReview"]["edges"]) == 1
    assert (await b.gql("s1", NODE, {"n": posting}))["data"]["node"]["reports"] == []
    # The nightly job closes postings past their date and tells the poster.
    from strawberry.relay import GlobalID

    from alumnet.domain.careers import postings
    from alumnet.persistence.models import JobPosting
    from alumnet.schema.nodes import global_pk

    runtime = b.api.app.state.runtime
    pk = global_pk(GlobalID.from_id(posting), "JobPosting")
    async with runtime.transaction() as uow:
        found = await uow.session.get(JobPosting, pk)
        found.closes_on = (datetime.now(UTC) - timedelta(days=1)).date()
    assert await postings.close_expired(runtime) == {"closed": 1}
    assert (await b.gql("manager", NODE, {"n": posting}))["data"]["node"]["status"] == "CLOSED"
    assert await titles(b, "s1") == []
    note = (await b.gql("manager", NOTES))["data"]["notifications"]["edges"][0]["node"]
    assert note["title"] == "Your job posting “Sales lead” has closed"
    closed = await b.gql("manager", UPDATE, {"i": {"id": posting, "title": "Again"}})
    assert errors(closed, "jobPostingUpdate") == ["CLOSED"]


async def test_bad_input_is_refused_and_nothing_is_written(board: Board) -> None:
    b = board
    base = {"title": "Analyst", "company": "Baobab Bank", "description": "Numbers.",
            "kind": "FULL_TIME", "remote": "ON_SITE", "audience": "BOTH"}  # fmt: skip
    cases = [
        ({"closesOn": (date.today() - timedelta(days=1)).isoformat()}, ["DATE_IN_PAST"]),
        ({"salaryFrom": "5000", "salaryTo": "4000", "currency": "USD"}, ["SALARY_RANGE"]),
        ({"salaryFrom": "5000"}, ["REQUIRED"]),
        ({"salaryFrom": "10.555", "currency": "USD"}, ["INVALID"]),
        ({"salaryFrom": "10.5", "currency": "JPY"}, ["INVALID"]),
        ({"salaryFrom": "-1", "currency": "USD"}, ["INVALID"]),
        # Refused at once, whatever the exponent: no digits are scaled by it.
        ({"salaryFrom": "1e999990", "currency": "USD"}, ["INVALID"]),
        ({"salaryFrom": "9e999999", "currency": "USD"}, ["INVALID"]),
        ({"salaryFrom": "1e-1000000000", "currency": "USD"}, ["INVALID"]),
        ({"salaryFrom": "NaN", "currency": "USD"}, ["INVALID"]),
        ({"salaryFrom": "100.000000000000000000000000000001", "currency": "USD"}, ["INVALID"]),
        ({"applyUrl": "http://example.org/jobs"}, ["INVALID_URL"]),
        ({"applyUrl": "javascript:alert(1)"}, ["INVALID_URL"]),
        ({"country": "Ghana"}, ["INVALID"]),
        ({"title": "  "}, ["REQUIRED"]),
        ({"title": "Analyst\u202e"}, ["INVALID"]),
        ({"skills": ["x"] * 21}, ["TOO_MANY"]),
    ]
    for extra, expected in cases:
        body = await b.gql("manager", CREATE, {"i": {**base, **extra}})
        assert errors(body, "jobPostingCreate") == expected, extra
    unknown = await b.gql("manager", CREATE, {"i": {**base, "skills": ["Pyhton", "SQL"]}})
    [problem] = unknown["data"]["jobPostingCreate"]["userErrors"]
    assert problem["code"] == "UNKNOWN_SKILL" and problem["field"] == ["input", "skills", "0"]
    assert "Did you mean Python?" in problem["message"]
    # Nothing was written; students cannot post at all.
    assert await titles(b, "manager") == []
    student = await b.gql("s1", CREATE, {"i": base})
    assert student["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Markdown is rendered safe; money is exact in each currency's minor unit.
    made = await b.live(
        description="<script>alert(1)</script> [x](javascript:alert(1)) **ok**",
        salaryFrom="1200000", salaryTo="1500000.00", currency="jpy", clientId="k-1",
    )  # fmt: skip
    html = made["descriptionHtml"]
    assert "<script>" not in html and 'href="javascript:' not in html
    assert "<strong>ok</strong>" in made["descriptionHtml"]
    assert (made["salaryFrom"], made["salaryTo"], made["currency"]) == ("1200000", "1500000", "JPY")
    kwd = await b.live(title="Auditor", salaryFrom="1.250", currency="KWD")
    assert kwd["salaryFrom"] == "1.250"
    again = await b.live(title="Other", clientId="k-1")  # the same key: the first posting
    assert again["id"] == made["id"]
    # A new currency needs the amounts again: the stored ones are in the old currency.
    moved = await b.gql("manager", UPDATE, {"i": {"id": made["id"], "currency": "BHD"}})
    assert errors(moved, "jobPostingUpdate") == ["REQUIRED"]
    # Anonymous filters with absurd amounts are refused at once too.
    search = """query($f: JobPostingFilter) { jobPostings(filter: $f, first: 1) { totalCount } }"""
    huge = await b.api.gql(search, {"f": {"salaryFrom": "1e999990", "currency": "USD"}})
    assert huge["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
