"""Lock-aware Bulk: Contacts under 1,000 Accounts, with and without grouping by parent.

    .venv/bin/python benchmarks/lock_bench.py [--contacts 100000] [--accounts 1000]
        [--latency-ms 100] [--record-ms 0.05] [--concurrency 4]

Each scenario starts a fresh in-process emulator with its lock model on (``lock_model=True``: a
Bulk job's 10,000-row batches are processed side by side and each 200-row chunk locks the
parents it names), seeds the Accounts directly (not counted as API calls), and pipes the same
shuffled Contact input (each Contact names its Account by external id, parents interleaved)
into the target as a subprocess, ``api: bulk``, upsert by external id.

Scenarios: ``grouped`` (the default: a child object's rows go in jobs of at most 10,000 rows
by parent) and ``input order`` (grouping turned off through the Bulk sink's class attribute
``group_by_parent``, as before lock-aware Bulk: one job cut by bytes). Rows that fail on a row
lock are sent again over REST Collections either way. Printed: rows failed on a lock, rows
sent again over REST, rows failed in the end, Bulk jobs, wall time and API calls (Bulk and
Collections apart) as the emulator counted them.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from target_salesforce_out.emulator import run_emulator

SCENARIOS = {
    "grouped": "",
    "input order": "BulkSink.group_by_parent = False",
}
LAUNCH = (
    "from target_salesforce_out.sinks.bulk import BulkSink\n"
    "{setting}\n"
    "from target_salesforce_out.target import TargetSalesforceOut\n"
    "TargetSalesforceOut.cli()\n"
)


@dataclass
class Result:
    name: str
    jobs: int
    lock_failed: int
    lock_retried: int
    lock_retry_failed: int
    written: int
    failed: int
    seconds: float
    bulk_calls: int
    collections_calls: int
    api_calls: int


def write_input(path: Path, contacts: int, accounts: int, seed: int) -> None:
    """A SCHEMA and ``contacts`` RECORDs in shuffled order (contact i has account i % n)."""
    order = list(range(contacts))
    random.Random(seed).shuffle(order)
    props = {
        "contact_ref": {"type": "string"},
        "last_name": {"type": "string"},
        "account_ref": {"type": "string"},
    }
    with path.open("w", encoding="utf-8") as out:
        head = {"type": "SCHEMA", "stream": "contacts", "key_properties": ["contact_ref"]}
        out.write(json.dumps({**head, "schema": {"type": "object", "properties": props}}) + "\n")
        for i in order:
            rec = {
                "contact_ref": f"C-{i}",
                "last_name": f"Last {i}",
                "account_ref": f"A-{i % accounts}",
            }
            out.write(json.dumps({"type": "RECORD", "stream": "contacts", "record": rec}) + "\n")


def run(name: str, args: argparse.Namespace, input_path: Path, work: Path) -> Result:
    with run_emulator(
        lock_model=True, latency_ms=args.latency_ms, record_ms=args.record_ms, api_limit=10**7
    ) as emulator:
        emulator.org.save(
            "insert",
            "Account",
            [{"Name": f"Acct {i}", "External_Id__c": f"A-{i}"} for i in range(args.accounts)],
        )
        config = {
            "domain": emulator.base_url,
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "refresh_token": "emulator-refresh-token",
            "max_concurrency": args.concurrency,
            "on_record_error": "continue",
            "report_path": str(work / f"{name}-report.json"),
            "dead_letter_path": str(work / f"{name}-dead.jsonl"),
            "streams": {
                "contacts": {
                    "sobject": "Contact",
                    "api": "bulk",
                    "external_id_field": "External_Id__c",
                    "field_mapping": {
                        "contact_ref": "External_Id__c",
                        "last_name": "LastName",
                        "account_ref": "Account.External_Id__c",
                    },
                }
            },
        }
        config_path = work / f"{name}-config.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        code = LAUNCH.format(setting=SCENARIOS[name])
        started = time.monotonic()
        with input_path.open("rb") as stdin:
            proc = subprocess.run(
                [sys.executable, "-c", code, "--config", str(config_path)],
                stdin=stdin,
                capture_output=True,
                check=False,
            )
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            raise SystemExit(f"{name}: the target failed:\n{proc.stderr.decode()[-3000:]}")
        report: dict[str, Any] = json.loads((work / f"{name}-report.json").read_text())
        stats = report["streams"]["contacts"]
        counted = [r for r in emulator.requests if r.get("counted")]
        bulk = sum(1 for r in counted if "/jobs/ingest" in r["path"])
        collections = sum(1 for r in counted if "/composite/sobjects" in r["path"])
        return Result(
            name=name,
            jobs=len(stats["bulk_jobs"]),
            lock_failed=stats["lock_failed"],
            lock_retried=stats["lock_retried"],
            lock_retry_failed=stats["lock_retry_failed"],
            written=stats["created"] + stats["updated"],
            failed=stats["failed"],
            seconds=seconds,
            bulk_calls=bulk,
            collections_calls=collections,
            api_calls=emulator.api_usage,
        )


def table(results: list[Result]) -> str:
    head = [
        "scenario",
        "Bulk jobs",
        "rows failed on lock",
        "sent again over REST",
        "failed in the end",
        "written",
        "wall s",
        "Bulk calls",
        "Collections calls",
        "API calls",
    ]
    rows = [
        [
            r.name,
            r.jobs,
            r.lock_failed,
            r.lock_retried,
            r.lock_retry_failed,
            r.written,
            f"{r.seconds:.1f}",
            r.bulk_calls,
            r.collections_calls,
            r.api_calls,
        ]
        for r in results
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--record-ms", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lock-bench-") as tmp:
        work = Path(tmp)
        input_path = work / "contacts.jsonl"
        write_input(input_path, args.contacts, args.accounts, args.seed)
        results = [run(name, args, input_path, work) for name in SCENARIOS]
    print(
        f"{args.contacts:,} Contacts under {args.accounts:,} Accounts (shuffled), lock model on, "
        f"latency {args.latency_ms:g} ms/call, {args.record_ms:g} ms/row, "
        f"max_concurrency {args.concurrency}"
    )
    print(table(results))


if __name__ == "__main__":
    main()
