"""The benchmark input: one Contact stream, written once per size to a JSONL file.

Every scenario (our target, the no-op singer-sdk target, the naive client) reads the same
file. Records have ten properties of the kinds a CRM sync carries: text, an email, a date,
an integer, a decimal, a boolean and a timestamp (string with ``format: date-time``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STREAM = "contacts"
SOBJECT = "Contact"
EXTERNAL_ID = "External_Id__c"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ref": {"type": "string"},
        "first_name": {"type": ["string", "null"]},
        "last_name": {"type": "string"},
        "email": {"type": ["string", "null"]},
        "phone": {"type": ["string", "null"]},
        "birthdate": {"type": ["string", "null"], "format": "date"},
        "total_orders": {"type": ["integer", "null"]},
        "mailing_latitude": {"type": ["number", "null"]},
        "do_not_call": {"type": ["boolean", "null"]},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
    },
    "required": ["ref", "last_name"],
}
KEY_PROPERTIES = ["ref"]
FIELD_MAPPING = {
    "ref": EXTERNAL_ID,
    "total_orders": "Total_Orders__c",
}
# updated_at has no Contact field: it is validated and parsed, then not sent.
UNMAPPED = "ignore"


def record(i: int) -> dict[str, Any]:
    """Record number ``i`` (deterministic)."""
    return {
        "ref": f"C-{i:07d}",
        "first_name": f"First{i}",
        "last_name": f"Last, {i}",
        "email": f"c{i}@example.com",
        "phone": f"+1 555 {i % 10_000:04d}",
        "birthdate": f"19{50 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "total_orders": i % 97,
        "mailing_latitude": round((i % 18_000) / 100 - 90, 2),
        "do_not_call": i % 7 == 0,
        "updated_at": f"2024-05-{1 + i % 28:02d}T12:{i % 60:02d}:00+00:00",
    }


def input_file(directory: Path, n: int) -> Path:
    """The SCHEMA, ``n`` RECORDs and a final STATE as JSONL (written once, then reused)."""
    path = directory / f"{STREAM}-{n}.jsonl"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        head = {
            "type": "SCHEMA",
            "stream": STREAM,
            "schema": SCHEMA,
            "key_properties": KEY_PROPERTIES,
        }
        out.write(json.dumps(head) + "\n")
        lines: list[str] = []
        for i in range(n):
            msg = {"type": "RECORD", "stream": STREAM, "record": record(i)}
            lines.append(json.dumps(msg, separators=(",", ":")))
            if len(lines) == 10_000:
                out.write("\n".join(lines) + "\n")
                lines = []
        lines.append(json.dumps({"type": "STATE", "value": {"done": n}}))
        out.write("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def target_config(
    base_url: str, *, api: str, stream: dict[str, Any], concurrency: int, report: Path
) -> dict[str, Any]:
    """Our target's config against the emulator."""
    return {
        "domain": base_url,
        "client_id": "emulator-client",
        "client_secret": "emulator-secret",
        "refresh_token": "emulator-refresh-token",
        "max_concurrency": concurrency,
        "on_record_error": "continue",
        "report_path": str(report),
        "streams": {
            STREAM: {
                "sobject": SOBJECT,
                "api": api,
                "field_mapping": FIELD_MAPPING,
                "unmapped_properties": UNMAPPED,
                **stream,
            }
        },
    }
