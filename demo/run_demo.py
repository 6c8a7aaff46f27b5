"""`make demo`: start the emulator, load the bundled sample through the target, show the report.

The target runs as its own process with the sample piped to its stdin, exactly as
`tap-x | target-salesforce-out --config demo/config.json` would run it. The config is
demo/config.json, pointed at this run's emulator (a free port) and with its output files under
out/demo. One record of the sample is built to be rejected, so the run shows a dead letter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from target_salesforce_out.emulator import run_emulator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "out" / "demo"
CONFIG = HERE / "config.json"
SAMPLE = HERE / "sample.singer"
TARGET = Path(sys.executable).with_name("target-salesforce-out")

REJECTED_ON_PURPOSE = (
    "The sample has one record built to be rejected: contact C-2005's loyalty_tier "
    "'Platinum' is not a value of Contact's restricted picklist Loyalty_Tier__c, so the target "
    'rejects it before sending. With "on_record_error": "continue" (in demo/config.json) it '
    "goes to the dead-letter file and the run still succeeds."
)


def config(base_url: str) -> dict[str, object]:
    """demo/config.json, pointed at ``base_url`` and writing its files under out/demo."""
    settings: dict[str, object] = json.loads(CONFIG.read_text(encoding="utf-8"))
    settings["domain"] = base_url
    settings["dead_letter_path"] = str(OUT / "dead_letters.jsonl")
    settings["report_path"] = str(OUT / "report.json")
    return settings


def relative(path: Path) -> str:
    """``path`` as the user typed `make demo` from the checkout would see it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main() -> int:
    """Run the demo; the exit code is the target's."""
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in ("dead_letters.jsonl", "report.json"):
        (OUT / stale).unlink(missing_ok=True)
    with run_emulator(record_ms=1) as emulator:
        print(f"emulator listening on {emulator.base_url}", flush=True)
        config_path = OUT / "config.json"
        config_path.write_text(json.dumps(config(emulator.base_url), indent=2), encoding="utf-8")
        print(f"config: {relative(CONFIG)} (as run: {relative(config_path)})")
        print(f"{REJECTED_ON_PURPOSE}\n", flush=True)
        with SAMPLE.open("rb") as sample:
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
        report_path = OUT / "report.json"
        print(f"\nRun report ({relative(report_path)}):")
        print(report_path.read_text(encoding="utf-8") if report_path.exists() else "(none)")
        dead = OUT / "dead_letters.jsonl"
        if dead.exists():
            print(f"Rejected records ({relative(dead)}), the one above built to fail:")
            for line in dead.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                print(f"  {entry['stream']}: {entry['errorCode']}: {entry['message']}")
        for sobject in ("Account", "Contact", "Invoice__c"):
            print(f"{sobject} records now in the emulator: {len(emulator.records(sobject))}")
    print(
        "\nRun it yourself: `make emulator` in another terminal, then\n"
        f"  .venv/bin/target-salesforce-out --config {relative(CONFIG)} < {relative(SAMPLE)}"
    )
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
