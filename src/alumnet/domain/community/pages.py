"""Public pages (about, contacts, quick links, feature cards, and any other slug staff
create): a title and ordered Markdown sections, readable without signing in.

Every save is a new revision (number + 1; who, when, a note) and a revert is a new
revision copying an old one: history is never rewritten. A save names the revision it was
made from (``base_revision``) so that two editors do not overwrite each other unawares.
Saving what the page already says writes nothing.

What anonymous readers get is one statement (``public_page``) and its ETag (``etag``), a
hash of exactly what they are served: it changes when, and only when, the page does.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import and_, select

from alumnet.domain.communication.notices import render
from alumnet.domain.errors import DomainError, Problems, check_label, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.persistence.db import Reader
from alumnet.persistence.models import Page, PageRevision
from alumnet.persistence.uow import UnitOfWork

SLUG = re.compile(r"[a-z0-9-]{1,64}")
TITLE_MAX = 200
HEADING_MAX = 200
NOTE_MAX = 500
SECTIONS_MAX = 50
# Characters of Markdown: in one section, and in the whole page.
SECTION_MAX = 20_000
PAGE_MAX = 100_000


@dataclass(frozen=True)
class SectionInput:
    markdown: str
    key: str | None = None
    heading: str | None = None


@dataclass(frozen=True)
class Section:
    key: str
    heading: str | None
    markdown: str
    html: str

    def stored(self) -> dict[str, Any]:
        return {"key": self.key, "heading": self.heading, "markdown": self.markdown,
                "html": self.html}  # fmt: skip

    @classmethod
    def of(cls, value: dict[str, Any]) -> Section:
        return cls(key=str(value["key"]), heading=value.get("heading"),
                   markdown=str(value["markdown"]), html=str(value.get("html") or ""))  # fmt: skip


def sections_of(stored: Sequence[dict[str, Any]] | None) -> list[Section]:
    return [Section.of(s) for s in stored or ()]


def valid_slug(slug: str) -> bool:
    return bool(SLUG.fullmatch(slug))


@dataclass
class Saved:
    """The page after a save or a revert, its latest revision, and whether anything was
    written (False: the content was already what the page says)."""

    page: Page
    revision: PageRevision
    changed: bool


def _lines(text: str) -> str:
    # Pasted text may end its lines the Windows way; stored and compared one way.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _key_of_heading(heading: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", "-", (heading or "").lower()).strip("-")[:56]


def check_sections(problems: Problems, given: Sequence[SectionInput]) -> list[Section]:
    """The sections, bounded, with a key each: the one given, or one made from the heading
    (else ``section-<n>``), unique within the page; the Markdown rendered safe."""
    if not given:
        problems.add("REQUIRED", "A page has at least one section.", "sections")
        return []
    if len(given) > SECTIONS_MAX:
        problems.add("TOO_MANY", f"A page has at most {SECTIONS_MAX} sections.", "sections")
        return []
    total = 0
    taken: set[str] = set()
    for index, section in enumerate(given):
        if section.key is None:
            continue
        where = ("sections", str(index), "key")
        if not valid_slug(section.key):
            problems.add(
                "INVALID", "A section key is 1 to 64 of a-z, 0-9 and '-'.", where
            )  # fmt: skip
        elif section.key in taken:
            problems.add("DUPLICATE", f"Two sections have the key {section.key!r}.", where)
        taken.add(section.key)
    checked: list[Section] = []
    for index, section in enumerate(given):
        heading = None
        if section.heading is not None:
            heading = check_label(
                problems, section.heading, field=("sections", str(index), "heading"),
                max_length=HEADING_MAX, label="A section's heading",
            ) or None  # fmt: skip
        markdown = (
            check_text(
                problems, _lines(section.markdown), field=("sections", str(index), "markdown"),
                max_length=SECTION_MAX, min_length=1, label="A section's Markdown",
            )
            or ""
        )  # fmt: skip
        total += len(markdown)
        key = section.key
        if key is None:
            base = _key_of_heading(heading) or f"section-{index + 1}"
            key, n = base, 1
            while key in taken:
                n += 1
                key = f"{base}-{n}"
            taken.add(key)
        checked.append(Section(key=key, heading=heading, markdown=markdown, html=""))
    if total > PAGE_MAX:
        problems.add(
            "TOO_LONG", f"A page has at most {PAGE_MAX:,} characters of Markdown.", "sections"
        )
    if problems.items:
        return []
    # Rendered only once the input is known to be bounded.
    return [
        Section(key=s.key, heading=s.heading, markdown=s.markdown, html=render(s.markdown))
        for s in checked
    ]


def _content(title: str, sections: Sequence[Section]) -> tuple[Any, ...]:
    return (title, tuple((s.key, s.heading, s.markdown) for s in sections))


def _check_base(page: Page | None, base_revision: int | None) -> None:
    if base_revision is None:
        return
    latest = page.revision if page is not None else 0
    if base_revision == latest:
        return
    message = (
        f"The page is at revision {latest} and you edited revision {base_revision}: reload "
        "it, make your change again and save."
        if page is not None
        else "The page does not exist yet: leave baseRevision out (or send 0) to create it."
    )
    raise DomainError.of("CONFLICT", message, "baseRevision")


async def _locked_page(uow: UnitOfWork, slug: str) -> Page | None:
    found = await uow.session.execute(
        select(Page).where(Page.slug == slug).with_for_update()
    )  # fmt: skip
    return found.scalar_one_or_none()


async def _revision(uow: UnitOfWork, page_id: int, number: int) -> PageRevision | None:
    found = await uow.session.execute(
        select(PageRevision).where(PageRevision.page_id == page_id, PageRevision.number == number)
    )
    return found.scalar_one_or_none()


async def _write(
    uow: UnitOfWork,
    page: Page,
    author_id: int,
    title: str,
    sections: Sequence[Section],
    note: str | None,
    reverted_to: int | None = None,
) -> PageRevision:
    now = datetime.now(UTC)
    page.revision += 1
    page.title = title
    page.updated_at = now
    revision = PageRevision(
        page_id=page.id, number=page.revision, title=title,
        sections=[s.stored() for s in sections], author_id=author_id, note=note,
        reverted_to=reverted_to, created_at=now,
    )  # fmt: skip
    uow.session.add(revision)
    await uow.session.flush()
    return revision


def _check_note(problems: Problems, note: str | None) -> str | None:
    cleaned = check_text(problems, note, field="note", max_length=NOTE_MAX, label="The note")
    return cleaned or None


async def save(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    slug: str,
    title: str,
    sections: Sequence[SectionInput],
    base_revision: int | None = None,
    note: str | None = None,
) -> Saved:
    """Create the page, or save a new revision of it (holders of ``pages:edit``)."""
    me = viewer.require(Permission.PAGES_EDIT)
    problems = Problems()
    if not valid_slug(slug):
        problems.add("INVALID", "A page's slug is 1 to 64 of a-z, 0-9 and '-'.", "slug")
    cleaned = check_label(
        problems, title, field="title", max_length=TITLE_MAX, min_length=1, label="The title"
    )
    text = _check_note(problems, note)
    checked = check_sections(problems, sections)
    problems.raise_if_any()
    page = await _locked_page(uow, slug)
    _check_base(page, base_revision)
    if page is None:
        now = datetime.now(UTC)
        page = Page(slug=slug, title=cleaned, revision=0, created_at=now, updated_at=now)
        uow.session.add(page)
        await uow.session.flush()
    else:
        latest = await _revision(uow, page.id, page.revision)
        if latest is not None and _content(latest.title, sections_of(latest.sections)) == (
            _content(cleaned, checked)
        ):
            return Saved(page=page, revision=latest, changed=False)
    revision = await _write(uow, page, me, cleaned, checked, text)
    audit.record(
        uow, "page.save", object_type="Page", object_ids=[page.id],
        details={"slug": slug, "revision": revision.number, "sections": len(checked)},
    )  # fmt: skip
    return Saved(page=page, revision=revision, changed=True)


async def revert(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    slug: str,
    revision: int,
    base_revision: int | None = None,
    note: str | None = None,
) -> Saved:
    """Make an old revision's content the page's again, as a new revision."""
    me = viewer.require(Permission.PAGES_EDIT)
    problems = Problems()
    text = _check_note(problems, note)
    problems.raise_if_any()
    page = await _locked_page(uow, slug) if valid_slug(slug) else None
    if page is None:
        raise DomainError.of("NOT_FOUND", "No such page.", "slug")
    _check_base(page, base_revision)
    old = await _revision(uow, page.id, revision) if 0 < revision < 2**31 else None
    if old is None:
        raise DomainError.of("NOT_FOUND", f"The page has no revision {revision}.", "revision")
    latest = await _revision(uow, page.id, page.revision)
    assert latest is not None
    # Rendered again: what the renderer makes safe today, not what it made then.
    sections = [
        Section(key=s.key, heading=s.heading, markdown=s.markdown, html=render(s.markdown))
        for s in sections_of(old.sections)
    ]
    if _content(latest.title, sections_of(latest.sections)) == _content(old.title, sections):
        return Saved(page=page, revision=latest, changed=False)
    written = await _write(uow, page, me, old.title, sections, text, reverted_to=revision)
    audit.record(
        uow, "page.revert", object_type="Page", object_ids=[page.id],
        details={"slug": slug, "revision": written.number, "revertedTo": revision},
    )  # fmt: skip
    return Saved(page=page, revision=written, changed=True)


# -- reading --------------------------------------------------------------------------------

CURRENT_COLUMNS = (
    Page.id, Page.slug, Page.title, Page.revision, Page.created_at, Page.updated_at,
    PageRevision.sections,
)  # fmt: skip


def current() -> Any:
    """Pages with their latest revision's sections, as a SELECT to filter."""
    return select(*CURRENT_COLUMNS).join(
        PageRevision, and_(PageRevision.page_id == Page.id, PageRevision.number == Page.revision)
    )


async def public_page(reads: Reader, slug: str) -> Any | None:
    """A page as anyone may read it (a row of ``current()``), in one statement; None when
    there is none (a slug that cannot be one asks nothing)."""
    if not valid_slug(slug):
        return None
    async with reads.connect() as conn:
        found = await conn.execute(current().where(Page.slug == slug))
        return found.first()


def public_json(row: Any) -> dict[str, Any]:
    """What an anonymous reader is served of a page (GET /pages/<slug>)."""
    return {
        "slug": row.slug,
        "title": row.title,
        "revision": row.revision,
        "updatedAt": row.updated_at.isoformat(),
        "sections": [
            {"key": s.key, "heading": s.heading, "markdown": s.markdown, "html": s.html}
            for s in sections_of(row.sections)
        ],
    }


def public_body(row: Any) -> bytes:
    return orjson.dumps(public_json(row))


def etag(body: bytes) -> str:
    """A strong entity tag of exactly these bytes."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an ``If-None-Match`` header names this tag (weak comparison, as RFC 9110
    asks for this header; ``*`` matches any current page)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        value = candidate.strip()
        if value == "*":
            return True
        if value.startswith("W/"):
            value = value[2:]
        if value == tag:
            return True
    return False


# -- diffs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SectionDiff:
    key: str
    status: str  # added, removed, changed, unchanged
    moved: bool
    heading_before: str | None
    heading_after: str | None
    markdown_before: str | None
    markdown_after: str | None
    position_before: int | None
    position_after: int | None
    unified_diff: str


@dataclass(frozen=True)
class PageDiff:
    from_revision: int
    to_revision: int
    title_before: str
    title_after: str
    sections: list[SectionDiff] = field(default_factory=list)
    unified_diff: str = ""

    def keys(self, status: str) -> list[str]:
        return [s.key for s in self.sections if s.status == status]

    @property
    def moved(self) -> list[str]:
        return [s.key for s in self.sections if s.moved]


def _section_lines(section: Section | None) -> list[str]:
    if section is None:
        return []
    lines = [f"## {section.heading}", ""] if section.heading else []
    return lines + section.markdown.splitlines()


def page_text(title: str, sections: Sequence[Section]) -> list[str]:
    """A revision as one Markdown text, line by line: its title, then each section under a
    comment naming its key."""
    lines = [f"# {title}"]
    for section in sections:
        lines += ["", f"<!-- section: {section.key} -->", *_section_lines(section)]
    return lines


def _unified(before: list[str], after: list[str], a: str, b: str) -> str:
    return "\n".join(difflib.unified_diff(before, after, fromfile=a, tofile=b, lineterm=""))


def diff(
    before_number: int,
    before_title: str,
    before: Sequence[Section],
    after_number: int,
    after_title: str,
    after: Sequence[Section],
) -> PageDiff:
    """What changed from one revision to another: the whole page as a unified diff of its
    Markdown, and section by section (matched by key) added, removed, changed, moved."""
    a, b = f"revision {before_number}", f"revision {after_number}"
    old = {s.key: (i, s) for i, s in enumerate(before)}
    new = {s.key: (i, s) for i, s in enumerate(after)}
    # Moved: a section kept whose place among the kept ones changed (not one merely pushed
    # down by a section added above it).
    kept_before = [s.key for s in before if s.key in new]
    kept_after = [s.key for s in after if s.key in old]
    matcher = difflib.SequenceMatcher(None, kept_before, kept_after, autojunk=False)
    in_place = {
        key
        for block in matcher.get_matching_blocks()
        for key in kept_before[block.a : block.a + block.size]
    }
    order = [s.key for s in after] + [s.key for s in before if s.key not in new]
    sections: list[SectionDiff] = []
    for key in order:
        was = old.get(key)
        now = new.get(key)
        s0 = was[1] if was else None
        s1 = now[1] if now else None
        if s0 is None:
            status = "added"
        elif s1 is None:
            status = "removed"
        elif (s0.heading, s0.markdown) != (s1.heading, s1.markdown):
            status = "changed"
        else:
            status = "unchanged"
        sections.append(
            SectionDiff(
                key=key, status=status,
                moved=s0 is not None and s1 is not None and key not in in_place,
                heading_before=s0.heading if s0 else None,
                heading_after=s1.heading if s1 else None,
                markdown_before=s0.markdown if s0 else None,
                markdown_after=s1.markdown if s1 else None,
                position_before=was[0] if was else None,
                position_after=now[0] if now else None,
                unified_diff="" if status == "unchanged" else _unified(
                    _section_lines(s0), _section_lines(s1), f"{a} {key}", f"{b} {key}"
                ),
            )
        )  # fmt: skip
    return PageDiff(
        from_revision=before_number, to_revision=after_number, title_before=before_title,
        title_after=after_title, sections=sections,
        unified_diff=_unified(page_text(before_title, before), page_text(after_title, after), a, b),
    )  # fmt: skip


async def diffs(reads: Reader, wanted: Sequence[tuple[int, int, int]]) -> list[PageDiff | None]:
    """For each (page id, from, to): the diff from revision ``from`` to ``to`` (either
    order), or None if either does not exist; the revisions of all of them in one
    statement. Computed off the event loop: two pages of 100,000 characters take a moment
    to compare."""
    numbers = {n for _, a, b in wanted for n in (a, b) if 0 < n < 2**31}
    page_ids = {page_id for page_id, _, _ in wanted}
    rows: dict[tuple[int, int], Any] = {}
    if numbers:
        async with reads.connect() as conn:
            found = await conn.execute(
                select(
                    PageRevision.page_id, PageRevision.number, PageRevision.title,
                    PageRevision.sections,
                ).where(PageRevision.page_id.in_(page_ids), PageRevision.number.in_(numbers))
            )  # fmt: skip
            rows = {(row.page_id, row.number): row for row in found.all()}
    out: list[PageDiff | None] = []
    for page_id, first, second in wanted:
        x, y = rows.get((page_id, first)), rows.get((page_id, second))
        if x is None or y is None:
            out.append(None)
            continue
        out.append(
            await asyncio.to_thread(
                diff,
                first,
                x.title,
                sections_of(x.sections),
                second,
                y.title,
                sections_of(y.sections),
            )
        )
    return out


# -- the pages of a new network -------------------------------------------------------------


def default_pages() -> list[dict[str, Any]]:
    """The pages a new alumni network starts with (``alumnet seed --demo``): each a dict of
    ``slug``, ``title`` and ``sections`` (``key``, ``heading``, ``markdown``), ready for
    ``save`` (``sections=[SectionInput(**s) for s in page["sections"]]``)."""
    return [
        {
            "slug": "about",
            "title": "About the alumni network",
            "sections": [
                {
                    "key": "who-we-are",
                    "heading": "Who we are",
                    "markdown": "The alumni network brings together everyone who has studied "
                    "with us: more than **12,000 graduates** in 60 countries, and the students "
                    "who will join them. It is run by the Alumni Relations office with a "
                    "volunteer council elected by the alumni.",
                },
                {
                    "key": "what-we-do",
                    "heading": "What we do",
                    "markdown": "- Mentoring: alumni guide students through their missions "
                    "and first jobs.\n- Events: reunions, talks and career evenings, on "
                    "campus and online.\n- Careers: job postings and referrals from alumni "
                    "employers.\n- Giving back: scholarships funded by alumni gifts.",
                },
                {
                    "key": "get-involved",
                    "heading": "Get involved",
                    "markdown": "Complete your profile, offer an hour as a mentor or a "
                    "speaker, and tell us your news: we share it in the feed.",
                },
            ],
        },
        {
            "slug": "contacts",
            "title": "Contacts",
            "sections": [
                {
                    "key": "alumni-office",
                    "heading": "Alumni Relations office",
                    "markdown": "E-mail: [alumni@example.edu](mailto:alumni@example.edu)  \n"
                    "Telephone: +44 20 7946 0000  \nOpen Monday to Friday, 9:00 to 17:00.",
                },
                {
                    "key": "careers",
                    "heading": "Careers service",
                    "markdown": "For job postings, referrals and CV reviews: "
                    "[careers@example.edu](mailto:careers@example.edu).",
                },
                {
                    "key": "address",
                    "heading": "Visit us",
                    "markdown": "Alumni House, 1 College Road, London WC1E 0AA. Step-free "
                    "access from the north entrance.",
                },
            ],
        },
        {
            "slug": "quick-links",
            "title": "Quick links",
            "sections": [
                {
                    "key": "links",
                    "heading": None,
                    "markdown": "- [Update your profile](https://alumni.example.edu/profile)\n"
                    "- [Upcoming events](https://alumni.example.edu/events)\n"
                    "- [Job board](https://alumni.example.edu/jobs)\n"
                    "- [Become a mentor](https://alumni.example.edu/mentoring)\n"
                    "- [Give to the scholarship fund](https://alumni.example.edu/give)",
                },
            ],
        },
        {
            "slug": "feature-cards",
            "title": "Featured",
            "sections": [
                {
                    "key": "mentoring",
                    "heading": "Mentor a student",
                    "markdown": "One hour a month makes a difference. Share what you wish "
                    "you had known at the start.",
                },
                {
                    "key": "reunion",
                    "heading": "Reunion weekend",
                    "markdown": "Classes ending in 1 and 6 meet again on campus in June. "
                    "Registration opens in March.",
                },
                {
                    "key": "speakers",
                    "heading": "Speak at a career evening",
                    "markdown": "Tell students how you got where you are: offer a talk from "
                    "your profile.",
                },
            ],
        },
    ]


async def seed_default_pages(uow: UnitOfWork, editor: Viewer) -> int:
    """Save each default page that does not exist yet; how many were created."""
    existing = set(
        (await uow.session.execute(select(Page.slug))).scalars()
    )  # fmt: skip
    created = 0
    for page in default_pages():
        if page["slug"] in existing:
            continue
        await save(
            uow, editor, slug=page["slug"], title=page["title"],
            sections=[SectionInput(**s) for s in page["sections"]],
            note="The network's first version of this page.",
        )  # fmt: skip
        created += 1
    return created
