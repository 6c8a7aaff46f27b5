"""Real Postgres taps from PyPI, reading a throwaway PostgreSQL, piped into the target.

One table holds awkward values: NUMERIC(18,2) and NUMERIC with no scale, timestamptz written in
a half-hour zone (America/St_Johns, -03:30 and -02:30), date, boolean, json and jsonb, text[],
NULLs, unicode text and a text primary key. Each tap's output goes into the target's console
script (loading the emulator's ``Ledger_Entry__c``, upsert by ``Source_Id__c``), and every value
that landed is compared with the row it came from.

- ``meltanolabs-tap-postgres`` (singer-sdk): once sending RECORD messages, once with
  ``batch_config`` sending BATCH messages (gzipped JSON Lines files).
- ``pipelinewise-tap-postgres``: JSON Schema draft 4 (boolean ``exclusiveMaximum``), ``$ref``
  definitions, ACTIVATE_VERSION around the table.

Each tap runs from its own venv (``make`` builds them; built here when missing).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from helpers import base_config, run_target
from pg_cluster import Postgres, tap_executable, throwaway_cluster

HERE = Path(__file__).resolve().parent
METADATA = HERE / "ledger_metadata.json"
DATABASE = "ledger_src"
STREAM = "public-ledger"
ZONE = ZoneInfo("America/St_Johns")

AMOUNTS = ["9999999999999.99", "-0.01", "0.00", "1234.50", "-123456789.99", "42.10"]
RATIOS = ["3.14159265", "12345.6789", "1000", "0.000001", "-2.5", "100000000.5"]
TITLES = ['Crème brûlée ✓ 日本 "quoted", comma', "", "emoji 🎉 and tab\tinside", "plain"]
TAGS: list[list[str]] = [[], ["red"], ["red", "blue", "grün"], ["grün"]]


@dataclass(frozen=True)
class Row:
    """One source row; ``None`` is SQL NULL."""

    id: str
    amount: Decimal | None
    ratio: Decimal | None
    paid_at: datetime | None  # wall time in America/St_Johns, as written by the session
    due_on: date | None
    active: bool | None
    details: str | None  # json keeps its text
    attrs: dict[str, Any] | None  # jsonb
    tags: list[str] | None
    title: str | None


def source_rows() -> list[Row]:
    rows = []
    for i in range(1, 31):
        key = f"LE-{i:03d}" if i % 4 else f"ü-{i:03d}/Ab"
        if i % 10 == 0:
            rows.append(Row(key, None, None, None, None, None, None, None, None, None))
            continue
        rows.append(
            Row(
                id=key,
                amount=Decimal(AMOUNTS[i % len(AMOUNTS)]),
                ratio=Decimal(RATIOS[i % len(RATIOS)]),
                # Months 1-12: both -03:30 (winter) and -02:30 (summer) offsets occur.
                paid_at=datetime(2024, i % 12 + 1, i % 28 + 1, i % 24, i * 7 % 60, i * 13 % 60)
                + timedelta(milliseconds=i * 7 % 1000),
                due_on=date(2024, 2, 29) + timedelta(days=i * 37),
                active=i % 2 == 0,
                details=f'{{"b": {i}, "a": [1.5, "x"], "n": null}}',
                attrs={"k": {"n": i, "half": 0.5}, "ü": "✓"},
                tags=TAGS[i % len(TAGS)],
                title=TITLES[i % len(TITLES)],
            )
        )
    return rows


def _sql(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return "ARRAY[" + ",".join(_sql(v) for v in value) + "]::text[]"
    if isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False)
    text = str(value).replace("'", "''")
    return f"'{text}'"


def seed_sql(rows: list[Row]) -> str:
    values = ",\n".join(
        "("
        + ", ".join(
            _sql(v)
            for v in (
                r.id,
                r.amount,
                r.ratio,
                r.paid_at.isoformat(sep=" ") if r.paid_at else None,
                r.due_on.isoformat() if r.due_on else None,
                r.active,
                r.details,
                r.attrs,
                r.tags,
                r.title,
            )
        )
        + ")"
        for r in rows
    )
    return f"""
        -- Timestamps without an offset are read in the session's zone: -03:30 / -02:30.
        SET TIME ZONE 'America/St_Johns';
        CREATE TABLE ledger (
            id text PRIMARY KEY,
            amount numeric(18, 2),
            ratio numeric,
            paid_at timestamptz,
            due_on date,
            active boolean,
            details json,
            attrs jsonb,
            tags text[],
            title text
        );
        INSERT INTO ledger VALUES
        {values};
    """


FIELDS = {
    "id": "Source_Id__c",
    "amount": "Amount__c",
    "ratio": "Ratio__c",
    "paid_at": "Paid_At__c",
    "due_on": "Due_On__c",
    "active": "Active__c",
    "details": "Details__c",
    "attrs": "Attrs__c",
    "tags": "Tags__c",
    "title": "Title__c",
}


def expected(row: Row) -> dict[str, Any]:
    """What Salesforce holds for ``row``: UTC datetimes, unchecked null checkboxes, no ''."""
    paid = row.paid_at.replace(tzinfo=ZONE).astimezone(UTC) if row.paid_at else None
    return {
        "Source_Id__c": row.id,
        "Amount__c": row.amount,
        "Ratio__c": row.ratio,
        "Paid_At__c": paid,
        "Due_On__c": row.due_on.isoformat() if row.due_on else None,
        "Active__c": bool(row.active),
        "Details__c": json.loads(row.details) if row.details else None,
        "Attrs__c": row.attrs,
        "Tags__c": ";".join(row.tags) if row.tags else None,
        "Title__c": row.title or None,
    }


def landed(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored record in the shape of :func:`expected`: exact numbers, parsed JSON and time."""

    def number(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    def text_json(value: Any) -> Any:
        return None if value is None else json.loads(value, parse_float=Decimal)

    paid = stored.get("Paid_At__c")
    return {
        "Source_Id__c": stored["Source_Id__c"],
        "Amount__c": number(stored.get("Amount__c")),
        "Ratio__c": number(stored.get("Ratio__c")),
        "Paid_At__c": datetime.strptime(paid, "%Y-%m-%dT%H:%M:%S.%f%z") if paid else None,
        "Due_On__c": stored.get("Due_On__c"),
        "Active__c": stored.get("Active__c"),
        "Details__c": text_json(stored.get("Details__c")),
        "Attrs__c": text_json(stored.get("Attrs__c")),
        "Tags__c": stored.get("Tags__c"),
        "Title__c": stored.get("Title__c"),
    }


def _decimals(value: Any) -> Any:
    """JSON values with floats as Decimal, to compare with what came back exactly."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def assert_every_value_landed(emulator, rows: list[Row]) -> None:
    stored = {r["Source_Id__c"]: landed(r) for r in emulator.records("Ledger_Entry__c")}
    assert sorted(stored) == sorted(r.id for r in rows)
    for row in rows:
        want = expected(row)
        want["Details__c"] = _decimals(want["Details__c"])
        want["Attrs__c"] = _decimals(want["Attrs__c"])
        assert stored[row.id] == want, row.id


@pytest.fixture(scope="module")
def source() -> Iterator[Postgres]:
    """One cluster for the module, holding the table in its own database."""
    with throwaway_cluster() as postgres:
        postgres.run_sql(f"CREATE DATABASE {DATABASE} ENCODING 'UTF8' TEMPLATE template0")
        postgres.run_sql(seed_sql(source_rows()), DATABASE)
        yield postgres


def _env() -> dict[str, str]:
    """The taps' environment: no PG* or TAP_* settings of the caller's leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TAP_"))}


def _run_tap(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, env=_env(), timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr.decode()[-4000:]
    return proc.stdout.decode()


def _select_all(catalog: dict[str, Any], **stream_metadata: Any) -> dict[str, Any]:
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"].update(selected=True, **stream_metadata)
    return catalog


def meltanolabs_output(pg: Postgres, tmp_path: Path, *, batch: bool) -> str:
    tap = tap_executable(".venv-tap-postgres", "requirements-meltanolabs.txt", "tap-postgres")
    config: dict[str, Any] = {
        "host": pg.host,
        "port": pg.port,
        "user": pg.user,
        "password": "unused-trust-auth",
        "database": DATABASE,
        "filter_schemas": ["public"],
    }
    if batch:
        config["batch_config"] = {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": (tmp_path / "batches").as_uri()},
            "batch_size": 7,
        }
    config_path = tmp_path / "tap-config.json"
    config_path.write_text(json.dumps(config))
    catalog = json.loads(_run_tap([str(tap), "--config", str(config_path), "--discover"]))
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(_select_all(catalog)))
    return _run_tap([str(tap), "--config", str(config_path), "--catalog", str(catalog_path)])


def pipelinewise_output(pg: Postgres, tmp_path: Path) -> str:
    tap = tap_executable(
        ".venv-tap-postgres-pipelinewise", "requirements-pipelinewise.txt", "tap-postgres"
    )
    config = {
        "host": pg.host,
        "port": pg.port,
        "user": pg.user,
        "password": "unused-trust-auth",
        "dbname": DATABASE,
        "filter_schemas": "public",
    }
    config_path = tmp_path / "tap-config.json"
    config_path.write_text(json.dumps(config))
    catalog = json.loads(_run_tap([str(tap), "--config", str(config_path), "--discover"]))
    catalog_path = tmp_path / "properties.json"
    catalog_path.write_text(
        json.dumps(_select_all(catalog, **{"replication-method": "FULL_TABLE"}))
    )
    return _run_tap([str(tap), "--config", str(config_path), "--properties", str(catalog_path)])


def target_config(emulator, tmp_path: Path) -> dict[str, Any]:
    stream = {
        "sobject": "Ledger_Entry__c",
        "external_id_field": "Source_Id__c",
        "field_mapping": FIELDS,
    }
    return base_config(emulator.base_url, tmp_path, streams={STREAM: stream})


def _types(output: str) -> set[str]:
    return {json.loads(line)["type"] for line in output.splitlines() if line.strip()}


@pytest.mark.parametrize(
    ("tap", "sent"),
    [
        pytest.param("meltanolabs", "RECORD", id="meltanolabs-records"),
        pytest.param("meltanolabs-batch", "BATCH", id="meltanolabs-batch"),
        pytest.param("pipelinewise", "RECORD", id="pipelinewise-draft4"),
    ],
)
def test_a_postgres_table_lands_value_for_value(
    source, salesforce_emulator_factory, tmp_path, tap, sent
):
    if tap == "pipelinewise":
        output = pipelinewise_output(source, tmp_path)
    else:
        output = meltanolabs_output(source, tmp_path, batch=tap == "meltanolabs-batch")
    assert sent in _types(output)
    assert ({"RECORD", "BATCH"} - {sent}).isdisjoint(_types(output))
    tap_states = [json.loads(line)["value"] for line in output.splitlines() if '"STATE"' in line]

    emulator = salesforce_emulator_factory(metadata=METADATA)
    rows = source_rows()
    run = run_target(target_config(emulator, tmp_path), output, tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    stats = run.report["streams"][STREAM]
    assert (stats["received"], stats["created"], stats["failed"]) == (len(rows), len(rows), 0)
    assert run.states == [tap_states[-1]]
    assert_every_value_landed(emulator, rows)

    # The same output again: every record updated in place, no second copy.
    again = run_target(target_config(emulator, tmp_path), output, tmp_path)
    assert again.returncode == 0, again.stderr[-4000:]
    stats = again.report["streams"][STREAM]
    assert (stats["created"], stats["updated"]) == (0, len(rows))
    assert_every_value_landed(emulator, rows)
