"""Roles, permissions and the viewer: every permission check goes through here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from alumnet.domain.errors import NotAuthenticated, PermissionDenied


class Role(StrEnum):
    ADMIN = "ADMIN"
    DEVELOPER = "DEVELOPER"
    MANAGER = "MANAGER"
    SRE = "SRE"
    MENTOR = "MENTOR"
    STUDENT = "STUDENT"
    ALUMNUS = "ALUMNUS"


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


ALL_PERMISSIONS = frozenset(Permission)


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
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: ALL_PERMISSIONS,
    Role.DEVELOPER: frozenset({Permission.JOBS_READ, Permission.TOKENS_CREATE}),
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
        }
    ),
    Role.MENTOR: frozenset({Permission.TOKENS_CREATE, Permission.MENTORSHIP_OFFER}),
    Role.STUDENT: frozenset({Permission.TOKENS_CREATE}),
    Role.ALUMNUS: frozenset(
        {Permission.TOKENS_CREATE, Permission.CAREERS_POST, Permission.MENTORSHIP_OFFER}
    ),
}

SELF_REGISTERABLE_ROLES = frozenset({Role.STUDENT, Role.ALUMNUS})


def permissions_of(roles: frozenset[Role]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


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

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def permissions(self) -> frozenset[Permission]:
        granted = permissions_of(self.roles)
        if self.scope in (TokenScope.READ, TokenScope.WRITE):
            return granted - ADMIN_PERMISSIONS
        return granted

    @property
    def may_write(self) -> bool:
        """Whether this caller may change anything at all (not a read-only token)."""
        return self.scope is not TokenScope.READ

    def can(self, permission: Permission) -> bool:
        return self.is_authenticated and permission in self.permissions

    def require_user(self) -> int:
        if self.user_id is None:
            raise NotAuthenticated
        return self.user_id

    def require(self, permission: Permission) -> int:
        user_id = self.require_user()
        if permission not in self.permissions:
            raise PermissionDenied(permission.value)
        return user_id


ANONYMOUS = Viewer()
