"""Schemas in the shapes real taps emit, each loaded end to end through the target's CLI.

Every case is a SCHEMA message as a tap writes it (pipelinewise tap-postgres and tap-mysql in
JSON Schema draft 4 with boolean exclusive bounds and no ``$schema``; draft 7 and 2020-12 with
``$schema``; singer-sdk taps' ``anyOf`` null unions; ``singer.decimal`` strings; ``{}``
properties; ``additionalProperties``; nested objects and arrays sent to a text field;
``maxLength``), then records. Each run goes through the console script into the emulator, and
every record must be stored with the exact value, read back from
``GET /__emulator/records/{Object}``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests
from helpers import base_config, record, run_target

SOBJECT = "Tap_Row__c"
# One custom object with a field of each type the cases need.
METADATA = {
    "objects": {
        SOBJECT: {
            "keyPrefix": "a0T",
            "label": "Tap Row",
            "labelPlural": "Tap Rows",
            "fields": {
                "Row_Key__c": {"type": "string", "length": 40, "externalId": True, "unique": True},
                "Amount__c": {"type": "currency", "precision": 18, "scale": 2},
                "Ratio__c": {"type": "double", "precision": 18, "scale": 6},
                "Count__c": {"type": "long", "digits": 18},
                "Code__c": {"type": "string", "length": 10},
                "Digits__c": {"type": "string", "length": 80},
                "Note__c": {"type": "textarea", "length": 32768},
                "Payload__c": {"type": "textarea", "length": 32768},
                "Extra__c": {"type": "textarea", "length": 32768},
                "Happened_At__c": {"type": "datetime"},
                "Day__c": {"type": "date"},
                "Clock__c": {"type": "time"},
                "Flag__c": {"type": "boolean"},
            },
        }
    }
}

# tap-postgres's array schemas (definitions referenced from each array column).
PG_DEFINITIONS = {
    "sdc_recursive_integer_array": {
        "type": ["null", "integer", "array"],
        "items": {"$ref": "#/definitions/sdc_recursive_integer_array"},
    },
    "sdc_recursive_string_array": {
        "type": ["null", "string", "array"],
        "items": {"$ref": "#/definitions/sdc_recursive_string_array"},
    },
}


def numeric(precision: int, scale: int, **extra: Any) -> dict[str, Any]:
    """A pipelinewise NUMERIC(precision, scale) column: draft-4 exclusive bounds."""
    bound = 10 ** (precision - scale)
    return {
        "type": ["null", "number"],
        "exclusiveMaximum": True,
        "maximum": bound,
        "multipleOf": 10 ** (0 - scale),
        "exclusiveMinimum": True,
        "minimum": -bound,
        **extra,
    }


CASES = [
    pytest.param(
        {
            "type": "object",
            "properties": {
                "id": {"type": ["string"]},
                "amount": numeric(12, 2),
                "ratio": numeric(10, 6),
                "qty": {
                    "type": ["null", "integer"],
                    "minimum": -9223372036854775808,
                    "maximum": 9223372036854775807,
                },
                "happened_at": {"type": ["null", "string"], "format": "date-time"},
                "day": {"type": ["null", "string"], "format": "date"},
                "clock": {"type": ["null", "string"], "format": "time"},
                "flag": {"type": ["null", "boolean"]},
                "payload": {"type": ["null", "object", "array"]},
                "tags": {"type": ["null", "object"], "properties": {}},
                "raw": {},
                "scores": {
                    "type": ["null", "array"],
                    "items": {"$ref": "#/definitions/sdc_recursive_integer_array"},
                },
            },
            "definitions": PG_DEFINITIONS,
        },
        {
            "id": "Row_Key__c",
            "amount": "Amount__c",
            "ratio": "Ratio__c",
            "qty": "Count__c",
            "happened_at": "Happened_At__c",
            "day": "Day__c",
            "clock": "Clock__c",
            "flag": "Flag__c",
            "payload": "Payload__c",
            "tags": "Note__c",
            "raw": "Digits__c",
            "scores": "Extra__c",
        },
        [
            '{"id": "pg-1", "amount": 12.34, "ratio": 1e-06, "qty": 9007199254740991, '
            '"happened_at": "2024-01-02T03:04:05.123456-03:30", "day": "2024-02-29", '
            '"clock": "13:30:00.250-03:00", "flag": true, '
            '"payload": {"a": [1, 2.50, {"b": null}], "c": "x"}, "tags": {"k": "v"}, '
            '"raw": "\\\\x00ff", "scores": [1, [2, 3]]}',
            '{"id": "pg-2", "amount": 0.07, "ratio": -9999.999999, "qty": -5, '
            '"happened_at": "2024-01-02 03:04:05", "day": "0999-12-31", "clock": "00:00:00", '
            '"flag": false, "payload": [1, "two"], "tags": {}, "raw": 7, "scores": []}',
            '{"id": "pg-3", "amount": -9999999999.99, "ratio": null, "qty": null, '
            '"happened_at": null, "day": null, "clock": null, "flag": null, "payload": null, '
            '"tags": null, "raw": null, "scores": null}',
        ],
        {
            "pg-1": {
                "Amount__c": Decimal("12.34"),
                "Ratio__c": Decimal("0.000001"),
                "Count__c": Decimal(9007199254740991),
                "Happened_At__c": "2024-01-02T06:34:05.123+0000",
                "Day__c": "2024-02-29",
                "Clock__c": "16:30:00.250Z",
                "Flag__c": True,
                "Payload__c": '{"a":[1,2.50,{"b":null}],"c":"x"}',
                "Note__c": '{"k":"v"}',
                "Digits__c": "\\x00ff",
                "Extra__c": "[1,[2,3]]",
            },
            "pg-2": {
                "Amount__c": Decimal("0.07"),
                "Ratio__c": Decimal("-9999.999999"),
                "Count__c": Decimal(-5),
                "Happened_At__c": "2024-01-02T03:04:05.000+0000",
                "Day__c": "0999-12-31",
                "Clock__c": "00:00:00.000Z",
                "Flag__c": False,
                "Payload__c": '[1,"two"]',
                "Note__c": "{}",
                "Digits__c": "7",
                "Extra__c": "[]",
            },
            "pg-3": {
                "Amount__c": Decimal("-9999999999.99"),
                "Ratio__c": None,
                "Count__c": None,
                "Happened_At__c": None,
                "Day__c": None,
                "Clock__c": None,
                "Flag__c": False,
                "Payload__c": None,
                "Note__c": None,
                "Digits__c": None,
                "Extra__c": None,
            },
        },
        id="pipelinewise-tap-postgres-draft4",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {
                "id": {
                    "inclusion": "automatic",
                    "minimum": -2147483648,
                    "maximum": 2147483647,
                    "type": ["null", "integer"],
                },
                "price": numeric(10, 2, inclusion="available"),
                "code": {"inclusion": "available", "maxLength": 10, "type": ["null", "string"]},
                "active": {"inclusion": "available", "type": ["null", "boolean"]},
                "created": {
                    "inclusion": "available",
                    "format": "date-time",
                    "type": ["null", "string"],
                },
            },
        },
        {
            "id": "Row_Key__c",
            "price": "Amount__c",
            "code": "Code__c",
            "active": "Flag__c",
            "created": "Happened_At__c",
        },
        [
            '{"id": 1, "price": 99999999.99, "code": "ABCDEFGHIJ", "active": true, '
            '"created": "2024-06-30T23:59:59.999999+00:00"}',
            '{"id": 2, "price": -0.01, "code": "\\u00f1and\\u00fa \\u2713", "active": false, '
            '"created": "1970-01-01T00:00:00+00:00"}',
        ],
        {
            "1": {
                "Amount__c": Decimal("99999999.99"),
                "Code__c": "ABCDEFGHIJ",
                "Flag__c": True,
                "Happened_At__c": "2024-06-30T23:59:59.999+0000",
            },
            "2": {
                "Amount__c": Decimal("-0.01"),
                "Code__c": "\u00f1and\u00fa \u2713",
                "Flag__c": False,
                "Happened_At__c": "1970-01-01T00:00:00.000+0000",
            },
        },
        id="pipelinewise-tap-mysql-draft4",
    ),
    pytest.param(
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "amount": {
                    "type": ["number", "null"],
                    "exclusiveMinimum": 0,
                    "exclusiveMaximum": 1000000,
                    "multipleOf": 0.01,
                },
                "code": {"type": ["string", "null"], "maxLength": 10},
                "count": {"type": "integer", "minimum": 1, "maximum": 1},
            },
            "required": ["id"],
        },
        {"id": "Row_Key__c", "amount": "Amount__c", "code": "Code__c", "count": "Count__c"},
        [
            '{"id": "d7-1", "amount": 999999.99, "code": "0123456789", "count": 1}',
            '{"id": "d7-2", "amount": 0.01, "code": null, "count": 1}',
        ],
        {
            "d7-1": {"Amount__c": Decimal("999999.99"), "Code__c": "0123456789"},
            "d7-2": {"Amount__c": Decimal("0.01"), "Code__c": None, "Count__c": Decimal(1)},
        },
        id="draft7-with-schema",
    ),
    pytest.param(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "updated": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
                "day": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
                "amount": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                "count": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                "note": {"anyOf": [{"type": "string", "maxLength": 20}, {"type": "null"}]},
            },
        },
        {
            "id": "Row_Key__c",
            "updated": "Happened_At__c",
            "day": "Day__c",
            "amount": "Amount__c",
            "count": "Count__c",
            "note": "Note__c",
        },
        [
            '{"id": "sdk-1", "updated": "2024-03-31T22:15:00.5+02:00", "day": "2024-04-01", '
            '"amount": 1234567890123.45, "count": 42, "note": "twenty characters!!!"}',
            '{"id": "sdk-2", "updated": null, "day": null, "amount": null, "count": null, '
            '"note": null}',
            '{"id": "sdk-3", "amount": 5}',
        ],
        {
            "sdk-1": {
                "Happened_At__c": "2024-03-31T20:15:00.500+0000",
                "Day__c": "2024-04-01",
                "Amount__c": Decimal("1234567890123.45"),
                "Count__c": Decimal(42),
                "Note__c": "twenty characters!!!",
            },
            "sdk-2": {"Happened_At__c": None, "Day__c": None, "Amount__c": None, "Note__c": None},
            "sdk-3": {"Amount__c": Decimal(5), "Note__c": None},
        },
        id="singer-sdk-anyof-null-2020-12",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {
                "id": {"type": ["string"]},
                "name": {"type": ["string", "null"], "maxLength": 10},
                "updated_at": {"type": ["string", "null"], "format": "date-time"},
                "meta": {
                    "type": ["object", "null"],
                    "properties": {
                        "source": {"type": ["string", "null"]},
                        "tags": {"type": ["array", "null"], "items": {"type": ["string"]}},
                        "geo": {
                            "type": ["object", "null"],
                            "properties": {
                                "lat": {"type": ["number", "null"]},
                                "lon": {"type": ["number", "null"]},
                            },
                        },
                    },
                },
                "labels": {"type": ["array", "null"], "items": {"type": ["string"]}},
            },
            "required": ["id"],
            "additionalProperties": False,
        },
        {
            "id": "Row_Key__c",
            "name": "Code__c",
            "updated_at": "Happened_At__c",
            "meta": "Payload__c",
            "labels": "Note__c",
        },
        [
            '{"id": "nest-1", "name": "\\u00c5se", "updated_at": "2024-12-31T23:59:59Z", '
            '"meta": {"source": "crm", "tags": ["a", "b"], '
            '"geo": {"lat": 52.520008, "lon": -13.404954}}, "labels": ["x", "y,z"]}',
            '{"id": "nest-2", "meta": {"source": null, "tags": [], "geo": null}, "labels": []}',
        ],
        {
            "nest-1": {
                "Code__c": "\u00c5se",
                "Happened_At__c": "2024-12-31T23:59:59.000+0000",
                "Payload__c": (
                    '{"source":"crm","tags":["a","b"],"geo":{"lat":52.520008,"lon":-13.404954}}'
                ),
                "Note__c": '["x","y,z"]',
            },
            "nest-2": {
                "Payload__c": '{"source":null,"tags":[],"geo":null}',
                "Note__c": "[]",
            },
        },
        id="nested-object-and-array-to-text-additionalProperties-false",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {
                "id": {"type": ["string"]},
                "big": {"type": ["null", "string"], "format": "singer.decimal"},
                "amount": {"type": ["null", "string"], "format": "singer.decimal"},
                "ratio": {"type": ["null", "string"], "format": "singer.decimal"},
            },
        },
        {"id": "Row_Key__c", "big": "Digits__c", "amount": "Amount__c", "ratio": "Ratio__c"},
        [
            '{"id": "dec-1", "big": "12345678901234567890.123", "amount": "1234.56", '
            '"ratio": "-0.000123"}',
            '{"id": "dec-2", "big": "-0.00000000000000000001", "amount": "0", "ratio": "1E+2"}',
        ],
        {
            "dec-1": {
                "Digits__c": "12345678901234567890.123",
                "Amount__c": Decimal("1234.56"),
                "Ratio__c": Decimal("-0.000123"),
            },
            "dec-2": {
                "Digits__c": "-0.00000000000000000001",
                "Amount__c": Decimal(0),
                "Ratio__c": Decimal(100),
            },
        },
        id="singer-decimal-strings",
    ),
    pytest.param(
        {"type": "object", "properties": {"id": {"type": "string"}, "anything": {}}},
        {"id": "Row_Key__c", "anything": "Note__c"},
        [
            '{"id": "any-1", "anything": "text"}',
            '{"id": "any-2", "anything": 42}',
            '{"id": "any-3", "anything": 1.50}',
            '{"id": "any-4", "anything": true}',
            '{"id": "any-5", "anything": {"a": 1, "b": [0.1]}}',
            '{"id": "any-6", "anything": [1, "b", null]}',
            '{"id": "any-7", "anything": null}',
        ],
        {
            "any-1": {"Note__c": "text"},
            "any-2": {"Note__c": "42"},
            "any-3": {"Note__c": "1.50"},
            "any-4": {"Note__c": "true"},
            "any-5": {"Note__c": '{"a":1,"b":[0.1]}'},
            "any-6": {"Note__c": '[1,"b",null]'},
            "any-7": {"Note__c": None},
        },
        id="empty-property-schemas",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {"id": {"type": "string"}, "name": {"type": ["string", "null"]}},
            "additionalProperties": True,
        },
        {"id": "Row_Key__c", "name": "Code__c"},
        ['{"id": "ap-1", "name": "Ann", "undeclared": "kept out"}'],
        {"ap-1": {"Code__c": "Ann", "Note__c": None}},
        id="additionalProperties-true",
    ),
]


def stored(base_url: str) -> dict[str, dict[str, Any]]:
    """The emulator's records of the object, by key, read over its inspection endpoint."""
    response = requests.get(f"{base_url}/__emulator/records/{SOBJECT}", timeout=30)
    response.raise_for_status()
    return {row["Row_Key__c"]: row for row in response.json()}


def same(got: Any, want: Any) -> bool:
    """Exact equality; numbers compared as the decimals they are written as."""
    if isinstance(want, Decimal):
        return isinstance(got, int | float) and Decimal(repr(got)) == want
    return type(got) is type(want) and got == want


def run(emulator, tmp_path, api, stream_schema, mapping, lines, **config):
    settings = {
        "sobject": SOBJECT,
        "api": api,
        "external_id_field": "Row_Key__c",
        "field_mapping": mapping,
    }
    cfg = base_config(
        emulator.base_url,
        tmp_path,
        streams={"rows": settings},
        on_record_error="continue",
        **config,
    )
    schema_message = {
        "type": "SCHEMA",
        "stream": "rows",
        "schema": stream_schema,
        "key_properties": ["id"],
    }
    text = json.dumps(schema_message) + "\n"
    text += "".join(f'{{"type": "RECORD", "stream": "rows", "record": {line}}}\n' for line in lines)
    return run_target(cfg, text, tmp_path)


@pytest.fixture
def emulator(salesforce_emulator_factory):
    return salesforce_emulator_factory(metadata=METADATA)


@pytest.mark.parametrize("api", ["rest", "bulk"])
@pytest.mark.parametrize(("stream_schema", "mapping", "lines", "want"), CASES)
def test_tap_schema_corpus_loads_every_record_exactly(
    emulator, tmp_path, api, stream_schema, mapping, lines, want
):
    result = run(emulator, tmp_path, api, stream_schema, mapping, lines)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.dead_letters == []
    rows = stored(emulator.base_url)
    assert set(rows) == set(want)
    for key, fields in want.items():
        for name, value in fields.items():
            assert same(rows[key][name], value), (key, name, rows[key][name], value)
    stats = result.report["streams"]["rows"]
    assert (stats["received"], stats["created"], stats["failed"]) == (
        len(lines),
        len(want),
        0,
    )


ODD_MOMENTS = [
    # (happened_at, day, clock) -> stored, or None when the record is rejected.
    ("2024-01-02T03:04:05.123456-03:30", "2024-01-02", "23:30:00-01:00"),
    ("0001-01-01T00:00:00+05:00", "2024-01-02", None),
    ("2024-01-02 03:04:05", "0999-12-31", "00:00:00.999999"),
    ("0999-06-01T12:00:00Z", "0001-01-01", "12:00:00+14:00"),
    ("9999-12-31T23:00:00-03:00", "9999-12-31", None),
]


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_odd_datetimes_load_or_reject_only_their_record(emulator, tmp_path, api):
    props = {
        "id": {"type": "string"},
        "happened_at": {"type": ["string", "null"], "format": "date-time"},
        "day": {"type": ["string", "null"], "format": "date"},
        "clock": {"type": ["string", "null"], "format": "time"},
    }
    mapping = {
        "id": "Row_Key__c",
        "happened_at": "Happened_At__c",
        "day": "Day__c",
        "clock": "Clock__c",
    }
    lines = [
        json.dumps({"id": f"odd-{i}", "happened_at": at, "day": day, "clock": clock})
        for i, (at, day, clock) in enumerate(ODD_MOMENTS)
    ]
    result = run(emulator, tmp_path, api, {"type": "object", "properties": props}, mapping, lines)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = stored(emulator.base_url)
    assert {k: (r["Happened_At__c"], r["Day__c"], r["Clock__c"]) for k, r in rows.items()} == {
        "odd-0": ("2024-01-02T06:34:05.123+0000", "2024-01-02", "00:30:00.000Z"),
        "odd-2": ("2024-01-02T03:04:05.000+0000", "0999-12-31", "00:00:00.999Z"),
        "odd-3": ("0999-06-01T12:00:00.000+0000", "0001-01-01", "22:00:00.000Z"),
    }
    dead = {d["record"]["id"]: d for d in result.dead_letters}
    assert set(dead) == {"odd-1", "odd-4"}
    for key, moment in (("odd-1", "0001-01-01"), ("odd-4", "9999-12-31")):
        message = dead[key]["message"]
        assert f"stream 'rows', record Row_Key__c='{key}'" in message
        assert "property 'happened_at' -> Happened_At__c" in message
        assert f"{moment}T" in message
        assert "outside the years 1 to 9999" in message
        assert dead[key]["fields"] == ["Happened_At__c"]


def test_a_postgres_accounts_stream_loads_every_row(salesforce_emulator, tmp_path):
    """The reported pipeline: pipelinewise tap-postgres into Account, 237 rows, all land."""
    properties = {
        "id": {"type": ["integer"], "minimum": -2147483648, "maximum": 2147483647},
        "name": {"type": ["null", "string"], "maxLength": 255},
        "annual_revenue": numeric(18, 2),
        "updated_at": {"type": ["null", "string"], "format": "date-time"},
    }
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={
            "public-accounts": {
                "sobject": "Account",
                "external_id_field": "External_Id__c",
                "field_mapping": {
                    "id": "External_Id__c",
                    "annual_revenue": "AnnualRevenue",
                    "updated_at": "Description",
                },
            }
        },
    )
    messages = [
        {
            "type": "SCHEMA",
            "stream": "public-accounts",
            "schema": {"type": "object", "properties": properties},
            "key_properties": ["id"],
        },
        *[
            record(
                "public-accounts",
                {
                    "id": i,
                    "name": f"Account {i}",
                    "annual_revenue": i * 1000,
                    "updated_at": "2024-05-01T10:00:00+00:00",
                },
            )
            for i in range(1, 238)
        ],
    ]
    result = run_target(config, messages, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.dead_letters == []
    rows = salesforce_emulator.records("Account")
    loaded = {r["External_Id__c"]: r for r in rows if r.get("External_Id__c")}
    assert len(loaded) == 237
    assert loaded["237"]["AnnualRevenue"] == 237000


@pytest.mark.parametrize(
    ("dialect", "amount", "keyword"),
    [
        pytest.param(
            "https://json-schema.org/draft/2020-12/schema",
            {"type": ["null", "number"], "maximum": 100, "exclusiveMaximum": True},
            "exclusiveMaximum",
            id="draft4-bounds-under-a-2020-12-schema",
        ),
        pytest.param(
            "http://json-schema.org/draft-04/schema#",
            {"type": ["null", "number"], "exclusiveMinimum": 0},
            "exclusiveMinimum",
            id="draft7-bounds-under-a-draft4-schema",
        ),
    ],
)
def test_a_schema_invalid_in_its_dialect_warns_once_and_rejects_nothing(
    emulator, tmp_path, dialect, amount, keyword
):
    stream_schema = {
        "$schema": dialect,
        "type": "object",
        "properties": {"id": {"type": "string"}, "amount": amount},
    }
    lines = [json.dumps({"id": f"w-{i}", "amount": 1 + i / 4}) for i in range(4)]
    mapping = {"id": "Row_Key__c", "amount": "Amount__c"}
    result = run(emulator, tmp_path, "rest", stream_schema, mapping, lines)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.dead_letters == []
    assert {k: r["Amount__c"] for k, r in stored(emulator.base_url).items()} == {
        "w-0": 1.0,
        "w-1": 1.25,
        "w-2": 1.5,
        "w-3": 1.75,
    }
    warnings = [line for line in result.stderr.splitlines() if "not valid JSON Schema" in line]
    assert len(warnings) == 1, result.stderr[-3000:]
    assert "stream 'rows'" in warnings[0]
    assert f"keyword {keyword!r} at properties.amount.{keyword}" in warnings[0]
