"""REST benchmark: API calls and wall time per operation and key kind, 100 ms per call.

    .venv/bin/python benchmarks/rest_bench.py [--records 10000] [--latency-ms 100]

Each scenario starts a fresh in-process emulator with the given latency, seeds it when the
operation needs existing records, then pipes N records through the target's console script,
sequentially (max_concurrency 1) and with max_concurrency 8. API calls are read from the
emulator's request log (everything it counted, describe and lookups included).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from target_salesforce_out.emulator import run_emulator

TARGET = Path(sys.executable).with_name("target-salesforce-out")
PROPS = {
    "ref": {"type": "string"},
    "name": {"type": "string"},
    "industry": {"type": "string"},
    "sf_id": {"type": "string"},
}

SCENARIOS: list[tuple[str, str, dict[str, Any], bool]] = [
    ("upsert", "external id", {"external_id_field": "External_Id__c"}, False),
    ("upsert", "match_fields", {"match_fields": ["External_Id__c"]}, True),
    ("insert", "-", {"operation": "insert"}, False),
    ("update", "Id", {"operation": "update"}, True),
    ("update", "external id", {"operation": "update", "external_id_field": "External_Id__c"}, True),
    ("update", "match_fields", {"operation": "update", "match_fields": ["External_Id__c"]}, True),
    ("delete", "Id", {"operation": "delete"}, True),
    ("delete", "external id", {"operation": "delete", "external_id_field": "External_Id__c"}, True),
    ("delete", "match_fields", {"operation": "delete", "match_fields": ["External_Id__c"]}, True),
]


def _messages(n: int, ids: dict[str, str], with_ids: bool) -> str:
    lines = [
        json.dumps(
            {
                "type": "SCHEMA",
                "stream": "accounts",
                "schema": {"type": "object", "properties": PROPS},
                "key_properties": ["ref"],
            }
        )
    ]
    for i in range(n):
        rec = {"ref": f"A-{i}", "name": f"Account {i}", "industry": "Energy"}
        if with_ids:
            rec["sf_id"] = ids[rec["ref"]]
        lines.append(json.dumps({"type": "RECORD", "stream": "accounts", "record": rec}))
    return "\n".join(lines) + "\n"


def _seed(emulator: Any, n: int) -> dict[str, str]:
    records = [{"Name": f"Account {i}", "External_Id__c": f"A-{i}"} for i in range(n)]
    for start in range(0, n, 200):
        emulator.org.save("insert", "Account", records[start : start + 200])
    return {r["External_Id__c"]: r["Id"] for r in emulator.records("Account")}


def run_scenario(
    n: int, latency_ms: float, settings: dict[str, Any], seed: bool, concurrency: int, workdir: Path
) -> tuple[int, float, int]:
    """Return (API calls, wall seconds, exit code) for one scenario."""
    with run_emulator(latency_ms=latency_ms, api_limit=10_000_000) as emulator:
        ids = _seed(emulator, n) if seed else {}
        uses_id = (
            settings.get("operation") in {"update", "delete"}
            and "external_id_field" not in settings
            and "match_fields" not in settings
        )
        mapping = {"ref": "External_Id__c"}
        if uses_id:
            mapping["sf_id"] = "Id"
        stream = {
            "sobject": "Account",
            "field_mapping": mapping,
            "unmapped_properties": "ignore",
            **settings,
        }
        config = {
            "domain": emulator.base_url,
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "refresh_token": "emulator-refresh-token",
            "max_concurrency": concurrency,
            "on_record_error": "continue",
            "streams": {"accounts": stream},
        }
        config_path = workdir / "config.json"
        config_path.write_text(json.dumps(config))
        before = sum(1 for r in emulator.requests if r["counted"])
        data = _messages(n, ids, uses_id)
        started = time.perf_counter()
        proc = subprocess.run(
            [str(TARGET), "--config", str(config_path)],
            input=data.encode(),
            capture_output=True,
            check=False,
        )
        wall = time.perf_counter() - started
        calls = sum(1 for r in emulator.requests if r["counted"]) - before
        return calls, wall, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()
    print(
        f"REST benchmark: {args.records} records, emulator latency {args.latency_ms:g} ms per call\n"
    )
    header = f"| {'operation':9} | {'key':12} | {'API calls':>9} | {'seq wall s':>10} | {'conc=8 wall s':>13} | {'conc=8 calls':>12} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    with tempfile.TemporaryDirectory() as tmp:
        for operation, key, settings, seed in SCENARIOS:
            calls, seq, rc1 = run_scenario(
                args.records, args.latency_ms, settings, seed, 1, Path(tmp)
            )
            calls8, conc, rc8 = run_scenario(
                args.records, args.latency_ms, settings, seed, 8, Path(tmp)
            )
            flag = "" if rc1 == rc8 == 0 else f"  (exit codes {rc1}/{rc8})"
            print(
                f"| {operation:9} | {key:12} | {calls:>9} | {seq:>10.1f} | {conc:>13.1f} | {calls8:>12} |{flag}",
                flush=True,
            )


if __name__ == "__main__":
    main()
