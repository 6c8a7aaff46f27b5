"""Crash and replay: SIGKILL the target at random points, re-run it as Meltano would, compare.

How the replay works (what Meltano does with a loader's STATE):

* The tap's output for one sync is SCHEMA, the records, and a STATE bookmark after every 250
  records. Meltano keeps the last STATE the target wrote to stdout; the next run of the tap
  starts after that bookmark (SCHEMA again, then the records after the bookmark's position), or
  from the beginning of the sync when the target wrote none.
* singer-sdk writes STATE only after a full drain (end of input, SIGTERM, or records older than
  5 minutes), so a run killed before its end has written none and the replay resends the whole
  sync: delivery is at-least-once. Upserts by external id make that harmless.
* Before the replay the org must have finished what the killed run left running: the call in
  flight (Salesforce completes it even though the client is gone) and, for Bulk, any job
  already closed (``UploadComplete``/``InProgress`` jobs keep running). Otherwise an older write
  of the dead run could land after the replay's newer write for a key the sync holds twice.
  Jobs the dead run created but never closed stay ``Open`` and never write anything.

Each sync is killed once or twice at seeded random points (after the k-th API call of the run,
plus a random few milliseconds so some kills land while a call is in flight), then run to the
end. After each sync the store must equal the input exactly.

For ``insert`` a replay is not harmless: what the dead run created is created again. And a
create whose answer was lost is never resent by the target: it is dead-lettered as
``OUTCOME_UNKNOWN`` so that someone checks the org (the two tests at the end show both).
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
from typing import Any

import pytest
from helpers import CONTACT_PROPS, TARGET, base_config, contacts, run_target, schema, state
from loadcheck import (
    STREAM,
    assert_store_equals,
    bulk_jobs_by_state,
    contact,
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


def second_sync(first: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """New records mixed with newer versions of records of the first sync."""
    rng = random.Random(seed)
    fresh = generate(1000, seed=seed, prefix="B", bad_every=0)
    changed = [contact(rng, rec["contact_ref"], 9) for rec in rng.sample(first, 500)]
    mixed = fresh + changed
    rng.shuffle(mixed)
    return mixed


def calls_of(emulator, api: str) -> int:
    part = "/composite/sobjects" if api == "rest" else "/jobs/ingest"
    return sum(1 for r in emulator.requests if part in r["path"])


def run_and_kill(emulator, config, msgs, workdir, *, api: str, after_calls: int, delay: float):
    """Start a run, SIGKILL it once the org has answered ``after_calls`` of its calls."""
    workdir.mkdir(parents=True)
    before = calls_of(emulator, api)
    process = start_target(config, write_input(workdir / "input.singer", msgs), workdir)
    wait_until(
        lambda: process.poll() is not None or calls_of(emulator, api) - before >= after_calls,
        "the kill point",
    )
    if delay:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=delay)
    finished = process.poll() is not None
    if not finished:
        process.send_signal(signal.SIGKILL)
    process.wait()
    return finished


def load_sync(emulator, tmp_path, config, records, rng, *, api: str, name: str) -> list[str]:
    """Kill the sync once or twice, replaying from the last STATE each time, then finish it."""
    notes = []
    position = 0  # the bookmark Meltano holds for this sync
    expected_calls = {"rest": len(records) // 200 + 4, "bulk": 4 * 7}[api]
    for attempt in range(rng.choice([1, 2])):
        after, delay = rng.randrange(0, expected_calls), rng.choice([0, rng.uniform(0, 0.03)])
        workdir = tmp_path / f"{name}-{attempt}"
        msgs = messages(records, state_every=STATE_EVERY, start=position)
        finished = run_and_kill(
            emulator, config, msgs, workdir, api=api, after_calls=after, delay=delay
        )
        states = emitted_states(workdir)
        if states:
            position = states[-1]["bookmarks"][STREAM]["position"]
        wait_for_org_idle(emulator)
        if api == "bulk":
            wait_until(
                lambda: not {"UploadComplete", "InProgress"} & set(bulk_jobs_by_state(emulator)),
                "the killed run's closed jobs to finish",
            )
        notes.append(
            f"{name}: {'finished before the kill' if finished else 'killed'} after "
            f"{after} calls, {len(states)} STATE emitted, {len(emulator.records('Contact'))} "
            f"records stored, replay from position {position}"
        )
    run = run_target(config, messages(records, state_every=STATE_EVERY, start=position), tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.states[-1] == {"bookmarks": {STREAM: {"position": len(records)}}}
    stats = run.report["streams"][STREAM]
    assert stats["failed"] == 0 and run.dead_letters == []
    assert stats["created"] + stats["updated"] == len(records) - position
    return notes


@pytest.mark.parametrize(
    ("api", "seed"), [("rest", 1), ("rest", 2), ("rest", 3), ("bulk", 4), ("bulk", 5)]
)
def test_sigkill_and_replay_from_the_last_state_ends_with_the_input_exactly(
    api, seed, salesforce_emulator_factory, tmp_path
):
    # A little processing time per record, so kills land in the middle of calls and jobs.
    emulator = salesforce_emulator_factory(record_ms=0.2)
    extra = {"batch_size": 500} if api == "bulk" else {}
    config = base_config(emulator.base_url, tmp_path, streams={STREAM: stream_config(api, **extra)})
    rng = random.Random(seed)

    first = generate(1500, seed=seed, prefix="A", bad_every=0)
    notes = load_sync(emulator, tmp_path, config, first, rng, api=api, name="sync1")
    assert_store_equals(emulator, expected_store(first, set()))

    second = second_sync(first, seed)
    notes += load_sync(emulator, tmp_path, config, second, rng, api=api, name="sync2")
    assert_store_equals(emulator, expected_store(first + second, set()))
    print("\n" + "\n".join(notes))


# -- insert: not idempotent ---------------------------------------------------------------------

INSERT_STREAM = {
    "sobject": "Contact",
    "operation": "insert",
    # Title is not unique, so a second create of the same record is possible (as in most orgs).
    "field_mapping": {"contact_ref": "Title"},
    "batch_size": 200,
    # REST calls as the records arrive (api auto would hold up to bulk_threshold of them).
    "api": "rest",
}


CREATES = {"method": "POST", "path_contains": "/composite/sobjects"}


def _insert(emulator, tmp_path, on_record_error):
    config = base_config(
        emulator.base_url,
        tmp_path,
        streams={"contacts": INSERT_STREAM},
        max_concurrency=1,
        on_record_error=on_record_error,
    )
    msgs = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(1000), state({"n": 1})]
    run = run_target(config, msgs, tmp_path)
    posts = [r for r in emulator.requests if r["method"] == "POST" and "composite" in r["path"]]
    return run, [r["status"] for r in posts]


def test_a_create_whose_answer_was_lost_is_dead_lettered_as_outcome_unknown_never_resent(
    salesforce_emulator_factory, tmp_path
):
    emulator = salesforce_emulator_factory(
        faults=[
            {"match": CREATES, "on_calls": [2], "drop_connection": True},
            {"match": CREATES, "on_calls": [3], "status": 500},
            # A 503 means Salesforce did not take the request: that one is sent again.
            {"match": CREATES, "on_calls": [4], "status": 503},
        ]
    )
    run, statuses = _insert(emulator, tmp_path, "continue")
    assert run.returncode == 0, run.stderr
    # Calls 2 and 3 lost their answers: their 400 records are dead-lettered, never resent.
    assert statuses == [200, None, 500, 503, 200, 200]
    unknown = [d for d in run.dead_letters if d["errorCode"] == "OUTCOME_UNKNOWN"]
    assert len(unknown) == len(run.dead_letters) == 400
    assert {d["record"]["contact_ref"] for d in unknown} == {f"C-{i}" for i in range(200, 600)}
    assert all("Check the org for this record" in d["message"] for d in unknown)
    assert all(d["source"] == "target" for d in unknown)
    stats = run.report["streams"]["contacts"]
    assert (stats["received"], stats["created"], stats["outcome_unknown"]) == (1000, 600, 400)
    assert stats["failed"] == stats["not_sent"] == 0
    stored = {r["Title"] for r in emulator.records("Contact")}
    assert len(stored) == 600 and stored.isdisjoint(d["record"]["contact_ref"] for d in unknown)
    # on_record_error is continue: STATE covers the dead-lettered records too.
    assert run.states == [{"n": 1}]


def test_outcome_unknown_with_on_record_error_fail_stops_without_state(
    salesforce_emulator_factory, tmp_path
):
    emulator = salesforce_emulator_factory(
        faults=[{"match": CREATES, "on_calls": [2], "drop_connection": True}]
    )
    run, statuses = _insert(emulator, tmp_path, "fail")
    assert run.returncode == 1
    assert "on_record_error is fail" in run.stderr
    assert run.states == []
    # The batch with the lost answer is finished, then the run stops (a call of the next
    # batch may already be under way). The lost call is never sent again.
    assert statuses[:2] == [200, None] and statuses.count(None) == 1
    codes = [d["errorCode"] for d in run.dead_letters]
    assert codes.count("OUTCOME_UNKNOWN") == 200
    # The records read but never sent when the run stopped are listed too.
    assert set(codes) <= {"OUTCOME_UNKNOWN", "NOT_SENT"}
    stored = {r["Title"] for r in emulator.records("Contact")}
    assert len(stored) == 200 * statuses.count(200)
    assert stored.isdisjoint(d["record"]["contact_ref"] for d in run.dead_letters)
    stats = run.report["streams"]["contacts"]
    assert stats["received"] == len(stored) + len(codes)
    assert (stats["outcome_unknown"], stats["not_sent"]) == (200, codes.count("NOT_SENT"))


def test_an_insert_replayed_after_a_crash_creates_duplicates(salesforce_emulator, tmp_path):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={"contacts": INSERT_STREAM},
        max_concurrency=1,
    )
    msgs = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(1000), state({"n": 1})]
    config_path = tmp_path / "insert.json"
    config_path.write_text(json.dumps(config))
    process = subprocess.Popen(
        [str(TARGET), "--config", str(config_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    # The first 400 records (two creates of 200), then the target waits for more input.
    lines = "".join(json.dumps(m) + "\n" for m in msgs[:401])
    assert process.stdin is not None
    process.stdin.write(lines.encode())
    process.stdin.flush()
    wait_until(lambda: len(salesforce_emulator.records("Contact")) == 400, "two creates")
    process.send_signal(signal.SIGKILL)
    stdout, _ = process.communicate()
    assert stdout == b""  # no STATE: the replay starts from the beginning

    run = run_target(config, msgs, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["contacts"]["created"] == 1000
    titles = [r["Title"] for r in salesforce_emulator.records("Contact")]
    assert len(titles) == 1400
    assert len(set(titles)) == 1000  # the 400 records of the killed run now exist twice
