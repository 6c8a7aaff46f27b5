"""A minimal singer-sdk tap, run as a script: what a real tap built on the SDK sends.

Its one stream, ``invoices``, is FULL_TABLE, so the tap sends SCHEMA,
ACTIVATE_VERSION (with ``emit_activate_version_messages``), RECORD or BATCH (with
``batch_config``) and STATE messages, exactly as singer-sdk writes them.

Config: ``rows`` (how many invoices), plus singer-sdk's own ``batch_config`` and
``emit_activate_version_messages``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th

STATUSES = ["Draft", "Sent", "Paid", "Void"]


def invoice_rows(count: int) -> list[dict[str, Any]]:
    """The rows the tap emits; tests compare the org's records with these."""
    start = datetime.datetime(2024, 3, 1, 9, 30, tzinfo=datetime.UTC)
    return [
        {
            "number": f"INV-{i:04d}",
            "notes": None if i % 5 == 0 else f"Facture n° {i} — ünïcødé ✓",
            "status": STATUSES[i % len(STATUSES)],
            "amount": Decimal(f"{i * 7}.{i % 100:02d}"),
            "lines": i % 9,
            "invoice_date": (start + datetime.timedelta(days=i)).date().isoformat(),
            "paid_at": (start + datetime.timedelta(hours=i, minutes=30)).isoformat(),
            "is_paid": i % 2 == 0,
        }
        for i in range(1, count + 1)
    ]


class Invoices(Stream):
    """Invoices, keyed by number."""

    name = "invoices"
    primary_keys = ("number",)
    schema = th.PropertiesList(
        th.Property("number", th.StringType, required=True),
        th.Property("notes", th.StringType),
        th.Property("status", th.StringType),
        th.Property("amount", th.NumberType),
        th.Property("lines", th.IntegerType),
        th.Property("invoice_date", th.DateType),
        th.Property("paid_at", th.DateTimeType),
        th.Property("is_paid", th.BooleanType),
    ).to_dict()

    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The configured number of invoices."""
        yield from invoice_rows(int(self.config.get("rows", 10)))


class SdkTap(Tap):
    """The fixture tap."""

    name = "tap-sdk-fixture"
    config_jsonschema = th.PropertiesList(
        th.Property("rows", th.IntegerType),
        th.Property("emit_activate_version_messages", th.BooleanType),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        """The one stream."""
        return [Invoices(self)]


if __name__ == "__main__":
    SdkTap.cli()
