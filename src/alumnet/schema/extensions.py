"""Schema extensions: limits, caches, error masking, metrics and debug timing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

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

from alumnet.config import Settings
from alumnet.observability import GRAPHQL_LATENCY, GRAPHQL_REQUESTS, current_stats, operation_label
from alumnet.schema.cost import QueryCost
from alumnet.schema.errors import should_mask

CACHE_SIZE = 512


class OperationMetrics(SchemaExtension):
    """Counts and times every operation by name, for ``/metrics``."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        name = operation_label(self.execution_context.operation_name)
        result = self.execution_context.result
        outcome = "error" if result is not None and getattr(result, "errors", None) else "ok"
        GRAPHQL_REQUESTS.labels(operation=name, outcome=outcome).inc()
        GRAPHQL_LATENCY.labels(operation=name).observe(time.perf_counter() - started)


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
    limits = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: AddValidationRules(limits),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        lambda: QueryCost(maximum=settings.max_query_cost),
        OperationMetrics,
    ]
    if settings.env != "development":
        extensions.append(lambda: MaskErrors(should_mask_error=should_mask))
    if settings.debug:
        extensions.append(DebugTiming)
    return extensions
