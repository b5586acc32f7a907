"""A mission's resources: documents (uploaded files) and https links, each with a title and
a folder. Staff who run engagement and the mission's mentors add them; the mission's
active students, its mentors and staff read them; a restricted student (banned or
delisted) does not, as with notices. A file is read through a short link signed for the
reader, checked again when it is used (``may_read_file``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, false, func, or_, select

from alumnet.domain.cohorts import access
from alumnet.domain.cohorts.access import taking_part
from alumnet.domain.data import files
from alumnet.domain.engagement.assignments import Upload
from alumnet.domain.engagement.common import mentors_mission
from alumnet.domain.errors import DomainError, Problems, check_label
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.people.profiles import check_url
from alumnet.persistence.db import Reader
from alumnet.persistence.mentoring import mentored_missions
from alumnet.persistence.models import Enrollment, Mission, Resource, StoredFile
from alumnet.persistence.uow import UnitOfWork

TITLE_MAX = 200
FOLDER_MAX = 100
PER_MISSION_MAX = 500


@dataclass(frozen=True)
class ResourceChanges:
    """What to set; None leaves a value as it is (on create: title is required)."""

    title: str | None = None
    folder: str | None = None
    url: str | None = None


def readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """A condition on ``Resource``: the viewer may read it (None: every resource). Staff who
    read cohorts, the mission's mentors (either kind) and its active students."""
    if viewer.can(Permission.COHORTS_READ):
        return None
    if viewer.user_id is None:
        return false()
    me = viewer.user_id
    active = select(Enrollment.mission_id).where(Enrollment.student_id == me, taking_part())
    coordinated = access.coordinated_mission_ids(viewer)
    return or_(
        Resource.mission_id.in_(mentored_missions(me)),
        Resource.mission_id.in_(active),
        *([Resource.mission_id.in_(coordinated)] if coordinated is not None else []),
    )


async def _may_manage(uow: UnitOfWork, viewer: Viewer, mission_id: int) -> None:
    viewer.require_user()
    if await access.can_in_mission(
        uow.session, viewer, Permission.ENGAGEMENT_MANAGE, mission_id
    ) or await mentors_mission(uow, viewer, mission_id):
        return
    raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")


def _checked(problems: Problems, changes: ResourceChanges) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if changes.title is not None:
        title = check_label(
            problems, changes.title, field="title", max_length=TITLE_MAX, label="A title"
        )
        if not title:
            problems.add("REQUIRED", "Give the resource a title.", "title")
        values["title"] = title
    if changes.folder is not None:
        values["folder"] = check_label(
            problems, changes.folder, field="folder", max_length=FOLDER_MAX, label="A folder"
        )
    if changes.url is not None:
        values["url"] = check_url(problems, changes.url, "url", https_only=True)
    return values


async def create(
    uow: UnitOfWork,
    viewer: Viewer,
    mission_id: int,
    changes: ResourceChanges,
    upload: Upload | None,
    upload_limit: int,
) -> Resource:
    """A link (``changes.url``) or a file (``upload``), never both."""
    viewer.require_user()
    mission = await uow.session.get(Mission, mission_id)
    if mission is None:
        raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    await _may_manage(uow, viewer, mission_id)
    problems = Problems()
    values = _checked(problems, changes)
    if changes.title is None:
        problems.add("REQUIRED", "Give the resource a title.", "title")
    if (changes.url is None) == (upload is None):
        problems.add("REQUIRED" if upload is None else "INVALID",
                     "Give either a link or a file.", "url")  # fmt: skip
    problems.raise_if_any()
    received = await files.receive(upload.name, upload.read, upload_limit) if upload else None
    try:
        # Serialised per mission (its row locked), so the cap holds under concurrent adds.
        await uow.session.execute(
            select(Mission.id).where(Mission.id == mission_id).with_for_update()
        )
        count = await uow.session.execute(
            select(func.count()).where(Resource.mission_id == mission_id)
        )
        if int(count.scalar_one()) >= PER_MISSION_MAX:
            raise DomainError.of(
                "TOO_MANY", f"A mission has at most {PER_MISSION_MAX} resources.", "missionId"
            )
        stored = None
        if received is not None:
            # Nobody's file: it stays with the mission when its author's account goes.
            stored = await files.store_received(
                uow.session, received, owner_id=None, expires_in=None
            )
        now = datetime.now(UTC)
        resource = Resource(
            mission_id=mission_id, title=values["title"], folder=values.get("folder", ""),
            url=values.get("url"), file_id=stored.id if stored else None,
            created_by_id=viewer.user_id, created_at=now, updated_at=now,
        )  # fmt: skip
        uow.session.add(resource)
        await uow.session.flush()
    finally:
        if received is not None:
            received.close()
    audit.record(
        uow, "resource.create", object_type="Resource", object_ids=[resource.id],
        details={"mission": mission_id, "kind": "file" if stored else "link"},
    )  # fmt: skip
    return resource


async def _editable(uow: UnitOfWork, viewer: Viewer, resource_id: int) -> Resource:
    """Staff who run engagement, or its author while they still mentor the mission."""
    viewer.require_user()
    resource = await uow.session.get(Resource, resource_id, with_for_update=True)
    if resource is not None:
        if await access.can_in_mission(
            uow.session, viewer, Permission.ENGAGEMENT_MANAGE, resource.mission_id
        ):
            return resource
        if resource.created_by_id == viewer.user_id and await mentors_mission(
            uow, viewer, resource.mission_id
        ):
            return resource
    raise DomainError.of("NOT_FOUND", "No such resource.", "id")


async def update(
    uow: UnitOfWork, viewer: Viewer, resource_id: int, changes: ResourceChanges
) -> Resource:
    resource = await _editable(uow, viewer, resource_id)
    problems = Problems()
    values = _checked(problems, changes)
    if "url" in values and resource.file_id is not None:
        problems.add("INVALID", "A file stays a file: add a link as a new resource.", "url")
    problems.raise_if_any()
    changed = {k: v for k, v in values.items() if getattr(resource, k) != v}
    if changed:
        for name, value in changed.items():
            setattr(resource, name, value)
        resource.updated_at = datetime.now(UTC)
        audit.record(
            uow, "resource.update", object_type="Resource", object_ids=[resource.id],
            details={"changed": sorted(changed)},
        )  # fmt: skip
    await uow.session.flush()
    return resource


async def delete(uow: UnitOfWork, viewer: Viewer, resource_id: int) -> int:
    """Gone for everyone; its file expires now (the nightly clean-up deletes it)."""
    resource = await _editable(uow, viewer, resource_id)
    if resource.file_id is not None:
        await uow.session.execute(
            sa.update(StoredFile)
            .where(StoredFile.id == resource.file_id)
            .values(expires_at=datetime.now(UTC))
        )
    mission_id = resource.mission_id
    await uow.session.delete(resource)
    audit.record(
        uow, "resource.delete", object_type="Resource", object_ids=[resource_id],
        details={"mission": mission_id},
    )  # fmt: skip
    await uow.session.flush()
    return mission_id


async def may_read_file(db: Reader, viewer: Viewer, file_id: int) -> bool:
    """Whether the viewer may still read the resource this file belongs to: checked each
    time a link to it is used, so a link outlives no one's access."""
    query = select(Resource.id).where(Resource.file_id == file_id)
    condition = readable(viewer)
    if condition is not None:
        query = query.where(condition)
    async with db.connect() as conn:
        return (await conn.execute(query.limit(1))).first() is not None
