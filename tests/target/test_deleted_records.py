"""Rows deleted at the source (_sdc_deleted_at): deleted_records ignore, delete, hard_delete."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from helpers import CONTACT_PROPS, CONTACT_STREAM, base_config, contacts, record, run_target, schema

DELETED_AT = "2024-05-01T10:00:00Z"
BALANCE = (
    "created",
    "updated",
    "deleted",
    "failed",
    "not_sent",
    "outcome_unknown",
    "already_deleted",
    "ignored_deleted",
)


def _props(metadata=True):
    props = dict(CONTACT_PROPS)
    if metadata:
        props["_sdc_deleted_at"] = {"type": ["string", "null"], "format": "date-time"}
    return props


def _gone(ref):
    return record("contacts", {"contact_ref": ref, "_sdc_deleted_at": DELETED_AT})


def _seed(emulator, tmp_path, n=5):
    run = run_target(
        base_config(emulator.base_url, tmp_path, streams={"contacts": CONTACT_STREAM}),
        [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(n)],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    return {r["External_Id__c"]: r["Id"] for r in emulator.records("Contact")}


def _run(emulator, tmp_path, messages, *, stream=None, props=None, **config):
    streams = {"contacts": {**CONTACT_STREAM, **(stream or {})}}
    return run_target(
        base_config(emulator.base_url, tmp_path, streams=streams, **config),
        [schema("contacts", props or _props(), ["contact_ref"]), *messages],
        tmp_path,
    )


def _refs(emulator):
    return sorted(r["External_Id__c"] for r in emulator.records("Contact"))


def _balanced(stats):
    return stats["received"] == sum(stats[name] for name in BALANCE)


def _delete_calls(emulator):
    return [
        r
        for r in emulator.requests
        if r["method"] == "DELETE" and r["path"].endswith("/composite/sobjects")
    ]


def _jobs(report, operation):
    return [j for j in report["streams"]["contacts"]["bulk_jobs"] if j["operation"] == operation]


def test_ignore_is_the_default_counted_and_logged_once(salesforce_emulator, tmp_path):
    _seed(salesforce_emulator, tmp_path)
    run = _run(salesforce_emulator, tmp_path, [_gone("C-1"), _gone("C-2"), *contacts(1, 7)])
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["contacts"]
    assert (stats["ignored_deleted"], stats["created"], stats["deleted"]) == (2, 1, 0)
    assert _balanced(stats)
    assert _refs(salesforce_emulator) == ["C-0", "C-1", "C-2", "C-3", "C-4", "C-7"]
    lines = [line for line in run.stderr.splitlines() if "deleted at the source" in line]
    assert len(lines) == 1
    assert "2 record(s)" in lines[0]
    assert "deleted_records" in lines[0]


@pytest.mark.parametrize(
    ("api", "mode", "metadata"),
    [
        pytest.param("rest", "delete", True, id="rest-delete-metadata-on"),
        pytest.param("rest", "delete", False, id="rest-delete-metadata-off"),
        pytest.param("bulk", "delete", True, id="bulk-delete"),
        pytest.param("bulk", "hard_delete", False, id="bulk-hard-delete-metadata-off"),
        # Past bulk_threshold the auto sink hands its batch, deletes included, to Bulk.
        pytest.param("auto", "delete", False, id="auto-turning-bulk"),
    ],
)
def test_deleted_rows_are_deleted_by_external_id(
    api, mode, metadata, salesforce_emulator, tmp_path
):
    ids = _seed(salesforce_emulator, tmp_path)
    stream = {"api": api, "deleted_records": mode}
    if api == "auto":
        stream["bulk_threshold"] = 2
    run = _run(
        salesforce_emulator,
        tmp_path,
        [*contacts(1, 5), _gone("C-1"), _gone("C-3")],
        stream=stream,
        add_record_metadata=metadata,
    )
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["contacts"]
    assert (stats["created"], stats["deleted"]) == (1, 2)
    assert _balanced(stats)
    assert _refs(salesforce_emulator) == ["C-0", "C-2", "C-4", "C-5"]
    org = salesforce_emulator.org
    # delete leaves the records in the Recycle Bin; hard_delete does not.
    assert org.is_deleted(ids["C-1"]) is (mode == "delete")
    if api != "rest":
        assert len(_jobs(run.report, "hardDelete" if mode == "hard_delete" else "delete")) == 1
        assert not _delete_calls(salesforce_emulator)
    else:
        assert len(_delete_calls(salesforce_emulator)) == 1


def test_rest_deletes_200_ids_a_call(salesforce_emulator, tmp_path):
    _seed(salesforce_emulator, tmp_path, n=450)
    run = _run(
        salesforce_emulator,
        tmp_path,
        [_gone(f"C-{i}") for i in range(450)],
        stream={"deleted_records": "delete"},
    )
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["contacts"]["deleted"] == 450
    assert salesforce_emulator.records("Contact") == []
    sizes = [
        len(parse_qs(c["query"])["ids"][0].split(",")) for c in _delete_calls(salesforce_emulator)
    ]
    assert sorted(sizes) == [50, 200, 200]


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_deleted_rows_by_id_need_no_lookup(api, salesforce_emulator, tmp_path):
    ids = _seed(salesforce_emulator, tmp_path)
    props = {"sf_id": {"type": "string"}, "email": {"type": ["string", "null"]}}
    stream = {
        "sobject": "Contact",
        "operation": "update",
        "api": api,
        "deleted_records": "delete",
        "field_mapping": {"sf_id": "Id"},
    }
    before = len(salesforce_emulator.requests)
    run = run_target(
        base_config(salesforce_emulator.base_url, tmp_path, streams={"contacts": stream}),
        [
            schema("contacts", props, ["sf_id"]),
            record("contacts", {"sf_id": ids["C-0"], "email": "new@example.com"}),
            record("contacts", {"sf_id": ids["C-2"], "_sdc_deleted_at": DELETED_AT}),
        ],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["contacts"]
    assert (stats["updated"], stats["deleted"]) == (1, 1)
    assert _refs(salesforce_emulator) == ["C-0", "C-1", "C-3", "C-4"]
    assert not [r for r in salesforce_emulator.requests[before:] if r["path"].endswith("/query")]


def test_matcher_stream_deletes_the_one_match(salesforce_emulator, tmp_path):
    _seed(salesforce_emulator, tmp_path)
    stream = {"match_fields": ["Email"], "external_id_field": None}
    run = _run(
        salesforce_emulator,
        tmp_path,
        [record("contacts", {"email": "c2@example.com", "_sdc_deleted_at": DELETED_AT})],
        stream={**stream, "deleted_records": "delete"},
    )
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["contacts"]["deleted"] == 1
    assert _refs(salesforce_emulator) == ["C-0", "C-1", "C-3", "C-4"]


@pytest.mark.parametrize("api", ["rest", "bulk"])
@pytest.mark.parametrize(
    ("order", "present"),
    [
        pytest.param(("delete", "upsert"), True, id="delete-then-upsert"),
        pytest.param(("upsert", "delete"), False, id="upsert-then-delete"),
        pytest.param(("upsert", "delete", "upsert"), True, id="upsert-delete-upsert"),
    ],
)
def test_a_key_deleted_and_written_in_one_run_ends_as_its_last_message(
    api, order, present, salesforce_emulator, tmp_path
):
    _seed(salesforce_emulator, tmp_path)
    messages = []
    for i, step in enumerate(order):
        if step == "delete":
            messages.append(_gone("C-1"))
        else:
            messages.append(record("contacts", {"contact_ref": "C-1", "last_name": f"Again{i}"}))
    # Other rows between them, so the writes share calls and jobs with other keys.
    run = _run(
        salesforce_emulator,
        tmp_path,
        [*contacts(2, 10), *messages, *contacts(2, 20)],
        stream={"api": api, "deleted_records": "delete"},
    )
    assert run.returncode == 0, run.stderr
    stored = {r["External_Id__c"]: r for r in salesforce_emulator.records("Contact")}
    assert ("C-1" in stored) is present
    if present:
        assert stored["C-1"]["LastName"] == f"Again{len(order) - 1}"
    assert _balanced(run.report["streams"]["contacts"])


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_rows_already_gone_count_as_already_deleted(api, salesforce_emulator, tmp_path):
    _seed(salesforce_emulator, tmp_path)
    stream = {"api": api, "deleted_records": "delete"}
    first = _run(salesforce_emulator, tmp_path, [_gone("C-1")], stream=stream)
    assert first.report["streams"]["contacts"]["deleted"] == 1
    # A replay of the delete, and a delete of a key Salesforce never had: no failure.
    run = _run(
        salesforce_emulator,
        tmp_path,
        [_gone("C-1"), _gone("C-404")],
        stream=stream,
        success_path=str(tmp_path / "ok.jsonl"),
    )
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["contacts"]
    assert (stats["deleted"], stats["already_deleted"], stats["failed"]) == (0, 2, 0)
    assert _balanced(stats)
    outcomes = [
        json.loads(line)["outcome"] for line in (tmp_path / "ok.jsonl").read_text().splitlines()
    ]
    assert outcomes == ["already_deleted", "already_deleted"]


def test_rows_in_the_recycle_bin_count_as_already_deleted(salesforce_emulator, tmp_path):
    ids = _seed(salesforce_emulator, tmp_path)
    props = {"sf_id": {"type": "string"}}
    stream = {
        "sobject": "Contact",
        "operation": "update",
        "deleted_records": "delete",
        "field_mapping": {"sf_id": "Id"},
    }
    gone = record("contacts", {"sf_id": ids["C-0"], "_sdc_deleted_at": DELETED_AT})
    config = base_config(salesforce_emulator.base_url, tmp_path, streams={"contacts": stream})
    for expected in ("deleted", "already_deleted"):
        run = run_target(config, [schema("contacts", props, ["sf_id"]), gone], tmp_path)
        assert run.returncode == 0, run.stderr
        assert run.report["streams"]["contacts"][expected] == 1


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_a_refused_delete_is_dead_lettered_with_its_code(
    api, salesforce_emulator_factory, tmp_path
):
    path = "/composite/sobjects" if api == "rest" else "/jobs/ingest"
    emulator = salesforce_emulator_factory()
    _seed(emulator, tmp_path)
    emulator.set_faults(
        [
            {
                "match": {"path_contains": path},
                "record_error": "INSUFFICIENT_ACCESS_OR_READONLY",
                "every_nth_record": 1,
            }
        ]
    )
    run = _run(
        emulator,
        tmp_path,
        [_gone("C-1")],
        stream={"api": api, "deleted_records": "delete"},
        on_record_error="continue",
    )
    assert run.returncode == 0, run.stderr
    [dead] = run.dead_letters
    assert dead["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert dead["record"]["contact_ref"] == "C-1"
    # The line says it was a delete, so replaying it deletes again.
    assert dead["record"]["_sdc_deleted_at"]
    assert run.report["streams"]["contacts"]["failed"] == 1
    assert "C-1" in _refs(emulator)


def test_a_locked_row_is_deleted_on_a_later_try(salesforce_emulator_factory, tmp_path):
    emulator = salesforce_emulator_factory()
    _seed(emulator, tmp_path)
    emulator.set_faults(
        [
            {
                "match": {"method": "DELETE", "path_contains": "/composite/sobjects"},
                "record_error": "UNABLE_TO_LOCK_ROW",
                "every_nth_record": 1,
                "first_attempts": 1,
            }
        ]
    )
    run = _run(emulator, tmp_path, [_gone("C-1")], stream={"deleted_records": "delete"})
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["contacts"]["deleted"] == 1
    assert "C-1" not in _refs(emulator)


@pytest.mark.parametrize(
    ("streams", "defaults", "named"),
    [
        pytest.param(
            {"contacts": {**CONTACT_STREAM, "deleted_records": "hard_delete", "api": "rest"}},
            {},
            "streams.contacts",
            id="stream",
        ),
        pytest.param(
            {"contacts": CONTACT_STREAM},
            {"deleted_records": "hard_delete", "api": "rest"},
            "defaults",
            id="defaults",
        ),
    ],
)
def test_hard_delete_over_rest_is_a_config_error(streams, defaults, named, tmp_path):
    config = base_config("http://127.0.0.1:9", tmp_path, streams=streams, defaults=defaults)
    run = run_target(config, [], tmp_path)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if "hard_delete needs Bulk API" in line]
    assert len(lines) == 1
    assert named in lines[0]


def test_deletes_need_a_key(salesforce_emulator, tmp_path):
    stream = {"sobject": "Contact", "operation": "insert", "deleted_records": "delete"}
    run = run_target(
        base_config(salesforce_emulator.base_url, tmp_path, streams={"contacts": stream}),
        [schema("contacts", {"last_name": {"type": "string"}}), *[]],
        tmp_path,
    )
    assert run.returncode == 2
    assert "deleted_records delete needs a key" in run.stderr


def test_dry_run_counts_would_delete(salesforce_emulator, tmp_path):
    _seed(salesforce_emulator, tmp_path)
    run = _run(
        salesforce_emulator,
        tmp_path,
        [_gone("C-1")],
        stream={"deleted_records": "delete"},
        dry_run=True,
    )
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["contacts"]["would_delete"] == 1
    assert "C-1" in _refs(salesforce_emulator)
