"""A dry run predicts what a real run does with a self-referencing stream, level by level.

The input comes children first, in small batches: a three-level hierarchy, a parent that is
neither in the run nor in the org (its record and that record's child are dead-lettered
``MISSING_PARENT``) and a loop of two records (``HIERARCHY_CYCLE``). The dry run must reject the
same records with the same codes, count the rest as would-be creates, report the same plan
(held records, levels) and predict the calls the real run makes: one partly filled
Collections call per level over REST, one Bulk job per level over Bulk.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import unquote_plus

import pytest
from helpers import Run, base_config, record, run_target, schema

PROPS = {
    "ref": {"type": "string"},
    "name": {"type": "string"},
    "parent": {"type": ["string", "null"]},
}
# (key, parent key), children first: leaves, the orphan's child, one end of the loop, middles,
# the orphan, the other end of the loop, the root last.
ROWS = [
    ("L-1", "M-1"),
    ("L-2", "M-2"),
    ("C-1", "O-1"),
    ("A-1", "A-2"),
    ("M-1", "R-1"),
    ("O-1", "NOPE-1"),
    ("M-2", "R-1"),
    ("A-2", "A-1"),
    ("R-1", None),
]
REJECTED = {"MISSING_PARENT": 2, "HIERARCHY_CYCLE": 2}


def _stream(api: str) -> dict[str, Any]:
    return {
        "sobject": "Account",
        "api": api,
        "external_id_field": "External_Id__c",
        "field_mapping": {
            "ref": "External_Id__c",
            "name": "Name",
            "parent": "Parent.External_Id__c",
        },
        # Several drains before the root arrives: children wait while their parents are unknown.
        "batch_size": 3,
    }


def _run(emulator: Any, tmp_path: Any, api: str, **overrides: Any) -> Run:
    config = base_config(
        emulator.base_url,
        tmp_path,
        streams={"accounts": _stream(api)},
        on_record_error="continue",
        max_concurrency=2,
        **overrides,
    )
    messages = [schema("accounts", PROPS, ["ref"])] + [
        record("accounts", {"ref": key, "name": f"N {key}", "parent": parent})
        for key, parent in ROWS
    ]
    return run_target(config, messages, tmp_path)


def _writes(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requests that could change the org: anything but reads and logins."""
    return [
        r
        for r in requests
        if r["method"] in {"POST", "PATCH", "PUT", "DELETE"} and "oauth2" not in r["path"]
    ]


def _calls(requests: list[dict[str, Any]]) -> tuple[int, int, list[dict[str, Any]]]:
    """The Collections calls, Account lookups and Bulk calls among ``requests``."""
    collections = [r for r in requests if "/composite/sobjects" in r["path"]]
    lookups = [
        r
        for r in requests
        if r["path"].endswith("/query") and "FROM Account " in unquote_plus(r["query"])
    ]
    bulk = [r for r in requests if "/jobs/ingest" in r["path"]]
    return len(collections), len(lookups), bulk


def _codes(run: Run) -> Counter[str]:
    return Counter(line["errorCode"] for line in run.dead_letters)


APIS = [pytest.param("rest", id="rest"), pytest.param("bulk", id="bulk")]


@pytest.mark.parametrize("api", APIS)
def test_the_dry_run_rejects_and_counts_as_the_real_run_does(
    salesforce_emulator: Any, tmp_path: Any, api: str
) -> None:
    start = len(salesforce_emulator.requests)
    dry = _run(salesforce_emulator, tmp_path, api, dry_run=True)
    assert dry.returncode == 0, dry.stderr
    assert not _writes(salesforce_emulator.requests[start:])
    assert salesforce_emulator.records("Account") == []
    assert dry.states == []
    real = _run(salesforce_emulator, tmp_path, api)
    assert real.returncode == 0, real.stderr
    assert _codes(dry) == _codes(real) == REJECTED
    by_code = {line["record"]["ref"]: line["errorCode"] for line in real.dead_letters}
    assert {line["record"]["ref"]: line["errorCode"] for line in dry.dead_letters} == by_code
    guessed, done = dry.report["streams"]["accounts"], real.report["streams"]["accounts"]
    assert (guessed["would_create"], guessed["failed"]) == (done["created"], done["failed"])
    assert (done["created"], done["failed"]) == (5, 4)
    # The orphan's child names a parent of the run that was not written, in both runs.
    messages = {line["record"]["ref"]: line["message"] for line in dry.dead_letters}
    assert "was in this run but was not written" in messages["C-1"]
    assert "neither in this run nor in the org" in messages["O-1"]
    assert guessed["missing_parents"] == {}  # no INVALID_FIELD guessed for a later parent
    (planned,), (step,) = dry.report["plan"], real.report["plan"]
    for name in ("held", "levels", "missing_parent", "cycles", "written"):
        assert planned[name] == step[name], name
    assert (step["levels"], step["missing_parent"], step["cycles"]) == ([2, 2], 2, 2)


def test_predicted_rest_calls_are_the_calls_of_the_real_run(
    salesforce_emulator: Any, tmp_path: Any
) -> None:
    dry = _run(salesforce_emulator, tmp_path, "rest", dry_run=True)
    assert dry.returncode == 0, dry.stderr
    predicted = dry.report["streams"]["accounts"]["predicted_api_calls"]
    start = len(salesforce_emulator.requests)
    real = _run(salesforce_emulator, tmp_path, "rest")
    assert real.returncode == 0, real.stderr
    collections, lookups, bulk = _calls(salesforce_emulator.requests[start:])
    # The root's batch, then one partly filled call per level; the org is asked for parents
    # the run has not sent (after each batch that holds records, and again at the end).
    assert collections == 3 and not bulk
    assert (predicted["collections"], predicted["lookup_queries"]) == (collections, lookups)
    assert predicted["total"] == collections + lookups


def test_predicted_bulk_calls_are_the_real_ones_with_one_poll_per_job(
    salesforce_emulator: Any, tmp_path: Any
) -> None:
    dry = _run(salesforce_emulator, tmp_path, "bulk", dry_run=True)
    assert dry.returncode == 0, dry.stderr
    predicted = dry.report["streams"]["accounts"]["predicted_api_calls"]
    start = len(salesforce_emulator.requests)
    real = _run(salesforce_emulator, tmp_path, "bulk")
    assert real.returncode == 0, real.stderr
    collections, lookups, bulk = _calls(salesforce_emulator.requests[start:])
    jobs = real.report["streams"]["accounts"]["bulk_jobs"]
    # The root's job, then one job per level.
    assert predicted["bulk_jobs"] == len(jobs) == 3
    assert (predicted["collections"], predicted["lookup_queries"]) == (collections, lookups)
    # Polls are estimated at one per job (see predictions.py); every other call is exact.
    ids = tuple(job["id"] for job in jobs)
    polls = [r for r in bulk if r["method"] == "GET" and r["path"].rstrip("/").endswith(ids)]
    assert len(polls) >= len(jobs)
    assert predicted["bulk_calls"] == len(bulk) - len(polls) + len(jobs)
    guessed, done = dry.report["streams"]["accounts"], real.report["streams"]["accounts"]
    assert guessed["api_batches"] == done["api_batches"]
