"""All tables, imported so that ``Base.metadata`` knows every one of them."""

from alumnet.persistence.models.base import Base
from alumnet.persistence.models.cohorts import Batch, Enrollment, MentorAssignment, Mission
from alumnet.persistence.models.identity import (
    AuditEvent,
    OneTimeToken,
    PersonalAccessToken,
    RefreshToken,
    Session,
    User,
    UserRole,
)
from alumnet.persistence.models.ops import Job, OutboundEmail

__all__ = [
    "AuditEvent",
    "Base",
    "Batch",
    "Enrollment",
    "Job",
    "MentorAssignment",
    "Mission",
    "OneTimeToken",
    "OutboundEmail",
    "PersonalAccessToken",
    "RefreshToken",
    "Session",
    "User",
    "UserRole",
]
