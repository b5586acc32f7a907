"""All tables, imported so that ``Base.metadata`` knows every one of them."""

from alumnet.persistence.models.base import Base
from alumnet.persistence.models.cohorts import Batch, Enrollment, MentorAssignment, Mission
from alumnet.persistence.models.communication import Notice, NoticeAck
from alumnet.persistence.models.engagement import (
    Assignment,
    AttendanceDay,
    EngagementRules,
    Meeting,
    MeetingAttendance,
    PointEntry,
    Submission,
)
from alumnet.persistence.models.identity import (
    AuditEvent,
    OneTimeToken,
    PersonalAccessToken,
    RefreshToken,
    Session,
    User,
    UserRole,
)
from alumnet.persistence.models.integrity import (
    AccessChange,
    Appeal,
    AtRisk,
    CallList,
    CallListEntry,
    CallLog,
    FollowUp,
    IntegrityDecision,
    IntegrityFlag,
    RiskRules,
)
from alumnet.persistence.models.ops import Job, OutboundEmail

__all__ = [
    "AccessChange",
    "Appeal",
    "Assignment",
    "AtRisk",
    "AttendanceDay",
    "AuditEvent",
    "Base",
    "Batch",
    "CallList",
    "CallListEntry",
    "CallLog",
    "EngagementRules",
    "Enrollment",
    "FollowUp",
    "IntegrityDecision",
    "IntegrityFlag",
    "Job",
    "Meeting",
    "MeetingAttendance",
    "MentorAssignment",
    "Mission",
    "Notice",
    "NoticeAck",
    "OneTimeToken",
    "OutboundEmail",
    "PersonalAccessToken",
    "PointEntry",
    "RefreshToken",
    "RiskRules",
    "Session",
    "Submission",
    "User",
    "UserRole",
]
