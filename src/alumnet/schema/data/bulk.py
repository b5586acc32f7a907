"""Bulk queries: `bulkQueryRun` checks an admin's GraphQL query and rewrites it to page
through its connection; a job runs it page by page (``domain.data.bulk``) through
``run_query``, which the composition root hands to the runtime."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from typing import Annotated, Any, cast

import orjson
import strawberry
from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    get_named_type,
    get_variable_values,
    parse,
    print_ast,
    specified_rules,
    validate,
    visit,
)
from strawberry.scalars import JSON

from alumnet.config import Settings
from alumnet.domain.data import bulk
from alumnet.domain.errors import DomainError
from alumnet.domain.identity import budgets
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.ops import operations
from alumnet.domain.runtime import QueryOutcome, Runtime
from alumnet.persistence.db import SharedConnection
from alumnet.schema.context import Context, Info
from alumnet.schema.cost import TooCostly, operation_cost
from alumnet.schema.errors import SERVICE_UNAVAILABLE, THROTTLED, UserError, user_errors
from alumnet.schema.extensions import expansion_error, limit_rules
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, run_in_transaction
from alumnet.schema.ops.types import Job, job_node
from alumnet.schema.persisted import sha256_of

MAX_PAGE = 1000
# Tried largest first when the query names no page size: the largest within the cost limit.
PAGE_SIZES = (1000, 500, 250, 100, 50, 20, 10, 1)
# A connection the query reaches: its field, type, response path, and whether a directive
# (`@include`, `@skip`) on the way could make it vanish.
Found = tuple[FieldNode, GraphQLObjectType, list[str], bool]


def _is_connection(named: Any) -> bool:
    fields = getattr(named, "fields", None) or {}
    return isinstance(named, GraphQLObjectType) and "edges" in fields and "pageInfo" in fields


def _connections(
    schema: GraphQLSchema,
    selection_set: SelectionSetNode | None,
    parent: Any,
    path: list[str],
    fragments: dict[str, FragmentDefinitionNode],
    directed: bool = False,
) -> list[Found]:
    """The outermost connections a selection reaches through fields that are not lists.
    (The document's expanded size is bounded before this walks it.)"""
    found: list[Found] = []
    for selection in selection_set.selections if selection_set else ():
        here = directed or bool(selection.directives)
        if isinstance(selection, FieldNode):
            definition = (getattr(parent, "fields", None) or {}).get(selection.name.value)
            if definition is None:
                continue
            of_type = definition.type
            if isinstance(of_type, GraphQLNonNull):
                of_type = of_type.of_type
            if isinstance(of_type, GraphQLList):
                continue
            named = get_named_type(of_type)
            key = [*path, (selection.alias or selection.name).value]
            if _is_connection(named):
                found.append((selection, named, key, here))
            else:
                found += _connections(schema, selection.selection_set, named, key, fragments, here)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            narrowed = schema.get_type(condition.name.value) if condition else parent
            found += _connections(schema, selection.selection_set, narrowed, path, fragments, here)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                narrowed = schema.get_type(fragment.type_condition.name.value)
                found += _connections(
                    schema, fragment.selection_set, narrowed, path, fragments,
                    here or bool(fragment.directives),
                )  # fmt: skip
    return found


def _key(field: FieldNode) -> str:
    return (field.alias or field.name).value


def _edges_and_node(field: FieldNode) -> tuple[str, str]:
    """The response keys of the connection's `edges` and of their `node`: each node is a
    line of the result, so both must be there on every page."""
    selections = field.selection_set.selections if field.selection_set else ()
    edges = [s for s in selections if isinstance(s, FieldNode) and s.name.value == "edges"]
    inside = edges[0].selection_set.selections if len(edges) == 1 and edges[0].selection_set else ()
    nodes = [s for s in inside if isinstance(s, FieldNode) and s.name.value == "node"]
    if len(edges) != 1 or len(nodes) != 1 or edges[0].directives or nodes[0].directives:
        raise _invalid(
            "Select `edges { node { … } }` once, directly on the connection, without a "
            "directive: each node becomes a line of the result."
        )
    return _key(edges[0]), _key(nodes[0])


def _field(
    alias: str, name: str, *subfields: str, directives: tuple[DirectiveNode, ...] = ()
) -> FieldNode:
    selections = tuple(FieldNode(name=NameNode(value=f), arguments=(), directives=())
                       for f in subfields)  # fmt: skip
    return FieldNode(
        alias=NameNode(value=alias), name=NameNode(value=name), arguments=(),
        directives=directives,
        selection_set=SelectionSetNode(selections=selections) if selections else None,
    )  # fmt: skip


def _include_if(variable: str) -> DirectiveNode:
    return DirectiveNode(name=NameNode(value="include"), arguments=(
        ArgumentNode(name=NameNode(value="if"), value=VariableNode(name=NameNode(value=variable))),
    ))  # fmt: skip


def _variable(name: str, type_name: str, required: bool) -> VariableDefinitionNode:
    named = NamedTypeNode(name=NameNode(value=type_name))
    return VariableDefinitionNode(
        variable=VariableNode(name=NameNode(value=name)),
        type=NonNullTypeNode(type=named) if required else named, directives=(),
    )  # fmt: skip


class _UsedVariables(Visitor):
    """The variables used in selections (not merely defined)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable_definition(self, *_: Any) -> Any:
        return self.SKIP

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.names.add(node.name.value)


class _Paging(Visitor):
    """Pages the connection field: our `first` and `after`, and the page info."""

    def __init__(self, target: FieldNode, extra: list[FieldNode]) -> None:
        super().__init__()
        self.target, self.extra = target, extra

    def enter_field(self, node: FieldNode, *_: Any) -> Any:
        if node is not self.target:
            return None
        arguments = (
            *(a for a in node.arguments or () if a.name.value not in ("first", "after")),
            ArgumentNode(name=NameNode(value="first"),
                         value=VariableNode(name=NameNode(value=bulk.FIRST_VARIABLE))),
            ArgumentNode(name=NameNode(value="after"),
                         value=VariableNode(name=NameNode(value=bulk.AFTER_VARIABLE))),
        )  # fmt: skip
        selections = node.selection_set.selections if node.selection_set else ()
        paged = SelectionSetNode(selections=(*selections, *self.extra))
        return replace(node, arguments=arguments, selection_set=paged)


def _invalid(message: str, field: str = "query", code: str = "INVALID") -> DomainError:
    return DomainError.of(code, message, field)


def _page_given(field: FieldNode, variables: dict[str, Any]) -> int | None:
    for argument in field.arguments or ():
        if argument.name.value != "first":
            continue
        value: Any = None
        if isinstance(argument.value, IntValueNode):
            value = int(argument.value.value)
        elif isinstance(argument.value, VariableNode):
            value = variables.get(argument.value.name.value)
        if not isinstance(value, int) or not 1 <= value <= MAX_PAGE:
            raise _invalid(f"`first` on the connection must be from 1 to {MAX_PAGE}.")
        return value
    return None


def plan(
    schema: GraphQLSchema,
    settings: Settings,
    text: str,
    variables: dict[str, Any],
    operation_name: str | None,
    budget: int | None = None,
) -> bulk.Plan:
    """Check a bulk query and rewrite it to page through its one outermost connection: the
    same limits as a request (tokens, expanded size, depth, aliases, cost), checked now.
    A page costs at most the cost limit, and at most ``budget`` (the size of the query
    budget its pages draw on)."""
    limit = settings.max_query_cost if budget is None else min(budget, settings.max_query_cost)
    try:
        document: DocumentNode = parse(text, max_tokens=settings.max_tokens)
    except GraphQLError as exc:
        raise _invalid(f"Not a GraphQL query: {exc.message}") from None
    too_large = expansion_error(document)
    if too_large is not None:
        raise _invalid(too_large.message)
    rules = [*specified_rules, *limit_rules(settings)]
    errors = validate(schema, document, rules)
    if errors:
        raise _invalid(errors[0].message)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        raise _invalid("Name the one operation to run.", "operationName")
    operation = operations[0]
    if operation.operation != OperationType.QUERY:
        raise _invalid("Only queries run in bulk.", code="NOT_A_QUERY")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = schema.query_type
    found = _connections(schema, operation.selection_set, root, [], fragments)
    if len(found) != 1:
        raise _invalid(
            "Select exactly one connection (a list with `edges` and `pageInfo`), reached "
            f"through fields that are not lists; this query selects {len(found)}.",
            code="NO_CONNECTION",
        )
    field, connection, path, directed = found[0]
    if directed:
        raise _invalid(
            "No `@include` or `@skip` on the way to the connection: it must be there on every page."
        )
    edges_key, node_key = _edges_and_node(field)
    given = {a.name.value for a in field.arguments or ()}
    if given & {"last", "before"}:
        raise _invalid("Bulk queries page forward: leave out `last` and `before`.")
    mine = {bulk.FIRST_VARIABLE, bulk.AFTER_VARIABLE, bulk.COUNT_VARIABLE}
    if any(d.variable.name.value in mine for d in operation.variable_definitions or ()):
        raise _invalid(f"The variables {sorted(mine)} are the bulk query's own.")
    values = get_variable_values(schema, operation.variable_definitions or (), variables)
    if isinstance(values, list):
        raise _invalid(values[0].message, "variables")
    coerced = values.coerced  # with the operation's defaults for those not given
    page_given = _page_given(field, coerced)

    # The rewrite: our page size and cursor, the page info to follow them, and the total
    # (on the first page only) to report progress against.
    extra = [_field(bulk.PAGE_INFO_ALIAS, "pageInfo", "hasNextPage", "endCursor")]
    if "totalCount" in connection.fields:
        include = (_include_if(bulk.COUNT_VARIABLE),)
        extra.append(_field(bulk.TOTAL_ALIAS, "totalCount", directives=include))
    index = document.definitions.index(operation)
    document = visit(document, _Paging(field, extra))
    used = _UsedVariables()
    visit(document, used)
    operation = cast(OperationDefinitionNode, document.definitions[index])
    operation = replace(operation, variable_definitions=(
        *(d for d in operation.variable_definitions or () if d.variable.name.value in used.names),
        _variable(bulk.FIRST_VARIABLE, "Int", True),
        _variable(bulk.AFTER_VARIABLE, "String", False),
        _variable(bulk.COUNT_VARIABLE, "Boolean", True),
    ))  # fmt: skip
    document = replace(document, definitions=(
        *document.definitions[:index], operation, *document.definitions[index + 1 :]
    ))  # fmt: skip
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    kept = {d.variable.name.value for d in operation.variable_definitions or ()}
    variables = {k: v for k, v in variables.items() if k in kept}
    costed = {k: v for k, v in coerced.items() if k in kept}

    # Pages as large as the cost limit allows (or as the query asks).
    page = None
    for size in (page_given,) if page_given else PAGE_SIZES:
        try:
            cost = operation_cost(schema, operation, fragments,
                                  {**costed, bulk.FIRST_VARIABLE: size})  # fmt: skip
        except TooCostly as refused:
            raise _invalid(str(refused), code="TOO_COSTLY") from None
        if cost <= limit:
            page = size
            break
    if page is None:
        raise _invalid(
            f"A page of this query would cost {cost}, over the maximum of "
            f"{limit}: select fewer fields or smaller nested lists.",
            code="TOO_COSTLY",
        )
    rewritten = print_ast(document)
    problems = validate(schema, parse(rewritten), rules)
    if problems:
        raise _invalid(problems[0].message)
    return bulk.Plan(
        query=rewritten, operation_name=operation.name.value if operation.name else None,
        variables=variables, path=path, edges=edges_key, node=node_key, page_size=page,
    )  # fmt: skip


async def run_query(
    runtime: Runtime,
    viewer: Viewer,
    query: str,
    variables: dict[str, Any],
    operation_name: str | None,
) -> QueryOutcome:
    """One operation through the whole schema (limits, permissions, masking), as ``viewer``,
    outside any HTTP request."""
    from alumnet.schema import build_schema

    # One connection for the page's reads, as a request has: a job's dataloaders never
    # take more than that of the pool.
    shared = SharedConnection(runtime.database)
    try:
        result = await build_schema(runtime.settings).execute(
            query,
            variable_values=variables,
            context_value=Context(runtime=runtime, viewer=viewer, shared=shared),
            operation_name=operation_name,
        )
    finally:
        await shared.close()
    # Pages of the fast path hold their JSON unparsed (orjson.Fragment): read it back.
    data = orjson.loads(orjson.dumps(result.data)) if result.data is not None else None
    errors = result.errors or ()
    busy = any((e.extensions or {}).get("code") == SERVICE_UNAVAILABLE for e in errors)
    waits = [
        int((e.extensions or {}).get("retryAfter") or 1)
        for e in errors
        if (e.extensions or {}).get("code") == THROTTLED
    ]
    return QueryOutcome(
        data, [e.message for e in errors], busy=busy, retry_after=max(waits) if waits else None
    )


@strawberry.enum(description="Why `bulkQueryRun` refused a query.")
class BulkQueryErrorCode(Enum):
    INVALID = strawberry.enum_value("INVALID", description=INVALID)
    NOT_A_QUERY = strawberry.enum_value(
        "NOT_A_QUERY", description="Mutations and subscriptions do not run in bulk."
    )
    NO_CONNECTION = strawberry.enum_value(
        "NO_CONNECTION", description="The query must select exactly one outermost connection."
    )
    TOO_COSTLY = strawberry.enum_value(
        "TOO_COSTLY", description="Even one page of it would be over the query cost limit."
    )
    OPERATION_NOT_REGISTERED = strawberry.enum_value(
        "OPERATION_NOT_REGISTERED",
        description="Only registered operations run on this server (ALUMNET_PERSISTED_ONLY).",
    )


@strawberry.type(description="A problem with a bulk query.")
class BulkQueryError(UserError):
    code: BulkQueryErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A query to run over every page of one connection.")
class BulkQueryRunInput:
    query: str = strawberry.field(
        description="A GraphQL query selecting one connection, e.g. `{ directory { edges { "
        "node { id name } } } }`. Its `first` (optional) sets the page size; `after`, "
        "`last` and `before` are the job's to set."
    )
    variables: JSON | None = strawberry.field(default=None, description="Its variables.")
    operation_name: str | None = strawberry.field(
        default=None, description="Which operation, if the document has several."
    )


@strawberry.type(description="The job running the query; its `file` is the JSON Lines result.")
class BulkQueryPayload:
    job: Job | None = strawberry.field(
        description="Follow it with `jobUpdated`; once it succeeded, `file { downloadUrl }` "
        "holds one JSON object per node, in the connection's order."
    )
    connection: list[str] | None = strawberry.field(
        description="The path, from the root, of the connection it pages through."
    )
    page_size: int | None = strawberry.field(
        description="Nodes per page: the query's `first`, else as many (up to 1,000) as the "
        "query cost limit allows."
    )
    user_errors: list[BulkQueryError] = strawberry.field(description="Empty on success.")


@strawberry.type
class BulkQueryMutation:
    @strawberry.mutation(
        description="Run a query in the background over every page of one connection, as "
        "you, with your permissions (`data:bulk`); the result is a JSON Lines file."
    )
    async def bulk_query_run(
        self, info: Info, input: Annotated[BulkQueryRunInput, arg("The query.")]
    ) -> BulkQueryPayload:
        viewer = info.context.viewer
        given: dict[str, Any] = input.variables if isinstance(input.variables, dict) else {}
        checked: list[bulk.Plan] = []

        async def change(uow: Any) -> int:
            viewer.require(Permission.DATA_BULK)
            settings = info.context.runtime.settings
            if settings.persisted_only and not await operations.is_registered(
                uow, sha256_of(input.query)
            ):
                raise DomainError.of(
                    "OPERATION_NOT_REGISTERED",
                    "Only registered operations run on this server: register this query "
                    "with `alumnet operations register` (its exact text).",
                    "query",
                )
            checked.append(plan(info.schema._schema, settings, input.query, dict(given),
                                input.operation_name,
                                budgets.budget_of(settings, viewer).size))  # fmt: skip
            return await bulk.request(uow, viewer, checked[0])

        job_id, problems = await run_in_transaction(info, change)
        return BulkQueryPayload(
            job=await job_node(info, job_id),
            connection=checked[0].path if job_id is not None else None,
            page_size=checked[0].page_size if job_id is not None else None,
            user_errors=user_errors(BulkQueryError, BulkQueryErrorCode, problems),
        )
