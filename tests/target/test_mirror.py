"""mirror: true: at ACTIVATE_VERSION, delete what the stream wrote before and the version lacks."""

from __future__ import annotations

import pytest
from helpers import CONTACT_PROPS, CONTACT_STREAM, base_config, contacts, record, run_target, schema


def _version(n=2):
    return {"type": "ACTIVATE_VERSION", "stream": "contacts", "version": n}


def _run(emulator, tmp_path, messages, *, stream=None, **config):
    config.setdefault("ledger_path", str(tmp_path / "ledger.db"))
    streams = {"contacts": {**CONTACT_STREAM, "mirror": True, **(stream or {})}}
    return run_target(
        base_config(emulator.base_url, tmp_path, streams=streams, **config),
        [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *messages],
        tmp_path,
    )


def _refs(emulator):
    return sorted(r["External_Id__c"] for r in emulator.records("Contact"))


def _first_version(emulator, tmp_path, n=10, **kwargs):
    run = _run(emulator, tmp_path, [*contacts(n), _version(1)], **kwargs)
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["contacts"]["mirror"]["deleted"] == 0
    assert len(emulator.records("Contact")) == n
    return {r["External_Id__c"]: r["Id"] for r in emulator.records("Contact")}


@pytest.mark.parametrize(
    ("stream", "operation"),
    [
        pytest.param({}, None, id="rest-delete"),
        pytest.param({"api": "bulk"}, "delete", id="bulk-delete"),
        pytest.param(
            {"api": "bulk", "deleted_records": "hard_delete"}, "hardDelete", id="bulk-hard"
        ),
    ],
)
def test_records_missing_from_the_new_version_are_deleted(
    stream, operation, salesforce_emulator, tmp_path
):
    ids = _first_version(salesforce_emulator, tmp_path, stream=stream)
    run = _run(salesforce_emulator, tmp_path, [*contacts(9), _version(2)], stream=stream)
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["contacts"]
    assert stats["mirror"]["deleted"] == 1
    assert stats["mirror"]["stopped"] is None
    assert stats["mirror_deleted"] == 1
    assert "C-9" not in _refs(salesforce_emulator)
    assert salesforce_emulator.org.is_deleted(ids["C-9"]) is (operation != "hardDelete")
    if operation is not None:
        jobs = [j for j in stats["bulk_jobs"] if j.get("purpose") == "delete"]
        assert [j["operation"] for j in jobs] == [operation]
    # Forgotten by the ledger: the next identical version deletes nothing.
    again = _run(salesforce_emulator, tmp_path, [*contacts(9), _version(3)], stream=stream)
    assert again.report["streams"]["contacts"]["mirror"]["absent"] == 0
    assert len(salesforce_emulator.records("Contact")) == 9


def test_a_version_with_no_records_deletes_nothing(salesforce_emulator, tmp_path):
    _first_version(salesforce_emulator, tmp_path)
    run = _run(salesforce_emulator, tmp_path, [_version(2)])
    assert run.returncode == 0, run.stderr
    mirror = run.report["streams"]["contacts"]["mirror"]
    assert mirror["deleted"] == 0
    assert "no records" in mirror["stopped"]
    assert len(salesforce_emulator.records("Contact")) == 10


@pytest.mark.parametrize(
    ("percent", "deleted"),
    [
        pytest.param(None, 0, id="default-20-stops-30"),
        pytest.param(29, 0, id="29-stops-30"),
        pytest.param(30, 3, id="raised-to-30"),
    ],
)
def test_the_share_guard_stops_large_deletes_unless_raised(
    percent, deleted, salesforce_emulator, tmp_path
):
    _first_version(salesforce_emulator, tmp_path)
    extra = {} if percent is None else {"mirror_max_delete_percent": percent}
    run = _run(salesforce_emulator, tmp_path, [*contacts(7), _version(2)], **extra)
    assert run.returncode == 0, run.stderr
    mirror = run.report["streams"]["contacts"]["mirror"]
    assert (mirror["absent"], mirror["deleted"]) == (3, deleted)
    assert len(salesforce_emulator.records("Contact")) == 10 - deleted
    if deleted == 0:
        assert "mirror_max_delete_percent" in mirror["stopped"]
        lines = [x for x in run.stderr.splitlines() if "raise mirror_max_delete_percent" in x]
        assert len(lines) == 1
        assert "to at least 31" in lines[0]
    else:
        assert mirror["stopped"] is None


def test_records_rejected_in_the_new_version_are_not_deleted(salesforce_emulator, tmp_path):
    _first_version(salesforce_emulator, tmp_path)
    rows = contacts(9)
    # C-8 is in the new version but cannot be written this time (not a string).
    rows[8] = record("contacts", {"contact_ref": "C-8", "last_name": 5})
    run = _run(salesforce_emulator, tmp_path, [*rows, _version(2)], on_record_error="continue")
    assert run.returncode == 0, run.stderr
    mirror = run.report["streams"]["contacts"]["mirror"]
    assert (mirror["absent"], mirror["deleted"]) == (1, 1)
    assert _refs(salesforce_emulator) == [f"C-{i}" for i in range(9)]


def test_activate_version_without_mirror_deletes_nothing_and_says_so_once(
    salesforce_emulator, tmp_path
):
    _first_version(salesforce_emulator, tmp_path)
    run = _run(
        salesforce_emulator,
        tmp_path,
        [*contacts(5), _version(2), _version(3)],
        stream={"mirror": False},
    )
    assert run.returncode == 0, run.stderr
    assert "mirror" not in run.report["streams"]["contacts"]
    assert len(salesforce_emulator.records("Contact")) == 10
    assert run.stderr.count("ACTIVATE_VERSION ignored") == 1


def test_mirror_needs_the_ledger(tmp_path):
    config = base_config(
        "http://127.0.0.1:9", tmp_path, streams={"contacts": {**CONTACT_STREAM, "mirror": True}}
    )
    run = run_target(config, [], tmp_path)
    assert run.returncode == 2
    lines = [x for x in run.stderr.splitlines() if "ledger_path is not set" in x]
    assert len(lines) == 1
    assert "'contacts'" in lines[0]


def test_dry_run_says_what_mirror_would_delete(salesforce_emulator, tmp_path):
    _first_version(salesforce_emulator, tmp_path)
    run = _run(salesforce_emulator, tmp_path, [*contacts(9), _version(2)], dry_run=True)
    assert run.returncode == 0, run.stderr
    mirror = run.report["streams"]["contacts"]["mirror"]
    assert (mirror["would_delete"], mirror["deleted"]) == (1, 0)
    assert len(salesforce_emulator.records("Contact")) == 10


def test_rows_deleted_at_the_source_leave_the_ledger(salesforce_emulator, tmp_path):
    ids = _first_version(salesforce_emulator, tmp_path, stream={"deleted_records": "delete"})
    # C-9 was removed in Salesforce by someone else, then the source deletes it too.
    salesforce_emulator.org.save("delete", "Contact", [{"Id": ids["C-9"]}])
    gone = record("contacts", {"contact_ref": "C-9", "_sdc_deleted_at": "2024-05-01T10:00:00Z"})
    run = _run(
        salesforce_emulator,
        tmp_path,
        [*contacts(9), gone, _version(2)],
        stream={"deleted_records": "delete"},
    )
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["contacts"]
    assert stats["already_deleted"] == 1
    # Forgotten by the ledger when its delete was answered: mirror has nothing left to do.
    assert (stats["mirror"]["absent"], stats["mirror"]["deleted"]) == (0, 0)
