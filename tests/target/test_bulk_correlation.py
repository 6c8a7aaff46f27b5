"""Bulk results are credited to the rows that produced them, whatever the column types.

Salesforce echoes uploaded values in its result files "as parsed" (``100`` as ``100.0``, an id
in 18 characters, ...) and in no particular order; the emulator's ``echo_as_parsed`` rule does
the same. Rows that differ in a single number, date, boolean or lookup must still each get their
own outcome: created once, or dead-lettered with their own values.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from helpers import base_config, record, run_target, schema

from target_salesforce_out.ids import to18
from target_salesforce_out.sinks.bulk_csv import RowFormat, canonical_cell

METADATA = {
    "objects": {
        "Meter__c": {
            "label": "Meter",
            "fields": {
                "Serial__c": {
                    "type": "double",
                    "precision": 18,
                    "scale": 0,
                    "externalId": True,
                    "unique": True,
                    "label": "Serial",
                },
            },
        },
        "Reading__c": {
            "label": "Reading",
            "fields": {
                "Reading_Number__c": {
                    "type": "double",
                    "precision": 18,
                    "scale": 0,
                    "externalId": True,
                    "unique": True,
                    "label": "Reading Number",
                },
                "Note__c": {"type": "string", "length": 80, "label": "Note"},
                "Count__c": {"type": "int", "digits": 9, "label": "Count"},
                "Value__c": {"type": "double", "precision": 18, "scale": 6, "label": "Value"},
                "Cost__c": {"type": "currency", "precision": 16, "scale": 2, "label": "Cost"},
                "Share__c": {"type": "percent", "precision": 5, "scale": 2, "label": "Share"},
                "Day__c": {"type": "date", "label": "Day"},
                "Taken_At__c": {"type": "datetime", "label": "Taken At"},
                "Valid__c": {"type": "boolean", "label": "Valid"},
                "Account__c": {"type": "reference", "referenceTo": ["Account"], "label": "Account"},
                "Meter__c": {"type": "reference", "referenceTo": ["Meter__c"], "label": "Meter"},
            },
        },
    }
}
ON_JOBS = {"path_contains": "/jobs/ingest"}
ECHO_AS_PARSED = {"match": ON_JOBS, "echo_as_parsed": True}
# Every second distinct record fails for good; every second of the others hits a row lock once
# (retried in a new job). Distinct records are numbered in upload order.
PERMANENT = {
    "match": ON_JOBS,
    "record_error": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    "every_nth_record": 2,
    "first_attempts": 99,
}
LOCKED_ONCE = {
    "match": ON_JOBS,
    "record_error": "UNABLE_TO_LOCK_ROW",
    "every_nth_record": 2,
    "first_attempts": 1,
}
SAME_TEXT = 'one note, "quoted" for all rows'
# Meter serial numbers (a numeric external id; 100000000 comes back as 1.0E8).
SERIALS = [1001, 1002, 1003, 100000000, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012]


def _as_instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _number(value: Any) -> Decimal:
    return Decimal(str(value))


# id, property, field (or relationship path), JSON schema, 12 values (as the tap sends them),
# the value in comparable form, and the stored record's value in the same form.
COLUMNS = [
    pytest.param(
        "count",
        "Count__c",
        {"type": "integer"},
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 912260031],
        int,
        lambda row, refs: row["Count__c"],
        id="int",
    ),
    pytest.param(
        "value",
        "Value__c",
        {"type": "number"},
        [0.5, 1.25, 100, 912260031, 0.0001, 2.5, 3.75, 123456.5, 7, 8.125, 42, 1e7],
        _number,
        lambda row, refs: _number(row["Value__c"]),
        id="double",
    ),
    pytest.param(
        "cost",
        "Cost__c",
        {"type": "number"},
        [10.25, 10.5, 99.99, 100, 1e7, 12345678901234.56, 0.01, 1, 2, 3, 4.5, 5.75],
        _number,
        lambda row, refs: _number(row["Cost__c"]),
        id="currency",
    ),
    pytest.param(
        "share",
        "Share__c",
        {"type": "number"},
        [1.5, 2.25, 7.25, 10, 99.99, 0.01, 3, 4, 5, 6.5, 8, 9],
        _number,
        lambda row, refs: _number(row["Share__c"]),
        id="percent",
    ),
    pytest.param(
        "day",
        "Day__c",
        {"type": "string", "format": "date"},
        [f"2024-02-{d:02d}" for d in range(17, 29)],
        str,
        lambda row, refs: row["Day__c"],
        id="date",
    ),
    pytest.param(
        "taken_at",
        "Taken_At__c",
        {"type": "string", "format": "date-time"},
        [f"2024-03-01T23:{m:02d}:15.250+05:30" for m in range(12)],
        _as_instant,
        lambda row, refs: _as_instant(row["Taken_At__c"]),
        id="datetime",
    ),
    pytest.param(
        "valid",
        "Valid__c",
        {"type": "boolean"},
        [True, False] * 6,
        bool,
        lambda row, refs: row["Valid__c"],
        id="boolean",
    ),
    pytest.param(
        "account",
        "Account__c",
        {"type": "string"},
        None,  # 15-character ids of accounts created first
        to18,
        lambda row, refs: to18(row["Account__c"]),
        id="reference-id",
    ),
    pytest.param(
        "meter",
        "Meter__r.Serial__c",
        {"type": "number"},
        SERIALS,
        int,
        lambda row, refs: refs[row["Meter__c"]],
        id="relationship-external-id",
    ),
]


def _emulator_with_parents(factory):
    emulator = factory(metadata=METADATA)
    accounts = emulator.org.save("insert", "Account", [{"Name": f"A{i}"} for i in range(12)])
    meters = emulator.org.save("insert", "Meter__c", [{"Serial__c": s} for s in SERIALS])
    assert all(r.success for r in [*accounts, *meters])
    refs = {r["Id"]: int(r["Serial__c"]) for r in emulator.records("Meter__c")}
    emulator.set_faults([ECHO_AS_PARSED, PERMANENT, LOCKED_ONCE])
    return emulator, [str(r.id)[:15] for r in accounts], refs


@pytest.mark.parametrize(("prop", "target", "prop_schema", "values", "norm", "stored"), COLUMNS)
def test_insert_rows_differing_in_one_typed_column_each_get_their_own_outcome(
    salesforce_emulator_factory, tmp_path, prop, target, prop_schema, values, norm, stored
):
    emulator, account_ids, refs = _emulator_with_parents(salesforce_emulator_factory)
    values = values or account_ids
    stream = {
        "sobject": "Reading__c",
        "api": "bulk",
        "operation": "insert",
        "field_mapping": {"note": "Note__c", prop: target},
    }
    config = base_config(
        emulator.base_url, tmp_path, on_record_error="continue", streams={"readings": stream}
    )
    messages = [
        schema("readings", {"note": {"type": "string"}, prop: prop_schema}),
        *[record("readings", {"note": SAME_TEXT, prop: v}) for v in values],
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr

    # The emulator fails every second distinct record (in upload order) for good.
    distinct = list(dict.fromkeys(norm(v) for v in values))
    doomed = set(distinct[1::2])
    # ... and every second of the others hits a row lock once (identical rows share the lock).
    locked = [v for v in distinct if v not in doomed][1::2]
    expected_created = Counter(norm(v) for v in values if norm(v) not in doomed)
    expected_failed = Counter(norm(v) for v in values if norm(v) in doomed)

    rows = emulator.records("Reading__c")
    assert Counter(stored(row, refs) for row in rows) == expected_created
    assert all(row["Note__c"] == SAME_TEXT for row in rows)
    assert {d["errorCode"] for d in run.dead_letters} == {"FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    assert Counter(norm(d["record"][prop]) for d in run.dead_letters) == expected_failed

    stats = run.report["streams"]["readings"]
    assert stats["received"] == len(values)
    assert stats["created"] == sum(expected_created.values())
    assert stats["failed"] == sum(expected_failed.values())
    assert stats["received"] == stats["created"] + stats["failed"]
    assert stats["retried"] == len(locked)
    jobs = run.report["streams"]["readings"]["bulk_jobs"]
    assert all("missing_results" not in j and "unmatched_results" not in j for j in jobs)


KEYED = [
    pytest.param(
        {"operation": "upsert", "external_id_field": "Reading_Number__c"},
        "number",
        "Reading_Number__c",
        [1, 2, 100, 1000, 10000000, 100000000, 123456789, 5, 6, 7, 8, 9],
        id="upsert-by-numeric-external-id",
    ),
    pytest.param(
        {"operation": "update", "external_id_field": "Id"},
        "sf_id",
        "Id",
        None,  # 15-character ids of the readings
        id="update-by-15-character-id",
    ),
]


@pytest.mark.parametrize(("settings", "prop", "target", "keys"), KEYED)
def test_keyed_rows_match_their_reformatted_echo(
    salesforce_emulator_factory, tmp_path, settings, prop, target, keys
):
    emulator = salesforce_emulator_factory(metadata=METADATA)
    seeded = emulator.org.save(
        "insert", "Reading__c", [{"Reading_Number__c": n, "Note__c": "seed"} for n in range(12)]
    )
    keys = keys or [str(r.id)[:15] for r in seeded]
    emulator.set_faults([ECHO_AS_PARSED, PERMANENT, LOCKED_ONCE])
    stream = {
        "sobject": "Reading__c",
        "api": "bulk",
        "field_mapping": {prop: target, "note": "Note__c", "count": "Count__c"},
        **settings,
    }
    config = base_config(
        emulator.base_url, tmp_path, on_record_error="continue", streams={"readings": stream}
    )
    props = {prop: {"type": "number" if prop == "number" else "string"}}
    messages = [
        schema("readings", {**props, "note": {"type": "string"}, "count": {"type": "integer"}}),
        *[record("readings", {prop: k, "note": "loaded", "count": i}) for i, k in enumerate(keys)],
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr

    doomed = set(range(12)[1::2])
    loaded = sorted(
        r["Count__c"] for r in emulator.records("Reading__c") if r["Note__c"] == "loaded"
    )
    assert loaded == [i for i in range(12) if i not in doomed]
    assert sorted(d["record"]["count"] for d in run.dead_letters) == sorted(doomed)
    assert {d["errorCode"] for d in run.dead_letters} == {"FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    stats = run.report["streams"]["readings"]
    assert stats["received"] == 12 == stats["created"] + stats["updated"] + stats["failed"]
    assert stats["failed"] == len(doomed)
    assert stats["retried"] > 0


SAME = [
    pytest.param("number", "100", "1.0E2", id="number-exponent"),
    pytest.param("number", "912260031", "9.12260031E8", id="number-java-double"),
    pytest.param("number", "0.10", "0.1", id="number-trailing-zero"),
    pytest.param("number", "-0", "0.0", id="number-negative-zero"),
    pytest.param("integer", "100", "100.0", id="integer-as-double"),
    pytest.param("integer", "123456789012345678", "123456789012345678", id="long-exact"),
    pytest.param("boolean", "true", "TRUE", id="boolean-case"),
    pytest.param("date", "2024-02-29", "2024-02-29T00:00:00.000Z", id="date-with-time"),
    pytest.param(
        "datetime", "2024-03-01T18:00:15.250Z", "2024-03-01T18:00:15.250+0000", id="datetime-utc"
    ),
    pytest.param(
        "datetime", "2024-03-01T18:00:15.250Z", "2024-03-01T23:30:15.25+05:30", id="datetime-offset"
    ),
    pytest.param("time", "08:30:00.000Z", "08:30:00", id="time"),
    pytest.param("id", "001000000000001", "001000000000001AAA", id="id-15-vs-18"),
    pytest.param("text", "#N/A", "", id="null-as-empty"),
]
DIFFERENT = [
    pytest.param("number", "100", "100.5", id="number"),
    pytest.param("integer", "123456789012345678", "123456789012345679", id="long-last-digit"),
    pytest.param("boolean", "true", "false", id="boolean"),
    pytest.param("date", "2024-02-29", "2024-03-01", id="date"),
    pytest.param(
        "datetime", "2024-03-01T18:00:15.250Z", "2024-03-01T18:00:15.251Z", id="datetime-1ms"
    ),
    pytest.param("id", "001A00000000001", "001a00000000001", id="id-case"),
    pytest.param("text", "Smith", "smith", id="text-case"),
    pytest.param("text", " Smith", "Smith", id="text-space"),
    pytest.param("number", "0", "", id="zero-vs-null"),
]


@pytest.mark.parametrize(("kind", "uploaded", "echoed"), SAME)
def test_a_value_and_its_salesforce_rendering_compare_equal(kind, uploaded, echoed):
    assert canonical_cell(kind, uploaded) == canonical_cell(kind, echoed)


@pytest.mark.parametrize(("kind", "first", "second"), DIFFERENT)
def test_different_values_never_compare_equal(kind, first, second):
    assert canonical_cell(kind, first) != canonical_cell(kind, second)


def test_row_keys_separate_cells_and_follow_the_key_column():
    fmt = RowFormat(("Name", "Note__c"), kinds=("text", "text"))
    # The cell boundary is part of the key: "a,bc" is not "ab,c".
    assert fmt.correlation_key(["a", "bc"]) != fmt.correlation_key(["ab", "c"])
    keyed = RowFormat(("Ext__c", "Name"), key="Ext__c", kinds=("number", "text"))
    assert keyed.correlation_key(["100", "x"]) == keyed.correlation_key(["1.0E2", "y"])
    by_id = RowFormat(("Id", "Name"), key="Id", kinds=("id", "text"))
    assert by_id.correlation_key(["001000000000001", "x"]) == "k:001000000000001AAA"
    # Without a key value the whole row is the key.
    assert by_id.correlation_key(["", "x"]) == by_id.correlation_key(["#N/A", "x"])
    assert by_id.correlation_key(["", "x"]) != by_id.correlation_key(["", "y"])


def test_emulator_echo_as_parsed_renders_typed_cells_anew(salesforce_emulator_factory):
    emulator = salesforce_emulator_factory(metadata=METADATA, faults=[ECHO_AS_PARSED])
    [account] = emulator.org.save("insert", "Account", [{"Name": "A"}])
    data = f"{emulator.base_url}/services/data/v62.0/jobs/ingest"
    headers = {"Authorization": f"Bearer {emulator.access_token()}"}
    job = requests.post(
        data, json={"object": "Reading__c", "operation": "insert"}, headers=headers, timeout=10
    ).json()
    csv_text = (
        "Note__c,Count__c,Value__c,Valid__c,Taken_At__c,Account__c,Day__c\n"
        f'"a, b",100,912260031,true,2024-03-01T18:00:15.250Z,{account.id[:15]},#N/A\n'
    )
    put = requests.put(
        f"{data}/{job['id']}/batches",
        data=csv_text.encode(),
        headers={**headers, "Content-Type": "text/csv"},
        timeout=10,
    )
    assert put.status_code == 201
    requests.patch(
        f"{data}/{job['id']}", json={"state": "UploadComplete"}, headers=headers, timeout=10
    )
    state = ""
    while state != "JobComplete":
        time.sleep(0.05)
        state = requests.get(f"{data}/{job['id']}", headers=headers, timeout=10).json()["state"]
        assert state in {"UploadComplete", "InProgress", "JobComplete"}
    results = requests.get(f"{data}/{job['id']}/successfulResults/", headers=headers, timeout=10)
    row = results.text.splitlines()[1]
    assert row.split(",", 2)[2] == (
        f'"a, b","100.0","9.12260031E8","TRUE","2024-03-01T18:00:15.250+0000","{account.id}",""'
    )
