"""Bulk queries: an admin's GraphQL query, run by a job over every page of one connection,
written as JSON Lines (one node per line) into a stored file behind a signed link.

The GraphQL layer checks and rewrites the query when it is submitted (which connection,
how large a page, the cursor variables); here the job pages through it as the person who
asked, with their permissions as they are at each page, through the runtime's
``QueryRunner`` port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from alumnet.domain.data import files
from alumnet.domain.identity import audit
from alumnet.domain.identity.auth import scope_of, viewer_of
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.identity.two_factor import required_roles
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import DatabaseBusy
from alumnet.persistence.uow import UnitOfWork

BULK_JOB = "data.bulk"
KEEP = timedelta(days=2)
# Names the rewritten query uses; the GraphQL layer adds them, this module reads them.
AFTER_VARIABLE = "_bulkAfter"
COUNT_VARIABLE = "_bulkCount"
FIRST_VARIABLE = "_bulkFirst"
PAGE_INFO_ALIAS = "_bulkPageInfo"
TOTAL_ALIAS = "_bulkTotal"


class BulkQueryFailed(Exception):
    """A page answered with errors, or the person who asked may no longer run it."""


@dataclass(frozen=True)
class Plan:
    """A checked query, rewritten to page through one connection."""

    query: str
    operation_name: str | None
    variables: dict[str, Any]
    path: list[str]  # response keys from the root to the connection
    edges: str  # the response key of its edges
    node: str  # and of their node
    page_size: int


async def request(uow: UnitOfWork, viewer: Viewer, plan: Plan) -> int:
    """Queue a bulk query for the viewer; returns the job's id."""
    me = viewer.require(Permission.DATA_BULK)
    job = await uow.add_job(
        BULK_JOB,
        {
            "query": plan.query, "operation_name": plan.operation_name,
            "variables": plan.variables, "path": plan.path, "edges": plan.edges,
            "node": plan.node, "page_size": plan.page_size,
            "user_id": me,
            "scope": scope_of(viewer),
        },
        max_attempts=1,
    )  # fmt: skip
    details = {"connection": ".".join(plan.path), "pageSize": plan.page_size}
    audit.record(uow, "bulk_query.request", object_type="Job", object_ids=[job.id],
                 details=details)  # fmt: skip
    return int(job.id)


def _connection(data: dict[str, Any] | None, path: list[str]) -> dict[str, Any] | None:
    found: Any = data
    for key in path:
        if not isinstance(found, dict):
            return None
        found = found.get(key)
    return found if isinstance(found, dict) else None


async def _viewer(rt: Runtime, user_id: int, scope: str | None) -> Viewer:
    async with rt.database.connect() as conn:
        viewer = await viewer_of(conn, user_id, scope, required=required_roles(rt.settings))
    if viewer is None or not viewer.can(Permission.DATA_BULK):
        raise BulkQueryFailed("The person who asked for this query may no longer run it.")
    return viewer


async def run(
    rt: Runtime, args: dict[str, Any], progress: Callable[[float], Awaitable[None]]
) -> dict[str, Any]:
    """Page through the query, a line per node; returns the stored file's id and counts."""
    if rt.queries is None:
        raise BulkQueryFailed("This process cannot run GraphQL queries.")
    user_id, path = int(args["user_id"]), list(args["path"])
    edges_key, node_key = args.get("edges", "edges"), args.get("node", "node")
    rows = pages = 0
    total: int | None = None
    after: str | None = None
    with files.LocalOutput(rt.settings.export_max_bytes) as local:
        while True:
            # Roles are read again for every page: a suspended admin's query stops.
            viewer = await _viewer(rt, user_id, args.get("scope"))
            variables = {**args["variables"], FIRST_VARIABLE: args["page_size"],
                         AFTER_VARIABLE: after, COUNT_VARIABLE: pages == 0}  # fmt: skip
            outcome = await rt.queries(viewer, args["query"], variables, args["operation_name"])
            if outcome.retry_after is not None:
                # Pages draw on the person's query budget: over it, wait and ask again.
                await asyncio.sleep(outcome.retry_after)
                continue
            pages += 1
            if outcome.busy:
                raise DatabaseBusy(f"Page {pages}: the database was too busy")
            if outcome.errors:
                raise BulkQueryFailed(f"Page {pages}: {outcome.errors[0]}")
            connection = _connection(outcome.data, path)
            if connection is None and pages == 1:
                break  # not there, or not yours to see: nothing to write
            if connection is None:
                # Gone between pages (say, its parent was deleted): stop rather than hand
                # over a file that silently lacks the rest.
                raise BulkQueryFailed(f"Page {pages}: the connection is no longer there.")
            if isinstance(connection.get(TOTAL_ALIAS), int):
                total = connection[TOTAL_ALIAS]
            for edge in connection.get(edges_key) or []:
                node = edge.get(node_key) if isinstance(edge, dict) else None
                local.write(orjson.dumps(node) + b"\n")
                rows += 1
            if total:
                await progress(min(0.99, rows / total))
            page_info = connection.get(PAGE_INFO_ALIAS) or {}
            after = page_info.get("endCursor")
            if not page_info.get("hasNextPage") or not after:
                break
        stored = await local.store(
            rt, owner_id=user_id, name="bulk-query.jsonl",
            content_type="application/x-ndjson", expires_in=KEEP,
        )  # fmt: skip
    return {"fileId": stored.id, "rows": rows, "pages": pages, "name": stored.name}
