"""Every document in plugin.shopify.operations is valid, non-deprecated and under the cost cap in both pinned
API versions, and its example variables coerce: a deprecated or misspelled field fails here, not in production."""

from __future__ import annotations

import pytest
from graphql import NoDeprecatedCustomRule, parse, specified_rules, validate
from graphql.execution.values import get_variable_values
from graphql.utilities import get_operation_ast

from plugin.config import DEFAULT_SCOPES
from plugin.shopify.billing_operations import BILLING_OPERATIONS
from plugin.shopify.operations import ALL_OPERATIONS, PUBLISH_FINALIZE, Operation
from shopify_emulator.access import denied_fields
from shopify_emulator.schema import CostCalculator, load_schema

VERSIONS = ("2026-07", "2026-10")
MAX_QUERY_COST = 1000


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(ALL_OPERATIONS | BILLING_OPERATIONS))
def test_document_and_variables_validate(version: str, name: str) -> None:
    op = (ALL_OPERATIONS | BILLING_OPERATIONS)[name]
    schema = load_schema(version)
    document = parse(op.document)
    errors = validate(schema, document, [*specified_rules, NoDeprecatedCustomRule])
    assert not errors, [e.message for e in errors]
    operation = get_operation_ast(document)
    assert operation is not None and operation.name is not None and operation.name.value == op.name
    coerced = get_variable_values(schema, operation.variable_definitions or [], op.example_variables)
    assert not isinstance(coerced, list), [e.message for e in coerced]
    cost = CostCalculator(schema, document, op.example_variables).operation_cost(operation)
    assert cost <= MAX_QUERY_COST
    # the scopes the app asks for cover every field it selects (Shopify's access metadata, ACCESS_DENIED otherwise)
    assert denied_fields(schema, document, operation, version, DEFAULT_SCOPES.split(",")) == []


def test_deprecated_field_is_caught() -> None:
    """The guard itself: a document using Product.images (deprecated) must fail validation."""
    schema = load_schema(VERSIONS[0])
    doc = parse("query Old($id: ID!) { product(id: $id) { images(first: 1) { nodes { url } } } }")
    errors = validate(schema, doc, [*specified_rules, NoDeprecatedCustomRule])
    assert any("deprecated" in e.message for e in errors)


def test_bad_variables_are_caught() -> None:
    schema = load_schema(VERSIONS[0])
    op: Operation = ALL_OPERATIONS["StagedUploadsCreate"]
    operation = get_operation_ast(parse(op.document))
    bad = {"input": [{"filename": "a.png", "resource": "IMAGE"}]}  # mimeType missing
    assert isinstance(get_variable_values(schema, operation.variable_definitions, bad), list)


def test_operation_names_are_unique_and_flags_sane() -> None:
    assert len({op.name for op in ALL_OPERATIONS.values()}) == len(ALL_OPERATIONS)
    assert not set(ALL_OPERATIONS) & set(BILLING_OPERATIONS)
    assert not PUBLISH_FINALIZE.idempotent
    assert ALL_OPERATIONS["MediaStatus"].idempotent


@pytest.mark.parametrize("version", VERSIONS)
def test_the_bulk_export_query_is_within_shopifys_bulk_limits(version: str) -> None:
    from plugin.shopify.operations import BULK_PRODUCTS_QUERY
    from shopify_emulator.bulk_limits import bulk_shape, shape_errors

    document = parse(BULK_PRODUCTS_QUERY.document)
    operation = get_operation_ast(document)
    assert operation is not None
    assert shape_errors(bulk_shape(load_schema(version), document, operation)) == []
