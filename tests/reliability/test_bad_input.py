"""Bad input: a clear error or a per-record rejection, and nothing lost.

"Nothing lost" means every record is either in the store or in the dead-letter file (with a
message naming the stream, the record's key and the field), or, when the input itself is
broken, the run stops before any STATE so that the replay sends the records again.
"""

from __future__ import annotations

import json

import pytest
from helpers import base_config, record, run_target, schema, state

STREAM_PROPS = {
    "ref": {"type": ["string", "null"]},
    "last_name": {"type": ["string", "null"]},
    "first_name": {"type": ["string", "null"]},
    "email": {"type": ["string", "null"]},
    "birthdate": {"type": ["string", "null"], "format": "date"},
    "total_orders": {"type": ["integer", "null"], "minimum": 0},
    "tier": {"type": ["string", "null"]},
    "account_id": {"type": ["string", "array", "null"], "items": {"type": "string"}},
}


def _stream(api: str, **extra):
    return {
        "sobject": "Contact",
        "api": api,
        "external_id_field": "External_Id__c",
        "field_mapping": {
            "ref": "External_Id__c",
            "tier": "Loyalty_Tier__c",
            "account_id": "AccountId",
        },
        **extra,
    }


def _config(emulator, tmp_path, api="rest", **overrides):
    return base_config(emulator.base_url, tmp_path, streams={"contacts": _stream(api)}, **overrides)


def _good(i: int) -> dict:
    return {"ref": f"K-{i}", "last_name": f"Last {i}", "email": f"k{i}@example.com"}


def _text(messages) -> str:
    return "".join(json.dumps(m) + "\n" for m in messages)


# -- broken input stops the run before STATE ------------------------------------------------------

HEAD = [
    schema("contacts", STREAM_PROPS, ["ref"]),
    *[record("contacts", _good(i)) for i in range(3)],
]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (
            '{"type": "RECORD", "stream": "contacts", "record": {"ref": "K-9"',
            "input line 6 is not valid JSON",
        ),
        ("", "input line 6 is not valid JSON"),
        ("[1, 2]", "input line 6 is not a JSON object: '[1, 2]'"),
        ('{"type": "RECORD"}', "input line 6: Line is missing required"),
        (
            '{"type": "RECORD", "stream": "leads", "record": {"a": 1}}',
            "input line 6: A record for stream 'leads' was encountered before a corresponding "
            "schema",
        ),
        ('{"type": "RECORDS", "stream": "contacts"}', "unknown Singer message type 'RECORDS'"),
    ],
    ids=[
        "truncated-json",
        "blank-line",
        "not-an-object",
        "missing-keys",
        "record-before-schema",
        "unknown-type",
    ],
)
def test_a_broken_line_names_its_line_and_exits_3_after_writing_what_came_before(
    line, error, salesforce_emulator, tmp_path
):
    text = _text([*HEAD, state({"n": 0})]) + line + "\n" + _text([state({"n": 1})])
    run = run_target(_config(salesforce_emulator, tmp_path), text, tmp_path)
    assert run.returncode == 3
    assert error in run.stderr
    assert "Traceback" not in run.stderr
    assert error in " ".join(run.report["errors"])
    assert run.report["status"] == "bad input"
    # The records read before the broken line are written and accounted for; STATE covers
    # exactly them (the STATE after the broken line was never read).
    stats = run.report["streams"]["contacts"]
    assert (stats["received"], stats["created"]) == (3, 3)
    assert len(salesforce_emulator.records("Contact")) == 3
    assert run.states == [{"n": 0}]


def test_record_before_any_schema_writes_nothing(salesforce_emulator, tmp_path):
    run = run_target(
        _config(salesforce_emulator, tmp_path), [record("contacts", _good(1)), *HEAD], tmp_path
    )
    assert run.returncode == 3
    assert (
        "input line 1: A record for stream 'contacts' was encountered before a corresponding "
        "schema" in run.stderr
    )
    assert run.states == []
    assert salesforce_emulator.records("Contact") == []


# -- bad records are rejected one by one --------------------------------------------------------

# (record, errorCode, text the message must contain, fields)
BAD_RECORDS = [
    ({"ref": "K-type", "last_name": 5}, "INVALID_RECORD", "property 'last_name'", ["LastName"]),
    (
        {"ref": "K-schema", "last_name": "x", "total_orders": -1},
        "INVALID_RECORD",
        "property 'total_orders'",
        ["Total_Orders__c"],
    ),
    ({"ref": "K-unknown", "last_name": "x", "nickname": "Bo"}, "INVALID_RECORD", "'nickname'", []),
    (
        {"ref": "K-long", "last_name": "x", "first_name": "F" * 41},
        "STRING_TOO_LONG",
        "property 'first_name' -> FirstName",
        ["FirstName"],
    ),
    (
        {"ref": "K-date", "last_name": "x", "birthdate": "2023-02-30"},
        "INVALID_RECORD",
        "property 'birthdate': not a date: '2023-02-30' (expected YYYY-MM-DD",
        ["Birthdate"],
    ),
    (
        {
            "ref": "K-ids",
            "last_name": "x",
            "account_id": ["001000000000001AAA", "001000000000002AAA"],
        },
        "MALFORMED_ID",
        "property 'account_id' -> AccountId",
        ["AccountId"],
    ),
    (
        {"ref": "K-badid", "last_name": "x", "account_id": "not-an-id"},
        "MALFORMED_ID",
        "property 'account_id' -> AccountId",
        ["AccountId"],
    ),
    (
        {"ref": "K-tier", "last_name": "x", "tier": "Bronze"},
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "property 'tier' -> Loyalty_Tier__c",
        ["Loyalty_Tier__c"],
    ),
    (
        {"ref": None, "last_name": "no key"},
        "MISSING_KEY",
        "no value for the key field External_Id__c (property 'ref' is absent, null or empty)",
        ["External_Id__c"],
    ),
    (
        {"last_name": "absent key"},
        "MISSING_KEY",
        "no value for the key field External_Id__c (property 'ref' is absent, null or empty)",
        ["External_Id__c"],
    ),
]


def _bad_batch():
    messages = [schema("contacts", STREAM_PROPS, ["ref"])]
    for i, (bad, *_) in enumerate(BAD_RECORDS):
        messages += [record("contacts", _good(i)), record("contacts", bad)]
    return [*messages, state({"n": 1})]


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_each_bad_record_is_rejected_with_stream_key_and_field_and_the_rest_land(
    api, salesforce_emulator, tmp_path
):
    run = run_target(
        _config(salesforce_emulator, tmp_path, api, on_record_error="continue"),
        _bad_batch(),
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.states == [{"n": 1}]
    by_key = {json.dumps(d["record"], sort_keys=True): d for d in run.dead_letters}
    assert len(by_key) == len(run.dead_letters) == len(BAD_RECORDS)
    for bad, code, text, fields in BAD_RECORDS:
        dead = by_key[json.dumps(bad, sort_keys=True)]
        assert (dead["errorCode"], dead["fields"]) == (code, fields), dead
        assert text in dead["message"], dead["message"]
        assert dead["message"].startswith("stream 'contacts'")
        if bad.get("ref"):
            assert f"record External_Id__c={bad['ref']!r}" in dead["message"]
        assert dead["source"] == "target"
    stored = {r["External_Id__c"] for r in salesforce_emulator.records("Contact")}
    assert stored == {f"K-{i}" for i in range(len(BAD_RECORDS))}
    stats = run.report["streams"]["contacts"]
    assert (stats["received"], stats["created"], stats["failed"]) == (
        2 * len(BAD_RECORDS),
        len(BAD_RECORDS),
        len(BAD_RECORDS),
    )


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_on_record_error_fail_finishes_the_batch_then_exits_without_state(
    api, salesforce_emulator, tmp_path
):
    run = run_target(_config(salesforce_emulator, tmp_path, api), _bad_batch(), tmp_path)
    assert run.returncode == 1
    assert "on_record_error is fail" in run.stderr
    assert run.states == []
    assert len(run.dead_letters) == len(BAD_RECORDS)
    # The good records of the batch were still written; the replay upserts them again.
    assert len(salesforce_emulator.records("Contact")) == len(BAD_RECORDS)


def test_a_salesforce_rejection_is_dead_lettered_with_its_error(salesforce_emulator, tmp_path):
    bad = {"ref": "K-mail", "last_name": "x", "email": "not an email"}
    run = run_target(
        _config(salesforce_emulator, tmp_path, on_record_error="continue"),
        [
            schema("contacts", STREAM_PROPS, ["ref"]),
            record("contacts", _good(1)),
            record("contacts", bad),
        ],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    [dead] = run.dead_letters
    assert (dead["errorCode"], dead["fields"], dead["source"]) == (
        "INVALID_EMAIL_ADDRESS",
        ["Email"],
        "salesforce",
    )
    assert dead["record"] == bad
    assert [r["External_Id__c"] for r in salesforce_emulator.records("Contact")] == ["K-1"]


# -- external ids full of SOQL and CSV metacharacters --------------------------------------------

AWKWARD_KEYS = [
    "O'Brien",
    'say "hi"',
    "back\\slash",
    "ends with \\",
    "comma,separated",
    "semi;colon|pipe",
    "new\nline",
    "crlf\r\nkey",
    "tab\tkey",
    "x' OR Name != '",
    "100%_like",
    "Zoë-東京-🚀",
    "=cmd|' /C calc'!A0",
]


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_external_ids_with_quotes_backslashes_commas_and_newlines(
    api, salesforce_emulator, tmp_path
):
    props = {
        "ref": {"type": "string"},
        "last_name": {"type": "string"},
        "email": {"type": "string"},
    }

    def load(operation, email, keys):
        stream = {**_stream(api), "operation": operation}
        config = base_config(
            salesforce_emulator.base_url,
            tmp_path,
            streams={"contacts": stream},
            on_record_error="continue",
        )
        messages = [schema("contacts", props, ["ref"])]
        messages += [
            record("contacts", {"ref": k, "last_name": f"L{i}", "email": email})
            for i, k in enumerate(keys)
        ]
        return run_target(config, messages, tmp_path)

    keys = [*AWKWARD_KEYS, "#N/A"]
    # Bulk CSV reads a #N/A cell as null, so that one key cannot travel by Bulk.
    landing = keys if api == "rest" else AWKWARD_KEYS
    created = load("upsert", "one@example.com", keys)
    assert created.returncode == 0, created.stderr
    assert created.report["streams"]["contacts"]["created"] == len(landing)
    updated = load("upsert", "two@example.com", keys)  # the same keys again: updates only
    assert updated.returncode == 0, updated.stderr
    assert updated.report["streams"]["contacts"]["updated"] == len(landing)
    # update looks each record's Id up with SOQL: every key goes through the quoting.
    looked_up = load("update", "three@example.com", keys)
    assert looked_up.returncode == 0, looked_up.stderr
    assert looked_up.report["streams"]["contacts"]["updated"] == len(landing)

    stored = {r["External_Id__c"]: r["Email"] for r in salesforce_emulator.records("Contact")}
    assert stored == dict.fromkeys(landing, "three@example.com")
    if api == "rest":
        assert created.dead_letters == updated.dead_letters == looked_up.dead_letters == []
    else:
        for run, code in (
            (created, "BULK_UNSENDABLE_VALUE"),
            (updated, "BULK_UNSENDABLE_VALUE"),
            (looked_up, "NOT_FOUND"),
        ):
            [dead] = run.dead_letters
            assert dead["record"]["ref"] == "#N/A"
            assert dead["errorCode"] == code
            assert "stream 'contacts', record External_Id__c='#N/A'" in dead["message"]


# -- huge records -------------------------------------------------------------------------------

DOCUMENT = {
    "objects": {
        "Document__c": {
            "fields": {
                "Ref__c": {"type": "string", "length": 40, "externalId": True, "unique": True},
                **{f"Body{i}__c": {"type": "textarea", "length": 131072} for i in range(1, 5)},
            }
        }
    }
}


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_huge_records(api, salesforce_emulator_factory, tmp_path):
    emulator = salesforce_emulator_factory(metadata=DOCUMENT)
    props = {"ref": {"type": "string"}, **{f"body{i}": {"type": "string"} for i in range(1, 5)}}
    stream = {
        "sobject": "Document__c",
        "api": api,
        "external_id_field": "Ref__c",
        "field_mapping": {"ref": "Ref__c"},
    }
    config = base_config(
        emulator.base_url, tmp_path, streams={"docs": stream}, on_record_error="continue"
    )
    text_100k = "".join(chr(0x41 + i % 26) for i in range(99_990)) + ', "é"\n🚀'
    over_400k = {f"body{i}": "x" * 110_000 for i in range(1, 5)}  # 440,000 characters
    messages = [
        schema("docs", props, ["ref"]),
        record("docs", {"ref": "D-100k", "body1": text_100k}),
        record("docs", {"ref": "D-440k", **over_400k}),
        record("docs", {"ref": "D-too-long", "body1": "y" * 131_073}),
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    stored = {r["Ref__c"]: r for r in emulator.records("Document__c")}
    assert stored["D-100k"]["Body1__c"] == text_100k
    dead = {d["record"]["ref"]: d for d in run.dead_letters}
    assert dead["D-too-long"]["errorCode"] == "STRING_TOO_LONG"
    assert dead["D-too-long"]["fields"] == ["Body1__c"]
    if api == "rest":
        assert stored["D-440k"]["Body4__c"] == "x" * 110_000
        assert set(dead) == {"D-too-long"}
    else:
        # Bulk API takes at most 400,000 characters per record: rejected before the upload.
        assert set(stored) == {"D-100k"}
        assert dead["D-440k"]["errorCode"] == "RECORD_TOO_LARGE"
        assert "stream 'docs', record Ref__c='D-440k'" in dead["D-440k"]["message"]
        assert "400000" in dead["D-440k"]["message"]


# -- empty streams and streams without a key ------------------------------------------------------


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_a_stream_with_a_schema_and_no_records(api, salesforce_emulator, tmp_path):
    run = run_target(
        _config(salesforce_emulator, tmp_path, api),
        [schema("contacts", STREAM_PROPS, ["ref"]), state({"n": 7})],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.states == [{"n": 7}]
    stats = run.report["streams"]["contacts"]
    assert (stats["received"], stats["created"], stats["failed"], stats["bulk_jobs"]) == (
        0,
        0,
        0,
        [],
    )
    writes = [
        r
        for r in salesforce_emulator.requests
        if "/composite/" in r["path"] or "/jobs/" in r["path"]
    ]
    assert writes == []


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_an_upsert_stream_with_no_key_is_a_config_error_before_any_write(
    api, salesforce_emulator, tmp_path
):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={"contacts": {"sobject": "Contact", "api": api}},
    )
    run = run_target(
        config,
        [
            schema("contacts", {"last_name": {"type": "string"}}),
            record("contacts", {"last_name": "x"}),
        ],
        tmp_path,
    )
    assert run.returncode == 2  # a configuration error
    assert (
        "stream 'contacts' -> Contact: operation upsert needs external_id_field "
        "(an external id field, or Id) or match_fields"
    ) in run.stderr
    assert run.states == []
    assert salesforce_emulator.records("Contact") == []
