"""Query cost: an estimate of how many objects an operation may touch, bounded per request.

Every field costs 1; a connection multiplies the cost of what is under it by its page
size (`first` or `last`, 50 by default). The cost is computed right after validation (it
depends on variables, so it is not cached with it) and reported in `extensions.cost`; an
operation over the maximum is refused before it runs, with a message saying by how much.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

DEFAULT_PAGE = 50


class QueryCost(SchemaExtension):
    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.cost: int | None = None

    def on_validate(self) -> Iterator[None]:
        # Before the yield: after the (cached) validation of ValidationCache, which comes
        # earlier in the extension list, and before Strawberry decides whether to execute.
        self._check()
        yield

    def _check(self) -> None:
        context = self.execution_context
        document = context.graphql_document
        if context.pre_execution_errors or document is None:
            return
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if context.operation_name:
            operations = [
                o for o in operations if o.name and o.name.value == context.operation_name
            ]
        if len(operations) != 1:
            return
        operation = operations[0]
        schema = context.schema._schema
        root = schema.get_root_type(operation.operation)
        if root is None:
            return
        self.cost = operation_cost(schema, operation, fragments, context.variables or {})
        if self.cost > self.maximum:
            context.pre_execution_errors = [
                GraphQLError(
                    f"This query would cost {self.cost}, over the maximum of {self.maximum}: "
                    "ask for smaller pages (first/last) or fewer nested lists.",
                    extensions={
                        "code": "QUERY_TOO_COSTLY",
                        "cost": self.cost,
                        "maximumCost": self.maximum,
                    },
                )
            ]

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "maximum": self.maximum}}


def operation_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    """What an operation costs with these variables (and the operation's defaults for the
    ones not given)."""
    given = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in given and definition.default_value is not None:
            given[name] = value_from_ast_untyped(definition.default_value)
    root = schema.get_root_type(operation.operation)
    return _Walker(schema, fragments, given).cost(operation.selection_set, root)


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def _fields(
        self,
        selection_set: SelectionSetNode | None,
        parent: Any,
        spread: set[str] | None = None,
    ) -> Iterator[tuple[FieldNode, Any]]:
        """Each field with the type it is selected on (fragments narrow the type). A fragment
        spread again in the same selection adds nothing (its fields merge), and counting it
        once keeps this linear: fragments that each spread the next twice would otherwise
        cost exponential time to walk."""
        if selection_set is None:
            return
        spread = set() if spread is None else spread
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                narrowed = self.schema.get_type(condition.name.value) if condition else parent
                yield from self._fields(selection.selection_set, narrowed, spread)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in spread:
                    spread.add(name)
                    narrowed = self.schema.get_type(fragment.type_condition.name.value)
                    yield from self._fields(fragment.selection_set, narrowed, spread)

    def _page(self, field: FieldNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value in ("first", "last"):
                value = value_from_ast_untyped(argument.value, self.variables)
                if isinstance(value, int) and value >= 0:
                    return value
        return DEFAULT_PAGE

    def cost(self, selection_set: SelectionSetNode | None, parent: Any) -> int:
        total = 0
        for field, on_type in self._fields(selection_set, parent):
            name = field.name.value
            definitions = getattr(on_type, "fields", None) or {}
            if name.startswith("__") or name not in definitions:
                continue
            named = get_named_type(definitions[name].type)
            below = self.cost(field.selection_set, named) if field.selection_set else 0
            factor = self._page(field) if named.name.endswith("Connection") else 1
            total += 1 + factor * below
        return total
