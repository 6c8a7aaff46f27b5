"""The fast record validator decides exactly as jsonschema does, with jsonschema's messages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from helpers import base_config, record, run_target, schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema.validators import validator_for

from target_salesforce_out.validation import RecordValidator, fast_path_applies

# Schemas of the kinds taps send, each exercising keywords the fast path takes.
SCHEMAS = [
    {
        "type": "object",
        "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 8},
            "n": {"type": ["integer", "null"], "minimum": 0, "maximum": 1000},
            "x": {"type": ["number", "null"], "exclusiveMinimum": -5, "exclusiveMaximum": 5},
            "flag": {"type": ["boolean", "null"]},
            "at": {"type": ["string", "null"], "format": "date-time"},
            "tier": {"enum": ["gold", "silver", None]},
        },
        "required": ["id"],
    },
    {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}},
            "address": {
                "type": ["object", "null"],
                "properties": {"zip": {"type": "string", "maxLength": 5}},
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "v": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 3}]},
            "w": {"type": "integer", "multipleOf": 5},
            "c": {"const": "x"},
            "m": {"type": "object", "minProperties": 1},
        },
    },
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2000, max_value=2000),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10, max_value=10),
    st.sampled_from([Decimal("1.0"), Decimal("5"), Decimal("0.5")]),
    st.text(max_size=10),
    st.sampled_from(["gold", "silver", "x", "abc", "2024-01-01T00:00:00Z"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["zip", "a", "b"]), inner, max_size=3),
    ),
    max_leaves=6,
)
KEYS = ["id", "n", "x", "flag", "at", "tier", "tags", "address", "v", "w", "c", "m", "extra"]
records = st.dictionaries(st.sampled_from(KEYS), values, max_size=6)


@pytest.mark.parametrize("index", range(len(SCHEMAS)))
def test_typical_schemas_take_the_fast_path(index: int) -> None:
    assert RecordValidator(SCHEMAS[index]).uses_fast_path


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0, max_value=len(SCHEMAS) - 1), data=records)
def test_fast_validator_decides_like_jsonschema(index: int, data: dict) -> None:
    schema_ = SCHEMAS[index]
    reference = validator_for(schema_)(schema_)
    expected = next(iter(reference.iter_errors(data)), None)
    got = RecordValidator(schema_).first_error(data)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert (got.message, list(got.absolute_path)) == (
            expected.message,
            list(expected.absolute_path),
        )


@pytest.mark.parametrize(
    "schema_",
    [
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {}}},
        {"type": "array", "prefixItems": [{"type": "string"}]},
        {"type": "array", "items": [{"type": "string"}]},
        {"type": "number", "exclusiveMinimum": True},
        {"type": "object", "unevaluatedProperties": False},
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"},
    ],
)
def test_keywords_read_differently_leave_the_decision_to_jsonschema(schema_: dict) -> None:
    assert not fast_path_applies(schema_)
    assert not RecordValidator(schema_).uses_fast_path


def test_format_is_not_checked_like_jsonschema_without_a_format_checker() -> None:
    validator = RecordValidator({"type": "object", "properties": {"e": {"format": "email"}}})
    assert validator.first_error({"e": "not an email"}) is None


def test_defaults_are_not_filled_into_records() -> None:
    validator = RecordValidator(
        {"type": "object", "properties": {"a": {"type": "string", "default": "x"}}}
    )
    data: dict = {}
    assert validator.first_error(data) is None
    assert data == {}


PROPS = {
    "contact_ref": {"type": "string"},
    "last_name": {"type": "string", "maxLength": 80},
    "orders": {"type": ["integer", "null"], "minimum": 0},
}


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_invalid_records_are_dead_lettered_naming_the_property(
    salesforce_emulator, tmp_path, api: str
) -> None:
    stream = {
        "sobject": "Contact",
        "api": api,
        "external_id_field": "External_Id__c",
        "field_mapping": {"contact_ref": "External_Id__c", "orders": "Total_Orders__c"},
    }
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={"contacts": stream},
        on_record_error="continue",
    )
    messages = [
        schema("contacts", PROPS, ["contact_ref"]),
        record("contacts", {"contact_ref": "ok-1", "last_name": "Ok", "orders": 3}),
        record("contacts", {"contact_ref": "bad-1", "last_name": "Bad", "orders": -1}),
        record("contacts", {"contact_ref": "bad-2", "last_name": 7}),
        record("contacts", {"contact_ref": "ok-2", "last_name": "Ok", "orders": None}),
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.report is not None
    stats = run.report["streams"]["contacts"]
    assert (stats["created"], stats["failed"]) == (2, 2)
    dead = {d["record"]["contact_ref"]: d for d in run.dead_letters}
    assert set(dead) == {"bad-1", "bad-2"}
    assert dead["bad-1"]["errorCode"] == "INVALID_RECORD"
    assert "property 'orders' does not match the stream schema" in dead["bad-1"]["message"]
    assert "-1 is less than the minimum of 0" in dead["bad-1"]["message"]
    assert dead["bad-1"]["fields"] == ["Total_Orders__c"]
    assert "property 'last_name' does not match" in dead["bad-2"]["message"]
    assert "7 is not of type 'string'" in dead["bad-2"]["message"]
