"""The sync ledger (ledger_path): skip unchanged rows, replay-safe inserts, retry later.

Every run goes through the console script against the emulator; "no write calls" is read from
the emulator's request log, and every run's counters must balance (each received record has
exactly one outcome, ``unchanged`` included).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from helpers import CONTACT_PROPS, CONTACT_STREAM, base_config, contacts, run_target, schema

OUTCOMES = (
    "created",
    "updated",
    "deleted",
    "failed",
    "not_sent",
    "outcome_unknown",
    "unchanged",
    "ignored_deleted",
    "already_deleted",
    "would_create",
    "would_update",
    "would_delete",
)
WRITES = ("/composite/sobjects", "/jobs/ingest")
N = 30


def balanced(stats: dict[str, Any]) -> bool:
    return stats["received"] == sum(stats.get(name, 0) for name in OUTCOMES)


def writes(emulator: Any, since: int) -> list[dict[str, Any]]:
    """The write requests (Collections calls, Bulk job calls) after the first ``since``."""
    return [r for r in emulator.requests[since:] if any(p in r["path"] for p in WRITES)]


def stream_config(api: str, **extra: Any) -> dict[str, Any]:
    return {**CONTACT_STREAM, "api": api, **extra}


def config_for(emulator: Any, tmp_path: Path, api: str, **extra: Any) -> dict[str, Any]:
    streams = {"contacts": stream_config(api, **extra.pop("stream", {}))}
    return base_config(
        emulator.base_url,
        tmp_path,
        streams=streams,
        ledger_path=str(tmp_path / "ledger.db"),
        on_record_error="continue",
        **extra,
    )


def sync(emulator: Any, config: dict[str, Any], msgs: list[dict[str, Any]], tmp_path: Path):
    """One run; returns (run, the stream's counters, the write requests it made)."""
    before = len(emulator.requests)
    run = run_target(config, msgs, tmp_path)
    assert run.report is not None, run.stderr
    stats = run.report["streams"]["contacts"]
    assert balanced(stats), stats
    return run, stats, writes(emulator, before)


def contact_messages(n: int = N, **changes: dict[str, Any]) -> list[dict[str, Any]]:
    """SCHEMA and ``n`` contacts; ``changes`` maps a contact_ref to the properties it changes."""
    msgs = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(n)]
    for message in msgs[1:]:
        message["record"].update(changes.get(message["record"]["contact_ref"], {}))
    return msgs


def ledger_rows(tmp_path: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        return db.execute(f"SELECT * FROM {table}").fetchall()


API = [pytest.param("rest", id="rest"), pytest.param("bulk", id="bulk")]


# -- 1. skip unchanged rows ----------------------------------------------------------------------


@pytest.mark.parametrize("api", API)
def test_a_second_run_of_the_same_input_makes_no_write_call(api, salesforce_emulator, tmp_path):
    config = config_for(salesforce_emulator, tmp_path, api)
    run, stats, _ = sync(salesforce_emulator, config, contact_messages(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert (stats["created"], stats["unchanged"]) == (N, 0)

    run, stats, calls = sync(salesforce_emulator, config, contact_messages(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert calls == []
    assert (stats["received"], stats["unchanged"], stats["sent"]) == (N, N, 0)
    assert "unchanged" in run.stderr  # the summary table's column


@pytest.mark.parametrize("api", API)
def test_only_the_changed_record_is_sent(api, salesforce_emulator, tmp_path):
    config = config_for(salesforce_emulator, tmp_path, api)
    sync(salesforce_emulator, config, contact_messages(), tmp_path)

    changed = contact_messages(**{"C-7": {"email": "new7@example.com"}})
    run, stats, calls = sync(salesforce_emulator, config, changed, tmp_path)
    assert run.returncode == 0, run.stderr
    assert (stats["sent"], stats["updated"], stats["unchanged"]) == (1, 1, N - 1)
    assert calls  # the one changed record went out
    stored = {r["External_Id__c"]: r["Email"] for r in salesforce_emulator.records("Contact")}
    assert stored["C-7"] == "new7@example.com"

    # Its new digest was recorded: the same input again sends nothing.
    _, stats, calls = sync(salesforce_emulator, config, changed, tmp_path)
    assert (calls, stats["unchanged"]) == ([], N)


@pytest.mark.parametrize("api", API)
def test_a_key_repeated_in_one_run_ends_with_its_last_version(api, salesforce_emulator, tmp_path):
    """The later record equals the ledger's digest, but the earlier one changed the org."""
    config = config_for(salesforce_emulator, tmp_path, api)
    sync(salesforce_emulator, config, contact_messages(), tmp_path)
    msgs = contact_messages(**{"C-2": {"email": "interim@example.com"}})
    msgs.append(contact_messages()[3])  # C-2 again, as the ledger remembers it
    run, stats, _ = sync(salesforce_emulator, config, msgs, tmp_path)
    assert run.returncode == 0, run.stderr
    assert stats["updated"] == 2
    stored = {r["External_Id__c"]: r["Email"] for r in salesforce_emulator.records("Contact")}
    assert stored["C-2"] == "c2@example.com"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param({}, {"operation": "update"}, id="operation"),
        pytest.param(
            {},
            {"field_mapping": {"contact_ref": "External_Id__c", "email": "Description"}},
            id="mapping",
        ),
    ],
)
def test_a_changed_operation_or_mapping_sends_every_record_once(
    first, second, salesforce_emulator, tmp_path
):
    """With update, the payloads are the same bytes: only the stream's signature changed."""
    config = config_for(salesforce_emulator, tmp_path, "rest", stream=first)
    sync(salesforce_emulator, config, contact_messages(), tmp_path)

    config = config_for(salesforce_emulator, tmp_path, "rest", stream=second)
    run, stats, calls = sync(salesforce_emulator, config, contact_messages(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert (stats["updated"], stats["unchanged"]) == (N, 0)
    assert calls

    _, stats, calls = sync(salesforce_emulator, config, contact_messages(), tmp_path)
    assert (calls, stats["unchanged"]) == ([], N)


def test_full_refresh_sends_everything_and_rebuilds_the_digests(salesforce_emulator, tmp_path):
    config = config_for(salesforce_emulator, tmp_path, "rest")
    sync(salesforce_emulator, config, contact_messages(), tmp_path)

    refresh = {**config, "full_refresh": True}
    run, stats, calls = sync(salesforce_emulator, refresh, contact_messages(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert (stats["updated"], stats["unchanged"], stats["sent"]) == (N, 0, N)
    assert calls

    _, stats, calls = sync(salesforce_emulator, config, contact_messages(), tmp_path)
    assert (calls, stats["unchanged"]) == ([], N)


def test_a_dry_run_changes_nothing_in_the_ledger(salesforce_emulator, tmp_path):
    config = config_for(salesforce_emulator, tmp_path, "rest")
    sync(salesforce_emulator, config, contact_messages(), tmp_path)
    before = ledger_rows(tmp_path, "digests")
    changed = contact_messages(**{"C-1": {"email": "dry@example.com"}})
    run, stats, calls = sync(salesforce_emulator, {**config, "dry_run": True}, changed, tmp_path)
    assert run.returncode == 0, run.stderr
    assert (stats["unchanged"], stats["would_update"], calls) == (N - 1, 1, [])
    assert ledger_rows(tmp_path, "digests") == before


def test_a_ledger_path_in_a_missing_directory_is_a_config_error(salesforce_emulator, tmp_path):
    config = config_for(salesforce_emulator, tmp_path, "rest")
    config["ledger_path"] = str(tmp_path / "nowhere" / "ledger.db")
    run = run_target(config, contact_messages(), tmp_path)
    assert run.returncode == 2
    assert "ledger_path" in run.stderr and "does not exist" in run.stderr


@pytest.mark.parametrize(
    ("where", "text"),
    [
        pytest.param("directory", "unable to open database file", id="a-directory"),
        pytest.param("not-sqlite", "file is not a database", id="not-a-ledger"),
    ],
)
def test_a_ledger_path_that_is_no_ledger_is_a_config_error(
    where, text, salesforce_emulator, tmp_path
):
    config = config_for(salesforce_emulator, tmp_path, "rest")
    path = tmp_path / where
    if where == "directory":
        path.mkdir()
    else:
        path.write_text('{"not": "a ledger"}' * 100)
    config["ledger_path"] = str(path)
    run = run_target(config, contact_messages(), tmp_path)
    assert run.returncode == 2
    assert f"cannot be used as the ledger ({text})" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("setting", "value", "refused"),
    [
        pytest.param("full_refresh", True, True, id="full-refresh"),
        pytest.param("retry_rejected_runs", 5, True, id="retry-runs"),
        pytest.param("retry_rejected_runs", 3, False, id="retry-runs-default-as-meltano-sends"),
        pytest.param("full_refresh", False, False, id="full-refresh-false"),
    ],
)
def test_ledger_settings_without_a_ledger(setting, value, refused, salesforce_emulator, tmp_path):
    config = {**config_for(salesforce_emulator, tmp_path, "rest"), setting: value}
    config.pop("ledger_path", None)
    run = run_target(config, contact_messages(), tmp_path)
    assert (run.returncode == 2) is refused, run.stderr
    assert (f"{setting} needs ledger_path" in run.stderr) is refused


# -- 5. replay-safe inserts ----------------------------------------------------------------------

INSERT = {
    "sobject": "Contact",
    "operation": "insert",
    # Title is not unique: a second create of the same record would be stored twice.
    "field_mapping": {"contact_ref": "Title"},
}


@pytest.mark.parametrize("api", API)
def test_an_insert_stream_with_key_properties_never_creates_a_record_twice(
    api, salesforce_emulator, tmp_path
):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={"contacts": {**INSERT, "api": api}},
        ledger_path=str(tmp_path / "ledger.db"),
    )
    run, stats, _ = sync(salesforce_emulator, config, contact_messages(), tmp_path)
    assert (run.returncode, stats["created"]) == (0, N), run.stderr

    run, stats, calls = sync(salesforce_emulator, config, contact_messages(), tmp_path)
    assert (run.returncode, stats["unchanged"], calls) == (0, N, []), run.stderr

    changed = contact_messages(**{"C-3": {"email": "three@example.com"}})
    run, stats, calls = sync(salesforce_emulator, config, changed, tmp_path)
    assert run.returncode == 0, run.stderr
    assert (stats["created"], stats["updated"], stats["unchanged"]) == (0, 1, N - 1)
    # Sent as an update by the remembered Id (a Collections update), never as a create.
    assert [c["method"] for c in calls] == ["PATCH"]
    stored = salesforce_emulator.records("Contact")
    assert sorted(r["Title"] for r in stored) == sorted(f"C-{i}" for i in range(N))
    assert next(r["Email"] for r in stored if r["Title"] == "C-3") == "three@example.com"
    ids = {key: sf_id for _, key, _, sf_id, _ in ledger_rows(tmp_path, "digests")}
    assert ids == {f'["{r["Title"]}"]': r["Id"] for r in stored}


def test_a_stream_without_any_key_is_sent_as_before_and_says_so(salesforce_emulator, tmp_path):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={"contacts": INSERT},
        ledger_path=str(tmp_path / "ledger.db"),
    )
    msgs = [schema("contacts", CONTACT_PROPS), *contacts(3)]
    sync(salesforce_emulator, config, msgs, tmp_path)
    run, stats, calls = sync(salesforce_emulator, config, msgs, tmp_path)
    assert (stats["created"], stats["unchanged"]) == (3, 0)
    assert calls
    assert "the ledger does not apply" in run.stderr


# -- 6. retry later --------------------------------------------------------------------------------

LOCKS = {"path_contains": "/composite/sobjects"}


def test_a_record_that_failed_on_a_row_lock_is_offered_again_next_run_and_lands(
    salesforce_emulator_factory, tmp_path
):
    # Every 10th record fails its first 5 attempts: the run's own retries (4) are not enough.
    emulator = salesforce_emulator_factory(
        faults=[
            {
                "match": LOCKS,
                "record_error": "UNABLE_TO_LOCK_ROW",
                "every_nth_record": 10,
                "first_attempts": 5,
            }
        ]
    )
    config = config_for(emulator, tmp_path, "rest")
    too_long = {"C-5": {"last_name": "x" * 100}}  # LastName holds 80: a data error
    run, stats, _ = sync(emulator, config, contact_messages(**too_long), tmp_path)
    locked = {
        d["record"]["contact_ref"]
        for d in run.dead_letters
        if d["errorCode"] == "UNABLE_TO_LOCK_ROW"
    }
    # 29 records reach Salesforce (C-5 is rejected before sending): the 10th and 20th lock.
    assert len(locked) == 2 and stats["failed"] == 3
    kept = ledger_rows(tmp_path, "kept")
    assert len(kept) == 2  # the too-long name is not kept

    # The next run's tap sends only the records that were written; the kept ones come back.
    sent_again = [
        m
        for m in contact_messages(**too_long)
        if m["type"] == "SCHEMA" or m["record"]["contact_ref"] not in locked | {"C-5"}
    ]
    run, stats, _ = sync(emulator, config, sent_again, tmp_path)
    assert run.returncode == 0, run.stderr
    assert stats["retried_from_ledger"] == 2
    assert (stats["received"], stats["unchanged"], stats["created"]) == (N - 3 + 2, N - 3, 2)
    stored = {r["External_Id__c"] for r in emulator.records("Contact")}
    assert locked <= stored and "C-5" not in stored
    assert ledger_rows(tmp_path, "kept") == []


def test_kept_records_are_offered_retry_rejected_runs_times_then_given_up(
    salesforce_emulator_factory, tmp_path
):
    emulator = salesforce_emulator_factory(
        faults=[
            {
                "match": LOCKS,
                "record_error": "INVALID_CROSS_REFERENCE_KEY",
                "message": "invalid cross reference id",
                "every_nth_record": 10,
                "first_attempts": 100,
            }
        ]
    )
    config = config_for(emulator, tmp_path, "rest", retry_rejected_runs=2)
    run, stats, _ = sync(emulator, config, contact_messages(), tmp_path)
    assert stats["failed"] == 3
    offered = []
    for _ in range(3):
        run, stats, _ = sync(emulator, config, contact_messages(0), tmp_path)
        offered.append(stats["retried_from_ledger"])
    assert offered == [3, 3, 0]
    assert "no longer offered" in run.stderr
    assert ledger_rows(tmp_path, "kept") == []


def test_a_kept_record_whose_key_the_tap_sends_again_is_not_offered(
    salesforce_emulator_factory, tmp_path
):
    emulator = salesforce_emulator_factory(
        faults=[
            {
                "match": LOCKS,
                "record_error": "INVALID_CROSS_REFERENCE_KEY",
                "message": "invalid cross reference id",
                "every_nth_record": 10,
                "first_attempts": 1,
            }
        ]
    )
    config = config_for(emulator, tmp_path, "rest")
    sync(emulator, config, contact_messages(), tmp_path)
    run, stats, _ = sync(emulator, config, contact_messages(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert (stats["retried_from_ledger"], stats["received"]) == (0, N)
    assert ledger_rows(tmp_path, "kept") == []
