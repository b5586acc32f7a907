"""Applications: CVs checked by content, the workflow with its history, privacy between
applicants and posters, referrals, the funnel, and the export of applicants."""

from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta
from urllib.parse import urlparse

from tests.careers.conftest import MOVE, PDF, PROFILE, Board, errors

APPLICANTS = """query($n: ID!) { node(id: $n) { ... on JobPosting {
  applications(first: 50) { totalCount edges { node { id status applicantName coverNote
    applicant { name country } referral { referrerName note } } } }
  funnel { status reached now } } } }"""
MINE = """{ viewer { jobApplications(first: 10) { edges { node { status jobPosting { title }
  history { fromStatus toStatus byApplicant } } } } } }"""
REFER = """mutation($i: JobPostingReferInput!) { jobPostingRefer(input: $i) {
  referral { id note referrerName } userErrors { field code message } } }"""
WITHDRAW = """mutation($i: JobApplicationWithdrawInput!) { jobApplicationWithdraw(input: $i) {
  application { status } userErrors { code } } }"""
NOTES = """{ notifications(first: 20, kinds: [APPLICATION, REFERRAL]) {
  edges { node { kind title } } } }"""


EXPORT = """mutation($i: ApplicationsExportInput!) { applicationsExport(input: $i) {
  job { id } userErrors { code } } }"""


async def _download(b: Board, who: str) -> list[str]:
    """The newest export of ``who``, once the jobs have run, as lines."""
    await b.api.run_jobs()
    listed = await b.gql(who, "{ exports(first: 1) { edges { node { downloadUrl } } } }")
    url = urlparse(listed["data"]["exports"]["edges"][0]["node"]["downloadUrl"])
    return (await b.api.client.get(f"{url.path}?{url.query}")).text.splitlines()


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in (("[Content_Types].xml", "<Types/>"), ("word/document.xml", "<w/>")):
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


async def test_applying_checks_the_posting_the_person_and_the_cv(board: Board) -> None:
    b = board
    posting = (await b.live(title="Data intern", audience="STUDENTS"))["id"]
    alumni_only = (await b.live(title="Senior engineer", audience="ALUMNI"))["id"]
    external = (await b.live(title="Designer", applyUrl="https://jobs.example.org/1"))["id"]
    # Not a CV whatever its name, too large, or both a file and the profile's link.
    for name, data, code in [
        ("cv.pdf", b"MZ\x90\x00not a pdf", "FILE_TYPE"),
        ("cv.zip", _docx(), "FILE_TYPE"),
        ("cv.pdf", PDF + b"0" * (6 * 1024 * 1024), "FILE_TOO_LARGE"),
    ]:
        assert errors(await b.apply("s1", posting, (name, data)), "jobApplicationCreate") == [code]
    both = await b.apply("s1", posting, ("cv.pdf", PDF), useProfileCv=True)
    assert "INVALID" in errors(both, "jobApplicationCreate")
    no_link = await b.apply("s1", posting, useProfileCv=True)
    assert errors(no_link, "jobApplicationCreate") == ["NO_PROFILE_CV"]
    for who, target, code in [
        ("s1", alumni_only, "NOT_FOUND"),  # a student does not even see it
        ("s1", external, "APPLY_EXTERNALLY"),
        ("manager", posting, "OWN_POSTING"),
    ]:
        assert errors(await b.apply(who, target), "jobApplicationCreate") == [code], who
    tokens = b.tokens
    assert (await b.apply("m1", posting))["data"]["jobApplicationCreate"]["userErrors"][0][
        "code"
    ] == "NOT_FOUND"  # a mentor is not a student
    made = await b.apply("s1", posting, ("CV.docx", _docx()), coverNote="I like data.")
    assert errors(made, "jobApplicationCreate") == []
    application = made["data"]["jobApplicationCreate"]["application"]
    assert application["status"] == "APPLIED" and application["cvDownloadUrl"]
    again = await b.apply("s1", posting, coverNote="Twice")
    assert errors(again, "jobApplicationCreate") == ["ALREADY_APPLIED"]
    # The poster downloads the CV; another student cannot see the application at all.
    url = urlparse(
        (await b.gql("manager", "query($n: ID!) { node(id: $n) { ... on JobApplication { "
                     "cvDownloadUrl } } }", {"n": application["id"]}))["data"]["node"][
            "cvDownloadUrl"]
    )  # fmt: skip
    response = await b.api.client.get(f"{url.path}?{url.query}")
    assert response.status_code == 200 and response.content == _docx()
    nosy = await b.gql("s2", "query($n: ID!) { node(id: $n) { id } }", {"n": application["id"]})
    assert nosy["data"]["node"] is None
    assert tokens  # the fixture's people
    # A closed posting takes no more applications.
    close = "mutation($n: ID!) { jobPostingClose(input: {id: $n}) { userErrors { code } } }"
    await b.ok("manager", close, {"n": posting}, "jobPostingClose")
    assert errors(await b.apply("s2", posting), "jobApplicationCreate") == ["NOT_OPEN"]


async def test_the_workflow_moves_only_forward_and_both_sides_are_told(board: Board) -> None:
    b = board
    posting = (await b.post("a1", title="Go developer"))["id"]
    approve = """mutation($n: ID!) { jobPostingModerate(input: {id: $n, decision: APPROVE}) {
      userErrors { code } } }"""
    await b.ok("manager", approve, {"n": posting}, "jobPostingModerate")
    # The applicant hides their location: the poster never sees it.
    await b.ok("s1", PROFILE, {"i": {"privacy": {"location": "ONLY_ME"}}}, "profileUpdate")
    link = {"socialLinks": [{"kind": "CV", "url": "https://cv.example.org/s1.pdf"}]}
    await b.ok("s1", PROFILE, {"i": link}, "profileUpdate")
    first = await b.apply("s1", posting, coverNote="Hello", useProfileCv=True)
    assert errors(first, "jobApplicationCreate") == []
    application = first["data"]["jobApplicationCreate"]["application"]
    assert application["cvLink"] == "https://cv.example.org/s1.pdf"
    assert errors(await b.apply("s2", posting), "jobApplicationCreate") == []
    seen = (await b.gql("a1", APPLICANTS, {"n": posting}))["data"]["node"]
    assert seen["applications"]["totalCount"] == 2
    s1_view = next(
        e["node"]
        for e in seen["applications"]["edges"]
        if e["node"]["applicantName"] == "S1 Person"
    )
    assert s1_view["applicant"] == {"name": "S1 Person", "country": None}
    assert s1_view["coverNote"] == "Hello"
    # Nobody else reads the applicants, nor the funnel.
    for who in ("s1", "a2"):
        other = (await b.gql(who, APPLICANTS, {"n": posting}))["data"]["node"]
        assert other["applications"]["totalCount"] == 0 and other["funnel"] is None
    move = {"id": application["id"]}
    wrong = await b.gql("a1", MOVE, {"i": {**move, "status": "HIRED"}})
    assert errors(wrong, "jobApplicationMove") == ["NOT_ALLOWED"]
    by_applicant = await b.gql("s1", MOVE, {"i": {**move, "status": "SCREENING"}})
    assert errors(by_applicant, "jobApplicationMove") == ["NOT_FOUND"]
    for status in ("SCREENING", "INTERVIEW", "ON_HOLD", "OFFER"):
        await b.ok("a1", MOVE, {"i": {**move, "status": status, "note": f"{status}!"}},
                   "jobApplicationMove")  # fmt: skip
    mine = (await b.gql("s1", MINE))["data"]["viewer"]["jobApplications"]["edges"][0]["node"]
    assert [h["toStatus"] for h in mine["history"]] == [
        "APPLIED",
        "SCREENING",
        "INTERVIEW",
        "ON_HOLD",
        "OFFER",
    ]
    assert mine["history"][0]["byApplicant"] and not mine["history"][1]["byApplicant"]
    told = [
        n["node"]["title"] for n in (await b.gql("s1", NOTES))["data"]["notifications"]["edges"]
    ]
    assert told[0] == "Your application to “Go developer”: offer"
    poster_told = (await b.gql("a1", NOTES))["data"]["notifications"]["edges"]
    assert [n["node"]["title"] for n in poster_told].count("New applicant for “Go developer”") == 2
    await b.ok("s1", WITHDRAW, {"i": {"id": application["id"]}}, "jobApplicationWithdraw")
    final = await b.gql("s1", WITHDRAW, {"i": {"id": application["id"]}})
    assert errors(final, "jobApplicationWithdraw") == ["NOT_ALLOWED"]
    funnel = (await b.gql("a1", APPLICANTS, {"n": posting}))["data"]["node"]["funnel"]
    steps = {s["status"]: (s["reached"], s["now"]) for s in funnel}
    assert steps["APPLIED"] == (2, 1) and steps["OFFER"] == (1, 0) and steps["WITHDRAWN"] == (1, 1)
    # Pages follow each other; an alumnus poster's export leaves out e-mail addresses the
    # applicants show to staff only.
    page = """query($n: ID!, $a: String) { node(id: $n) { ... on JobPosting {
      applications(first: 1, after: $a) { pageInfo { endCursor hasNextPage }
        edges { node { applicantName } } } } } }"""
    first = (await b.gql("a1", page, {"n": posting}))["data"]["node"]["applications"]
    rest = await b.gql("a1", page, {"n": posting, "a": first["pageInfo"]["endCursor"]})
    names = [first["edges"][0]["node"]["applicantName"],
             rest["data"]["node"]["applications"]["edges"][0]["node"]["applicantName"]]  # fmt: skip
    assert first["pageInfo"]["hasNextPage"] and sorted(names) == ["S1 Person", "S2 Person"]
    await b.ok("a1", EXPORT, {"i": {"jobPostingId": posting, "format": "CSV"}},
               "applicationsExport")  # fmt: skip
    lines = await _download(b, "a1")
    assert [line.split(",")[:3] for line in lines[1:]] == [
        ["S1 Person", "", "withdrawn"],
        ["S2 Person", "", "applied"],
    ]


async def test_referrals_reach_the_person_and_come_first_for_the_poster(board: Board) -> None:
    b = board
    posting = (
        await b.live(title="Analyst", closesOn=(date.today() + timedelta(days=9)).isoformat())
    )["id"]
    refer = {"jobPostingId": posting, "userId": b.ids["s2"], "note": "Strong at SQL"}
    made = await b.ok("a2", REFER, {"i": refer}, "jobPostingRefer")
    again = await b.ok("a2", REFER, {"i": refer}, "jobPostingRefer")
    assert again["referral"]["id"] == made["referral"]["id"]
    assert errors(await b.gql("s1", REFER, {"i": refer}), "jobPostingRefer") == ["NOT_ALLOWED"]
    # A mentor, oneself, the poster, someone who blocked the referrer: one answer for all,
    # which says nothing of the account.
    block = """mutation($u: ID!) { userBlock(input: {userId: $u}) { userErrors { code } } }"""
    await b.ok("s1", block, {"u": b.ids["a2"]}, "userBlock")
    for target in ("m1", "a2", "manager", "s1"):
        body = await b.gql("a2", REFER, {"i": {**refer, "userId": b.ids[target]}})
        [problem] = body["data"]["jobPostingRefer"]["userErrors"]
        assert (problem["code"], problem["message"]) == (
            "NOT_FOUND",
            "You cannot refer this person to this posting.",
        ), target
    told = (await b.gql("s2", NOTES))["data"]["notifications"]["edges"]
    assert told[0]["node"] == {"kind": "REFERRAL", "title": "A2 Person referred you to “Analyst”"}
    assert errors(await b.apply("s1", posting), "jobApplicationCreate") == []
    referred = await b.apply("s2", posting)
    assert referred["data"]["jobApplicationCreate"]["application"]["referral"] == {
        "id": made["referral"]["id"],
        "note": "Strong at SQL",
        "referrerName": "A2 Person",
    }
    edges = (await b.gql("manager", APPLICANTS, {"n": posting}))["data"]["node"]["applications"]
    assert [e["node"]["applicantName"] for e in edges["edges"]] == ["S2 Person", "S1 Person"]
    # The export: the poster's applicants, e-mail only where privacy lets them see it.
    export = EXPORT
    nosy = await b.gql("a2", export, {"i": {"jobPostingId": posting, "format": "CSV"}})
    assert errors(nosy, "applicationsExport") == ["NOT_FOUND"]
    await b.ok("manager", export, {"i": {"jobPostingId": posting, "format": "CSV"}},
               "applicationsExport")  # fmt: skip
    lines = await _download(b, "manager")
    assert lines[0] == "name,email,status,applied_at,updated_at,referred_by,cover_note,cv_link"
    assert [line.split(",")[:3] for line in lines[1:]] == [
        ["S1 Person", "s1@example.org", "applied"],
        ["S2 Person", "s2@example.org", "applied"],
    ]  # staff see staff-level contact details


async def test_erasing_oneself_takes_the_cv_and_the_words_with_it(board: Board) -> None:
    b = board
    posting = (await b.live(title="Analyst"))["id"]
    made = await b.apply("s2", posting, ("cv.pdf", PDF), coverNote="Call me on 555-0100")
    application = made["data"]["jobApplicationCreate"]["application"]["id"]
    url = urlparse(made["data"]["jobApplicationCreate"]["application"]["cvDownloadUrl"])
    erase = """mutation($p: String) { personalDataErase(input: {password: $p}) { erased } }"""
    from tests.conftest import PASSWORD

    assert (await b.gql("s2", erase, {"p": PASSWORD}))["data"]["personalDataErase"]["erased"]
    shown = """query($n: ID!) { node(id: $n) { ... on JobApplication {
      coverNote cvDownloadUrl applicantName } } }"""
    seen = await b.gql("manager", shown, {"n": application})
    node = seen["data"]["node"]
    assert node["coverNote"] is None and node["cvDownloadUrl"] is None
    assert node["applicantName"].startswith("Former member")
    assert (await b.api.client.get(f"{url.path}?{url.query}")).status_code == 404
