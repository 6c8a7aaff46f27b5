"""``api: auto`` (the default): REST for small batches, a Bulk job once pending records pass
``bulk_threshold``; match_fields streams stay on REST, hard_delete always uses Bulk."""

from __future__ import annotations

import pytest
from helpers import CONTACT_PROPS, CONTACT_STREAM, base_config, contacts, record, run_target, schema

from target_salesforce_out.config_checks import cross_setting_problems


def _jobs(emulator):
    return [r for r in emulator.requests if r["method"] == "POST" and r["path"].endswith("/ingest")]


def _collections(emulator):
    return [r for r in emulator.requests if "/composite/sobjects" in r["path"]]


def _run(emulator, tmp_path, messages, **stream):
    config = base_config(
        emulator.base_url, tmp_path, streams={"contacts": {**CONTACT_STREAM, **stream}}
    )
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    return run


def _balanced(stats):
    outcomes = ("created", "updated", "deleted", "failed", "not_sent", "outcome_unknown")
    assert stats["received"] == sum(stats[k] for k in outcomes)


def test_a_small_stream_goes_through_rest_only(salesforce_emulator, tmp_path):
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(100)]
    run = _run(salesforce_emulator, tmp_path, messages)
    stats = run.report["streams"]["contacts"]
    assert stats["api"] == "auto (rest)"
    assert stats["api_batches"] == [{"api": "rest", "batches": 1, "records": 100}]
    assert stats["created"] == 100 and stats["bulk_jobs"] == []
    assert not _jobs(salesforce_emulator)
    assert len(_collections(salesforce_emulator)) == 1
    _balanced(stats)


@pytest.mark.parametrize(
    ("count", "api", "jobs"),
    [
        pytest.param(50, "auto (rest)", 0, id="at-threshold-rest"),
        pytest.param(51, "auto (bulk)", 1, id="threshold-plus-one-bulk"),
        pytest.param(400, "auto (bulk)", 1, id="well-past-one-job"),
    ],
)
def test_pending_records_past_the_threshold_go_as_one_bulk_job(
    salesforce_emulator, tmp_path, count, api, jobs
):
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(count)]
    run = _run(salesforce_emulator, tmp_path, messages, bulk_threshold=50)
    stats = run.report["streams"]["contacts"]
    assert stats["api"] == api
    assert len(_jobs(salesforce_emulator)) == len(stats["bulk_jobs"]) == jobs
    assert bool(_collections(salesforce_emulator)) is (jobs == 0)
    assert stats["created"] == count
    assert len(salesforce_emulator.records("Contact")) == count
    _balanced(stats)


def _props(extra):
    return {**CONTACT_PROPS, extra: {"type": ["string", "null"]}}


def test_a_stream_crossing_the_threshold_mid_run_reports_each_api_and_keeps_key_order(
    salesforce_emulator, tmp_path
):
    # A SCHEMA change ends a batch: 20 records (REST), 120 (Bulk), then 10 (REST). Contact
    # C-0 is written in each part; the last value must win.
    messages = [
        schema("contacts", _props("x1"), ["contact_ref"]),
        *contacts(20, email="first@example.com"),
        schema("contacts", _props("x2"), ["contact_ref"]),
        *contacts(120, email="second@example.com"),
        schema("contacts", _props("x3"), ["contact_ref"]),
        *contacts(10, email="third@example.com"),
    ]
    run = _run(
        salesforce_emulator, tmp_path, messages, bulk_threshold=50, unmapped_properties="ignore"
    )
    stats = run.report["streams"]["contacts"]
    assert stats["api"] == "auto (rest+bulk)"
    assert stats["api_batches"] == [
        {"api": "rest", "batches": 1, "records": 20},
        {"api": "bulk", "batches": 1, "records": 120},
        {"api": "rest", "batches": 1, "records": 10},
    ]
    stored = {r["External_Id__c"]: r["Email"] for r in salesforce_emulator.records("Contact")}
    assert stored["C-0"] == stored["C-9"] == "third@example.com"
    assert stored["C-10"] == "second@example.com"
    assert (stats["received"], stats["created"], stats["updated"]) == (150, 120, 30)
    _balanced(stats)


def test_consecutive_batches_of_one_api_are_merged_in_the_report(salesforce_emulator, tmp_path):
    messages = [schema("contacts", _props("x0"), ["contact_ref"])]
    for part in range(1, 4):
        messages += [
            schema("contacts", _props(f"x{part}"), ["contact_ref"]),
            *contacts(5, 5 * part),
        ]
    run = _run(salesforce_emulator, tmp_path, messages, unmapped_properties="ignore")
    stats = run.report["streams"]["contacts"]
    assert stats["api_batches"] == [{"api": "rest", "batches": 3, "records": 15}]


def test_a_matcher_stream_stays_on_rest(salesforce_emulator, tmp_path):
    stream = {
        "sobject": "Contact",
        "operation": "upsert",
        "match_fields": ["Email"],
        "field_mapping": {"contact_ref": "Title"},
        "bulk_threshold": 10,
    }
    config = base_config(salesforce_emulator.base_url, tmp_path, streams={"contacts": stream})
    run = run_target(config, [schema("contacts", CONTACT_PROPS), *contacts(60)], tmp_path)
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["contacts"]
    assert stats["api"] == "auto (rest)"
    assert stats["created"] == 60
    assert not _jobs(salesforce_emulator)


def test_hard_delete_with_auto_runs_as_a_bulk_job(salesforce_emulator, tmp_path):
    _run(
        salesforce_emulator,
        tmp_path,
        [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(3)],
    )
    ids = [r["Id"] for r in salesforce_emulator.records("Contact")]
    stream = {"sobject": "Contact", "operation": "hard_delete", "field_mapping": {"sf_id": "Id"}}
    config = base_config(salesforce_emulator.base_url, tmp_path, streams={"gone": stream})
    messages = [
        schema("gone", {"sf_id": {"type": "string"}}, ["sf_id"]),
        *[record("gone", {"sf_id": i}) for i in ids],
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["gone"]
    assert (stats["api"], stats["deleted"]) == ("auto (bulk)", 3)
    assert salesforce_emulator.records("Contact") == []


@pytest.mark.parametrize(
    ("api", "count", "jobs", "label"),
    [
        pytest.param("rest", 60, 0, "rest", id="rest-stays-rest"),
        pytest.param("bulk", 5, 1, "bulk", id="bulk-stays-bulk"),
    ],
)
def test_explicit_rest_and_bulk_are_unchanged(
    salesforce_emulator, tmp_path, api, count, jobs, label
):
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(count)]
    # bulk_threshold in defaults does not apply to streams that name their api.
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        defaults={"bulk_threshold": 10},
        streams={"contacts": {**CONTACT_STREAM, "api": api}},
    )
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["contacts"]
    assert stats["api"] == label
    assert len(_jobs(salesforce_emulator)) == jobs
    assert stats["created"] == count


@pytest.mark.parametrize(
    ("stream", "problem"),
    [
        pytest.param(
            {"operation": "hard_delete", "api": "rest"},
            "operation hard_delete needs api bulk (or auto)",
            id="hard-delete-over-rest",
        ),
        pytest.param(
            {"api": "rest", "bulk_threshold": 500},
            "bulk_threshold applies only to api auto, but api is rest",
            id="threshold-with-rest",
        ),
        pytest.param(
            {"bulk_threshold": 0}, "bulk_threshold 0 must be between 1 and 100000", id="zero"
        ),
        pytest.param(
            {"operation": "hard_delete", "match_fields": ["Email"]},
            "operation hard_delete runs only as a Bulk job, which finds records by Id",
            id="hard-delete-by-matcher",
        ),
        pytest.param(
            {"batch_size": 500}, "batch_size 500 is out of range for api auto (1-200)", id="size"
        ),
    ],
)
def test_settings_that_cannot_work_with_the_api_are_one_line_errors(stream, problem):
    problems = cross_setting_problems(
        {"refresh_token": "x", "client_id": "y", "streams": {"s": stream}}
    )
    assert any(p.startswith(f"streams.s: {problem}") for p in problems), problems


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param({"operation": "hard_delete"}, id="hard-delete-auto"),
        pytest.param({"bulk_threshold": 5000}, id="threshold-auto"),
        pytest.param({"api": "auto", "bulk_threshold": 1}, id="explicit-auto"),
    ],
)
def test_settings_that_work_with_auto_are_accepted(stream):
    problems = cross_setting_problems(
        {"refresh_token": "x", "client_id": "y", "streams": {"s": stream}}
    )
    assert not [p for p in problems if p.startswith("streams.s")], problems
