"""People: profiles with privacy per field group, degrees, the directory with facets,
follows, profile views, duplicates and personal-data exports."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import case, func, select
from strawberry import relay

from alumnet.domain.data import files
from alumnet.domain.identity.permissions import Permission
from alumnet.domain.people import directory, privacy
from alumnet.persistence.loaders import people as loaders
from alumnet.persistence.loaders.common import by_id
from alumnet.persistence.models import DuplicateCandidate as CandidateModel
from alumnet.persistence.models import Follow, ProfileView
from alumnet.persistence.models import PersonalExport as ExportModel
from alumnet.persistence.models import Profile as ProfileModel
from alumnet.persistence.models import Programme as ProgrammeModel
from alumnet.persistence.models import User as UserModel
from alumnet.schema.context import Info
from alumnet.schema.errors import bad_input
from alumnet.schema.identity.types import Role as RoleEnum
from alumnet.schema.nodes import global_pk, int_ids, readable_rows
from alumnet.schema.pagination import (
    ORDER_DIRECTION_DESCRIPTION,
    CountedConnection,
    KeysetQuery,
    SortDirection,
    SortKey,
    descending,
    reads_loader,
)

if TYPE_CHECKING:
    from alumnet.schema.careers.types import RemoteMode
    from alumnet.schema.community.photos import Photo
    from alumnet.schema.community.volunteering import VolunteerEngagement
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value


@strawberry.enum(description="Who may see a group of a profile's fields.")
class Visibility(Enum):
    EVERYONE = ev("everyone", description="Everyone signed in.")
    ALUMNI = ev("alumni", description="Alumni and staff.")
    STAFF = ev("staff", description="Staff only (administrators, managers, SREs).")
    ONLY_ME = ev("only_me", description="Only you (and administrators who manage users).")


@strawberry.enum(description="Where a verification stands.")
class VerificationStatus(Enum):
    UNVERIFIED = ev("unverified", description="Not submitted.")
    PENDING = ev("pending", description="Submitted; waiting for an administrator.")
    VERIFIED = ev("verified", description="Verified by an administrator.")
    REJECTED = ev("rejected", description="Rejected; see the note.")


@strawberry.enum(description="How well someone knows a skill.")
class Proficiency(Enum):
    BEGINNER = ev("beginner", description="Beginner.")
    INTERMEDIATE = ev("intermediate", description="Intermediate.")
    ADVANCED = ev("advanced", description="Advanced.")
    EXPERT = ev("expert", description="Expert.")


@strawberry.enum(description="What a social link points at.")
class LinkKind(Enum):
    LINKEDIN = ev("linkedin", description="LinkedIn.")
    GITHUB = ev("github", description="GitHub.")
    WEBSITE = ev("website", description="A personal website.")
    X = ev("x", description="X (Twitter).")
    CV = ev(
        "cv",
        description="Your CV (a link to a PDF or a page); job applications can use it.",
    )
    OTHER = ev("other", description="Anything else.")


@strawberry.type(description="A programme of study.")
class Programme(relay.Node):
    id: relay.NodeID[int]
    code: str = strawberry.field(description="Short code.")
    name: str = strawberry.field(description="Name.")
    first_graduation_year: int = strawberry.field(description="Its first graduates' year.")
    last_graduation_year: int | None = strawberry.field(
        description="Its last graduates' year; null while it runs."
    )

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, code=row.code, name=row.name,
            first_graduation_year=row.first_graduation_year,
            last_graduation_year=row.last_graduation_year,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        found = await readable_rows(info, ProgrammeModel.__table__, ids)
        return [cls.from_row(found[i]) if i in found else None for i in ids]


@strawberry.type(description="A degree on someone's profile.")
class Degree(relay.Node):
    id: relay.NodeID[int]
    programme_name: str = strawberry.field(description="The programme.")
    programme_code: str = strawberry.field(description="The programme's code.")
    campus: str | None = strawberry.field(description="Where.")
    start_year: int | None = strawberry.field(description="Year started.")
    graduation_year: int = strawberry.field(description="Year graduated (or expected).")
    verification: VerificationStatus = strawberry.field(description="Verified or not.")
    _note: strawberry.Private[str | None]
    _owner: strawberry.Private[int]

    @strawberry.field(description="The administrator's note (a rejection's reason): for the "
                      "person and staff only.")  # fmt: skip
    def verification_note(self, info: Info) -> str | None:
        return self._note if _staff_or_owner(info, self._owner) else None

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, programme_name=row.programme_name, programme_code=row.programme_code,
            campus=row.campus, start_year=row.start_year, graduation_year=row.graduation_year,
            verification=VerificationStatus(row.status), _note=row.decision_note,
            _owner=row.user_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        from alumnet.persistence.models import Degree as DegreeModel

        ids = int_ids(node_ids)
        owners = await readable_rows(info, DegreeModel.__table__, ids)
        result: list[Self | None] = []
        for i in ids:
            row = owners.get(i)
            degrees = (
                await reads_loader(info, ("people", "degrees"), loaders.degrees_by_user).load(
                    row.user_id
                )
                if row is not None
                else []
            )
            profile = await _profile(info, row.user_id) if row is not None else None
            mine = next((d for d in degrees if d.id == i), None)
            visible = profile is not None and privacy.may_see(
                info.context.viewer, profile.id, profile.education_visibility
            )
            result.append(cls.from_row(mine) if mine is not None and visible else None)
        return result


@strawberry.type(description="A position held.")
class Position:
    company: str = strawberry.field(description="Employer.")
    title: str = strawberry.field(description="Job title.")
    started_on: date = strawberry.field(description="Start date.")
    ended_on: date | None = strawberry.field(description="End date; null if current.")


@strawberry.type(description="A skill and how well it is known.")
class SkillLevel:
    name: str = strawberry.field(description="The skill.")
    proficiency: Proficiency = strawberry.field(description="How well.")


@strawberry.type(description="An achievement.")
class Achievement:
    title: str = strawberry.field(description="What.")
    description: str | None = strawberry.field(description="More about it.")
    year: int | None = strawberry.field(description="When.")


@strawberry.type(description="A link to elsewhere.")
class SocialLink:
    kind: LinkKind = strawberry.field(description="What it is.")
    url: str = strawberry.field(description="The address (http or https).")


@strawberry.type(description="Who may see each group of your profile's fields.")
class Privacy:
    contact: Visibility = strawberry.field(description="E-mail, phone, social links.")
    work: Visibility = strawberry.field(description="Job, company, work history, skills.")
    education: Visibility = strawberry.field(
        description="Degrees, programme, semester, graduation years."
    )
    location: Visibility = strawberry.field(description="City and country.")


@strawberry.type(description="How complete a profile is, and what it lacks.")
class Completeness:
    score: int = strawberry.field(description="Percent of the expected items present (0–100).")
    missing: list[str] = strawberry.field(
        description="What is missing, e.g. `photo`, `skills (3 or more)`, `degree`."
    )


@strawberry.type(description="Who looked at a profile, for its owner.")
class ProfileViews:
    last_30_days: int = strawberry.field(description="Viewer-days in the last 30 days.")
    total: int = strawberry.field(description="Viewer-days ever.")
    _user_id: strawberry.Private[int]
    _show: strawberry.Private[bool]

    @strawberry.field(
        description="Who viewed, latest first; only if you chose to see them (`showViewers`)."
    )
    async def viewers(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="At most 100.")] = 20,
    ) -> list[Profile] | None:
        if not self._show:
            return None
        if not 0 <= first <= 100:
            raise bad_input("`first` must be between 0 and 100.")
        query = (
            select(ProfileView.viewer_id, func.max(ProfileView.last_viewed_at).label("at"))
            .where(ProfileView.viewed_id == self._user_id)
            .group_by(ProfileView.viewer_id)
            .order_by(func.max(ProfileView.last_viewed_at).desc())
            .limit(first)
        )
        async with info.context.reads.connect() as conn:
            ids = [int(r.viewer_id) for r in (await conn.execute(query)).all()]
        found = await Profile.resolve_nodes(info=info, node_ids=[str(i) for i in ids])
        return [p for p in found if p is not None]


async def _programmes_by_id(reads: Any, ids: Any) -> list[Any]:
    return await by_id(reads, [ProgrammeModel.__table__], ProgrammeModel.id, ids)


async def _profile(info: Info, user_id: int) -> Any:
    return await reads_loader(info, ("people", "profile"), loaders.profiles_by_id).load(user_id)


def _staff_or_owner(info: Info, owner: int) -> bool:
    viewer = info.context.viewer
    return viewer.user_id == owner or bool(viewer.roles & privacy.STAFF)


@strawberry.type(
    description="A person's profile. Everyone signed in sees the name, headline, bio, photo, "
    "achievements and badges; each group of other fields (contact, work, education, "
    "location) is null unless its owner's privacy choice lets you see it."
)
class Profile(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Full name.")
    headline: str | None = strawberry.field(description="One line about them.")
    bio: str | None = strawberry.field(description="About them (plain text).")
    photo_url: str | None = strawberry.field(description="Photo (https).")
    email_verified: bool = strawberry.field(description="Whether their e-mail is confirmed.")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, name=row.name, headline=row.headline, bio=row.bio,
            photo_url=row.photo_url, email_verified=row.email_verified_at is not None, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        if not info.context.viewer.is_authenticated:
            return [None for _ in ids]
        loader = reads_loader(info, ("people", "profile"), loaders.profiles_by_id)
        rows = await loader.load_many([i for i in ids if i])
        found = {r.id: r for r in rows if r is not None}
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    def _sees(self, info: Info, group: str) -> bool:
        level = getattr(self._row, f"{group}_visibility")
        return privacy.may_see(info.context.viewer, self.id, level)

    @strawberry.field(
        description="The uploaded profile photo, in its sizes, with lasting links (null if "
        "none, or if `photoUrl` is an address given by hand)."
    )
    async def photo(
        self, info: Info
    ) -> Annotated[Photo, strawberry.lazy("alumnet.schema.community.photos")] | None:
        from alumnet.schema.community.photos import photos_of_profile

        return await photos_of_profile(info, getattr(self._row, "photo_id", None), self.photo_url)

    @strawberry.field(
        description="Their volunteering, latest first (at most 20; the whole history is "
        "`volunteering(userId:)`): to others the confirmed engagements only, when they may "
        "see this profile's work; all of it to the person and to staff who manage "
        "volunteering."
    )
    async def volunteering(
        self, info: Info
    ) -> list[
        Annotated[VolunteerEngagement, strawberry.lazy("alumnet.schema.community.volunteering")]
    ]:
        from alumnet.schema.community.volunteering import history_of_profile

        return await history_of_profile(info, self.id)

    @strawberry.field(description="Verified badge: a degree or the academic record is verified.")
    async def verified(self, info: Info) -> bool:
        if self._row.record_status == "verified":
            return True
        degrees = await reads_loader(info, ("people", "degrees"), loaders.degrees_by_user).load(
            self.id
        )
        return any(d.status == "verified" for d in degrees)

    @strawberry.field(description="E-mail address (contact group).")
    def email(self, info: Info) -> str | None:
        return str(self._row.email) if self._sees(info, "contact") else None

    @strawberry.field(description="Phone number (contact group).")
    def phone(self, info: Info) -> str | None:
        return self._row.phone if self._sees(info, "contact") else None

    @strawberry.field(description="Links elsewhere (contact group).")
    async def social_links(self, info: Info) -> list[SocialLink] | None:
        if not self._sees(info, "contact"):
            return None
        rows = await reads_loader(info, ("people", "links"), loaders.links_by_user).load(self.id)
        return [SocialLink(kind=LinkKind(r.kind), url=r.url) for r in rows]

    @strawberry.field(description="Current job title (work group).")
    def job_title(self, info: Info) -> str | None:
        return self._row.job_title if self._sees(info, "work") else None

    @strawberry.field(description="Current employer (work group).")
    def company(self, info: Info) -> str | None:
        return self._row.company if self._sees(info, "work") else None

    @strawberry.field(description="Positions, latest first (work group).")
    async def work_history(self, info: Info) -> list[Position] | None:
        if not self._sees(info, "work"):
            return None
        rows = await reads_loader(info, ("people", "work"), loaders.work_by_user).load(self.id)
        return [Position(company=r.company, title=r.title, started_on=r.started_on,
                         ended_on=r.ended_on) for r in rows]  # fmt: skip

    @strawberry.field(description="Skills, by name (work group).")
    async def skills(self, info: Info) -> list[SkillLevel] | None:
        if not self._sees(info, "work"):
            return None
        rows = await reads_loader(info, ("people", "skills"), loaders.skills_by_user).load(self.id)
        return [SkillLevel(name=r.name, proficiency=Proficiency(r.proficiency)) for r in rows]

    @strawberry.field(description="Achievements, latest first.")
    async def achievements(self, info: Info) -> list[Achievement]:
        load = reads_loader(info, ("people", "achievements"), loaders.achievements_by_user)
        rows = await load.load(self.id)
        return [Achievement(title=r.title, description=r.description, year=r.year) for r in rows]

    @strawberry.field(description="Degrees, latest first (education group).")
    async def degrees(self, info: Info) -> list[Degree] | None:
        if not self._sees(info, "education"):
            return None
        rows = await reads_loader(info, ("people", "degrees"), loaders.degrees_by_user).load(
            self.id
        )
        return [Degree.from_row(r) for r in rows]

    @strawberry.field(
        description="Graduation year: the latest degree's, or expected (education group)."
    )
    def graduation_year(self, info: Info) -> int | None:
        return self._row.graduation_year if self._sees(info, "education") else None

    @strawberry.field(description="A student's programme (education group).")
    async def programme(self, info: Info) -> Programme | None:
        if self._row.programme_id is None or not self._sees(info, "education"):
            return None
        loader = reads_loader(info, ("people", "programme"), _programmes_by_id)
        row = await loader.load(self._row.programme_id)
        return Programme.from_row(row) if row is not None else None

    @strawberry.field(description="A student's current semester (education group).")
    def semester(self, info: Info) -> int | None:
        return self._row.semester if self._sees(info, "education") else None

    @strawberry.field(description="A student's expected graduation year (education group).")
    def expected_graduation_year(self, info: Info) -> int | None:
        return self._row.expected_graduation_year if self._sees(info, "education") else None

    @strawberry.field(description="Student number: for the student and staff only.")
    def student_number(self, info: Info) -> str | None:
        return self._row.student_number if _staff_or_owner(info, self.id) else None

    @strawberry.field(description="CGPA (0–10): for the student and staff only.")
    def cgpa(self, info: Info) -> float | None:
        return self._row.cgpa if _staff_or_owner(info, self.id) else None

    @strawberry.field(description="Date of birth: for its owner and staff only.")
    def date_of_birth(self, info: Info) -> date | None:
        return self._row.date_of_birth if _staff_or_owner(info, self.id) else None

    @strawberry.field(
        description="Verification of the academic record (programme, student number, CGPA)."
    )
    def academic_record(self, info: Info) -> VerificationStatus | None:
        if not _staff_or_owner(info, self.id):
            return None
        return VerificationStatus(self._row.record_status)

    @strawberry.field(description="City (location group).")
    def city(self, info: Info) -> str | None:
        return self._row.city if self._sees(info, "location") else None

    @strawberry.field(description="Country, ISO 3166-1 alpha-2 (location group).")
    def country(self, info: Info) -> str | None:
        return self._row.country if self._sees(info, "location") else None

    @strawberry.field(description="Your privacy choices (yours, or for user managers).")
    def privacy(self, info: Info) -> Privacy | None:
        viewer = info.context.viewer
        if viewer.user_id != self.id and not viewer.can(Permission.USERS_MANAGE):
            return None
        row = self._row
        return Privacy(
            contact=Visibility(row.contact_visibility), work=Visibility(row.work_visibility),
            education=Visibility(row.education_visibility),
            location=Visibility(row.location_visibility),
        )  # fmt: skip

    @strawberry.field(
        description="Whether this alumnus offers to be contacted by students (students may "
        "then write to them)."
    )
    def open_to_students(self) -> bool:
        return bool(self._row.open_to_students)

    @strawberry.field(
        description="Where they would rather work (work group); job recommendations follow it."
    )
    def remote_preference(
        self, info: Info
    ) -> Annotated[RemoteMode, strawberry.lazy("alumnet.schema.careers.types")] | None:
        from alumnet.schema.careers.types import RemoteMode as Mode

        value = self._row.remote_preference
        return Mode(value) if value and self._sees(info, "work") else None

    @strawberry.field(description="Whether you see who viewed your profile (owner only).")
    def show_viewers(self, info: Info) -> bool | None:
        return bool(self._row.show_viewers) if info.context.viewer.user_id == self.id else None

    @strawberry.field(description="How many people follow them.")
    async def follower_count(self, info: Info) -> int:
        counts = reads_loader(info, ("people", "follows"), loaders.follow_counts)
        return int((await counts.load(self.id))[0])

    @strawberry.field(description="How many people they follow.")
    async def following_count(self, info: Info) -> int:
        counts = reads_loader(info, ("people", "follows"), loaders.follow_counts)
        return int((await counts.load(self.id))[1])

    @strawberry.field(description="Whether you follow them.")
    async def followed_by_me(self, info: Info) -> bool:
        me = info.context.viewer.user_id or -1
        load = functools.partial(_followed_by, me=me)
        return bool(await reads_loader(info, ("people", "followed", me), load).load(self.id))

    @relay.connection(
        Annotated["ProfileConnection", strawberry.lazy("alumnet.schema.people.types")],
        description="Who follows them, latest first.",
        max_results=1000,
    )
    def followers(self, info: Info) -> Iterable[Profile]:
        query = loaders.profile_query().add_columns(Follow.created_at.label("followed_at"))
        query = query.join(Follow, Follow.follower_id == ProfileModel.user_id)
        return KeysetQuery(
            query.add_columns(Follow.followee_id),
            [SortKey(Follow.created_at, descending=True, attr="followed_at"),
             SortKey(ProfileModel.user_id, attr="id")],
            Profile.from_row, info.context.reads,
            partition=(Follow.followee_id, self.id), batch_key="Profile.followers",
        )  # fmt: skip

    @relay.connection(
        Annotated["ProfileConnection", strawberry.lazy("alumnet.schema.people.types")],
        description="Whom they follow, latest first.",
        max_results=1000,
    )
    def following(self, info: Info) -> Iterable[Profile]:
        query = loaders.profile_query().add_columns(Follow.created_at.label("followed_at"))
        query = query.join(Follow, Follow.followee_id == ProfileModel.user_id)
        return KeysetQuery(
            query.add_columns(Follow.follower_id),
            [SortKey(Follow.created_at, descending=True, attr="followed_at"),
             SortKey(ProfileModel.user_id, attr="id")],
            Profile.from_row, info.context.reads,
            partition=(Follow.follower_id, self.id), batch_key="Profile.following",
        )  # fmt: skip

    @strawberry.field(description="Views of the profile: for its owner only.")
    async def views(self, info: Info) -> ProfileViews | None:
        if info.context.viewer.user_id != self.id:
            return None
        since = datetime.now(UTC).date() - timedelta(days=30)
        query = select(func.count(), func.count().filter(ProfileView.viewed_on >= since)).where(
            ProfileView.viewed_id == self.id
        )
        async with info.context.reads.connect() as conn:
            total, recent = (await conn.execute(query)).one()
        return ProfileViews(last_30_days=int(recent), total=int(total), _user_id=self.id,
                            _show=bool(self._row.show_viewers))  # fmt: skip

    @strawberry.field(
        description="What the profile lacks: for its owner and user managers; null otherwise."
    )
    async def completeness(self, info: Info) -> Completeness | None:
        viewer = info.context.viewer
        if viewer.user_id != self.id and not viewer.can(Permission.USERS_MANAGE):
            return None
        row = self._row
        roles = await info.context.loaders.roles_by_user_id.load(self.id)
        skills = await reads_loader(info, ("people", "skills"), loaders.skills_by_user).load(
            self.id
        )
        links = await reads_loader(info, ("people", "links"), loaders.links_by_user).load(self.id)
        items = {
            "photo": bool(row.photo_url), "headline": bool(row.headline), "bio": bool(row.bio),
            "location": bool(row.city and row.country), "skills (3 or more)": len(skills) >= 3,
            "social link": bool(links),
        }  # fmt: skip
        if "STUDENT" in roles:
            items |= {
                "programme": row.programme_id is not None, "semester": row.semester is not None,
                "expected graduation year": row.expected_graduation_year is not None,
                "student number": bool(row.student_number),
            }  # fmt: skip
        else:
            work = await reads_loader(info, ("people", "work"), loaders.work_by_user).load(self.id)
            degrees = await reads_loader(info, ("people", "degrees"), loaders.degrees_by_user).load(
                self.id
            )
            items |= {
                "current job": bool(row.job_title and row.company),
                "work history": bool(work), "degree": bool(degrees),
            }  # fmt: skip
        missing = [name for name, present in items.items() if not present]
        return Completeness(
            score=round(100 * (len(items) - len(missing)) / len(items)), missing=missing
        )


async def _followed_by(reads: Any, ids: Any, *, me: int) -> list[bool]:
    query = select(Follow.followee_id).where(
        Follow.follower_id == me, Follow.followee_id.in_(list(ids))
    )
    async with reads.connect() as conn:
        found = {int(i) for i in (await conn.execute(query)).scalars()}
    return [i in found for i in ids]


@strawberry.type(description="Profiles, a page at a time.")
class ProfileConnection(CountedConnection[Profile]):
    pass


@strawberry.enum(description="What the directory can be sorted by.")
class DirectoryOrderField(Enum):
    RELEVANCE = ev(
        "relevance",
        description="How well they match `query` (natural: best first); without a query, "
        "by name (best first meaning A first).",
    )
    NAME = ev("name", description="Their name (natural: A first).")
    GRADUATION_YEAR = ev(
        "graduation_year",
        description="Graduation year where you may see it, then name (natural: most recent "
        "first; a year you may not see counts as none, which is oldest).",
    )


@strawberry.input(description="How the directory is sorted; ties are broken by name, then by "
                  "person.")  # fmt: skip
class DirectoryOrder:
    field: DirectoryOrderField = strawberry.field(
        default=DirectoryOrderField.RELEVANCE, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


@strawberry.input(description="Narrow the directory; each filter applies only where you may see "
                  "the field it reads.")  # fmt: skip
class DirectoryFilter:
    roles: list[RoleEnum] | None = strawberry.field(default=None, description="Any of these.")
    skills: list[str] | None = strawberry.field(
        default=None, description="All of these skills (names, any case)."
    )
    company: str | None = strawberry.field(default=None, description="Current employer.")
    graduation_year_from: int | None = strawberry.field(
        default=None, description="Graduated (or graduating) in or after."
    )
    graduation_year_to: int | None = strawberry.field(default=None, description="In or before.")
    programme_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A degree in (or studying) this programme."
    )
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2.")


def directory_filter(given: DirectoryFilter | None) -> directory.DirectoryFilter:
    if given is None:
        return directory.DirectoryFilter()
    if given.skills is not None and len(given.skills) > 20:
        raise bad_input("At most 20 skills.")
    return directory.DirectoryFilter(
        roles=tuple(str(r.value) for r in given.roles or []),
        skills=tuple(s[:64] for s in given.skills or []),
        company=given.company[:200] if given.company else None,
        graduation_from=given.graduation_year_from,
        graduation_to=given.graduation_year_to,
        programme_id=None if given.programme_id is None
        else (global_pk(given.programme_id, "Programme") or -1),
        country=given.country[:2] if given.country else None,
    )  # fmt: skip


def _dialect(info: Info) -> str:
    return str(info.context.runtime.database.engine.dialect.name)


@strawberry.type(description="One value of a facet and how many people have it.")
class FacetValue:
    value: str = strawberry.field(description="The value (a year, a country code, a skill).")
    count: int = strawberry.field(description="How many of the matched people.")


@strawberry.type(description="Counts for a filter sidebar, over what a directory query matches.")
class DirectoryFacets:
    graduation_years: list[FacetValue] = strawberry.field(description="Latest years first.")
    countries: list[FacetValue] = strawberry.field(description="Most common first.")
    skills: list[FacetValue] = strawberry.field(description="Most common first.")


@strawberry.type(description="Two accounts that are likely the same person.")
class DuplicateCandidate(relay.Node):
    id: relay.NodeID[int]
    reasons: list[str] = strawberry.field(description="Why they look alike.")
    found_at: datetime = strawberry.field(description="When (UTC).")
    status: str = strawberry.field(description="open, dismissed or merged.")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, reasons=list(row.reasons or []), found_at=row.found_at,
                   status=row.status, _row=row)  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        if not info.context.viewer.can(Permission.USERS_MANAGE):
            return [None for _ in ids]
        found = await readable_rows(info, CandidateModel.__table__, ids)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="The two people, lower id first.")
    async def people(
        self, info: Info
    ) -> list[Annotated[User, strawberry.lazy("alumnet.schema.identity.types")] | None]:
        from alumnet.schema.identity.types import User as UserNode

        ids = [str(self._row.user_a_id), str(self._row.user_b_id)]
        return await UserNode.resolve_nodes(info=info, node_ids=ids)  # type: ignore[return-value]


@strawberry.type(description="Likely duplicates, a page at a time.")
class DuplicateCandidateConnection(CountedConnection[DuplicateCandidate]):
    pass


@strawberry.type(description="A download of everything alumnet holds about you.")
class PersonalExport(relay.Node):
    id: relay.NodeID[int]
    created_at: datetime = strawberry.field(description="When it was made (UTC).")
    expires_at: datetime = strawberry.field(description="When it is deleted (UTC).")
    _file_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, created_at=row.created_at, expires_at=row.expires_at,
                   _file_id=row.file_id)  # fmt: skip

    @strawberry.field(
        description="A link to download it (JSON), valid for 15 minutes; ask again for a new one."
    )
    def download_url(self, info: Info) -> str:
        return files.download_url(
            info.context.runtime.settings, info.context.viewer.user_id or 0, self._file_id
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        mine = ExportModel.user_id == (info.context.viewer.user_id or -1)
        table = ExportModel.__table__
        found = await readable_rows(info, table, ids, mine)
        return [cls.from_row(r) if r else None for r in (found.get(i) for i in ids)]


@strawberry.type
class PeopleQuery:
    @relay.connection(
        ProfileConnection,
        description="Search people with a profile: a text query (names, also misspelt; "
        "headlines; and job titles, companies and skills where you may see them) and "
        "filters. At most 200 characters of the query are used; punctuation only separates "
        "words.",
        max_results=1000,
    )
    def directory(
        self,
        info: Info,
        query: Annotated[str | None, strawberry.argument(description="Words to find.")] = None,
        filter: Annotated[
            DirectoryFilter | None, strawberry.argument(description="Narrow it.")
        ] = None,
        order_by: Annotated[
            DirectoryOrder | None,
            strawberry.argument(description="Sort order (by relevance unless said otherwise)."),
        ] = None,
    ) -> Iterable[Profile]:
        viewer, given, dialect = info.context.viewer, directory_filter(filter), _dialect(info)
        order = order_by or DirectoryOrder()

        def listed(
            found: directory.Match, fallback: Callable[[], KeysetQuery[Profile]] | None = None
        ) -> KeysetQuery[Profile]:
            base = loaders.profile_query().where(found.where)
            name = SortKey(UserModel.name)
            person = SortKey(ProfileModel.user_id, attr="id")
            if order.field == DirectoryOrderField.RELEVANCE and found.rank is not None:
                down = descending(order.direction, SortDirection.DESC)
                base = base.add_columns(found.rank.label("rank"))
                sort = [SortKey(found.rank, descending=down, attr="rank"), person]
            elif order.field == DirectoryOrderField.GRADUATION_YEAR:
                down = descending(order.direction, SortDirection.DESC)
                # A year the viewer may not see sorts as none (and is not in the cursor).
                education_ok = privacy.visible(
                    info.context.viewer, ProfileModel.user_id, ProfileModel.education_visibility
                )
                year = case((education_ok, func.coalesce(UserModel.graduation_year, 0)), else_=0)
                base = base.add_columns(year.label("year_key"))
                sort = [SortKey(year, descending=down, attr="year_key"), name, person]
            else:
                if order.field == DirectoryOrderField.RELEVANCE:  # no query: best first is A first
                    down = not descending(order.direction, SortDirection.DESC)
                else:
                    down = descending(order.direction, SortDirection.ASC)
                sort = [SortKey(UserModel.name, down), SortKey(ProfileModel.user_id, down, "id")]
            return KeysetQuery(base, sort, Profile.from_row, info.context.reads, fallback=fallback)

        # Words as written first; misspellings forgiven only when nobody matches so.
        def forgiving() -> KeysetQuery[Profile]:
            return listed(directory.match(viewer, query, given, dialect, forgiving=True))

        exact = directory.match(viewer, query, given, dialect)
        return listed(exact, forgiving if directory.forgives(query) else None)

    @strawberry.field(description="Facet counts for the same query and filters as `directory`.")
    async def directory_facets(
        self,
        info: Info,
        query: Annotated[str | None, strawberry.argument(description="Words to find.")] = None,
        filter: Annotated[
            DirectoryFilter | None, strawberry.argument(description="Narrow it.")
        ] = None,
    ) -> DirectoryFacets:
        viewer = info.context.viewer
        counts: dict[str, list[FacetValue]] = {}
        async with info.context.reads.connect() as conn:
            found = await directory.matching(
                conn, viewer, query, directory_filter(filter), _dialect(info)
            )
            for key, statement in directory.facet_queries(viewer, found).items():
                rows = (await conn.execute(statement)).all()
                counts[key] = [FacetValue(value=str(r.value), count=int(r.n)) for r in rows]
        return DirectoryFacets(**counts)

    @strawberry.field(description="Every programme, by name.")
    async def programmes(self, info: Info) -> list[Programme]:
        if not info.context.viewer.is_authenticated:
            return []
        query = select(ProgrammeModel.__table__).order_by(ProgrammeModel.name).limit(1000)
        async with info.context.reads.connect() as conn:
            return [Programme.from_row(r) for r in (await conn.execute(query)).all()]

    @relay.connection(
        DuplicateCandidateConnection,
        description="Likely duplicate people still open, newest first (user managers).",
        max_results=1000,
    )
    def duplicate_candidates(self, info: Info) -> Iterable[DuplicateCandidate]:
        query = select(CandidateModel.__table__).where(CandidateModel.status == "open")
        if not info.context.viewer.can(Permission.USERS_MANAGE):
            query = query.where(CandidateModel.id < 0)
        sort = [SortKey(CandidateModel.id, descending=True)]
        return KeysetQuery(query, sort, DuplicateCandidate.from_row, info.context.reads)

    @strawberry.field(description="Your personal-data exports not yet expired, newest first.")
    async def personal_data_exports(self, info: Info) -> list[PersonalExport]:
        me = info.context.viewer.user_id or -1
        query = (
            select(ExportModel.__table__)
            .where(ExportModel.user_id == me, ExportModel.expires_at > datetime.now(UTC))
            .order_by(ExportModel.id.desc())
            .limit(20)
        )
        async with info.context.reads.connect() as conn:
            return [PersonalExport.from_row(r) for r in (await conn.execute(query)).all()]
