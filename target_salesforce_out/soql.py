"""SOQL text built safely, and values compared the way Salesforce compares them.

Every literal goes through :func:`literal` (or :func:`quote` for text): strings are quoted and
escaped, while numbers, booleans, dates, datetimes and times are bare, as the SOQL and SOSL
Reference requires ("Quoted String Escape Sequences", "Date Formats and Date Literals").

Values read back from the org and values about to be written are compared through
:func:`key_of`, which gives each describe type its canonical text: text case-insensitively (as
SOQL's ``=`` compares it; an empty text is null, since Salesforce stores no empty strings: not
documented by Salesforce, widely observed, and the emulator's choice too), numbers as
normalised decimals (``5`` and ``5.0`` are equal), checkboxes as ``true``/``false`` (never
null), dates as ``yyyy-MM-dd``, datetimes in UTC to the millisecond, times to the millisecond,
and ids in their 18-character form (SOAP API Developer Guide, "Field Types": the API accepts
15 and 18 characters and returns 18).

Lookups put many values in one ``IN (...)`` clause; :func:`in_chunks` keeps each query's
URL-encoded length under the limit that leaves room for the host, headers and token within
Salesforce's 16,384-byte cap on the request URI plus headers (Salesforce Help, Knowledge Article
000386264; REST API Developer Guide, "Status Codes and Error Responses": 414 and 431).
Query results come in pages linked by ``nextRecordsUrl`` (REST API Developer Guide, "Execute a
SOQL Query").
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote_plus

from target_salesforce_out.client import SalesforceClient
from target_salesforce_out.ids import id_problem, to18

# URL-encoded query length per request: leaves ~4 KB of the 16,384 bytes for everything else.
MAX_ENCODED_QUERY = 12_000

NUMBER_TYPES = frozenset({"int", "long", "double", "currency", "percent"})
ID_TYPES = frozenset({"id", "reference"})

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

MatchKey = tuple[str | None, ...]


def quote(value: str) -> str:
    """A SOQL string literal: single quotes, with the documented escape sequences."""
    return "'" + value.translate(_TABLE) + "'"


# Canonical values ------------------------------------------------------------------------


def _inferred_type(value: Any) -> str:
    """The describe type a value stands for when the caller does not know the field's."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "double"
    return "string"


def _decimal_text(value: Any) -> str | None:
    """``5``, ``5.0`` and ``5.00`` all as ``5``; None when ``value`` is not a finite number."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, float):
            number = Decimal(repr(value))
        else:
            number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return "0" if number == 0 else format(number.normalize(), "f")


def _utc_datetime_text(value: Any) -> str | None:
    """A datetime as ``yyyy-MM-ddTHH:mm:ss.SSSZ`` in UTC (no offset means UTC)."""
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _date_text(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text).date().isoformat()
        except ValueError:
            return None
    return None


def _time_text(value: Any) -> str | None:
    """A time as ``HH:mm:ss.SSSZ``; the org keeps the clock time it was given, with a ``Z``."""
    parsed: time | None = value if isinstance(value, time) else None
    if isinstance(value, str):
        try:
            parsed = time.fromisoformat(value.strip().removesuffix("Z"))
        except ValueError:
            return None
    if parsed is None:
        return None
    return parsed.strftime("%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _typed(value: Any, ftype: str) -> str | None:
    """The canonical text of a non-null value of a non-text type; None if it does not parse."""
    if ftype in NUMBER_TYPES:
        return _decimal_text(value)
    if ftype == "boolean":
        text = _text(value).strip().lower()
        return text if text in {"true", "false"} else None
    if ftype == "date":
        return _date_text(value)
    if ftype == "datetime":
        return _utc_datetime_text(value)
    if ftype == "time":
        return _time_text(value)
    if ftype in ID_TYPES:
        text = _text(value).strip()
        return to18(text) if id_problem(text) is None else None
    return None


def key_of(value: Any, field_type: str | None = None, *, is_id: bool = False) -> str | None:
    """The canonical text Salesforce compares ``value`` by in a field of ``field_type``.

    ``field_type`` is the describe ``type``; without it the type follows the Python value
    (numbers, booleans, else text). ``is_id`` is ``field_type="id"``. None means the field is
    empty: a null, or an empty text. A value that does not parse as its type is compared as
    text, so it can only match itself.
    """
    ftype = "id" if is_id else field_type or _inferred_type(value)
    if value is None:
        # Checkboxes are never null in Salesforce: an unset one is false.
        return "false" if ftype == "boolean" else None
    if ftype == "multipicklist":
        # The same selections in any order are one value.
        parts = sorted({p.lower() for p in _text(value).split(";") if p})
        return ";".join(parts) if parts else None
    typed = _typed(value, ftype)
    if typed is not None:
        return typed
    text = _text(value)
    if ftype in ID_TYPES:
        return text  # a malformed id, kept as given: ids are case-sensitive
    return text.lower() if text else None


def key_variants(key: str | None, field_type: str) -> tuple[str | None, ...]:
    """``key``, then the forms the org may have stored it in, best first.

    Salesforce keeps datetimes to the second (Salesforce Help, "Considerations for the Time
    Custom Field Type"), so a datetime sent with milliseconds may be held without them.
    """
    if field_type == "datetime" and key is not None and not key.endswith(".000Z"):
        return key, key[:19] + ".000Z"
    return (key,)


def literal(value: Any, field_type: str | None = None) -> str:
    """The SOQL literal for ``value`` in a field of describe type ``field_type``.

    Text, ids and picklists are quoted; numbers, booleans, dates (``2024-01-02``), datetimes
    (``2024-01-02T03:04:05.000Z``) and times (``03:04:05.000Z``) are bare; an empty value is
    ``null``. Without ``field_type`` the type follows the Python value.
    """
    ftype = field_type or _inferred_type(value)
    if value is None:
        return "false" if ftype == "boolean" else "null"
    if key_of(value, ftype) is None:
        return "null"
    typed = _typed(value, ftype)
    if typed is None or ftype in ID_TYPES:
        # Text, or a value that is not of its field's type: Salesforce answers the latter
        # with its own error for the quoted value.
        return quote(typed or _text(value))
    return typed


# Queries -------------------------------------------------------------------------------------


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


def _field_value(row: dict[str, Any], field: str) -> Any:
    """A query row's value for ``field``, whatever the key's casing."""
    lowered = field.lower()
    return next((v for k, v in row.items() if k.lower() == lowered), None)


def find_ids(
    client: SalesforceClient,
    sobject: str,
    field: str,
    values: Sequence[Any],
    field_type: str | None = None,
) -> dict[str, list[str]]:
    """Map each key value (see :func:`key_of`) to the ids of the records holding it.

    ``field_type`` is the field's describe type (``id`` for ``Id``).
    """
    ftype = field_type or ("id" if field.lower() == "id" else None)
    literals = list(dict.fromkeys(literal(v, ftype) for v in values if key_of(v, ftype)))
    found: dict[str, list[str]] = {}
    # Names come from describe; every value went through literal().
    select = f"SELECT Id, {field} FROM {sobject}"  # noqa: S608
    for soql, _, _ in in_chunks(select, field, literals):
        for row in query_all(client, soql):
            key = key_of(_field_value(row, field), ftype)
            if key is not None:
                found.setdefault(key, []).append(str(row["Id"]))
    return found


def match_key(values: Sequence[Any], types: Sequence[str]) -> MatchKey:
    """The canonical key of one record's match values (None where a field is empty)."""
    return tuple(key_of(v, t) for v, t in zip(values, types, strict=True))


def find_matches(
    client: SalesforceClient,
    sobject: str,
    fields: Sequence[str],
    types: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> dict[MatchKey, list[str]]:
    """Map each row's :func:`match_key` to the ids of the records whose fields hold it.

    An empty value matches records whose field is empty (``Field = null``). One query per
    chunk of rows, ``F1 IN (...) AND (F2 IN (...) OR F2 = null)`` over the chunk's values; the
    IN product can return rows matching no input, so exact keys are matched here. A datetime
    matches at the millisecond, else at the second (see :func:`key_variants`).
    """
    wanted = list(dict.fromkeys(match_key(row, types) for row in rows))
    variants = {
        key: list(itertools.product(*(key_variants(k, t) for k, t in zip(key, types, strict=True))))
        for key in wanted
    }
    # Names come from describe; every value went through literal().
    select = f"SELECT Id, {', '.join(fields)} FROM {sobject}"  # noqa: S608
    found: dict[MatchKey, list[str]] = {}
    clauses = _MatchClauses(select, fields, types)
    for chunk in clauses.chunks([variants[key] for key in wanted]):
        for row in query_all(client, chunk):
            key = match_key([_field_value(row, f) for f in fields], types)
            found.setdefault(key, []).append(str(row["Id"]))
    out: dict[MatchKey, list[str]] = {}
    for key in wanted:
        for variant in variants[key]:
            if variant in found:
                out[key] = found[variant]
                break
    return out


class _MatchClauses:
    """Builds matcher queries whose URL-encoded length stays under the limit.

    URL encoding works character by character, so the encoded query's length is the sum of
    its parts' and is kept as a running total: rebuilding the query for every row added
    made chunking quadratic in the chunk size.
    """

    def __init__(self, select: str, fields: Sequence[str], types: Sequence[str]) -> None:
        self.select = select
        self.fields = list(fields)
        self.types = list(types)
        # What turning ``F IN (...)`` into ``(F IN (...) OR F = null)`` adds, at most.
        self.null_cost = [len(quote_plus(f"( OR {f} = null)")) for f in fields]

    def chunks(self, rows: Sequence[Sequence[MatchKey]]) -> Iterator[str]:
        """Queries covering every key variant of ``rows`` (each row: its variants)."""
        start = 0
        while start < len(rows):
            seen: list[dict[str, None]] = [{} for _ in self.fields]
            size = len(quote_plus(self.select + " WHERE "))
            end = start
            while end < len(rows):
                new = [
                    (index, text)
                    for index, text in dict.fromkeys(
                        (index, literal(value, self.types[index]))
                        for variant in rows[end]
                        for index, value in enumerate(variant)
                    )
                    if text not in seen[index]
                ]
                cost = sum(self._cost(index, text, seen[index]) for index, text in new)
                if end > start and size + cost > MAX_ENCODED_QUERY:
                    break
                size += cost
                for index, text in new:
                    seen[index][text] = None
                end += 1
            yield self._query(seen)
            start = end

    def _cost(self, index: int, text: str, seen: dict[str, None]) -> int:
        """Encoded characters that adding ``text`` to field ``index``'s clause adds at most."""
        field = self.fields[index]
        if not seen:  # the field's clause appears: "F IN (x)" or "F = null", plus " AND "
            return len(quote_plus(f" AND {field} IN ({text})"))
        if text == "null" or "null" in seen:
            return len(quote_plus(text)) + 3 + self.null_cost[index]
        return len(quote_plus(text)) + 3  # "," encodes as "%2C"

    def _query(self, seen: list[dict[str, None]]) -> str:
        clauses = []
        for field, texts in zip(self.fields, seen, strict=True):
            values = [t for t in texts if t != "null"]
            clause = f"{field} IN ({','.join(values)})" if values else ""
            if "null" in texts:
                clause = f"({clause} OR {field} = null)" if clause else f"{field} = null"
            clauses.append(clause)
        return f"{self.select} WHERE {' AND '.join(clauses)}"
