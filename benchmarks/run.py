"""Benchmark suite: API calls, wall time, records/s, CPU and peak RSS per scenario and size.

    .venv/bin/python benchmarks/run.py [--sizes 10000,100000] [--big 1000000]
        [--big-scenarios bulk-upsert,rest-upsert] [--latency-ms 100] [--record-ms 0.05]
        [--concurrency 8] [--cpu-size 100000] [--cpu-repeat 3] [--skip-naive]
        [--markdown benchmarks/results.md]

Every scenario starts a fresh in-process emulator (``latency_ms`` per call, ``record_ms`` per
record of a Collections call or Bulk row) and pipes the same Contact input file (see
``workload.py``) into the target, which runs as a subprocess. CPU seconds and peak RSS are that
subprocess's own (``os.wait4``); the emulator runs in this process and is not counted. API
calls are the requests the emulator counted against the org's daily allocation (every data
API call: describes, queries, writes, Bulk job calls); the OAuth token call is not counted by
Salesforce and is shown apart.

Scenarios: ``rest-upsert`` (upsert by external id), ``rest-match`` (upsert with
``match_fields``; half the records already exist), ``rest-insert``, ``bulk-upsert``, and as
references the ``naive`` client (lookup query + one write per record, on the smallest size)
and the CPU comparison (a no-op singer-sdk target with default settings vs our Bulk path with
zero latency, best of ``--cpu-repeat`` runs each).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).parent))
import workload

from target_salesforce_out.emulator import Emulator, run_emulator

HERE = Path(__file__).parent
TARGET = Path(sys.executable).with_name("target-salesforce-out")

SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "rest-upsert": ("rest", {"external_id_field": workload.EXTERNAL_ID}),
    # External_Id__c as a plain match field: the emulator indexes it, so lookups stay cheap
    # on its side; the target issues the same queries as for any other match field.
    "rest-match": ("rest", {"match_fields": [workload.EXTERNAL_ID]}),
    "rest-insert": ("rest", {"operation": "insert"}),
    "bulk-upsert": ("bulk", {"external_id_field": workload.EXTERNAL_ID}),
}
TITLES = {
    "rest-upsert": "REST upsert by external id",
    "rest-match": "REST matcher upsert (match_fields; half the records exist)",
    "rest-insert": "REST insert",
    "bulk-upsert": "Bulk API 2.0 upsert by external id",
    "naive": "Naive client: lookup query + one write per record (reference)",
}


@dataclass
class Run:
    """One measured run."""

    scenario: str
    records: int
    exit: int
    wall: float
    cpu: float
    rss_mb: float
    calls: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    tokens: int = 0
    written: int = 0
    failed: int = 0
    # Bulk: the emulator's processing time of the run's jobs (their totalProcessingTime).
    server_s: float = 0.0

    @property
    def per_second(self) -> float:
        """Records per wall-clock second."""
        return self.records / self.wall

    @property
    def per_cpu_second(self) -> float:
        """Records per CPU second of the measured process."""
        return self.records / self.cpu


def measure(cmd: list[str], input_path: Path, workdir: Path) -> tuple[int, float, float, float]:
    """Run Python script ``cmd`` with ``input_path`` on stdin: exit, wall s, CPU s, peak RSS MB.

    CPU is the child's own user + system time (``os.wait4``, all its threads). Peak RSS is its
    own ``VmHWM``, written by ``measured.py`` at exit (see there why not ``ru_maxrss``).
    """
    peak_file = workdir / "peak-rss-kb"
    peak_file.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_PEAK_RSS_FILE": str(peak_file)}
    started = time.perf_counter()
    with (
        input_path.open("rb") as stdin,
        (workdir / "stdout").open("wb") as out,
        (workdir / "stderr").open("wb") as err,
    ):
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "measured.py"), *cmd],
            stdin=stdin,
            stdout=out,
            stderr=err,
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_mb = int(peak_file.read_text()) / 1024 if peak_file.exists() else float("nan")
    return proc.returncode, wall, usage.ru_utime + usage.ru_stime, rss_mb


def kind_of(entry: dict[str, Any]) -> str:
    """What an emulator request log entry was."""
    path = entry["path"]
    if "/jobs/ingest" in path:
        return "bulk"
    if "/composite/sobjects" in path:
        return "collections"
    if "/query" in path:
        return "query"
    if path.endswith("/describe") or path.rstrip("/").endswith("/sobjects"):
        return "describe"
    if "/sobjects/" in path:
        return "sobject"
    return "other"


def api_counts(emulator: Emulator, start: int) -> tuple[int, Counter[str], int]:
    """(counted calls, counted calls by kind, token calls) since log entry ``start``."""
    entries = emulator.requests[start:]
    counted = [e for e in entries if e["counted"]]
    tokens = sum(1 for e in entries if e["path"].startswith("/services/oauth2/token"))
    return len(counted), Counter(kind_of(e) for e in counted), tokens


def seed_half(emulator: Emulator, n: int) -> None:
    """Create every other input record (by external id) so a matcher upsert updates half."""
    batch: list[dict[str, Any]] = []
    for i in range(0, n, 2):
        batch.append({"LastName": f"Seed {i}", workload.EXTERNAL_ID: f"C-{i:07d}"})
        if len(batch) == 200:
            emulator.org.save("insert", workload.SOBJECT, batch)
            batch = []
    if batch:
        emulator.org.save("insert", workload.SOBJECT, batch)


def run_target(
    scenario: str,
    n: int,
    data: Path,
    workdir: Path,
    *,
    latency_ms: float,
    record_ms: float,
    concurrency: int,
) -> Run:
    """Our target on ``n`` records in one scenario."""
    api, stream = SCENARIOS[scenario]
    with run_emulator(latency_ms=latency_ms, record_ms=record_ms, api_limit=10**9) as emulator:
        if scenario == "rest-match":
            seed_half(emulator, n)
        report = workdir / "report.json"
        config = workload.target_config(
            emulator.base_url, api=api, stream=stream, concurrency=concurrency, report=report
        )
        config_path = workdir / "config.json"
        config_path.write_text(json.dumps(config))
        start = len(emulator.requests)
        code, wall, cpu, rss = measure(
            [str(TARGET), "--config", str(config_path)], workload.input_file(data, n), workdir
        )
        calls, kinds, tokens = api_counts(emulator, start)
        stats = json.loads(report.read_text())["streams"].get(workload.STREAM, {})
        server_s = sum(job_processing_seconds(emulator, job["id"]) for job in stats["bulk_jobs"])
    written = sum(int(stats.get(k, 0)) for k in ("created", "updated", "deleted"))
    return Run(
        scenario,
        n,
        code,
        wall,
        cpu,
        rss,
        calls,
        kinds,
        tokens,
        written,
        stats.get("failed", 0),
        server_s,
    )


def job_processing_seconds(emulator: Emulator, job_id: str) -> float:
    """A Bulk job's ``totalProcessingTime`` (read after the run; not counted above)."""
    response = requests.get(
        f"{emulator.base_url}/services/data/v62.0/jobs/ingest/{job_id}",
        headers={"Authorization": f"Bearer {emulator.access_token()}"},
        timeout=30,
    )
    response.raise_for_status()
    return float(response.json().get("totalProcessingTime") or 0) / 1000


def run_naive(
    n: int, data: Path, workdir: Path, *, latency_ms: float, record_ms: float, concurrency: int
) -> Run:
    """The naive client on ``n`` records."""
    with run_emulator(latency_ms=latency_ms, record_ms=record_ms, api_limit=10**9) as emulator:
        start = len(emulator.requests)
        cmd = [
            str(HERE / "naive_client.py"),
            "--base-url",
            emulator.base_url,
            "--input",
            str(workload.input_file(data, n)),
            "--concurrency",
            str(concurrency),
        ]
        code, wall, cpu, rss = measure(cmd, workload.input_file(data, n), workdir)
        calls, kinds, tokens = api_counts(emulator, start)
        written = len(emulator.records(workload.SOBJECT))
    failed = json.loads((workdir / "stdout").read_text() or "{}").get("failures", -1)
    return Run("naive", n, code, wall, cpu, rss, calls, kinds, tokens, written, failed)


def run_noop(n: int, data: Path, workdir: Path) -> Run:
    """The no-op singer-sdk target on ``n`` records."""
    config_path = workdir / "noop.json"
    config_path.write_text("{}")
    cmd = [str(HERE / "noop_target.py"), "--config", str(config_path)]
    code, wall, cpu, rss = measure(cmd, workload.input_file(data, n), workdir)
    return Run("noop", n, code, wall, cpu, rss, written=n)


def best(runs: list[Run]) -> Run:
    """The run with the least CPU time (the one least disturbed by other load)."""
    return min(runs, key=lambda r: r.cpu)


# -- output ------------------------------------------------------------------------------


def table(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, columns padded."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += [
        "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join(lines)


def kinds_text(run: Run) -> str:
    """``collections 50, describe 2, ...`` for a run's counted calls."""
    return ", ".join(f"{k} {v}" for k, v in sorted(run.kinds.items(), key=lambda kv: -kv[1]))


def scenario_table(runs: list[Run]) -> str:
    """One table for one scenario, a row per size."""
    head = [
        "records",
        "API calls",
        "of which",
        "token",
        "wall s",
        "records/s",
        "CPU s",
        "peak RSS MB",
        "written",
        "failed",
        "exit",
    ]
    rows = [
        [
            f"{r.records:,}",
            f"{r.calls:,}",
            kinds_text(r),
            str(r.tokens),
            f"{r.wall:.1f}",
            f"{r.per_second:,.0f}",
            f"{r.cpu:.1f}",
            f"{r.rss_mb:.0f}",
            f"{r.written:,}",
            str(r.failed),
            str(r.exit),
        ]
        for r in runs
    ]
    return table(head, rows)


def cpu_table(noop: Run, ours: Run) -> str:
    """The CPU comparison."""
    head = [
        "target",
        "records",
        "wall s",
        "of it, Bulk job processing in the emulator",
        "CPU s",
        "records per CPU s",
        "peak RSS MB",
        "exit",
    ]
    rows = [
        [
            name,
            f"{r.records:,}",
            f"{r.wall:.2f}",
            f"{r.server_s:.2f}",
            f"{r.cpu:.2f}",
            f"{r.per_cpu_second:,.0f}",
            f"{r.rss_mb:.0f}",
            str(r.exit),
        ]
        for name, r in (
            ("no-op singer-sdk target (defaults)", noop),
            ("target-salesforce-out, Bulk, 0 ms", ours),
        )
    ]
    return table(head, rows)


def machine() -> str:
    """nproc, CPU model, RAM and Python version."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem_kb / 1024 / 1024:.1f} GiB RAM, "
        f"Python {platform.python_version()} on {platform.system()} {platform.release()}"
    )


def ratios(results: dict[str, list[Run]], cpu: tuple[Run, Run] | None) -> list[str]:
    """The ratios the issue asks for, as plain sentences."""
    out: list[str] = []
    if cpu is not None:
        noop, ours = cpu
        out.append(
            f"CPU: our Bulk path processes {ours.per_cpu_second:,.0f} records per CPU second, "
            f"the no-op singer-sdk target {noop.per_cpu_second:,.0f}: "
            f"{ours.per_cpu_second / noop.per_cpu_second:.2f}x "
            f"(wall: {ours.wall:.2f} s vs {noop.wall:.2f} s; without the "
            f"{ours.server_s:.2f} s the emulator spent processing the Bulk job, "
            f"{ours.wall - ours.server_s:.2f} s: "
            f"{noop.wall / (ours.wall - ours.server_s):.2f}x the no-op's records/s)."
        )
    naive = results.get("naive", [])
    for scenario in ("rest-upsert", "bulk-upsert"):
        for ref in naive:
            ours_runs = [r for r in results.get(scenario, []) if r.records == ref.records]
            if ours_runs:
                r = ours_runs[0]
                out.append(
                    f"{scenario} vs naive client at {ref.records:,} records: API calls "
                    f"{r.calls:,} / {ref.calls:,} = {r.calls / ref.calls:.4f} "
                    f"({ref.calls / r.calls:,.0f}x fewer); wall {r.wall:.1f} s / "
                    f"{ref.wall:.1f} s = {r.wall / ref.wall:.3f} "
                    f"({ref.wall / r.wall:,.0f}x faster)."
                )
    for scenario in ("rest-upsert", "rest-match", "rest-insert", "bulk-upsert"):
        by_size = {r.records: r for r in results.get(scenario, [])}
        if 100_000 in by_size and 1_000_000 in by_size:
            small, big = by_size[100_000], by_size[1_000_000]
            out.append(
                f"{scenario}: peak RSS at 1M {big.rss_mb:.0f} MB / at 100k {small.rss_mb:.0f} "
                f"MB = {big.rss_mb / small.rss_mb:.2f}."
            )
    for r in results.get("rest-upsert", []):
        expected = math.ceil(r.records / 200)
        out.append(
            f"rest-upsert {r.records:,}: {r.kinds.get('collections', 0):,} Collections calls "
            f"for ceil(N/200) = {expected:,}; plus {r.calls - r.kinds.get('collections', 0)} "
            f"other counted calls ({kinds_text(r)}) and {r.tokens} token call(s)."
        )
    for r in results.get("rest-match", []):
        per_200 = r.calls / (r.records / 200)
        out.append(f"rest-match {r.records:,}: {per_200:.2f} counted calls per 200 records.")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="sizes for every scenario")
    parser.add_argument("--big", type=int, default=0, help="also run this size (e.g. 1000000)")
    parser.add_argument(
        "--big-scenarios", default="bulk-upsert,rest-upsert", help="scenarios run at --big"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="scenarios to run")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--record-ms", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=8, help="max_concurrency")
    parser.add_argument("--cpu-size", type=int, default=100_000, help="0 skips the CPU test")
    parser.add_argument("--cpu-repeat", type=int, default=3)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "sfo-bench")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.data_dir.mkdir(parents=True, exist_ok=True)
    out: list[str] = []

    def emit(text: str = "") -> None:
        print(text, flush=True)
        out.append(text)

    emit(f"Machine: {machine()}")
    emit(
        f"Emulator: {args.latency_ms:g} ms per call, {args.record_ms:g} ms per record; "
        f"max_concurrency {args.concurrency}"
    )
    results: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for scenario in [s for s in args.scenarios.split(",") if s]:
            runs_sizes = sizes + (
                [args.big] if args.big and scenario in args.big_scenarios.split(",") else []
            )
            for n in runs_sizes:
                run = run_target(
                    scenario,
                    n,
                    args.data_dir,
                    workdir,
                    latency_ms=args.latency_ms,
                    record_ms=args.record_ms,
                    concurrency=args.concurrency,
                )
                results.setdefault(scenario, []).append(run)
                print(f"  {scenario} {n:,}: {run.wall:.1f} s, exit {run.exit}", flush=True)
            emit(f"\n### {TITLES[scenario]}\n")
            emit(scenario_table(results[scenario]))
        if not args.skip_naive:
            n = min(sizes)
            results["naive"] = [
                run_naive(
                    n,
                    args.data_dir,
                    workdir,
                    latency_ms=args.latency_ms,
                    record_ms=args.record_ms,
                    concurrency=args.concurrency,
                )
            ]
            emit(f"\n### {TITLES['naive']}\n")
            emit(scenario_table(results["naive"]))
        cpu: tuple[Run, Run] | None = None
        if args.cpu_size:
            noop_runs: list[Run] = []
            our_runs: list[Run] = []
            measure_our: Callable[[], Run] = lambda: run_target(  # noqa: E731
                "bulk-upsert",
                args.cpu_size,
                args.data_dir,
                workdir,
                latency_ms=0,
                record_ms=0,
                concurrency=args.concurrency,
            )
            for _ in range(args.cpu_repeat):
                noop_runs.append(run_noop(args.cpu_size, args.data_dir, workdir))
                our_runs.append(measure_our())
            cpu = (best(noop_runs), best(our_runs))
            emit(
                f"\n### CPU: no-op singer-sdk target vs our Bulk path at 0 ms latency "
                f"(best of {args.cpu_repeat})\n"
            )
            emit(cpu_table(*cpu))
    emit("\n### Ratios\n")
    for line in ratios(results, cpu):
        emit(f"- {line}")
    if args.markdown is not None:
        args.markdown.write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
