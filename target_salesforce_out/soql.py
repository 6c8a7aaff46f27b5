"""SOQL text built safely: every literal goes through :func:`quote`.

Lookups put many values in one ``IN (...)`` clause; :func:`in_chunks` keeps each query's
URL-encoded length under the limit that leaves room for the host, headers and token within
Salesforce's 16,384-byte URI+headers cap (salesforce-api.md 6.5).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote_plus

from target_salesforce_out.client import SalesforceClient
from target_salesforce_out.ids import to18

# URL-encoded query length per request: leaves ~4 KB of the 16,384 bytes for everything else.
MAX_ENCODED_QUERY = 12_000
# Salesforce's limit on one string literal in a WHERE clause.
MAX_LITERAL_CHARS = 4_000

_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_TABLE = str.maketrans(_ESCAPES)


def quote(value: str) -> str:
    """A SOQL string literal: single quotes, with the documented escapes (6.4)."""
    return "'" + value.translate(_TABLE) + "'"


def literal(value: Any) -> str:
    """A SOQL literal for a converted value: strings quoted, booleans/numbers bare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if hasattr(value, "as_tuple"):  # Decimal
        return format(value, "f")
    return quote(text)


def in_chunks(
    prefix: str, field: str, literals: Sequence[str], suffix: str = ""
) -> Iterator[tuple[str, int, int]]:
    """Yield ``(soql, start, end)``: ``prefix WHERE field IN (literals[start:end]) suffix``.

    Each query stays under :data:`MAX_ENCODED_QUERY` once URL-encoded.
    """
    head = f"{prefix} WHERE {field} IN ("
    tail = ")" + (f" {suffix}" if suffix else "")
    base = len(quote_plus(head + tail))
    start = 0
    while start < len(literals):
        size = base
        end = start
        while end < len(literals):
            cost = len(quote_plus(literals[end])) + (3 if end > start else 0)  # ","
            if end > start and size + cost > MAX_ENCODED_QUERY:
                break
            size += cost
            end += 1
        yield head + ",".join(literals[start:end]) + tail, start, end
        start = end


def query_all(client: SalesforceClient, soql: str) -> list[dict[str, Any]]:
    """Run a query and follow ``nextRecordsUrl`` to the last page."""
    page = client.get_json("/query", params={"q": soql})
    records: list[dict[str, Any]] = list(page.get("records") or [])
    while not page.get("done", True) and page.get("nextRecordsUrl"):
        page = client.get_json(str(page["nextRecordsUrl"]))
        records.extend(page.get("records") or [])
    return records


def key_of(value: Any, *, is_id: bool = False) -> str:
    """How key values are compared: ids by their 18-character form, others case-insensitively."""
    text = format(value, "f") if hasattr(value, "as_tuple") else str(value)
    if is_id and len(text) in (15, 18):
        return to18(text)
    return text.lower()


def find_ids(
    client: SalesforceClient, sobject: str, field: str, values: Sequence[Any]
) -> dict[str, list[str]]:
    """Map each key value (see :func:`key_of`) to the ids of the records holding it."""
    is_id = field.lower() == "id"
    unique = list(dict.fromkeys(values))
    literals = [literal(v) for v in unique]
    found: dict[str, list[str]] = {}
    # Names come from describe; every value went through literal().
    select = f"SELECT Id, {field} FROM {sobject}"  # noqa: S608
    for soql, _, _ in in_chunks(select, field, literals):
        for row in query_all(client, soql):
            value = next((v for k, v in row.items() if k.lower() == field.lower()), None)
            if value is not None:
                found.setdefault(key_of(value, is_id=is_id), []).append(str(row["Id"]))
    return found


def find_matches(
    client: SalesforceClient, sobject: str, fields: Sequence[str], rows: Sequence[Sequence[Any]]
) -> dict[tuple[str, ...], list[str]]:
    """Map each tuple of match values (compared as :func:`key_of`) to the ids holding it.

    One query per chunk of rows: ``F1 IN (...) AND F2 IN (...)`` over the chunk's values, then
    exact tuples are matched here (the IN product can return rows matching no input tuple).
    """
    unique = list(dict.fromkeys(tuple(row) for row in rows))
    # Names come from describe; every value went through literal().
    select = f"SELECT Id, {', '.join(fields)} FROM {sobject}"  # noqa: S608
    found: dict[tuple[str, ...], list[str]] = {}
    start = 0
    while start < len(unique):
        end = _match_chunk_end(select, fields, unique, start)
        soql = _match_query(select, fields, unique[start:end])
        for row in query_all(client, soql):
            lowered = {k.lower(): v for k, v in row.items()}
            values = [lowered.get(f.lower()) for f in fields]
            if all(v is not None for v in values):
                key = tuple(
                    key_of(v, is_id=f.lower() == "id") for f, v in zip(fields, values, strict=True)
                )
                found.setdefault(key, []).append(str(row["Id"]))
        start = end
    return found


def _match_chunk_end(
    select: str, fields: Sequence[str], rows: Sequence[Sequence[Any]], start: int
) -> int:
    """End of the longest chunk from ``start`` (one row at least) whose query fits the limit.

    URL encoding works character by character, so the encoded query's length is the sum of
    its parts' and is kept as a running total: rebuilding the query for every row added
    made chunking quadratic in the chunk size (most of the CPU of a matcher upsert).
    """
    seen: list[set[str]] = [set() for _ in fields]
    for index, value in enumerate(rows[start]):
        seen[index].add(literal(value))
    size = len(quote_plus(_match_query(select, fields, rows[start : start + 1])))
    end = start + 1
    while end < len(rows):
        new = [
            (index, text)
            for index, text in enumerate(literal(value) for value in rows[end])
            if text not in seen[index]
        ]
        cost = sum(len(quote_plus(text)) + 3 for _, text in new)  # "," encodes as "%2C"
        if size + cost > MAX_ENCODED_QUERY:
            break
        size += cost
        for index, text in new:
            seen[index].add(text)
        end += 1
    return end


def _match_query(select: str, fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    clauses = []
    for index, field in enumerate(fields):
        values = ",".join(dict.fromkeys(literal(row[index]) for row in rows))
        clauses.append(f"{field} IN ({values})")
    return f"{select} WHERE {' AND '.join(clauses)}"
