"""Record validation: each SCHEMA read in its own dialect, decided exactly, never misread.

The fast validator decides exactly as jsonschema does in the chosen dialect (with an exact
``multipleOf``), with jsonschema's messages; a SCHEMA that is invalid in its dialect warns once
and rejects nothing because of it.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from fractions import Fraction
from typing import Any

import msgspec
import pytest
from helpers import base_config, record, run_target, schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import ValidationError, validators

from target_salesforce_out.validation import (
    DRAFT4,
    DRAFT6,
    DRAFT7,
    DRAFT2019,
    DRAFT2020,
    RecordValidator,
    dialect_of,
    fast_path_applies,
    is_multiple_of,
    usable_schema,
)

# singer-sdk's msgspec reader: every JSON number with a fraction or exponent is a Decimal, in
# SCHEMA messages and records alike.
READER = msgspec.json.Decoder(float_hook=Decimal)


def scaled(examples: int) -> int:
    """``examples`` under the CI profile; proportionally more under ``soak`` (tests/conftest.py)."""
    return examples * settings.default.max_examples // 100


def decoded(value: Any) -> Any:
    """``value`` as it reaches the sink: through JSON text and singer-sdk's reader."""
    return READER.decode(json.dumps(value))


PIPELINEWISE = {
    "type": "object",
    "properties": {
        "id": {
            "inclusion": "automatic",
            "type": ["integer"],
            "minimum": -2147483648,
            "maximum": 2147483647,
        },
        "n": {
            "inclusion": "available",
            "type": ["null", "number"],
            "exclusiveMaximum": True,
            "maximum": 1000,
            "multipleOf": 0.01,
            "exclusiveMinimum": True,
            "minimum": -1000,
        },
        "x": {"type": ["null", "number"], "maximum": 5, "exclusiveMaximum": False},
        "tier": {"type": ["null", "string"], "maxLength": 4},
    },
}

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
    PIPELINEWISE,
    decoded(PIPELINEWISE),
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "n": {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "exclusiveMaximum": 100,
                "multipleOf": 0.25,
            },
            "x": {"anyOf": [{"type": "number", "maximum": 2.5}, {"type": "null"}]},
            "c": {"const": "x"},
        },
    },
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2000, max_value=2000),
    st.integers(),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-2000, max_value=2000),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10, max_value=10),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([Decimal("1.0"), Decimal("5"), Decimal("0.5"), 0.07, Decimal("0.07"), 1000]),
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


def fraction_multiple_of(validator, step, instance, schema_):
    """multipleOf by exact rational arithmetic: the oracle for the fast path and the checks."""
    if validator.is_type(instance, "number"):
        quotient = Fraction(str(instance)) / Fraction(str(step))
        if quotient.denominator != 1:
            yield ValidationError(f"{instance!r} is not a multiple of {step}")


def reference_error(schema_: dict[str, Any], data: dict[str, Any]) -> ValidationError | None:
    dialect, _ = dialect_of(schema_)
    exact = validators.extend(dialect, {"multipleOf": fraction_multiple_of})
    return next(iter(exact(usable_schema(schema_, dialect, "test")).iter_errors(data)), None)


@pytest.mark.parametrize("index", range(len(SCHEMAS)))
def test_typical_schemas_take_the_fast_path(index: int) -> None:
    assert RecordValidator(SCHEMAS[index]).uses_fast_path


@settings(max_examples=scaled(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0, max_value=len(SCHEMAS) - 1), data=records)
def test_fast_validator_decides_like_jsonschema(index: int, data: dict) -> None:
    schema_ = SCHEMAS[index]
    expected = reference_error(schema_, data)
    got = RecordValidator(schema_).first_error(data)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert (got.message, list(got.absolute_path)) == (
            expected.message,
            list(expected.absolute_path),
        )


# Numbers near the bounds and steps of the numeric schemas above, where the fast path and the
# exact multipleOf decide together.
numbers = st.one_of(
    st.integers(-1100, 1100),
    *[
        st.decimals(min_value=-1100, max_value=1100, places=places, allow_nan=False)
        for places in range(5)
    ],
    st.floats(min_value=-1100, max_value=1100),
    st.sampled_from([1000, -1000, 999.99, Decimal("999.99"), 0.07, 5, 2.5, 100, 0, 0.25]),
)
NUMERIC_SCHEMAS = [3, 4, 5]


@settings(max_examples=scaled(300), deadline=None)
@given(
    index=st.sampled_from(NUMERIC_SCHEMAS),
    data=st.fixed_dictionaries(
        {"n": numbers}, optional={"x": st.one_of(st.none(), numbers), "id": st.integers(-5, 5)}
    ),
)
def test_fast_validator_decides_numbers_like_jsonschema(index: int, data: dict) -> None:
    schema_ = SCHEMAS[index]
    expected = reference_error(schema_, data)
    got = RecordValidator(schema_).first_error(data)
    assert (got and got.message) == (expected and expected.message)


@pytest.mark.parametrize(
    "schema_",
    [
        pytest.param(
            {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {}}},
            id="ref",
        ),
        pytest.param({"type": "array", "prefixItems": [{"type": "string"}]}, id="prefixItems"),
        pytest.param({"type": "array", "items": [{"type": "string"}]}, id="items-tuple"),
        pytest.param({"type": "object", "unevaluatedProperties": False}, id="unevaluated"),
        pytest.param(
            {"properties": {"a": {"anyOf": [{"type": "number", "multipleOf": 0.01}]}}},
            id="multipleOf-below-a-property",
        ),
        pytest.param({"type": "number", "multipleOf": 5}, id="multipleOf-on-the-record"),
        pytest.param({"properties": {"a": {"enum": [1, "x"]}}}, id="enum-with-numbers"),
        pytest.param({"properties": {"a": {"const": True}}}, id="const-boolean"),
        pytest.param(
            {"properties": {"a": {"type": "number", "maximum": 5, "exclusiveMaximum": True}}},
            id="draft4-flag-read-as-draft7",
        ),
    ],
)
def test_keywords_read_differently_leave_the_decision_to_jsonschema(schema_: dict) -> None:
    assert not fast_path_applies(schema_)


@pytest.mark.parametrize(
    ("schema_", "dialect"),
    [
        pytest.param(PIPELINEWISE, DRAFT4, id="boolean-exclusive-bound-is-draft4"),
        pytest.param(
            {"properties": {"a": {"anyOf": [{"type": "null"}, {"exclusiveMinimum": False}]}}},
            DRAFT4,
            id="boolean-bound-deep-inside",
        ),
        pytest.param(
            {"properties": {"exclusiveMaximum": {"type": "boolean"}}},
            DRAFT2020,
            id="a-property-named-like-the-keyword-is-not-the-keyword",
        ),
        pytest.param(
            {"properties": {"a": {"type": "array", "items": [{"type": "string"}]}}},
            DRAFT7,
            id="items-tuple-is-draft7",
        ),
        pytest.param({"dependencies": {"a": ["b"]}}, DRAFT7, id="dependencies-is-draft7"),
        pytest.param({"properties": {"a": {"type": "number"}}}, DRAFT2020, id="plain-2020-12"),
        pytest.param(
            {"$schema": "http://json-schema.org/draft-04/schema#", "exclusiveMinimum": 3},
            DRAFT4,
            id="schema-draft4-wins",
        ),
        pytest.param(
            {"$schema": "http://json-schema.org/draft-06/schema", "exclusiveMinimum": True},
            DRAFT6,
            id="schema-draft6-wins-over-a-boolean",
        ),
        pytest.param(
            {"$schema": "https://json-schema.org/draft/2019-09/schema"}, DRAFT2019, id="2019-09"
        ),
        pytest.param(
            {"$schema": "http://example.com/my-schema", "maximum": 1, "exclusiveMaximum": True},
            DRAFT4,
            id="unknown-schema-uri-falls-back-to-detection",
        ),
    ],
)
def test_dialect_detection(schema_: dict, dialect: type) -> None:
    assert dialect_of(schema_)[0] is dialect


READERS = [pytest.param(decoded, id="decimal"), pytest.param(lambda v: v, id="float")]


@pytest.mark.parametrize("schema_reader", READERS)
@pytest.mark.parametrize("record_reader", READERS)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(12.34, None, id="inside"),
        pytest.param(0.07, None, id="binary-float-trap"),
        pytest.param(999.99, None, id="just-below-the-bound"),
        pytest.param(5, None, id="integer"),
        pytest.param(1000, "1000 is greater than or equal to the maximum of 1000", id="bound"),
        pytest.param(-1000, "-1000 is less than or equal to the minimum of -1000", id="low-bound"),
        pytest.param(1.005, "is not a multiple of 0.01", id="three-places"),
    ],
)
def test_draft4_pipelinewise_numeric_reads_as_draft4(
    schema_reader, record_reader, value: Any, message: str | None
) -> None:
    # Schema and record numbers as Decimal (singer-sdk's reader) or float, in every mix.
    validator = RecordValidator(schema_reader(PIPELINEWISE), stream="accounts")
    error = validator.first_error(record_reader({"id": 1, "n": value}))
    if message is None:
        assert error is None
    else:
        assert error is not None
        assert message in error.message


@pytest.mark.parametrize(
    ("value", "step", "expected"),
    [
        pytest.param(Decimal("12.34"), 0.01, True, id="decimal-by-float"),
        pytest.param(12.34, Decimal("0.01"), True, id="float-by-decimal"),
        pytest.param(0.07, 0.01, True, id="float-by-float-0.07"),
        pytest.param(Decimal("0.07"), Decimal("0.01"), True, id="decimal-by-decimal"),
        pytest.param(7, 0.01, True, id="int-by-float"),
        pytest.param(Decimal("1.005"), 0.01, False, id="three-places"),
        pytest.param(Decimal("1E-38"), Decimal("1E-38"), True, id="tiny-step"),
        pytest.param(Decimal("1.5E-38"), Decimal("1E-38"), False, id="tiny-step-half"),
        pytest.param(10**40, Decimal("0.03"), False, id="huge-int-by-0.03"),
        pytest.param(3 * 10**40, Decimal("0.03"), True, id="huge-multiple-of-0.03"),
        pytest.param(
            Decimal("123456789012345678901234567890.001"), 0.01, False, id="beyond-28-digits"
        ),
        pytest.param(Decimal("1E+999999999"), Decimal("0.3"), False, id="enormous-exponent"),
        pytest.param(Decimal("3E+999999999"), 3, True, id="enormous-multiple"),
        pytest.param(Decimal("-0.50"), Decimal("0.25"), True, id="negative"),
        pytest.param(0, Decimal("0.3"), True, id="zero"),
        pytest.param(Decimal("NaN"), 1, False, id="nan"),
        pytest.param(True, 1, False, id="boolean-is-no-number"),
    ],
)
def test_multiple_of_is_exact(value: Any, step: Any, expected: bool) -> None:
    assert is_multiple_of(value, step) is expected


@given(
    value=st.one_of(
        st.integers(-(10**30), 10**30),
        st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**20), max_value=10**20),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e20, max_value=1e20),
    ),
    step=st.one_of(
        st.integers(1, 10**6),
        st.decimals(min_value=Decimal("1E-12"), max_value=1000, allow_nan=False),
        st.sampled_from([0.01, 0.25, 1e-06, 0.1, 3.0]),
    ),
)
def test_multiple_of_agrees_with_fractions(value: Any, step: Any) -> None:
    quotient = Fraction(str(value)) / Fraction(str(step))
    assert is_multiple_of(value, step) is (quotient.denominator == 1)


@pytest.mark.parametrize(
    ("schema_", "keyword", "record_"),
    [
        pytest.param(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "properties": {"a": {"type": "number", "maximum": 5, "exclusiveMaximum": True}},
            },
            "keyword 'exclusiveMaximum' at properties.a.exclusiveMaximum",
            {"a": 3},
            id="draft4-flag-under-2020-12",
        ),
        pytest.param(
            {
                "$schema": "http://json-schema.org/draft-04/schema#",
                "properties": {"a": {"type": "number", "exclusiveMinimum": 10}},
            },
            "keyword 'exclusiveMinimum' at properties.a.exclusiveMinimum",
            {"a": 3},
            id="draft7-bound-under-draft4",
        ),
        pytest.param(
            {"properties": {"a": {"type": "int"}}},
            "keyword 'type' at properties.a.type",
            {"a": "7"},
            id="unknown-type",
        ),
        pytest.param(
            {"properties": {"a": 5, "b": {"type": "string"}}, "additionalProperties": False},
            "the schema of property 'a' at properties.a",
            {"a": 1, "b": "x"},
            id="property-schema-not-a-schema-stays-declared",
        ),
        pytest.param(
            {"properties": {"a": {"type": "string", "maxLength": -1}}},
            "keyword 'maxLength' at properties.a.maxLength",
            {"a": "abc"},
            id="negative-max-length",
        ),
        pytest.param(
            {"properties": {"a": {"type": "number", "multipleOf": 0}}},
            "keyword 'multipleOf' at properties.a.multipleOf",
            {"a": 3},
            id="zero-multiple-of",
        ),
    ],
)
def test_a_schema_invalid_in_its_dialect_warns_once_and_rejects_nothing(
    caplog, schema_: dict, keyword: str, record_: dict
) -> None:
    with caplog.at_level(logging.WARNING, logger="target_salesforce_out.validation"):
        validator = RecordValidator(schema_, stream="accounts")
        for _ in range(3):
            assert validator.first_error(dict(record_)) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"stream 'accounts': in the SCHEMA, {keyword} is not valid")
    assert "no record is rejected for it" in warnings[0]


def test_the_rest_of_a_repaired_schema_still_applies() -> None:
    validator = RecordValidator(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "properties": {
                "a": {"type": "number", "maximum": 5, "exclusiveMaximum": True},
                "b": {"type": "string", "maxLength": 2},
            },
        },
        stream="s",
    )
    error = validator.first_error({"a": 6, "b": "xyz"})
    assert error is not None
    assert error.message == "6 is greater than the maximum of 5"


def test_a_schema_that_cannot_be_applied_lets_records_through_with_one_warning(caplog) -> None:
    schema_ = {"properties": {"a": {"$ref": "#/definitions/missing"}}}
    with caplog.at_level(logging.WARNING, logger="target_salesforce_out.validation"):
        validator = RecordValidator(schema_, stream="orders")
        assert all(validator.first_error({"a": n}) is None for n in range(3))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("stream 'orders': the SCHEMA could not be applied to a record")


def test_a_valid_schema_warns_nothing(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="target_salesforce_out.validation"):
        for schema_ in SCHEMAS:
            RecordValidator(schema_, stream="quiet")
    assert caplog.records == []


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


def test_an_unknown_schema_uri_warns_and_falls_back_to_detection(caplog) -> None:
    schema_ = {
        "$schema": "http://json-schema.org/schema#",
        "properties": {"a": {"type": "number", "maximum": 5, "exclusiveMaximum": True}},
    }
    with caplog.at_level(logging.WARNING, logger="target_salesforce_out.validation"):
        validator = RecordValidator(schema_, stream="legacy")
    assert validator.dialect is DRAFT4
    assert validator.first_error({"a": 4}) is None
    assert validator.first_error({"a": 5}) is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "stream 'legacy': $schema 'http://json-schema.org/schema#' names no JSON Schema draft "
        "the target knows; the SCHEMA is read as draft 4, found by a boolean "
        "exclusiveMinimum/exclusiveMaximum (draft 4)"
    ]
