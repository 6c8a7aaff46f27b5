"""A dry run predicts: creates vs updates, missing parents, and the API calls of the real run."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest
from helpers import CONTACT_PROPS, CONTACT_STREAM, base_config, contacts, record, run_target, schema

ACCOUNT_PROPS = {"ref": {"type": "string"}, "name": {"type": ["string", "null"]}}
ACCOUNT_STREAM = {
    "sobject": "Account",
    "external_id_field": "External_Id__c",
    "field_mapping": {"ref": "External_Id__c"},
}


def accounts(refs):
    return [record("accounts", {"ref": ref, "name": f"Account {ref}"}) for ref in refs]


def _writes(requests):
    """Requests that could change the org: anything but reads and logins."""
    return [
        r
        for r in requests
        if r["method"] in {"POST", "PATCH", "PUT", "DELETE"} and "oauth2" not in r["path"]
    ]


def _run(emulator, tmp_path, streams, messages, **overrides):
    config = base_config(emulator.base_url, tmp_path, streams=streams, **overrides)
    return run_target(config, messages, tmp_path)


def _seed(emulator, tmp_path, refs):
    run = _run(
        emulator,
        tmp_path,
        {"accounts": ACCOUNT_STREAM},
        [schema("accounts", ACCOUNT_PROPS, ["ref"]), *accounts(refs)],
    )
    assert run.returncode == 0, run.stderr


def test_existing_and_new_keys_give_would_update_and_would_create(salesforce_emulator, tmp_path):
    _seed(salesforce_emulator, tmp_path, ["A-1", "A-2", "A-3"])
    # A-4 twice: created by its first record, updated by its second.
    refs = ["A-1", "A-2", "A-3", "A-4", "A-5", "A-4"]
    messages = [schema("accounts", ACCOUNT_PROPS, ["ref"]), *accounts(refs)]
    before = len(salesforce_emulator.requests)
    dry = _run(salesforce_emulator, tmp_path, {"accounts": ACCOUNT_STREAM}, messages, dry_run=True)
    assert dry.returncode == 0, dry.stderr
    assert dry.states == []
    assert not _writes(salesforce_emulator.requests[before:])
    stats = dry.report["streams"]["accounts"]
    assert (stats["would_create"], stats["would_update"]) == (2, 4)
    real = _run(salesforce_emulator, tmp_path, {"accounts": ACCOUNT_STREAM}, messages)
    assert real.returncode == 0, real.stderr
    done = real.report["streams"]["accounts"]
    assert (done["created"], done["updated"]) == (2, 4)


@pytest.mark.parametrize(
    ("threshold", "api"),
    [pytest.param(2000, "rest", id="rest"), pytest.param(2, "bulk", id="bulk")],
)
def test_missing_parents_are_listed_per_parent_object(
    salesforce_emulator, tmp_path, threshold, api
):
    _seed(salesforce_emulator, tmp_path, ["IN-ORG"])
    contact_stream = {
        **CONTACT_STREAM,
        "bulk_threshold": threshold,
        "field_mapping": {**CONTACT_STREAM["field_mapping"], "company": "Account.External_Id__c"},
    }
    props = {**CONTACT_PROPS, "company": {"type": ["string", "null"]}}
    parents = ["IN-ORG", "IN-RUN", "GONE-1", "GONE-2", "GONE-1", None]
    messages = [
        schema("accounts", ACCOUNT_PROPS, ["ref"]),
        *accounts(["IN-RUN"]),
        schema("contacts", props, ["contact_ref"]),
        *[
            record("contacts", {**c["record"], "company": parent})
            for c, parent in zip(contacts(len(parents)), parents, strict=True)
        ],
    ]
    before = len(salesforce_emulator.requests)
    run = _run(
        salesforce_emulator,
        tmp_path,
        {"accounts": ACCOUNT_STREAM, "contacts": contact_stream},
        messages,
        dry_run=True,
        on_record_error="continue",
    )
    assert run.returncode == 0, run.stderr
    assert not _writes(salesforce_emulator.requests[before:])
    stats = run.report["streams"]["contacts"]
    assert stats["missing_parents"] == {
        "Account": {"fields": ["External_Id__c"], "count": 3, "first_keys": ["GONE-1", "GONE-2"]}
    }
    assert (stats["would_create"], stats["failed"]) == (3, 3)
    assert {d["record"]["contact_ref"] for d in run.dead_letters} == {"C-2", "C-3", "C-4"}
    assert all(d["errorCode"] == "INVALID_FIELD" for d in run.dead_letters)
    assert "neither in this run nor in the org" in run.dead_letters[0]["message"]
    assert run.report["streams"]["accounts"]["missing_parents"] == {}
    # A real run sends them all (Salesforce refuses three): one call, or one Bulk job.
    assert stats["api_batches"] == [{"api": api, "batches": 1, "records": 6}]
    calls = stats["predicted_api_calls"]
    assert (calls["collections"], calls["bulk_jobs"]) == ((1, 0) if api == "rest" else (0, 1))
    # The summary table shows them.
    assert "missing parents" in run.stderr and "predicted calls" in run.stderr


def _real_calls(requests, sobject):
    """The calls a run made to write ``sobject``'s records (setup and describe left out)."""
    collections = [r for r in requests if "/composite/sobjects" in r["path"]]
    lookups = [
        r
        for r in requests
        if r["path"].endswith("/query") and f"FROM {sobject} " in unquote_plus(r["query"])
    ]
    bulk = [r for r in requests if "/jobs/ingest" in r["path"]]
    return len(collections), len(lookups), bulk


UPDATE_BY_REF = {**CONTACT_STREAM, "operation": "update"}
MATCHER = {
    "sobject": "Contact",
    "match_fields": ["Email"],
    "field_mapping": {"contact_ref": "Title"},
}


@pytest.mark.parametrize(
    ("stream", "seeded", "count", "repeat"),
    [
        pytest.param(CONTACT_STREAM, 100, 450, 3, id="upsert-rest"),
        pytest.param({**CONTACT_STREAM, "batch_size": 50}, 0, 120, 0, id="upsert-rest-50"),
        pytest.param(UPDATE_BY_REF, 300, 300, 2, id="update-by-external-id"),
        pytest.param(MATCHER, 30, 80, 2, id="matcher"),
        pytest.param(
            {
                "sobject": "Contact",
                "operation": "insert",
                "field_mapping": {"contact_ref": "Title"},
            },
            0,
            230,
            0,
            id="insert",
        ),
    ],
)
def test_predicted_rest_calls_equal_the_calls_of_the_real_run(
    salesforce_emulator, tmp_path, stream, seeded, count, repeat
):
    seed = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(seeded)]
    assert _run(salesforce_emulator, tmp_path, {"contacts": CONTACT_STREAM}, seed).returncode == 0
    # A few records repeat an earlier key: a second round of calls.
    rows = contacts(count) + contacts(repeat)
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *rows]
    streams = {"contacts": stream}
    start = len(salesforce_emulator.requests)
    dry = _run(salesforce_emulator, tmp_path, streams, messages, dry_run=True)
    assert dry.returncode == 0, dry.stderr
    assert not _writes(salesforce_emulator.requests[start:])
    predicted = dry.report["streams"]["contacts"]["predicted_api_calls"]
    start = len(salesforce_emulator.requests)
    real = _run(salesforce_emulator, tmp_path, streams, messages)
    assert real.returncode == 0, real.stderr
    collections, lookups, bulk = _real_calls(salesforce_emulator.requests[start:], "Contact")
    assert (predicted["collections"], predicted["lookup_queries"]) == (collections, lookups)
    assert predicted["total"] == collections + lookups and not bulk
    stats, done = dry.report["streams"]["contacts"], real.report["streams"]["contacts"]
    assert (stats["would_create"], stats["would_update"]) == (done["created"], done["updated"])


@pytest.mark.parametrize(
    ("stream", "count"),
    [
        pytest.param({**CONTACT_STREAM, "bulk_threshold": 100}, 700, id="auto-past-threshold"),
        pytest.param({**CONTACT_STREAM, "api": "bulk"}, 300, id="bulk"),
        pytest.param({**UPDATE_BY_REF, "api": "bulk"}, 300, id="bulk-update-by-external-id"),
    ],
)
def test_predicted_bulk_calls_are_the_real_ones_with_one_poll_per_job(
    salesforce_emulator, tmp_path, stream, count
):
    seed = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(count)]
    assert _run(salesforce_emulator, tmp_path, {"contacts": CONTACT_STREAM}, seed).returncode == 0
    # A repeated key cuts a second job.
    rows = contacts(count, email="changed@example.com") + contacts(1)
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *rows]
    start = len(salesforce_emulator.requests)
    dry = _run(salesforce_emulator, tmp_path, {"contacts": stream}, messages, dry_run=True)
    assert dry.returncode == 0, dry.stderr
    assert not _writes(salesforce_emulator.requests[start:])
    predicted = dry.report["streams"]["contacts"]["predicted_api_calls"]
    start = len(salesforce_emulator.requests)
    real = _run(salesforce_emulator, tmp_path, {"contacts": stream}, messages)
    assert real.returncode == 0, real.stderr
    collections, lookups, bulk = _real_calls(salesforce_emulator.requests[start:], "Contact")
    jobs = len(real.report["streams"]["contacts"]["bulk_jobs"])
    assert predicted["bulk_jobs"] == jobs == 2
    assert (predicted["collections"], predicted["lookup_queries"]) == (collections, lookups)
    # Polls are estimated at one per job; every other Bulk call is predicted exactly.
    polls = [
        r
        for r in bulk
        if r["method"] == "GET"
        and r["path"]
        .rstrip("/")
        .endswith(tuple(j["id"] for j in real.report["streams"]["contacts"]["bulk_jobs"]))
    ]
    assert len(polls) >= jobs
    assert predicted["bulk_calls"] == len(bulk) - len(polls) + jobs
    stats, done = dry.report["streams"]["contacts"], real.report["streams"]["contacts"]
    assert stats["api_batches"] == done["api_batches"]
    assert (stats["would_create"], stats["would_update"]) == (done["created"], done["updated"])


def test_dry_run_summary_and_report_total(salesforce_emulator, tmp_path):
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(250)]
    run = _run(salesforce_emulator, tmp_path, {"contacts": CONTACT_STREAM}, messages, dry_run=True)
    assert run.returncode == 0, run.stderr
    assert run.report["predicted_api_calls"] == 2
    assert run.report["streams"]["contacts"]["predicted_api_calls"] == {
        "total": 2,
        "collections": 2,
        "lookup_queries": 0,
        "bulk_jobs": 0,
        "bulk_calls": 0,
        "bulk_polls_estimated": 0,
    }
    assert "predicted api calls (real run): 2" in run.stderr
