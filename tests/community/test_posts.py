"""Posts, comments, likes and mentions, through the API: who may write, read and change
them, the counts, the notifications, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from strawberry.relay import from_base64, to_base64

from alumnet.domain.communication import notices
from alumnet.persistence.models import Comment, CommentLike, Photo, Post, PostImage, PostLike
from tests.cohorts.conftest import Programme
from tests.community.conftest import codes, payload

POST = """mutation($i: PostCreateInput!) { postCreate(input: $i) {
  post { id bodyMarkdown bodyHtml likeCount commentCount editedAt viewerHasLiked hidden
    author { id } audience { everyone batchIds } link { url status } }
  userErrors { field code message } } }"""
UPDATE = """mutation($i: PostUpdateInput!) { postUpdate(input: $i) {
  post { id bodyHtml editedAt } userErrors { field code message } } }"""
DELETE = """mutation($i: PostDeleteInput!) { postDelete(input: $i) {
  post { id } userErrors { field code message } } }"""
LIKE = """mutation($i: PostLikeInput!) { postLike(input: $i) {
  post { id likeCount viewerHasLiked } userErrors { field code message } } }"""
COMMENT = """mutation($i: CommentCreateInput!) { commentCreate(input: $i) {
  comment { id bodyHtml replyCount likeCount parent { id } post { id commentCount } }
  userErrors { field code message } } }"""
COMMENT_UPDATE = """mutation($i: CommentUpdateInput!) { commentUpdate(input: $i) {
  comment { id bodyHtml editedAt } userErrors { field code message } } }"""
COMMENT_DELETE = """mutation($i: CommentDeleteInput!) { commentDelete(input: $i) {
  comment { id } userErrors { field code message } } }"""
COMMENT_LIKE = """mutation($i: CommentLikeInput!) { commentLike(input: $i) {
  comment { id likeCount viewerHasLiked } userErrors { field code message } } }"""
NODE = """query($id: ID!) { node(id: $id) { ... on Post { id bodyMarkdown likeCount commentCount
  comments(first: 10) { totalCount edges { node { id bodyMarkdown replyCount
    replies(first: 10) { totalCount edges { node { id bodyMarkdown } } } } } } }
  ... on Comment { id bodyMarkdown } } }"""
NOTIFICATIONS = """{ notifications(first: 50) { edges { node { kind title subjectId } } } }"""


async def new_post(p: Programme, who: str, body: str = "Hello", **more: Any) -> str:
    found = await payload(p, who, POST, {"i": {"body": body, **more}}, "postCreate")
    assert found["userErrors"] == [], found
    return str(found["post"]["id"])


async def sees(p: Programme, who: str, node_id: str) -> bool:
    body = await p.gql(who, NODE, {"id": node_id})
    assert "errors" not in body, body
    return body["data"]["node"] is not None


async def notifications(p: Programme, who: str) -> list[dict[str, Any]]:
    body = await p.gql(who, NOTIFICATIONS)
    return [e["node"] for e in body["data"]["notifications"]["edges"]]


def mention(p: Programme, who: str) -> str:
    return f"@[{who.upper()} Person](user:{p.ids[who]})"


async def in_db(p: Programme, statement: Any) -> Any:
    async with p.api.app.state.runtime.database.session() as session:
        found = (await session.execute(statement)).scalar()
        await session.commit()
        return found


def pk(global_id: str) -> int:
    return int(from_base64(global_id)[1])


async def photo(p: Programme, who: str, *, purpose: str = "post", status: str = "ready") -> str:
    """A processed photo of ``who``'s (photos are uploaded and processed elsewhere)."""
    async with p.api.app.state.runtime.transaction() as uow:
        row = Photo(owner_id=pk(p.ids[who]), purpose=purpose, status=status,
                    created_at=datetime.now(UTC))  # fmt: skip
        uow.session.add(row)
        await uow.session.flush()
        return to_base64("Photo", row.id)


async def hide(p: Programme, model: Any, node_id: str) -> None:
    """A moderator's hiding (done through moderation, not tested here)."""
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(model).where(model.id == pk(node_id)).values(hidden_at=datetime.now(UTC))
        )


async def test_a_post_is_rendered_safe_and_bounded(programme: Programme) -> None:
    p = programme
    body = (
        "**News** <script>alert(1)</script> [click](javascript:alert(2)) "
        '<img src=x onerror="alert(3)"> see https://launch.invalid/news.'
    )
    found = await payload(p, "s1", POST, {"i": {"body": body}}, "postCreate")
    assert found["userErrors"] == []
    post = found["post"]
    html = post["bodyHtml"]
    assert "<strong>News</strong>" in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html and "<img" not in html
    assert post["author"]["id"] == p.ids["s1"]
    assert post["audience"] == {"everyone": True, "batchIds": []}
    assert post["link"] == {"url": "https://launch.invalid/news", "status": "PENDING"}
    assert post["editedAt"] is None and post["likeCount"] == 0 and not post["hidden"]
    for who in ("s3", "alumnus", "manager", "m1"):
        assert await sees(p, who, post["id"]), who
    # An explicit link wins over the body's; one that is no http(s) link is refused.
    given = {"body": "x https://a.invalid/1", "linkUrl": "https://b.invalid/2"}
    linked = await payload(p, "s1", POST, {"i": given}, "postCreate")
    assert linked["post"]["link"]["url"] == "https://b.invalid/2"
    bad = await payload(p, "s1", POST, {"i": {"body": "x", "linkUrl": "javascript:alert(1)"}},
                        "postCreate")  # fmt: skip
    assert codes(bad) == ["INVALID"] and bad["userErrors"][0]["field"] == ["input", "linkUrl"]
    plain = await payload(p, "s1", POST, {"i": {"body": "no link"}}, "postCreate")
    assert plain["post"]["link"] is None


async def test_bad_posts_write_nothing(programme: Programme) -> None:
    p = programme
    huge = await payload(p, "s1", POST, {"i": {"body": "x" * 5001}}, "postCreate")
    assert codes(huge) == ["TOO_LONG"] and huge["post"] is None
    empty = await payload(p, "s1", POST, {"i": {"body": "   "}}, "postCreate")
    assert codes(empty) == ["REQUIRED"]
    many = " ".join(f"@[P{i}](user:{to_base64('User', i + 1)})" for i in range(21))
    assert codes(await payload(p, "s1", POST, {"i": {"body": many}}, "postCreate")) == ["TOO_MANY"]
    long_key = await payload(p, "s1", POST, {"i": {"body": "x", "clientId": "k" * 65}},
                             "postCreate")  # fmt: skip
    assert codes(long_key) == ["INVALID"]
    anonymous = await p.api.gql(POST, {"i": {"body": "x"}})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await in_db(p, select(func.count()).select_from(Post)) == 0


async def test_images_are_the_authors_ready_post_photos(programme: Programme) -> None:
    p = programme
    mine = [await photo(p, "s1") for _ in range(5)]
    five = await payload(p, "s1", POST, {"i": {"body": "x", "imageIds": mine}}, "postCreate")
    assert codes(five) == ["TOO_MANY"]
    others = await photo(p, "s2")
    profile = await photo(p, "s1", purpose="profile")
    pending = await photo(p, "s1", status="pending")
    for wrong in (others, profile, pending, p.ids["s1"]):
        found = await payload(p, "s1", POST, {"i": {"body": "x", "imageIds": [mine[0], wrong]}},
                              "postCreate")  # fmt: skip
        assert codes(found) == ["NOT_FOUND"], wrong
        assert found["userErrors"][0]["field"] == ["input", "imageIds", "1"]
    twice = await payload(p, "s1", POST, {"i": {"body": "x", "imageIds": [mine[0]] * 2}},
                          "postCreate")  # fmt: skip
    assert codes(twice) == ["INVALID"]
    assert await in_db(p, select(func.count()).select_from(Post)) == 0
    post = await new_post(p, "s1", "four", imageIds=list(reversed(mine[:4])))
    shown = await p.gql("s3", "query($id: ID!) { node(id: $id) { ... on Post { images { id } } } }",
                        {"id": post})  # fmt: skip
    assert [i["id"] for i in shown["data"]["node"]["images"]] == list(reversed(mine[:4]))
    async with p.api.app.state.runtime.database.session() as session:
        rows = (await session.execute(select(PostImage).order_by(PostImage.position))).scalars()
        assert [r.photo_id for r in rows] == [pk(i) for i in reversed(mine[:4])]


async def test_client_id_makes_posting_safe_to_retry(programme: Programme) -> None:
    p = programme
    first = await new_post(p, "s1", "once", clientId="abc")
    again = await new_post(p, "s1", "once", clientId="abc")
    other = await new_post(p, "s2", "once", clientId="abc")
    assert first == again != other
    assert await in_db(p, select(func.count()).select_from(Post)) == 2


async def test_an_audience_post_is_read_by_its_audience_only(programme: Programme) -> None:
    p = programme
    post = await new_post(p, "s1", "B1 only", audience={"batchIds": [p.ids["b1"]]})
    for who in ("s1", "s2", "m1", "m2", "manager", "sre", "admin"):
        assert await sees(p, who, post), who
    for who in ("s3", "alumnus"):
        assert not await sees(p, who, post), who
    inside = await payload(p, "s2", COMMENT, {"i": {"postId": post, "body": "in"}}, "commentCreate")
    assert await sees(p, "m1", inside["comment"]["id"])
    assert not await sees(p, "s3", inside["comment"]["id"])
    # Nor may they comment on it or like it: as if it did not exist.
    found = await payload(p, "s3", COMMENT, {"i": {"postId": post, "body": "hi"}}, "commentCreate")
    assert codes(found) == ["NOT_FOUND"]
    liked = await payload(p, "alumnus", LIKE, {"i": {"postId": post}}, "postLike")
    assert codes(liked) == ["NOT_FOUND"]
    roles = await new_post(p, "manager", "alumni", audience={"roles": ["ALUMNUS"]})
    assert await sees(p, "alumnus", roles) and not await sees(p, "s1", roles)
    bad = await payload(p, "s1", POST, {"i": {"body": "x", "audience": {
        "batchIds": [to_base64("Batch", 999)]}}}, "postCreate")  # fmt: skip
    assert codes(bad) == ["NOT_FOUND"]


async def test_only_the_author_edits_and_mentions_notify_once(programme: Programme) -> None:
    p = programme
    post = await new_post(p, "s1", f"Thanks {mention(p, 's2')}")
    assert [n["kind"] for n in await notifications(p, "s2")] == ["MENTION"]
    note = (await notifications(p, "s2"))[0]
    assert note["subjectId"] == post and "S1 Person" in note["title"]
    stranger = await payload(p, "s2", UPDATE, {"i": {"id": post, "body": "mine"}}, "postUpdate")
    assert codes(stranger) == ["FORBIDDEN"]
    moderator = await payload(p, "manager", UPDATE, {"i": {"id": post, "body": "x"}}, "postUpdate")
    assert codes(moderator) == ["FORBIDDEN"]
    nowhere = await payload(p, "s1", UPDATE, {"i": {"id": to_base64("Post", 999), "body": "x"}},
                            "postUpdate")  # fmt: skip
    assert codes(nowhere) == ["NOT_FOUND"]
    hidden_from = await new_post(p, "s1", "B1", audience={"batchIds": [p.ids["b1"]]})
    outsider = await payload(p, "s3", UPDATE, {"i": {"id": hidden_from, "body": "x"}},
                             "postUpdate")  # fmt: skip
    assert codes(outsider) == ["NOT_FOUND"]
    body = f"Thanks {mention(p, 's2')} and {mention(p, 'm1')} <b>x</b>"
    edited = await payload(p, "s1", UPDATE, {"i": {"id": post, "body": body}}, "postUpdate")
    assert edited["userErrors"] == [] and edited["post"]["editedAt"] is not None
    assert "&lt;b&gt;" in edited["post"]["bodyHtml"]
    assert f'href="user:{p.ids["m1"]}"' in edited["post"]["bodyHtml"]
    assert len(await notifications(p, "s2")) == 1  # not again
    assert [n["kind"] for n in await notifications(p, "m1")] == ["MENTION"]
    assert await notifications(p, "s1") == []  # never oneself


async def test_a_mention_of_someone_who_may_not_read_notifies_nobody(
    programme: Programme,
) -> None:
    p = programme
    body = f"{mention(p, 's3')} {mention(p, 's2')} {mention(p, 'manager')} @[X](user:bad)"
    await new_post(p, "s1", body, audience={"batchIds": [p.ids["b1"]]})
    assert await notifications(p, "s3") == []
    assert len(await notifications(p, "s2")) == 1
    assert len(await notifications(p, "manager")) == 1  # moderators read every post


async def test_delete_by_author_or_moderator_audited(programme: Programme) -> None:
    p = programme
    post = await new_post(p, "s1", "going")
    other = await payload(p, "s2", DELETE, {"i": {"id": post}}, "postDelete")
    assert codes(other) == ["FORBIDDEN"]
    mentor = await payload(p, "m1", DELETE, {"i": {"id": post}}, "postDelete")
    assert codes(mentor) == ["FORBIDDEN"]
    assert (await payload(p, "s1", DELETE, {"i": {"id": post}}, "postDelete"))["userErrors"] == []
    assert not await sees(p, "s1", post) and not await sees(p, "manager", post)
    again = await payload(p, "s1", DELETE, {"i": {"id": post}}, "postDelete")
    assert codes(again) == ["NOT_FOUND"]
    second = await new_post(p, "s1", "moderated")
    done = await payload(p, "sre", DELETE, {"i": {"id": second}}, "postDelete")
    assert done["userErrors"] == []
    audit = await p.gql("admin", '{ auditEvents(first: 10, filter: {actions: ["post.delete"]}) '
                        "{ edges { node { objectIds actor { id } } } } }")  # fmt: skip
    events = [e["node"] for e in audit["data"]["auditEvents"]["edges"]]
    assert events == [{"objectIds": [second], "actor": {"id": p.ids["sre"]}}]
    commented = await payload(p, "s2", COMMENT, {"i": {"postId": post, "body": "late"}},
                              "commentCreate")  # fmt: skip
    assert codes(commented) == ["NOT_FOUND"]


async def test_comments_replies_and_their_counts(programme: Programme) -> None:
    p = programme
    post = await new_post(p, "s1", "Discuss")
    top = await payload(p, "s2", COMMENT, {"i": {"postId": post, "body": "first"}},
                        "commentCreate")  # fmt: skip
    assert top["userErrors"] == [] and top["comment"]["post"]["commentCount"] == 1
    top_id = top["comment"]["id"]
    reply = await payload(p, "m1", COMMENT, {"i": {"postId": post, "parentId": top_id,
                                                   "body": "reply"}}, "commentCreate")  # fmt: skip
    reply_id = reply["comment"]["id"]
    assert reply["comment"]["parent"] == {"id": top_id}
    # A reply to a reply joins the top comment.
    deeper_reply = {"postId": post, "parentId": reply_id, "body": "deeper"}
    deeper = await payload(p, "s1", COMMENT, {"i": deeper_reply}, "commentCreate")
    assert deeper["comment"]["parent"] == {"id": top_id}
    second = await payload(p, "s1", COMMENT, {"i": {"postId": post, "body": "second"}},
                           "commentCreate")  # fmt: skip
    body = await p.gql("s3", NODE, {"id": post})
    node = body["data"]["node"]
    assert node["commentCount"] == 4
    comments = [e["node"] for e in node["comments"]["edges"]]
    assert [c["bodyMarkdown"] for c in comments] == ["first", "second"]
    assert comments[0]["replyCount"] == 2
    assert [r["node"]["bodyMarkdown"] for r in comments[0]["replies"]["edges"]] == [
        "reply", "deeper",
    ]  # fmt: skip
    # Notified: the post's author of a comment, the comment's author of a reply; never oneself.
    assert [n["kind"] for n in await notifications(p, "s1")] == ["COMMENT"]
    assert [n["kind"] for n in await notifications(p, "s2")] == ["COMMENT", "COMMENT"]
    assert await notifications(p, "m1") == []
    # A parent on another post, or none at all.
    other = await new_post(p, "s2", "Other")
    wrong = await payload(p, "s1", COMMENT, {"i": {"postId": other, "parentId": top_id,
                                                   "body": "x"}}, "commentCreate")  # fmt: skip
    assert codes(wrong) == ["NOT_FOUND"] and wrong["userErrors"][0]["field"] == [
        "input", "parentId",
    ]  # fmt: skip
    # Edit (the author only) and delete (the author or a moderator), with the counts.
    stranger = await payload(p, "s2", COMMENT_UPDATE, {"i": {"id": reply_id, "body": "x"}},
                             "commentUpdate")  # fmt: skip
    assert codes(stranger) == ["FORBIDDEN"]
    edited = await payload(p, "m1", COMMENT_UPDATE, {"i": {"id": reply_id, "body": "*fixed*"}},
                           "commentUpdate")  # fmt: skip
    assert edited["comment"]["editedAt"] and "<em>fixed</em>" in edited["comment"]["bodyHtml"]
    gone = await payload(p, "s2", COMMENT_DELETE, {"i": {"id": reply_id}}, "commentDelete")
    assert codes(gone) == ["FORBIDDEN"]
    deleted = await payload(p, "manager", COMMENT_DELETE, {"i": {"id": reply_id}},
                            "commentDelete")  # fmt: skip
    assert deleted["userErrors"] == []
    await payload(p, "s1", COMMENT_DELETE, {"i": {"id": second["comment"]["id"]}}, "commentDelete")
    node = (await p.gql("s3", NODE, {"id": post}))["data"]["node"]
    assert node["commentCount"] == 2
    assert node["comments"]["totalCount"] == 1
    assert node["comments"]["edges"][0]["node"]["replyCount"] == 1
    assert not await sees(p, "m1", reply_id) and await sees(p, "s3", top_id)


async def test_hidden_posts_take_no_comments_nor_likes(programme: Programme) -> None:
    p = programme
    post = await new_post(p, "s1", "Soon hidden")
    kept = await payload(p, "s2", COMMENT, {"i": {"postId": post, "body": "before"}},
                         "commentCreate")  # fmt: skip
    await hide(p, Post, post)
    for who in ("s1", "s2", "manager"):
        found = await payload(p, who, COMMENT, {"i": {"postId": post, "body": "after"}},
                              "commentCreate")  # fmt: skip
        assert codes(found) == ["NOT_FOUND"], who
        liked = await payload(p, who, LIKE, {"i": {"postId": post}}, "postLike")
        assert codes(liked) == ["NOT_FOUND"], who
    assert await in_db(p, select(func.count()).select_from(Comment)) == 1
    assert await in_db(p, select(func.count()).select_from(PostLike)) == 0
    # Nor may its author change it (HIDDEN, nothing written): nobody hears of a mention.
    body = f"{mention(p, 's2')} {mention(p, 'manager')}"
    edited = await payload(p, "s1", UPDATE, {"i": {"id": post, "body": body}}, "postUpdate")
    assert codes(edited) == ["HIDDEN"] and edited["post"] is None
    assert await in_db(p, select(Post.body_markdown).where(Post.id == pk(post))) == "Soon hidden"
    assert await notifications(p, "s2") == [] and await notifications(p, "manager") == []
    # Its author and moderators still read it; others do not.
    assert await sees(p, "s1", post) and await sees(p, "manager", post)
    assert not await sees(p, "s2", post) and not await sees(p, "s2", kept["comment"]["id"])
    # A hidden comment: to its author and moderators only.
    open_post = await new_post(p, "s1", "Open")
    comment = await payload(p, "s2", COMMENT, {"i": {"postId": open_post, "body": "rude"}},
                            "commentCreate")  # fmt: skip
    await hide(p, Comment, comment["comment"]["id"])
    assert await sees(p, "s2", comment["comment"]["id"])
    assert await sees(p, "sre", comment["comment"]["id"])
    assert not await sees(p, "s1", comment["comment"]["id"])
    reply = await payload(p, "s1", COMMENT, {"i": {"postId": open_post, "body": "x",
                          "parentId": comment["comment"]["id"]}}, "commentCreate")  # fmt: skip
    assert codes(reply) == ["NOT_FOUND"]


async def test_liking_twice_counts_once(programme: Programme) -> None:
    p = programme
    post = await new_post(p, "s1", "Like me")
    for _ in range(2):
        liked = await payload(p, "s2", LIKE, {"i": {"postId": post}}, "postLike")
        assert liked["post"]["likeCount"] == 1 and liked["post"]["viewerHasLiked"]
    other = await payload(p, "m1", LIKE, {"i": {"postId": post, "liked": True}}, "postLike")
    assert other["post"]["likeCount"] == 2
    for _ in range(2):
        undone = await payload(p, "s2", LIKE, {"i": {"postId": post, "liked": False}},
                               "postLike")  # fmt: skip
        assert undone["post"]["likeCount"] == 1 and not undone["post"]["viewerHasLiked"]
    comment = (await payload(p, "s2", COMMENT, {"i": {"postId": post, "body": "c"}},
                             "commentCreate"))["comment"]["id"]  # fmt: skip
    for _ in range(2):
        liked = await payload(p, "s1", COMMENT_LIKE, {"i": {"commentId": comment}}, "commentLike")
        assert liked["comment"]["likeCount"] == 1 and liked["comment"]["viewerHasLiked"]
    undone = await payload(p, "s1", COMMENT_LIKE, {"i": {"commentId": comment, "liked": False}},
                           "commentLike")  # fmt: skip
    assert undone["comment"]["likeCount"] == 0
    wrong = await payload(p, "s1", COMMENT_LIKE, {"i": {"commentId": post}}, "commentLike")
    assert codes(wrong) == ["NOT_FOUND"]


async def test_concurrent_likes_and_unlikes_keep_the_count(programme: Programme) -> None:
    p = programme
    post = await new_post(p, "s1", "Popular")
    comment = (await payload(p, "s2", COMMENT, {"i": {"postId": post, "body": "c"}},
                             "commentCreate"))["comment"]["id"]  # fmt: skip
    tokens = list(p.tokens.values())
    for i in range(11):
        tokens.append((await p.api.create_user(f"fan{i}@example.org", ["ALUMNUS"]))[1])
    rng = random.Random(25)
    calls = []
    for _ in range(100):
        token = rng.choice(tokens)
        liked = rng.random() < 0.6
        if rng.random() < 0.8:
            calls.append(p.api.gql(LIKE, {"i": {"postId": post, "liked": liked}}, token=token))
        else:
            calls.append(p.api.gql(COMMENT_LIKE, {"i": {"commentId": comment, "liked": liked}},
                                   token=token))  # fmt: skip
    answers = await asyncio.gather(*calls)
    for answer in answers:
        assert "errors" not in answer, answer
        (found,) = answer["data"].values()
        assert codes(found) == [], found
    likes = await in_db(p, select(func.count()).select_from(PostLike))
    assert await in_db(p, select(Post.like_count)) == likes
    comment_likes = await in_db(p, select(func.count()).select_from(CommentLike))
    assert await in_db(p, select(Comment.like_count)) == comment_likes
    assert likes > 0


RESOLVE = """mutation($i: ModerationResolveInput!) { moderationResolve(input: $i) {
  changed userErrors { code } } }"""
BLOCK = """mutation($u: ID!) { userBlock(input: {userId: $u}) { blocked userErrors { code } } }"""
UNBLOCK = (
    """mutation($u: ID!) { userUnblock(input: {userId: $u}) { blocked userErrors { code } } }"""
)


async def comment_on(
    p: Programme, who: str, post: str, body: str, parent: str | None = None
) -> Any:
    given = {"postId": post, "body": body, **({"parentId": parent} if parent else {})}
    return await payload(p, who, COMMENT, {"i": given}, "commentCreate")


async def test_a_hidden_comment_is_not_edited_and_mentions_nobody(programme: Programme) -> None:
    p = programme
    post = await new_post(p, "s1", "Open")
    nasty = (await comment_on(p, "s2", post, "nasty"))["comment"]["id"]
    hidden = await payload(p, "admin", RESOLVE, {"i": {"commentId": nasty, "action": "HIDE"}},
                           "moderationResolve")  # fmt: skip
    assert hidden == {"changed": True, "userErrors": []}
    body = f"still nasty {mention(p, 's3')}"
    edited = await payload(p, "s2", COMMENT_UPDATE, {"i": {"id": nasty, "body": body}},
                           "commentUpdate")  # fmt: skip
    assert codes(edited) == ["HIDDEN"] and edited["comment"] is None
    assert await notifications(p, "s3") == [] and not await sees(p, "s3", nasty)
    assert await in_db(p, select(Comment.body_markdown).where(Comment.id == pk(nasty))) == "nasty"
    # Its author's reply on it cannot be changed either, while its top comment is hidden.
    shown = (await comment_on(p, "s3", post, "fine"))["comment"]["id"]
    reply = (await comment_on(p, "s2", post, "r", parent=shown))["comment"]["id"]
    await payload(p, "admin", RESOLVE, {"i": {"commentId": shown, "action": "HIDE"}},
                  "moderationResolve")  # fmt: skip
    on_hidden = await payload(p, "s2", COMMENT_UPDATE, {"i": {"id": reply, "body": body}},
                              "commentUpdate")  # fmt: skip
    assert codes(on_hidden) == ["HIDDEN"]
    assert "MENTION" not in {n["kind"] for n in await notifications(p, "s3")}


async def test_a_reply_under_a_hidden_or_deleted_comment_is_not_read_by_others(
    programme: Programme,
) -> None:
    p = programme
    post = await new_post(p, "s1", "Discuss")
    top = (await comment_on(p, "s2", post, "top"))["comment"]["id"]
    reply = (await comment_on(p, "s3", post, "reply", parent=top))["comment"]["id"]
    assert await sees(p, "alumnus", reply)
    await hide(p, Comment, top)
    for who in ("alumnus", "s1", "m1"):
        assert not await sees(p, who, reply), who
        node = (await p.gql(who, NODE, {"id": post}))["data"]["node"]
        assert node["comments"]["totalCount"] == 0, who
        liked = await payload(p, who, COMMENT_LIKE, {"i": {"commentId": reply}}, "commentLike")
        assert codes(liked) == ["NOT_FOUND"], who
    # Its author and moderators as before.
    for who in ("s3", "manager", "sre"):
        assert await sees(p, who, reply), who
    moderated = (await p.gql("sre", NODE, {"id": post}))["data"]["node"]["comments"]
    assert moderated["edges"][0]["node"]["replies"]["totalCount"] == 1
    # A top comment deleted (without its replies, as before replies went with it): the same.
    other = (await comment_on(p, "s2", post, "second"))["comment"]["id"]
    late = (await comment_on(p, "s3", post, "late", parent=other))["comment"]["id"]
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(Comment).where(Comment.id == pk(other)).values(deleted_at=datetime.now(UTC))
        )
    assert not await sees(p, "alumnus", late) and await sees(p, "s3", late)


async def test_blocks_stop_comments_and_notifications(programme: Programme) -> None:
    p = programme
    assert (await payload(p, "s2", BLOCK, {"u": p.ids["s1"]}, "userBlock"))["blocked"] is True
    before = await in_db(p, select(func.count()).select_from(Comment))
    # Neither mentions the other to any effect.
    mine = await new_post(p, "s1", f"Hello {mention(p, 's2')}")
    theirs = await new_post(p, "s2", f"Hello {mention(p, 's1')}")
    assert await notifications(p, "s2") == [] and await notifications(p, "s1") == []
    # Neither comments on the other's posts (as if there were no such post).
    refused = await comment_on(p, "s1", theirs, "hi")
    assert codes(refused) == ["NOT_FOUND"] and refused["userErrors"][0]["field"] == [
        "input", "postId",
    ]  # fmt: skip
    assert codes(await comment_on(p, "s2", mine, "hi")) == ["NOT_FOUND"]
    # Nor replies to the other's comments elsewhere; mentions there tell nobody either.
    third = await new_post(p, "s3", "Third")
    theirs_there = (await comment_on(p, "s2", third, "s2 here"))["comment"]["id"]
    assert codes(await comment_on(p, "s1", third, "x", parent=theirs_there)) == ["NOT_FOUND"]
    assert await in_db(p, select(func.count()).select_from(Comment)) == before + 1
    mentioning = await comment_on(p, "s1", third, f"cc {mention(p, 's2')} {mention(p, 'm1')}")
    assert mentioning["userErrors"] == []
    assert await notifications(p, "s2") == []
    assert [n["kind"] for n in await notifications(p, "m1")] == ["MENTION"]
    mine_there = mentioning["comment"]["id"]
    assert codes(await comment_on(p, "s2", third, "x", parent=mine_there)) == ["NOT_FOUND"]
    # Unblocked, all is as before.
    await payload(p, "s2", UNBLOCK, {"u": p.ids["s1"]}, "userUnblock")
    assert (await comment_on(p, "s1", theirs, "hi"))["userErrors"] == []
    assert [n["kind"] for n in await notifications(p, "s2")] == ["COMMENT"]


async def test_a_mention_notifies_once_per_post_or_comment_ever(programme: Programme) -> None:
    p = programme
    post = await new_post(p, "s1", f"Hi {mention(p, 's2')}")
    for body in ("Hi", f"Hi {mention(p, 's2')}", "Hi again", f"Hey {mention(p, 's2')}"):
        edited = await payload(p, "s1", UPDATE, {"i": {"id": post, "body": body}}, "postUpdate")
        assert edited["userErrors"] == []
    assert [n["kind"] for n in await notifications(p, "s2")] == ["MENTION"]
    comment = await comment_on(p, "s3", post, f"cc {mention(p, 'm1')} {mention(p, 's1')}")
    comment_id = comment["comment"]["id"]
    for body in ("cc", f"cc {mention(p, 'm1')} {mention(p, 's1')}"):
        edited = await payload(p, "s3", COMMENT_UPDATE, {"i": {"id": comment_id, "body": body}},
                               "commentUpdate")  # fmt: skip
        assert edited["userErrors"] == []
    assert [n["kind"] for n in await notifications(p, "m1")] == ["MENTION"]
    # The post's author heard of the comment (with its text), once, and not of the mention.
    assert [n["kind"] for n in await notifications(p, "s1")] == ["COMMENT"]
    # A mention in another post or comment is news again.
    await new_post(p, "s1", f"Again {mention(p, 's2')}")
    assert len(await notifications(p, "s2")) == 2


async def test_texts_render_no_images(programme: Programme) -> None:
    p = programme
    body = f"![](https://tracker.invalid/p.png) ![a][r] hi {mention(p, 's2')}\n\n[r]: https://t.invalid/q.png"
    post = await payload(p, "s1", POST, {"i": {"body": body}}, "postCreate")
    html = post["post"]["bodyHtml"]
    assert "<img" not in html and f'href="user:{p.ids["s2"]}"' in html
    comment = await comment_on(p, "s2", post["post"]["id"], body)
    assert "<img" not in comment["comment"]["bodyHtml"]
    assert f'href="user:{p.ids["s2"]}"' in comment["comment"]["bodyHtml"]
    edited = await payload(p, "s1", UPDATE, {"i": {"id": post["post"]["id"], "body": body}},
                           "postUpdate")  # fmt: skip
    assert "<img" not in edited["post"]["bodyHtml"]
    # Notices and announcements render as they did.
    assert "<img" in notices.render("![](https://example.invalid/p.png)")
