"""Value converters: every input either becomes the field type's wire form or rejects its record.

Tables of cases with ids, then properties over any input: a converter returns the documented
form (``yyyy-MM-dd``, ``yyyy-MM-ddTHH:mm:ss.SSSZ``, ``HH:mm:ss.SSSZ``, finite decimals within the
field's digits, ...) or raises ``ValueProblemError``, which rejects that record only; nothing else
ever escapes. Dates, datetimes, times and decimals round-trip.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from helpers import describe_field as field
from hypothesis import given, settings
from hypothesis import strategies as st

from target_salesforce_out.converters import _BY_TYPE, converter_for, format_datetime
from target_salesforce_out.describe import FieldInfo, ObjectInfo
from target_salesforce_out.errors import RecordRejectedError, ValueProblemError
from target_salesforce_out.ids import id_problem
from target_salesforce_out.mapping import RecordMapper
from target_salesforce_out.settings import StreamSettings


def scaled(examples: int) -> int:
    """``examples`` under the CI profile; proportionally more under ``soak`` (tests/conftest.py)."""
    return examples * settings.default.max_examples // 100


PICKS = frozenset({"Gold", "Silver", "Bronze"})
FIELDS = {
    "boolean": field("B__c", "boolean"),
    "int": field("I__c", "int", digits=9),
    "long": field("L__c", "long", digits=18),
    "double": field("D__c", "double", precision=18, scale=6),
    "currency": field("C__c", "currency", precision=16, scale=2),
    "percent": field("P__c", "percent", precision=5, scale=2),
    "date": field("Dt__c", "date"),
    "datetime": field("Ts__c", "datetime"),
    "time": field("T__c", "time"),
    "multipicklist": field(
        "M__c", "multipicklist", restricted_picklist=True, picklist_values=PICKS
    ),
    "reference": field("R__c", "reference", reference_to=("Account",)),
    "id": field("Id", "id"),
    # Every other type goes through the text converter.
    "string": field("S__c", "string", length=20),
    "textarea": field("Ta__c", "textarea", length=32768),
    "picklist": field("Pk__c", "picklist", restricted_picklist=True, picklist_values=PICKS),
    "email": field("E__c", "email", length=80),
}

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}\.\d{3}Z")


def _integer_digits(number: Decimal) -> int:
    return max(number.adjusted() + 1, 0) if number else 0


def is_wire_form(fld: FieldInfo, out: Any) -> bool:
    """Whether ``out`` is what the REST API Developer Guide documents for ``fld``'s type."""
    kind = fld.type
    if kind == "boolean":
        return isinstance(out, bool)
    if kind in {"int", "long"}:
        return type(out) is int and len(str(abs(out))) <= fld.digits
    if kind in {"double", "currency", "percent"}:
        return (
            isinstance(out, Decimal)
            and out.is_finite()
            and _integer_digits(out) <= fld.precision - fld.scale
        )
    if kind == "date":
        return isinstance(out, str) and bool(_DATE.fullmatch(out)) and bool(date.fromisoformat(out))
    if kind == "datetime":
        return (
            isinstance(out, str)
            and bool(_DATETIME.fullmatch(out))
            and bool(datetime.fromisoformat(out))
        )
    if kind == "time":
        return isinstance(out, str) and bool(_TIME.fullmatch(out)) and bool(time.fromisoformat(out))
    if kind in {"reference", "id"}:
        return isinstance(out, str) and id_problem(out) is None
    if kind == "multipicklist":
        return isinstance(out, str) and all(v in PICKS for v in out.split(";") if v)
    if not isinstance(out, str) or len(out) > fld.length:
        return False
    return not fld.restricted_picklist or out == "" or out in PICKS


def test_the_table_covers_every_converter():
    assert set(_BY_TYPE) <= set(FIELDS)


# -- tables -------------------------------------------------------------------------------


def tz(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        pytest.param("date", date(999, 12, 31), "0999-12-31", id="date-year-999-padded"),
        pytest.param("date", date(1, 1, 1), "0001-01-01", id="date-year-1-padded"),
        pytest.param("date", "0999-12-31", "0999-12-31", id="date-text-year-999"),
        pytest.param(
            "date",
            datetime(999, 1, 2, 23, 0, tzinfo=tz(-300)),
            "0999-01-02",
            id="date-from-datetime-keeps-its-own-day",
        ),
        pytest.param(
            "datetime",
            datetime(999, 6, 1, 12, 0, tzinfo=UTC),
            "0999-06-01T12:00:00.000Z",
            id="datetime-year-999-padded",
        ),
        pytest.param(
            "datetime",
            datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=tz(-210)),
            "2024-01-02T06:34:05.123Z",
            id="datetime-offset-minus-03-30-microseconds",
        ),
        pytest.param(
            "datetime", datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05.000Z", id="naive-is-utc"
        ),
        pytest.param(
            "datetime", "2024-01-02 03:04:05", "2024-01-02T03:04:05.000Z", id="space-separated"
        ),
        pytest.param(
            "datetime",
            datetime(1, 1, 1, 5, 0, tzinfo=tz(300)),
            "0001-01-01T00:00:00.000Z",
            id="datetime-year-1-reaching-utc-midnight",
        ),
        pytest.param("time", time(13, 30, tzinfo=tz(-180)), "16:30:00.000Z", id="time-offset"),
        pytest.param("time", "23:30:00-01:00", "00:30:00.000Z", id="time-offset-past-midnight"),
        pytest.param("time", "00:15:00+14:00", "10:15:00.000Z", id="time-offset-before-midnight"),
        pytest.param("time", "13:30:00Z", "13:30:00.000Z", id="time-z"),
        pytest.param("time", "13:30:00.999999", "13:30:00.999Z", id="time-naive-truncated-ms"),
        pytest.param(
            "time", time(1, 2, 3, 450000, tzinfo=UTC), "01:02:03.450Z", id="time-utc-object"
        ),
        pytest.param(
            "textarea",
            {"a": Decimal("1.50"), "b": [Decimal("1E+2"), None, "x"]},
            '{"a":1.50,"b":[1E+2,null,"x"]}',
            id="object-to-text-keeps-numbers",
        ),
        pytest.param("textarea", date(999, 1, 1), "0999-01-01", id="date-to-text-padded"),
        pytest.param(
            "textarea",
            datetime(999, 1, 1, tzinfo=UTC),
            "0999-01-01T00:00:00.000Z",
            id="datetime-to-text-padded",
        ),
        pytest.param("currency", "12345678901234.56", Decimal("12345678901234.56"), id="decimal"),
        pytest.param("boolean", Decimal("1"), True, id="boolean-decimal-one"),
    ],
)
def test_conversion(kind: str, value: Any, expected: Any) -> None:
    assert converter_for(FIELDS[kind])(value) == expected


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


@pytest.mark.parametrize(
    ("kind", "value", "needle"),
    [
        pytest.param(
            "datetime",
            datetime(1, 1, 1, tzinfo=tz(300)),
            "0001-01-01T00:00:00+05:00 is outside the years 1 to 9999 once converted to UTC",
            id="year-1-with-offset-overflows",
        ),
        pytest.param(
            "datetime",
            datetime(9999, 12, 31, 23, tzinfo=tz(-180)),
            "outside the years 1 to 9999",
            id="year-9999-with-offset-overflows",
        ),
        pytest.param(
            "datetime", "0001-01-01T00:00:00+05:00", "outside the years", id="year-1-text"
        ),
        pytest.param("boolean", Decimal("sNaN"), "not a boolean", id="signalling-nan-boolean"),
        pytest.param("boolean", Decimal("NaN"), "not a boolean", id="nan-boolean"),
        pytest.param("currency", Decimal("Infinity"), "not a number", id="infinite-decimal"),
        pytest.param("int", float("nan"), "not a number", id="nan-int"),
        pytest.param("textarea", Unprintable(), "RuntimeError: no text", id="str-raises"),
        pytest.param("multipicklist", [Unprintable()], "RuntimeError", id="item-str-raises"),
        pytest.param("time", 1330, "not a time", id="time-number"),
    ],
)
def test_any_failure_is_a_value_problem(kind: str, value: Any, needle: str) -> None:
    with pytest.raises(ValueProblemError) as info:
        converter_for(FIELDS[kind])(value)
    assert info.value.code == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert needle in str(info.value)


def test_an_overflowing_datetime_rejects_its_record_naming_the_field() -> None:
    fields = [
        field("Id", "id", createable=False, updateable=False),
        field("Key__c", "string", length=20, external_id=True, id_lookup=True),
        FIELDS["datetime"],
    ]
    obj = ObjectInfo(
        name="Thing__c",
        label="Thing",
        label_plural="Things",
        key_prefix="a01",
        createable=True,
        updateable=True,
        deletable=True,
        queryable=True,
        fields={f.name.lower(): f for f in fields},
        relationships={},
    )
    mapper = RecordMapper(
        "things",
        StreamSettings(external_id_field="Key__c", field_mapping={"key": "Key__c", "at": "Ts__c"}),
        obj,
        ["key", "at"],
        lambda _: obj,
    )
    with pytest.raises(RecordRejectedError) as info:
        mapper.convert({"key": "K-1", "at": datetime(1, 1, 1, tzinfo=tz(300))})
    detail = info.value.detail
    assert detail.code == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert detail.message.startswith("stream 'things', record Key__c='K-1': property 'at' -> Ts__c")
    assert detail.fields == ("Ts__c",)


# -- properties ---------------------------------------------------------------------------

offsets = st.integers(min_value=-24 * 60 + 1, max_value=24 * 60 - 1).map(tz)
aware_datetimes = st.datetimes(timezones=offsets)
any_datetimes = st.one_of(st.datetimes(), aware_datetimes)
any_times = st.one_of(st.times(), st.times(timezones=offsets))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(), inner)),
    max_leaves=8,
)
# Text that looks like what each converter parses, so that the parsers are exercised too.
lookalike_text = st.one_of(
    any_datetimes.map(datetime.isoformat),
    st.dates().map(date.isoformat),
    any_times.map(time.isoformat),
    st.decimals().map(str),
    st.integers().map(str),
    st.sampled_from(["true", "no", "Gold;Silver", "Gold;Tin", "001D000000IRFmaIAH", "#N/A", ""]),
    st.from_regex(r"0{0,3}[0-9]{1,4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}.*)?", fullmatch=True),
)
any_input = st.one_of(
    json_values,
    lookalike_text,
    any_datetimes,
    st.dates(),
    any_times,
    st.binary(max_size=8),
)


@settings(max_examples=scaled(300), deadline=None)
@given(kind=st.sampled_from(sorted(FIELDS)), value=any_input)
def test_any_input_converts_to_the_wire_form_or_rejects_the_record(kind: str, value: Any) -> None:
    fld = FIELDS[kind]
    try:
        out = converter_for(fld)(value)
    except ValueProblemError as problem:
        assert problem.code
        return
    assert is_wire_form(fld, out), (kind, value, out)


@given(day=st.dates())
def test_dates_round_trip(day: date) -> None:
    for value in (day, day.isoformat()):
        out = converter_for(FIELDS["date"])(value)
        assert _DATE.fullmatch(out)
        assert date.fromisoformat(out) == day


def _truncated(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@given(moment=any_datetimes)
def test_datetimes_round_trip_in_utc(moment: datetime) -> None:
    try:
        utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        with pytest.raises(ValueProblemError, match="outside the years 1 to 9999"):
            format_datetime(moment)
        return
    for value in (moment, moment.isoformat()):
        out = converter_for(FIELDS["datetime"])(value)
        assert _DATETIME.fullmatch(out)
        assert datetime.fromisoformat(out) == _truncated(utc)


@given(clock=any_times)
def test_times_round_trip_in_utc(clock: time) -> None:
    # The same clock time on an ordinary day, moved to UTC by its offset.
    expected = datetime.combine(date(2000, 6, 15), clock)
    expected = expected.astimezone(UTC) if clock.tzinfo else expected
    for value in (clock, clock.isoformat()):
        out = converter_for(FIELDS["time"])(value)
        assert _TIME.fullmatch(out)
        assert time.fromisoformat(out[:-1]) == _truncated(expected).time()


@given(
    number=st.decimals(
        min_value=Decimal("-99999999999999.99"),
        max_value=Decimal("99999999999999.99"),
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_decimals_round_trip_exactly(number: Decimal) -> None:
    for value in (number, str(number), format(number, "f")):
        out = converter_for(FIELDS["currency"])(value)
        assert isinstance(out, Decimal)
        assert out == number
        assert Decimal(format(out, "f")) == number


@given(number=st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1))
def test_whole_numbers_round_trip_exactly(number: int) -> None:
    for value in (number, Decimal(number), str(number), Decimal(number).scaleb(0)):
        assert converter_for(FIELDS["long"])(value) == number
