"""Public pages: saved by holders of `pages:edit` as revisions, read by anyone (GraphQL and
GET /pages/<slug> with an ETag), diffed and reverted by editors."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, func, select
from strawberry.relay import from_base64

from alumnet.domain.community import pages
from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.persistence.models import AuditEvent, Page, PageRevision
from alumnet.persistence.uow import Origin
from tests.conftest import Api

PAGE_FIELDS = "id slug title revision updatedAt etag sections { key heading markdown html }"
SAVE = f"""mutation($i: PageSaveInput!) {{ pageSave(input: $i) {{ changed
  page {{ {PAGE_FIELDS} }} revision {{ id number note revertedTo author {{ id }} }}
  userErrors {{ field code message }} }} }}"""
REVERT = f"""mutation($i: PageRevertInput!) {{ pageRevert(input: $i) {{ changed
  page {{ {PAGE_FIELDS} }} revision {{ id number revertedTo note }}
  userErrors {{ field code message }} }} }}"""
READ = f"""query($s: String!) {{ page(slug: $s) {{ {PAGE_FIELDS} createdAt }} }}"""
REVISIONS = """query($s: String!) { page(slug: $s) { revision revisions(first: 100) {
  totalCount edges { node { id number title note revertedTo createdAt author { id name }
  sections { key markdown } } } } } }"""
DIFF = """query($s: String!, $a: Int!, $b: Int!) { pageDiff(slug: $s, from: $a, to: $b) {
  from to titleBefore titleAfter titleChanged unifiedDiff added removed changed moved
  sections { key change moved headingBefore headingAfter markdownBefore markdownAfter
  positionBefore positionAfter unifiedDiff } } }"""


def section(markdown: str, key: str | None = None, heading: str | None = None) -> dict[str, Any]:
    given: dict[str, Any] = {"markdown": markdown}
    if key is not None:
        given["key"] = key
    if heading is not None:
        given["heading"] = heading
    return given


async def save(api: Api, token: str | None, slug: str = "about", **given: Any) -> dict[str, Any]:
    values = {"slug": slug, "title": "About us", "sections": [section("Hello.", "intro")],
              **given}  # fmt: skip
    body = await api.gql(SAVE, {"i": values}, token=token)
    return body


async def ok_save(api: Api, token: str, slug: str = "about", **given: Any) -> dict[str, Any]:
    body = await save(api, token, slug, **given)
    payload = body["data"]["pageSave"]
    assert payload["userErrors"] == [], payload
    return payload  # type: ignore[no-any-return]


async def counts(api: Api) -> tuple[int, int, int]:
    """Pages, revisions and page audit rows in the database."""
    async with api.app.state.runtime.database.connect() as conn:
        found = []
        for query in (
            select(func.count()).select_from(Page),
            select(func.count()).select_from(PageRevision),
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("page.%")),
        ):
            found.append(int((await conn.execute(query)).scalar_one()))
    return found[0], found[1], found[2]


async def editor(api: Api, role: str = "MANAGER") -> str:
    _, token = await api.create_user(f"{role.lower()}@example.org", [role])
    return token


def codes(body: dict[str, Any], name: str = "pageSave") -> list[tuple[str, list[str] | None]]:
    # Fields are paths from the mutation's arguments: ["input", "sections", "0", "key"].
    return [
        (e["code"], e["field"][1:] if e["field"] and e["field"][0] == "input" else e["field"])
        for e in body["data"][name]["userErrors"]
    ]


# -- saving and reading ----------------------------------------------------------------------


async def test_an_editor_saves_a_page_and_anyone_reads_it(api: Api) -> None:
    manager = await editor(api)
    saved = await ok_save(
        api, manager, title="About the network", note="First words",
        sections=[section("We are **many**.", heading="Who we are"),
                  section("Write to us.", key="contact")],
    )  # fmt: skip
    assert saved["changed"] is True
    page = saved["page"]
    assert page["revision"] == 1
    assert saved["revision"]["number"] == 1 and saved["revision"]["note"] == "First words"
    assert saved["revision"]["author"] is not None
    assert [s["key"] for s in page["sections"]] == ["who-we-are", "contact"]
    assert page["sections"][0]["html"] == "<p>We are <strong>many</strong>.</p>\n"

    anonymous = (await api.gql(READ, {"s": "about"}))["data"]["page"]
    assert {k: v for k, v in anonymous.items() if k != "createdAt"} == page
    assert anonymous["createdAt"] is None  # for editors only
    # A page is public by its id as well.
    node = await api.gql("query($id: ID!) { node(id: $id) { ... on Page { slug title } } }",
                         {"id": page["id"]})  # fmt: skip
    assert node["data"]["node"] == {"slug": "about", "title": "About the network"}
    for missing in ("contacts", "About", "../about", "a" * 65, ""):
        assert (await api.gql(READ, {"s": missing}))["data"]["page"] is None, missing


async def test_markdown_is_rendered_safe(api: Api) -> None:
    manager = await editor(api)
    hostile = (
        "<script>alert(1)</script>\n\n[click](javascript:alert(1))\n\n"
        '<img src=x onerror="alert(1)">\n\n<a href="javascript:alert(2)">x</a>\n\n'
        "![i](data:text/html;base64,PHNjcmlwdD4=)"
    )
    saved = await ok_save(api, manager, sections=[section(hostile, "bad", "<b>Heading</b>")])
    html = saved["page"]["sections"][0]["html"]
    # No element a browser would run or load: the link and the image stay text.
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert 'href="' not in html and 'src="' not in html
    assert "<p>[click](javascript:alert(1))</p>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    # The heading is text, for the frontend to escape as any text.
    assert saved["page"]["sections"][0]["heading"] == "<b>Heading</b>"
    public = await api.client.get("/pages/about")
    assert "<script" not in public.json()["sections"][0]["html"]


async def test_only_page_editors_save_and_nothing_is_written_otherwise(api: Api) -> None:
    body = await save(api, None)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for role in ("STUDENT", "ALUMNUS", "MENTOR", "SRE", "DEVELOPER"):
        _, token = await api.create_user(f"{role.lower()}@example.org", [role])
        body = await save(api, token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (role, body)
        assert (body.get("data") or {}).get("pageSave") is None
    assert await counts(api) == (0, 0, 0)
    # An admin holds every permission.
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    await ok_save(api, admin)
    assert await counts(api) == (1, 1, 1)


async def test_bad_input_is_refused_and_nothing_is_written(api: Api) -> None:
    manager = await editor(api)
    for slug in ("About", "a/b", "a" * 65, "", "über", "a b"):
        assert codes(await save(api, manager, slug)) == [("INVALID", ["slug"])], slug
    assert codes(await save(api, manager, title=" ")) == [("REQUIRED", ["title"])]
    assert codes(await save(api, manager, title="x" * 201)) == [("TOO_LONG", ["title"])]
    assert codes(await save(api, manager, sections=[])) == [("REQUIRED", ["sections"])]
    many = [section(f"Part {i}.") for i in range(51)]
    assert codes(await save(api, manager, sections=many)) == [("TOO_MANY", ["sections"])]
    assert codes(await save(api, manager, sections=[section("x" * 20_001)])) == [
        ("TOO_LONG", ["sections", "0", "markdown"])
    ]
    huge = [section("y" * 20_000) for _ in range(6)]  # 120,000 characters in all
    assert codes(await save(api, manager, sections=huge)) == [("TOO_LONG", ["sections"])]
    assert codes(await save(api, manager, sections=[section(" ")])) == [
        ("REQUIRED", ["sections", "0", "markdown"])
    ]
    twice = [section("a", "same"), section("b", "same")]
    assert codes(await save(api, manager, sections=twice)) == [
        ("DUPLICATE", ["sections", "1", "key"])
    ]
    assert codes(await save(api, manager, sections=[section("a", "Bad Key")])) == [
        ("INVALID", ["sections", "0", "key"])
    ]
    heading = section("a", heading="one\u202etwo")
    assert codes(await save(api, manager, sections=[heading])) == [
        ("INVALID", ["sections", "0", "heading"])
    ]
    assert codes(await save(api, manager, note="n" * 501)) == [("TOO_LONG", ["note"])]
    # Every problem at once.
    body = await save(api, manager, "Bad", title="", sections=[section("", "X")])
    assert len(codes(body)) == 4
    assert await counts(api) == (0, 0, 0)
    # A huge page within the limits is saved whole: 50 sections, 100,000 characters.
    big = [section(f"{i} " + "z" * 1_990, heading=f"Part {i}") for i in range(50)]
    saved = await ok_save(api, manager, "big", sections=big)
    assert len(saved["page"]["sections"]) == 50
    assert saved["page"]["sections"][49]["key"] == "part-49"


async def test_keys_are_made_from_headings_and_stay_unique(api: Api) -> None:
    manager = await editor(api)
    saved = await ok_save(api, manager, sections=[
        section("a", heading="Our team"), section("b", heading="Our team"), section("c"),
        section("d", key="our-team-2", heading="Explicit"), section("e", heading="!!!"),
    ])  # fmt: skip
    keys = [s["key"] for s in saved["page"]["sections"]]
    assert keys == ["our-team", "our-team-3", "section-3", "our-team-2", "section-5"]


async def test_a_stale_base_revision_is_a_conflict(api: Api) -> None:
    manager = await editor(api)
    assert codes(await save(api, manager, baseRevision=3)) == [("CONFLICT", ["baseRevision"])]
    await ok_save(api, manager, baseRevision=0)
    second = await ok_save(api, manager, baseRevision=1, title="Second")
    assert second["page"]["revision"] == 2
    # Someone who loaded revision 1 saves: refused, and nothing changes.
    stale = await save(api, manager, baseRevision=1, title="Stale")
    assert codes(stale) == [("CONFLICT", ["baseRevision"])]
    assert "revision 2" in stale["data"]["pageSave"]["userErrors"][0]["message"]
    assert codes(await save(api, manager, baseRevision=0, title="New?")) == [
        ("CONFLICT", ["baseRevision"])
    ]
    assert (await api.gql(READ, {"s": "about"}))["data"]["page"]["title"] == "Second"
    assert await counts(api) == (1, 2, 2)
    # Without a base, a save goes over whatever is there.
    assert (await ok_save(api, manager, title="Third"))["page"]["revision"] == 3


async def test_concurrent_saves_from_one_revision_keep_one(api: Api) -> None:
    manager = await editor(api)
    await ok_save(api, manager)
    bodies = await asyncio.gather(
        *(save(api, manager, baseRevision=1, title=f"Editor {i}") for i in range(2))
    )
    outcomes = sorted(str(codes(b)) for b in bodies)
    assert outcomes == ["[('CONFLICT', ['baseRevision'])]", "[]"], bodies
    assert await counts(api) == (1, 2, 2)


async def test_saving_identical_content_writes_nothing(api: Api) -> None:
    manager = await editor(api)
    sections = [section("Hello.\r\nWorld.", heading="Intro")]
    first = await ok_save(api, manager, sections=sections)
    again = await ok_save(api, manager, sections=sections, note="no change", baseRevision=1)
    assert again["changed"] is False
    assert again["page"] == first["page"]
    assert again["revision"]["number"] == 1 and again["revision"]["note"] is None
    # The same words with other white space at the ends, and Windows line ends: the same.
    trimmed = [section("  Hello.\nWorld.  ", heading=" Intro ")]
    assert (await ok_save(api, manager, sections=trimmed))["changed"] is False
    assert await counts(api) == (1, 1, 1)


# -- history, diffs and reverts --------------------------------------------------------------


async def three_revisions(api: Api, token: str) -> None:
    await ok_save(api, token, title="About", note="one", sections=[
        section("Alpha.", "a", "A"), section("Beta.\nLine two.", "b", "B"),
        section("Gamma.", "c", "C"), section("Epsilon.", "e", "E"),
    ])  # fmt: skip
    await ok_save(api, token, title="About", note="two", sections=[
        section("Alpha.", "a", "A"), section("Beta.\nLine 2.", "b", "B"),
        section("Gamma.", "c", "C"), section("Epsilon.", "e", "E"),
    ])  # fmt: skip
    await ok_save(api, token, title="About us", note="three", sections=[
        section("Delta.", "d", "D"), section("Beta.\nLine 2.", "b", "B"),
        section("Epsilon.", "e", "E"), section("Alpha.", "a", "A"),
    ])  # fmt: skip


async def test_diff_between_any_two_revisions(api: Api) -> None:
    manager = await editor(api)
    await three_revisions(api, manager)
    found = (await api.gql(DIFF, {"s": "about", "a": 1, "b": 3}, token=manager))["data"]
    diff = found["pageDiff"]
    assert (diff["from"], diff["to"]) == (1, 3)
    assert diff["titleChanged"] is True and diff["titleAfter"] == "About us"
    assert diff["added"] == ["d"] and diff["removed"] == ["c"] and diff["changed"] == ["b"]
    assert diff["moved"] == ["a"]
    by_key = {s["key"]: s for s in diff["sections"]}
    assert [s["key"] for s in diff["sections"]] == ["d", "b", "e", "a", "c"]
    assert by_key["b"]["change"] == "CHANGED"
    assert by_key["b"]["markdownBefore"] == "Beta.\nLine two."
    assert "-Line two.\n+Line 2." in by_key["b"]["unifiedDiff"]
    assert by_key["a"]["change"] == "UNCHANGED" and by_key["a"]["unifiedDiff"] == ""
    assert (by_key["a"]["positionBefore"], by_key["a"]["positionAfter"]) == (0, 3)
    assert by_key["e"]["moved"] is False  # pushed down by the section added, not moved
    assert by_key["c"]["change"] == "REMOVED" and by_key["c"]["markdownAfter"] is None
    assert by_key["d"]["change"] == "ADDED" and by_key["d"]["positionBefore"] is None
    whole = diff["unifiedDiff"]
    assert whole.startswith("--- revision 1\n+++ revision 3\n")
    assert "-# About\n+# About us" in whole and "+Delta." in whole and "-Gamma." in whole
    # Either order, and through the page itself.
    back = await api.gql(
        'query { page(slug: "about") { diff(from: 3, to: 1) { added removed changed } } }',
        token=manager,
    )
    assert back["data"]["page"]["diff"] == {"added": ["c"], "removed": ["d"], "changed": ["b"]}
    same = (await api.gql(DIFF, {"s": "about", "a": 2, "b": 2}, token=manager))["data"]
    assert same["pageDiff"]["unifiedDiff"] == "" and same["pageDiff"]["changed"] == []
    for a, b, slug in ((1, 4, "about"), (0, 1, "about"), (1, 2, "nothing"), (1, 2, "Bad!")):
        missing = await api.gql(DIFF, {"s": slug, "a": a, "b": b}, token=manager)
        assert missing["data"]["pageDiff"] is None, (a, b, slug)


async def test_revert_writes_a_new_revision_copying_an_old_one(api: Api) -> None:
    manager = await editor(api)
    await three_revisions(api, manager)
    reverted = (await api.gql(
        REVERT, {"i": {"slug": "about", "revision": 1, "baseRevision": 3, "note": "back"}},
        token=manager,
    ))["data"]["pageRevert"]  # fmt: skip
    assert reverted["userErrors"] == [] and reverted["changed"] is True
    assert reverted["revision"] == {**reverted["revision"], "number": 4, "revertedTo": 1,
                                    "note": "back"}  # fmt: skip
    page = reverted["page"]
    assert page["revision"] == 4 and page["title"] == "About"
    assert [s["markdown"] for s in page["sections"]] == [
        "Alpha.",
        "Beta.\nLine two.",
        "Gamma.",
        "Epsilon.",
    ]
    history = (await api.gql(REVISIONS, {"s": "about"}, token=manager))["data"]["page"]
    numbers = [e["node"]["number"] for e in history["revisions"]["edges"]]
    assert numbers == [4, 3, 2, 1] and history["revisions"]["totalCount"] == 4
    notes = [e["node"]["note"] for e in history["revisions"]["edges"]]
    assert notes == ["back", "three", "two", "one"]  # history is untouched
    diff = (await api.gql(DIFF, {"s": "about", "a": 1, "b": 4}, token=manager))["data"]
    assert diff["pageDiff"]["unifiedDiff"] == ""
    # Reverting to what the page already says writes nothing.
    again = await api.gql(REVERT, {"i": {"slug": "about", "revision": 1}}, token=manager)
    assert again["data"]["pageRevert"]["changed"] is False
    assert again["data"]["pageRevert"]["page"]["revision"] == 4
    refused = [
        ({"slug": "about", "revision": 9}, ("NOT_FOUND", ["revision"])),
        ({"slug": "about", "revision": 0}, ("NOT_FOUND", ["revision"])),
        ({"slug": "nowhere", "revision": 1}, ("NOT_FOUND", ["slug"])),
        ({"slug": "Bad/slug", "revision": 1}, ("NOT_FOUND", ["slug"])),
        ({"slug": "about", "revision": 2, "baseRevision": 3}, ("CONFLICT", ["baseRevision"])),
    ]
    for given, expected in refused:
        body = await api.gql(REVERT, {"i": given}, token=manager)
        assert codes(body, "pageRevert") == [expected], given
    _, student = await api.create_user("student@example.org", ["STUDENT"])
    body = await api.gql(REVERT, {"i": {"slug": "about", "revision": 2}}, token=student)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await api.gql(REVERT, {"i": {"slug": "about", "revision": 2}})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await counts(api) == (1, 4, 4)


async def test_revisions_and_diffs_are_for_editors_only(api: Api) -> None:
    manager = await editor(api)
    await three_revisions(api, manager)
    revisions = (await api.gql(REVISIONS, {"s": "about"}, token=manager))["data"]["page"]
    revision_id = revisions["revisions"]["edges"][0]["node"]["id"]
    others: list[str | None] = [None]
    for role in ("STUDENT", "ALUMNUS", "MENTOR", "SRE", "DEVELOPER"):
        others.append((await api.create_user(f"{role.lower()}@example.org", [role]))[1])
    for token in others:
        read = (await api.gql(REVISIONS, {"s": "about"}, token=token))["data"]["page"]
        assert read["revision"] == 3
        assert read["revisions"] == {"totalCount": 0, "edges": []}
        page = await api.gql(
            'query { page(slug: "about") { createdAt diff(from: 1, to: 3) { added } } }',
            token=token,
        )
        assert page["data"]["page"] == {"createdAt": None, "diff": None}
        diff = await api.gql(DIFF, {"s": "about", "a": 1, "b": 3}, token=token)
        assert diff["data"]["pageDiff"] is None
        assert diff["errors"][0]["extensions"]["code"] in {"FORBIDDEN", "UNAUTHENTICATED"}
        node = await api.gql(
            "query($id: ID!) { node(id: $id) { id } }", {"id": revision_id}, token=token
        )
        assert node["data"]["node"] is None
        listed = await api.gql("{ pages { totalCount } }", token=token)
        assert listed["data"]["pages"] is None
    node = await api.gql(
        "query($id: ID!) { node(id: $id) { ... on PageRevision { number } } }",
        {"id": revision_id}, token=manager,
    )  # fmt: skip
    assert node["data"]["node"] == {"number": 3}


async def test_editors_list_every_page(api: Api) -> None:
    manager = await editor(api)
    for slug in ("contacts", "about", "quick-links"):
        await ok_save(api, manager, slug, title=slug.title())
    listed = await api.gql(
        "{ pages(first: 2) { totalCount edges { node { slug title sections { key } } } "
        "pageInfo { hasNextPage endCursor } } }",
        token=manager,
    )
    found = listed["data"]["pages"]
    assert found["totalCount"] == 3 and found["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["slug"] for e in found["edges"]] == ["about", "contacts"]
    rest = await api.gql(
        "query($a: String) { pages(after: $a) { edges { node { slug } } } }",
        {"a": found["pageInfo"]["endCursor"]}, token=manager,
    )  # fmt: skip
    assert [e["node"]["slug"] for e in rest["data"]["pages"]["edges"]] == ["quick-links"]


async def test_revisions_take_a_constant_number_of_statements(api: Api) -> None:
    manager = await editor(api)
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    await ok_save(api, manager, title="v0")
    await ok_save(api, admin, title="v1")
    few, small = await api.sql_count(REVISIONS, {"s": "about"}, token=manager)
    assert small["data"]["page"]["revisions"]["totalCount"] == 2
    for i in range(10):
        await ok_save(api, admin if i % 2 else manager, title=f"v{i + 2}")
    many, large = await api.sql_count(REVISIONS, {"s": "about"}, token=manager)
    assert large["data"]["page"]["revisions"]["totalCount"] == 12
    assert all(e["node"]["author"] for e in large["data"]["page"]["revisions"]["edges"])
    assert many == few, f"{few} statements for 2 revisions, {many} for 12"
    listing = (
        "{ pages(first: 100) { totalCount edges { node { slug etag sections { key } "
        "diff(from: 1, to: 1) { from changed } revisions(first: 5) { totalCount "
        "edges { node { number author { name } } } } } } } }"
    )
    few, _ = await api.sql_count(listing, token=manager)
    for i in range(8):
        await ok_save(api, manager, f"page-{i}")
    many, listed = await api.sql_count(listing, token=manager)
    assert listed["data"]["pages"]["totalCount"] == 9
    assert all(
        e["node"]["diff"] == {"from": 1, "changed": []} for e in listed["data"]["pages"]["edges"]
    )
    assert many == few


# -- the public, cacheable page --------------------------------------------------------------


def statements(response: Any) -> int:
    timing = response.headers["server-timing"]
    return int(timing.split('desc="')[1].split(" ")[0])


async def test_get_page_serves_json_with_an_etag_and_304(api: Api) -> None:
    manager = await editor(api)
    saved = await ok_save(api, manager, sections=[section("Hello *all*.", heading="Hi")])
    response = await api.client.get("/pages/about")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=60"
    tag = response.headers["etag"]
    assert tag == saved["page"]["etag"] and tag.startswith('"') and tag.endswith('"')
    assert response.json() == {
        "slug": "about", "title": "About us", "revision": 1,
        "updatedAt": response.json()["updatedAt"],
        "sections": [{"key": "hi", "heading": "Hi", "markdown": "Hello *all*.",
                      "html": "<p>Hello <em>all</em>.</p>\n"}],
    }  # fmt: skip
    # Anonymous reads are one statement, a read: the page, its latest sections.
    assert statements(response) == 1
    for given in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        cached = await api.client.get("/pages/about", headers={"If-None-Match": given})
        assert cached.status_code == 304, given
        assert cached.content == b"" and cached.headers["etag"] == tag
        assert statements(cached) == 1
    other = await api.client.get("/pages/about", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200
    # Signed in or not, the same page and tag.
    signed_in = await api.client.get("/pages/about", headers={"Authorization": f"Bearer {manager}"})
    assert signed_in.headers["etag"] == tag
    # Saving the same content changes nothing; saving a change changes the tag.
    await ok_save(api, manager, sections=[section("Hello *all*.", heading="Hi")])
    assert (await api.client.get("/pages/about")).headers["etag"] == tag
    changed = await ok_save(api, manager, sections=[section("Hello *everyone*.", heading="Hi")])
    fresh = await api.client.get("/pages/about", headers={"If-None-Match": tag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != tag
    assert fresh.headers["etag"] == changed["page"]["etag"]
    assert fresh.json()["revision"] == 2
    read = (await api.gql(READ, {"s": "about"}))["data"]["page"]
    assert read["etag"] == fresh.headers["etag"]
    for missing in ("/pages/nowhere", "/pages/Bad!", "/pages/" + "a" * 65):
        gone = await api.client.get(missing)
        assert gone.status_code == 404 and "etag" not in gone.headers, missing
    assert (await api.client.post("/pages/about")).status_code == 405


async def test_anonymous_reads_write_nothing(api: Api) -> None:
    manager = await editor(api)
    await ok_save(api, manager)
    runtime = api.app.state.runtime
    written: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith("SELECT"):
            written.append(statement)

    engine = runtime.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", spy)
    try:
        for _ in range(3):
            assert (await api.client.get("/pages/about")).status_code == 200
            assert (await api.gql(READ, {"s": "about"}))["data"]["page"]["revision"] == 1
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert written == []
    # GraphQL's `page` for a signed-out reader: one statement as well.
    assert (await api.sql_count(READ, {"s": "about"}))[0] == 1


# -- the pages a new network starts with -----------------------------------------------------


async def test_default_pages_are_seeded_once(api: Api) -> None:
    manager_id, _ = await api.create_user("manager@example.org", ["MANAGER"])
    viewer = Viewer(user_id=int(from_base64(manager_id)[1]), roles=frozenset({Role.MANAGER}))
    runtime = api.app.state.runtime
    for expected in (4, 0):
        async with runtime.transaction(origin=Origin(via="cli")) as uow:
            assert await pages.seed_default_pages(uow, viewer) == expected
    slugs = [p["slug"] for p in pages.default_pages()]
    assert slugs == ["about", "contacts", "quick-links", "feature-cards"]
    for slug in slugs:
        response = await api.client.get(f"/pages/{slug}")
        assert response.status_code == 200 and response.json()["sections"], slug
