"""Roles, permissions and the viewer: every permission check goes through here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from alumnet.domain.errors import NotAuthenticated, PermissionDenied


class Role(StrEnum):
    ADMIN = "ADMIN"
    DEVELOPER = "DEVELOPER"
    MANAGER = "MANAGER"
    SRE = "SRE"
    MENTOR = "MENTOR"
    STUDENT = "STUDENT"
    ALUMNUS = "ALUMNUS"
    ADVANCEMENT = "ADVANCEMENT"
    FACULTY = "FACULTY"
    ADMISSIONS = "ADMISSIONS"


class Permission(StrEnum):
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    ROLES_ASSIGN = "roles:assign"
    AUDIT_READ = "audit:read"
    JOBS_READ = "jobs:read"
    TOKENS_CREATE = "tokens:create"
    COHORTS_READ = "cohorts:read"
    COHORTS_MANAGE = "cohorts:manage"
    ENROLLMENTS_MANAGE = "enrollments:manage"
    MENTORS_ASSIGN = "mentors:assign"
    # Record and correct attendance, meetings, assignments and submissions of any student.
    ENGAGEMENT_MANAGE = "engagement:manage"
    # Raise integrity flags on any student (mentors may flag their own mentees).
    INTEGRITY_FLAG = "integrity:flag"
    # Decide warnings, bans and delistings, and review appeals.
    INTEGRITY_DECIDE = "integrity:decide"
    # At-risk lists, call lists, call logs and follow-ups of the whole programme.
    OUTREACH = "outreach"
    # Post notices to any batch or mission (mentors post to the missions they mentor in).
    NOTICES_POST = "notices:post"
    # Post institution-wide announcements, or announcements to roles, batches or years.
    ANNOUNCEMENTS_POST = "announcements:post"
    # Read, answer and close students' tickets to the SRE team; ticket SLA figures.
    TICKETS = "tickets:handle"
    # Import spreadsheets (people, enrolments, mentor assignments) and roll imports back.
    DATA_IMPORT = "data:import"
    # Export rosters, attendance, points and directory results as files.
    DATA_EXPORT = "data:export"
    # Run a GraphQL query in the background over every page of a connection.
    DATA_BULK = "data:bulk"
    # Post jobs and internships on the careers board (alumni and staff).
    CAREERS_POST = "careers:post"
    # Approve, reject and take down job postings, handle their reports, trust posters, and
    # see every posting's applicants and the careers figures.
    CAREERS_MODERATE = "careers:moderate"
    # Create events and run one's own (chapter leads get it person by person instead).
    EVENTS_HOST = "events:host"
    # Run every event, register people, trust chapter leads, and read the events' reports.
    EVENTS_MANAGE = "events:manage"
    # Offer to mentor students and younger alumni one to one.
    MENTORSHIP_OFFER = "mentorship:offer"
    # Tune the mentor matching's weights and read the mentorship figures.
    MENTORSHIP_MANAGE = "mentorship:manage"
    # Read the programme's reports and figures: attendance, submissions, mentors, notices,
    # engagement (within the batches or missions one's reach covers), and subscribe to them.
    ANALYTICS_READ = "analytics:read"
    # Community: work the moderation queue (hide, restore, warn), delete anyone's posts and
    # comments.
    COMMUNITY_MODERATE = "community:moderate"
    # Edit the public pages (about, contacts, quick links, feature cards) and revert them.
    PAGES_EDIT = "pages:edit"
    # Record alumni's volunteering, confirm or decline what they offer, and read the
    # volunteer-hours reports.
    VOLUNTEERING_MANAGE = "volunteering:manage"
    # Giving: campaigns and funds, record, confirm and refund gifts, pledges, receipts, giving
    # levels, donors' names on anonymous gifts, and the giving reports (top donors among them).
    GIVING = "giving"
    # Academics, as a teacher: record topic progress and assessment marks of the students of
    # the missions one's subjects are offered to, log one's own time, and read the feedback
    # one receives.
    ACADEMICS_TEACH = "academics:teach"
    # Academics, as its manager: curricula (subjects, topics, offerings), everyone's progress,
    # time and targets, and every feedback with its summaries.
    ACADEMICS_MANAGE = "academics:manage"
    # Admissions: inquiries, the counselling pipeline, follow-up tasks, converting an
    # inquiry into a student, and the conversion figures.
    ADMISSIONS = "admissions"
    # In production, introspect the schema and get "Did you mean …?" in errors (GraphiQL).
    SCHEMA_INTROSPECT = "schema:introspect"
    # Register outgoing webhook endpoints, rotate their secrets, read and redeliver their
    # deliveries (admins only).
    WEBHOOKS_MANAGE = "webhooks:manage"


ALL_PERMISSIONS = frozenset(Permission)
_BY_VALUE = {p.value: p for p in Permission}


def permission_named(value: str) -> Permission | None:
    """The permission a stored value ("cohorts:read") names, if any."""
    return _BY_VALUE.get(value)


def permissions_from(values: Iterable[str] | None) -> frozenset[Permission]:
    """The permissions stored values name (a custom role's); unknown values are ignored."""
    return frozenset(p for v in values or () if (p := _BY_VALUE.get(v)) is not None)


class TokenScope(StrEnum):
    """How much of its owner's power a personal access token carries."""

    READ = "read"  # queries and subscriptions only
    WRITE = "write"  # mutations too, but none of ADMIN_PERMISSIONS
    ADMIN = "admin"  # everything its owner may do


# What only an ADMIN-scoped token (or a signed-in person) may use: managing people, roles
# and tokens, and reading or moving data in bulk.
ADMIN_PERMISSIONS = frozenset(
    {
        Permission.USERS_MANAGE,
        Permission.ROLES_ASSIGN,
        Permission.AUDIT_READ,
        Permission.TOKENS_CREATE,
        Permission.DATA_IMPORT,
        Permission.DATA_BULK,
        Permission.WEBHOOKS_MANAGE,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: ALL_PERMISSIONS,
    Role.DEVELOPER: frozenset(
        {Permission.JOBS_READ, Permission.TOKENS_CREATE, Permission.SCHEMA_INTROSPECT}
    ),
    Role.MANAGER: frozenset(
        {
            Permission.USERS_READ,
            Permission.TOKENS_CREATE,
            Permission.COHORTS_READ,
            Permission.COHORTS_MANAGE,
            Permission.ENROLLMENTS_MANAGE,
            Permission.MENTORS_ASSIGN,
            Permission.ENGAGEMENT_MANAGE,
            Permission.INTEGRITY_FLAG,
            Permission.INTEGRITY_DECIDE,
            Permission.OUTREACH,
            Permission.NOTICES_POST,
            Permission.ANNOUNCEMENTS_POST,
            Permission.TICKETS,
            Permission.DATA_EXPORT,
            Permission.CAREERS_POST,
            Permission.CAREERS_MODERATE,
            Permission.EVENTS_HOST,
            Permission.EVENTS_MANAGE,
            Permission.MENTORSHIP_OFFER,
            Permission.MENTORSHIP_MANAGE,
            Permission.ANALYTICS_READ,
            Permission.COMMUNITY_MODERATE,
            Permission.PAGES_EDIT,
            Permission.VOLUNTEERING_MANAGE,
            Permission.ACADEMICS_MANAGE,
            Permission.ACADEMICS_TEACH,
            Permission.ADMISSIONS,
        }
    ),
    Role.SRE: frozenset(
        {
            Permission.TOKENS_CREATE,
            Permission.COHORTS_READ,
            Permission.ENROLLMENTS_MANAGE,
            Permission.MENTORS_ASSIGN,
            Permission.ENGAGEMENT_MANAGE,
            Permission.INTEGRITY_FLAG,
            Permission.OUTREACH,
            Permission.NOTICES_POST,
            Permission.TICKETS,
            Permission.CAREERS_POST,
            Permission.EVENTS_HOST,
            Permission.MENTORSHIP_OFFER,
            Permission.ANALYTICS_READ,
            Permission.COMMUNITY_MODERATE,
        }
    ),
    Role.MENTOR: frozenset({Permission.TOKENS_CREATE, Permission.MENTORSHIP_OFFER}),
    Role.STUDENT: frozenset({Permission.TOKENS_CREATE}),
    Role.ALUMNUS: frozenset(
        {Permission.TOKENS_CREATE, Permission.CAREERS_POST, Permission.MENTORSHIP_OFFER}
    ),
    # The advancement (development) office: fundraising, and the people it raises from.
    Role.ADVANCEMENT: frozenset(
        {
            Permission.TOKENS_CREATE,
            Permission.USERS_READ,
            Permission.DATA_EXPORT,
            Permission.GIVING,
        }
    ),
    # Teachers: the students of the missions their subjects are offered to, and their time.
    Role.FACULTY: frozenset(
        {Permission.TOKENS_CREATE, Permission.COHORTS_READ, Permission.ACADEMICS_TEACH}
    ),
    # The admissions office (counsellors): prospective students, from inquiry to enrolment.
    Role.ADMISSIONS: frozenset(
        {Permission.TOKENS_CREATE, Permission.ADMISSIONS, Permission.DATA_EXPORT}
    ),
}

SELF_REGISTERABLE_ROLES = frozenset({Role.STUDENT, Role.ALUMNUS})


def permissions_of(roles: frozenset[Role]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


# What a custom role may grant within one batch or mission, because every check of it
# on an object knows the object's batch and mission. Anything else is granted everywhere
# or not at all.
SCOPABLE_PERMISSIONS = frozenset(
    {
        Permission.COHORTS_READ,
        Permission.COHORTS_MANAGE,
        Permission.ENROLLMENTS_MANAGE,
        Permission.MENTORS_ASSIGN,
        Permission.ENGAGEMENT_MANAGE,
        Permission.INTEGRITY_FLAG,
        Permission.INTEGRITY_DECIDE,
        Permission.OUTREACH,
        Permission.NOTICES_POST,
        Permission.ANALYTICS_READ,
    }
)


@dataclass(frozen=True)
class Reach:
    """Where an object sits: its batch, and its mission when it belongs to one (a mission
    is within its batch, so a grant for the batch covers it)."""

    batch_id: int | None = None
    mission_id: int | None = None


@dataclass(frozen=True)
class Grant:
    """A custom role as one user holds it: everywhere, or within one batch or mission."""

    assignment_id: int
    role_id: int
    role_name: str
    permissions: frozenset[Permission]
    batch_id: int | None = None
    mission_id: int | None = None

    @property
    def everywhere(self) -> bool:
        return self.batch_id is None and self.mission_id is None

    def covers(self, reach: Reach) -> bool:
        if self.batch_id is not None:
            return reach.batch_id == self.batch_id
        if self.mission_id is not None:
            return reach.mission_id == self.mission_id
        return True


@dataclass(frozen=True)
class Viewer:
    """Who is asking. ``user_id`` is None for an anonymous caller."""

    user_id: int | None = None
    email: str | None = None
    name: str | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)
    email_verified: bool = False
    session_id: int | None = None
    token_id: int | None = None
    via: str | None = None
    # A personal access token's scope (None: a signed-in session, or a trusted caller).
    scope: TokenScope | None = None
    # Custom roles held (identity/roles.py): those held everywhere join ``permissions``;
    # those held within a batch or mission answer only ``can(p, within=...)``.
    grants: tuple[Grant, ...] = ()
    # Roles that require two-factor sign-in, held but not usable (left out of ``roles``)
    # until the user has enrolled and signs in with the second factor (two_factor.py).
    withheld: frozenset[Role] = field(default_factory=frozenset)
    # This credential passed the second factor (a session signed in with a code, or a
    # token made by one); the personal access tokens it makes carry the same.
    second_factor: bool = False

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    def _token_allows(self, permission: Permission) -> bool:
        """A READ or WRITE token carries none of the administrative permissions."""
        limited = self.scope in (TokenScope.READ, TokenScope.WRITE)
        return not (limited and permission in ADMIN_PERMISSIONS)

    @cached_property
    def permissions(self) -> frozenset[Permission]:
        """What this viewer may do everywhere (worked out once: every check asks)."""
        granted = permissions_of(self.roles)
        for grant in self.grants:
            if grant.everywhere:
                granted |= grant.permissions
        return frozenset(p for p in granted if self._token_allows(p))

    @property
    def may_write(self) -> bool:
        """Whether this caller may change anything at all (not a read-only token)."""
        return self.scope is not TokenScope.READ

    def can(self, permission: Permission, within: Reach | None = None) -> bool:
        """Whether this viewer holds ``permission`` everywhere or, given ``within``, for
        an object that sits there."""
        if not self.is_authenticated:
            return False
        if permission in self.permissions:
            return True
        if within is None or not self._token_allows(permission):
            return False
        return any(
            permission in g.permissions and g.covers(within)
            for g in self.grants
            if not g.everywhere
        )

    def holds_somewhere(self, permission: Permission) -> bool:
        """Whether this viewer holds ``permission`` everywhere or within some batch or
        mission (lists then show what ``scoped_batches``/``scoped_missions`` allow)."""
        return self.can(permission) or bool(
            self.is_authenticated
            and self._token_allows(permission)
            and any(permission in g.permissions for g in self.grants)
        )

    def scoped_batches(self, permission: Permission) -> frozenset[int]:
        """The batches this viewer holds ``permission`` within (besides everywhere)."""
        if not self._token_allows(permission):
            return frozenset()
        return frozenset(
            g.batch_id
            for g in self.grants
            if g.batch_id is not None and permission in g.permissions
        )

    def scoped_missions(self, permission: Permission) -> frozenset[int]:
        """The missions this viewer holds ``permission`` within (besides their batches)."""
        if not self._token_allows(permission):
            return frozenset()
        return frozenset(
            g.mission_id
            for g in self.grants
            if g.mission_id is not None and permission in g.permissions
        )

    def require_user(self) -> int:
        if self.user_id is None:
            raise NotAuthenticated
        return self.user_id

    def require(self, permission: Permission, within: Reach | None = None) -> int:
        user_id = self.require_user()
        if not self.can(permission, within):
            raise PermissionDenied(permission.value)
        return user_id

    def require_somewhere(self, permission: Permission) -> int:
        """The first gate of a check on one object: the viewer holds ``permission``
        everywhere or somewhere (``require(p, within=...)`` follows, once the object's
        reach is known)."""
        user_id = self.require_user()
        if not self.holds_somewhere(permission):
            raise PermissionDenied(permission.value)
        return user_id


ANONYMOUS = Viewer()
