"""Erasing a person from the community: their words blanked and out of every list, their
likes taken back with the counts, their photos and files gone, mentions of them nameless,
their volunteering's hours kept without its words, and their personal-data export holding
what is theirs (a reference's text only where its writer shared it)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from alumnet.persistence.models import (
    Comment,
    Photo,
    PhotoVariant,
    Post,
    ReferenceRequest,
    StoredFile,
    VolunteerEngagement,
)
from tests.cohorts.conftest import Programme
from tests.community.conftest import payload
from tests.community.test_posts import COMMENT, COMMENT_LIKE, LIKE, NODE, mention, new_post, pk
from tests.conftest import PASSWORD

ERASE = """mutation($p: String) { personalDataErase(input: {password: $p}) { erased } }"""


async def scalar(p: Programme, statement: object) -> object:
    async with p.api.app.state.runtime.database.connect() as conn:
        return (await conn.execute(statement)).scalar()  # type: ignore[call-overload]


async def test_an_erased_person_leaves_the_community(programme: Programme) -> None:
    p = programme
    theirs = await new_post(p, "alumnus", "My news, written by me.")
    other = await new_post(p, "s1", f"Thanks {mention(p, 'alumnus')} for the help!")
    said = await payload(p, "alumnus", COMMENT, {"i": {"postId": other, "body": "Any time."}},
                         "commentCreate")  # fmt: skip
    reply = await payload(
        p, "s1", COMMENT,
        {"i": {"postId": other, "parentId": said["comment"]["id"], "body": "Cheers"}},
        "commentCreate",
    )  # fmt: skip
    mine = await payload(p, "s1", COMMENT, {"i": {"postId": theirs, "body": "Congrats"}},
                         "commentCreate")  # fmt: skip
    await payload(p, "alumnus", LIKE, {"i": {"postId": other, "liked": True}}, "postLike")
    await payload(p, "s2", LIKE, {"i": {"postId": other, "liked": True}}, "postLike")
    liked = {"i": {"commentId": reply["comment"]["id"], "liked": True}}
    await payload(p, "alumnus", COMMENT_LIKE, liked, "commentLike")
    me = pk(p.ids["alumnus"])
    async with p.api.app.state.runtime.transaction() as uow:
        file = StoredFile(owner_id=me, name="p.webp", content_type="image/webp", size=1,
                          created_at=datetime.now(UTC))  # fmt: skip
        uow.session.add(file)
        await uow.session.flush()
        photo = Photo(owner_id=me, purpose="profile", status="ready", created_at=file.created_at)
        uow.session.add(photo)
        await uow.session.flush()
        uow.session.add(PhotoVariant(
            photo_id=photo.id, size="small", file_id=file.id, content_type="image/webp",
            width=1, height=1, bytes=1,
        ))  # fmt: skip
        uow.session.add(VolunteerEngagement(
            user_id=me, kind="speaking", title="Careers talk about my employer",
            description="I told my story.", occurred_on=date.today() - timedelta(days=9),
            hours_hundredths=150, status="confirmed",
        ))  # fmt: skip
        uow.session.add(ReferenceRequest(
            requester_id=pk(p.ids["s1"]), writer_id=me, purpose="A summer internship",
            deadline=date.today() + timedelta(days=20), recipient_email="hr@example.org",
            status="accepted", text="S1 is diligent.",
        ))  # fmt: skip
    erased = await p.gql("alumnus", ERASE, {"p": PASSWORD})
    assert erased["data"]["personalDataErase"]["erased"], erased
    # Their post is gone from every list; their comment (with the reply to it) out of its
    # post's list and count; their likes taken back.
    assert (await p.gql("s1", NODE, {"id": theirs}))["data"]["node"] is None
    seen = (await p.gql("s1", NODE, {"id": other}))["data"]["node"]
    assert seen["likeCount"] == 1 and seen["commentCount"] == 0
    assert seen["comments"]["totalCount"] == 0
    assert "alumnus".upper() not in seen["bodyMarkdown"] and "[erased]" in seen["bodyMarkdown"]
    feed = await p.gql("s2", "{ feed(first: 50) { edges { node { id } } } }")
    assert theirs not in {e["node"]["id"] for e in feed["data"]["feed"]["edges"]}
    # (Two counts: one over posts and comments together would count their cross product.)
    assert await scalar(p, select(func.count()).where(Post.body_markdown.contains(
        "written by me"))) == 0  # fmt: skip
    assert await scalar(p, select(func.count()).where(Comment.body_markdown == "Any time.")) == 0
    reply_likes = await scalar(p, select(Comment.like_count).where(
        Comment.id == pk(reply["comment"]["id"])))  # fmt: skip
    assert reply_likes == 0
    assert await scalar(p, select(Comment.deleted_at).where(
        Comment.id == pk(mine["comment"]["id"]))) is None  # fmt: skip
    # Photos and their files go; volunteering keeps its hours, not its words; the
    # reference they were writing is cancelled and its text gone.
    assert await scalar(p, select(func.count()).select_from(Photo).where(Photo.owner_id == me)) == 0
    assert await scalar(p, select(func.count()).where(StoredFile.name == "p.webp")) == 0
    kept = await scalar(p, select(VolunteerEngagement.title).where(
        VolunteerEngagement.user_id == me))  # fmt: skip
    assert kept == "[erased]"
    assert await scalar(p, select(func.count()).where(ReferenceRequest.text.is_not(None))) == 0


async def test_the_export_holds_a_reference_text_only_where_shared(programme: Programme) -> None:
    from alumnet.domain.people import personal_data

    p = programme
    runtime = p.api.app.state.runtime
    writer, requester = pk(p.ids["alumnus"]), pk(p.ids["s1"])
    async with runtime.transaction() as uow:
        for text, shared in (("Kept between us.", False), ("Shared with you.", True)):
            uow.session.add(ReferenceRequest(
                requester_id=requester, writer_id=writer, purpose="A scholarship",
                deadline=date.today() + timedelta(days=20), recipient_email="x@example.org",
                status="sent", text=text, shared=shared,
            ))  # fmt: skip
    made = await personal_data.export(runtime, requester)
    from alumnet.domain.data import files

    data = b"".join([c async for c in files.chunks(runtime.database, made["fileId"])])
    rows = json.loads(data)["tables"]["reference_requests"]
    assert sorted(str(r["text"]) for r in rows) == ["None", "Shared with you."]


async def test_erasing_a_top_comment_takes_its_replies_and_the_quotes(programme: Programme) -> None:
    """Their top comment goes with the replies to it (as a deletion does), out of the
    post's count; the moderators' notification quoting their reported post loses the quote."""
    from alumnet.persistence.models import Notification

    p = programme
    post = await new_post(p, "s1", "A question for everyone")
    top = await payload(p, "alumnus", COMMENT, {"i": {"postId": post, "body": "Ask me."}},
                        "commentCreate")  # fmt: skip
    for who in ("s2", "s3"):
        reply = {"i": {"postId": post, "parentId": top["comment"]["id"], "body": "Thanks"}}
        await payload(p, who, COMMENT, reply, "commentCreate")
    await payload(p, "s2", COMMENT, {"i": {"postId": post, "body": "Me too"}}, "commentCreate")
    theirs = await new_post(p, "alumnus", "ALUMNUS SECRET WORDS")
    report = """mutation($i: ContentReportInput!) { contentReport(input: $i) {
      userErrors { code } } }"""
    await payload(p, "s1", report, {"i": {"postId": theirs, "reason": "SPAM"}}, "contentReport")
    quoted = select(func.count()).where(Notification.body.contains("ALUMNUS SECRET"))
    assert await scalar(p, quoted) >= 1

    erased = await p.gql("alumnus", ERASE, {"p": PASSWORD})
    assert erased["data"]["personalDataErase"]["erased"], erased
    seen = (await p.gql("s1", NODE, {"id": post}))["data"]["node"]
    assert seen["commentCount"] == 1 == seen["comments"]["totalCount"], seen
    assert await scalar(p, quoted) == 0


async def test_a_merge_of_two_who_liked_the_same_post_counts_one_like(
    programme: Programme,
) -> None:
    p = programme
    post = await new_post(p, "s1", "Like me")
    said = await payload(p, "s1", COMMENT, {"i": {"postId": post, "body": "And me"}},
                         "commentCreate")  # fmt: skip
    for who in ("s2", "s3"):
        await payload(p, who, LIKE, {"i": {"postId": post, "liked": True}}, "postLike")
        liked = {"i": {"commentId": said["comment"]["id"], "liked": True}}
        await payload(p, who, COMMENT_LIKE, liked, "commentLike")
    merge = """mutation($k: ID!, $m: ID!) { userMerge(input: {keepId: $k, mergeId: $m}) {
      userErrors { code } } }"""
    await payload(p, "admin", merge, {"k": p.ids["s2"], "m": p.ids["s3"]}, "userMerge")
    seen = (await p.gql("s2", NODE, {"id": post}))["data"]["node"]
    assert seen["likeCount"] == 1
    counted = await scalar(p, select(Comment.like_count).where(
        Comment.id == pk(said["comment"]["id"])))  # fmt: skip
    assert counted == 1
    gone = await payload(p, "s2", LIKE, {"i": {"postId": post, "liked": False}}, "postLike")
    assert gone["post"]["likeCount"] == 0
