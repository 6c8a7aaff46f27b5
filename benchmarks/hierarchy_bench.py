"""Benchmark: a 3-level self-referencing Account hierarchy, sent children first.

    .venv/bin/python benchmarks/hierarchy_bench.py [--records 10000] [--latency-ms 100]
        [--record-ms 0.05] [--concurrency 4] [--apis rest,bulk] [--orders children-first]

``--records`` Accounts: 1% roots, 9% middles (each under a root), 90% leaves (each under a
middle), every record naming its parent by ``Parent.External_Id__c``. ``children-first`` sends
the leaves, then the middles, then the roots (the worst order: no parent is known when its
children arrive); ``parents-first`` is the natural order, for reference. Each run starts a
fresh in-process emulator (``latency_ms`` per call, ``record_ms`` per record) and pipes the
input into the target as a subprocess. Printed per run: wall time, API calls the emulator
counted (by kind), records per level as the report's plan gives them, records landed and how
many of them have the right parent.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from target_salesforce_out.emulator import run_emulator

TARGET = Path(sys.executable).with_name("target-salesforce-out")
STREAM = "accounts"


def hierarchy(n: int) -> list[tuple[str, str | None]]:
    """(key, parent key) for ``n`` records: roots, middles, leaves in that order."""
    roots = max(1, n // 100)
    middles = 9 * roots
    leaves = n - roots - middles
    rows: list[tuple[str, str | None]] = [(f"R-{i:05d}", None) for i in range(roots)]
    rows += [(f"M-{i:05d}", f"R-{i % roots:05d}") for i in range(middles)]
    rows += [(f"L-{i:06d}", f"M-{i % middles:05d}") for i in range(leaves)]
    return rows


def input_text(rows: list[tuple[str, str | None]], order: str) -> str:
    ordered = list(reversed(rows)) if order == "children-first" else rows
    props = {
        "ref": {"type": "string"},
        "name": {"type": "string"},
        "parent": {"type": ["string", "null"]},
    }
    lines = [
        {
            "type": "SCHEMA",
            "stream": STREAM,
            "schema": {"type": "object", "properties": props},
            "key_properties": ["ref"],
        }
    ]
    lines += [
        {
            "type": "RECORD",
            "stream": STREAM,
            "record": {"ref": k, "name": f"Account {k}", "parent": p},
        }
        for k, p in ordered
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


def kind_of(path: str) -> str:
    if "/jobs/ingest" in path:
        return "bulk"
    if "/composite/sobjects" in path:
        return "collections"
    if "/query" in path:
        return "query"
    return "other"


def run(
    api: str, order: str, rows: list[tuple[str, str | None]], args: argparse.Namespace
) -> dict[str, Any]:
    with (
        run_emulator(
            latency_ms=args.latency_ms, record_ms=args.record_ms, api_limit=10**9
        ) as emulator,
        tempfile.TemporaryDirectory() as tmp,
    ):
        report_path = Path(tmp) / "report.json"
        config = {
            "domain": emulator.base_url,
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "refresh_token": "emulator-refresh-token",
            "report_path": str(report_path),
            "dead_letter_path": str(Path(tmp) / "dead.jsonl"),
            "max_concurrency": args.concurrency,
            "on_record_error": "continue",
            "streams": {
                STREAM: {
                    "sobject": "Account",
                    "api": api,
                    "external_id_field": "External_Id__c",
                    "field_mapping": {
                        "ref": "External_Id__c",
                        "name": "Name",
                        "parent": "Parent.External_Id__c",
                    },
                }
            },
        }
        config_path = Path(tmp) / "config.json"
        config_path.write_text(json.dumps(config))
        start = len(emulator.requests)
        began = time.perf_counter()
        proc = subprocess.run(
            [str(TARGET), "--config", str(config_path)],
            input=input_text(rows, order).encode(),
            capture_output=True,
            check=False,
        )
        wall = time.perf_counter() - began
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr.decode()[-3000:])
        counted = [e for e in emulator.requests[start:] if e["counted"]]
        kinds = Counter(kind_of(e["path"]) for e in counted)
        stored = emulator.records("Account")
        report = json.loads(report_path.read_text())
    key_by_id = {r["Id"]: r["External_Id__c"] for r in stored}
    expected = dict(rows)
    right = sum(
        1 for r in stored if expected.get(r["External_Id__c"], "?") == key_by_id.get(r["ParentId"])
    )
    step: dict[str, Any] = next((s for s in report["plan"] if s["stream"] == STREAM), {})
    stats = report["streams"][STREAM]
    return {
        "api": api,
        "order": order,
        "code": proc.returncode,
        "wall": wall,
        "calls": len(counted),
        "kinds": kinds,
        "levels": step.get("levels", []),
        "held": step.get("held", 0),
        "direct": stats["created"] + stats["updated"] - sum(step.get("levels", [])),
        "landed": len(stored),
        "right": right,
        "failed": stats["failed"],
        "jobs": len(stats["bulk_jobs"]),
    }


def table(results: list[dict[str, Any]]) -> str:
    head = [
        "api",
        "input order",
        "wall s",
        "API calls",
        "by kind",
        "written at once",
        "held, then per level",
        "Bulk jobs",
        "landed",
        "right parent",
        "failed",
    ]
    rows = [
        [
            r["api"],
            r["order"],
            f"{r['wall']:.1f}",
            str(r["calls"]),
            ", ".join(f"{k} {n}" for k, n in sorted(r["kinds"].items())),
            f"{r['direct']:,}",
            f"{r['held']:,}: " + " + ".join(f"{n:,}" for n in r["levels"]) if r["levels"] else "0",
            str(r["jobs"]),
            f"{r['landed']:,}",
            f"{r['right']:,}",
            str(r["failed"]),
        ]
        for r in results
    ]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--record-ms", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--apis", default="rest,bulk")
    parser.add_argument("--orders", default="children-first,parents-first")
    args = parser.parse_args()
    rows = hierarchy(args.records)
    results = [
        run(api, order, rows, args)
        for api in args.apis.split(",")
        for order in args.orders.split(",")
    ]
    print(
        f"{args.records:,} Accounts in 3 levels; emulator {args.latency_ms:g} ms per call, "
        f"{args.record_ms:g} ms per record; max_concurrency {args.concurrency}"
    )
    print(table(results))


if __name__ == "__main__":
    main()
