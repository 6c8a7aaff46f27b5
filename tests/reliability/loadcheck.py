"""What the reliability tests share: generated Contact loads and the checks that nothing was lost.

A load is checked the same way everywhere: the store holds exactly one record per key that
should have landed, each with the field values of the last record sent for that key (absent
properties leave earlier values alone), every other record is in the dead-letter file, and the
report's counters add up to what was received.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
from helpers import TARGET, record, schema

STREAM = "contacts"

# Properties resolved by name: first_name -> FirstName, total_orders -> Total_Orders__c, ...
PROPS: dict[str, Any] = {
    "contact_ref": {"type": "string"},
    "first_name": {"type": ["string", "null"]},
    "last_name": {"type": ["string", "null"]},
    "email": {"type": ["string", "null"]},
    "description": {"type": ["string", "null"]},
    "birthdate": {"type": ["string", "null"], "format": "date"},
    "total_orders": {"type": ["integer", "null"]},
    "has_opted_out_of_email": {"type": ["boolean", "null"]},
}
FIELDS = {
    "contact_ref": "External_Id__c",
    "first_name": "FirstName",
    "last_name": "LastName",
    "email": "Email",
    "description": "Description",
    "birthdate": "Birthdate",
    "total_orders": "Total_Orders__c",
    "has_opted_out_of_email": "HasOptedOutOfEmail",
}
KEY_FIELD = "External_Id__c"

# Text that has to survive JSON, CSV and SOQL quoting on its way in.
AWKWARD = [
    "plain",
    'comma, "quotes" and \\backslash',
    "line one\nline two\r\nthree",
    "O'Brien; semi;colon",
    "Zoë 東京 🚀 שלום",
    "#N/A inside text",
    "  spaced  ",
]


def stream_config(api: str, **extra: Any) -> dict[str, Any]:
    """The ``streams.contacts`` entry: upsert by ``External_Id__c``."""
    return {
        "sobject": "Contact",
        "api": api,
        "external_id_field": KEY_FIELD,
        "field_mapping": {"contact_ref": KEY_FIELD},
        **extra,
    }


def contact(rng: random.Random, ref: str, version: int) -> dict[str, Any]:
    """One full record; ``version`` changes every value, so a stale write is visible."""
    return {
        "contact_ref": ref,
        "first_name": f"F{version}-{rng.randrange(10**6)}",
        "last_name": f"{rng.choice(AWKWARD).strip() or 'x'} v{version}",
        "email": f"{ref.lower()}.v{version}@example.com",
        "description": f"{rng.choice(AWKWARD)} / {ref} v{version}",
        "birthdate": f"{rng.randrange(1930, 2010)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        "total_orders": rng.randrange(0, 10**9),
        "has_opted_out_of_email": rng.random() < 0.5,
    }


def bad_contact(rng: random.Random, ref: str, kind: int) -> dict[str, Any]:
    """A record that cannot land: rejected by Salesforce or by the target before sending."""
    rec = contact(rng, ref, 0)
    if kind % 3 == 0:
        rec["last_name"] = None  # REQUIRED_FIELD_MISSING, from Salesforce
    elif kind % 3 == 1:
        rec["email"] = "not an email"  # INVALID_EMAIL_ADDRESS, from Salesforce
    else:
        rec["first_name"] = "F" * 41  # STRING_TOO_LONG, rejected before sending
    return rec


def generate(
    total: int,
    *,
    seed: int,
    prefix: str = "C",
    repeats_every: int = 20,
    bad_every: int = 1000,
) -> list[dict[str, Any]]:
    """``total`` records: mostly new keys, every ``repeats_every``-th a newer version of an
    earlier key (so the last write must win), every ``bad_every``-th a record that must fail."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    good: list[str] = []
    versions: dict[str, int] = {}
    for i in range(total):
        if bad_every and i % bad_every == bad_every - 1:
            out.append(bad_contact(rng, f"{prefix}-bad-{i}", i // bad_every))
        elif good and i % repeats_every == repeats_every - 1:
            ref = rng.choice(good)
            versions[ref] += 1
            rec = contact(rng, ref, versions[ref])
            # Some updates carry only part of the record: absent properties stay as they were.
            if rng.random() < 0.3:
                for prop in ("first_name", "description", "birthdate"):
                    rec.pop(prop)
            out.append(rec)
        else:
            ref = f"{prefix}-{i}"
            good.append(ref)
            versions[ref] = 0
            out.append(contact(rng, ref, 0))
    return out


def messages(
    records: list[dict[str, Any]], *, state_every: int = 0, start: int = 0
) -> list[dict[str, Any]]:
    """SCHEMA, then the records from position ``start`` on, with a STATE bookmark after every
    ``state_every`` records and after the last one (as a tap resuming from a bookmark sends)."""
    out = [schema(STREAM, PROPS, ["contact_ref"])]
    for position, rec in enumerate(records[start:], start=start + 1):
        out.append(record(STREAM, rec))
        if state_every and position % state_every == 0:
            out.append(bookmark(position))
    if state_every and out[-1]["type"] != "STATE":
        out.append(bookmark(len(records)))  # a tap ends its output with its state
    return out


def bookmark(position: int) -> dict[str, Any]:
    """A tap's STATE: how far into its output the target has confirmed."""
    return {"type": "STATE", "value": {"bookmarks": {STREAM: {"position": position}}}}


def stored_value(field: str, value: Any) -> Any:
    """A sent value as the store gives it back (Salesforce keeps no empty strings)."""
    if value == "":
        return None
    if field == "HasOptedOutOfEmail":
        return bool(value)
    return value


def expected_store(records: list[dict[str, Any]], failed_refs: set[str]) -> dict[str, dict]:
    """Key -> field values after loading ``records`` in order (last write wins per field)."""
    expected: dict[str, dict[str, Any]] = {}
    for rec in records:
        ref = rec["contact_ref"]
        if ref in failed_refs:
            continue
        fields = expected.setdefault(ref, {})
        for prop, value in rec.items():
            fields[FIELDS[prop]] = stored_value(FIELDS[prop], value)
    return expected


def assert_store_equals(emulator: Any, expected: dict[str, dict[str, Any]]) -> None:
    """Exactly the expected records: no loss, no duplicate, every field value equal."""
    rows = emulator.records("Contact")
    keys = [r[KEY_FIELD] for r in rows]
    duplicates = len(keys) - len(set(keys))
    assert duplicates == 0, f"{duplicates} duplicate records"
    missing = set(expected) - set(keys)
    extra = set(keys) - set(expected)
    assert not missing, f"{len(missing)} records lost, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} unexpected records, e.g. {sorted(extra)[:5]}"
    by_key = {r[KEY_FIELD]: r for r in rows}
    wrong = []
    for key, fields in expected.items():
        got = by_key[key]
        for field, value in fields.items():
            have = got.get(field)
            if field == "Total_Orders__c" and have is not None:
                have = int(Decimal(str(have)))
            if have != value:
                wrong.append((key, field, value, have))
    assert not wrong, f"{len(wrong)} wrong values, e.g. {wrong[:3]}"


def assert_report_accounts(run: Any, received: int) -> dict[str, Any]:
    """received = created + updated + failed, and failed = the dead-letter lines."""
    stats = run.report["streams"][STREAM]
    assert stats["received"] == received
    assert stats["created"] + stats["updated"] + stats["failed"] == received, stats
    assert stats["failed"] == len(run.dead_letters)
    return stats


# -- runs that can be killed --------------------------------------------------------------------


def write_input(path: Path, msgs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(m) + "\n" for m in msgs), encoding="utf-8")
    return path


def start_target(config: dict[str, Any], input_path: Path, workdir: Path) -> subprocess.Popen:
    """Start the console script on an input file; its temporary files go under ``workdir``."""
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    tmpdir = workdir / "tmp"
    tmpdir.mkdir(exist_ok=True)
    with (workdir / "stdout.txt").open("wb") as out, (workdir / "stderr.txt").open("wb") as err:
        return subprocess.Popen(
            [str(TARGET), "--config", str(config_path), "--input", str(input_path)],
            stdout=out,
            stderr=err,
            env={**os.environ, "TMPDIR": str(tmpdir)},
        )


def emitted_states(workdir: Path) -> list[dict[str, Any]]:
    """STATE values the run wrote to stdout (a killed run may leave a half line: ignored)."""
    states = []
    for line in (workdir / "stdout.txt").read_text(encoding="utf-8").splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        states.append(message["value"] if message.get("type") == "STATE" else message)
    return states


def wait_until(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def wait_for_org_idle(emulator: Any) -> None:
    """Wait until the org has finished every call a killed run left in flight.

    Salesforce finishes a request whose client died; a replay must not start before that, or
    an older write of the killed run could land after the replay's newer one for the same key.
    The emulator counts requests being served (it reports the count in each log entry).
    """
    wait_until(lambda: emulator.app._in_flight == 0, "the killed run's calls to finish")


def bulk_jobs_by_state(emulator: Any) -> dict[str, int]:
    """Ingest jobs of the org by state (``GET /jobs/ingest``, as an operator would list them)."""
    response = requests.get(
        f"{emulator.base_url}/services/data/v62.0/jobs/ingest",
        headers={"Authorization": f"Bearer {emulator.access_token()}"},
        timeout=30,
    )
    response.raise_for_status()
    states: dict[str, int] = {}
    for job in response.json()["records"]:
        states[job["state"]] = states.get(job["state"], 0) + 1
    return states
