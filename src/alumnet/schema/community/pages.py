"""Public pages: ordered Markdown sections, every revision kept, diffs and reverts; readable
without signing in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.community import pages
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.models import Page as PageModel
from alumnet.persistence.models import PageRevision as PageRevisionModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, run_in_transaction
from alumnet.schema.nodes import int_ids, readable_rows, visible_user
from alumnet.schema.pagination import (
    MAX_PAGE,
    CountedConnection,
    KeysetQuery,
    SortKey,
    reads_loader,
)
from alumnet.schema.permissions import requires

if TYPE_CHECKING:
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
IDENTITY = "alumnet.schema.identity.types"
EDITORS_ONLY = "Only for holders of `pages:edit`"


@strawberry.type(description="One section of a page, in the page's order.")
class PageSection:
    key: str = strawberry.field(
        description="The section's key, unique within the page (a-z, 0-9 and '-'): stable "
        "across revisions, so that a frontend can place or style a section by it."
    )
    heading: str | None = strawberry.field(description="The section's heading, if it has one.")
    markdown: str = strawberry.field(description="The section's text as written (Markdown).")
    html: str = strawberry.field(
        description="The Markdown rendered to HTML, safe to insert (raw HTML escaped; "
        "javascript: and data: links dropped)."
    )

    @classmethod
    def of(cls, section: pages.Section) -> PageSection:
        return cls(key=section.key, heading=section.heading, markdown=section.markdown,
                   html=section.html)  # fmt: skip


def _sections(stored: Any) -> list[PageSection]:
    return [PageSection.of(s) for s in pages.sections_of(stored)]


@strawberry.enum(description="How a section differs between two revisions.")
class PageSectionChange(Enum):
    ADDED = ev("ADDED", description="Only in the later revision.")
    REMOVED = ev("REMOVED", description="Only in the earlier revision.")
    CHANGED = ev("CHANGED", description="In both, with another heading or other Markdown.")
    UNCHANGED = ev("UNCHANGED", description="In both, the same (it may have moved).")


@strawberry.type(description="One section's difference between two revisions (by key).")
class PageSectionDiff:
    key: str = strawberry.field(description="The section's key.")
    change: PageSectionChange = strawberry.field(description="Added, removed, changed or not.")
    moved: bool = strawberry.field(
        description="In both, but its place among the sections in both changed (not only "
        "pushed down or up by sections added or removed around it)."
    )
    heading_before: str | None = strawberry.field(description="Its heading in `from`.")
    heading_after: str | None = strawberry.field(description="Its heading in `to`.")
    markdown_before: str | None = strawberry.field(
        description="Its Markdown in `from` (null when added)."
    )
    markdown_after: str | None = strawberry.field(
        description="Its Markdown in `to` (null when removed)."
    )
    position_before: int | None = strawberry.field(
        description="Its place in `from`, counted from 0 (null when added)."
    )
    position_after: int | None = strawberry.field(
        description="Its place in `to`, counted from 0 (null when removed)."
    )
    unified_diff: str = strawberry.field(
        description="Its heading and Markdown as a unified diff (empty when unchanged)."
    )


@strawberry.type(description="What changed from one revision of a page to another.")
class PageDiff:
    from_revision: int = strawberry.field(name="from", description="The earlier revision.")
    to_revision: int = strawberry.field(name="to", description="The later revision.")
    title_before: str = strawberry.field(description="The title in `from`.")
    title_after: str = strawberry.field(description="The title in `to`.")
    title_changed: bool = strawberry.field(description="Whether the title changed.")
    unified_diff: str = strawberry.field(
        description="The whole page (title, then each section under a `<!-- section: key "
        "-->` line) as a unified diff of its Markdown; empty when they are the same."
    )
    sections: list[PageSectionDiff] = strawberry.field(
        description="Every section of either revision: those of `to` in its order, then "
        "those removed."
    )
    added: list[str] = strawberry.field(description="Keys of the sections added.")
    removed: list[str] = strawberry.field(description="Keys of the sections removed.")
    changed: list[str] = strawberry.field(description="Keys of the sections changed.")
    moved: list[str] = strawberry.field(description="Keys of the sections moved.")

    @classmethod
    def of(cls, found: pages.PageDiff) -> PageDiff:
        return cls(
            from_revision=found.from_revision, to_revision=found.to_revision,
            title_before=found.title_before, title_after=found.title_after,
            title_changed=found.title_before != found.title_after,
            unified_diff=found.unified_diff,
            sections=[
                PageSectionDiff(
                    key=s.key, change=PageSectionChange[s.status.upper()], moved=s.moved,
                    heading_before=s.heading_before, heading_after=s.heading_after,
                    markdown_before=s.markdown_before, markdown_after=s.markdown_after,
                    position_before=s.position_before, position_after=s.position_after,
                    unified_diff=s.unified_diff,
                )
                for s in found.sections
            ],
            added=found.keys("added"), removed=found.keys("removed"),
            changed=found.keys("changed"), moved=found.moved,
        )  # fmt: skip


async def _diff(info: Info, page_id: int, first: int, second: int) -> PageDiff | None:
    # Batched: the diffs of every page of a list in one statement.
    found = await reads_loader(info, ("Page", "diff"), pages.diffs).load((page_id, first, second))
    return PageDiff.of(found) if found is not None else None


def _editor(info: Info) -> bool:
    return bool(info.context.viewer.can(Permission.PAGES_EDIT))


@strawberry.type(
    description="One saved version of a page: its content, who saved it, when and why. For "
    "holders of `pages:edit`."
)
class PageRevision(relay.Node):
    id: relay.NodeID[int]
    number: int = strawberry.field(description="1 for the first version, then one more each.")
    title: str = strawberry.field(description="The page's title in this revision.")
    sections: list[PageSection] = strawberry.field(
        description="The page's sections in this revision, in order."
    )
    note: str | None = strawberry.field(description="What the editor said of the change.")
    reverted_to: int | None = strawberry.field(
        description="When this revision is a revert: the revision whose content it copies."
    )
    created_at: datetime = strawberry.field(description="When it was saved (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, number=row.number, title=row.title, sections=_sections(row.sections),
            note=row.note, reverted_to=row.reverted_to, created_at=row.created_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        if not _editor(info):
            return [None for _ in ids]
        found = await readable_rows(info, PageRevisionModel.__table__, ids)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Who saved it (if you may see them; null once deleted).")
    async def author(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.author_id)  # type: ignore[no-any-return]


@strawberry.type(description="A page's revisions, a page at a time.")
class PageRevisionConnection(CountedConnection[PageRevision]):
    pass


@strawberry.type(
    description="A public page (about, contacts, quick links, feature cards, …): a title and "
    "ordered sections, readable by anyone, signed in or not. Its content is its latest "
    "revision; editors also see every revision and diffs between them. Also served, with "
    "an ETag, at `GET /pages/<slug>`."
)
class Page(relay.Node):
    id: relay.NodeID[int]
    slug: str = strawberry.field(description="Its address: a-z, 0-9 and '-', at most 64.")
    title: str = strawberry.field(description="The title.")
    sections: list[PageSection] = strawberry.field(description="The sections, in order.")
    revision: int = strawberry.field(
        description="The number of its latest revision: send it as `baseRevision` when you "
        "save, so that a change saved meanwhile by someone else is not overwritten."
    )
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")
    etag: str = strawberry.field(
        description="The entity tag of the page as `GET /pages/<slug>` serves it (quotes "
        "included): it changes exactly when the page changes."
    )
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, slug=row.slug, title=row.title, sections=_sections(row.sections),
            revision=row.revision, updated_at=row.updated_at,
            etag=pages.etag(pages.public_body(row)), _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        # Public, as `page(slug:)` is: anyone may fetch one by its id.
        ids = int_ids(node_ids)
        wanted = [i for i in ids if i]
        found: dict[int, Any] = {}
        if wanted:
            async with info.context.reads.connect() as conn:
                rows = await conn.execute(pages.current().where(PageModel.id.in_(wanted)))
                found = {row.id: row for row in rows.all()}
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description=f"When it was created (UTC). {EDITORS_ONLY}; null for others.")
    def created_at(self, info: Info) -> datetime | None:
        return self._row.created_at if _editor(info) else None  # type: ignore[no-any-return]

    @relay.connection(
        PageRevisionConnection,
        description=f"Its revisions, latest first. {EDITORS_ONLY}: empty for anyone else.",
        max_results=MAX_PAGE,
    )
    def revisions(self, info: Info) -> Iterable[PageRevision]:
        editor = _editor(info)
        query = select(PageRevisionModel.__table__)
        if not editor:
            query = query.where(PageRevisionModel.id.is_(None))
        return KeysetQuery(
            query,
            [SortKey(PageRevisionModel.number, descending=True)],
            PageRevision.from_row,
            info.context.reads,
            partition=(PageRevisionModel.page_id, self.id),
            batch_key=("Page.revisions", editor),
        )

    @strawberry.field(
        description=f"What changed from one revision to another (any two, either order). "
        f"{EDITORS_ONLY}: null for anyone else, and when either revision does not exist."
    )
    async def diff(
        self,
        info: Info,
        from_: Annotated[
            int, strawberry.argument(name="from", description="The earlier revision's number.")
        ],
        to: Annotated[int, strawberry.argument(description="The later revision's number.")],
    ) -> PageDiff | None:
        if not _editor(info):
            return None
        return await _diff(info, self.id, from_, to)


@strawberry.type(description="Pages, a page at a time.")
class PageConnection(CountedConnection[Page]):
    pass


@strawberry.enum(description="Why a page could not be saved or reverted.")
class PageErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such page, or no such revision of it.")
    CONFLICT = ev(
        "CONFLICT",
        description="The page changed since the revision you edited (`baseRevision`): "
        "nothing was written. Reload it and make your change again.",
    )
    REQUIRED = ev("REQUIRED", description="A required value is missing (a title, a section).")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed, or the whole page.")
    TOO_MANY = ev("TOO_MANY", description="More sections than a page may have (50).")
    DUPLICATE = ev("DUPLICATE", description="Two sections have the same key.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a page mutation's input.")
class PageError(UserError):
    code: PageErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="One section of a page, in the order given.")
class PageSectionInput:
    markdown: str = strawberry.field(
        description="The text, in Markdown (1 to 20,000 characters; raw HTML is shown as "
        "text, never run)."
    )
    key: str | None = strawberry.field(
        default=None,
        description="A key unique within the page (1 to 64 of a-z, 0-9 and '-'); by default "
        "made from the heading, else `section-<n>`. Keep a section's key across revisions "
        "so that diffs follow it.",
    )
    heading: str | None = strawberry.field(
        default=None, description="A heading (one line, at most 200 characters)."
    )


@strawberry.input(description="A page's new content: the page is created if it does not exist.")
class PageSaveInput:
    slug: str = strawberry.field(description="The page's address: 1 to 64 of a-z, 0-9, '-'.")
    title: str = strawberry.field(description="The title (one line, at most 200 characters).")
    sections: list[PageSectionInput] = strawberry.field(
        description="The sections, in order: 1 to 50, at most 100,000 characters of Markdown "
        "in all."
    )
    base_revision: int | None = strawberry.field(
        default=None,
        description="The revision you edited (the page's `revision` when you loaded it; 0 "
        "for a new page). If the page has moved on since, nothing is written and CONFLICT "
        "comes back. Leave it out to save over whatever is there.",
    )
    note: str | None = strawberry.field(
        default=None, description="What you changed, for the history (at most 500 characters)."
    )


@strawberry.input(description="Make an old revision's content the page's again.")
class PageRevertInput:
    slug: str = strawberry.field(description="The page.")
    revision: int = strawberry.field(description="The revision whose content to restore.")
    base_revision: int | None = strawberry.field(
        default=None,
        description="The revision you were looking at; CONFLICT if the page has moved on.",
    )
    note: str | None = strawberry.field(
        default=None, description="Why, for the history (at most 500 characters)."
    )


@strawberry.type(description="The page after a save or a revert, or why it was refused.")
class PagePayload:
    page: Page | None = strawberry.field(description="The page as it now is.")
    revision: PageRevision | None = strawberry.field(
        description="Its latest revision: the one written, or the one that already said this."
    )
    changed: bool = strawberry.field(
        description="Whether a revision was written: false when the content was already the "
        "page's (nothing new is written for an identical save) or on errors."
    )
    user_errors: list[PageError] = strawberry.field(description="Empty on success.")


async def _payload(info: Info, saved: pages.Saved | None, problems: list[Any]) -> PagePayload:
    page = revision = None
    if saved is not None:
        # The page as `current()` reads it, from what the transaction wrote.
        p, r = saved.page, saved.revision
        page = Page.from_row(
            SimpleNamespace(id=p.id, slug=p.slug, title=p.title, revision=p.revision,
                            created_at=p.created_at, updated_at=p.updated_at,
                            sections=r.sections)
        )  # fmt: skip
        revision = PageRevision.from_row(r)
    return PagePayload(
        page=page, revision=revision, changed=bool(saved and saved.changed),
        user_errors=user_errors(PageError, PageErrorCode, problems),
    )  # fmt: skip


@strawberry.type
class PageQuery:
    @strawberry.field(
        description="The public page at this slug, for anyone, signed in or not; null if "
        "there is none. (`GET /pages/<slug>` serves the same as JSON, with an ETag.)"
    )
    async def page(
        self,
        info: Info,
        slug: Annotated[str, strawberry.argument(description="The page's slug, e.g. `about`.")],
    ) -> Page | None:
        row = await pages.public_page(info.context.reads, slug)
        return Page.from_row(row) if row is not None else None

    @relay.connection(
        PageConnection,
        description="Every page, by slug, for holders of `pages:edit`.",
        max_results=MAX_PAGE,
        extensions=requires(Permission.PAGES_EDIT),
    )
    def pages(self, info: Info) -> Iterable[Page]:
        sort = [SortKey(PageModel.slug), SortKey(PageModel.id)]
        return KeysetQuery(pages.current(), sort, Page.from_row, info.context.reads)

    @strawberry.field(
        description="What changed on a page from one revision to another (any two), for "
        "holders of `pages:edit`; null when the page or either revision does not exist.",
        extensions=requires(Permission.PAGES_EDIT),
    )
    async def page_diff(
        self,
        info: Info,
        slug: Annotated[str, strawberry.argument(description="The page's slug.")],
        from_: Annotated[
            int, strawberry.argument(name="from", description="The earlier revision's number.")
        ],
        to: Annotated[int, strawberry.argument(description="The later revision's number.")],
    ) -> PageDiff | None:
        row = await pages.public_page(info.context.reads, slug)
        if row is None:
            return None
        return await _diff(info, row.id, from_, to)


@strawberry.type
class PageMutation:
    @strawberry.mutation(
        description="Save a page's new content as its next revision, or create it (holders "
        "of `pages:edit`). With `baseRevision`, refused (CONFLICT) if someone saved since; "
        "saving what the page already says writes nothing (`changed: false`). Audited."
    )
    async def page_save(
        self, info: Info, input: Annotated[PageSaveInput, arg("The page's content.")]
    ) -> PagePayload:
        viewer = info.context.viewer
        sections = [
            pages.SectionInput(markdown=s.markdown, key=s.key, heading=s.heading)
            for s in input.sections
        ]
        saved, problems = await run_in_transaction(
            info,
            lambda uow: pages.save(
                uow, viewer, slug=input.slug, title=input.title, sections=sections,
                base_revision=input.base_revision, note=input.note,
            ),
        )  # fmt: skip
        return await _payload(info, saved, problems)

    @strawberry.mutation(
        description="Restore an old revision's content as a new revision (`revertedTo` "
        "says which); history is never rewritten. Holders of `pages:edit`. Audited."
    )
    async def page_revert(
        self, info: Info, input: Annotated[PageRevertInput, arg("The page and the revision.")]
    ) -> PagePayload:
        viewer = info.context.viewer
        saved, problems = await run_in_transaction(
            info,
            lambda uow: pages.revert(
                uow, viewer, slug=input.slug, revision=input.revision,
                base_revision=input.base_revision, note=input.note,
            ),
        )  # fmt: skip
        return await _payload(info, saved, problems)
