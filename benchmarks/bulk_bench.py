"""Bulk API 2.0 benchmark: API calls, wall time, records/s and the target's peak RSS per size.

    .venv/bin/python benchmarks/bulk_bench.py [--sizes 10000,100000,1000000] [--concurrency 4]

Each size starts a fresh in-process emulator, then pipes N Contact upserts (external id,
first/last name, email) through the target's console script with ``api: bulk`` and default
job sizing. The target runs as a subprocess; its peak RSS comes from ``os.wait4`` (that
child's own rusage), and must stay flat as N grows because rows go to disk as they arrive.
API calls are read from the emulator's request log (describe and token calls included).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from target_salesforce_out.emulator import run_emulator

TARGET = Path(sys.executable).with_name("target-salesforce-out")
PROPS = {
    "ref": {"type": "string"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "email": {"type": "string"},
}


def _feed(stdin: IO[bytes], n: int) -> None:
    """Write the SCHEMA, N RECORDs and a STATE, in chunks, then close stdin."""
    head = {
        "type": "SCHEMA",
        "stream": "contacts",
        "schema": {"type": "object", "properties": PROPS},
        "key_properties": ["ref"],
    }
    stdin.write((json.dumps(head) + "\n").encode())
    chunk: list[str] = []
    for i in range(n):
        rec = {
            "ref": f"C-{i}",
            "first_name": f"First{i}",
            "last_name": f"Last, {i}",
            "email": f"c{i}@example.com",
        }
        chunk.append(json.dumps({"type": "RECORD", "stream": "contacts", "record": rec}))
        if len(chunk) == 10_000:
            stdin.write(("\n".join(chunk) + "\n").encode())
            chunk = []
    chunk.append(json.dumps({"type": "STATE", "value": {"done": n}}))
    stdin.write(("\n".join(chunk) + "\n").encode())
    stdin.close()


def run_size(n: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    """Load N records; return the measurements of that run."""
    with run_emulator(api_limit=10_000_000) as emulator:
        config = {
            "domain": emulator.base_url,
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "refresh_token": "emulator-refresh-token",
            "max_concurrency": concurrency,
            "on_record_error": "continue",
            "report_path": str(workdir / "report.json"),
            "streams": {
                "contacts": {
                    "sobject": "Contact",
                    "api": "bulk",
                    "external_id_field": "External_Id__c",
                    "field_mapping": {"ref": "External_Id__c"},
                }
            },
        }
        config_path = workdir / "config.json"
        config_path.write_text(json.dumps(config))
        started = time.perf_counter()
        with (workdir / "stdout").open("wb") as out, (workdir / "stderr").open("wb") as err:
            proc = subprocess.Popen(
                [str(TARGET), "--config", str(config_path)],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
            )
            assert proc.stdin is not None
            feeder = threading.Thread(target=_feed, args=(proc.stdin, n))
            feeder.start()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            feeder.join()
        wall = time.perf_counter() - started
        report = json.loads((workdir / "report.json").read_text())
        stats = report["streams"]["contacts"]
        requests = [r for r in emulator.requests if r["counted"]]
        return {
            "records": n,
            "exit": proc.returncode,
            "written": stats["created"] + stats["updated"],
            "jobs": len(stats["bulk_jobs"]),
            "calls": len(requests),
            "bulk_calls": sum(1 for r in requests if "/jobs/ingest" in r["path"]),
            "wall": wall,
            "rss_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated record counts")
    parser.add_argument("--concurrency", type=int, default=4, help="max_concurrency")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(
        f"Bulk API 2.0 benchmark: Contact upsert by external id, max_concurrency {args.concurrency}\n"
    )
    header = (
        f"| {'records':>9} | {'written':>9} | {'jobs':>4} | {'API calls':>9} | {'of them Bulk':>12} "
        f"| {'wall s':>7} | {'records/s':>9} | {'peak RSS MB':>11} |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            r = run_size(n, args.concurrency, Path(tmp))
            flag = "" if r["exit"] == 0 else f"  (exit code {r['exit']})"
            print(
                f"| {n:>9} | {r['written']:>9} | {r['jobs']:>4} | {r['calls']:>9} | {r['bulk_calls']:>12} "
                f"| {r['wall']:>7.1f} | {n / r['wall']:>9.0f} | {r['rss_mb']:>11.1f} |{flag}",
                flush=True,
            )


if __name__ == "__main__":
    main()
