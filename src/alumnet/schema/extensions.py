"""Schema extensions: limits, caches, error masking, metrics and debug timing."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    print_ast,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.responses import Response
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types.graphql import OperationType

from alumnet.config import Settings
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.observability import (
    CACHE_LOOKUPS,
    GRAPHQL_LATENCY,
    GRAPHQL_REQUESTS,
    current_stats,
    operation_label,
)
from alumnet.persistence.db import CommitOutcomeUnknown, is_busy, is_timeout
from alumnet.schema.cost import QueryCost
from alumnet.schema.errors import (
    FORBIDDEN,
    RETRY_AFTER_SECONDS,
    UNAUTHENTICATED,
    outcome_unknown,
    service_unavailable,
    should_mask,
    timed_out,
)
from alumnet.schema.persisted import OperationStore, PersistedOperations

CACHE_SIZE = 512
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
# Fields an operation may select once its fragments are expanded in place. Strawberry's
# depth and alias limiters walk every spread of every fragment: thirty fragments that each
# spread the next twice would keep them busy for hours. Without fragments a document
# within the token limit selects far fewer.
MAX_EXPANDED_FIELDS = 20_000


def expanded_fields(document: DocumentNode) -> int:
    """How many fields the document's operations select with fragments expanded in place,
    counted in linear time (each fragment's size once)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    sizes: dict[str, int] = {}

    def size(selection_set: SelectionSetNode | None, path: frozenset[str]) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += 1 + size(selection.selection_set, path)
            elif isinstance(selection, InlineFragmentNode):
                total += size(selection.selection_set, path)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in path:
                    continue  # unknown or cyclic: validation reports it
                if name not in sizes:
                    sizes[name] = size(fragment.selection_set, path | {name})
                total += sizes[name]
        return total

    try:
        return sum(
            size(d.selection_set, frozenset())
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        )
    except RecursionError:
        return MAX_EXPANDED_FIELDS + 1


def expansion_error(document: DocumentNode) -> GraphQLError | None:
    """The error for a document whose fragments expand to too many fields, if it is one."""
    if expanded_fields(document) <= MAX_EXPANDED_FIELDS:
        return None
    return GraphQLError(
        f"This document selects more than {MAX_EXPANDED_FIELDS} fields once its fragments "
        "are expanded: spread fewer fragments.",
        extensions={"code": "QUERY_TOO_LARGE"},
    )


def _counted(cache: str, lookup: Any, step: Iterator[None]) -> Iterator[None]:
    """Run a caching extension's hook, counting whether its LRU cache (``lookup``) hit."""
    hits = lookup.cache_info().hits
    next(step)  # the cached work runs here, synchronously
    outcome = "hit" if lookup.cache_info().hits > hits else "miss"
    CACHE_LOOKUPS.labels(cache=cache, outcome=outcome).inc()
    yield
    with contextlib.suppress(StopIteration):
        next(step)


class CountedParserCache(ParserCache):
    """Strawberry's parser cache, its hits and misses counted for ``/metrics``."""

    def on_parse(self) -> Iterator[None]:
        yield from _counted("parse", self.cached_parse_document, super().on_parse())


class BoundedValidationCache(ValidationCache):
    """Strawberry's validation cache, behind a linear check of the document's expanded size
    (see MAX_EXPANDED_FIELDS): a document over it is refused without being validated."""

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        error = expansion_error(document) if document is not None else None
        if error is None:
            yield from _counted("validation", self.cached_validate_document, super().on_validate())
            # graphql-core's own validation errors carry no code: give them one, as every
            # other error has (the cached errors are the same objects each time).
            for found in self.execution_context.pre_execution_errors or ():
                if found.extensions is None or "code" not in found.extensions:
                    found.extensions = {**(found.extensions or {}), "code": VALIDATION_FAILED}
            return
        self.execution_context.pre_execution_errors = [error]
        yield


# A document that may introspect (`__schema` or `__type`; `__typename` is harmless).
_INTROSPECTS = re.compile(r"__(schema|type)\b")
# graphql-core's suggestions: "… Did you mean 'userDelete'?" (names hold no "?").
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def may_see_schema(settings: Settings, viewer: Viewer | None) -> bool:
    """Whether this caller may introspect the schema and get "Did you mean …?": everyone
    outside production; in production, those with the schema:introspect permission."""
    if not settings.is_production:
        return True
    return viewer is not None and viewer.can(Permission.SCHEMA_INTROSPECT)


class SchemaPrivacy(SchemaExtension):
    """In production, a stranger learns nothing of the schema it did not send: no
    introspection (`__schema`, `__type`) and no suggestions of field, argument, type or
    enum names in error messages, unless the viewer has schema:introspect (developers).

    Checked apart from the validation cache, per caller: the cache holds what every caller
    gets, and its errors are shared objects, so suggestions are removed from copies."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hidden = False

    def on_operation(self) -> Iterator[None]:
        viewer = getattr(self.execution_context.context, "viewer", None)
        self.hidden = not may_see_schema(self.settings, viewer)
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if self.hidden and errors:
            result.errors = [_without_suggestion(e) for e in errors]  # type: ignore[union-attr]

    def on_validate(self) -> Iterator[None]:
        # Before the yield: after BoundedValidationCache, listed earlier, has validated.
        context = self.execution_context
        document = context.graphql_document
        if (
            self.hidden
            and not context.pre_execution_errors
            and document is not None
            and _INTROSPECTS.search(context.query or print_ast(document))
        ):
            refused = validate(context.schema._schema, document, [NoSchemaIntrospectionCustomRule])
            if refused:
                context.pre_execution_errors = [
                    GraphQLError(
                        "Introspection is turned off here: the schema is documented for "
                        "developers (schema:introspect).",
                        nodes=refused[0].nodes,
                        extensions={"code": VALIDATION_FAILED},
                    )
                ]
        yield


def without_suggestions(message: str) -> str:
    """``message`` without graphql-core's "Did you mean …?"."""
    return _SUGGESTION.sub("", message)


def _without_suggestion(error: GraphQLError) -> GraphQLError:
    message = without_suggestions(error.message)
    if message == error.message:
        return error
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )


def limit_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The validation rules that bound depth and aliases, as settings say."""
    return [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]


class Credentials(SchemaExtension):
    """What the caller's credential allows, checked before each operation runs.

    - On a WebSocket, the credential given at `connection_init` is checked again before
      every operation (a query, a mutation or a new subscription sent over the socket): one
      revoked, expired or signed out everywhere meanwhile stops working there too.
    - A read-only personal access token runs no mutation (its permissions are narrowed by
      ``Viewer.permissions``; this covers the mutations any signed-in person may make).
    """

    async def on_validate(self) -> AsyncIterator[None]:
        # Before the yield, as QueryCost: after validation, before execution is decided.
        context = self.execution_context
        request = context.context
        if (
            not context.pre_execution_errors
            and getattr(request, "bearer", None) is not None
            and not await request.still_signed_in()
        ):
            context.pre_execution_errors = [
                GraphQLError(
                    "The token this connection signed in with no longer works (expired, "
                    "revoked or signed out): connect again with a new one.",
                    extensions={"code": UNAUTHENTICATED},
                )
            ]
        viewer = getattr(request, "viewer", None)
        if (
            not context.pre_execution_errors
            and viewer is not None
            and not viewer.may_write
            and context.graphql_document is not None
            and context.operation_type is OperationType.MUTATION
        ):
            context.pre_execution_errors = [
                GraphQLError(
                    "This personal access token may only read (scope READ): make a WRITE "
                    "token for scripts that change things.",
                    extensions={"code": FORBIDDEN},
                )
            ]
        yield


class OperationMetrics(SchemaExtension):
    """Counts and times every operation by name (the allowed names; "other" for the
    rest), for ``/metrics``."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        name = operation_label(self.execution_context.operation_name, self.allowed)
        result = self.execution_context.result
        outcome = "error" if result is not None and getattr(result, "errors", None) else "ok"
        GRAPHQL_REQUESTS.labels(operation=name, outcome=outcome).inc()
        GRAPHQL_LATENCY.labels(operation=name).observe(time.perf_counter() - started)


class BusyDatabase(SchemaExtension):
    """An operation that found the database too busy (no pooled connection in time, or
    SQLite's write lock held too long) answers SERVICE_UNAVAILABLE with HTTP 503 and
    ``Retry-After``, in place of a masked "Unexpected error"; a statement cancelled past
    the statement timeout answers TIMEOUT (plainly: never its SQL, nor the driver's
    words, in development too); a change whose COMMIT met a broken connection answers
    OUTCOME_UNKNOWN (HTTP 200, no ``Retry-After``: it may have been made). Listed after
    MaskErrors, so that it sees the errors first (extensions leave their hooks in reverse
    order)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if not errors:
            return
        timeouts = [e.original_error is not None and is_timeout(e.original_error) for e in errors]
        if any(timeouts):
            errors = result.errors = [  # type: ignore[union-attr]
                timed_out(e) if t else e for e, t in zip(errors, timeouts, strict=True)
            ]
        unknown = [isinstance(e.original_error, CommitOutcomeUnknown) for e in errors]
        if any(unknown):
            errors = result.errors = [  # type: ignore[union-attr]
                outcome_unknown(e) if u else e for e, u in zip(errors, unknown, strict=True)
            ]
        busy = [e.original_error is not None and is_busy(e.original_error) for e in errors]
        if not any(busy):
            return
        result.errors = [  # type: ignore[union-attr]
            service_unavailable(e) if b else e for e, b in zip(errors, busy, strict=True)
        ]
        response = getattr(self.execution_context.context, "response", None)
        if isinstance(response, Response):
            response.status_code = 503
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)


class DebugTiming(SchemaExtension):
    """``extensions.timing`` = {sqlStatements, sqlMs, totalMs} when ALUMNET_DEBUG is on."""

    def get_results(self) -> dict[str, Any]:
        stats = current_stats.get()
        return {"timing": stats.timing()} if stats is not None else {}


def schema_extensions(
    settings: Settings,
) -> list[Callable[[], SchemaExtension] | type[SchemaExtension]]:
    # The limiters build their validation rule classes when constructed. Build them once:
    # a fresh class per request would make every validation a ValidationCache miss.
    limits = limit_rules(settings)
    store = OperationStore()
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: CountedParserCache(maxsize=CACHE_SIZE),
        lambda: AddValidationRules(limits),
        lambda: BoundedValidationCache(maxsize=CACHE_SIZE),
        lambda: SchemaPrivacy(settings),
        lambda: QueryCost(maximum=settings.max_query_cost),
        Credentials,
        lambda: PersistedOperations(settings, store),
        lambda: OperationMetrics(settings.metrics_operations),
    ]
    if settings.env != "development":
        extensions.append(lambda: MaskErrors(should_mask_error=should_mask))
    extensions.append(BusyDatabase)
    if settings.database_replica_urls:
        from alumnet.schema.context import ReadsFollowWrites

        extensions.append(ReadsFollowWrites)
    if settings.debug:
        extensions.append(DebugTiming)
    return extensions
