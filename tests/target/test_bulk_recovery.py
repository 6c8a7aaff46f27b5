"""Bulk jobs survive lost answers: the job's state settles what happened, nothing is aborted.

A dropped connection or a 5xx on the upload (PUT) or the close (PATCH) may or may not have been
applied; the sink reads the job's state instead of sending again blindly or aborting. A result
download cut off midway is fetched whole again. Each case inserts records (so a record loaded
twice would show) and checks that every record is written once and the counts balance.
"""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from helpers import CONTACT_PROPS, base_config, contacts, record, run_target, schema

from target_salesforce_out.emulator.faults import FaultPlanError, load_fault_plan

INSERT = {
    "sobject": "Contact",
    "api": "bulk",
    "operation": "insert",
    "field_mapping": {"contact_ref": "External_Id__c"},
}
PUT = {"method": "PUT", "path_contains": "/batches"}
CLOSE = {"method": "PATCH", "path_contains": "/jobs/ingest/"}
SUCCESSES = {"method": "GET", "path_contains": "/successfulResults"}
FAILURES = {"method": "GET", "path_contains": "/failedResults"}
UNPROCESSED = {"method": "GET", "path_contains": "/unprocessedrecords"}

FAULTS = [
    pytest.param(PUT, {"drop_connection": True}, id="upload-never-arrives"),
    pytest.param(PUT, {"lose_answer": True}, id="upload-stored-answer-lost"),
    pytest.param(PUT, {"status": 500}, id="upload-answered-500"),
    pytest.param(CLOSE, {"drop_connection": True}, id="close-never-arrives"),
    pytest.param(CLOSE, {"lose_answer": True}, id="close-applied-answer-lost"),
    pytest.param(CLOSE, {"status": 502}, id="close-answered-502"),
    pytest.param(SUCCESSES, {"drop_connection": True}, id="successes-dropped"),
    pytest.param(SUCCESSES, {"cut_answer_after_bytes": 300}, id="successes-cut-mid-body"),
    pytest.param(FAILURES, {"cut_answer_after_bytes": 40}, id="failures-cut-mid-body"),
    pytest.param(UNPROCESSED, {"cut_answer_after_bytes": 3}, id="unprocessed-cut-mid-body"),
]


def _job_states(emulator):
    """The org's ingest jobs by state, as an operator would list them."""
    response = requests.get(
        f"{emulator.base_url}/services/data/v62.0/jobs/ingest",
        headers={"Authorization": f"Bearer {emulator.access_token()}"},
        timeout=30,
    )
    response.raise_for_status()
    return Counter(job["state"] for job in response.json()["records"])


@pytest.mark.parametrize(("match", "effect"), FAULTS)
def test_a_lost_answer_is_settled_without_aborting_the_job(
    salesforce_emulator_factory, tmp_path, match, effect
):
    emulator = salesforce_emulator_factory(faults=[{"match": match, "on_calls": [1], **effect}])
    stream = INSERT
    config = base_config(
        emulator.base_url, tmp_path, on_record_error="continue", streams={"contacts": stream}
    )
    messages = [
        schema("contacts", CONTACT_PROPS),
        *contacts(40),
        # Salesforce rejects these two (LastName is required), so failedResults has rows.
        *[
            record("contacts", {"contact_ref": f"X-{i}", "email": f"x{i}@example.com"})
            for i in (1, 2)
        ],
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr

    # The fault fired: its request was sent more than once or went unanswered.
    hits = [
        r
        for r in emulator.requests
        if r["method"] == match["method"] and match["path_contains"] in r["path"]
    ]
    assert len(hits) >= 2 or any(r["status"] is None for r in hits)

    [job] = run.report["streams"]["contacts"]["bulk_jobs"]
    assert job["state"] == "JobComplete"
    assert _job_states(emulator) == {"JobComplete": 1}  # one job, not aborted

    stored = Counter(r["Email"] for r in emulator.records("Contact"))
    assert stored == Counter(f"c{i}@example.com" for i in range(40))
    assert [d["errorCode"] for d in run.dead_letters] == ["REQUIRED_FIELD_MISSING"] * 2
    stats = run.report["streams"]["contacts"]
    assert (stats["received"], stats["sent"], stats["created"], stats["failed"]) == (42, 42, 40, 2)


def test_an_upload_whose_fate_cannot_be_settled_fails_the_run_without_closing_the_job(
    salesforce_emulator_factory, tmp_path
):
    # Every upload attempt loses its answer: the data may be in the job or not, so the job is
    # never closed (a job without data would fail) and nothing is written.
    emulator = salesforce_emulator_factory(faults=[{"match": PUT, "status": 500}])
    stream = INSERT
    config = base_config(emulator.base_url, tmp_path, streams={"contacts": stream})
    run = run_target(config, [schema("contacts", CONTACT_PROPS), *contacts(5)], tmp_path)
    assert run.returncode == 1
    assert "went unanswered 4 times" in run.stderr
    assert emulator.records("Contact") == []
    # Never closed; aborted so that it does not linger (an Open job is never processed).
    assert _job_states(emulator) == {"Aborted": 1}
    assert [r["method"] for r in emulator.requests if "/jobs/ingest" in r["path"]].count("PUT") == 4


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param({"lose_answer": False}, id="lose-answer-false"),
        pytest.param({"cut_answer_after_bytes": -1}, id="cut-negative"),
        pytest.param({"cut_answer_after_bytes": True}, id="cut-boolean"),
        pytest.param({"echo_as_parsed": "yes"}, id="echo-not-true"),
    ],
)
def test_the_new_fault_kinds_are_validated(rule):
    with pytest.raises(FaultPlanError):
        load_fault_plan([{"match": {}, **rule}])
