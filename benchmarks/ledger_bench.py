"""The sync ledger's benchmark: unchanged runs, a 1% change, the ledger's CPU, peak RSS.

    .venv/bin/python benchmarks/ledger_bench.py [--records 100000] [--latency-ms 100]
        [--record-ms 0.05] [--concurrency 8] [--api rest] [--rss-sizes 100000,300000,1000000]
        [--rss-api bulk] [--cpu-repeat 2] [--markdown out.md]

Every run is the target as a subprocess (CPU and peak RSS its own, see ``run.measure``)
against an in-process emulator, on the benchmark's Contact input (``workload.py``), upsert by
external id, with ``ledger_path`` set:

1. ``first``: the records into an empty org and an empty ledger;
2. ``same again``: the same input: no write call may be made;
3. ``1% changed``: every 100th record's e-mail changed: only those may be sent;
4. the ledger's CPU cost: a first run with and without the ledger (no latency, best of
   ``--cpu-repeat``), process CPU seconds;
5. peak RSS of a first run with the ledger at each of ``--rss-sizes`` (no latency).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import workload
from run import TARGET, api_counts, machine, measure, table

from target_salesforce_out.emulator import Emulator, run_emulator

WRITE_KINDS = ("collections", "bulk")


def changed_input(directory: Path, n: int, every: int) -> Path:
    """The input with every ``every``-th record's e-mail changed."""
    path = directory / f"{workload.STREAM}-{n}-changed-{every}.jsonl"
    if path.exists():
        return path
    with workload.input_file(directory, n).open() as src, path.open("w") as out:
        for line in src:
            msg = json.loads(line)
            if msg.get("type") == "RECORD":
                i = int(msg["record"]["ref"][2:])
                if i % every == 0:
                    msg["record"]["email"] = f"changed{i}@example.com"
                out.write(json.dumps(msg, separators=(",", ":")) + "\n")
            else:
                out.write(line)
    return path


def one_run(
    emulator: Emulator,
    input_path: Path,
    workdir: Path,
    *,
    api: str,
    concurrency: int,
    ledger: Path | None,
) -> dict[str, Any]:
    """One measured run of the target; its counters, calls, wall, CPU and peak RSS."""
    report = workdir / "report.json"
    report.unlink(missing_ok=True)
    config = workload.target_config(
        emulator.base_url,
        api=api,
        stream={"external_id_field": workload.EXTERNAL_ID},
        concurrency=concurrency,
        report=report,
    )
    if ledger is not None:
        config["ledger_path"] = str(ledger)
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    start = len(emulator.requests)
    code, wall, cpu, rss = measure([str(TARGET), "--config", str(config_path)], input_path, workdir)
    calls, kinds, _ = api_counts(emulator, start)
    stats = json.loads(report.read_text())["streams"][workload.STREAM]
    return {
        "exit": code,
        "wall": wall,
        "cpu": cpu,
        "rss": rss,
        "calls": calls,
        "writes": sum(kinds[k] for k in WRITE_KINDS),
        "stats": stats,
    }


def main() -> None:
    """Run every measurement and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--record-ms", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--api", default="rest", choices=["rest", "bulk"])
    parser.add_argument("--rss-sizes", default="100000,300000,1000000")
    parser.add_argument("--rss-api", default="bulk", choices=["rest", "bulk"])
    parser.add_argument("--cpu-repeat", type=int, default=2)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    out: list[str] = []

    def emit(text: str = "") -> None:
        print(text, flush=True)
        out.append(text)

    n = args.records
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        work = Path(tmp)
        ledger = work / "ledger.db"
        emit(f"machine: {machine()}")
        emit(
            f"\n### Runs of {n:,} records, {args.api} upsert, latency {args.latency_ms:g} ms, "
            f"{args.record_ms:g} ms per record, max_concurrency {args.concurrency}\n"
        )
        runs: list[tuple[str, dict[str, Any]]] = []
        with run_emulator(
            latency_ms=args.latency_ms, record_ms=args.record_ms, api_limit=10**9
        ) as emulator:
            inputs = [
                ("first (empty ledger)", workload.input_file(work, n)),
                ("same input again", workload.input_file(work, n)),
                ("1% changed", changed_input(work, n, 100)),
            ]
            for name, path in inputs:
                runs.append(
                    (
                        name,
                        one_run(
                            emulator,
                            path,
                            work,
                            api=args.api,
                            concurrency=args.concurrency,
                            ledger=ledger,
                        ),
                    )
                )
        head = ["run", "wall s", "CPU s", "API calls", "write calls", "sent", "written"]
        head += ["unchanged", "exit"]
        rows = []
        for name, r in runs:
            s = r["stats"]
            rows.append(
                [
                    name,
                    f"{r['wall']:.1f}",
                    f"{r['cpu']:.1f}",
                    str(r["calls"]),
                    str(r["writes"]),
                    f"{s['sent']:,}",
                    f"{s['created'] + s['updated']:,}",
                    f"{s['unchanged']:,}",
                    str(r["exit"]),
                ]
            )
        emit(table(head, rows))
        first, same = runs[0][1], runs[1][1]
        emit(
            f"\nsame input again: {same['writes']} write calls; wall {same['wall']:.2f} s = "
            f"1/{first['wall'] / same['wall']:.1f} of the first run's {first['wall']:.1f} s"
        )

        emit(
            f"\n### The ledger's CPU on a first run ({n:,} records, no latency, best of "
            f"{args.cpu_repeat})\n"
        )
        # The two kinds of run alternate, so that a change in the shared machine's load
        # weighs on both alike.
        cpu: dict[str, float] = {"without ledger": float("inf"), "with ledger": float("inf")}
        for attempt in range(args.cpu_repeat):
            for label, use in (("without ledger", False), ("with ledger", True)):
                path = work / f"cpu-{label.replace(' ', '-')}-{attempt}.db"
                with run_emulator(latency_ms=0, record_ms=0, api_limit=10**9) as emulator:
                    r = one_run(
                        emulator,
                        workload.input_file(work, n),
                        work,
                        api=args.api,
                        concurrency=args.concurrency,
                        ledger=path if use else None,
                    )
                cpu[label] = min(cpu[label], r["cpu"])
        extra = cpu["with ledger"] - cpu["without ledger"]
        emit(
            table(
                ["run", "CPU s"],
                [[k, f"{v:.2f}"] for k, v in cpu.items()]
                + [["ledger's share", f"{100 * extra / cpu['with ledger']:.1f}%"]],
            )
        )

        sizes = [int(s) for s in args.rss_sizes.split(",") if s]
        emit(f"\n### Peak RSS with the ledger ({args.rss_api} upsert, first run, no latency)\n")
        rows = []
        for size in sizes:
            with run_emulator(latency_ms=0, record_ms=0, api_limit=10**9) as emulator:
                r = one_run(
                    emulator,
                    workload.input_file(work, size),
                    work,
                    api=args.rss_api,
                    concurrency=args.concurrency,
                    ledger=work / f"rss-{size}.db",
                )
            rows.append(
                [
                    f"{size:,}",
                    f"{r['rss']:.0f}",
                    f"{r['wall']:.1f}",
                    f"{r['cpu']:.1f}",
                    f"{r['stats']['created']:,}",
                ]
            )
            (work / f"rss-{size}.db").unlink(missing_ok=True)
        emit(table(["records", "peak RSS MB", "wall s", "CPU s", "created"], rows))
    if args.markdown:
        args.markdown.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
