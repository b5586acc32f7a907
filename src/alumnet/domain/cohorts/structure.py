"""Batches and the missions inside them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func, select

from alumnet.domain.engagement import certificates
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Reach, Viewer
from alumnet.persistence.models import Batch, Mission
from alumnet.persistence.uow import UnitOfWork

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
BATCH_STATUSES = ("active", "archived")
MISSION_STATUSES = ("draft", "active", "completed")
NAME_MAX = 200
DESCRIPTION_MAX = 10_000


def _code(problems: Problems, code: str | None) -> str | None:
    if code is None:
        return None
    cleaned = code.strip().upper()
    if not CODE_RE.match(cleaned):
        problems.add(
            "INVALID_CODE",
            "A code is 1 to 32 letters, digits, '-' or '_', starting with a letter or digit.",
            "code",
        )
    return cleaned


def _dates(problems: Problems, starts: date | None, ends: date | None) -> None:
    if starts is not None and ends is not None and ends < starts:
        problems.add("DATES_OUT_OF_ORDER", "The end date is before the start date.", "endsOn")


@dataclass(frozen=True)
class BatchChanges:
    name: str | None = None
    code: str | None = None
    description: str | None = None
    starts_on: date | None = None
    ends_on: date | None = None


async def _batch_code_taken(uow: UnitOfWork, code: str, except_id: int | None = None) -> bool:
    query = select(func.count()).select_from(Batch).where(Batch.code == code)
    if except_id is not None:
        query = query.where(Batch.id != except_id)
    return bool((await uow.session.execute(query)).scalar_one())


async def create_batch(uow: UnitOfWork, viewer: Viewer, data: BatchChanges) -> Batch:
    viewer.require(Permission.COHORTS_MANAGE)
    problems = Problems()
    name = check_text(
        problems, data.name or "", field="name", max_length=NAME_MAX, min_length=1, label="Name"
    )
    code = _code(problems, data.code or "")
    description = check_text(
        problems,
        data.description or "",
        field="description",
        max_length=DESCRIPTION_MAX,
        label="Description",
    )
    if data.starts_on is None:
        problems.add("REQUIRED", "The start date is required.", "startsOn")
    if data.ends_on is None:
        problems.add("REQUIRED", "The end date is required.", "endsOn")
    _dates(problems, data.starts_on, data.ends_on)
    problems.raise_if_any()
    assert code is not None
    assert data.starts_on is not None
    assert data.ends_on is not None
    if await _batch_code_taken(uow, code):
        raise DomainError.of("CODE_TAKEN", f"Another batch has the code {code}.", "code")
    batch = Batch(
        name=name,
        code=code,
        description=description or "",
        status="active",
        starts_on=data.starts_on,
        ends_on=data.ends_on,
    )
    uow.session.add(batch)
    await uow.session.flush()
    audit.record(
        uow, "batch.create", object_type="Batch", object_ids=[batch.id], details={"code": code}
    )
    return batch


async def _batch(uow: UnitOfWork, batch_id: int) -> Batch:
    batch = await uow.session.get(Batch, batch_id)
    if batch is None:
        raise DomainError.of("NOT_FOUND", "No such batch.", "id")
    return batch


async def update_batch(uow: UnitOfWork, viewer: Viewer, batch_id: int, data: BatchChanges) -> Batch:
    viewer.require_somewhere(Permission.COHORTS_MANAGE)
    batch = await _batch(uow, batch_id)
    viewer.require(Permission.COHORTS_MANAGE, within=Reach(batch_id=batch.id))
    problems = Problems()
    name = check_text(
        problems, data.name, field="name", max_length=NAME_MAX, min_length=1, label="Name"
    )
    code = _code(problems, data.code)
    description = check_text(
        problems,
        data.description,
        field="description",
        max_length=DESCRIPTION_MAX,
        label="Description",
    )
    _dates(problems, data.starts_on or batch.starts_on, data.ends_on or batch.ends_on)
    problems.raise_if_any()
    if code is not None and code != batch.code and await _batch_code_taken(uow, code, batch.id):
        raise DomainError.of("CODE_TAKEN", f"Another batch has the code {code}.", "code")
    changed = _apply(
        batch,
        {
            "name": name,
            "code": code,
            "description": description,
            "starts_on": data.starts_on,
            "ends_on": data.ends_on,
        },
    )
    if changed:
        batch.updated_at = datetime.now(UTC)
        audit.record(
            uow,
            "batch.update",
            object_type="Batch",
            object_ids=[batch.id],
            details={"changed": changed},
        )
    return batch


def _apply(target: object, values: dict[str, object]) -> list[str]:
    changed = []
    for key, value in values.items():
        if value is not None and getattr(target, key) != value:
            setattr(target, key, value)
            changed.append(key)
    return sorted(changed)


async def archive_batch(uow: UnitOfWork, viewer: Viewer, batch_id: int) -> Batch:
    viewer.require_somewhere(Permission.COHORTS_MANAGE)
    batch = await _batch(uow, batch_id)
    viewer.require(Permission.COHORTS_MANAGE, within=Reach(batch_id=batch.id))
    if batch.status != "archived":
        batch.status = "archived"
        batch.archived_at = datetime.now(UTC)
        batch.updated_at = batch.archived_at
        audit.record(uow, "batch.archive", object_type="Batch", object_ids=[batch.id])
    return batch


@dataclass(frozen=True)
class MissionChanges:
    batch_id: int | None = None
    title: str | None = None
    code: str | None = None
    description: str | None = None
    status: str | None = None
    starts_on: date | None = None
    ends_on: date | None = None


async def _mission_code_taken(uow: UnitOfWork, code: str, except_id: int | None = None) -> bool:
    query = select(func.count()).select_from(Mission).where(Mission.code == code)
    if except_id is not None:
        query = query.where(Mission.id != except_id)
    return bool((await uow.session.execute(query)).scalar_one())


def _within_batch(problems: Problems, batch: Batch, starts: date, ends: date) -> None:
    if starts < batch.starts_on or ends > batch.ends_on:
        problems.add(
            "OUTSIDE_BATCH_DATES",
            f"A mission of batch {batch.code} must run within {batch.starts_on.isoformat()} "
            f"and {batch.ends_on.isoformat()}.",
            "startsOn" if starts < batch.starts_on else "endsOn",
        )


async def create_mission(uow: UnitOfWork, viewer: Viewer, data: MissionChanges) -> Mission:
    viewer.require_somewhere(Permission.COHORTS_MANAGE)
    if data.batch_id is None:
        raise DomainError.of("NOT_FOUND", "No such batch.", "batchId")
    batch = await uow.session.get(Batch, data.batch_id)
    if batch is None:
        raise DomainError.of("NOT_FOUND", "No such batch.", "batchId")
    viewer.require(Permission.COHORTS_MANAGE, within=Reach(batch_id=batch.id))
    problems = Problems()
    if batch.status == "archived":
        problems.add("BATCH_ARCHIVED", "The batch is archived.", "batchId")
    title = check_text(
        problems, data.title or "", field="title", max_length=NAME_MAX, min_length=1, label="Title"
    )
    code = _code(problems, data.code or "")
    description = check_text(
        problems,
        data.description or "",
        field="description",
        max_length=DESCRIPTION_MAX,
        label="Description",
    )
    status = data.status or "draft"
    starts = data.starts_on or batch.starts_on
    ends = data.ends_on or batch.ends_on
    _dates(problems, starts, ends)
    _within_batch(problems, batch, starts, ends)
    problems.raise_if_any()
    assert code is not None
    if await _mission_code_taken(uow, code):
        raise DomainError.of("CODE_TAKEN", f"Another mission has the code {code}.", "code")
    mission = Mission(
        batch_id=batch.id,
        title=title,
        code=code,
        description=description or "",
        status=status,
        starts_on=starts,
        ends_on=ends,
        completed_at=datetime.now(UTC) if status == "completed" else None,
    )
    uow.session.add(mission)
    await uow.session.flush()
    audit.record(
        uow,
        "mission.create",
        object_type="Mission",
        object_ids=[mission.id],
        details={"code": code, "batch": batch.id},
    )
    return mission


async def update_mission(
    uow: UnitOfWork, viewer: Viewer, mission_id: int, data: MissionChanges
) -> Mission:
    viewer.require_somewhere(Permission.COHORTS_MANAGE)
    mission = await uow.session.get(Mission, mission_id)
    if mission is None:
        raise DomainError.of("NOT_FOUND", "No such mission.", "id")
    viewer.require(
        Permission.COHORTS_MANAGE, within=Reach(batch_id=mission.batch_id, mission_id=mission.id)
    )
    batch = await uow.session.get(Batch, mission.batch_id)
    assert batch is not None
    problems = Problems()
    title = check_text(
        problems, data.title, field="title", max_length=NAME_MAX, min_length=1, label="Title"
    )
    code = _code(problems, data.code)
    description = check_text(
        problems,
        data.description,
        field="description",
        max_length=DESCRIPTION_MAX,
        label="Description",
    )
    starts = data.starts_on or mission.starts_on
    ends = data.ends_on or mission.ends_on
    _dates(problems, starts, ends)
    _within_batch(problems, batch, starts, ends)
    problems.raise_if_any()
    if (
        code is not None
        and code != mission.code
        and await _mission_code_taken(uow, code, mission.id)
    ):
        raise DomainError.of("CODE_TAKEN", f"Another mission has the code {code}.", "code")
    changed = _apply(
        mission,
        {
            "title": title,
            "code": code,
            "description": description,
            "status": data.status,
            "starts_on": data.starts_on,
            "ends_on": data.ends_on,
        },
    )
    if changed:
        mission.updated_at = datetime.now(UTC)
        if "status" in changed:
            mission.completed_at = mission.updated_at if mission.status == "completed" else None
            if mission.status == "completed":
                await certificates.on_completed(uow, mission.id)
        audit.record(
            uow,
            "mission.update",
            object_type="Mission",
            object_ids=[mission.id],
            details={"changed": changed},
        )
    return mission
