"""dead-letters-to-singer: rejected records replayed through the target, and only those."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    CONTACT_PROPS,
    CONTACT_STREAM,
    TARGET,
    base_config,
    contacts,
    record,
    run_target,
    schema,
)

COMMAND = Path(sys.executable).with_name("dead-letters-to-singer")
ACCOUNT_PROPS = {"ref": {"type": "string"}, "name": {"type": ["string", "null"]}}
ACCOUNT_STREAM = {
    "sobject": "Account",
    "external_id_field": "External_Id__c",
    "field_mapping": {"ref": "External_Id__c"},
}
STREAMS = {"contacts": CONTACT_STREAM, "accounts": ACCOUNT_STREAM}
CONTACT_FAULT = {
    "match": {"path_contains": "/composite/sobjects/Contact"},
    "record_error": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    "every_nth_record": 3,
}
ACCOUNT_FAULT = {
    "match": {"path_contains": "/composite/sobjects/Account"},
    "record_error": "INSUFFICIENT_ACCESS_OR_READONLY",
    "every_nth_record": 2,
}


def _command(*args, env=None):
    return subprocess.run(
        [str(COMMAND), *map(str, args)], capture_output=True, timeout=60, env=env, check=False
    )


def _messages(stdout):
    return [json.loads(line) for line in stdout.decode().splitlines()]


def _first_run(emulator, tmp_path):
    """A run in which some contacts and some accounts are rejected (dead.jsonl)."""
    emulator.set_faults([CONTACT_FAULT, ACCOUNT_FAULT])
    run = run_target(
        base_config(emulator.base_url, tmp_path, streams=STREAMS, on_record_error="continue"),
        [
            schema("contacts", CONTACT_PROPS, ["contact_ref"]),
            schema("accounts", ACCOUNT_PROPS, ["ref"]),
            *contacts(9),
            *[record("accounts", {"ref": f"A-{i}", "name": f"Account {i}"}) for i in range(4)],
        ],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    kept = tmp_path / "first-dead.jsonl"
    kept.write_text((tmp_path / "dead.jsonl").read_text())
    emulator.set_faults([])  # the org is fixed
    return run, kept


def _replay_config(emulator, tmp_path):
    config = base_config(emulator.base_url, tmp_path, streams=STREAMS, on_record_error="continue")
    config["dead_letter_path"] = str(tmp_path / "replay-dead.jsonl")
    config["report_path"] = str(tmp_path / "replay-report.json")
    path = tmp_path / "replay-config.json"
    path.write_text(json.dumps(config))
    return path


def _pipe(dead, config, *filters):
    """The documented composition, through a shell pipe."""
    line = (
        f"{shlex.quote(str(COMMAND))} {shlex.quote(str(dead))} {' '.join(filters)} | "
        f"{shlex.quote(str(TARGET))} --config {shlex.quote(str(config))}"
    )
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", line], capture_output=True, timeout=120, check=False
    )


def test_a_replay_sends_only_the_rejected_records(salesforce_emulator, tmp_path):
    first, dead = _first_run(salesforce_emulator, tmp_path)
    rejected = {d["record"]["contact_ref"] for d in first.dead_letters if d["stream"] == "contacts"}
    assert len(rejected) == 3
    # Someone edits a contact that was written: a replay must not send it again.
    written = next(
        r for r in salesforce_emulator.records("Contact") if r["External_Id__c"] not in rejected
    )
    salesforce_emulator.org.save("update", "Contact", [{"Id": written["Id"], "LastName": "Edited"}])
    before = len(salesforce_emulator.requests)
    config = _replay_config(salesforce_emulator, tmp_path)
    proc = _pipe(dead, config, "--stream", "contacts")
    assert proc.returncode == 0, proc.stderr.decode()
    report = json.loads((tmp_path / "replay-report.json").read_text())
    assert list(report["streams"]) == ["contacts"]
    stats = report["streams"]["contacts"]
    assert (stats["received"], stats["sent"], stats["created"], stats["failed"]) == (3, 3, 3, 0)
    stored = {r["External_Id__c"]: r for r in salesforce_emulator.records("Contact")}
    assert set(stored) == {f"C-{i}" for i in range(9)}
    assert stored[written["External_Id__c"]]["LastName"] == "Edited"
    writes = [
        r
        for r in salesforce_emulator.requests[before:]
        if r["method"] == "PATCH" and "/composite/sobjects/" in r["path"]
    ]
    assert len(writes) == 1  # the three records, one call; nothing for accounts
    assert not (tmp_path / "replay-dead.jsonl").exists()


def test_records_failing_again_go_to_the_new_dead_letter_file(salesforce_emulator, tmp_path):
    first, dead = _first_run(salesforce_emulator, tmp_path)
    original = dead.read_text()
    # Accounts are still refused: every one fails again.
    salesforce_emulator.set_faults([{**ACCOUNT_FAULT, "every_nth_record": 1}])
    config = _replay_config(salesforce_emulator, tmp_path)
    proc = _pipe(dead, config)
    assert proc.returncode == 0, proc.stderr.decode()
    again = [json.loads(x) for x in (tmp_path / "replay-dead.jsonl").read_text().splitlines()]
    first_accounts = sorted(
        d["record"]["ref"] for d in first.dead_letters if d["stream"] == "accounts"
    )
    assert sorted(d["record"]["ref"] for d in again) == first_accounts
    assert {d["errorCode"] for d in again} == {"INSUFFICIENT_ACCESS_OR_READONLY"}
    report = json.loads((tmp_path / "replay-report.json").read_text())
    assert report["streams"]["contacts"]["created"] == 3
    assert report["streams"]["accounts"]["failed"] == len(first_accounts)
    assert dead.read_text() == original  # the replayed file is left as it was
    # The new file replays in turn, with the schema it carries.
    [first_line] = [d for d in again if "schema" in d]
    assert first_line["key_properties"] == ["ref"]


@pytest.mark.parametrize(
    ("filters", "streams", "codes"),
    [
        pytest.param([], {"contacts", "accounts"}, None, id="no-filter"),
        pytest.param(["--stream", "accounts"], {"accounts"}, None, id="stream"),
        pytest.param(
            ["--code", "FIELD_CUSTOM_VALIDATION_EXCEPTION"], {"contacts"}, None, id="code"
        ),
        pytest.param(
            ["--stream", "accounts", "--code", "FIELD_CUSTOM_VALIDATION_EXCEPTION"],
            None,
            None,
            id="both-match-nothing",
        ),
        pytest.param(
            [
                "--code",
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "--code",
                "INSUFFICIENT_ACCESS_OR_READONLY",
            ],
            {"contacts", "accounts"},
            None,
            id="two-codes",
        ),
    ],
)
def test_filters_select_lines(filters, streams, codes, salesforce_emulator, tmp_path):
    first, dead = _first_run(salesforce_emulator, tmp_path)
    proc = _command(dead, *filters)
    if streams is None:
        assert proc.returncode == 1
        [line] = proc.stderr.decode().splitlines()
        assert "no dead-letter line matches" in line
        assert "Traceback" not in line
        return
    assert proc.returncode == 0, proc.stderr.decode()
    messages = _messages(proc.stdout)
    records = [m for m in messages if m["type"] == "RECORD"]
    expected = [d["record"] for d in first.dead_letters if d["stream"] in streams]
    assert [m["record"] for m in records] == expected
    schemas = {m["stream"]: m for m in messages if m["type"] == "SCHEMA"}
    assert set(schemas) == streams
    # The SCHEMA the tap sent, with its key properties, before the stream's first record.
    if "contacts" in schemas:
        assert schemas["contacts"]["schema"]["properties"] == CONTACT_PROPS
        assert schemas["contacts"]["key_properties"] == ["contact_ref"]
    for stream in streams:
        first_schema = next(i for i, m in enumerate(messages) if m["stream"] == stream)
        assert messages[first_schema]["type"] == "SCHEMA"


def test_a_dead_lettered_delete_is_replayed_as_a_delete(salesforce_emulator, tmp_path):
    streams = {"contacts": {**CONTACT_STREAM, "deleted_records": "delete"}}
    config = base_config(salesforce_emulator.base_url, tmp_path, streams=streams)
    seeded = run_target(
        config, [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(2)], tmp_path
    )
    assert seeded.returncode == 0, seeded.stderr
    salesforce_emulator.set_faults(
        [
            {
                "match": {"method": "DELETE"},
                "record_error": "INSUFFICIENT_ACCESS_OR_READONLY",
                "every_nth_record": 1,
            }
        ]
    )
    gone = record("contacts", {"contact_ref": "C-1", "_sdc_deleted_at": "2024-05-01T10:00:00Z"})
    run = run_target(
        {**config, "on_record_error": "continue"},
        [schema("contacts", CONTACT_PROPS, ["contact_ref"]), gone],
        tmp_path,
    )
    [dead] = run.dead_letters
    kept = tmp_path / "first-dead.jsonl"
    kept.write_text((tmp_path / "dead.jsonl").read_text())
    salesforce_emulator.set_faults([])
    proc = _command(kept)
    assert proc.returncode == 0, proc.stderr.decode()
    replay = run_target(
        {**config, "dead_letter_path": str(tmp_path / "again.jsonl")},
        proc.stdout.decode(),
        tmp_path,
    )
    assert replay.returncode == 0, replay.stderr
    assert replay.report["streams"]["contacts"]["deleted"] == 1
    assert [r["External_Id__c"] for r in salesforce_emulator.records("Contact")] == ["C-0"]
    assert dead["record"]["_sdc_deleted_at"]


def test_lines_without_a_schema_get_a_permissive_one(tmp_path):
    dead = tmp_path / "old.jsonl"
    lines = [
        {
            "stream": "contacts",
            "record": {"contact_ref": "C-1", "email": "a@b.c"},
            "errorCode": "X",
        },
        {"stream": "contacts", "record": {"contact_ref": "C-2", "amount": 1.50}, "errorCode": "X"},
    ]
    # Written by hand: the number keeps its trailing zero, as the target writes Decimals.
    text = "".join(json.dumps(line) + "\n" for line in lines).replace("1.5", "1.50")
    dead.write_text(text)
    proc = _command(dead)
    assert proc.returncode == 0, proc.stderr.decode()
    [schema_message, *records] = _messages(proc.stdout)
    assert schema_message["schema"]["properties"] == {"contact_ref": {}, "email": {}, "amount": {}}
    assert schema_message["key_properties"] == []
    assert [r["record"] for r in records] == [line["record"] for line in lines]
    assert b'"amount":1.50' in proc.stdout  # exact numbers, as written
    assert "permissive" in proc.stderr.decode()


def _mistake_cases(tmp_path):
    not_dead = tmp_path / "state.jsonl"
    not_dead.write_text('{"bookmarks": {}}\n')
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"stream": "s", "record": {}, "errorCode": "X"}\n{not json\n')
    return {
        "missing": ([tmp_path / "nope.jsonl"], 2, "cannot read"),
        "not-dead-letters": ([not_dead], 2, "line 1: not a dead-letter line"),
        "broken-line": ([broken], 2, "line 2: not a dead-letter line"),
        "empty": ([_empty(tmp_path)], 1, "no dead-letter line"),
    }


def _empty(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    return path


@pytest.mark.parametrize("case", ["missing", "not-dead-letters", "broken-line", "empty"])
def test_mistakes_are_one_line(case, tmp_path):
    args, code, text = _mistake_cases(tmp_path)[case]
    proc = _command(*args)
    assert proc.returncode == code
    [line] = proc.stderr.decode().splitlines()
    assert text in line
    assert proc.stdout == b""


def test_replaying_into_the_file_being_replayed_is_refused(tmp_path):
    dead = tmp_path / "dead.jsonl"
    dead.write_text(json.dumps({"stream": "s", "record": {"a": 1}, "errorCode": "X"}) + "\n")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dead_letter_path": str(dead)}))
    proc = _command(dead, "--config", config)
    assert proc.returncode == 2
    [line] = proc.stderr.decode().splitlines()
    assert "the file being replayed" in line
    env_proc = _command(
        dead, env={"PATH": "/usr/bin", "TARGET_SALESFORCE_OUT_DEAD_LETTER_PATH": str(dead)}
    )
    assert env_proc.returncode == 2
    assert "the file being replayed" in env_proc.stderr.decode()


def test_lines_written_by_a_dry_run_are_never_replayed(tmp_path):
    dead = tmp_path / "dead.jsonl"
    lines = [
        {"stream": "contacts", "record": {"contact_ref": "C-1"}, "errorCode": "X"},
        {
            "stream": "contacts",
            "record": {"contact_ref": "C-2"},
            "errorCode": "INVALID_FIELD",
            "source": "dry_run",
        },
    ]
    dead.write_text("".join(json.dumps(line) + "\n" for line in lines))
    proc = _command(dead)
    assert proc.returncode == 0, proc.stderr.decode()
    records = [m["record"] for m in _messages(proc.stdout) if m["type"] == "RECORD"]
    assert records == [{"contact_ref": "C-1"}]
    assert "1 line(s) written by a dry run skipped" in proc.stderr.decode()
