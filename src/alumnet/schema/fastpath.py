"""A faster way to answer the hottest shape: a page of enrolments for a dashboard.

GraphQL execution costs about 10 µs per field here, and building objects from rows
costs as much again; a page of 1,000 enrolments with their students and mentors is
some 12,000 fields. When a connection's selection uses only plain fields (no
arguments, directives or fields with their own permission rules), PostgreSQL builds
each node's JSON in the page's own statement (``json_build_object``, with nested lists
as correlated ``json_agg`` subqueries), and the connection hands the executor the page
already in its response shape; the JSON text is spliced into the response unparsed
(``orjson.Fragment``). Anything else, and every query on SQLite, takes the normal path,
so the answer never differs: a test compares both for the same queries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from functools import partial
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql.pyutils import Path
from sqlalchemy import Text, case, cast, func, literal_column
from sqlalchemy.sql.elements import ColumnElement
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

ENABLED = True
# How many pages took the fast path in this process (for tests and curiosity).
pages_served = 0


class Unsupported(Exception):
    """The selection needs the normal execution path."""


class Precompleted:
    """A field's value already in its response shape."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


# Completing a large result is CPU work on the event loop: once it has run this many
# seconds without the loop turning, the completion of long lists goes on in slices of
# LIST_SLICE items with a pause (``asyncio.sleep(0)``) between them, so that other requests
# (a health check) are served meanwhile. Work that stays under it is completed in one go,
# as before, so that its dataloaders still batch each level into one statement.
TIME_SLICE_SECONDS = 0.05
LIST_SLICE = 50


def _shifted(path: Path, offset: int) -> Path:
    """The list's path, for a slice of it whose first item is item ``offset``."""

    class Shifted(Path):
        def add_key(self, key: str | int, typename: str | None = None) -> Path:
            index = key + offset if isinstance(key, int) else key
            return Path(path, index, typename)

    return Shifted(path.prev, path.key, path.typename)


class AlumnetExecutionContext(StrawberryGraphQLCoreExecutionContext):
    _slice_started: float | None = None
    _loop_turned = False

    def complete_value(self, *args: Any, **kwargs: Any) -> Any:
        result = kwargs["result"] if "result" in kwargs else args[4]
        if isinstance(result, Precompleted):
            return result.value
        return super().complete_value(*args, **kwargs)

    def _slice_spent(self) -> bool:
        """Whether this operation has held the event loop for a whole time slice: since the
        loop last turned (an await of the database, a pause of ours)."""
        now = time.perf_counter()
        if self._slice_started is None or self._loop_turned:
            self._slice_started, self._loop_turned = now, False
            asyncio.get_running_loop().call_soon(self._turned)
            return False
        return now - self._slice_started > TIME_SLICE_SECONDS

    def _turned(self) -> None:
        self._loop_turned = True

    def complete_iterable_value(
        self,
        item_type: Any,
        field_details_list: Any,
        info: Any,
        path: Path,
        items: Any,
        position_context: Any,
    ) -> Any:
        if (
            not isinstance(items, Sequence)
            or len(items) <= LIST_SLICE
            or self.get_stream_usage(field_details_list, path) is not None
        ):
            return super().complete_iterable_value(
                item_type, field_details_list, info, path, items, position_context
            )

        def part(start: int) -> Any:
            return super(AlumnetExecutionContext, self).complete_iterable_value(
                item_type, field_details_list, info, _shifted(path, start),
                items[start : start + LIST_SLICE], position_context,
            )  # fmt: skip

        parts: list[Any] = []
        for start in range(0, len(items), LIST_SLICE):
            if self._slice_spent():
                return self._complete_later(parts, start, len(items), part)
            parts.append(part(start))
        return self._joined(parts)

    async def _complete_later(
        self, parts: list[Any], start: int, length: int, part: Callable[[int], Any]
    ) -> list[Any]:
        for at in range(start, length, LIST_SLICE):
            if self._slice_spent():
                await asyncio.sleep(0)  # the loop turns: the next check starts a new slice
            parts.append(part(at))
        joined = self._joined(parts)
        return await joined if self.is_awaitable(joined) else joined  # type: ignore[no-any-return]

    def _joined(self, parts: list[Any]) -> Any:
        """The slices' results as one list (awaited first if any slice is awaitable)."""
        if not any(self.is_awaitable(p) for p in parts):
            return [item for p in parts for item in p]

        async def gathered() -> list[Any]:
            # Side by side, as graphql-core completes one list: the slices' nested loads
            # then batch together.
            waiting = [i for i, p in enumerate(parts) if self.is_awaitable(p)]
            for i, done in zip(
                waiting, await asyncio.gather(*(parts[i] for i in waiting)), strict=True
            ):
                parts[i] = done
            return [item for p in parts for item in p]

        return gathered()


# A type's plain fields, as SQL: GraphQL name -> (builder, nested type name or None).
# A builder takes the object's source columns (name -> SQL expression) and, for a nested
# field, a function turning the nested object's source columns into its JSON; it returns
# an SQL expression for the field's JSON value. Only fields whose value is the same for
# every viewer who may see the object belong here.
Source = Mapping[str, Any]
ObjectJson = Callable[[Source], ColumnElement[Any]]
Builder = Callable[[Source, ObjectJson], ColumnElement[Any]]
FIELDS: dict[str, dict[str, tuple[Builder, str | None]]] = {}


def register(type_name: str, fields: dict[str, tuple[Builder, str | None]]) -> None:
    FIELDS[type_name] = fields


def sql_string(text: str) -> ColumnElement[Any]:
    """An SQL string literal inlined into the statement (names and keys from the schema
    or the parsed query, never user data), so that the compiled statement is cached."""
    return literal_column("'" + text.replace("'", "''") + "'", Text)


def node_id(type_name: str) -> tuple[Builder, None]:
    """`id`: base64 of "Type:pk", as Strawberry (and `nodes.global_id`) encodes it."""

    def build(source: Source, _: ObjectJson) -> ColumnElement[Any]:
        raw = func.convert_to(
            sql_string(f"{type_name}:") + cast(source["id"], Text), sql_string("UTF8")
        )
        return func.encode(raw, sql_string("base64"), type_=Text)

    return build, None


def column(name: str) -> tuple[Builder, None]:
    return (lambda source, _: source[name]), None


def enum_name(name: str, enum: type[Enum]) -> tuple[Builder, None]:
    """An enum column (stored by value) as its GraphQL name."""

    def build(source: Source, _: ObjectJson) -> ColumnElement[Any]:
        return case(*[(source[name] == sql_string(m.value), sql_string(m.name)) for m in enum])

    return build, None


def iso_datetime(name: str) -> tuple[Builder, None]:
    """A UTC timestamp as Python's ``isoformat()`` writes it (microseconds only if any)."""

    def build(source: Source, _: ObjectJson) -> ColumnElement[Any]:
        moment = source[name]
        utc = func.timezone(sql_string("UTC"), moment)
        fraction = case(
            (func.date_trunc(sql_string("second"), moment) == moment, sql_string("")),
            else_=func.to_char(utc, sql_string(".US"), type_=Text),
        )
        whole = func.to_char(utc, sql_string('YYYY-MM-DD"T"HH24:MI:SS'), type_=Text)
        return whole + fraction + sql_string("+00:00")

    return build, None


class Compiler:
    """Plans a selection over registered types and compiles it to SQL JSON."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments

    def plan(
        self, selection_sets: list[SelectionSetNode], type_name: str
    ) -> list[tuple[str, str, list[SelectionSetNode]]]:
        """(response key, field name, sub-selections) for each field, fragments applied."""
        out: dict[str, tuple[str, list[SelectionSetNode]]] = {}

        def walk(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if selection.directives:
                    raise Unsupported
                if isinstance(selection, FieldNode):
                    if selection.arguments:
                        raise Unsupported
                    key = selection.alias.value if selection.alias else selection.name.value
                    name = selection.name.value
                    if key in out and out[key][0] != name:
                        raise Unsupported
                    subs = out.setdefault(key, (name, []))[1]
                    if selection.selection_set is not None:
                        subs.append(selection.selection_set)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if condition is not None and condition.name.value != type_name:
                        raise Unsupported
                    walk(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments.get(selection.name.value)
                    if fragment is None or fragment.type_condition.name.value != type_name:
                        raise Unsupported
                    walk(fragment.selection_set)

        for selection_set in selection_sets:
            walk(selection_set)
        return [(key, name, subs) for key, (name, subs) in out.items()]

    def check(self, selection_sets: list[SelectionSetNode], type_name: str) -> None:
        """Raise ``Unsupported`` unless every field selected is a registered plain field."""
        fields = FIELDS.get(type_name)
        if fields is None:
            raise Unsupported
        for _, name, subs in self.plan(selection_sets, type_name):
            if name == "__typename":
                continue
            spec = fields.get(name)
            if spec is None:
                raise Unsupported
            if spec[1] is not None:
                self.check(subs, spec[1])

    def json_object(
        self, selection_sets: list[SelectionSetNode], type_name: str, source: Source
    ) -> ColumnElement[Any]:
        """The JSON of one object of ``type_name`` with this selection, as SQL."""
        fields = FIELDS.get(type_name)
        if fields is None:
            raise Unsupported
        arguments: list[Any] = []
        for key, name, subs in self.plan(selection_sets, type_name):
            arguments.append(sql_string(key))
            if name == "__typename":
                arguments.append(sql_string(type_name))
                continue
            spec = fields.get(name)
            if spec is None:
                raise Unsupported
            build, nested = spec
            if nested is None:
                arguments.append(build(source, _no_object))
            else:
                arguments.append(build(source, partial(self._nested, subs, nested)))
        return func.json_build_object(*arguments)

    def _nested(
        self, selection_sets: list[SelectionSetNode], type_name: str, source: Source
    ) -> ColumnElement[Any]:
        return self.json_object(selection_sets, type_name, source)


def _no_object(source: Source) -> ColumnElement[Any]:
    raise Unsupported


def selection_sets(raw_info: Any) -> list[SelectionSetNode]:
    return [node.selection_set for node in raw_info.field_nodes if node.selection_set]
