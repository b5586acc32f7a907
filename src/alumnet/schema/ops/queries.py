"""Operations queries and subscriptions: background jobs."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from typing import Annotated

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.identity import visibility
from alumnet.domain.identity.permissions import Permission
from alumnet.domain.ops.jobs import job_channel
from alumnet.persistence.loaders.ops import JOB_COLUMNS
from alumnet.persistence.models import Job as JobModel
from alumnet.schema.context import Info
from alumnet.schema.nodes import global_pk
from alumnet.schema.ops.types import Job, JobConnection, JobStatus
from alumnet.schema.pagination import MAX_PAGE, KeysetQuery, SortKey
from alumnet.schema.permissions import requires


@strawberry.input(description="Narrows the `jobs` list; every condition given must hold.")
class JobFilter:
    status: list[JobStatus] | None = strawberry.field(
        default=None, description="Only jobs in one of these states, e.g. [FAILED]."
    )
    names: list[str] | None = strawberry.field(
        default=None, description='Only these kinds of job, e.g. ["email.send"].'
    )


@strawberry.type
class OpsQuery:
    @relay.connection(
        JobConnection,
        description="Background jobs, newest first, for holders of `jobs:read`: failed jobs "
        "stay here for inspection.",
        max_results=MAX_PAGE,
        extensions=requires(Permission.JOBS_READ),
    )
    def jobs(
        self,
        info: Info,
        filter: Annotated[
            JobFilter | None, strawberry.argument(description="Which jobs to include.")
        ] = None,
    ) -> Iterable[Job]:
        query = select(*JOB_COLUMNS)
        if filter is not None:
            if filter.status:
                query = query.where(JobModel.status.in_([s.value for s in filter.status]))
            if filter.names:
                query = query.where(JobModel.name.in_(filter.names))
        sort = [
            SortKey(JobModel.created_at, descending=True),
            SortKey(JobModel.id, descending=True),
        ]
        return KeysetQuery(query, sort, Job.from_row, info.context.reads)


@strawberry.type
class OpsSubscription:
    @strawberry.subscription(
        description="The job now, then again each time its status or progress changes; ends "
        "when it has succeeded or finally failed. Null at once if you may not see it."
    )
    async def job_updated(
        self,
        info: Info,
        id: Annotated[relay.GlobalID, strawberry.argument(description="The job to follow.")],
    ) -> AsyncGenerator[Job | None, None]:
        pk = global_pk(id, "Job")
        if pk is None:
            yield None
            return
        async with info.context.runtime.bus.subscription(job_channel(pk)) as events:
            first = await Job.resolve_nodes(info=info, node_ids=[str(pk)])
            job = first[0]
            yield job
            if job is None or job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
                return
            async for _ in events:
                if not await info.context.still_signed_in():
                    return
                info.context.reset_loaders()
                row = await info.context.loaders.job_by_id.load(pk)
                if row is None or not visibility.may_see_job(
                    info.context.viewer, row.created_by_id
                ):
                    return
                current = Job.from_row(row)
                yield current
                if current.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
                    return
