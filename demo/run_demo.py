"""`make demo`: start the emulator, load the bundled sample through the target, show the report.

The target runs as its own process with the sample piped to its stdin, exactly as
`tap-x | target-salesforce-out --config config.json` would run it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from target_salesforce_out.emulator import run_emulator

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "out" / "demo"
TARGET = Path(sys.executable).with_name("target-salesforce-out")


def config(base_url: str) -> dict[str, object]:
    """Demo credentials of the emulator (refresh token flow) and the sample's streams."""
    return {
        "domain": base_url,
        "client_id": "emulator-client",
        "client_secret": "emulator-secret",
        "refresh_token": "emulator-refresh-token",
        "on_record_error": "continue",
        "dead_letter_path": str(OUT / "dead_letters.jsonl"),
        "report_path": str(OUT / "report.json"),
        "streams": {
            "accounts": {
                "sobject": "Account",
                "external_id_field": "External_Id__c",
                "field_mapping": {"account_ref": "External_Id__c"},
            },
            "contacts": {
                "sobject": "Contact",
                "external_id_field": "External_Id__c",
                "field_mapping": {
                    "contact_ref": "External_Id__c",
                    "account_ref": "Account.External_Id__c",
                },
            },
            "invoices": {
                "sobject": "Invoice__c",
                "api": "bulk",
                "external_id_field": "Invoice_Number__c",
                "field_mapping": {
                    "number": "Invoice_Number__c",
                    "account_ref": "Account__r.External_Id__c",
                },
            },
        },
    }


def main() -> int:
    """Run the demo; the exit code is the target's."""
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in ("dead_letters.jsonl", "report.json"):
        (OUT / stale).unlink(missing_ok=True)
    with run_emulator(record_ms=1) as emulator:
        print(f"emulator listening on {emulator.base_url}", flush=True)
        config_path = OUT / "config.json"
        config_path.write_text(json.dumps(config(emulator.base_url), indent=2), encoding="utf-8")
        with (HERE / "sample.singer").open("rb") as sample:
            run = subprocess.run(  # noqa: S603 - our own console script
                [str(TARGET), "--config", str(config_path)],
                stdin=sample,
                capture_output=True,
                check=False,
            )
        state_lines = run.stdout.decode().splitlines()
        summary = run.stderr.decode().splitlines()
        table_start = next(
            (i for i, line in enumerate(summary) if line.startswith("stream ")), len(summary)
        )
        print("\n".join(summary[table_start:]))
        print(f"\nSTATE emitted by the target: {state_lines[-1] if state_lines else '(none)'}")
        print(f"\nRun report ({OUT / 'report.json'}):")
        print((OUT / "report.json").read_text(encoding="utf-8"))
        dead = OUT / "dead_letters.jsonl"
        if dead.exists():
            print(f"Rejected records ({dead}):")
            for line in dead.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                print(f"  {entry['stream']}: {entry['errorCode']}: {entry['message']}")
        for sobject in ("Account", "Contact", "Invoice__c"):
            print(f"{sobject} records now in the emulator: {len(emulator.records(sobject))}")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
