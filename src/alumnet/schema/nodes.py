"""Helpers for Relay nodes: id parsing and visibility-checked loading."""

from __future__ import annotations

import binascii
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Row, select
from strawberry import relay
from strawberry.dataloader import DataLoader

from alumnet.domain.identity.permissions import Viewer

T = TypeVar("T")


@lru_cache(maxsize=100_000)
def global_id(type_name: str, pk: int) -> str:
    """The Relay global id: base64 of "Type:pk" (as Strawberry encodes it), memoised."""
    return binascii.b2a_base64(f"{type_name}:{pk}".encode(), newline=False).decode()


def int_ids(node_ids: Iterable[str]) -> list[int | None]:
    parsed: list[int | None] = []
    for raw in node_ids:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            parsed.append(None)
            continue
        parsed.append(value if 0 < value < 2**63 else None)
    return parsed


def global_pk(gid: relay.GlobalID | None, type_name: str) -> int | None:
    """The primary key behind a global id of the expected type, else None."""
    if gid is None or gid.type_name != type_name:
        return None
    (value,) = int_ids([gid.node_id])
    return value


def optional_gid(type_name: str, pk: int | None) -> relay.GlobalID | None:
    """The global id of an optional link (None when there is none)."""
    return relay.GlobalID(type_name, str(pk)) if pk is not None else None


async def user_names(reads: Any, ids: Any) -> list[str | None]:
    """A dataloader batch: the names of these users (None for one that is gone), for
    fields that name a person the viewer need not be able to open (a recorder, an
    assignee, a referee)."""
    from alumnet.persistence.models import User

    async with reads.connect() as conn:
        rows = await conn.execute(select(User.id, User.name).where(User.id.in_(list(ids))))
        found = {int(i): str(n) for i, n in rows.all()}
    return [found.get(i) for i in ids]


def optional_pk(gid: relay.GlobalID | None, type_name: str) -> int | None:
    """The key behind an optional id argument: None if not given, -1 if it names nothing
    of that type (which the domain then answers NOT_FOUND)."""
    if gid is None:
        return None
    pk = global_pk(gid, type_name)
    return pk if pk is not None else -1


async def load_visible(
    loader: DataLoader[int, Row[Any] | None],
    node_ids: Iterable[str],
    visible: Callable[[Viewer, Row[Any]], bool],
    viewer: Viewer,
    build: Callable[[Row[Any]], T],
) -> list[T | None]:
    ids = int_ids(node_ids)
    rows = await loader.load_many([i for i in ids if i is not None])
    by_id = {row.id: row for row in rows if row is not None}
    out: list[T | None] = []
    for i in ids:
        row = by_id.get(i) if i is not None else None
        out.append(build(row) if row is not None and visible(viewer, row) else None)
    return out


async def readable_rows(info: Any, table: Any, ids: list[int | None], *where: Any) -> Any:
    """The rows of ``table`` among ``ids`` that meet the viewer's conditions (None: no
    condition), by id, in one statement; none for an anonymous viewer."""
    wanted = [i for i in ids if i]
    if not wanted or not info.context.viewer.is_authenticated:
        return {}
    conditions = [c for c in where if c is not None]
    query = select(table).where(table.c.id.in_(wanted), *conditions)
    async with info.context.reads.connect() as conn:
        return {row.id: row for row in (await conn.execute(query)).all()}


async def visible_user(info: Any, user_id: int | None) -> Any:
    """A user reached through another object's field: the user if the viewer may see
    them (the rules of `node(id:)`), else None."""
    from alumnet.schema.identity.types import User

    if user_id is None:
        return None
    return (await User.resolve_nodes(info=info, node_ids=[str(user_id)]))[0]


async def enrollment_object(info: Any, enrollment_id: int) -> Any:
    """The enrolment behind an object the viewer may already see (its attendance, a
    decision, a call list entry): loaded, not checked again."""
    from alumnet.schema.cohorts.types import Enrollment

    row = await info.context.loaders.enrollment_by_id.load(enrollment_id)
    return Enrollment.from_row(row) if row is not None else None
