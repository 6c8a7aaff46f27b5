"""The invoices stream of the BATCH and message-type tests: config, batch files, checks.

Batch files are written the way singer-sdk's batchers write them; rows come from
``sdk_tap.invoice_rows`` so that the fixture tap and hand-written files hold the same values.
"""

from __future__ import annotations

import gzip
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
from helpers import INVOICE_FIELDS, base_config

ENCODE = msgspec.json.Encoder(decimal_format="number").encode

FIELDS = {
    k: INVOICE_FIELDS[k]
    for k in ("number", "notes", "status", "amount", "lines", "invoice_date", "paid_at", "is_paid")
}
PROPS = {
    "number": {"type": "string"},
    "notes": {"type": ["string", "null"]},
    "status": {"type": ["string", "null"]},
    "amount": {"type": ["number", "null"]},
    "lines": {"type": ["integer", "null"]},
    "invoice_date": {"type": ["string", "null"], "format": "date"},
    "paid_at": {"type": ["string", "null"], "format": "date-time"},
    "is_paid": {"type": ["boolean", "null"]},
}
SCHEMA = {
    "type": "SCHEMA",
    "stream": "invoices",
    "schema": {"type": "object", "properties": PROPS},
    "key_properties": ["number"],
}


def stream_config(**overrides: Any) -> dict[str, Any]:
    return {
        "sobject": "Invoice__c",
        "external_id_field": "Invoice_Number__c",
        "field_mapping": FIELDS,
        **overrides,
    }


def config(emulator, tmp_path: Path, stream: dict[str, Any] | None = None, **overrides: Any):
    return base_config(
        emulator.base_url, tmp_path, streams={"invoices": stream or stream_config()}, **overrides
    )


# -- batch files, as singer-sdk's batchers write them ----------------------------------------


def jsonl_bytes(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(ENCODE(r) + b"\n" for r in rows)


def lines(messages: list[dict[str, Any]]) -> str:
    """Singer messages as the target reads them, decimals as JSON numbers."""
    return jsonl_bytes(messages).decode()


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(jsonl_bytes(rows))
    return path


def write_jsonl_gz(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(gzip.compress(jsonl_bytes(rows)))
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]], compression: str = "gzip") -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path, compression=compression)
    return path


# How a manifest names a file: what singer-sdk taps write, a plain path, another fsspec protocol.
LOCATIONS = {
    "file-url": Path.as_uri,
    "path": str,
    "fsspec-local": lambda path: f"local://{path}",
}


def batch(
    files: list[Path], fmt: str = "jsonl", compression: str | None = "gzip", where="file-url"
):
    encoding: dict[str, Any] = {"format": fmt}
    if compression is not None:
        encoding["compression"] = compression
    manifest = [LOCATIONS[where](f) for f in files]
    return {"type": "BATCH", "stream": "invoices", "encoding": encoding, "manifest": manifest}


def assert_landed(emulator, rows: list[dict[str, Any]]) -> None:
    """Every value of every row is in the org, as Salesforce stores it."""
    stored = {r["Invoice_Number__c"]: r for r in emulator.records("Invoice__c")}
    assert sorted(stored) == sorted(r["number"] for r in rows)
    for row in rows:
        got = stored[row["number"]]
        assert got.get("Notes__c") == row["notes"]
        assert got["Status__c"] == row["status"]
        assert Decimal(str(got["Amount__c"])) == row["amount"]
        assert got["Line_Count__c"] == row["lines"]
        assert got["Invoice_Date__c"] == row["invoice_date"]
        paid = datetime.strptime(got["Paid_At__c"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert paid == datetime.fromisoformat(row["paid_at"])
        assert got["Is_Paid__c"] is row["is_paid"]
