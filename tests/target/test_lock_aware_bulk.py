"""Lock-aware Bulk: a child object's rows go in jobs by parent; rows still locked go over REST.

Contacts name their Account (by external id, or by Id). The input interleaves the parents
(contact i has account i mod 8), the worst order for row locks. With the emulator's lock model
(``lock_model``) and internal batches of 100 rows, one job of 400 interleaved contacts has
four batches processed side by side, and the three later ones find every parent locked by the
first: 300 rows fail with ``UNABLE_TO_LOCK_ROW``, deterministically. Grouped, the same rows go
in four jobs of two parents each, and none fails.

Some runs use a launcher that sets a class attribute of the Bulk sink before starting the
target (grouping off, a smaller job cap, a shorter backoff), as the benchmark does.
"""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import helpers
import pytest
import requests
from helpers import base_config, record, run_target, schema

ACCOUNTS = 8
CONTACTS = 400
PROPS = {
    "contact_ref": {"type": "string"},
    "last_name": {"type": "string"},
    "account": {"type": "string"},
}
BY_EXTERNAL_ID = "Account.External_Id__c"


def launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *lines: str) -> None:
    """Run the target through a script that first runs ``lines`` (class attribute changes)."""
    script = tmp_path / "target-launcher"
    body = "\n".join(
        [
            f"#!{sys.executable}",
            "from target_salesforce_out.sinks.bulk import BulkSink",
            "from target_salesforce_out import retry_policy",
            *lines,
            "from target_salesforce_out.target import TargetSalesforceOut",
            "TargetSalesforceOut.cli()",
        ]
    )
    script.write_text(body + "\n", encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setattr(helpers, "TARGET", script)


def seed_accounts(emulator: Any) -> list[str]:
    saved = emulator.org.save(
        "insert",
        "Account",
        [{"Name": f"Acct {i}", "External_Id__c": f"A-{i}"} for i in range(ACCOUNTS)],
    )
    return [str(r.id) for r in saved]


def load(emulator: Any, tmp_path: Path, column: str = BY_EXTERNAL_ID, **stream: Any) -> helpers.Run:
    account_ids = seed_accounts(emulator)
    parents = [f"A-{i}" for i in range(ACCOUNTS)] if column == BY_EXTERNAL_ID else account_ids
    settings = {
        "sobject": "Contact",
        "api": "bulk",
        "external_id_field": "External_Id__c",
        "field_mapping": {"contact_ref": "External_Id__c", "account": column},
        **stream,
    }
    config = base_config(
        emulator.base_url, tmp_path, on_record_error="continue", streams={"contacts": settings}
    )
    messages = [
        schema("contacts", PROPS, ["contact_ref"]),
        *[
            record(
                "contacts",
                {"contact_ref": f"C-{i}", "last_name": f"L{i}", "account": parents[i % ACCOUNTS]},
            )
            for i in range(CONTACTS)
        ],
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    return run


def stats(run: helpers.Run) -> dict[str, Any]:
    assert run.report is not None
    return dict(run.report["streams"]["contacts"])


def job_parents(emulator: Any, job_ids: list[str]) -> list[set[str]]:
    """The AccountId of the contacts each job wrote, from its successful results."""
    headers = {"Authorization": f"Bearer {emulator.access_token()}"}
    jobs = f"{emulator.base_url}/services/data/v62.0/jobs/ingest"
    by_contact = {c["External_Id__c"]: c["AccountId"] for c in emulator.records("Contact")}
    out = []
    for job_id in job_ids:
        text = requests.get(f"{jobs}/{job_id}/successfulResults", headers=headers, timeout=10).text
        rows = csv.DictReader(io.StringIO(text))
        out.append({by_contact[row["External_Id__c"]] for row in rows})
    return out


@pytest.mark.parametrize(
    "column",
    [
        pytest.param(BY_EXTERNAL_ID, id="relationship-by-external-id"),
        pytest.param("AccountId", id="reference-field-by-id"),
    ],
)
def test_a_parents_children_share_one_job(
    salesforce_emulator: Any, tmp_path: Path, column: str
) -> None:
    run = load(salesforce_emulator, tmp_path, column, batch_size=100)
    jobs = stats(run)["bulk_jobs"]
    assert [j["records"] for j in jobs] == [100] * 4
    parents = job_parents(salesforce_emulator, [j["id"] for j in jobs])
    assert [len(p) for p in parents] == [2] * 4
    assert len(set().union(*parents)) == ACCOUNTS  # no parent in two jobs
    assert stats(run)["created"] == CONTACTS


def test_a_parent_with_more_children_than_a_job_holds_fills_jobs_of_its_own(
    salesforce_emulator: Any, tmp_path: Path
) -> None:
    # 400 contacts over 8 parents, jobs of 30: each parent's 50 children take a full job of
    # its own and the rest of another; a parent's rows never share a job with a parent
    # whose rows could have been kept together.
    run = load(salesforce_emulator, tmp_path, batch_size=30)
    jobs = stats(run)["bulk_jobs"]
    assert sum(j["records"] for j in jobs) == CONTACTS
    assert max(j["records"] for j in jobs) == 30
    parents = job_parents(salesforce_emulator, [j["id"] for j in jobs])
    assert Counter(len(p) for p in parents)[1] >= ACCOUNTS  # a full job per parent at least
    assert stats(run)["created"] == CONTACTS


@pytest.mark.parametrize(
    ("setting", "lock_failed"),
    [
        # Four jobs of 100, two parents each: no batch shares a parent with another.
        pytest.param("BulkSink.parent_job_rows = 100", 0, id="grouped-by-parent"),
        # One job of 400 interleaved rows, four batches side by side: the first batch
        # locks all eight parents, the three others fail.
        pytest.param("BulkSink.group_by_parent = False", 300, id="input-order"),
    ],
)
def test_grouping_by_parent_avoids_row_lock_failures(
    salesforce_emulator_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    lock_failed: int,
) -> None:
    emulator = salesforce_emulator_factory(lock_model=True)
    emulator.app.bulk.batch_rows = 100
    launcher(tmp_path, monkeypatch, setting)
    run = load(emulator, tmp_path)
    counts = stats(run)
    assert counts["lock_failed"] == lock_failed
    # What still failed on a lock went over REST, after the job, and landed.
    assert counts["lock_retried"] == lock_failed
    assert counts["lock_retry_failed"] == 0
    assert (counts["created"], counts["failed"]) == (CONTACTS, 0)
    assert len(emulator.records("Contact")) == CONTACTS
    assert run.dead_letters == []


BULK_ROWS = {"method": "PUT", "path_contains": "/jobs/ingest"}
REST_UPSERTS = {"method": "PATCH", "path_contains": "/composite/sobjects/Contact"}


def lock_rule(match: dict[str, str], every: int, attempts: int) -> dict[str, Any]:
    return {
        "match": match,
        "record_error": "UNABLE_TO_LOCK_ROW",
        "every_nth_record": every,
        "first_attempts": attempts,
    }


@pytest.mark.parametrize(
    ("rest_attempts", "calls", "failed"),
    [
        # 100 locked rows: two Collections calls of 50, all written.
        pytest.param(0, 2, 0, id="rest-lands-first-time"),
        # Locked once more over REST: sent again in calls of 25 after a backoff.
        pytest.param(1, 2 + 4, 0, id="rest-locked-once-then-lands"),
        # Locked on every try: five rounds (50, 25, 12, 6, 3 a call), then dead-lettered.
        pytest.param(99, 2 + 4 + 9 + 17 + 34, 100, id="rest-locked-every-time"),
    ],
)
def test_rows_failed_on_a_lock_are_sent_again_over_rest(
    salesforce_emulator_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rest_attempts: int,
    calls: int,
    failed: int,
) -> None:
    rules = [lock_rule(BULK_ROWS, 4, 1)]
    if rest_attempts:
        rules.append(lock_rule(REST_UPSERTS, 1, rest_attempts))
    emulator = salesforce_emulator_factory(faults=rules)
    launcher(tmp_path, monkeypatch, "retry_policy.RECORD_RETRY_BASE_SECONDS = 0.01")
    run = load(emulator, tmp_path)
    counts = stats(run)
    assert (counts["lock_failed"], counts["lock_retried"]) == (100, 100)
    assert counts["lock_retry_failed"] == failed
    assert (counts["created"], counts["failed"]) == (CONTACTS - failed, failed)
    assert counts["received"] == counts["created"] + counts["failed"]
    assert [j["attempt"] for j in counts["bulk_jobs"]] == [1]  # no second Bulk job
    rest = [r for r in emulator.requests if r["method"] == "PATCH" and "composite" in r["path"]]
    assert len(rest) == calls
    assert len(emulator.records("Contact")) == CONTACTS - failed
    assert Counter(d["errorCode"] for d in run.dead_letters) == (
        {"UNABLE_TO_LOCK_ROW": failed} if failed else {}
    )


def test_lock_retry_keeps_the_last_write_for_a_key(
    salesforce_emulator_factory: Any, tmp_path: Path
) -> None:
    """A key's first row fails on a lock; its second write (a later job) still lands last."""
    emulator = salesforce_emulator_factory(faults=[lock_rule(BULK_ROWS, 1, 1)])
    seed_accounts(emulator)
    stream = {
        "sobject": "Contact",
        "api": "bulk",
        "external_id_field": "External_Id__c",
        "field_mapping": {"contact_ref": "External_Id__c", "account": BY_EXTERNAL_ID},
    }
    config = base_config(
        emulator.base_url, tmp_path, on_record_error="continue", streams={"contacts": stream}
    )
    writes = [("C-1", "first", "A-0"), ("C-2", "only", "A-1"), ("C-1", "second", "A-2")]
    messages = [
        schema("contacts", PROPS, ["contact_ref"]),
        *[
            record("contacts", {"contact_ref": c, "last_name": n, "account": a})
            for c, n, a in writes
        ],
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    names = {c["External_Id__c"]: c["LastName"] for c in emulator.records("Contact")}
    assert names == {"C-1": "second", "C-2": "only"}
    counts = stats(run)
    assert counts["lock_retried"] == 2  # C-1's first write and C-2, from the first job
    assert counts["created"] + counts["updated"] == 3
