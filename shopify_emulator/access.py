"""Access scopes from the schema's own access metadata: ACCESS_DENIED for a field the token's scopes do not cover.

The vendored introspection carries, next to the schema, Shopify's `offline_scopes` items: per type and per field the
scopes an offline token needs (`offlineScopes`, any one of them suffices; empty: none). A field needs its own
entry's scopes and those of the type it returns (a `MediaImage` needs one of `read_products`, `read_files`, ...).
`write_x` grants `read_x`, as on Shopify. Fields under an inline fragment are checked only where they are reached
in the document, so `... on MediaImage` under `product.media` needs what MediaImage needs.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)

from .schema import SCHEMA_DIR

DOCS = "https://shopify.dev/api/usage/access-scopes"


@dataclass(frozen=True)
class AccessRules:
    fields: dict[tuple[str, str], tuple[tuple[str, ...], str]]  # (type, field) -> (any of these scopes, text)
    types: dict[str, tuple[tuple[str, ...], str]]


@dataclass(frozen=True)
class Denied:
    path: tuple[str, ...]
    field: str
    required: str  # Shopify's wording, e.g. "`write_files` access scope."


@functools.cache
def load_access_rules(version: str) -> AccessRules:
    with gzip.open(SCHEMA_DIR / f"admin_{version}.json.gz", "rt", encoding="utf-8") as fh:
        items = (json.load(fh).get("offline_scopes") or {}).get("items") or []
    fields: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {}
    types: dict[str, tuple[tuple[str, ...], str]] = {}
    for item in items:
        scopes = tuple(dict.fromkeys(item.get("offlineScopes") or ()))
        if not scopes:
            continue
        rule = (scopes, str(item.get("requiredAccess") or ""))
        if item.get("type") == "field":
            fields[(item["typeName"], item["fieldName"])] = rule
        elif item.get("type") == "type":
            types[item["typeName"]] = rule
    return AccessRules(fields, types)


def granted(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes a token holds, with the `read_x` each `write_x` implies."""
    held = {s.strip() for s in scopes if s.strip()}
    return frozenset(held | {"read_" + s[len("write_") :] for s in held if s.startswith("write_")})


def denied_fields(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    version: str,
    scopes: Iterable[str],
) -> list[Denied]:
    """Every selected field the scopes do not cover (first per path), in document order."""
    rules = load_access_rules(version)
    held = granted(scopes)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    root = schema.mutation_type if operation.operation.value == "mutation" else schema.query_type
    out: list[Denied] = []

    def needs(rule: tuple[tuple[str, ...], str] | None) -> str | None:
        if rule is None or any(s in held for s in rule[0]):
            return None
        return rule[1] or " or ".join(f"`{s}` access scope" for s in rule[0])

    def walk(parent: GraphQLObjectType | None, selection_set: SelectionSetNode | None, path: tuple[str, ...]) -> None:
        if parent is None or selection_set is None:
            return
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                name = sel.name.value
                if name.startswith("__"):
                    continue
                definition = parent.fields.get(name)
                if definition is None:
                    continue
                key = (sel.alias.value if sel.alias else name,)
                return_type = get_named_type(definition.type)
                missing = needs(rules.fields.get((parent.name, name))) or needs(rules.types.get(return_type.name))
                if missing:
                    out.append(Denied(path + key, name, missing))
                    continue
                walk(return_type if isinstance(return_type, GraphQLObjectType) else None, sel.selection_set,
                     path + key)  # fmt: skip
                if not isinstance(return_type, GraphQLObjectType):
                    walk_abstract(sel.selection_set, path + key)
            elif isinstance(sel, InlineFragmentNode):
                target = schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                walk_typed(target, sel.selection_set, path)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
                fragment = fragments[sel.name.value]
                walk_typed(schema.get_type(fragment.type_condition.name.value), fragment.selection_set, path)

    def walk_typed(target: object, selection_set: SelectionSetNode | None, path: tuple[str, ...]) -> None:
        if isinstance(target, GraphQLObjectType):
            missing = needs(rules.types.get(target.name))
            if missing:
                out.append(Denied(path, target.name, missing))
                return
            walk(target, selection_set, path)
        else:  # an interface or union: its concrete fragments are checked where they appear
            walk_abstract(selection_set, path)

    def walk_abstract(selection_set: SelectionSetNode | None, path: tuple[str, ...]) -> None:
        if selection_set is None:
            return
        for sel in selection_set.selections:
            if isinstance(sel, InlineFragmentNode) and sel.type_condition:
                walk_typed(schema.get_type(sel.type_condition.name.value), sel.selection_set, path)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
                fragment = fragments[sel.name.value]
                walk_typed(schema.get_type(fragment.type_condition.name.value), fragment.selection_set, path)

    walk(root, operation.selection_set, ())
    return out


def access_denied_errors(denied: list[Denied]) -> list[dict[str, object]]:
    """Shopify's error shape for each field refused for scopes."""
    return [
        {
            "message": f"Access denied for {d.field} field. Required access: {d.required}",
            "path": list(d.path),
            "extensions": {"code": "ACCESS_DENIED", "documentation": DOCS, "requiredAccess": d.required},
        }
        for d in denied
    ]
