"""Identity types: users, personal access tokens, audit events."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self, cast

import strawberry
from sqlalchemy import and_, select
from strawberry import relay
from strawberry.scalars import JSON

from alumnet.domain.cohorts.access import cohort_members
from alumnet.domain.identity import permissions as rules
from alumnet.domain.identity import visibility
from alumnet.domain.identity.permissions import TokenScope as DomainTokenScope
from alumnet.persistence.loaders.identity import PAT_COLUMNS
from alumnet.persistence.models import CustomRoleAssignment as CustomRoleAssignmentModel
from alumnet.persistence.models import PersonalAccessToken as PatModel
from alumnet.schema.context import Info
from alumnet.schema.nodes import int_ids, load_visible
from alumnet.schema.pagination import (
    CountedConnection,
    KeysetQuery,
    SortDirection,
    SortKey,
    batch_loader,
)

if TYPE_CHECKING:
    from alumnet.schema.careers.types import (
        JobApplicationConnection,
        JobPostingConnection,
        JobPostingRecommendation,
        JobPostingSearch,
    )
    from alumnet.schema.cohorts.types import (
        EnrollmentConnection,
        EnrollmentFilter,
        MenteeOrder,
        MentorAssignment,
    )
    from alumnet.schema.events.types import EventRegistrationConnection, EventRegistrationStatus
    from alumnet.schema.identity.roles import CustomRoleAssignmentConnection
    from alumnet.schema.mentorship.queries import MentorshipSide
    from alumnet.schema.mentorship.types import (
        MentorOffer,
        MentorshipConnection,
        MentorshipRequestConnection,
        MentorshipRequestStatus,
        MentorshipStatus,
    )
    from alumnet.schema.people.types import Profile

CAREERS = "alumnet.schema.careers.types"
EVENTS = "alumnet.schema.events.types"
MENTORSHIP = "alumnet.schema.mentorship.types"
MENTORSHIP_QUERIES = "alumnet.schema.mentorship.queries"
ROLES = "alumnet.schema.identity.roles"


@strawberry.enum(description="A role: a named set of permissions given to a user.")
class Role(Enum):
    ADMIN = strawberry.enum_value(
        "ADMIN", description="Runs the institution's alumnet: everything."
    )
    DEVELOPER = strawberry.enum_value(
        "DEVELOPER", description="Builds on the API: reads jobs and operational data."
    )
    MANAGER = strawberry.enum_value(
        "MANAGER", description="Runs the programme: batches, missions, integrity decisions."
    )
    SRE = strawberry.enum_value(
        "SRE", description="Student relationship executive: keeps rosters current, calls students."
    )
    MENTOR = strawberry.enum_value("MENTOR", description="Mentors the students assigned to them.")
    STUDENT = strawberry.enum_value("STUDENT", description="A student of the programme.")
    ALUMNUS = strawberry.enum_value("ALUMNUS", description="A graduate of the institution.")
    ADVANCEMENT = strawberry.enum_value(
        "ADVANCEMENT",
        description="The advancement office: campaigns, gifts, pledges, receipts and donors.",
    )
    FACULTY = strawberry.enum_value(
        "FACULTY",
        description="Teaches subjects: records students' topic progress and marks, logs time.",
    )
    ADMISSIONS = strawberry.enum_value(
        "ADMISSIONS",
        description="A counsellor of the admissions office: inquiries, the pipeline, "
        "follow-ups and conversions.",
    )


@strawberry.enum(description="A named capability; roles grant permissions.")
class Permission(Enum):
    USERS_READ = strawberry.enum_value("users:read", description="List and read every user.")
    USERS_MANAGE = strawberry.enum_value(
        "users:manage", description="Create, edit and suspend users."
    )
    ROLES_ASSIGN = strawberry.enum_value("roles:assign", description="Change users' roles.")
    AUDIT_READ = strawberry.enum_value("audit:read", description="Read the audit log.")
    JOBS_READ = strawberry.enum_value("jobs:read", description="Inspect background jobs.")
    TOKENS_CREATE = strawberry.enum_value(
        "tokens:create", description="Create personal access tokens for oneself."
    )
    COHORTS_READ = strawberry.enum_value(
        "cohorts:read", description="See every batch, mission, enrolment and mentor assignment."
    )
    COHORTS_MANAGE = strawberry.enum_value(
        "cohorts:manage", description="Create, change and archive batches and missions."
    )
    ENROLLMENTS_MANAGE = strawberry.enum_value(
        "enrollments:manage", description="Enrol students in missions and change enrolments."
    )
    MENTORS_ASSIGN = strawberry.enum_value(
        "mentors:assign", description="Assign, unassign and reassign mentors to students."
    )
    ENGAGEMENT_MANAGE = strawberry.enum_value(
        "engagement:manage",
        description="Record and correct any student's attendance, meetings and submissions; "
        "manage assignments; recalculate points.",
    )
    INTEGRITY_FLAG = strawberry.enum_value(
        "integrity:flag", description="Raise integrity flags on any student."
    )
    INTEGRITY_DECIDE = strawberry.enum_value(
        "integrity:decide", description="Warn, ban or delist students; review appeals."
    )
    OUTREACH = strawberry.enum_value(
        "outreach", description="At-risk lists, call lists, call logs and follow-ups."
    )
    NOTICES_POST = strawberry.enum_value(
        "notices:post", description="Post notices to any batch or mission; remind students."
    )
    ANNOUNCEMENTS_POST = strawberry.enum_value(
        "announcements:post",
        description="Post and change announcements to everyone or to roles, batches or years.",
    )
    TICKETS = strawberry.enum_value(
        "tickets:handle",
        description="Read, answer and close students' tickets to the SRE team; SLA figures.",
    )
    DATA_IMPORT = strawberry.enum_value(
        "data:import", description="Import spreadsheets and roll imports back."
    )
    DATA_EXPORT = strawberry.enum_value(
        "data:export", description="Export rosters, attendance, points and directory results."
    )
    DATA_BULK = strawberry.enum_value(
        "data:bulk",
        description="Run a GraphQL query in the background over every page of a connection.",
    )
    CAREERS_POST = strawberry.enum_value(
        "careers:post", description="Post jobs and internships on the careers board."
    )
    CAREERS_MODERATE = strawberry.enum_value(
        "careers:moderate",
        description="Approve, reject and take down job postings, handle their reports, trust "
        "posters, see every posting's applicants and the careers figures.",
    )
    EVENTS_HOST = strawberry.enum_value(
        "events:host", description="Create events and run one's own."
    )
    EVENTS_MANAGE = strawberry.enum_value(
        "events:manage",
        description="Run every event, register people, trust chapter leads to host, and read "
        "the events' reports.",
    )
    MENTORSHIP_OFFER = strawberry.enum_value(
        "mentorship:offer", description="Offer to mentor students and younger alumni."
    )
    MENTORSHIP_MANAGE = strawberry.enum_value(
        "mentorship:manage",
        description="Tune the mentor matching's weights and read the mentorship figures.",
    )
    ANALYTICS_READ = strawberry.enum_value(
        "analytics:read",
        description="Read the programme's reports and figures (attendance, submissions, "
        "mentors, notices, engagement) within one's reach, and subscribe to them.",
    )
    COMMUNITY_MODERATE = strawberry.enum_value(
        "community:moderate",
        description="Work the community's moderation queue (hide, restore, warn) and delete "
        "anyone's posts and comments.",
    )
    PAGES_EDIT = strawberry.enum_value(
        "pages:edit",
        description="Edit the public pages (about, contacts, quick links, feature cards) and "
        "revert them to an earlier revision.",
    )
    VOLUNTEERING_MANAGE = strawberry.enum_value(
        "volunteering:manage",
        description="Record alumni's volunteering, confirm or decline what they offer, and "
        "read the volunteer-hours reports.",
    )
    GIVING = strawberry.enum_value(
        "giving",
        description="Campaigns and funds; record, confirm and refund gifts; pledges, receipts "
        "and giving levels; donors' names on anonymous gifts; the giving reports.",
    )
    ACADEMICS_TEACH = strawberry.enum_value(
        "academics:teach",
        description="Record topic progress and marks of the students of the missions one's "
        "subjects are offered to; log one's own time; read the feedback one receives.",
    )
    ACADEMICS_MANAGE = strawberry.enum_value(
        "academics:manage",
        description="Curricula (subjects, topics, offerings); everyone's progress, time and "
        "targets; every feedback and its summaries.",
    )
    ADMISSIONS = strawberry.enum_value(
        "admissions",
        description="Inquiries, the counselling pipeline, follow-up tasks, converting an "
        "inquiry into a student, and the conversion figures.",
    )
    SCHEMA_INTROSPECT = strawberry.enum_value(
        "schema:introspect",
        description="In production, introspect the schema (GraphiQL) and get "
        '"Did you mean …?" suggestions in error messages.',
    )
    WEBHOOKS_MANAGE = strawberry.enum_value(
        "webhooks:manage",
        description="Register outgoing webhook endpoints, rotate their signing secrets, and "
        "read and redeliver their deliveries.",
    )


@strawberry.enum(description="Whether a user can sign in.")
class UserStatus(Enum):
    ACTIVE = strawberry.enum_value("active", description="Can sign in and use alumnet.")
    SUSPENDED = strawberry.enum_value(
        "suspended", description="Blocked by an administrator; all tokens stop working at once."
    )
    DELETED = strawberry.enum_value("deleted", description="Removed; kept only for the record.")


def _to_role(value: str) -> Role | None:
    return Role[value] if value in Role.__members__ else None


@strawberry.enum(description="How much of its owner's permissions a personal access token carries.")
class TokenScope(Enum):
    READ = strawberry.enum_value(
        DomainTokenScope.READ.value,
        description="Queries and subscriptions only: any mutation is refused.",
    )
    WRITE = strawberry.enum_value(
        DomainTokenScope.WRITE.value,
        description="Queries and mutations, without the administrative permissions (managing "
        "users, roles and tokens, the audit log, imports and bulk queries).",
    )
    ADMIN = strawberry.enum_value(
        DomainTokenScope.ADMIN.value, description="Everything its owner may do."
    )


@strawberry.type(
    description="A long-lived token for scripts. Its secret is shown once, when it is created; "
    "send it as `Authorization: Bearer alm_pat_…`."
)
class PersonalAccessToken(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="What the token is for, chosen by its owner.")
    token_prefix: str = strawberry.field(
        description="The first characters of the secret, to recognise it; never the whole secret."
    )
    scope: TokenScope = strawberry.field(
        description="How much of its owner's permissions it carries."
    )
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    expires_at: datetime | None = strawberry.field(
        description="When it stops working (UTC); tokens last 90 days unless their owner "
        "chose otherwise, a year at most. Null only for tokens made before expiry was "
        "required."
    )
    last_used_at: datetime | None = strawberry.field(
        description="When it was last used (UTC, to the minute); null if never."
    )
    revoked_at: datetime | None = strawberry.field(
        description="When it was revoked (UTC); null if it was not."
    )
    _user_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id,
            name=row.name,
            token_prefix=row.token_prefix,
            scope=TokenScope(row.scope),
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            _user_id=row.user_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await load_visible(
            info.context.loaders.token_by_id,
            node_ids,
            lambda viewer, row: visibility.may_see_token(viewer, row.user_id),
            info.context.viewer,
            cls.from_row,
        )

    @strawberry.field(description="Whether the token works now: not revoked and not expired.")
    def active(self) -> bool:
        from alumnet.persistence.models.base import utcnow

        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utcnow())

    @strawberry.field(description="Whose token this is.")
    async def user(self, info: Info) -> User | None:
        row = await info.context.loaders.user_by_id.load(self._user_id)
        return User.from_row(row) if row is not None else None


@strawberry.type(description="Personal access tokens, a page at a time.")
class PersonalAccessTokenConnection(CountedConnection[PersonalAccessToken]):
    pass


@strawberry.type(
    description="One sign-in of yours and the device it came from; it lasts while its "
    "refresh tokens are used, until it is revoked or you sign out."
)
class Session(relay.Node):
    id: relay.NodeID[int]
    device: str = strawberry.field(
        description='The browser and system, read from the User-Agent: "Firefox on Windows".'
    )
    user_agent: str | None = strawberry.field(description="The client's User-Agent, if known.")
    ip_address: str | None = strawberry.field(
        description="The address it signed in from, if known."
    )
    created_at: datetime = strawberry.field(description="When it signed in (UTC).")
    last_used_at: datetime | None = strawberry.field(
        description="When a request last used it (UTC, to the minute)."
    )
    revoked_at: datetime | None = strawberry.field(
        description="When it ended (UTC); null while it works."
    )
    _user_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id,
            device=row.device or "Unknown device",
            user_agent=row.user_agent,
            ip_address=row.ip,
            created_at=row.created_at,
            last_used_at=row.last_used_at or row.refreshed_at,
            revoked_at=row.revoked_at,
            _user_id=row.user_id,
        )

    @strawberry.field(description="Whether this is the session you are asking with.")
    def current(self, info: Info) -> bool:
        return info.context.viewer.session_id == self.id

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await load_visible(
            info.context.loaders.session_by_id,
            node_ids,
            lambda viewer, row: viewer.user_id == row.user_id,
            info.context.viewer,
            cls.from_row,
        )


@strawberry.type(description="Sessions, a page at a time.")
class SessionConnection(CountedConnection[Session]):
    pass


@strawberry.type(description="Two-factor sign-in as it stands for one user.")
class TwoFactorStatus:
    enabled: bool = strawberry.field(
        description="On: sign-in asks for a code from an authenticator app after the password."
    )
    pending: bool = strawberry.field(
        description="Enrolment started (twoFactorEnroll) but not confirmed with a code yet."
    )
    required: bool = strawberry.field(
        description="A role of this user requires it: until it is on, that role's "
        "permissions are withheld."
    )
    recovery_codes_left: int = strawberry.field(
        description="Unused recovery codes (of ten); make new ones with "
        "twoFactorRecoveryCodesRegenerate when few are left."
    )
    locked: bool = strawberry.field(
        description="Too many wrong codes: no code is accepted for 15 minutes."
    )


@strawberry.type(description="A person with an alumnet account.")
class User(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Full name, as the person wants it shown.")
    email: str = strawberry.field(
        description="Sign-in e-mail address, unique regardless of letter case."
    )
    email_verified: bool = strawberry.field(
        description="Whether the person has confirmed that they receive mail at `email`."
    )
    created_at: datetime = strawberry.field(description="When the account was created (UTC).")
    _status: strawberry.Private[str]
    _last_sign_in_at: strawberry.Private[datetime | None]
    _phone: strawberry.Private[str | None] = None
    _graduation_year: strawberry.Private[int | None] = None

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id,
            name=row.name,
            email=row.email,
            email_verified=row.email_verified_at is not None,
            created_at=row.created_at,
            _status=row.status,
            _last_sign_in_at=row.last_sign_in_at,
            _phone=getattr(row, "phone", None),
            _graduation_year=getattr(row, "graduation_year", None),
        )

    @strawberry.field(description="Their profile in the directory, if they have one.")
    async def profile(
        self, info: Info
    ) -> Annotated[Profile, strawberry.lazy("alumnet.schema.people.types")] | None:
        from alumnet.schema.people.types import Profile

        [found] = await Profile.resolve_nodes(info=info, node_ids=[str(self.id)])
        return found

    @strawberry.field(
        description="The year they graduated or expect to. Null unless you are this user or "
        "manage users."
    )
    def graduation_year(self, info: Info) -> int | None:
        if visibility.may_see_account_details(info.context.viewer, self.id):
            return self._graduation_year
        return None

    @strawberry.field(
        description="Phone number, for outreach calls. Null unless you are this user, "
        "manage users, or do outreach."
    )
    def phone(self, info: Info) -> str | None:
        viewer = info.context.viewer
        if viewer.can(rules.Permission.OUTREACH) or visibility.may_see_account_details(
            viewer, self.id
        ):
            return self._phone
        return None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        # One loader for every user reached in the response (authors, senders, mentors…),
        # so that the visibility checks below run once per request, not once per field.
        loader = batch_loader(info, ("User", "visible"), functools.partial(_visible_users, info))
        rows = await loader.load_many([i for i in ids if i])
        found = {r.id: r for r in rows if r is not None}
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(
        description="Whether the account can sign in. Null unless you are this user or "
        "manage users."
    )
    def status(self, info: Info) -> UserStatus | None:
        if not visibility.may_see_account_details(info.context.viewer, self.id):
            return None
        return UserStatus(self._status)

    @strawberry.field(
        description="When this user last signed in with a password (UTC). Null if never, "
        "or unless you are this user or manage users."
    )
    def last_sign_in_at(self, info: Info) -> datetime | None:
        if not visibility.may_see_account_details(info.context.viewer, self.id):
            return None
        return self._last_sign_in_at

    @strawberry.field(description="The roles given to this user, in alphabetical order.")
    async def roles(self, info: Info) -> list[Role]:
        names = await info.context.loaders.roles_by_user_id.load(self.id)
        return [r for r in (_to_role(n) for n in names) if r is not None]

    @strawberry.field(
        description="Everything this user's roles allow, in alphabetical order; for you, what "
        "you may use now (less a role's permissions withheld until you enrol in two-factor "
        "sign-in, and what your token's scope leaves out)."
    )
    async def permissions(self, info: Info) -> list[Permission]:
        viewer = info.context.viewer
        if viewer.user_id == self.id:
            return [Permission(p.value) for p in sorted(viewer.permissions)]
        names = await info.context.loaders.roles_by_user_id.load(self.id)
        granted = rules.permissions_of(
            frozenset(rules.Role(n) for n in names if n in rules.Role.__members__)
        )
        return [Permission(p.value) for p in sorted(granted)]

    @relay.connection(
        SessionConnection,
        description="Your sessions that still work, newest first: where you are signed "
        "in. Empty for anyone but you.",
        max_results=1000,
    )
    def sessions(self, info: Info) -> Iterable[Session]:
        from alumnet.persistence.loaders.identity import SESSION_COLUMNS
        from alumnet.persistence.models import Session as SessionModel

        mine = info.context.viewer.user_id == self.id
        # Still working: not revoked, and signed in or refreshed within a refresh token's
        # lifetime.
        ttl = info.context.runtime.settings.refresh_token_ttl_seconds
        cutoff = datetime.now(UTC) - timedelta(seconds=ttl)
        query = select(*SESSION_COLUMNS).where(
            SessionModel.revoked_at.is_(None),
            (SessionModel.created_at > cutoff) | (SessionModel.refreshed_at > cutoff),
        )
        if not mine:
            query = query.where(SessionModel.id.is_(None))
        return KeysetQuery(
            query,
            [SortKey(SessionModel.id, descending=True)],
            Session.from_row,
            info.context.reads,
            partition=(SessionModel.user_id, self.id),
            batch_key=("User.sessions", mine),
        )

    @strawberry.field(
        description="Two-factor sign-in for this user: yours, or anyone's for user managers."
    )
    async def two_factor(self, info: Info) -> TwoFactorStatus | None:
        from alumnet.domain.identity import two_factor

        viewer = info.context.viewer
        if viewer.user_id != self.id and not viewer.can(rules.Permission.USERS_MANAGE):
            return None
        loaders, rt = info.context.loaders, info.context.runtime
        found = await loaders.two_factor_by_user_id.load(self.id)
        roles = await loaders.roles_by_user_id.load(self.id)
        enabled = found is not None and found.confirmed_at is not None
        return TwoFactorStatus(
            enabled=enabled,
            pending=found is not None and not enabled,
            required=bool(set(roles) & rt.settings.two_factor_required_roles),
            recovery_codes_left=int(found.codes_left) if found is not None and enabled else 0,
            # Only a user with an authenticator (enrolled or enrolling) can be locked.
            locked=found is not None and await two_factor.locked(rt, self.id),
        )

    @relay.connection(
        Annotated["CustomRoleAssignmentConnection", strawberry.lazy(ROLES)],
        description="The custom roles this user holds and where, oldest first: for "
        "themselves and holders of `users:read` or `roles:assign`. Empty for anyone else.",
        max_results=1000,
    )
    def custom_roles(self, info: Info) -> Iterable[Any]:
        from alumnet.schema.identity.roles import assignments_list

        return assignments_list(info, partition=(CustomRoleAssignmentModel.user_id, self.id))

    @relay.connection(
        PersonalAccessTokenConnection,
        description="This user's personal access tokens, newest first. Empty unless you are "
        "this user or manage users.",
        max_results=1000,
    )
    def personal_access_tokens(self, info: Info) -> Iterable[PersonalAccessToken]:
        query = select(*PAT_COLUMNS)
        visible = visibility.may_see_token(info.context.viewer, self.id)
        if not visible:
            query = query.where(PatModel.id.is_(None))
        return KeysetQuery(
            query,
            [
                SortKey(PatModel.created_at, descending=True),
                SortKey(PatModel.id, descending=True),
            ],
            PersonalAccessToken.from_row,
            info.context.reads,
            partition=(PatModel.user_id, self.id),
            batch_key=("User.personalAccessTokens", visible),
        )

    @strawberry.field(
        description="Their points in a mission (null unless you may see that enrolment)."
    )
    async def points(
        self,
        info: Info,
        mission_id: Annotated[relay.GlobalID, strawberry.argument(description="The mission.")],
    ) -> int | None:
        from alumnet.schema.engagement.types import student_points
        from alumnet.schema.nodes import global_pk

        mission = global_pk(mission_id, "Mission")
        if mission is None:
            return None
        return await student_points(info, self.id, mission)

    @relay.connection(
        Annotated["EnrollmentConnection", strawberry.lazy("alumnet.schema.cohorts.types")],
        description="For a mentor viewing themselves: the enrolments of the students they "
        "mentor, optionally in one mission, by student name unless `orderBy` says otherwise. "
        "Empty for anyone else.",
        max_results=1000,
    )
    def mentees(
        self,
        info: Info,
        mission_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only in this mission.")
        ] = None,
        filter: Annotated[
            Annotated[EnrollmentFilter, strawberry.lazy("alumnet.schema.cohorts.types")] | None,
            strawberry.argument(description="Which enrolments."),
        ] = None,
        order_by: Annotated[
            Annotated[MenteeOrder, strawberry.lazy("alumnet.schema.cohorts.types")] | None,
            strawberry.argument(description="How to sort them (by name unless said otherwise)."),
        ] = None,
    ) -> Iterable[Any]:
        from alumnet.persistence.mentoring import mentors_enrollment
        from alumnet.persistence.models import Enrollment
        from alumnet.schema.cohorts.types import enrollment_query
        from alumnet.schema.nodes import global_pk

        mine = mentors_enrollment(self.id if info.context.viewer.user_id == self.id else -1)
        if mission_id is not None:
            mine = and_(mine, Enrollment.mission_id == (global_pk(mission_id, "Mission") or -1))
        return enrollment_query(
            info,
            where=mine,
            filter=filter,
            order_by=order_by,
            partition=None,
            batch_key=None,
        )

    @relay.connection(
        Annotated["JobPostingConnection", strawberry.lazy(CAREERS)],
        description="For yourself: the job postings you saved, last saved first. Empty for "
        "anyone else.",
        max_results=1000,
    )
    def saved_job_postings(self, info: Info) -> Iterable[Any]:
        from alumnet.schema.careers.queries import saved_postings

        return saved_postings(info, self.id)

    @relay.connection(
        Annotated["JobPostingConnection", strawberry.lazy(CAREERS)],
        description="The job postings this user posted, newest first, in every status: for "
        "themselves and careers moderators. Empty for anyone else.",
        max_results=1000,
    )
    def job_postings(self, info: Info) -> Iterable[Any]:
        from alumnet.schema.careers.queries import own_postings

        return own_postings(info, self.id)

    @relay.connection(
        Annotated["JobApplicationConnection", strawberry.lazy(CAREERS)],
        description="For yourself: your job applications, newest first. Empty for anyone else.",
        max_results=1000,
    )
    def job_applications(self, info: Info) -> Iterable[Any]:
        from alumnet.schema.careers.queries import own_applications

        return own_applications(info, self.id)

    @strawberry.field(description="For yourself: your saved job searches. Empty for anyone else.")
    async def job_posting_searches(
        self, info: Info
    ) -> list[Annotated[JobPostingSearch, strawberry.lazy(CAREERS)]]:
        from alumnet.schema.careers.queries import own_searches

        return await own_searches(info, self.id)  # type: ignore[return-value]

    @strawberry.field(
        description="For yourself: open job postings ranked for you (shared skills, place, "
        "remote work, audience, programme, recency), each with why. Empty for anyone else."
    )
    async def job_recommendations(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="How many (1 to 100).")] = 20,
    ) -> list[Annotated[JobPostingRecommendation, strawberry.lazy(CAREERS)]]:
        from alumnet.schema.careers.queries import recommendations

        return await recommendations(info, self.id, first)  # type: ignore[return-value]

    @strawberry.field(
        description="Their offer to mentor, if they made one and you may see it (yours even "
        "when paused)."
    )
    async def mentor_offer(
        self, info: Info
    ) -> Annotated[MentorOffer, strawberry.lazy(MENTORSHIP)] | None:
        from alumnet.schema.mentorship.queries import own_offer

        return await own_offer(info, self.id)  # type: ignore[return-value]

    @relay.connection(
        Annotated["MentorshipRequestConnection", strawberry.lazy(MENTORSHIP)],
        description="For yourself: your mentorship requests, as mentee (those you made) or "
        "mentor (those made to you), newest first. Empty for anyone else.",
        max_results=1000,
    )
    def mentorship_requests(
        self,
        info: Info,
        side: Annotated[
            Annotated[MentorshipSide, strawberry.lazy(MENTORSHIP_QUERIES)] | None,
            strawberry.argument(description="Which side (as mentee, unless said)."),
        ] = None,
        status: Annotated[
            list[Annotated[MentorshipRequestStatus, strawberry.lazy(MENTORSHIP)]] | None,
            strawberry.argument(description="Only these."),
        ] = None,
    ) -> Iterable[Any]:
        from alumnet.schema.mentorship.queries import own_requests

        return own_requests(info, self.id, side, status)  # type: ignore[arg-type]

    @relay.connection(
        Annotated["MentorshipConnection", strawberry.lazy(MENTORSHIP)],
        description="Their mentorships as mentee or mentor, newest first: for themselves and "
        "holders of `mentorship:manage`. Empty for anyone else.",
        max_results=1000,
    )
    def mentorships(
        self,
        info: Info,
        side: Annotated[
            Annotated[MentorshipSide, strawberry.lazy(MENTORSHIP_QUERIES)] | None,
            strawberry.argument(description="Which side (as mentee, unless said)."),
        ] = None,
        status: Annotated[
            list[Annotated[MentorshipStatus, strawberry.lazy(MENTORSHIP)]] | None,
            strawberry.argument(description="Only these."),
        ] = None,
    ) -> Iterable[Any]:
        from alumnet.schema.mentorship.queries import own_mentorships

        return own_mentorships(info, self.id, side, status)  # type: ignore[arg-type]

    @relay.connection(
        Annotated["EventRegistrationConnection", strawberry.lazy(EVENTS)],
        description="For yourself: your event registrations (cancelled ones too unless "
        "`status` says otherwise), by the event's start: soonest first, or latest first "
        "for past ones (`upcoming: false`). Empty for anyone else.",
        max_results=1000,
    )
    def event_registrations(
        self,
        info: Info,
        status: Annotated[
            list[Annotated[EventRegistrationStatus, strawberry.lazy(EVENTS)]] | None,
            strawberry.argument(description="Only these."),
        ] = None,
        upcoming: Annotated[
            bool | None,
            strawberry.argument(description="True: events not yet ended; false: ended."),
        ] = None,
    ) -> Iterable[Any]:
        from alumnet.schema.events.queries import own_registrations

        return own_registrations(info, self.id, status, upcoming)  # type: ignore[arg-type]

    @strawberry.field(
        description="For yourself: the private link of your calendar feed (iCalendar) of the "
        "events you registered for or run, for Google Calendar, Outlook or Apple Calendar to "
        "subscribe to. Keep it secret; `calendarFeedRotate` replaces it. Null for anyone else."
    )
    async def calendar_feed_url(self, info: Info) -> str | None:
        from alumnet.schema.events.queries import feed_url

        return await feed_url(info, self.id)

    @relay.connection(
        Annotated["EnrollmentConnection", strawberry.lazy("alumnet.schema.cohorts.types")],
        description="For a student viewing themselves: their own enrolments, newest first. "
        "Empty for anyone else.",
        max_results=1000,
    )
    def enrollments(self, info: Info) -> Iterable[Any]:
        from alumnet.persistence.models import Enrollment
        from alumnet.schema.cohorts.types import (
            EnrollmentOrder,
            EnrollmentOrderField,
            enrollment_query,
        )

        owner = self.id if info.context.viewer.user_id == self.id else -1
        return enrollment_query(
            info,
            where=Enrollment.student_id == owner,
            filter=None,
            order_by=EnrollmentOrder(
                field=EnrollmentOrderField.ENROLLED_AT, direction=SortDirection.DESC
            ),
            partition=None,
            batch_key=None,
        )

    @strawberry.field(
        description="For a student viewing themselves: their mentors, one entry per mission "
        "and mentor. Empty for anyone else."
    )
    async def mentors(
        self, info: Info
    ) -> list[Annotated[MentorAssignment, strawberry.lazy("alumnet.schema.cohorts.types")]]:
        from alumnet.persistence.loaders.cohorts import ASSIGNMENT_COLUMNS
        from alumnet.persistence.models import MentorAssignment as AssignmentModel
        from alumnet.schema.cohorts.types import MentorAssignment

        if info.context.viewer.user_id != self.id:
            return []
        query = (
            select(*ASSIGNMENT_COLUMNS)
            .where(AssignmentModel.student_id == self.id)
            .order_by(AssignmentModel.mission_id, AssignmentModel.id)
        )
        async with info.context.reads.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [MentorAssignment.from_row(r) for r in rows]


async def _visible_users(info: Info, ids: list[int]) -> list[Any]:
    """The rows of the users among ``ids`` the viewer may see (None for the others)."""
    viewer = info.context.viewer
    rows = await info.context.loaders.user_by_id.load_many(list(ids))
    found = {r.id: r for r in rows if r is not None}
    hidden = [i for i in found if not visibility.may_see_user(viewer, i)]
    if hidden:
        # Cohorts widen the view: mentors see their mentees, students their mentors,
        # staff who read cohorts the students and mentors in them.
        scope = await info.context.cohort_scope()
        allowed = {i for i in hidden if scope.sees_user(i)}
        if scope.everything:
            allowed |= await cohort_members(info.context.reads, hidden)
        found = {i: r for i, r in found.items() if i not in hidden or i in allowed}

    return [found.get(i) for i in ids]


@strawberry.type(description="Users, a page at a time.")
class UserConnection(CountedConnection[User]):
    pass


@strawberry.type(
    description="One recorded change: who did what to which objects, when and from where."
)
class AuditEvent(relay.Node):
    id: relay.NodeID[int]
    occurred_at: datetime = strawberry.field(description="When it happened (UTC).")
    action: str = strawberry.field(
        description="What happened, as `object.verb`, e.g. `user.create`, `session.revoke`."
    )
    object_type: str | None = strawberry.field(
        description="The GraphQL type of the objects changed, e.g. `User`."
    )
    details: JSON = strawberry.field(
        description="What changed, as a JSON object; never contains secrets."
    )
    ip: str | None = strawberry.field(description="The client's IP address, if known.")
    user_agent: str | None = strawberry.field(description="The client's User-Agent, if known.")
    request_id: str | None = strawberry.field(
        description="The request id (also in the logs and the `X-Request-ID` response header)."
    )
    _actor_id: strawberry.Private[int | None]
    _object_ids: strawberry.Private[list[str]]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id,
            occurred_at=row.occurred_at,
            action=row.action,
            object_type=row.object_type,
            details=cast(JSON, row.details or {}),
            ip=row.ip,
            user_agent=row.user_agent,
            request_id=row.request_id,
            _actor_id=row.actor_id,
            _object_ids=list(row.object_ids or []),
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await load_visible(
            info.context.loaders.audit_event_by_id,
            node_ids,
            lambda viewer, row: viewer.can(rules.Permission.AUDIT_READ),
            info.context.viewer,
            cls.from_row,
        )

    @strawberry.field(description="Global ids of the objects changed (usable with `node`).")
    def object_ids(self) -> list[strawberry.ID]:
        if not self.object_type:
            return [strawberry.ID(i) for i in self._object_ids]
        return [strawberry.ID(str(relay.GlobalID(self.object_type, i))) for i in self._object_ids]

    @strawberry.field(description="Who did it; null for the system or an anonymous caller.")
    async def actor(self, info: Info) -> User | None:
        if self._actor_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self._actor_id)
        return User.from_row(row) if row is not None else None


@strawberry.type(description="Audit events, a page at a time.")
class AuditEventConnection(CountedConnection[AuditEvent]):
    pass
