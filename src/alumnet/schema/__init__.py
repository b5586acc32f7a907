"""The GraphQL layer: one schema assembled from each context's Query/Mutation/Subscription."""

from __future__ import annotations

import copy
from typing import Any, Optional

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.types import ExecutionContext
from strawberry.types.base import StrawberryOptional

from alumnet.config import Settings
from alumnet.observability import current_stats
from alumnet.persistence.db import is_timeout
from alumnet.schema.academics import curriculum as academics_curriculum
from alumnet.schema.academics import feedback as academics_feedback
from alumnet.schema.academics import progress as academics_progress
from alumnet.schema.academics import time as academics_time
from alumnet.schema.academics.curriculum import CurriculumMutation, CurriculumQuery
from alumnet.schema.academics.feedback import StudentFeedbackMutation, StudentFeedbackQuery
from alumnet.schema.academics.progress import TopicProgressMutation, TopicProgressQuery
from alumnet.schema.academics.time import FacultyTimeMutation, FacultyTimeQuery
from alumnet.schema.admissions import inquiries as admissions_inquiries
from alumnet.schema.admissions import reports as admissions_reports
from alumnet.schema.admissions import tasks as admissions_tasks
from alumnet.schema.admissions.inquiries import InquiryMutation, InquiryQuery
from alumnet.schema.admissions.reports import AdmissionsReportQuery
from alumnet.schema.admissions.tasks import InquiryTaskMutation, InquiryTaskQuery
from alumnet.schema.analytics.dashboards import DashboardQuery
from alumnet.schema.analytics.reports import ReportsQuery
from alumnet.schema.analytics.risk import RiskMutation, RiskQuery
from alumnet.schema.analytics.subscriptions import (
    ReportSubscriptionMutation,
    ReportSubscriptionQuery,
)
from alumnet.schema.careers.mutations import CareersMutation
from alumnet.schema.careers.queries import CareersQuery, CareersSubscription
from alumnet.schema.careers.types import (
    Company,
    JobApplication,
    JobPosting,
    JobPostingSearch,
    JobReferral,
)
from alumnet.schema.cohorts.mutations import CohortsMutation
from alumnet.schema.cohorts.queries import CohortsQuery, CohortsSubscription
from alumnet.schema.cohorts.types import Batch, Enrollment, MentorAssignment, Mission
from alumnet.schema.communication.announcements import (
    Announcement,
    AnnouncementMutation,
    AnnouncementQuery,
)
from alumnet.schema.communication.messages import (
    Conversation,
    Message,
    MessageMutation,
    MessageQuery,
    MessageSubscription,
)
from alumnet.schema.communication.notifications import (
    Notification,
    NotificationMutation,
    NotificationQuery,
    NotificationSubscription,
)
from alumnet.schema.communication.tickets import Ticket, TicketMessage, TicketMutation, TicketQuery
from alumnet.schema.communication.types import (
    CommunicationMutation,
    CommunicationQuery,
    CommunicationSubscription,
    Notice,
)
from alumnet.schema.community.moderation import (
    CommunityWarning,
    ContentReport,
    ModerationItem,
    ModerationMutation,
    ModerationQuery,
)
from alumnet.schema.community.pages import Page, PageMutation, PageQuery, PageRevision
from alumnet.schema.community.photos import Photo, PhotoMutation, PhotoQuery
from alumnet.schema.community.posts import (
    Comment,
    Post,
    PostMutation,
    PostQuery,
    PostSubscription,
)
from alumnet.schema.community.references import (
    ReferenceMutation,
    ReferenceQuery,
    ReferenceRequest,
)
from alumnet.schema.community.volunteering import (
    VolunteerEngagement,
    VolunteeringMutation,
    VolunteeringQuery,
)
from alumnet.schema.data.bulk import BulkQueryMutation
from alumnet.schema.data.types import (
    DataMutation,
    DataQuery,
    DataSubscription,
    ExportFile,
    ExportMutation,
    ExportQuery,
    Import,
)
from alumnet.schema.engagement.mutations import EngagementMutation
from alumnet.schema.engagement.types import Assignment as AssignmentNode
from alumnet.schema.engagement.types import (
    AttendanceRecord,
    Certificate,
    EngagementQuery,
    Meeting,
    Resource,
    Submission,
)
from alumnet.schema.errors import TIMEOUT, give_code, should_mask
from alumnet.schema.events.mutations import EventsMutation
from alumnet.schema.events.queries import EventsQuery, EventsSubscription
from alumnet.schema.events.types import Event, EventAttendee, EventFeedback, EventRegistration
from alumnet.schema.extensions import schema_extensions
from alumnet.schema.fastpath import AlumnetExecutionContext
from alumnet.schema.giving.campaigns import (
    Campaign,
    CampaignMutation,
    CampaignQuery,
    CampaignSubscription,
    Fund,
)
from alumnet.schema.giving.donors import Donor, DonorMutation, DonorQuery, GivingLevel
from alumnet.schema.giving.gifts import Gift, GiftMutation, GiftQuery
from alumnet.schema.giving.payments import PaymentIntent, PaymentMutation, PaymentQuery
from alumnet.schema.giving.pledges import (
    Pledge,
    PledgeInstalment,
    PledgeMutation,
    PledgeQuery,
)
from alumnet.schema.giving.receipts import ReceiptMutation, ReceiptQuery
from alumnet.schema.giving.reports import GivingReportMutation, GivingReportQuery
from alumnet.schema.identity.mutations import IdentityMutation
from alumnet.schema.identity.queries import IdentityQuery
from alumnet.schema.identity.roles import (
    CustomRole,
    CustomRoleAssignment,
    RolesMutation,
    RolesQuery,
)
from alumnet.schema.identity.security import SecurityMutation
from alumnet.schema.identity.types import AuditEvent, PersonalAccessToken, Session, User
from alumnet.schema.integrity.mutations import IntegrityMutation
from alumnet.schema.integrity.queries import IntegrityQuery
from alumnet.schema.integrity.types import Appeal, IntegrityDecision, IntegrityFlag
from alumnet.schema.mentorship.mutations import MentorshipMutation
from alumnet.schema.mentorship.queries import MentorshipQuery, MentorshipSubscription
from alumnet.schema.mentorship.types import (
    MentorOffer,
    Mentorship,
    MentorshipGoal,
    MentorshipRequest,
    MentorshipSession,
)
from alumnet.schema.nodes import global_id
from alumnet.schema.ops import webhooks as ops_webhooks
from alumnet.schema.ops.queries import OpsQuery, OpsSubscription
from alumnet.schema.ops.types import Job
from alumnet.schema.ops.webhooks import WebhookMutation, WebhookQuery
from alumnet.schema.outreach.types import CallList, FollowUp, OutreachQuery
from alumnet.schema.people.mutations import PeopleMutation
from alumnet.schema.people.types import (
    Degree,
    DuplicateCandidate,
    PeopleQuery,
    PersonalExport,
    Profile,
    Programme,
)


@strawberry.type(
    description="Everything you can read. Start with `viewer`; fetch any object by its global "
    "id with `node` or `nodes`."
)
class Query(
    IdentityQuery,
    RolesQuery,
    CohortsQuery,
    EngagementQuery,
    OpsQuery,
    OutreachQuery,
    IntegrityQuery,
    CommunicationQuery,
    AnnouncementQuery,
    MessageQuery,
    TicketQuery,
    NotificationQuery,
    PeopleQuery,
    DataQuery,
    ExportQuery,
    CareersQuery,
    EventsQuery,
    MentorshipQuery,
    DashboardQuery,
    ReportsQuery,
    RiskQuery,
    ReportSubscriptionQuery,
    PostQuery,
    ModerationQuery,
    PhotoQuery,
    ReferenceQuery,
    VolunteeringQuery,
    PageQuery,
    CampaignQuery,
    GiftQuery,
    PaymentQuery,
    PledgeQuery,
    ReceiptQuery,
    DonorQuery,
    GivingReportQuery,
    CurriculumQuery,
    TopicProgressQuery,
    FacultyTimeQuery,
    StudentFeedbackQuery,
    InquiryQuery,
    InquiryTaskQuery,
    AdmissionsReportQuery,
    WebhookQuery,
):
    node: relay.Node | None = relay.node(
        description="The object with this global id, or null if it does not exist or you may "
        "not see it (the two are indistinguishable)."
    )
    nodes: list[relay.Node | None] = relay.node(
        description="The objects with these global ids, in the same order; null for each one "
        "that does not exist or that you may not see."
    )


def _nullable_roots(query: type) -> type:
    """Every root field of Query is nullable, whatever its resolver says it returns: a field
    the viewer may not use (or that fails) answers null with its error, and the rest of the
    answer stands (a mentor asking for `users` and `viewer` at once still gets `viewer`).
    GraphQL nulls the nearest nullable parent of a failed non-null field, which for a root
    field is the whole of `data`."""
    for field in query.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        # `nodes` keeps its list (Strawberry's relay builds its `ids` argument from it).
        if field.name != "nodes" and not isinstance(field.type, StrawberryOptional):
            field.type = Optional[field.type]  # noqa: UP045 (a runtime type, not a hint)
    return query


_nullable_roots(Query)


@strawberry.type(
    description="Everything that changes data. Each mutation takes one `input` and returns a "
    "payload with `userErrors`; a mutation is one transaction."
)
class Mutation(
    IdentityMutation,
    SecurityMutation,
    RolesMutation,
    CohortsMutation,
    EngagementMutation,
    IntegrityMutation,
    CommunicationMutation,
    AnnouncementMutation,
    MessageMutation,
    TicketMutation,
    NotificationMutation,
    PeopleMutation,
    DataMutation,
    ExportMutation,
    BulkQueryMutation,
    CareersMutation,
    EventsMutation,
    MentorshipMutation,
    RiskMutation,
    ReportSubscriptionMutation,
    PostMutation,
    ModerationMutation,
    PhotoMutation,
    ReferenceMutation,
    VolunteeringMutation,
    PageMutation,
    CampaignMutation,
    GiftMutation,
    PaymentMutation,
    PledgeMutation,
    ReceiptMutation,
    DonorMutation,
    GivingReportMutation,
    CurriculumMutation,
    TopicProgressMutation,
    FacultyTimeMutation,
    StudentFeedbackMutation,
    InquiryMutation,
    InquiryTaskMutation,
    WebhookMutation,
):
    pass


@strawberry.type(
    description="Live updates over WebSocket (graphql-transport-ws); authenticate in the "
    '`connection_init` payload with {"Authorization": "Bearer …"}.'
)
class Subscription(
    CohortsSubscription,
    OpsSubscription,
    CommunicationSubscription,
    MessageSubscription,
    NotificationSubscription,
    DataSubscription,
    CareersSubscription,
    EventsSubscription,
    MentorshipSubscription,
    PostSubscription,
    CampaignSubscription,
):
    pass


NODE_TYPES = [
    User,
    PersonalAccessToken,
    Session,
    CustomRole,
    CustomRoleAssignment,
    AuditEvent,
    Job,
    Batch,
    Mission,
    Enrollment,
    MentorAssignment,
    AttendanceRecord,
    Meeting,
    AssignmentNode,
    Submission,
    Resource,
    Certificate,
    IntegrityFlag,
    IntegrityDecision,
    Appeal,
    CallList,
    FollowUp,
    Notice,
    Announcement,
    Conversation,
    Message,
    Ticket,
    TicketMessage,
    Notification,
    Programme,
    Degree,
    Profile,
    DuplicateCandidate,
    PersonalExport,
    Import,
    ExportFile,
    Company,
    JobPosting,
    JobApplication,
    JobReferral,
    JobPostingSearch,
    Event,
    EventRegistration,
    EventAttendee,
    EventFeedback,
    MentorOffer,
    MentorshipRequest,
    Mentorship,
    MentorshipSession,
    MentorshipGoal,
    Post,
    Comment,
    Page,
    PageRevision,
    ReferenceRequest,
    Photo,
    VolunteerEngagement,
    ContentReport,
    ModerationItem,
    CommunityWarning,
    Pledge,
    PledgeInstalment,
    Fund,
    Campaign,
    PaymentIntent,
    Gift,
    Donor,
    GivingLevel,
    *academics_curriculum.TYPES,
    *academics_progress.TYPES,
    *academics_time.TYPES,
    *academics_feedback.TYPES,
    *admissions_inquiries.TYPES,
    *admissions_tasks.TYPES,
    *admissions_reports.TYPES,
    *ops_webhooks.TYPES,
]


class AlumnetSchema(strawberry.Schema):
    """The schema, logging only the errors that are bugs."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # A deliberate public error (not signed in, not allowed, bad input, busy) or a
        # malformed request is the client's answer, not the operator's problem: logging
        # each with a traceback buried the real ones.
        stats = current_stats.get()
        # A statement cancelled past its timeout answers TIMEOUT (extensions.BusyDatabase):
        # counted on the request's log line, not logged as a bug.
        timeouts = [e for e in errors if e.original_error and is_timeout(e.original_error)]
        if timeouts and stats is not None:
            stats.error_codes.append(TIMEOUT)
        errors = [e for e in errors if e not in timeouts]
        for error in errors:
            if not should_mask(error):
                give_code(error)
                if stats is not None and len(stats.error_codes) < 20:
                    stats.error_codes.append(str((error.extensions or {}).get("code")))
        super().process_errors([e for e in errors if should_mask(e)], execution_context)


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema for these settings; built once per process (field extensions such as
    ``relay.node`` apply themselves to the shared type definitions, so they must not be
    applied twice)."""
    key = (
        settings.env,
        settings.debug,
        settings.max_query_depth,
        settings.max_aliases,
        settings.max_tokens,
        settings.max_query_cost,
        settings.metrics_operations,
        settings.persisted_only,
    )
    if key not in _schemas:
        if _schemas:
            # Same types, other extensions: reuse the converted schema with new settings.
            first = next(iter(_schemas.values()))
            _schemas[key] = _with_extensions(first, settings)
        else:
            _schemas[key] = _fast_node_ids(
                AlumnetSchema(
                    query=Query,
                    mutation=Mutation,
                    subscription=Subscription,
                    types=NODE_TYPES,
                    extensions=schema_extensions(settings),
                    execution_context_class=AlumnetExecutionContext,
                )
            )
    return _schemas[key]


_schemas: dict[tuple[object, ...], strawberry.Schema] = {}


def _fast_node_ids(schema: strawberry.Schema) -> strawberry.Schema:
    """Resolve every node's `id` straight from its primary key.

    Strawberry's relay `id` resolver builds a full Info object per call; a roster of 1,000
    enrolments asks for some 3,500 ids, and that resolver was a third of the response time.
    Every alumnet node keeps its primary key in `id`, so the global id is a pure function of
    the type name and that attribute. Field-level extensions and permissions do not apply to
    `id` in alumnet, so nothing is bypassed.
    """
    for node_type in NODE_TYPES:
        name = node_type.__strawberry_definition__.name  # type: ignore[attr-defined]
        graphql_type = schema._schema.type_map[name]
        field = graphql_type.fields["id"]  # type: ignore[attr-defined]

        def resolve(root: Any, info: Any, _name: str = name) -> str:
            return global_id(_name, root.id)

        field.resolve = resolve
    return schema


def _with_extensions(schema: strawberry.Schema, settings: Settings) -> strawberry.Schema:
    clone = copy.copy(schema)
    clone.extensions = tuple(schema_extensions(settings))
    return clone
