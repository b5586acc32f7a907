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

from collections.abc import Callable, Mapping
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


class AlumnetExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def complete_value(self, *args: Any, **kwargs: Any) -> Any:
        result = kwargs["result"] if "result" in kwargs else args[4]
        if isinstance(result, Precompleted):
            return result.value
        return super().complete_value(*args, **kwargs)


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
