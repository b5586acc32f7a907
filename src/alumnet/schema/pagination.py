"""Relay connections with keyset cursors, ``totalCount`` and a hard page maximum.

A list resolver returns a ``KeysetQuery`` (the filtered SELECT and its sort keys); the
connection type turns it into one page with a single SQL statement, and counts only if
``totalCount`` is asked for.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from functools import partial
from typing import Any, ClassVar, Generic, Self, TypeVar

import orjson
import strawberry
from graphql import get_named_type
from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    Text,
    and_,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from strawberry import relay
from strawberry.dataloader import DataLoader
from strawberry.types.nodes import SelectedField

from alumnet.schema import fastpath
from alumnet.schema.errors import bad_input

DEFAULT_PAGE = 50
MAX_PAGE = 1000
CURSOR_PREFIX = "k1:"

N = TypeVar("N", bound=relay.Node)


@strawberry.enum(description="Which way a list is sorted.")
class SortDirection(Enum):
    ASC = strawberry.enum_value("ASC", description="Smallest (or earliest, or A) first.")
    DESC = strawberry.enum_value("DESC", description="Largest (or latest, or Z) first.")


def descending(direction: SortDirection | None, natural: SortDirection) -> bool:
    """Whether an ``orderBy`` sorts largest first: its ``direction``, or else the natural
    direction of its field (best matches, newest and most points first; names A first)."""
    return (direction or natural) == SortDirection.DESC


ORDER_DIRECTION_DESCRIPTION = (
    "Ascending or descending; by default, the field's natural direction (said for each field)."
)


@dataclass(frozen=True)
class SortKey:
    column: Any  # a column or ORM attribute
    descending: bool = False
    attr: str | None = None  # the row attribute holding it, when selected under a label

    @property
    def name(self) -> str:
        return self.attr or str(self.column.key)

    def parse(self, value: Any) -> Any:
        """A cursor value back to the column's Python type; ValueError if it is not one."""
        # A TypeDecorator (UTCDateTime) reports `object`; its implementation knows.
        column_type = self.column.type
        kind = getattr(column_type, "impl_instance", column_type).python_type
        if kind is datetime:
            if not isinstance(value, str):
                raise ValueError
            moment = datetime.fromisoformat(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if kind is date:
            if not isinstance(value, str):
                raise ValueError
            return date.fromisoformat(value)
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError
            return float(value)
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
                raise ValueError
            return value
        if kind is str:
            if not isinstance(value, str) or "\x00" in value:
                raise ValueError
            return value
        raise ValueError


class KeysetQuery(Iterable[N]):
    """What a list resolver returns: a query to be paginated, not rows.

    A nested list (one per parent object, e.g. each user's tokens) names its parent with
    ``partition=(column, parent_id)`` and a ``batch_key`` saying which list it is: the
    pages of every parent in the response are then fetched together, in one statement
    (a window function per parent), and counted together in another.
    """

    def __init__(
        self,
        query: Any,
        sort: Sequence[SortKey],
        to_node: Callable[[Row[Any]], N],
        database: Any,
        *,
        partition: tuple[Any, int] | None = None,
        batch_key: Hashable | None = None,
        prefetch: Prefetch | None = None,
        fallback: Callable[[], KeysetQuery[N]] | None = None,
    ) -> None:
        self.query: Select[Any] = query
        self.sort = list(sort)
        self.to_node = to_node
        self.database = database
        self.partition = partition
        self.batch_key = batch_key
        # Fills a relation on every node of the page at once (one await, not one per node).
        self.prefetch = prefetch
        if partition is not None and batch_key is None:
            raise ValueError("a partitioned KeysetQuery needs a batch_key")
        # Makes the list to page instead when this one is empty (a search that forgives
        # misspellings only when nothing matches as written); not for nested lists.
        self.fallback = fallback
        if partition is not None and fallback is not None:
            raise ValueError("a partitioned KeysetQuery cannot have a fallback")

    def without_fallback(self) -> KeysetQuery[N]:
        return KeysetQuery(
            self.query, self.sort, self.to_node, self.database, prefetch=self.prefetch
        )

    async def any(self) -> bool:
        async with self.database.connect() as conn:
            found = await conn.execute(self.query.order_by(None).limit(1))
            return found.first() is not None

    def __iter__(self) -> Iterator[N]:
        raise TypeError("KeysetQuery is paginated by its connection, not iterated")


Prefetch = Callable[[strawberry.Info, list[Any]], Awaitable[None]]


def selects(info: strawberry.Info, *path: str) -> bool:
    """Whether the current field's selection reaches ``path`` (through any fragments)."""

    def walk(selections: Sequence[Any], rest: tuple[str, ...]) -> bool:
        for selection in selections:
            if isinstance(selection, SelectedField):
                if selection.name == rest[0] and (
                    len(rest) == 1 or walk(selection.selections, rest[1:])
                ):
                    return True
            elif walk(selection.selections, rest):  # inline fragment or fragment spread
                return True
        return False

    return any(walk(field.selections, path) for field in info.selected_fields)


def _encode(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, date) else v for v in values]
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
        return [key.parse(v) for key, v in zip(sort, values, strict=True)]
    except (
        ValueError,
        TypeError,
        OverflowError,
        binascii.Error,
        UnicodeDecodeError,
        orjson.JSONDecodeError,
    ) as exc:
        raise bad_input("This cursor is not valid for this list; start again without it.") from exc


def _after(sort: list[SortKey], values: list[Any], *, backwards: bool) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the (possibly reversed) sort order."""
    clauses = []
    for i, key in enumerate(sort):
        # Bound as typed parameters: SQLAlchemy refuses `<` against a bare True or False.
        equal = [sort[j].column == literal(values[j], sort[j].column.type) for j in range(i)]
        ascending = key.descending == backwards
        value = literal(values[i], key.column.type)
        step = key.column > value if ascending else key.column < value
        clauses.append(and_(*equal, step))
    return or_(*clauses)


def _order(sort: list[SortKey], *, backwards: bool) -> list[Any]:
    return [(k.column.asc() if k.descending == backwards else k.column.desc()) for k in sort]


@dataclass(frozen=True)
class _Window:
    cursor: tuple[Any, ...] | None
    size: int
    backwards: bool


# Extra columns computed from a page's columns (by name), e.g. each node's JSON: a page
# fetched with them carries only its sort keys (and parent) besides.
Columns = Callable[[Any], list[Any]]


def _only(query: Select[Any], source: Any, names: list[str], columns: Columns) -> Select[Any]:
    kept = [source[name] for name in dict.fromkeys(names)]
    return query.with_only_columns(*kept, *columns(source), maintain_column_froms=True)


async def _fetch_page(
    nodes: KeysetQuery[Any],
    window: _Window,
    query: Select[Any] | None = None,
    columns: Columns | None = None,
) -> list[Row[Any]]:
    query = nodes.query if query is None else query
    if window.cursor is not None:
        query = query.where(_after(nodes.sort, list(window.cursor), backwards=window.backwards))
    # The limit is written into the statement: PostgreSQL's generic plan for a prepared
    # statement with a bound limit sorts the whole list even for a short page.
    limit = literal_column(str(int(window.size) + 1), Integer)
    query = query.order_by(*_order(nodes.sort, backwards=window.backwards)).limit(limit)
    if columns is not None:
        query = _only(query, query.selected_columns, [k.name for k in nodes.sort], columns)
    async with nodes.database.connect() as conn:
        return list((await conn.execute(query)).all())


def _with_total(columns: Columns, query: Select[Any]) -> Columns:
    """``columns``, and how many rows ``query`` has, as ``_total``: an uncorrelated
    subquery, which PostgreSQL runs once (a window count would build every row's JSON
    before the limit)."""
    total = select(func.count()).select_from(query.order_by(None).subquery()).scalar_subquery()
    return lambda source: [*columns(source), total.label("_total")]


async def _fetch_pages(
    nodes: KeysetQuery[Any],
    window: _Window,
    parents: Sequence[int],
    columns: Columns | None = None,
    counted: bool = False,
) -> list[list[Row[Any]]]:
    """The page of each parent, in one statement; ``counted`` (with ``columns``, on a
    first page): each row also carries its parent's whole count as ``_total``."""
    assert nodes.partition is not None
    column = nodes.partition[0]
    if len(parents) == 1:
        # One parent (the usual `node(id:) { … list }`): a plain keyset page is cheaper.
        query = nodes.query.where(column == parents[0])
        if counted and columns is not None:
            columns = _with_total(columns, query)
        return [await _fetch_page(nodes, window, query, columns)]
    query = nodes.query.where(column.in_(list(parents)))
    if window.cursor is not None:
        query = query.where(_after(nodes.sort, list(window.cursor), backwards=window.backwards))
    extra = [func.count().over(partition_by=column).label("_total")] if counted else []
    ranked = query.add_columns(
        func.row_number()
        .over(partition_by=column, order_by=_order(nodes.sort, backwards=window.backwards))
        .label("_page_rank"),
        *extra,
    ).subquery()
    paged = (
        select(ranked)
        .where(ranked.c._page_rank <= window.size + 1)
        .order_by(ranked.c[column.key], ranked.c._page_rank)
    )
    if columns is not None:
        names = [column.key, *(k.name for k in nodes.sort), *(["_total"] if counted else [])]
        paged = _only(paged, ranked.c, names, columns)
    async with nodes.database.connect() as conn:
        rows = (await conn.execute(paged)).all()
    grouped: dict[int, list[Row[Any]]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, column.key)].append(row)
    return [grouped.get(parent, []) for parent in parents]


async def _count_pages(nodes: KeysetQuery[Any], parents: Sequence[int]) -> list[int]:
    assert nodes.partition is not None
    column = nodes.partition[0]
    inner = nodes.query.where(column.in_(list(parents))).subquery()
    query = select(inner.c[column.key], func.count()).group_by(inner.c[column.key])
    async with nodes.database.connect() as conn:
        counts = {parent: int(n) for parent, n in (await conn.execute(query)).all()}
    return [counts.get(parent, 0) for parent in parents]


def batch_loader(
    info: strawberry.Info, key: Hashable, load: Callable[..., Any]
) -> DataLoader[int, Any]:
    """The request's loader for ``key``, made on first use (nested lists, object loaders)."""
    loaders = info.context.loaders.batches
    if key not in loaders:
        loaders[key] = DataLoader(load_fn=load)
    return loaders[key]  # type: ignore[no-any-return]


def reads_loader(
    info: strawberry.Info, key: Hashable, load: Callable[..., Any]
) -> DataLoader[Any, Any]:
    """The request's loader for ``key`` around ``load(reads, keys)`` (its reads connection
    given first), made on first use."""
    return batch_loader(info, key, partial(load, info.context.reads))


@strawberry.type(description="A page of a list, with its cursors and the size of the whole list.")
class CountedConnection(relay.Connection[N], Generic[N]):
    _nodes: strawberry.Private[KeysetQuery[Any] | None] = None
    _info: strawberry.Private[Any] = None
    # Counted with the first page itself (count(*) OVER ()), when that page was fetched.
    _total: strawberry.Private[int | None] = None

    @strawberry.field(description="How many items the whole list has, across all pages.")
    async def total_count(self) -> int:
        nodes = self._nodes
        if nodes is None:
            return len(self.edges)
        if self._total is not None:
            return self._total
        if nodes.partition is not None:
            parent = nodes.partition[1]
            loader = batch_loader(
                self._info, ("count", nodes.batch_key), partial(_count_pages, nodes)
            )
            return int(await loader.load(parent))
        count = select(func.count()).select_from(nodes.query.order_by(None).subquery())
        async with nodes.database.connect() as conn:
            return int((await conn.execute(count)).scalar_one())

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
        if after is not None and before is not None:
            raise bad_input("Give `after` or `before`, not both.")
        if (last is not None and after is not None) or (first is not None and before is not None):
            raise bad_input("Page forwards with `first`/`after` or backwards with `last`/`before`.")
        limit_max = max_results or MAX_PAGE
        for name, value in (("first", first), ("last", last)):
            if value is not None and (value < 0 or value > limit_max):
                raise bad_input(f"`{name}` must be between 0 and {limit_max}.")
        backwards = last is not None or (before is not None and first is None)
        asked = last if backwards else first
        size = DEFAULT_PAGE if asked is None else asked
        cursor = before if backwards else after
        if nodes.fallback is not None:
            # The first page tells whether the list is empty; a later page (its cursor
            # may be the fallback's) or an empty page asks the list itself.
            primary = nodes.without_fallback()
            args = {"info": info, "before": before, "after": after, "first": first,
                    "last": last, "max_results": max_results, **kwargs}  # fmt: skip
            if cursor is None and size > 0:
                page = await cls.resolve_connection(primary, **args)
                if page.edges:
                    return page
            elif await primary.any():
                return await cls.resolve_connection(primary, **args)
            return await cls.resolve_connection(nodes.fallback(), **args)
        sort = nodes.sort
        window = _Window(
            cursor=tuple(_decode(cursor, sort)) if cursor else None,
            size=size,
            backwards=backwards,
        )
        if cls.fast_node is not None and fastpath.ENABLED and _on_postgresql(info):
            try:
                return await cls._fast_page(nodes, window, info, cursor=cursor)  # type: ignore[return-value]
            except fastpath.Unsupported:
                pass
        rows: list[Row[Any]]
        total: int | None = None
        if size == 0:
            rows = []
        elif nodes.partition is not None:
            loader = batch_loader(
                info, ("page", nodes.batch_key, window), partial(_fetch_pages, nodes, window)
            )
            rows = await loader.load(nodes.partition[1])
        elif window.cursor is None and selects(info, "totalCount"):
            # The first page and its count in one statement: the database finds every
            # match for the page's sort anyway, and a second query would find them again.
            counted = nodes.query.add_columns(func.count().over().label("_total"))
            rows = await _fetch_page(nodes, window, counted)
            total = int(rows[0]._total) if rows else 0
        else:
            rows = await _fetch_page(nodes, window)
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        items = [nodes.to_node(row) for row in rows]
        if nodes.prefetch is not None and items:
            await nodes.prefetch(info, items)
        edges = [
            relay.Edge(cursor=_encode([getattr(row, key.name) for key in sort]), node=item)
            for row, item in zip(rows, items, strict=True)
        ]
        page_info = relay.PageInfo(
            has_next_page=more if not backwards else before is not None,
            has_previous_page=more if backwards else after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        )
        return cls(edges=edges, page_info=page_info, _nodes=nodes, _info=info, _total=total)

    # The node type's GraphQL name when the fast path (schema/fastpath.py) knows it.
    fast_node: ClassVar[str | None] = None

    @classmethod
    async def _fast_page(
        cls, nodes: KeysetQuery[Any], window: _Window, info: strawberry.Info, *, cursor: str | None
    ) -> fastpath.Precompleted:
        """The page in its response shape, each node's JSON built by PostgreSQL in the
        page's own statement; ``Unsupported`` (before any SQL) if the selection needs
        normal execution."""
        raw = info._raw_info
        compiler = fastpath.Compiler(raw.fragments)
        connection_type = get_named_type(raw.return_type)
        fields = connection_type.fields  # type: ignore[attr-defined]
        edge_type = get_named_type(fields["edges"].type).name
        plan = compiler.plan(fastpath.selection_sets(raw), connection_type.name)
        edge_plans: list[tuple[str, str]] = []
        node_sets: list[Any] = []
        for _key, name, subs in plan:
            if name == "edges":
                if edge_plans:
                    raise fastpath.Unsupported  # two aliases of `edges`
                for edge_key, edge_name, edge_subs in compiler.plan(subs, edge_type):
                    if edge_name == "node":
                        node_sets.extend(edge_subs)
                    elif edge_name not in ("cursor", "__typename"):
                        raise fastpath.Unsupported
                    edge_plans.append((orjson.dumps(edge_key).decode(), edge_name))
            elif name == "pageInfo":
                for _, info_name, _ in compiler.plan(subs, "PageInfo"):
                    if info_name not in PAGE_INFO_FIELDS:
                        raise fastpath.Unsupported
            elif name not in ("totalCount", "__typename"):
                raise fastpath.Unsupported
        node_type = cls.fast_node
        assert node_type is not None
        compiler.check(node_sets, node_type)

        def node_json(source: Any) -> list[Any]:
            if not node_sets:
                return []
            node = compiler.json_object(node_sets, node_type, source)
            return [cast(node, Text).label("_node")]

        size = window.size
        # A first page counts the whole list in its own statement (a count subquery, or
        # count(*) OVER (PARTITION BY parent) for several parents).
        counted = (
            size > 0 and window.cursor is None and any(name == "totalCount" for _, name, _ in plan)
        )
        rows: list[Row[Any]]
        if size == 0:
            rows = []
        elif nodes.partition is not None:
            load = partial(_fetch_pages, nodes, window, columns=node_json, counted=counted)
            loader_key = (
                "fastpage", nodes.batch_key, window, counted, tuple(map(id, raw.field_nodes))
            )  # fmt: skip
            rows = await batch_loader(info, loader_key, load).load(nodes.partition[1])
        else:
            columns = _with_total(node_json, nodes.query) if counted else node_json
            rows = await _fetch_page(nodes, window, columns=columns)
        total = (int(rows[0]._total) if rows else 0) if counted else None
        backwards = window.backwards
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        sort = nodes.sort

        def cursor_of(row: Row[Any]) -> str:
            return _encode([getattr(row, k.name) for k in sort])

        value: dict[str, Any] = {}
        for key, name, subs in plan:
            if name == "__typename":
                value[key] = connection_type.name
            elif name == "totalCount":
                counter = cls(edges=[], page_info=_NO_PAGE, _nodes=nodes, _info=info)
                value[key] = total if total is not None else await counter.total_count()
            elif name == "pageInfo":
                facts = {
                    "hasNextPage": more if not backwards else cursor is not None,
                    "hasPreviousPage": more if backwards else cursor is not None,
                    "startCursor": cursor_of(rows[0]) if rows else None,
                    "endCursor": cursor_of(rows[-1]) if rows else None,
                    "__typename": "PageInfo",
                }
                value[key] = {k: facts[n] for k, n, _ in compiler.plan(subs, "PageInfo")}
            else:
                typename = orjson.dumps(edge_type).decode()
                edges = []
                for row in rows:
                    items = []
                    for edge_key, edge_name in edge_plans:
                        if edge_name == "node":
                            item = row._node
                        elif edge_name == "cursor":
                            item = '"' + cursor_of(row) + '"'
                        else:
                            item = typename
                        items.append(edge_key + ":" + item)
                    edges.append("{" + ",".join(items) + "}")
                value[key] = orjson.Fragment("[" + ",".join(edges) + "]")
        fastpath.pages_served += 1
        return fastpath.Precompleted(value)


def _on_postgresql(info: strawberry.Info) -> bool:
    return not info.context.runtime.database.is_sqlite  # type: ignore[no-any-return]


PAGE_INFO_FIELDS = {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"}
_NO_PAGE = relay.PageInfo(
    has_next_page=False, has_previous_page=False, start_cursor=None, end_cursor=None
)
