"""Replay matrix: every writable field type x API (REST, Bulk) x key kind, loaded three times.

A generated batch of rows holds a value (or null, or nothing) for every writable field type the
emulator has, one field each on ``Replay__c``. Each key kind is one stream over the same rows:

* ``ext_text``: upsert by a text external id;
* ``ext_num``: upsert by a number external id (``5``, ``5.0`` and ``5.00`` are one key);
* ``by_id``: upsert by ``Id`` into records seeded beforehand, half the ids in 15-character form;
* ``match_<type>``: upsert with ``match_fields: [Name, <field of that type>]`` (Name tells rows
  apart, so the typed field may be null; over REST only, see :data:`MATCH_TYPES`).

Each example is written, replayed, then replayed again as ``operation: update`` (which finds
every record through the same lookups as update and delete). After every run the org must
hold exactly the input, compared in Salesforce's canonical form per type; a replay must
create nothing; REST and Bulk must leave the same stores. Number values carry trailing zeros
(``5.10``) and datetimes arbitrary offsets, so a replay only finds its records when values are
compared the way Salesforce stores them.

`make test` runs a few examples (more under ``HYPOTHESIS_PROFILE=soak``); the test marked
``soak`` (``make soak``) runs sixty.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from helpers import base_config, record, run_target, schema
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

ABSENT = "<absent>"

# Describe type -> (field, metadata spec, Singer property schema).
TEXT = {"type": ["string", "null"]}
NUMBER = {"type": ["number", "null"]}
INTEGER = {"type": ["integer", "null"]}
FIELDS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "string": ("Text__c", {"type": "string", "length": 80}, TEXT),
    "textarea": ("Area__c", {"type": "textarea", "length": 255}, TEXT),
    "email": ("Mail__c", {"type": "email"}, TEXT),
    "phone": ("Phone__c", {"type": "phone"}, TEXT),
    "url": ("Link__c", {"type": "url"}, TEXT),
    "picklist": ("Pick__c", {"type": "picklist", "values": ["Alpha", "Beta"]}, TEXT),
    "multipicklist": (
        "Multi__c",
        {"type": "multipicklist", "values": ["A", "B", "C"]},
        {"type": ["array", "null"], "items": {"type": "string"}},
    ),
    "combobox": ("Combo__c", {"type": "combobox", "values": ["One", "Two"]}, TEXT),
    "encryptedstring": ("Secret__c", {"type": "encryptedstring"}, TEXT),
    "boolean": ("Flag__c", {"type": "boolean"}, {"type": ["boolean", "null"]}),
    "int": ("Count__c", {"type": "int", "digits": 9}, INTEGER),
    "long": ("Big__c", {"type": "long", "digits": 18}, INTEGER),
    "double": ("Measure__c", {"type": "double", "precision": 18, "scale": 4}, NUMBER),
    "currency": ("Price__c", {"type": "currency", "precision": 16, "scale": 2}, NUMBER),
    "percent": ("Rate__c", {"type": "percent", "precision": 5, "scale": 2}, NUMBER),
    "date": ("Day__c", {"type": "date"}, {"type": ["string", "null"], "format": "date"}),
    "datetime": (
        "Moment__c",
        {"type": "datetime"},
        {"type": ["string", "null"], "format": "date-time"},
    ),
    "time": ("Clock__c", {"type": "time"}, TEXT),
    "reference": ("Parent__c", {"type": "reference", "referenceTo": ["Account"]}, TEXT),
}
METADATA = {
    "objects": {
        "Replay__c": {
            "label": "Replay",
            "labelPlural": "Replays",
            "fields": {
                "Ext_Text__c": {
                    "type": "string",
                    "length": 60,
                    "externalId": True,
                    "unique": True,
                },
                "Ext_Num__c": {
                    "type": "double",
                    "precision": 18,
                    "scale": 0,
                    "externalId": True,
                    "unique": True,
                },
                **{name: spec for name, spec, _ in FIELDS.values()},
            },
        }
    }
}
# match_fields with api: bulk is a config error by design (the Bulk sink refuses it), so the
# match streams run over REST only. Not matched on: a multi-select picklist (describe length
# 4099, a long text SOQL cannot filter: a config error of the mapper) and classic encrypted
# text (Salesforce cannot filter it in a WHERE clause).
MATCH_TYPES = [t for t in FIELDS if t not in {"multipicklist", "encryptedstring"}]
PARENTS = 3


# -- strategies -----------------------------------------------------------------------------


def _raw_number(places: int, integer_digits: int) -> st.SearchStrategy[str]:
    """Number text as it will appear in the JSON, with up to 2 trailing zeros (``5.10``)."""
    bound = Decimal(10) ** integer_digits - 1
    return st.builds(
        lambda n, zeros: f"{n:f}" + ("." if "." not in f"{n:f}" and zeros else "") + "0" * zeros,
        st.decimals(min_value=-bound, max_value=bound, places=places),
        st.integers(0, 2),
    )


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20).filter(
    lambda s: s.strip().upper() != "#N/A"
)
datetimes = st.builds(
    lambda moment, minutes: moment.replace(
        tzinfo=None if minutes is None else timezone(timedelta(minutes=minutes))
    ).isoformat(),
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2100, 12, 30)),
    st.sampled_from([None, 0, 330, -480, 840]),
)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "string": text,
    "textarea": text,
    "email": st.from_regex(
        r"[A-Za-z0-9][a-z0-9._+-]{0,8}@[a-z0-9-]{1,8}\.[a-z]{2,4}", fullmatch=True
    ),
    "phone": st.from_regex(r"\+?[0-9 ()-]{3,20}", fullmatch=True),
    "url": st.from_regex(r"https?://[a-z0-9.-]{1,12}(/[A-Za-z0-9_-]{0,8})?", fullmatch=True),
    "picklist": st.sampled_from(["Alpha", "Beta", "beta", "Other"]),
    "multipicklist": st.lists(st.sampled_from(["A", "B", "C"]), unique=True),
    "combobox": st.sampled_from(["One", "Two", "Three"]),
    "encryptedstring": text,
    "boolean": st.booleans(),
    "int": st.integers(-(10**9) + 1, 10**9 - 1),
    "long": st.integers(-(10**15), 10**15),
    "double": _raw_number(4, 10),
    "currency": _raw_number(2, 12),
    "percent": _raw_number(2, 3),
    "date": st.dates(date(1900, 1, 1), date(2100, 12, 31)).map(date.isoformat),
    "datetime": datetimes,
    "time": st.times().map(lambda t: t.isoformat(timespec="microseconds")),
    # (which seeded Account, whether its id is written in 15-character form)
    "reference": st.tuples(st.integers(0, PARENTS - 1), st.booleans()),
}


@st.composite
def batches(draw: st.DrawFn) -> dict[str, Any]:
    """Rows of values for every type, with their key values."""
    size = draw(st.integers(1, 3))
    rows = [
        {t: draw(st.one_of(st.just(ABSENT), st.none(), strategy)) for t, strategy in VALUES.items()}
        for _ in range(size)
    ]
    numbers = draw(
        st.lists(st.integers(-(10**12), 10**12), min_size=size, max_size=size, unique=True)
    )
    return {
        "rows": rows,
        "ext_text": [f"K{i}-{draw(text)}".strip() for i in range(size)],
        "ext_num": [f"{n}" + draw(st.sampled_from(["", ".0", ".00"])) for n in numbers],
        "short_ids": [draw(st.booleans()) for _ in range(size)],
    }


# Values that once made replays create duplicates or fail: "5" against a stored 5.0, a
# 15-character reference id, a datetime with an offset, an empty text, nulls in match fields.
TRICKY = {
    "rows": [
        {
            **dict.fromkeys(VALUES, None),
            "string": "ACME o'Brien",
            "textarea": "",
            "email": "Ada@Example.com",
            "picklist": "beta",
            "multipicklist": ["C", "A"],
            "boolean": True,
            "int": 5,
            "long": 10**15,
            "double": "5.0",
            "currency": "12.50",
            "percent": "7",
            "date": "2024-01-02",
            "datetime": "2024-01-02T05:04:05.123+02:00",
            "time": "13:30:00.500",
            "reference": (1, True),
        },
        {**dict.fromkeys(VALUES, ABSENT), "double": "-0.00", "reference": (0, False)},
    ],
    "ext_text": ["K0-x", "K1-Y"],
    "ext_num": ["5.00", "-7"],
    "short_ids": [True, False],
}


# -- messages -------------------------------------------------------------------------------


def _properties() -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": {"type": "string"},
        "ext_text": {"type": "string"},
        "ext_num": {"type": "number"},
        "sf_id": {"type": "string"},
    }
    props.update({f"v_{t}": prop for t, (_, _, prop) in FIELDS.items()})
    return props


def _streams(api: str) -> dict[str, dict[str, Any]]:
    mapping = {f"v_{t}": field for t, (field, _, _) in FIELDS.items()}
    mapping.update({"name": "Name", "ext_text": "Ext_Text__c", "ext_num": "Ext_Num__c"})
    mapping["sf_id"] = "Id"
    common = {"sobject": "Replay__c", "api": api, "field_mapping": mapping}
    streams = {
        "ext_text": {**common, "external_id_field": "Ext_Text__c"},
        "ext_num": {**common, "external_id_field": "Ext_Num__c"},
        "by_id": {**common, "external_id_field": "Id"},
    }
    if api == "rest":
        for t in MATCH_TYPES:
            streams[f"match_{t}"] = {**common, "match_fields": ["Name", FIELDS[t][0]]}
    return streams


def _records(
    stream: str, batch: dict[str, Any], parents: list[str], seeded: list[str]
) -> list[dict[str, Any]]:
    out = []
    for i, row in enumerate(batch["rows"]):
        rec: dict[str, Any] = {"name": f"{stream}-{i}"}
        for t, value in row.items():
            if value is ABSENT:
                continue
            if t == "reference" and value is not None:
                parent = parents[value[0]]
                rec[f"v_{t}"] = parent[:15] if value[1] else parent
            else:
                rec[f"v_{t}"] = value
        if stream == "ext_text":
            rec["ext_text"] = batch["ext_text"][i]
        elif stream == "ext_num":
            rec["ext_num"] = batch["ext_num"][i]
        elif stream == "by_id":
            rec["sf_id"] = seeded[i][:15] if batch["short_ids"][i] else seeded[i]
        out.append(record(stream, rec))
    return out


_NUMBER_TYPES = {"double", "currency", "percent"}
_RAW = re.compile(r'"\\u0000(-?[0-9.]+)"')


def _message_text(messages: list[dict[str, Any]]) -> str:
    """JSON lines with number values written as given (``5.10`` stays ``5.10``)."""

    def mark(message: dict[str, Any]) -> dict[str, Any]:
        if message["type"] != "RECORD":
            return message
        rec = dict(message["record"])
        for prop in [f"v_{t}" for t in _NUMBER_TYPES] + ["ext_num"]:
            if isinstance(rec.get(prop), str):
                rec[prop] = "\x00" + rec[prop]
        return {**message, "record": rec}

    return "".join(_RAW.sub(r"\1", json.dumps(mark(m))) + "\n" for m in messages)


# -- what the org must hold -----------------------------------------------------------------


def _utc_millis(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def canonical(ftype: str, value: Any, parents: list[str]) -> Any:
    """A value as Salesforce holds it, in a form that compares equal when Salesforce's does."""
    if ftype == "boolean":
        return value is True
    if value is None or value is ABSENT or value in ("", []):
        return None
    if ftype == "multipicklist":
        return frozenset(value)
    if ftype in _NUMBER_TYPES | {"int", "long"}:
        return Decimal(str(value))
    if ftype == "datetime":
        return _utc_millis(value)
    if ftype == "time":
        moment = time.fromisoformat(value)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if ftype == "reference":
        return parents[value[0]]
    return value


def stored_canonical(ftype: str, value: Any) -> Any:
    """A stored value (as the emulator returns it) in the form of :func:`canonical`."""
    if ftype == "boolean":
        return value is True
    if value is None:
        return None
    if ftype == "multipicklist":
        return frozenset(value.split(";"))
    if ftype in _NUMBER_TYPES | {"int", "long"}:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if ftype == "datetime":
        return _utc_millis(value.replace("+0000", "+00:00"))
    if ftype == "time":
        return time.fromisoformat(value.removesuffix("Z"))
    return value


def assert_org_holds(emulator, batch, parents, streams) -> dict[str, dict[str, Any]]:
    """Every stream's rows are in the org exactly once, with the input's values."""
    rows = emulator.records("Replay__c")
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_name.setdefault(row["Name"], []).append(row)
    assert len(rows) == len(streams) * len(batch["rows"]), sorted(by_name)
    for stream in streams:
        for i, values in enumerate(batch["rows"]):
            name = f"{stream}-{i}"
            [stored] = by_name[name]
            for ftype, value in values.items():
                field = FIELDS[ftype][0]
                want = canonical(ftype, value, parents)
                assert stored_canonical(ftype, stored[field]) == want, (name, field, stored[field])
            if stream == "ext_num":
                assert Decimal(repr(stored["Ext_Num__c"])) == Decimal(batch["ext_num"][i])
    return {row["Name"]: row for row in rows}


def _seed(emulator, batch) -> tuple[list[str], list[str]]:
    """Accounts to refer to, and the records the ``by_id`` stream upserts by Id."""
    emulator.reset()
    org = emulator.org
    parents = [
        r.id for r in org.save("insert", "Account", [{"Name": f"P{i}"} for i in range(PARENTS)])
    ]
    names = [{"Name": f"by_id-{i}"} for i in range(len(batch["rows"]))]
    seeded = [r.id for r in org.save("insert", "Replay__c", names)]
    return parents, seeded


def replay(emulator, tmp_path, api: str, batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Load the batch three times; check the org and the counts after each run."""
    parents, seeded = _seed(emulator, batch)
    streams = _streams(api)
    messages = [schema(s, _properties()) for s in streams]
    for s in streams:
        messages += _records(s, batch, parents, seeded)
    n = len(batch["rows"])
    stored: dict[str, dict[str, Any]] = {}
    for attempt in range(3):
        operation = "update" if attempt == 2 else "upsert"
        config = base_config(
            emulator.base_url,
            tmp_path,
            streams={s: {**c, "operation": operation} for s, c in streams.items()},
            max_concurrency=8,
        )
        run = run_target(config, _message_text(messages), tmp_path)
        assert run.returncode == 0, (api, attempt, run.dead_letters, run.stderr[-3000:])
        assert run.dead_letters == []
        for s in streams:
            stats = run.report["streams"][s]
            first_write = attempt == 0 and s != "by_id"
            assert (stats["created"], stats["updated"]) == ((n, 0) if first_write else (0, n)), (
                api,
                attempt,
                s,
                stats,
            )
        stored = assert_org_holds(emulator, batch, parents, list(streams))
    # Parents are told by their index: each emulator gives its accounts their own ids.
    index = {pid: i for i, pid in enumerate(parents)}
    return {
        name: {
            f: index.get(row[f], row[f]) if f == "Parent__c" else row[f]
            for f in [field for field, _, _ in FIELDS.values()] + ["Ext_Text__c", "Ext_Num__c"]
        }
        for name, row in stored.items()
        if not name.startswith("match_")
    }


PROPERTY_SETTINGS = settings(
    deadline=None,
    # Each example is six runs of the target: no shrinking (it would rerun them hundreds of
    # times); the failing batch is printed as generated.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def _matrix(salesforce_emulator_factory, tmp_path, examples: int) -> None:
    rest = salesforce_emulator_factory(metadata=METADATA)
    bulk = salesforce_emulator_factory(metadata=METADATA)

    @settings(PROPERTY_SETTINGS, max_examples=examples)
    @given(batch=batches())
    @example(batch=TRICKY)
    def same_store_every_time(batch: dict[str, Any]) -> None:
        by_rest = replay(rest, tmp_path, "rest", batch)
        by_bulk = replay(bulk, tmp_path, "bulk", batch)
        assert by_bulk == by_rest

    same_store_every_time()


def scaled(examples: int) -> int:
    """``examples`` under the CI profile; proportionally more under ``soak`` (tests/conftest.py)."""
    return examples * settings.default.max_examples // 100


def test_replays_hold_the_input_and_create_nothing(salesforce_emulator_factory, tmp_path):
    # Two generated examples and the explicit one: about 15 s.
    _matrix(salesforce_emulator_factory, tmp_path, examples=scaled(2))


@pytest.mark.soak
def test_replays_hold_the_input_and_create_nothing_soak(salesforce_emulator_factory, tmp_path):
    # About 10 minutes.
    _matrix(salesforce_emulator_factory, tmp_path, examples=60)
