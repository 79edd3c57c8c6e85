"""The real Admin GraphQL schema per API version: load once, validate documents, compute Shopify's query cost.

Cost rules follow https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits ("calculated query cost"):
scalars and enums cost 0, objects 1, connections 2 + (first|last) x the cost of one node, each mutation field 10.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NoDeprecatedCustomRule,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    build_client_schema,
    get_named_type,
    is_leaf_type,
    specified_rules,
    validate,
    value_from_ast_untyped,
)
from graphql.execution.values import get_directive_values
from graphql.type import GraphQLIncludeDirective, GraphQLSkipDirective

SCHEMA_DIR = Path(__file__).resolve().parent / "admin_schema"
VALIDATION_RULES = (*specified_rules, NoDeprecatedCustomRule)
MUTATION_COST = 10
CONNECTION_BASE_COST = 2
OBJECT_COST = 1


def available_versions() -> list[str]:
    return sorted(p.name[len("admin_") : -len(".json.gz")] for p in SCHEMA_DIR.glob("admin_*.json.gz"))


@functools.cache
def load_schema(version: str) -> GraphQLSchema:
    """Build (once per process) the client schema of one Admin API version from the vendored introspection."""
    path = SCHEMA_DIR / f"admin_{version}.json.gz"
    if not path.exists():
        raise KeyError(version)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        introspection = json.load(fh)["data"]
    return build_client_schema(introspection)


def validate_document(schema: GraphQLSchema, document: DocumentNode) -> list[GraphQLError]:
    """Spec rules plus NoDeprecatedCustomRule: Shopify accepts deprecated fields, we treat them as errors."""
    return validate(schema, document, VALIDATION_RULES)


class CostCalculator:
    """Requested cost from the document (+ variables); actual cost from the same walk over the result data."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]):
        self.schema = schema
        self.variables = dict(variables)
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def operation_cost(self, operation: OperationDefinitionNode, data: Any = None) -> int:
        if operation.operation == OperationType.MUTATION:
            return MUTATION_COST * len(self._fields(operation.selection_set, self.schema.mutation_type))
        root = self.schema.query_type
        return self._selection_cost(operation.selection_set, root, data, actual=data is not None)

    # -- walk -----------------------------------------------------------------------------------------------
    def _included(self, node: FieldNode | InlineFragmentNode | FragmentSpreadNode) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip and skip.get("if"):
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include is not None and not include.get("if"))

    def _fields(self, selection_set: SelectionSetNode | None, parent: Any) -> list[tuple[FieldNode, Any]]:
        """Flatten fragments; each field with its parent type (the fragment's condition type if any)."""
        out: list[tuple[FieldNode, Any]] = []
        if selection_set is None:
            return out
        for sel in selection_set.selections:
            if not self._included(sel):  # type: ignore[arg-type]  # graphql-core types selections as the base node
                continue
            if isinstance(sel, FieldNode):
                out.append((sel, parent))
            elif isinstance(sel, InlineFragmentNode):
                cond = self.schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                out.extend(self._fields(sel.selection_set, cond))
            elif isinstance(sel, FragmentSpreadNode):
                frag = self.fragments[sel.name.value]
                out.extend(self._fields(frag.selection_set, self.schema.get_type(frag.type_condition.name.value)))
        return out

    def _arg(self, field: FieldNode, name: str) -> Any:
        for arg in field.arguments or ():
            if arg.name.value == name:
                return value_from_ast_untyped(arg.value, self.variables)
        return None

    def _selection_cost(self, selection_set: SelectionSetNode | None, parent: Any, data: Any, actual: bool) -> int:
        total = 0
        for field, owner in self._fields(selection_set, parent):
            name = field.name.value
            if name.startswith("__"):
                continue
            fields = getattr(owner, "fields", None) or {}
            definition = fields.get(name)
            if definition is None:
                continue
            key = field.alias.value if field.alias else name
            value = data.get(key) if isinstance(data, dict) else None
            if actual and isinstance(data, dict) and key not in data:
                continue  # a fragment on another concrete type: not resolved, no cost
            total += self._field_cost(field, definition.type, value, actual)
        return total

    def _field_cost(self, field: FieldNode, field_type: Any, value: Any, actual: bool) -> int:
        named = get_named_type(field_type)
        if is_leaf_type(named):
            return 0
        if named.name.endswith("Connection") and isinstance(named, GraphQLObjectType):
            return self._connection_cost(field, named, value, actual)
        inner = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
        if isinstance(inner, GraphQLList):
            if actual:
                items = value or []
                return sum(OBJECT_COST + self._selection_cost(field.selection_set, named, v, True) for v in items if v)
            ids = self._arg(field, "ids")
            count = len(ids) if isinstance(ids, list) else 1
            return count * (OBJECT_COST + self._selection_cost(field.selection_set, named, None, False))
        if actual and value is None:
            return OBJECT_COST
        return OBJECT_COST + self._selection_cost(field.selection_set, named, value, actual)

    def _connection_cost(self, field: FieldNode, conn: GraphQLObjectType, value: Any, actual: bool) -> int:
        size = self._arg(field, "first") or self._arg(field, "last") or 0
        node_type = get_named_type(conn.fields["nodes"].type) if "nodes" in conn.fields else None
        per_node_max = 0
        actual_total = 0
        for sub, _owner in self._fields(field.selection_set, conn):
            sub_name = sub.name.value
            if sub_name == "nodes" and node_type is not None:
                nodes = (value or {}).get(sub.alias.value if sub.alias else "nodes") if actual else None
                per_node_max = max(per_node_max, self._node_cost(sub, node_type, None))
                if actual:
                    actual_total = max(actual_total, sum(self._node_cost(sub, node_type, n) for n in nodes or []))
            elif sub_name == "edges" and node_type is not None:
                edges = (value or {}).get(sub.alias.value if sub.alias else "edges") if actual else None
                for node_field, _ in self._fields(sub.selection_set, conn.fields["edges"].type):
                    if node_field.name.value != "node":
                        continue
                    per_node_max = max(per_node_max, self._node_cost(node_field, node_type, None))
                    if actual:
                        alias = node_field.alias.value if node_field.alias else "node"
                        actual_total = max(
                            actual_total,
                            sum(self._node_cost(node_field, node_type, (e or {}).get(alias)) for e in edges or []),
                        )
        if actual:
            return CONNECTION_BASE_COST + actual_total
        return CONNECTION_BASE_COST + int(size) * per_node_max

    def _node_cost(self, field: FieldNode, node_type: Any, value: Any) -> int:
        return OBJECT_COST + self._selection_cost(field.selection_set, node_type, value, value is not None)
