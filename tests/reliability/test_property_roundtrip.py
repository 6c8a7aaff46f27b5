"""Property-based round trips: generated records of every field type, loaded and read back equal.

Each example is one batch for two streams in one run: ``invoices`` into ``Invoice__c`` (text,
textarea, email, restricted picklist, multi-select picklist, currency, double, int, percent,
date, datetime, checkbox) and ``people`` into ``Contact`` (phone, an unrestricted picklist,
a double with scale 15). A batch holds full records, then partial updates of some of them: a
``null`` clears a field, an absent property leaves it alone, the last write wins.

Not every record lands, and the model says which: over Bulk a text value ``#N/A`` cannot be
sent (Bulk reads it as null), so that record is rejected before it is sent and never lands. A
later partial record for the same key is then an insert, and Salesforce rejects it when it
lacks a required field (Contact's LastName) with REQUIRED_FIELD_MISSING.

What comes back is compared after normalising as Salesforce does: datetimes in UTC with
milliseconds (``...000+0000``), an empty string is null, a null checkbox is false, a
multi-select is a set of values. Numbers stay within what the emulator's float storage holds
exactly (at most 15 significant digits).

One emulator per test function, reset between examples. Examples are drawn as the Hypothesis
profile says (tests/conftest.py): the same ones on every CI run, more and random in a soak.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from helpers import INVOICE_FIELDS, INVOICE_PROPS, base_config, record, run_target, schema
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

ABSENT = object()
BULK_NULL = "#N/A"

PEOPLE_FIELDS = {
    "ref": "External_Id__c",
    "last_name": "LastName",
    "phone": "Phone",
    "lead_source": "LeadSource",
    "latitude": "MailingLatitude",
    "description": "Description",
}
PEOPLE_PROPS = {
    "ref": {"type": "string"},
    "last_name": {"type": "string"},
    "phone": {"type": ["string", "null"]},
    "lead_source": {"type": ["string", "null"]},
    "latitude": {"type": ["number", "null"]},
    "description": {"type": ["string", "null"]},
}


def _stream(sobject: str, key: str, fields: dict[str, str], api: str) -> dict[str, Any]:
    return {
        "sobject": sobject,
        "api": api,
        "external_id_field": fields[key],
        "field_mapping": fields,
    }


# -- strategies -----------------------------------------------------------------------------------

# Any character a JSON document can carry (no lone surrogates), newlines, quotes and commas
# included; control characters too; and Bulk's null marker, which Bulk cannot carry as text.
any_text = st.one_of(
    st.just(BULK_NULL), st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
)
# Keys: printable, no surrounding spaces, unique regardless of case (external ids are
# case-insensitive), and not the Bulk null marker.
key_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=40
).filter(lambda s: s == s.strip() and s.upper() != "#N/A")
emails = st.from_regex(r"[a-z0-9][a-z0-9._%+-]{0,12}@[a-z0-9-]{1,12}\.[a-z]{2,6}", fullmatch=True)


def decimals(integer_digits: int, places: int) -> st.SearchStrategy[float]:
    """Decimals sent as JSON numbers (their shortest float form is their exact text)."""
    bound = Decimal(10) ** integer_digits - Decimal(1).scaleb(-places)
    return st.decimals(
        min_value=-bound, max_value=bound, places=places, allow_nan=False, allow_infinity=False
    ).map(float)


offsets = st.sampled_from([None, 0, 330, -480, 345, -210, 840, -720]).map(
    lambda minutes: None if minutes is None else timezone(timedelta(minutes=minutes))
)
datetimes = st.builds(
    lambda moment, tz: moment.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1701, 1, 1), max_value=datetime(3999, 12, 30)),
    offsets,
)

INVOICE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "legacy": key_text,
    "notes": st.one_of(any_text, st.text(max_size=5000)),
    "status": st.sampled_from(["Draft", "Sent", "Paid", "Void"]),
    "tags": st.lists(st.sampled_from(["Urgent", "Export", "Review"]), unique=True),
    "amount": decimals(13, 2),
    "quantity": st.integers(-(10**15), 10**15),
    "lines": st.integers(-(10**9) + 1, 10**9 - 1),
    "tax": decimals(3, 2),
    "invoice_date": st.dates(date(1700, 1, 1), date(4000, 12, 31)).map(date.isoformat),
    "paid_at": datetimes.map(datetime.isoformat),
    "is_paid": st.booleans(),
    "email": emails,
}
PEOPLE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "phone": st.from_regex(r"\+?[0-9 ()-]{3,30}", fullmatch=True),
    "lead_source": st.one_of(st.sampled_from(["Web", "Other"]), st.text(max_size=20)),
    "latitude": decimals(2, 6),
    "description": any_text,
}


def optional(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A property that is absent, null, or has a value."""
    return st.one_of(st.just(ABSENT), st.none(), values)


def records_of(key: str, values: dict[str, st.SearchStrategy[Any]], required: dict[str, Any]):
    """Full records (one per key) followed by partial updates of some of them."""

    def build(keys: list[str], data: st.DataObject) -> list[dict[str, Any]]:
        out = []
        for k in keys:
            fixed = {p: data.draw(s) for p, s in required.items()}
            rest = {p: data.draw(optional(s)) for p, s in values.items()}
            out.append({key: k, **fixed, **{p: v for p, v in rest.items() if v is not ABSENT}})
        for _ in range(data.draw(st.integers(0, 3))):
            k = data.draw(st.sampled_from(keys))
            rest = {p: data.draw(optional(s)) for p, s in values.items()}
            out.append({key: k, **{p: v for p, v in rest.items() if v is not ABSENT}})
        return out

    keys = st.lists(key_text, min_size=1, max_size=6, unique_by=str.lower)
    return st.builds(build, keys, st.data())


batches = st.tuples(
    records_of("number", INVOICE_VALUES, {}),
    records_of("ref", PEOPLE_VALUES, {"last_name": key_text}),
)


# -- what Salesforce gives back ---------------------------------------------------------------------


def salesforce_value(field: str, value: Any) -> Any:
    """``value`` as sent, in the form the org stores it."""
    if field in {"Is_Paid__c"}:
        return bool(value)
    if value is None or value == "" or value == []:
        return None
    if field == "Tags__c":
        return frozenset(value)
    if field == "Paid_At__c":
        moment = datetime.fromisoformat(value)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return value


def stored_form(field: str, value: Any) -> Any:
    if value is None:
        return None
    if field == "Tags__c":
        return frozenset(value.split(";"))
    if isinstance(value, float | int) and not isinstance(value, bool):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return value


# Properties a record must have to be inserted (the field is required on create).
REQUIRED_ON_INSERT = {"Invoice__c": (), "Contact": ("last_name",)}


def model(
    api: str, sobject: str, records: list[dict[str, Any]], fields: dict[str, str], key: str
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
    """What lands (key -> field -> stored value) and what is rejected ((key, code) in order).

    Records are applied in order, each to what its key's earlier records left: a record
    rejected never lands, so a record for a key with nothing landed yet is an insert.
    """
    landed: dict[str, dict[str, Any]] = {}
    rejected: list[tuple[str, str]] = []
    for rec in records:
        k = rec[key]
        if api == "bulk" and any(v == BULK_NULL for p, v in rec.items() if p != key):
            rejected.append((k, "BULK_UNSENDABLE_VALUE"))
            continue
        if k not in landed and any(rec.get(p) is None for p in REQUIRED_ON_INSERT[sobject]):
            rejected.append((k, "REQUIRED_FIELD_MISSING"))
            continue
        merged = landed.setdefault(k, {})
        for prop, value in rec.items():
            merged[fields[prop]] = salesforce_value(fields[prop], value)
    return landed, rejected


def assert_round_trip(emulator, want, sobject, fields, key):
    key_field = fields[key]
    rows = emulator.records(sobject)
    assert len(rows) == len(want)
    got = {r[key_field]: r for r in rows}
    for k, values in want.items():
        row = got[k]
        for field in set(fields.values()) - {key_field}:
            # A field no record of this key ever set keeps the org's default (null / false).
            default = False if field == "Is_Paid__c" else None
            assert stored_form(field, row[field]) == values.get(field, default), (k, field)


def load(emulator, tmp_path, api, batch):
    invoices, people = batch
    emulator.reset()
    config = base_config(
        emulator.base_url,
        tmp_path,
        streams={
            "invoices": _stream("Invoice__c", "number", INVOICE_FIELDS, api),
            "people": _stream("Contact", "ref", PEOPLE_FIELDS, api),
        },
        on_record_error="continue",
    )
    messages = [
        schema("invoices", INVOICE_PROPS, ["number"]),
        schema("people", PEOPLE_PROPS, ["ref"]),
        *[record("invoices", r) for r in invoices],
        *[record("people", r) for r in people],
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, (run.report or {}).get("errors") or run.stderr[-2000:]
    streams = (
        ("invoices", "Invoice__c", invoices, INVOICE_FIELDS, "number"),
        ("people", "Contact", people, PEOPLE_FIELDS, "ref"),
    )
    for stream, sobject, recs, fields, key in streams:
        want, rejected = model(api, sobject, recs, fields, key)
        assert_round_trip(emulator, want, sobject, fields, key)
        dead = [
            (d["record"][key], d["errorCode"]) for d in run.dead_letters if d["stream"] == stream
        ]
        assert sorted(dead) == sorted(rejected), stream
        # The run's own account agrees: every record written or rejected, none twice.
        stats = run.report["streams"][stream]
        written = stats["created"] + stats["updated"]
        assert (stats["received"], written, stats["failed"]) == (
            len(recs),
            len(recs) - len(rejected),
            len(rejected),
        )
        assert stats["created"] == len(want)


# Each example is a whole run of the target (about a second): no shrinking, which would rerun
# it hundreds of times; the failing batch is printed as generated.
PROPERTY_SETTINGS = settings(
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def scaled(examples: int) -> int:
    """``examples`` under the CI profile; proportionally more under ``soak`` (tests/conftest.py)."""
    return examples * settings.default.max_examples // 100


# A record Bulk cannot send, then a partial record for its key: over Bulk the second is an
# insert (a Contact without LastName is rejected, an invoice lands with what it has); over
# REST both land. Found by a random run; kept so that every run covers it.
UNSENDABLE_THEN_PARTIAL = (
    [
        {"number": "I-1", "notes": BULK_NULL, "amount": 12.5},
        {"number": "I-1", "status": "Paid"},
    ],
    [
        {"ref": "P-1", "last_name": "Doe", "description": BULK_NULL},
        {"ref": "P-1", "phone": "+1 555 0100"},
        {"ref": "P-2", "last_name": "Roe", "lead_source": "Web"},
    ],
)


@pytest.mark.parametrize(("api", "examples"), [("rest", 25), ("bulk", 20)])
def test_generated_records_round_trip(api, examples, salesforce_emulator, tmp_path):
    @settings(PROPERTY_SETTINGS, max_examples=scaled(examples))
    @given(batch=batches)
    @example(batch=UNSENDABLE_THEN_PARTIAL)
    def round_trip(batch):
        load(salesforce_emulator, tmp_path, api, batch)

    round_trip()
