"""Query cost: an estimate of how many objects an operation may touch, bounded per request.

Every field costs 1, and every list multiplies the cost of what is under it by how long
it can be: a connection by its page size (`first` or `last`, 50 by default); `nodes` by
the number of ids it is given (at most 100); a list with a `first` argument by that
argument (or its default), within the list's own maximum; any other list by the fixed
maximum it can reach (``LIST_CAPS``; a test keeps every list field of the schema in it).
The cost is computed right after validation (it depends on variables, so it is not cached
with it) and reported in `extensions.cost`; an operation over the maximum is refused
before it runs, with a message saying by how much. It is then taken from the viewer's
query budget (domain/identity/budgets.py), whose state after it is reported in
`extensions.cost.throttleStatus`; over budget, the operation is refused THROTTLED.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    get_named_type,
    get_nullable_type,
    is_list_type,
    value_from_ast_untyped,
)
from starlette.responses import Response
from strawberry.extensions import SchemaExtension

from alumnet.domain.identity import budgets
from alumnet.domain.identity.permissions import ANONYMOUS
from alumnet.schema.errors import THROTTLED

DEFAULT_PAGE = 50
MAX_PAGE = 1000
# `nodes(ids:)` fetches at most this many objects per call.
NODES_MAX_IDS = 100

# How long each plain (non-connection) list can be, by "Type.field". With a `first`
# argument, the list is as long as that argument (or its default) and at most this; with
# none, it counts as this long. Where the code sets a bound (a LIMIT, a rule of the
# domain), that bound; where it sets none, the largest an institution realistically has
# (the mentors of a mission, a student's mentors).
LIST_CAPS: dict[str, int] = {
    "MentorOffer.availability": 21,
    "Mentorship.goals": 100,
    "WebhookDelivery.attemptLog": 20,  # the newest 20 attempts (nine at most by itself)
    "ModerationItem.reasons": 4,  # one per report reason
    "Mentorship.viewerFeedback": 201,  # each session's, and the end's
    "Query.mentorSuggestions": 50,
    "Event.questions": 10,
    "Event.organisers": 20,
    "Event.speakers": 20,
    "EventRegistration.answers": 10,  # one per question
    "EventReport.byGraduationYear": 302,  # the years 1900 to 2200, and unknown
    "EventReport.byBatch": 200,  # the 200 first by name
    "EventPayload.events": 52,  # a series' occurrences
    "Query.eventsReport": 5,  # one per kind
    "VolunteeringReport.rows": 302,  # graduation years 1900 to 2200, and unknown
    "User.jobPostingSearches": 20,  # saved searches: 20 a person
    "User.jobRecommendations": 100,
    "Company.alumni": 100,
    "JobPosting.funnel": 8,  # one step per application status
    "JobPosting.reports": 100,  # the newest 100
    "JobApplication.history": 100,  # the first 100 moves
    "Post.images": 4,  # at most four a post (domain/community/posts.py)
    "Gift.refunds": 100,  # schema/giving/gifts.py REFUNDS_MAX
    "Topic.prerequisites": 50,  # domain/academics/curriculum.py PREREQUISITES_MAX
    "Topic.requiredBy": 200,  # schema/academics/curriculum.py REQUIRED_BY_MAX
    "Subject.programmes": 100,  # the programmes a subject is part of, realistically
    "ProgrammeSubjectsPayload.subjects": 200,  # curriculum.PROGRAMME_SUBJECTS_MAX
    # Giving: a currency list holds the few currencies an institution takes (at most 20);
    # a donor's years, at most the years since 1900 in those currencies, realistically 500.
    "DonorSummary.lifetime": 20,
    "DonorSummary.years": 500,
    "DonorLastGiving.total": 20,
    "Query.givingLevels": 100,  # domain/giving/levels.py LEVELS_MAX
    "Query.topDonors": 100,  # domain/giving/reports.py TOP_MAX
    "GivingTotals.rows": 1000,  # by MONTH at most 120; campaigns and funds
    "GivingParticipation.rows": 200,  # graduation years on record
    "AssessmentMarksPayload.marks": 500,  # one per entry (assessments.ENTRIES_MAX)
    "TopicProgressRecordPayload.progress": 500,  # one per entry (progress.ENTRIES_MAX)
    "Query.myAcademicProgress": 200,  # a student's subjects (progress.SUBJECTS_MAX)
    "Query.topicProgress": 1000,  # a subject's topics (progress.TOPICS_MAX)
    "YearlyReceipt.totals": 200,  # one per currency given in
    # Admissions (domain/admissions/reports.py): 5 pipeline stages, 4 on the way, ROWS_MAX.
    "AdmissionsFunnel.stages": 5,
    "AdmissionsConversion.rows": 1000,
    "Query.admissionsStageTimes": 4,
    "Inquiry.stageChanges": 100,  # schema/admissions/inquiries.py STAGE_CHANGES_MAX
    "LeadScore.reasons": 4,  # one per kind of rule: source, programme, engagement, recency
    "Campaign.funds": 20,  # domain/giving/campaigns.py FUNDS_MAX
    "CampaignProgress.byFund": 20,  # its funds
    "Query.facultyWorkload": 1000,  # domain/academics/time.py WORKLOAD_MAX
    "FacultyUtilisation.weeks": 52,  # time.WEEKS_MAX
    "JobPostingFacets.kinds": 4,
    "JobPostingFacets.remote": 3,
    "JobPostingFacets.countries": 30,
    "JobPostingFacets.audiences": 3,
    "JobPostingFacets.companies": 30,
    "JobPostingFacets.skills": 30,
    "CareersFigures.openJobPostings": 12,  # 3 audiences by 4 kinds
    "CareersFigures.funnel": 8,
    "CareersFigures.topHiringCompanies": 10,
    "Batch.attendanceByDay": 400,  # days: a range is shorter than 400 days
    "Mission.attendanceByDay": 400,
    "Batch.attendanceByWeek": 58,
    "Mission.attendanceByWeek": 58,
    "CallList.entries": 500,  # a call list holds 1 to 500 students
    "EnrollmentRisk.factors": 3,  # early_warning.TOP_FACTORS
    "RiskModel.features": 8,  # one per feature of early_warning.FEATURES
    "RiskModelQuality.calibration": 10,  # tenths of probability
    "DirectoryFacets.graduationYears": 30,
    "DirectoryFacets.countries": 30,
    "DirectoryFacets.skills": 30,
    "DuplicateCandidate.people": 2,
    "Photo.variants": 3,  # photos.SIZES
    "Enrollment.mentors": 10,  # one or two, as a rule
    "Enrollment.submissions": 200,  # one per assignment of the mission
    "Enrollment.integrityFlags": 20,
    "Enrollment.decisions": 20,
    "Enrollment.accessHistory": 20,
    "ImportRowResult.problems": 20,
    "Mission.mentors": 100,  # 30 students a mentor
    "Mission.atRisk": 1000,
    "Mission.assignments": 200,
    "Mission.resources": 500,  # resources.PER_MISSION_MAX
    "Mission.leaderboard": 1000,
    "NotificationPreferencesPayload.preferences": 20,  # one per notification kind
    "Query.notificationPreferences": 20,
    "OutreachDashboard.atRiskByMission": 500,
    "OutreachDashboard.outcomeMix": 10,
    # The role dashboards (domain/analytics/dashboards.py: LIST_MAX 200 for lists cut by
    # `first`, MISSIONS_MAX 100, GROUPS_MAX 100, POINTS_MAX 100 days or weeks).
    "AdminDashboard.usersByRole": 10,
    "AdminDashboard.usersByStatus": 10,
    "AdminDashboard.activityByDay": 100,
    "AdminDashboard.activityByWeek": 100,
    "DashboardFailedJobs.byName": 100,
    "DashboardFailedJobs.recent": 200,
    "DashboardImports.byStatus": 10,
    "DashboardImports.recent": 200,
    "DashboardStorage.byKind": 8,
    "ManagerDashboard.missions": 100,
    "ManagerDashboard.batches": 100,
    "ManagerDashboard.attendanceTrend": 100,
    "ManagerDashboard.atRiskByMission": 100,
    "ManagerDashboard.acknowledgementByMission": 100,
    "ManagerDashboard.mentorLoad": 100,
    "DashboardMission.attendanceTrend": 100,
    "MentorDashboard.mentees": 200,
    "MentorDashboard.missions": 100,
    "MentorDashboard.missingWork": 200,
    "MentorDashboard.unansweredTickets": 200,
    "SreDashboard.atRisk": 200,
    "SreDashboard.atRiskByMission": 100,
    "DashboardCalls.byOutcome": 10,
    "DashboardCalls.byDay": 100,
    "DashboardFollowUps.yours": 200,
    "DashboardTicketSla.openByAge": 4,
    "StudentDashboard.missions": 100,
    "StudentDashboard.dueWork": 200,
    "DashboardEvents.upcoming": 200,
    "DashboardJobs.postings": 10,
    "DashboardJobs.applicationsReceived": 10,
    "DashboardJobs.applications": 10,
    # Reports (schema/analytics/reports.py): rows cut by `first`, 263 weeks in five years,
    # MISSIONS_MAX 500, ANOMALIES_MAX 100, 61 months of joining.
    "AttendanceReport.weeks": 263,
    "AttendanceReport.rows": 1000,
    "AttendanceReport.anomalies": 100,
    "AttendanceReport.missions": 500,
    "AttendanceReport.missionAverages": 500,
    "SubmissionsReport.rows": 1000,
    "SubmissionsReport.missions": 500,
    "SubmissionsReport.missionAverages": 500,
    "MentorsReport.rows": 1000,
    "NoticesReport.rows": 1000,
    "NoticesReport.missions": 500,
    "NoticesReport.missionAverages": 500,
    "EngagementReport.series": 263,
    "EngagementReport.retention": 61,
    "AlumniReport.figures": 100,
    "Profile.socialLinks": 10,  # as many as profileUpdate takes
    "Profile.workHistory": 50,
    "Profile.skills": 50,
    "Profile.achievements": 50,
    "Profile.degrees": 10,
    "Profile.volunteering": 20,  # PROFILE_HISTORY (schema/community/volunteering.py)
    "ProfileViews.viewers": 100,
    "Query.programmes": 1000,
    "Query.feedbackSummary": 500,  # domain/academics/feedback.py SUMMARY_MAX
    "Query.feedbackSentimentTrend": 263,  # weeks in five years (RANGE_MAX_DAYS)
    "Query.personalDataExports": 20,
    "Query.importTemplates": 4,  # one per kind of import
    "ImportTemplate.fields": 20,
    "SubmissionBulkRecordPayload.lines": 5000,
    "Submission.history": 50,  # each revision of one piece of work
    "Submission.rubricScores": 20,  # one per criterion of the rubric
    "SubmissionVersion.rubricScores": 20,
    "Assignment.rubric": 20,
    "Mission.workByStudent": 1000,
    "Mission.gradingBacklog": 100,  # the mission's mentors
    "User.mentors": 50,
    "Page.sections": 50,  # domain/community/pages.py: SECTIONS_MAX
    "PageRevision.sections": 50,
    "PageDiff.sections": 100,  # those of both revisions
    # userErrors: one per problem found; most mutations find a few at most.
    "EnrollmentBulkCreatePayload.userErrors": 5000,
    "MeetingAttendanceRecordPayload.userErrors": 500,
    "AnnouncementPayload.userErrors": 250,
    "PagePayload.userErrors": 160,  # up to three for each of 50 sections
    "ProfilePayload.userErrors": 1000,
}
USER_ERRORS_CAP = 50
# A list the table does not know (a test keeps this from happening) counts as this long.
UNKNOWN_LIST_CAP = 1000


# Introspection answers the same for everyone and its size is the schema's: a fixed cost
# (a whole `__schema` is some 450 KB of JSON). Only one `__schema` per operation.
INTROSPECTION_COSTS = {"__schema": 50_000, "__type": 500}


def _count(value: Any) -> int:
    """A page size or list length given by a client, as the number it stands for: variables
    arrive as JSON, so 1000.0 is 1000 (graphql-core coerces it so); anything that is not a
    whole number counts as the largest page."""
    if isinstance(value, bool):
        return MAX_PAGE
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, float) and value.is_integer():
        return max(0, int(value))
    return MAX_PAGE


class TooCostly(Exception):
    """The operation asks for more than any one request may, whatever the cost limit."""


class QueryCost(SchemaExtension):
    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.cost: int | None = None
        # The viewer's budget after this operation (Shopify's throttleStatus).
        self.throttle: dict[str, int] | None = None

    async def on_validate(self) -> AsyncIterator[None]:
        # Before the yield: after the (cached) validation of ValidationCache, which comes
        # earlier in the extension list, and before Strawberry decides whether to execute.
        self._check()
        if self.cost is not None and not self.execution_context.pre_execution_errors:
            await self._spend(self.cost)
        yield

    async def _spend(self, cost: int) -> None:
        """Take the cost from the viewer's budget (domain/identity/budgets.py); over it, the
        operation is refused THROTTLED, with HTTP 429 and ``Retry-After``."""
        context = self.execution_context
        request = context.context
        runtime = getattr(request, "runtime", None)
        if runtime is None:
            return
        viewer = getattr(request, "viewer", None) or ANONYMOUS
        origin = getattr(request, "origin", None)
        budget = budgets.budget_of(runtime.settings, viewer)
        if cost > budget.size:
            context.pre_execution_errors = [
                GraphQLError(
                    f"This query would cost {cost}, more than your whole query budget of "
                    f"{budget.size}: ask for smaller pages (first/last) or fewer nested lists.",
                    extensions={
                        "code": "QUERY_TOO_COSTLY",
                        "cost": cost,
                        "maximumCost": budget.size,
                    },
                )
            ]
            return
        spent = await budgets.spend(runtime, viewer, getattr(origin, "ip", None), cost)
        if spent is None:
            return
        self.throttle = {
            "maximumAvailable": spent.budget.size,
            "currentlyAvailable": int(spent.available),
            "restoreRate": spent.budget.rate,
        }
        if spent.allowed:
            return
        wait = spent.retry_after
        context.pre_execution_errors = [
            GraphQLError(
                f"Over your query budget: this query costs {cost} and {int(spent.available)} "
                f"of your {spent.budget.size} points are left ({spent.budget.rate} come back "
                f"each second). Try again in {wait} seconds.",
                extensions={"code": THROTTLED, "cost": cost, "retryAfter": wait},
            )
        ]
        response = getattr(request, "response", None)
        if isinstance(response, Response):
            response.status_code = 429
            response.headers["Retry-After"] = str(wait)

    def _check(self) -> None:
        context = self.execution_context
        document = context.graphql_document
        if context.pre_execution_errors or document is None:
            return
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if context.operation_name:
            operations = [
                o for o in operations if o.name and o.name.value == context.operation_name
            ]
        if len(operations) != 1:
            return
        operation = operations[0]
        schema = context.schema._schema
        root = schema.get_root_type(operation.operation)
        if root is None:
            return
        try:
            self.cost = operation_cost(schema, operation, fragments, context.variables or {})
        except TooCostly as refused:
            context.pre_execution_errors = [
                GraphQLError(str(refused), extensions={"code": "QUERY_TOO_COSTLY"})
            ]
            return
        if self.cost > self.maximum:
            context.pre_execution_errors = [
                GraphQLError(
                    f"This query would cost {self.cost}, over the maximum of {self.maximum}: "
                    "ask for smaller pages (first/last) or fewer nested lists.",
                    extensions={
                        "code": "QUERY_TOO_COSTLY",
                        "cost": self.cost,
                        "maximumCost": self.maximum,
                    },
                )
            ]

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        found: dict[str, Any] = {"requested": self.cost, "maximum": self.maximum}
        if self.throttle is not None:
            found["throttleStatus"] = self.throttle
        return {"cost": found}


def operation_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    """What an operation costs with these variables (and the operation's defaults for the
    ones not given)."""
    given = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in given and definition.default_value is not None:
            given[name] = value_from_ast_untyped(definition.default_value)
    root = schema.get_root_type(operation.operation)
    return _Walker(schema, fragments, given).cost(operation.selection_set, root)


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.schemas = 0

    def _fields(
        self,
        selection_set: SelectionSetNode | None,
        parent: Any,
        spread: set[str] | None = None,
    ) -> Iterator[tuple[FieldNode, Any]]:
        """Each field with the type it is selected on (fragments narrow the type). A fragment
        spread again in the same selection adds nothing (its fields merge), and counting it
        once keeps this linear: fragments that each spread the next twice would otherwise
        cost exponential time to walk."""
        if selection_set is None:
            return
        spread = set() if spread is None else spread
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                narrowed = self.schema.get_type(condition.name.value) if condition else parent
                yield from self._fields(selection.selection_set, narrowed, spread)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in spread:
                    spread.add(name)
                    narrowed = self.schema.get_type(fragment.type_condition.name.value)
                    yield from self._fields(fragment.selection_set, narrowed, spread)

    def _arguments(self, field: FieldNode) -> dict[str, Any]:
        return {
            argument.name.value: value_from_ast_untyped(argument.value, self.variables)
            for argument in field.arguments or ()
        }

    def _page(self, field: FieldNode) -> int:
        given = self._arguments(field)
        sizes = [_count(given[n]) for n in ("first", "last") if given.get(n) is not None]
        return max(sizes) if sizes else DEFAULT_PAGE

    def _length(self, field: FieldNode, parent: Any, definition: GraphQLField) -> int:
        """How long a plain list can be."""
        key = f"{parent.name}.{field.name.value}"
        given = self._arguments(field)
        if "ids" in definition.args:
            ids = given.get("ids")
            count = len(ids) if isinstance(ids, list) else 1
            if count > NODES_MAX_IDS:
                raise TooCostly(
                    f"`{field.name.value}` takes at most {NODES_MAX_IDS} ids, not {count}: "
                    "ask in several requests."
                )
            return count
        cap = LIST_CAPS.get(key)
        if cap is None:
            cap = USER_ERRORS_CAP if field.name.value == "userErrors" else UNKNOWN_LIST_CAP
        if "first" in definition.args:
            first = given.get("first", definition.args["first"].default_value)
            if first is not None and first is not Undefined:
                return min(_count(first), cap)
        return cap

    def cost(self, selection_set: SelectionSetNode | None, parent: Any) -> int:
        total = 0
        for field, on_type in self._fields(selection_set, parent):
            name = field.name.value
            if name in INTROSPECTION_COSTS:
                if name == "__schema":
                    self.schemas += 1
                    if self.schemas > 1:
                        raise TooCostly("Ask for `__schema` once per operation.")
                total += INTROSPECTION_COSTS[name]
                continue
            definitions = getattr(on_type, "fields", None) or {}
            if name.startswith("__") or name not in definitions:
                continue
            definition = definitions[name]
            named = get_named_type(definition.type)
            below = self.cost(field.selection_set, named) if field.selection_set else 0
            if named.name.endswith("Connection"):
                factor = self._page(field)
            elif on_type.name.endswith("Connection"):
                factor = 1  # its edges: the page size counted them
            elif below and is_list_type(get_nullable_type(definition.type)):
                factor = self._length(field, on_type, definition)
            else:
                factor = 1
            total += 1 + factor * below
        return total
