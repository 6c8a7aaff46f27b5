"""API choice benchmark: API calls and wall time of api auto, rest and bulk per stream size.

    .venv/bin/python benchmarks/api_choice_bench.py [--sizes 100,1000,10000,100000]
                                                    [--latency-ms 50]

Each run starts a fresh in-process emulator with the given latency per call, then pipes N new
Contacts (upsert by external id) through the target's console script with ``api`` set to
``auto`` (default ``bulk_threshold`` 2,000), ``rest`` or ``bulk``. API calls are read from the
emulator's request log (everything it counted: describe and SOQL included), split into sObject
Collections calls, Bulk job calls and the rest (login, describe, lookups).
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
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "email": {"type": "string"},
}
APIS = ("auto", "rest", "bulk")


def _messages(n: int) -> bytes:
    lines = [
        json.dumps(
            {
                "type": "SCHEMA",
                "stream": "contacts",
                "schema": {"type": "object", "properties": PROPS},
                "key_properties": ["ref"],
            }
        )
    ]
    for i in range(n):
        rec = {"ref": f"C-{i}", "first_name": f"F{i}", "last_name": f"L{i}", "email": f"c{i}@x.org"}
        lines.append(json.dumps({"type": "RECORD", "stream": "contacts", "record": rec}))
    return ("\n".join(lines) + "\n").encode()


def run_one(n: int, api: str, latency_ms: float, workdir: Path) -> dict[str, Any]:
    """API calls (by kind), wall seconds and exit code of one load of ``n`` Contacts."""
    with run_emulator(latency_ms=latency_ms, api_limit=100_000_000) as emulator:
        config = {
            "domain": emulator.base_url,
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "refresh_token": "emulator-refresh-token",
            "report_path": str(workdir / "report.json"),
            "streams": {
                "contacts": {
                    "sobject": "Contact",
                    "external_id_field": "External_Id__c",
                    "field_mapping": {"ref": "External_Id__c"},
                    "api": api,
                }
            },
        }
        config_path = workdir / "config.json"
        config_path.write_text(json.dumps(config))
        data = _messages(n)
        started = time.perf_counter()
        proc = subprocess.run(
            [str(TARGET), "--config", str(config_path)],
            input=data,
            capture_output=True,
            check=False,
        )
        wall = time.perf_counter() - started
        counted = [r for r in emulator.requests if r["counted"]]
        report = json.loads((workdir / "report.json").read_text())
        return {
            "calls": len(counted),
            "collections": sum("/composite/sobjects" in r["path"] for r in counted),
            "bulk": sum("/jobs/ingest" in r["path"] for r in counted),
            "wall": wall,
            "rc": proc.returncode,
            "used": report["streams"]["contacts"]["api"],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000,100000")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"API choice benchmark: upsert of new Contacts, {args.latency_ms:g} ms per call\n")
    head = (
        f"| {'records':>7} | {'api':4} | {'used':16} | {'API calls':>9} | {'Collections':>11} | "
        f"{'Bulk':>4} | {'other':>5} | {'wall s':>6} |"
    )
    print(head)
    print("|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            for api in APIS:
                r = run_one(n, api, args.latency_ms, Path(tmp))
                other = r["calls"] - r["collections"] - r["bulk"]
                flag = "" if r["rc"] == 0 else f"  (exit code {r['rc']})"
                print(
                    f"| {n:>7} | {api:4} | {r['used']:16} | {r['calls']:>9} | "
                    f"{r['collections']:>11} | {r['bulk']:>4} | {other:>5} | {r['wall']:>6.1f} |"
                    + flag,
                    flush=True,
                )


if __name__ == "__main__":
    main()
