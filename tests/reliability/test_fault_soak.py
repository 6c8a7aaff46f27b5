"""Fault soak: upserts through REST and Bulk against an org that keeps failing in every way.

The plan mixes 503/500/502 bursts, the concurrent-request 403, dropped connections, record-level
``UNABLE_TO_LOCK_ROW``, token expiry (by rule and by a short token lifetime) and slow calls. The
input repeats keys (the last write must win), sends partial updates (absent properties stay) and
carries records that must fail. Afterwards the store must equal the input exactly and the report
must account for every record.

``make test`` runs 20,000 records per API; ``make soak`` (marker ``soak``) runs 200,000 with a
denser plan.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from helpers import base_config, run_target
from loadcheck import (
    STREAM,
    assert_report_accounts,
    assert_store_equals,
    expected_store,
    generate,
    messages,
    stream_config,
)


def spread(rng: random.Random, calls: int, count: int, burst: int = 1) -> list[int]:
    """``count`` call numbers (1-based) scattered over ``calls``, each starting a burst."""
    numbers: set[int] = set()
    for start in rng.sample(range(1, calls + 1), min(count, calls)):
        numbers.update(range(start, start + burst))
    return sorted(numbers)


def rest_faults(calls: int, seed: int, density: float, locks: int) -> list[dict[str, Any]]:
    """A plan for about ``calls`` Collections calls; ``density`` scales how often each fault hits."""
    rng = random.Random(seed)
    writes = {"method": "PATCH", "path_contains": "/composite/sobjects"}
    n = max(2, int(calls * density))
    return [
        {"match": writes, "on_calls": spread(rng, calls, n, burst=3), "status": 503},
        {"match": writes, "on_calls": spread(rng, calls, n), "status": 500, "body": "html"},
        {"match": writes, "on_calls": spread(rng, calls, n // 2), "status": 502},
        {"match": writes, "on_calls": spread(rng, calls, n // 2), "status": 403},
        {"match": writes, "on_calls": spread(rng, calls, n), "drop_connection": True},
        {"match": writes, "on_calls": spread(rng, calls, n), "expire_token": True},
        {"match": writes, "on_calls": spread(rng, calls, n), "latency_ms": 300},
        {
            "match": writes,
            "record_error": "UNABLE_TO_LOCK_ROW",
            "every_nth_record": 1999,
            "first_attempts": locks,
        },
    ]


def bulk_faults(calls: int, seed: int, density: float, locks: int) -> list[dict[str, Any]]:
    """A plan for about ``calls`` Bulk API calls (create, upload, close, polls, results)."""
    rng = random.Random(seed)
    bulk = {"path_contains": "/jobs/ingest"}
    n = max(2, int(calls * density))
    return [
        {"match": bulk, "on_calls": spread(rng, calls, n, burst=2), "status": 503},
        {"match": {**bulk, "method": "GET"}, "on_calls": spread(rng, calls, n), "status": 500},
        {"match": {**bulk, "method": "GET"}, "on_calls": spread(rng, calls, n), "status": 504},
        {"match": {**bulk, "method": "PUT"}, "on_calls": [2], "drop_connection": True},
        {
            "match": {**bulk, "method": "GET"},
            "on_calls": spread(rng, calls, n),
            "drop_connection": True,
        },
        {"match": {**bulk, "method": "POST"}, "on_calls": [3], "drop_connection": True},
        {"match": bulk, "on_calls": spread(rng, calls, n), "expire_token": True},
        {"match": bulk, "on_calls": spread(rng, calls, n), "latency_ms": 250},
        {
            "match": bulk,
            "record_error": "UNABLE_TO_LOCK_ROW",
            "every_nth_record": 97,
            "first_attempts": locks,
        },
    ]


def soak(
    factory, tmp_path, *, api: str, total: int, seed: int, density: float, locks: int
) -> dict[str, Any]:
    # Bulk cuts a job where a key repeats, so repeats are rarer there (jobs stay large).
    records = generate(total, seed=seed, repeats_every=20 if api == "rest" else 1000)
    if api == "rest":
        emulator = factory(
            faults=rest_faults(total // 200, seed, density, locks), token_ttl_calls=40
        )
        stream = stream_config("rest")
    else:
        jobs = total // 2000
        emulator = factory(faults=bulk_faults(jobs * 12, seed, density, locks), token_ttl_calls=60)
        stream = stream_config("bulk", batch_size=2000)
    config = base_config(
        emulator.base_url,
        tmp_path,
        streams={STREAM: stream},
        on_record_error="continue",
        max_concurrency=4,
    )
    run = run_target(config, messages(records, state_every=5000), tmp_path, timeout=1800)
    assert run.returncode == 0, run.report["errors"] if run.report else run.stderr[-3000:]

    failed_refs = {d["record"]["contact_ref"] for d in run.dead_letters}
    # Only the records built to fail are dead-lettered; every fault was absorbed by a retry.
    assert failed_refs == {r["contact_ref"] for r in records if "-bad-" in r["contact_ref"]}
    assert {d["errorCode"] for d in run.dead_letters} == {
        "REQUIRED_FIELD_MISSING",
        "INVALID_EMAIL_ADDRESS",
        "STRING_TOO_LONG",
    }
    expected = expected_store(records, failed_refs)
    assert_store_equals(emulator, expected)
    stats = assert_report_accounts(run, total)
    assert stats["created"] == len(expected)
    assert stats["retried"] > 0
    # STATE covers everything: the last bookmark is the end of the input.
    assert run.states[-1] == {"bookmarks": {STREAM: {"position": total}}}
    # For the README's reliability table (shown with `pytest -s`).
    faulted = Counter(
        "dropped" if r["status"] is None else str(r["status"])
        for r in emulator.requests
        if r["status"] is None or r["status"] >= 400
    )
    summary = {
        "records": total,
        "landed": len(expected),
        "failed": stats["failed"],
        "faulted_calls": dict(sorted(faulted.items())),
        "records_retried": stats["retried"],
        "duplicates": 0,
    }
    print(f"\nsoak {api}: {summary}")
    return summary


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_fault_soak(api, salesforce_emulator_factory, tmp_path):
    soak(
        salesforce_emulator_factory, tmp_path, api=api, total=20_000, seed=8, density=0.03, locks=1
    )


@pytest.mark.soak
@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_long_fault_soak(api, salesforce_emulator_factory, tmp_path):
    soak(
        salesforce_emulator_factory,
        tmp_path,
        api=api,
        total=200_000,
        seed=88,
        density=0.02,
        locks=2,
    )


def test_a_token_that_expires_again_while_a_call_is_retried(salesforce_emulator_factory, tmp_path):
    # 401 -> new login -> 503 -> backoff -> 401 again (a second expiry) -> new login -> 200.
    writes = {"method": "PATCH", "path_contains": "/composite/sobjects"}
    emulator = salesforce_emulator_factory(
        faults=[
            {"match": writes, "on_calls": [1, 3], "expire_token": True},
            {"match": writes, "on_calls": [2], "status": 503},
        ]
    )
    records = generate(10, seed=1, bad_every=0)
    config = base_config(emulator.base_url, tmp_path, streams={STREAM: stream_config("rest")})
    run = run_target(config, messages(records), tmp_path)
    assert run.returncode == 0, run.stderr
    assert_store_equals(emulator, expected_store(records, set()))
    logins = [r for r in emulator.requests if r["path"] == "/services/oauth2/token"]
    assert len(logins) == 3
    assert [r["status"] for r in emulator.requests if r["method"] == "PATCH"] == [
        401,
        503,
        401,
        200,
    ]
