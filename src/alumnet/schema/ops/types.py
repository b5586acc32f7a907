"""Operations types: background jobs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from alumnet.domain.identity import visibility
from alumnet.domain.ops.jobs import error_type
from alumnet.schema.context import Info
from alumnet.schema.identity.types import User
from alumnet.schema.nodes import load_visible
from alumnet.schema.pagination import CountedConnection

if TYPE_CHECKING:
    from alumnet.schema.data.types import ExportFile


@strawberry.enum(description="Where a background job is in its life.")
class JobStatus(Enum):
    PENDING = strawberry.enum_value("pending", description="Recorded, waiting for a worker.")
    RUNNING = strawberry.enum_value("running", description="A worker is running it now.")
    RETRYING = strawberry.enum_value(
        "retrying", description="The last attempt failed; it will be tried again after a pause."
    )
    SUCCEEDED = strawberry.enum_value("succeeded", description="Done; see `result`.")
    FAILED = strawberry.enum_value(
        "failed", description="Every attempt failed; see `lastError`. Kept for inspection."
    )


def public_result(name: str, result: Any) -> Any:
    """A job's result as clients see it: people by their global ids, never by the keys
    the job used (a mentor auto-assignment's proposal)."""
    if name == "mentorship.auto_assign" and isinstance(result, dict) and "proposal" in result:
        proposal = []
        for pair in result["proposal"]:
            # Results kept before the proposal named its keys are [student, mentor, score].
            student, mentor, score = (
                pair if isinstance(pair, list)
                else (pair["studentId"], pair["mentorId"], pair["score"])
            )  # fmt: skip
            proposal.append({
                "studentId": relay.to_base64("User", student),
                "mentorId": relay.to_base64("User", mentor),
                "score": score,
            })  # fmt: skip
        return {**result, "proposal": proposal}
    return result


@strawberry.type(description="A piece of background work (an e-mail, an import, a report).")
class Job(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="What kind of job, e.g. `email.send`.")
    queue: str = strawberry.field(description="The queue it runs on, e.g. `email`.")
    status: JobStatus = strawberry.field(description="Where it is now.")
    attempts: int = strawberry.field(description="How many times it has been started.")
    max_attempts: int = strawberry.field(description="How many attempts it gets in all.")
    progress: float = strawberry.field(description="From 0 to 1; 1 when done.")
    result: JSON | None = strawberry.field(description="What it produced, once it succeeded.")
    created_at: datetime = strawberry.field(description="When it was recorded (UTC).")
    started_at: datetime | None = strawberry.field(
        description="When the latest attempt started (UTC)."
    )
    finished_at: datetime | None = strawberry.field(
        description="When it succeeded or finally failed (UTC)."
    )
    _created_by_id: strawberry.Private[int | None]
    _last_error: strawberry.Private[str | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id,
            name=row.name,
            queue=row.queue,
            status=JobStatus(row.status),
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            progress=row.progress,
            result=public_result(row.name, row.result),
            _last_error=row.last_error,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            _created_by_id=row.created_by_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await load_visible(
            info.context.loaders.job_by_id,
            node_ids,
            lambda viewer, row: visibility.may_see_job(viewer, row.created_by_id),
            info.context.viewer,
            cls.from_row,
        )

    @strawberry.field(
        description="The file it produced (an export, a bulk query's JSON Lines) once it "
        "succeeded; null for anyone but who asked for it, and once the file has expired."
    )
    async def file(
        self, info: Info
    ) -> Annotated[ExportFile, strawberry.lazy("alumnet.schema.data.types")] | None:
        from alumnet.schema.data.types import produced_file

        return await produced_file(info, self.result)

    @strawberry.field(
        description="The error of the last failed attempt: its type and message, no stack "
        "trace. The message may quote what the job worked on, so only whoever asked for the "
        "job and holders of `audit:read` see it; other job readers see the type alone."
    )
    def last_error(self, info: Info) -> str | None:
        if self._last_error is None or visibility.may_read_job_error(
            info.context.viewer, self._created_by_id
        ):
            return self._last_error
        return error_type(self._last_error)

    @strawberry.field(description="Who asked for it; null when the system did.")
    async def created_by(self, info: Info) -> User | None:
        if self._created_by_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self._created_by_id)
        if row is None or not visibility.may_see_user(info.context.viewer, row.id):
            return None
        return User.from_row(row)


@strawberry.type(description="Background jobs, a page at a time.")
class JobConnection(CountedConnection[Job]):
    pass


async def job_node(info: Info, job_id: int | None) -> Job | None:
    """A job a mutation started, if the viewer may see it (as `node(id:)` decides)."""
    if job_id is None:
        return None
    return (await Job.resolve_nodes(info=info, node_ids=[str(job_id)]))[0]
