"""Crash and replay with the ledger on: the store equals the input, and the ledger the store.

As in test_crash_replay.py, a run is SIGKILLed mid-run and replayed from the last STATE it
emitted (what Meltano does). With the ledger, the replay skips what the killed run had
confirmed and committed; it must still end with:

* the store equal to the input (no record lost, none duplicated, every value the last one);
* the ledger equal to the store: one entry per stored record, with that record's Id, and a
  digest equal to the record's last payload, so that loading the final input once more sends
  nothing at all.

For insert the kill is placed deterministically while a create call is in flight that the org
will refuse (503): the records confirmed before it are remembered (committed after each call),
so the replay creates none of them again.
"""

from __future__ import annotations

import random
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from helpers import CONTACT_PROPS, base_config, contacts, run_target, schema, state
from loadcheck import (
    KEY_FIELD,
    STREAM,
    assert_store_equals,
    bulk_jobs_by_state,
    emitted_states,
    expected_store,
    generate,
    messages,
    start_target,
    stream_config,
    wait_for_org_idle,
    wait_until,
    write_input,
)

STATE_EVERY = 250
OUTCOMES = ("created", "updated", "failed", "not_sent", "outcome_unknown", "unchanged")


def ledger_entries(path: Path) -> dict[str, str | None]:
    """Key -> Salesforce Id of every digest the ledger holds."""
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT key, sf_id FROM digests").fetchall())


def last_versions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per key, its last version: what the org must hold."""
    return list({rec["contact_ref"]: rec for rec in records}.values())


def write_calls(emulator: Any, since: int) -> list[dict[str, Any]]:
    return [
        r
        for r in emulator.requests[since:]
        if "/composite/sobjects" in r["path"] or "/jobs/ingest" in r["path"]
    ]


def assert_ledger_equals_store(emulator: Any, config: dict[str, Any], tmp_path: Path, final):
    stored = {r[KEY_FIELD].lower(): r["Id"] for r in emulator.records("Contact")}
    assert ledger_entries(Path(config["ledger_path"])) == stored
    before = len(emulator.requests)
    run = run_target(config, messages(final), tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.report["streams"][STREAM]["unchanged"] == len(final)
    assert write_calls(emulator, before) == []


def kill_and_replay(emulator, tmp_path, config, records, rng, *, api, name) -> None:
    """Kill the sync once or twice at a random call, replaying from the last STATE; finish it."""
    position = 0
    expected_calls = {"rest": len(records) // 200 + 4, "bulk": 4 * 7}[api]
    part = "/composite/sobjects" if api == "rest" else "/jobs/ingest"
    for attempt in range(rng.choice([1, 2])):
        workdir = tmp_path / f"{name}-{attempt}"
        workdir.mkdir(parents=True)
        after = rng.randrange(0, expected_calls)
        before = sum(1 for r in emulator.requests if part in r["path"])
        msgs = messages(records, state_every=STATE_EVERY, start=position)
        process = start_target(config, write_input(workdir / "input.singer", msgs), workdir)
        wait_until(
            lambda p=process, b=before, a=after: (
                p.poll() is not None
                or sum(1 for r in emulator.requests if part in r["path"]) - b >= a
            ),
            "the kill point",
        )
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()
        states = emitted_states(workdir)
        if states:
            position = states[-1]["bookmarks"][STREAM]["position"]
        wait_for_org_idle(emulator)
        if api == "bulk":
            wait_until(
                lambda: not {"UploadComplete", "InProgress"} & set(bulk_jobs_by_state(emulator)),
                "the killed run's closed jobs to finish",
            )
    run = run_target(config, messages(records, state_every=STATE_EVERY, start=position), tmp_path)
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"][STREAM]
    assert stats["received"] == sum(stats[o] for o in OUTCOMES) == len(records) - position
    assert stats["failed"] == 0 and run.dead_letters == []


@pytest.mark.parametrize(("api", "seed"), [("rest", 21), ("rest", 22), ("bulk", 23)])
def test_upsert_with_the_ledger_killed_and_replayed_ends_with_store_and_ledger_exact(
    api, seed, salesforce_emulator_factory, tmp_path
):
    emulator = salesforce_emulator_factory(record_ms=0.2)
    extra = {"batch_size": 500} if api == "bulk" else {}
    config = base_config(
        emulator.base_url,
        tmp_path,
        streams={STREAM: stream_config(api, **extra)},
        ledger_path=str(tmp_path / "ledger.db"),
    )
    rng = random.Random(seed)
    first = generate(1500, seed=seed, prefix="A", bad_every=0)
    kill_and_replay(emulator, tmp_path, config, first, rng, api=api, name="sync1")
    assert_store_equals(emulator, expected_store(first, set()))
    assert_ledger_equals_store(emulator, config, tmp_path, last_versions(first))

    # A second sync: half of it unchanged, the rest new or changed.
    second = last_versions(first)[:700] + generate(800, seed=seed + 100, prefix="B", bad_every=0)
    rng.shuffle(second)
    kill_and_replay(emulator, tmp_path, config, second, rng, api=api, name="sync2")
    assert_store_equals(emulator, expected_store(first + second, set()))
    assert_ledger_equals_store(emulator, config, tmp_path, last_versions(first + second))


# -- insert ------------------------------------------------------------------------------------

INSERT_STREAM = {
    "sobject": "Contact",
    "operation": "insert",
    # Title is not unique, so a second create of the same record would be stored twice.
    "field_mapping": {"contact_ref": "Title"},
    "batch_size": 200,
}
CREATES = {"method": "POST", "path_contains": "/composite/sobjects"}


def test_insert_with_key_properties_killed_and_replayed_creates_no_record_twice(
    salesforce_emulator_factory, tmp_path
):
    # The third create call waits, then is refused (503: nothing written); the kill lands
    # while it waits, after two calls whose 400 records the org created.
    emulator = salesforce_emulator_factory(
        faults=[
            {"match": CREATES, "on_calls": [3], "latency_ms": 3000},
            {"match": CREATES, "on_calls": [3], "status": 503},
        ]
    )
    config = base_config(
        emulator.base_url,
        tmp_path,
        streams={"contacts": INSERT_STREAM},
        max_concurrency=1,
        ledger_path=str(tmp_path / "ledger.db"),
    )
    msgs = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(1000), state({"n": 1})]
    workdir = tmp_path / "killed"
    workdir.mkdir()
    process = start_target(config, write_input(workdir / "input.singer", msgs), workdir)

    def third_create_waiting() -> bool:
        creates = [
            r for r in emulator.requests if r["method"] == "POST" and "/composite" in r["path"]
        ]
        return len(creates) == 2 and emulator.app._in_flight >= 1

    wait_until(third_create_waiting, "the third create")
    process.send_signal(signal.SIGKILL)
    process.wait()
    wait_for_org_idle(emulator)
    assert len(emulator.records("Contact")) == 400
    assert emitted_states(workdir) == []  # the replay starts from the beginning

    run = run_target(config, msgs, tmp_path)
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["contacts"]
    assert (stats["received"], stats["unchanged"], stats["created"]) == (1000, 400, 600)
    stored = emulator.records("Contact")
    titles = [r["Title"] for r in stored]
    assert sorted(titles) == sorted(f"C-{i}" for i in range(1000))  # none twice
    ids = ledger_entries(Path(config["ledger_path"]))
    assert ids == {f'["{r["Title"]}"]': r["Id"] for r in stored}
