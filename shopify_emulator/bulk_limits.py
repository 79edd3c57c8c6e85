"""Shopify's limits on a bulk query (shopify.dev, "Perform bulk operations with the GraphQL Admin API"): at least one
connection, at most five connections, connections nested at most two levels deep (products > variants is two;
products > variants > media is three); and a cap on the bulk queries one app runs per shop at once (one before
2026-01, five from 2026-01 on)."""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)

MAX_CONNECTIONS = 5
MAX_DEPTH = 2


def concurrent_bulk_queries(version: str) -> int:
    """How many bulk queries one app may run per shop at once in this API version."""
    return 5 if version >= "2026-01" else 1


@dataclass(frozen=True)
class Shape:
    connections: int
    depth: int  # the deepest connection nesting


def bulk_shape(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode) -> Shape:
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    count = 0
    deepest = 0

    def walk(parent: object, selection_set: SelectionSetNode | None, depth: int) -> None:
        nonlocal count, deepest
        if selection_set is None or not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            return
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                definition = parent.fields.get(sel.name.value)
                if definition is None:
                    continue
                named = get_named_type(definition.type)
                level = depth
                if named.name.endswith("Connection"):
                    count += 1
                    level = depth + 1
                    deepest = max(deepest, level)
                walk(named, sel.selection_set, level)
            elif isinstance(sel, InlineFragmentNode):
                target = schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                walk(target, sel.selection_set, depth)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
                fragment = fragments[sel.name.value]
                walk(schema.get_type(fragment.type_condition.name.value), fragment.selection_set, depth)

    walk(schema.query_type, operation.selection_set, 0)
    return Shape(count, deepest)


def shape_errors(shape: Shape) -> list[str]:
    problems = []
    if shape.connections == 0:
        problems.append("Bulk queries must contain at least one connection.")
    if shape.connections > MAX_CONNECTIONS:
        problems.append(f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections.")
    if shape.depth > MAX_DEPTH:
        problems.append(f"Bulk queries cannot contain connections with a nesting depth greater than {MAX_DEPTH}.")
    return problems
