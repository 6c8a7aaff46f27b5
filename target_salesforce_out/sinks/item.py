"""One converted record on its way to Salesforce, as every sink and its helpers pass it."""

from __future__ import annotations

from typing import Any, NamedTuple


class Item(NamedTuple):
    """One converted record on its way to Salesforce."""

    record: dict[str, Any]  # as received: what a rejection writes to the dead-letter file
    fields: dict[str, Any]  # converted, by wire name: what is sent
