"""Moderation: reports by readers, the queue for holders of `community:moderate`, and
their decisions (hide, restore, warn, dismiss) with what the authors and readers see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from strawberry.relay import from_base64

from alumnet.domain.community.moderation import REPORTS_PER_DAY
from alumnet.persistence.models import (
    AuditEvent,
    Batch,
    ContentReport,
    CustomRole,
    CustomRoleAssignment,
    Post,
)
from alumnet.persistence.models.community import CommunityWarning
from tests.conftest import Api

POST = """mutation($i: PostCreateInput!) { postCreate(input: $i) {
  post { id } userErrors { field code message } } }"""
COMMENT = """mutation($i: CommentCreateInput!) { commentCreate(input: $i) {
  comment { id } userErrors { field code message } } }"""
REPORT = """mutation($i: ContentReportInput!) { contentReport(input: $i) {
  report { id reason note status action createdAt resolvedAt resolutionNote
    reporter { id } resolvedBy { id } post { id } comment { id } }
  userErrors { field code message } } }"""
RESOLVE = """mutation($i: ModerationResolveInput!) { moderationResolve(input: $i) {
  item { id kind reportCount hidden hiddenAt resolvedAt
    reports(first: 10) { totalCount edges { node { id status action resolutionNote } } } }
  reportsClosed changed warning { id note user { id } }
  userErrors { field code message } } }"""
QUEUE = """query($first: Int, $after: String, $status: ContentReportStatus! = OPEN) {
  moderationQueue(first: $first, after: $after, status: $status) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind reportCount firstReportedAt lastReportedAt hidden
      reasons { reason count } author { id name } authorName post { id bodyMarkdown hidden }
      comment { id bodyMarkdown }
      reports(first: 20) { totalCount edges { node { id reason note status
        reporter { id } reporterName } } } } } } }"""
WARNINGS = """query($u: ID) { communityWarnings(userId: $u, first: 20) { totalCount
  edges { node { id note createdAt user { id } issuedBy { id } post { id } comment { id } } } } }"""
NOTIFICATIONS = """{ notifications(kinds: [MODERATION], first: 50) { totalCount
  edges { node { title body subjectId } } } }"""
NODE = """query($id: ID!) { node(id: $id) { id ... on Post { hidden bodyMarkdown
  comments(first: 10) { edges { node { id hidden } } } } ... on Comment { id hidden } } }"""
FEED = "{ feed(first: 50) { edges { node { id } } } }"


@dataclass
class Community:
    api: Api
    ids: dict[str, str]
    tokens: dict[str, str]

    async def gql(
        self, who: str | None, query: str, variables: dict[str, Any] | None = None
    ) -> Any:
        return await self.api.gql(query, variables, token=self.tokens.get(who or "", None))

    async def ok(self, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
        body = await self.gql(who, query, variables)
        assert "errors" not in body, body
        payload = body["data"][key]
        assert payload["userErrors"] == [], payload
        return payload

    async def post(self, who: str, body: str, **given: Any) -> str:
        payload = await self.ok(who, POST, {"i": {"body": body, **given}}, "postCreate")
        return str(payload["post"]["id"])

    async def comment(self, who: str, post: str, body: str) -> str:
        payload = await self.ok(
            who, COMMENT, {"i": {"postId": post, "body": body}}, "commentCreate"
        )
        return str(payload["comment"]["id"])

    async def report(self, who: str | None, **given: Any) -> Any:
        body = await self.gql(who, REPORT, {"i": {"reason": "SPAM", **given}})
        return body if "errors" in body else body["data"]["contentReport"]

    async def resolve(self, who: str, **given: Any) -> Any:
        body = await self.gql(who, RESOLVE, {"i": given})
        return body if "errors" in body else body["data"]["moderationResolve"]

    async def queue(self, who: str = "sre", **variables: Any) -> Any:
        body = await self.gql(who, QUEUE, variables)
        assert "errors" not in body, body
        return body["data"]["moderationQueue"]

    async def news(self, who: str) -> list[dict[str, Any]]:
        body = await self.gql(who, NOTIFICATIONS)
        assert "errors" not in body, body
        return [e["node"] for e in body["data"]["notifications"]["edges"]]

    async def count(self, model: Any, *where: Any) -> int:
        async with self.api.app.state.runtime.database.session() as session:
            query = select(func.count()).select_from(model).where(*where)
            return int((await session.execute(query)).scalar_one())


@pytest.fixture
async def community(api: Api) -> Community:
    ids: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for who, role in [
        ("admin", "ADMIN"),
        ("sre", "SRE"),
        ("manager", "MANAGER"),
        ("author", "ALUMNUS"),
        ("reader", "STUDENT"),
        ("other", "ALUMNUS"),
        ("mentor", "MENTOR"),
    ]:
        ids[who], tokens[who] = await api.create_user(
            f"{who}@example.org", [role], name=f"{who.title()} Person"
        )
    return Community(api, ids, tokens)


def codes(payload: Any) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


def pk(global_id: str) -> int:
    return int(from_base64(global_id)[1])


def error_codes(body: Any) -> set[str]:
    return {e["extensions"]["code"] for e in body.get("errors", [])}


async def test_a_report_is_made_once_and_moderators_hear_once_per_item(
    community: Community,
) -> None:
    c = community
    post = await c.post("author", "Buy cheap watches at my shop!")
    first = await c.report("reader", postId=post, reason="SPAM", note="  An advert.  ")
    assert first["userErrors"] == []
    report = first["report"]
    assert report["status"] == "OPEN" and report["action"] is None
    assert report["note"] == "An advert." and report["reason"] == "SPAM"
    assert report["reporter"]["id"] == c.ids["reader"] and report["post"]["id"] == post
    # The reporter never sees the moderators' side.
    assert report["resolutionNote"] is None and report["resolvedBy"] is None
    again = await c.report("reader", postId=post, reason="HARASSMENT")
    assert again["report"]["id"] == report["id"]
    assert again["report"]["reason"] == "SPAM"
    other = await c.report("other", postId=post, reason="INAPPROPRIATE")
    assert other["report"]["id"] != report["id"]
    assert await c.count(ContentReport) == 2
    for moderator in ("sre", "manager", "admin"):
        news = await c.news(moderator)
        assert len(news) == 1, (moderator, news)
        assert "reported" in news[0]["title"] and news[0]["subjectId"] == post
        assert "cheap watches" in news[0]["body"]
    assert await c.news("reader") == [] and await c.news("author") == []
    audited = await c.count(AuditEvent, AuditEvent.action == "content.report")
    assert audited == 2


async def test_bad_reports_are_refused_and_write_nothing(community: Community) -> None:
    c = community
    post = await c.post("author", "For mentors only.", audience={"roles": ["MENTOR"]})
    public = await c.post("author", "Hello all.")
    comment = await c.comment("other", public, "Nice to hear.")
    anonymous = await c.report(None, postId=public)
    assert error_codes(anonymous) == {"UNAUTHENTICATED"}
    # Outside the post's audience: as if it did not exist.
    assert codes(await c.report("reader", postId=post)) == ["NOT_FOUND"]
    assert codes(await c.report("mentor", postId=post)) == []
    assert codes(await c.report("author", postId=public)) == ["OWN_CONTENT"]
    assert codes(await c.report("other", commentId=comment)) == ["OWN_CONTENT"]
    assert codes(await c.report("reader")) == ["REQUIRED"]
    assert codes(await c.report("reader", postId=public, commentId=comment)) == ["REQUIRED"]
    # A post's id given as a comment's names nothing.
    assert codes(await c.report("reader", commentId=public)) == ["NOT_FOUND"]
    too_long = await c.report("reader", postId=public, note="x" * 1001)
    assert codes(too_long) == ["TOO_LONG"] and too_long["userErrors"][0]["field"] == [
        "input",
        "note",
    ]
    control = await c.report("reader", postId=public, note="bad\x07note")
    assert codes(control) == ["INVALID"]
    assert await c.count(ContentReport) == 1  # the mentor's
    # A hidden post is out of reach for all but its author and moderators.
    await c.resolve("sre", postId=public, action="HIDE")
    assert codes(await c.report("reader", postId=public)) == ["NOT_FOUND"]
    # …and so are its comments.
    assert codes(await c.report("reader", commentId=comment)) == ["NOT_FOUND"]
    assert await c.count(ContentReport) == 1


async def test_the_queue_groups_reports_per_item_oldest_first(community: Community) -> None:
    c = community
    first = await c.post("author", "The first post.")
    second = await c.post("other", "The second post.")
    comment = await c.comment("author", second, "A rude comment.")
    await c.report("reader", postId=first, reason="SPAM")
    await c.report("reader", commentId=comment, reason="HARASSMENT", note="Rude.")
    await c.report("other", postId=first, reason="SPAM")
    await c.report("mentor", postId=first, reason="OTHER")
    await c.report("mentor", postId=second, reason="INAPPROPRIATE")
    queue = await c.queue()
    assert queue["totalCount"] == 3
    items = [e["node"] for e in queue["edges"]]
    assert [i["kind"] for i in items] == ["POST", "COMMENT", "POST"]
    top = items[0]
    assert top["post"]["id"] == first and top["comment"] is None
    assert top["reportCount"] == 3 and top["reports"]["totalCount"] == 3
    assert top["reasons"] == [{"reason": "SPAM", "count": 2}, {"reason": "OTHER", "count": 1}]
    # An SRE moderates without reading people's profiles: names only.
    assert top["author"] is None and top["authorName"] == "Author Person"
    assert [r["node"]["reporterName"] for r in top["reports"]["edges"]] == [
        "Reader Person", "Other Person", "Mentor Person",
    ]  # fmt: skip
    managed = await c.queue("manager")
    top_for_manager = managed["edges"][0]["node"]
    assert top_for_manager["author"]["id"] == c.ids["author"]
    assert [r["node"]["reporter"]["id"] for r in top_for_manager["reports"]["edges"]] == [
        c.ids["reader"], c.ids["other"], c.ids["mentor"],
    ]  # fmt: skip
    assert top["firstReportedAt"] < top["lastReportedAt"]
    middle = items[1]
    assert middle["comment"]["id"] == comment and middle["post"]["id"] == second
    assert middle["reports"]["edges"][0]["node"]["note"] == "Rude."
    assert middle["authorName"] == "Author Person"
    # A page at a time, with keyset cursors.
    page = await c.queue(first=2)
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await c.queue(first=2, after=page["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in page["edges"] + rest["edges"]] == [i["id"] for i in items]
    assert rest["pageInfo"]["hasNextPage"] is False
    # A queue item is a node, for moderators only.
    node = await c.gql("sre", "query($id: ID!) { node(id: $id) { id } }", {"id": top["id"]})
    assert node["data"]["node"] == {"id": top["id"]}
    hidden = await c.gql("reader", "query($id: ID!) { node(id: $id) { id } }", {"id": top["id"]})
    assert hidden["data"]["node"] is None
    # A report is a node for moderators and for its reporter.
    report_id = top["reports"]["edges"][0]["node"]["id"]
    for who, seen in [("reader", True), ("sre", True), ("other", False), ("author", False)]:
        found = await c.gql(who, "query($id: ID!) { node(id: $id) { id } }", {"id": report_id})
        assert (found["data"]["node"] is not None) is seen, who


@pytest.mark.parametrize("who", ["reader", "author", "mentor", "other"])
async def test_the_queue_is_for_moderators_only(community: Community, who: str) -> None:
    c = community
    post = await c.post("author" if who != "author" else "other", "Something.")
    await c.report("reader" if who != "reader" else "mentor", postId=post)
    body = await c.gql(who, QUEUE)
    assert error_codes(body) == {"FORBIDDEN"} and body["data"]["moderationQueue"] is None
    anonymous = await c.gql(None, QUEUE)
    assert error_codes(anonymous) == {"UNAUTHENTICATED"}


async def test_the_queue_takes_as_many_statements_for_many_items(community: Community) -> None:
    c = community

    async def grow(n: int, offset: int) -> None:
        for i in range(offset, offset + n):
            post = await c.post("author", f"Post {i}")
            comment = await c.comment("other", post, f"Comment {i}")
            await c.report("reader", postId=post, reason="SPAM")
            await c.report("mentor", postId=post, reason="OTHER")
            await c.report("reader", commentId=comment, reason="HARASSMENT")

    await grow(1, 0)
    few, _ = await c.api.sql_count(QUEUE, {"first": 100}, token=c.tokens["sre"])
    await grow(5, 1)
    many, large = await c.api.sql_count(QUEUE, {"first": 100}, token=c.tokens["sre"])
    assert "errors" not in large, large
    assert large["data"]["moderationQueue"]["totalCount"] == 12
    assert many == few, f"{few} statements for 2 items, {many} for 12"


async def test_hide_and_restore_a_post(community: Community) -> None:
    c = community
    post = await c.post("author", "Something offensive.")
    kept = await c.post("other", "Something fine.")
    await c.report("reader", postId=post, reason="INAPPROPRIATE")
    await c.report("other", postId=post, reason="HARASSMENT")
    done = await c.resolve("sre", postId=post, action="HIDE", note="Against the rules.")
    assert done["userErrors"] == [] and done["changed"] is True
    assert done["reportsClosed"] == 2
    item = done["item"]
    assert item["hidden"] is True and item["hiddenAt"] is not None
    assert {r["node"]["action"] for r in item["reports"]["edges"]} == {"HIDE"}
    assert {r["node"]["resolutionNote"] for r in item["reports"]["edges"]} == {"Against the rules."}
    # It leaves the feed and the reach of readers…
    feed = await c.gql("reader", FEED)
    assert [e["node"]["id"] for e in feed["data"]["feed"]["edges"]] == [kept]
    assert (await c.gql("reader", NODE, {"id": post}))["data"]["node"] is None
    # …but its author still sees it, marked hidden, and is told why.
    mine = (await c.gql("author", NODE, {"id": post}))["data"]["node"]
    assert mine["hidden"] is True
    news = await c.news("author")
    assert len(news) == 1 and "hidden" in news[0]["title"]
    assert "Against the rules." in news[0]["body"] and news[0]["subjectId"] == post
    # The queue is empty; the resolved list has it.
    assert (await c.queue())["totalCount"] == 0
    resolved = await c.queue(status="RESOLVED")
    assert [e["node"]["id"] for e in resolved["edges"]] == [item["id"]]
    # Hiding again changes nothing and tells nobody again.
    again = await c.resolve("manager", postId=post, action="HIDE")
    assert again["changed"] is False and again["reportsClosed"] == 0
    assert len(await c.news("author")) == 1
    restored = await c.resolve("admin", postId=post, action="RESTORE", note="On appeal.")
    assert restored["changed"] is True and restored["userErrors"] == []
    assert (await c.gql("reader", NODE, {"id": post}))["data"]["node"]["hidden"] is False
    feed = await c.gql("reader", FEED)
    assert post in [e["node"]["id"] for e in feed["data"]["feed"]["edges"]]
    news = await c.news("author")
    assert len(news) == 2 and "restored" in news[0]["title"]
    actions = await c.count(
        AuditEvent, AuditEvent.action.in_(["moderation.hide", "moderation.restore"])
    )
    assert actions == 3
    async with c.api.app.state.runtime.database.session() as session:
        row = await session.get(Post, int(_pk(post)))
        assert row is not None and row.hidden_at is None and row.hidden_by_id is None


async def test_hiding_a_comment_takes_it_out_of_the_post(community: Community) -> None:
    c = community
    post = await c.post("other", "A post.")
    comment = await c.comment("author", post, "A nasty comment.")
    await c.report("reader", commentId=comment, reason="HARASSMENT")
    done = await c.resolve("sre", commentId=comment, action="HIDE")
    assert done["item"]["kind"] == "COMMENT" and done["item"]["hidden"] is True
    seen = (await c.gql("reader", NODE, {"id": post}))["data"]["node"]
    assert seen["comments"]["edges"] == []
    assert (await c.gql("reader", NODE, {"id": comment}))["data"]["node"] is None
    own = (await c.gql("author", NODE, {"id": comment}))["data"]["node"]
    assert own["hidden"] is True
    news = await c.news("author")
    assert len(news) == 1 and news[0]["title"].startswith("Your comment was hidden")


async def test_a_warning_is_kept_for_the_author_and_moderators(community: Community) -> None:
    c = community
    post = await c.post("other", "A post.")
    comment = await c.comment("author", post, "Off-topic advert.")
    await c.report("reader", commentId=comment, reason="SPAM")
    done = await c.resolve("sre", commentId=comment, action="WARN", note="Keep it on topic.")
    assert done["userErrors"] == [] and done["reportsClosed"] == 1
    warning = done["warning"]
    assert warning["note"] == "Keep it on topic."
    # Warned, not hidden.
    assert (await c.gql("reader", NODE, {"id": comment}))["data"]["node"]["hidden"] is False
    mine = (await c.gql("author", WARNINGS))["data"]["communityWarnings"]
    assert mine["totalCount"] == 1
    seen = mine["edges"][0]["node"]
    assert seen["note"] == "Keep it on topic." and seen["comment"]["id"] == comment
    assert seen["user"]["id"] == c.ids["author"] and seen["id"] == warning["id"]
    assert seen["issuedBy"] is None  # the moderator's name is for moderators
    theirs = await c.gql("sre", WARNINGS, {"u": c.ids["author"]})
    assert (
        theirs["data"]["communityWarnings"]["edges"][0]["node"]["issuedBy"]["id"] == (c.ids["sre"])
    )
    # Someone else's warnings are not for another member, nor by the warning's id.
    prying = await c.gql("reader", WARNINGS, {"u": c.ids["author"]})
    assert prying["data"]["communityWarnings"]["totalCount"] == 0
    assert (await c.gql("reader", WARNINGS))["data"]["communityWarnings"]["totalCount"] == 0
    by_id = await c.gql("reader", "query($id: ID!) { node(id: $id) { id } }", {"id": warning["id"]})
    assert by_id["data"]["node"] is None
    news = await c.news("author")
    assert len(news) == 1 and "warning" in news[0]["title"]
    assert await c.count(CommunityWarning) == 1


async def test_dismissing_closes_the_reports_and_tells_nobody(community: Community) -> None:
    c = community
    post = await c.post("author", "A fine post.")
    await c.report("reader", postId=post, reason="OTHER")
    done = await c.resolve("sre", postId=post, action="DISMISS", note="Nothing wrong.")
    assert done["changed"] is False and done["reportsClosed"] == 1
    assert done["item"]["hidden"] is False
    assert await c.news("author") == []
    assert (await c.queue())["totalCount"] == 0
    # The reporter sees that it was looked at, not the moderator's note.
    body = await c.gql("reader", "{ communityWarnings { totalCount } }")
    assert body["data"]["communityWarnings"]["totalCount"] == 0
    # A new report opens the item again, and moderators hear of it again.
    before = len(await c.news("sre"))
    await c.report("reader", postId=post, reason="SPAM")
    assert (await c.queue())["totalCount"] == 1
    assert len(await c.news("sre")) == before + 1


@pytest.mark.parametrize("who", ["reader", "author", "other", "mentor"])
async def test_only_moderators_decide_and_nothing_is_written(
    community: Community, who: str
) -> None:
    c = community
    post = await c.post("other" if who != "other" else "author", "A post.")
    await c.report("mentor" if who != "mentor" else "reader", postId=post)
    for action in ("HIDE", "WARN", "DISMISS", "RESTORE"):
        body = await c.resolve(who, postId=post, action=action)
        assert error_codes(body) == {"FORBIDDEN"}, body
    assert await c.count(ContentReport, ContentReport.status == "open") == 1
    assert await c.count(CommunityWarning) == 0
    assert await c.count(Post, Post.hidden_at.is_not(None)) == 0
    assert await c.count(AuditEvent, AuditEvent.action.like("moderation.%")) == 0
    anonymous = await c.api.gql(RESOLVE, {"i": {"postId": post, "action": "HIDE"}})
    assert error_codes(anonymous) == {"UNAUTHENTICATED"}


async def test_bad_decisions_are_refused(community: Community) -> None:
    c = community
    post = await c.post("author", "A post.")
    assert codes(await c.resolve("sre", action="HIDE")) == ["REQUIRED"]
    missing = await c.resolve("sre", postId=_other_id("Post", 999), action="HIDE")
    assert codes(missing) == ["NOT_FOUND"]
    wrong_type = await c.resolve("sre", commentId=post, action="HIDE")
    assert codes(wrong_type) == ["NOT_FOUND"]
    too_long = await c.resolve("sre", postId=post, action="WARN", note="x" * 1001)
    assert codes(too_long) == ["TOO_LONG"]
    assert await c.count(CommunityWarning) == 0
    delete = "mutation($i: PostDeleteInput!) { postDelete(input: $i) { userErrors { code } } }"
    await c.ok("author", delete, {"i": {"id": post}}, "postDelete")
    gone = await c.resolve("sre", postId=post, action="HIDE")
    assert codes(gone) == ["NOT_FOUND"]


def _pk(global_id: str) -> str:
    import base64

    return base64.b64decode(global_id).decode().split(":", 1)[1]


def _other_id(kind: str, pk: int) -> str:
    import base64

    return base64.b64encode(f"{kind}:{pk}".encode()).decode()


async def test_warnings_take_as_many_statements_for_many(community: Community) -> None:
    c = community

    async def grow(n: int, offset: int) -> None:
        for i in range(offset, offset + n):
            post = await c.post("author", f"Post {i}")
            comment = await c.comment("author", post, f"Comment {i}")
            await c.ok("sre", RESOLVE, {"i": {"postId": post, "action": "WARN"}},
                       "moderationResolve")  # fmt: skip
            await c.ok("sre", RESOLVE, {"i": {"commentId": comment, "action": "WARN"}},
                       "moderationResolve")  # fmt: skip

    await grow(1, 0)
    few, _ = await c.api.sql_count(WARNINGS, {"u": c.ids["author"]}, token=c.tokens["sre"])
    await grow(4, 1)
    many, large = await c.api.sql_count(WARNINGS, {"u": c.ids["author"]}, token=c.tokens["sre"])
    assert "errors" not in large, large
    assert large["data"]["communityWarnings"]["totalCount"] == 10
    assert all(e["node"]["post"] or e["node"]["comment"]
               for e in large["data"]["communityWarnings"]["edges"])  # fmt: skip
    assert many == few, f"{few} statements for 2 warnings, {many} for 10"


async def test_the_resolved_list_pages_latest_first(community: Community) -> None:
    c = community
    posts = [await c.post("author", f"Post {i}") for i in range(3)]
    for post in posts:
        await c.report("reader", postId=post, reason="OTHER")
        await c.resolve("sre", postId=post, action="DISMISS")
    seen: list[str] = []
    after = None
    while True:
        page = await c.queue(status="RESOLVED", first=1, after=after)
        seen += [e["node"]["post"]["id"] for e in page["edges"]]
        assert page["totalCount"] == 3
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(reversed(posts))
    item = (await c.queue(status="RESOLVED", first=1))["edges"][0]["node"]
    assert [r["node"]["status"] for r in item["reports"]["edges"]] == ["RESOLVED"]


async def test_only_moderators_everywhere_hear_of_a_report(community: Community) -> None:
    c = community
    # A custom role carrying community:moderate, held everywhere by one person and (as
    # the API refuses to grant it so, written here) within a batch by another.
    async with c.api.app.state.runtime.transaction() as uow:
        batch = Batch(name="B9", code="B9", starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31))
        role = CustomRole(name="Moderators", name_lower="moderators",
                          permissions=["community:moderate"])  # fmt: skip
        uow.session.add_all([batch, role])
        await uow.session.flush()
        uow.session.add_all([
            CustomRoleAssignment(user_id=pk(c.ids["other"]), role_id=role.id, scope_key=""),
            CustomRoleAssignment(user_id=pk(c.ids["mentor"]), role_id=role.id,
                                 batch_id=batch.id, scope_key=f"b{batch.id}"),
        ])  # fmt: skip
    post = await c.post("author", "Buy cheap watches at my shop!")
    assert (await c.report("reader", postId=post))["userErrors"] == []
    for who in ("sre", "manager", "admin", "other"):
        assert len(await c.news(who)) == 1, who
    # The scoped holder cannot see the queue, nor do they get its excerpts.
    assert error_codes(await c.gql("mentor", QUEUE)) == {"FORBIDDEN"}
    assert await c.news("mentor") == []


async def test_reports_per_person_are_limited_per_day(community: Community) -> None:
    c = community
    now = datetime.now(UTC)
    async with c.api.app.state.runtime.transaction() as uow:
        made = [Post(author_id=pk(c.ids["author"]), body_markdown="x", body_html="<p>x</p>",
                     limited=False, created_at=now) for _ in range(REPORTS_PER_DAY)]  # fmt: skip
        uow.session.add_all(made)
        await uow.session.flush()
        uow.session.add_all(
            ContentReport(post_id=p.id, reporter_id=pk(c.ids["reader"]), reason="spam",
                          status="open", created_at=now)
            for p in made
        )  # fmt: skip
    post = await c.post("author", "One more.")
    before = await c.count(ContentReport)
    refused = await c.report("reader", postId=post)
    assert codes(refused) == ["TOO_MANY"] and refused["report"] is None
    assert await c.count(ContentReport) == before
    # Someone else may still report it; and a day later the reader may again.
    assert (await c.report("other", postId=post))["userErrors"] == []
    async with c.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(ContentReport)
            .where(ContentReport.reporter_id == pk(c.ids["reader"]))
            .values(created_at=now - timedelta(hours=25))
        )
    assert (await c.report("reader", postId=post))["userErrors"] == []


async def test_warning_twice_is_the_first_warning(community: Community) -> None:
    c = community
    post = await c.post("other", "A post.")
    comment = await c.comment("author", post, "Off-topic advert.")
    await c.report("reader", commentId=comment, reason="SPAM")
    first = await c.resolve("sre", commentId=comment, action="WARN", note="On topic, please.")
    assert first["changed"] is True and first["reportsClosed"] == 1
    # Retried (or warned by another moderator meanwhile, after a new report).
    await c.report("mentor", commentId=comment, reason="SPAM")
    again = await c.resolve("manager", commentId=comment, action="WARN", note="Again.")
    assert again["userErrors"] == [] and again["changed"] is False
    assert again["reportsClosed"] == 1 and again["warning"]["id"] == first["warning"]["id"]
    assert await c.count(CommunityWarning) == 1
    assert len(await c.news("author")) == 1
    # A warning for another item is a new one.
    other = await c.comment("author", post, "Another advert.")
    third = await c.resolve("sre", commentId=other, action="WARN")
    assert third["changed"] is True and third["warning"]["id"] != first["warning"]["id"]
    assert len(await c.news("author")) == 2
