"""Relay connections with keyset cursors, ``totalCount`` and a hard page maximum.

A list resolver returns a ``KeysetQuery`` (the filtered SELECT and its sort keys); the
connection type turns it into one page with a single SQL statement, and counts only if
``totalCount`` is asked for.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, Self, TypeVar

import orjson
import strawberry
from sqlalchemy import ColumnElement, Row, Select, and_, func, or_, select
from strawberry import relay

from alumnet.schema.errors import bad_input

DEFAULT_PAGE = 50
MAX_PAGE = 1000
CURSOR_PREFIX = "k1:"

N = TypeVar("N", bound=relay.Node)


@strawberry.enum(description="Which way a list is sorted.")
class SortDirection(Enum):
    ASC = strawberry.enum_value("ASC", description="Smallest (or earliest, or A) first.")
    DESC = strawberry.enum_value("DESC", description="Largest (or latest, or Z) first.")


@dataclass(frozen=True)
class SortKey:
    column: Any  # a column or ORM attribute
    descending: bool = False
    is_datetime: bool = False


class KeysetQuery(Iterable[N]):
    """What a list resolver returns: a query to be paginated, not rows."""

    def __init__(
        self,
        query: Any,
        sort: Sequence[SortKey],
        to_node: Callable[[Row[Any]], N],
        database: Any,
    ) -> None:
        self.query: Select[Any] = query
        self.sort = list(sort)
        self.to_node = to_node
        self.database = database

    def __iter__(self) -> Iterator[N]:
        raise TypeError("KeysetQuery is paginated by its connection, not iterated")


def _encode(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = CURSOR_PREFIX + orjson.dumps(plain).decode()
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(cursor: str, sort: list[SortKey]) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not raw.startswith(CURSOR_PREFIX):
            raise ValueError
        values = orjson.loads(raw[len(CURSOR_PREFIX) :])
        if not isinstance(values, list) or len(values) != len(sort):
            raise ValueError
        return [
            datetime.fromisoformat(v) if key.is_datetime and isinstance(v, str) else v
            for key, v in zip(sort, values, strict=True)
        ]
    except (ValueError, binascii.Error, UnicodeDecodeError, orjson.JSONDecodeError) as exc:
        raise bad_input("This cursor is not valid for this list; start again without it.") from exc


def _after(sort: list[SortKey], values: list[Any], *, backwards: bool) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the (possibly reversed) sort order."""
    clauses = []
    for i, key in enumerate(sort):
        equal = [sort[j].column == values[j] for j in range(i)]
        ascending = key.descending == backwards
        step = key.column > values[i] if ascending else key.column < values[i]
        clauses.append(and_(*equal, step))
    return or_(*clauses)


def _order(sort: list[SortKey], *, backwards: bool) -> list[Any]:
    return [(k.column.asc() if k.descending == backwards else k.column.desc()) for k in sort]


@strawberry.type(description="A page of a list, with its cursors and the size of the whole list.")
class CountedConnection(relay.Connection[N], Generic[N]):
    _count_query: strawberry.Private[Select[Any] | None] = None
    _database: strawberry.Private[Any] = None

    @strawberry.field(description="How many items the whole list has, across all pages.")
    async def total_count(self) -> int:
        if self._count_query is None or self._database is None:
            return len(self.edges)
        async with self._database.connect() as conn:
            return int((await conn.execute(self._count_query)).scalar_one())

    @classmethod
    async def resolve_connection(  # type: ignore[override]
        cls,
        nodes: KeysetQuery[N],
        *,
        info: strawberry.Info,
        before: str | None = None,
        after: str | None = None,
        first: int | None = None,
        last: int | None = None,
        max_results: int | None = None,
        **kwargs: Any,
    ) -> Self:
        if first is not None and last is not None:
            raise bad_input("Ask for `first` or `last`, not both.")
        limit_max = max_results or MAX_PAGE
        for name, value in (("first", first), ("last", last)):
            if value is not None and (value < 0 or value > limit_max):
                raise bad_input(f"`{name}` must be between 0 and {limit_max}.")
        backwards = last is not None or (before is not None and first is None)
        size = (last if backwards else first) or DEFAULT_PAGE
        if (last if backwards else first) == 0:
            size = 0
        cursor = before if backwards else after
        query = nodes.query
        sort = nodes.sort
        if cursor:
            query = query.where(_after(sort, _decode(cursor, sort), backwards=backwards))
        query = query.order_by(*_order(sort, backwards=backwards)).limit(size + 1)
        async with nodes.database.connect() as conn:
            rows = (await conn.execute(query)).all() if size else []
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        edges = [
            relay.Edge(
                cursor=_encode([getattr(row, key.column.key) for key in sort]),  # type: ignore[attr-defined]
                node=nodes.to_node(row),
            )
            for row in rows
        ]
        page_info = relay.PageInfo(
            has_next_page=more if not backwards else before is not None,
            has_previous_page=more if backwards else after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        )
        count_query = select(func.count()).select_from(nodes.query.order_by(None).subquery())
        return cls(
            edges=edges,
            page_info=page_info,
            _count_query=count_query,
            _database=nodes.database,
        )
