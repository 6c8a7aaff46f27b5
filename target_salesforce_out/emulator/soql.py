r"""SOQL for the emulator: tokenizer, parser and evaluator (SOQL and SOSL Reference).

Supports a subset (the emulator's choice): a SELECT list of fields (with child-to-parent paths
such as ``Account.External_Id__c``) or ``COUNT()``, one FROM object, WHERE with comparison,
IN / NOT IN, LIKE, INCLUDES / EXCLUDES, AND / OR / NOT and parentheses, typed literals (quoted
text and ids; bare numbers, booleans, ``null``, dates, datetimes and times), ORDER BY with ASC /
DESC and NULLS FIRST / LAST, LIMIT and OFFSET. Errors carry Salesforce's ``errorCode`` and
the message layout ``\n{query}\n{caret}\nERROR at Row:R:Column:C\n{text}`` seen in real orgs'
query errors (the layout is not documented by Salesforce; the emulator follows recorded
responses).

Paging (``nextRecordsUrl``) is done by responses/query.py on top of :class:`QueryResult`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .definitions import STRING_TYPES
from .ids import normalize as normalize_id

if TYPE_CHECKING:
    from .definitions import FieldDef, ObjectDef
    from .store import Org

__all__ = [
    "MAX_QUERY_LENGTH",
    "Column",
    "QueryResult",
    "SoqlError",
    "execute",
    "unescape_string",
]

MAX_QUERY_LENGTH = 100_000
MAX_OFFSET = 2000

_INVALID_TYPE_TEXT = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom object, be "
    "sure to append the '__c' after the entity name. Please reference your WSDL or the describe "
    "call for the appropriate names."
)
_INVALID_FIELD_TEXT = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, "
    "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
    "describe call for the appropriate names."
)
_BAD_RELATIONSHIP_TEXT = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to use a custom "
    "relationship, be sure to append the '__r' after the custom relationship name. Please "
    "reference your WSDL or the describe call for the appropriate names."
)


# Field type groups, by describe `type`.
# Text-like field types: compared case-insensitively, quoted in literals.
_TEXT_TYPES = STRING_TYPES
_ID_TYPES = frozenset({"id", "reference"})
_INT_TYPES = frozenset({"int", "long"})
_FLOAT_TYPES = frozenset({"double", "currency", "percent"})

_SIMPLE_ESCAPES = {
    "n": "\n",
    "N": "\n",
    "r": "\r",
    "R": "\r",
    "t": "\t",
    "T": "\t",
    "b": "\b",
    "B": "\b",
    "f": "\f",
    "F": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
    # Only meaningful in LIKE; elsewhere they stand for the plain character.
    "_": "_",
    "%": "%",
}

_KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "INCLUDES",
        "EXCLUDES",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "NULL",
        "TRUE",
        "FALSE",
        "GROUP",
        "HAVING",
    }
)

_TOKEN_RE = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2})
    |(?P<time>\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2}))
    |(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
    |(?P<op>!=|<>|<=|>=|=|<|>)
    |(?P<punct>[(),])
    """,
    re.VERBOSE,
)
_AGGREGATE_FUNCTIONS = frozenset({"COUNT", "COUNT_DISTINCT", "MIN", "MAX", "SUM", "AVG"})
# Aggregate results come in one batch (SOQL and SOSL Reference, "Considerations When Using
# GROUP BY": no queryMore()).
MAX_AGGREGATE_ROWS = 2000
_STRING_RE = re.compile(r"'((?:[^'\\]|\\.)*)'", re.DOTALL)


class SoqlError(Exception):
    """A query error answered as HTTP 400 ``[{"message": ..., "errorCode": ...}]``.

    Attributes:
        error_code: Salesforce ``errorCode`` such as ``MALFORMED_QUERY``.
        message: The full ``message`` text, including the query/caret prefix when applicable.
    """

    def __init__(self, error_code: str, message: str) -> None:
        """Create the error.

        Args:
            error_code: Salesforce ``errorCode``.
            message: Complete message text.
        """
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class Column:
    """A field selected by a plain query: the keys leading to its value in a shaped record.

    Attributes:
        path: Relationship names then the field's name, canonical (``("Account", "Name")``).
        type: The field's describe type.
    """

    path: tuple[str, ...]
    type: str

    @property
    def name(self) -> str:
        """The dotted name, e.g. ``Account.Name``."""
        return ".".join(self.path)

    def value(self, record: dict[str, Any]) -> Any:
        """The field's value in a shaped record (None when a parent is missing)."""
        current: Any = record
        for key in self.path:
            if not isinstance(current, dict):
                return None
            current = current.get(key)
        return current


@dataclass
class QueryResult:
    """The evaluated query, records already shaped for the JSON response.

    Attributes:
        total_size: Number of rows matched (``totalSize``); for ``COUNT()`` the count.
        records: Result rows with ``attributes``; empty for ``COUNT()``.
        sobject: The FROM object's API name.
        columns: The selected fields of a plain query, in SELECT order (empty otherwise).
        aggregate: Whether rows are ``AggregateResult`` rows (never paged).
        clauses: Which of ``COUNT()``, ``GROUP BY``, ``aggregate functions`` and ``OFFSET``
            the query uses (Bulk API 2.0 query jobs refuse them).
    """

    total_size: int
    records: list[dict[str, Any]] = field(default_factory=list)
    sobject: str = ""
    columns: list[Column] = field(default_factory=list)
    aggregate: bool = False
    clauses: frozenset[str] = frozenset()


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class _Token:
    kind: str  # ident, string, number, date, datetime, op, punct, eof
    text: str  # source text (string: the body between the quotes, still escaped)
    pos: int  # 0-based offset in the query
    value: Any = None  # decoded value for literals

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "ident" else ""


def _error(query: str, pos: int, code: str, text: str) -> SoqlError:
    """Build an error in the caret layout of real query errors (row/column are 1-based)."""
    line_start = query.rfind("\n", 0, pos) + 1
    row = query.count("\n", 0, pos) + 1
    column = pos - line_start + 1
    caret = " " * (column - 1) + "^"
    return SoqlError(code, f"\n{query}\n{caret}\nERROR at Row:{row}:Column:{column}\n{text}")


def unescape_string(body: str) -> str:
    r"""Decode a quoted SOQL string's body.

    SOQL and SOSL Reference, "Quoted String Escape Sequences".

    Args:
        body: Characters between the single quotes.

    Returns:
        The decoded string (``\_`` and ``\%`` decode to ``_`` and ``%``).

    Raises:
        ValueError: On an escape sequence outside the table; the argument is the bad sequence.
    """
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < n else ""
        if nxt in _SIMPLE_ESCAPES and nxt:
            out.append(_SIMPLE_ESCAPES[nxt])
            i += 2
        elif nxt == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        else:
            raise ValueError("\\" + nxt)
    return "".join(out)


def _like_regex(body: str) -> re.Pattern[str]:
    r"""Compile a LIKE pattern: unescaped ``_``/``%`` are wildcards, ``\_``/``\%`` literal."""
    parts: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt == "u":
                parts.append(re.escape(chr(int(body[i + 2 : i + 6], 16))))
                i += 6
                continue
            parts.append(re.escape(_SIMPLE_ESCAPES[nxt]))
            i += 2
            continue
        if ch == "_":
            parts.append(".")
        elif ch == "%":
            parts.append(".*")
        else:
            parts.append(re.escape(ch))
        i += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    n = len(query)
    while pos < n:
        if query[pos] == "'":
            m = _STRING_RE.match(query, pos)
            if m is None:
                raise _error(
                    query, n, "MALFORMED_QUERY", "mismatched character '<EOF>' expecting '''"
                )
            body = m.group(1)
            try:
                decoded = unescape_string(body)
            except ValueError as exc:
                raise _error(
                    query,
                    pos,
                    "MALFORMED_QUERY",
                    f"Invalid string literal '{body}'. Illegal character sequence '{exc.args[0]}' "
                    "in string literal.",
                ) from None
            tokens.append(_Token("string", body, pos, decoded))
            pos = m.end()
            continue
        m = _TOKEN_RE.match(query, pos)
        if m is None:
            raise _error(query, pos, "MALFORMED_QUERY", f"unexpected token: '{query[pos]}'")
        kind = m.lastgroup or ""
        text = m.group()
        if kind != "ws":
            value: Any = None
            if kind == "number":
                value = float(text) if any(c in text for c in ".eE") else int(text)
            tokens.append(_Token(kind, text, pos, value))
        pos = m.end()
    tokens.append(_Token("eof", "<EOF>", n))
    return tokens


# --------------------------------------------------------------------------- values


def _dt_key(value: str) -> str:
    """Normalise a datetime to a sortable UTC key ``YYYY-MM-DDTHH:MM:SS.mmm``."""
    if len(value) == 28 and value.endswith("+0000"):
        return value[:23]  # the stored REST form, fast path
    text = value.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed.isoformat(timespec="milliseconds")


def _time_key(value: str) -> str:
    """Normalise a time to ``HH:MM:SS.mmm``.

    A time literal is the time part of a dateTime literal, with ``Z`` or an offset. The org
    keeps a time field's clock time as given, with a ``Z`` that does not mean UTC (Salesforce
    Help, "Considerations for the Time Custom Field Type"), so the offset is not applied.
    """
    clock = value[:-1] if value.endswith("Z") else value
    if len(clock) > 8 and clock[-6] in "+-":
        clock = clock[:-6]
    parsed = dt.time.fromisoformat(clock)
    return parsed.isoformat(timespec="milliseconds")


def _date_range(name: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """Inclusive date range of a relative date literal, or None when unknown."""
    upper = name.upper()
    if upper == "TODAY":
        return today, today
    if upper == "YESTERDAY":
        day = today - dt.timedelta(days=1)
        return day, day
    if upper == "TOMORROW":
        day = today + dt.timedelta(days=1)
        return day, day
    m = re.fullmatch(r"(LAST|NEXT)_N_DAYS:(\d+)", upper)
    if m:
        days = int(m.group(2))
        if m.group(1) == "LAST":
            return today - dt.timedelta(days=days), today
        return today + dt.timedelta(days=1), today + dt.timedelta(days=days)
    return None


# --------------------------------------------------------------------------- parser

Getter = Callable[[dict[str, Any]], Any]
Predicate = Callable[[dict[str, Any]], bool]


@dataclass
class _Path:
    """A resolved field reference: relationship hops then a field."""

    hops: list[FieldDef]  # reference fields walked from the FROM object
    target: FieldDef
    getter: Getter


@dataclass
class _Shape:
    """Output tree of the SELECT list (insertion-ordered)."""

    fields: dict[str, FieldDef | _ShapeLink] = field(default_factory=dict)


@dataclass
class _ShapeLink:
    reference: FieldDef
    shape: _Shape


@dataclass
class _Item:
    """One SELECT item as written: a field, or an aggregate function of a field."""

    field: _Token
    function: str | None  # COUNT, COUNT_DISTINCT, MIN, MAX, SUM, AVG
    alias: _Token | None
    start: _Token  # first token of the item, for error carets


@dataclass
class _AggSpec:
    """An aggregate function applied to a field."""

    function: str
    path: _Path

    def evaluate(self, rows: list[dict[str, Any]]) -> Any:
        """The function's value over one group of rows (nulls ignored, as SQL does)."""
        getter = self.path.getter
        ftype = self.path.target.type
        values = [v for v in map(getter, rows) if v is not None]
        if self.function == "COUNT":
            return len(values)
        if self.function == "COUNT_DISTINCT":
            return len({_group_key(ftype, v) for v in values})
        if not values:
            return None
        if self.function in ("MIN", "MAX"):
            pick = min if self.function == "MIN" else max
            return _plain_number(pick(values, key=_value_key(ftype)))
        total = sum(values)
        return _plain_number(total if self.function == "SUM" else total / len(values))


@dataclass
class _Column:
    """One output key of an aggregate query: a grouped field or an aggregate."""

    key: str
    group: int | None  # index in _Aggregate.groups
    spec: _AggSpec | None


# Value of an ORDER BY item over one group's rows, its field type, descending, nulls first.
_GroupOrder = tuple[Callable[[list[dict[str, Any]]], Any], str, bool, bool]


@dataclass
class _Aggregate:
    """What makes a query an aggregate one: GROUP BY fields, output columns, group order."""

    groups: list[_Path]
    columns: list[_Column]
    order: list[_GroupOrder]


@dataclass
class _Query:
    sobject: ObjectDef
    count_only: bool
    shape: _Shape
    where: Predicate | None
    index: tuple[FieldDef, list[Any]] | None
    order: list[tuple[Getter, FieldDef, bool, bool]]  # getter, field, descending, nulls_first
    limit: int | None
    offset: int
    aggregate: _Aggregate | None = None
    items: list[_Item] = field(default_factory=list)


def _value_key(ftype: str) -> Callable[[Any], Any]:
    """How non-null values of a field type compare (MIN, MAX and ORDER BY)."""
    if ftype in _TEXT_TYPES:
        return lambda v: v.lower() if isinstance(v, str) else v
    if ftype == "datetime":
        return lambda v: _dt_key(v) if isinstance(v, str) else v
    if ftype == "time":
        return lambda v: _time_key(v) if isinstance(v, str) else v
    return lambda v: v


def _group_key(ftype: str, value: Any) -> Any:
    """The key rows are grouped by: text ignoring case, datetimes by instant."""
    if value is None:
        return None
    return _value_key(ftype)(value)


def _plain_number(value: Any) -> Any:
    """An integral float as an int, as real orgs return aggregate numbers (``"expr0":30000000``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _path_position(paths: list[_Path], path: _Path) -> int | None:
    """Index of the path naming the same field through the same relationships, or None."""
    wanted = ([h.name for h in path.hops], path.target.name)
    for position, candidate in enumerate(paths):
        if ([h.name for h in candidate.hops], candidate.target.name) == wanted:
            return position
    return None


def _unsupported(query: str, tok: _Token, what: str) -> SoqlError:
    """``MALFORMED_QUERY`` for valid SOQL the emulator does not implement (its own text)."""
    return _error(query, tok.pos, "MALFORMED_QUERY", f"{what} is not supported by the emulator")


class _Parser:
    """Recursive-descent parser that resolves names against the org's schema as it goes."""

    def __init__(self, query: str, org: Org, api_version: str) -> None:
        self.query = query
        self.org = org
        self.api_version = api_version
        self.tokens = _tokenize(query)
        self.i = 0
        self.today = dt.datetime.now(dt.UTC).date()
        # Parent rows are fetched once per query even when many children share them.
        self.parent_cache: dict[str, tuple[str, dict[str, Any]] | None] = {}

    # ---- token helpers
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def unexpected(self, tok: _Token | None = None) -> SoqlError:
        tok = tok or self.tok
        return _error(self.query, tok.pos, "MALFORMED_QUERY", f"unexpected token: '{tok.text}'")

    def keyword(self, word: str) -> bool:
        if self.tok.upper == word:
            self.advance()
            return True
        return False

    def expect_keyword(self, word: str) -> _Token:
        if self.tok.upper != word:
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, char: str) -> _Token:
        if self.tok.kind != "punct" or self.tok.text != char:
            raise self.unexpected()
        return self.advance()

    def is_punct(self, char: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text == char

    # ---- grammar
    def parse(self) -> _Query:
        self.expect_keyword("SELECT")
        count_tok: _Token | None = None
        items: list[_Item] = []
        if (
            self.tok.upper == "COUNT"
            and self.tokens[self.i + 1].text == "("
            and self.tokens[self.i + 2].text == ")"
        ):
            count_tok = self.advance()
            self.expect_punct("(")
            self.expect_punct(")")
        else:
            items.append(self.select_item())
            while self.is_punct(","):
                self.advance()
                items.append(self.select_item())
        self.expect_keyword("FROM")
        obj_tok = self.advance()
        if obj_tok.kind != "ident" or "." in obj_tok.text:
            raise self.unexpected(obj_tok)
        sobject = self.org.schema.get(obj_tok.text)
        if sobject is None:
            raise _error(
                self.query,
                obj_tok.pos,
                "INVALID_TYPE",
                _INVALID_TYPE_TEXT.format(name=obj_tok.text),
            )
        self.sobject = sobject
        where: Predicate | None = None
        index: tuple[FieldDef, list[Any]] | None = None
        if self.keyword("WHERE"):
            where, index = self.condition()
        groups: list[tuple[_Token, _Path]] = []
        if self.tok.upper == "GROUP":
            group_tok = self.advance()
            self.expect_keyword("BY")
            if count_tok is not None:
                # SOQL and SOSL Reference, "COUNT() and COUNT(fieldName)": since v19.0 COUNT()
                # cannot be used with GROUP BY.
                raise _error(
                    self.query,
                    group_tok.pos,
                    "MALFORMED_QUERY",
                    "Grouped query cannot use child relationships or COUNT()",
                )
            groups.append(self.group_item())
            while self.is_punct(","):
                self.advance()
                groups.append(self.group_item())
        if self.tok.upper == "HAVING":
            raise _unsupported(self.query, self.tok, "HAVING")
        aggregate = self.aggregate_plan(items, groups)
        shape = _Shape()
        if aggregate is None:
            for item in items:
                if item.alias is not None:
                    raise _error(
                        self.query,
                        item.alias.pos,
                        "MALFORMED_QUERY",
                        "Only aggregate expressions use field aliasing",
                    )
                self.add_to_shape(shape, item.field)
        order: list[tuple[Getter, FieldDef, bool, bool]] = []
        if self.tok.upper == "ORDER":
            order_tok = self.advance()
            self.expect_keyword("BY")
            if count_tok is not None:
                # SOQL and SOSL Reference, "COUNT() and COUNT(fieldName)".
                raise _error(
                    self.query,
                    order_tok.pos,
                    "MALFORMED_QUERY",
                    "COUNT() and ORDER BY may not be used together",
                )
            if aggregate is not None:
                aggregate.order.append(self.aggregate_order_item(aggregate))
                while self.is_punct(","):
                    self.advance()
                    aggregate.order.append(self.aggregate_order_item(aggregate))
            else:
                order.append(self.order_item())
                while self.is_punct(","):
                    self.advance()
                    order.append(self.order_item())
        limit: int | None = None
        offset = 0
        if self.tok.upper == "LIMIT":
            limit_tok = self.advance()
            limit = self.non_negative_int()
            if aggregate is not None and not aggregate.groups:
                # SOQL and SOSL Reference, "LIMIT": an aggregate function without GROUP BY
                # cannot be limited (the error text is the emulator's choice).
                raise _error(
                    self.query,
                    limit_tok.pos,
                    "MALFORMED_QUERY",
                    "LIMIT is not allowed in an aggregate query without GROUP BY",
                )
        if self.tok.upper == "OFFSET":
            off_tok = self.tok
            self.advance()
            offset = self.non_negative_int()
            if offset > MAX_OFFSET:
                raise _error(
                    self.query,
                    off_tok.pos,
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"maximum SOQL offset allowed is {MAX_OFFSET}",
                )
        if self.tok.kind != "eof":
            raise self.unexpected()
        count_only = count_tok is not None
        return _Query(
            sobject, count_only, shape, where, index, order, limit, offset, aggregate, items
        )

    # ---- SELECT list items and aggregates
    def select_item(self) -> _Item:
        """One SELECT item: a field path or an aggregate function, with an optional alias."""
        tok = self.tok
        if tok.upper in _AGGREGATE_FUNCTIONS and self.tokens[self.i + 1].text == "(":
            self.advance()
            self.expect_punct("(")
            if self.is_punct(")"):
                # COUNT() must be the only item (SOQL and SOSL Reference, "COUNT()").
                raise self.unexpected()
            field_tok = self.field_token()
            self.expect_punct(")")
            return _Item(field_tok, tok.upper, self.alias(), tok)
        field_tok = self.field_token()
        return _Item(field_tok, None, self.alias(), field_tok)

    def alias(self) -> _Token | None:
        """An alias after a SELECT item: a plain name followed by ``,`` or ``FROM``."""
        tok = self.tok
        after = self.tokens[self.i + 1] if tok.kind != "eof" else tok
        if (
            tok.kind == "ident"
            and tok.upper not in _KEYWORDS
            and not any(c in tok.text for c in ".:")
            and (after.upper == "FROM" or (after.kind == "punct" and after.text == ","))
        ):
            return self.advance()
        return None

    def group_item(self) -> tuple[_Token, _Path]:
        tok = self.field_token()
        if self.is_punct("("):
            # GROUP BY ROLLUP(...), CUBE(...) and date functions.
            raise _unsupported(self.query, tok, f"GROUP BY {tok.text}()")
        return tok, self.resolve(tok)

    def aggregate_plan(
        self, items: list[_Item], groups: list[tuple[_Token, _Path]]
    ) -> _Aggregate | None:
        """The output columns of an aggregate query, or None for a plain one.

        SOQL and SOSL Reference, "Aggregate Functions" and "GROUP BY"; Apex Developer Guide,
        "Working with SOQL Aggregate Functions": an aggregated item without an alias is named
        ``expr{i}``, ``i`` counting the unaliased aggregated items from 0.
        """
        if not groups and not any(item.function for item in items):
            return None
        group_paths = [path for _, path in groups]
        columns: list[_Column] = []
        unnamed = 0
        for item in items:
            path = self.resolve(item.field)
            if item.function is None:
                position = _path_position(group_paths, path)
                if position is None:
                    raise _error(
                        self.query,
                        item.field.pos,
                        "MALFORMED_QUERY",
                        f"Field must be grouped or aggregated: {path.target.name}",
                    )
                key = item.alias.text if item.alias is not None else path.target.name
                columns.append(_Column(key, position, None))
                continue
            spec = self.aggregate_spec(item.function, item.start, path)
            if item.alias is not None:
                key = item.alias.text
            else:
                key = f"expr{unnamed}"
                unnamed += 1
            columns.append(_Column(key, None, spec))
        return _Aggregate(group_paths, columns, [])

    def aggregate_spec(self, function: str, tok: _Token, path: _Path) -> _AggSpec:
        ftype = path.target.type
        numeric = ftype in _INT_TYPES or ftype in _FLOAT_TYPES
        if function in ("SUM", "AVG") and not numeric:
            # Text after real orgs' query errors.
            raise _error(
                self.query,
                tok.pos,
                "MALFORMED_QUERY",
                f"field {path.target.name} does not support aggregate operator {function}",
            )
        if function in ("MIN", "MAX") and ftype in ("boolean", "address", "multipicklist"):
            raise _error(
                self.query,
                tok.pos,
                "MALFORMED_QUERY",
                f"field {path.target.name} does not support aggregate operator {function}",
            )
        return _AggSpec(function, path)

    def aggregate_order_item(
        self, aggregate: _Aggregate
    ) -> tuple[Callable[[list[dict[str, Any]]], Any], str, bool, bool]:
        """An ORDER BY item of an aggregate query: a grouped field or an aggregate function."""
        tok = self.tok
        if tok.upper in _AGGREGATE_FUNCTIONS and self.tokens[self.i + 1].text == "(":
            item = self.select_item()
            if item.alias is not None:
                raise self.unexpected(item.alias)
            spec = self.aggregate_spec(item.function or "", tok, self.resolve(item.field))
            value = spec.evaluate
            ftype = (
                "double" if spec.function in ("COUNT", "COUNT_DISTINCT") else spec.path.target.type
            )
        else:
            field_tok = self.field_token()
            path = self.resolve(field_tok)
            position = _path_position(aggregate.groups, path)
            if position is None:
                raise _error(
                    self.query,
                    field_tok.pos,
                    "MALFORMED_QUERY",
                    f"Ordered field must be grouped or aggregated: {path.target.name}",
                )
            getter = path.getter

            def value(rows: list[dict[str, Any]]) -> Any:
                return getter(rows[0]) if rows else None

            ftype = path.target.type
        return (value, ftype, *self.order_direction())

    def non_negative_int(self) -> int:
        tok = self.advance()
        if tok.kind != "number" or not isinstance(tok.value, int) or tok.value < 0:
            raise self.unexpected(tok)
        return tok.value

    def field_token(self) -> _Token:
        tok = self.advance()
        if tok.kind != "ident" or tok.upper in _KEYWORDS or ":" in tok.text:
            raise self.unexpected(tok)
        return tok

    def resolve(self, tok: _Token) -> _Path:
        """Resolve a (dotted) field token against the FROM object, building a getter."""
        parts = tok.text.split(".")
        # `Account.Name` may be written with the FROM object's own name as a prefix.
        own_prefix = len(parts) > 1 and parts[0].lower() == self.sobject.name.lower()
        if own_prefix and self.sobject.by_relationship(parts[0]) is None:
            parts = parts[1:]
        obj = self.sobject
        hops: list[FieldDef] = []
        for rel in parts[:-1]:
            ref = obj.by_relationship(rel)
            if ref is None or not ref.reference_to:
                raise _error(
                    self.query,
                    tok.pos,
                    "INVALID_FIELD",
                    _BAD_RELATIONSHIP_TEXT.format(name=rel),
                )
            hops.append(ref)
            parent = self.org.schema.get(ref.reference_to[0])
            if parent is None:
                raise _error(
                    self.query,
                    tok.pos,
                    "INVALID_FIELD",
                    _BAD_RELATIONSHIP_TEXT.format(name=rel),
                )
            obj = parent
        target = obj.field(parts[-1])
        if target is None:
            raise _error(
                self.query,
                tok.pos,
                "INVALID_FIELD",
                _INVALID_FIELD_TEXT.format(name=tok.text, entity=self.sobject.name),
            )
        return _Path(hops, target, self.make_getter(hops, target))

    def fetch_parent(self, record_id: Any) -> dict[str, Any] | None:
        if not isinstance(record_id, str):
            return None
        cache = self.parent_cache
        if record_id not in cache:
            cache[record_id] = self.org.get(record_id)
        found = cache[record_id]
        return found[1] if found is not None else None

    def make_getter(self, hops: list[FieldDef], target: FieldDef) -> Getter:
        name = target.name
        if not hops:
            return lambda rec: rec.get(name)
        hop_names = [h.name for h in hops]
        fetch = self.fetch_parent

        def getter(rec: dict[str, Any]) -> Any:
            cur = rec
            for hop in hop_names:
                parent = fetch(cur.get(hop))
                if parent is None:
                    return None
                cur = parent
            return cur.get(name)

        return getter

    def add_to_shape(self, shape: _Shape, tok: _Token) -> None:
        path = self.resolve(tok)
        node = shape
        for hop in path.hops:
            rel = hop.relationship_name or hop.name
            link = node.fields.get(rel)
            if not isinstance(link, _ShapeLink):
                link = _ShapeLink(hop, _Shape())
                node.fields[rel] = link
            node = link.shape
        node.fields.setdefault(path.target.name, path.target)

    def order_item(self) -> tuple[Getter, FieldDef, bool, bool]:
        path = self.resolve(self.field_token())
        return (path.getter, path.target, *self.order_direction())

    def order_direction(self) -> tuple[bool, bool]:
        """``[ASC|DESC] [NULLS FIRST|LAST]``: (descending, nulls first).

        Nulls come first when ascending and last when descending unless the query says
        otherwise (SOQL and SOSL Reference, ORDER BY).
        """
        descending = False
        if self.keyword("DESC"):
            descending = True
        else:
            self.keyword("ASC")
        nulls_first = not descending
        if self.keyword("NULLS"):
            if self.keyword("FIRST"):
                nulls_first = True
            else:
                self.expect_keyword("LAST")
                nulls_first = False
        return descending, nulls_first

    # ---- WHERE
    def condition(self) -> tuple[Predicate, tuple[FieldDef, list[Any]] | None]:
        """Parse an OR-expression.

        Returns:
            The predicate and, when the expression is a conjunction containing a plain
            ``Field = x`` / ``Field IN (...)`` term, that term as an index hint: every matching
            row must satisfy it, so the candidate rows can be narrowed before filtering.
        """
        terms = [self.and_expr()]
        while self.keyword("OR"):
            terms.append(self.and_expr())
        if len(terms) == 1:
            return terms[0]
        preds = [pred for pred, _ in terms]

        def any_of(rec: dict[str, Any]) -> bool:
            return any(pred(rec) for pred in preds)

        return any_of, None

    def and_expr(self) -> tuple[Predicate, tuple[FieldDef, list[Any]] | None]:
        hints: list[tuple[FieldDef, list[Any]]] = []
        preds = [self.not_expr(hints)]
        while self.keyword("AND"):
            preds.append(self.not_expr(hints))
        hint = hints[0] if hints else None
        if len(preds) == 1:
            return preds[0], hint
        if len(preds) == 2:
            first, second = preds
            return (lambda rec: first(rec) and second(rec)), hint

        def all_of(rec: dict[str, Any]) -> bool:
            return all(pred(rec) for pred in preds)

        return all_of, hint

    def not_expr(self, hints: list[tuple[FieldDef, list[Any]]]) -> Predicate:
        if self.keyword("NOT"):
            inner = self.not_expr([])
            return lambda rec: not inner(rec)
        if self.is_punct("("):
            self.advance()
            pred, hint = self.condition()
            self.expect_punct(")")
            if hint is not None:
                hints.append(hint)
            return pred
        return self.comparison(hints)

    def comparison(self, hints: list[tuple[FieldDef, list[Any]]]) -> Predicate:
        field_tok = self.field_token()
        path = self.resolve(field_tok)
        op_tok = self.tok
        if op_tok.kind == "op":
            self.advance()
            op = "!=" if op_tok.text == "<>" else op_tok.text
            value_tok = self.advance()
            literal = self.literal(path, value_tok)
            if op == "=" and not path.hops and literal is not None:
                hints.append((path.target, [literal]))
            return self.compare(path, op, literal, value_tok)
        negate = False
        if op_tok.upper == "NOT":
            self.advance()
            negate = True
            if self.tok.upper != "IN":
                raise self.unexpected()
        word = self.tok.upper
        if word == "IN":
            self.advance()
            values = self.value_list(path)
            if not negate and not path.hops and None not in values:
                hints.append((path.target, values))
            return self.in_predicate(path, values, negate)
        if word == "LIKE":
            self.advance()
            value_tok = self.advance()
            if value_tok.kind != "string":
                raise self.unexpected(value_tok)
            self.check_type(path, value_tok, "string")
            pattern = _like_regex(value_tok.text)
            getter = path.getter

            def like(rec: dict[str, Any]) -> bool:
                v = getter(rec)
                return isinstance(v, str) and pattern.fullmatch(v) is not None

            return like
        if word in ("INCLUDES", "EXCLUDES"):
            self.advance()
            if path.target.type != "multipicklist":
                raise _error(
                    self.query,
                    op_tok.pos,
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"{word.lower()} operator is only valid on multipicklist fields",
                )
            terms = [
                frozenset(p.strip().lower() for p in str(v).split(";"))
                for v in self.value_list(path)
            ]
            getter = path.getter
            want = word == "INCLUDES"

            def includes(rec: dict[str, Any]) -> bool:
                v = getter(rec)
                have = frozenset(p.strip().lower() for p in v.split(";")) if v else frozenset()
                return any(t <= have for t in terms) == want

            return includes
        raise self.unexpected()

    def value_list(self, path: _Path) -> list[Any]:
        self.expect_punct("(")
        values = [self.literal(path, self.advance())]
        while self.is_punct(","):
            self.advance()
            values.append(self.literal(path, self.advance()))
        self.expect_punct(")")
        return values

    def check_type(self, path: _Path, tok: _Token, expected_kind: str) -> None:
        ftype = path.target.type
        if ftype in _TEXT_TYPES or ftype in _ID_TYPES:
            label, quoted = ("id" if ftype in _ID_TYPES else "string"), True
        elif ftype in _INT_TYPES or ftype in _FLOAT_TYPES:
            label, quoted = ("integer" if ftype in _INT_TYPES else "double"), False
        elif ftype == "boolean":
            label, quoted = "boolean", False
        elif ftype == "date":
            label, quoted = "date", False
        elif ftype == "datetime":
            label, quoted = "dateTime", False
        elif ftype == "time":
            label, quoted = "time", False
        else:
            return  # base64, ...: no literal checks
        if expected_kind == label or (expected_kind == "string" and label == "id"):
            return
        enclosed = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        raise _error(
            self.query,
            tok.pos,
            "INVALID_QUERY_FILTER_OPERATOR",
            f"value of filter criterion for field '{path.target.name}' must be of type {label} "
            f"and {enclosed}",
        )

    def literal(self, path: _Path, tok: _Token) -> Any:
        """Convert a literal token to the comparable form for the field's type."""
        ftype = path.target.type
        if tok.upper == "NULL":
            return None
        if tok.kind == "string":
            self.check_type(path, tok, "string")
            if ftype in _ID_TYPES:
                canonical = normalize_id(tok.value)
                if canonical is None:
                    raise _error(
                        self.query,
                        tok.pos,
                        "INVALID_QUERY_FILTER_OPERATOR",
                        f"invalid ID field: {tok.value}",
                    )
                return canonical
            if ftype in _TEXT_TYPES:
                return tok.value.lower()
            return tok.value
        if tok.kind == "number":
            self.check_type(path, tok, "integer" if ftype in _INT_TYPES else "double")
            return tok.value
        if tok.upper in ("TRUE", "FALSE"):
            self.check_type(path, tok, "boolean")
            return tok.upper == "TRUE"
        if tok.kind == "date":
            self.check_type(path, tok, "date")
            try:
                day = dt.date.fromisoformat(tok.text)
            except ValueError:
                raise self.unexpected(tok) from None
            return (day.isoformat(), day.isoformat())
        if tok.kind == "datetime":
            self.check_type(path, tok, "dateTime")
            try:
                return _dt_key(tok.text)
            except ValueError:
                raise self.unexpected(tok) from None
        if tok.kind == "time":
            self.check_type(path, tok, "time")
            try:
                return _time_key(tok.text)
            except ValueError:
                raise self.unexpected(tok) from None
        if tok.kind == "ident":
            span = _date_range(tok.text, self.today)
            if span is None:
                raise self.unexpected(tok)
            self.check_type(path, tok, "dateTime" if ftype == "datetime" else "date")
            lo, hi = span
            if ftype == "datetime":
                return (lo.isoformat() + "T00:00:00.000", hi.isoformat() + "T23:59:59.999")
            return (lo.isoformat(), hi.isoformat())
        raise self.unexpected(tok)

    def normaliser(self, target: FieldDef) -> Callable[[Any], Any]:
        """Map a stored value to the form `literal()` produces for the same field type."""
        ftype = target.type
        if ftype in _TEXT_TYPES:
            return lambda v: v.lower() if isinstance(v, str) else v
        if ftype in _ID_TYPES:
            # Stored ids are canonical 18-character ids; literals are normalised in `literal()`.
            return lambda v: v
        if ftype == "datetime":
            return lambda v: _dt_key(v) if isinstance(v, str) else v
        if ftype == "time":
            return lambda v: _time_key(v) if isinstance(v, str) else v
        if ftype == "boolean":
            return bool
        return lambda v: v

    def compare(self, path: _Path, op: str, literal: Any, tok: _Token) -> Predicate:
        getter = path.getter
        norm = self.normaliser(path.target)
        if literal is None:
            if op == "=":
                return lambda rec: getter(rec) is None
            if op == "!=":
                return lambda rec: getter(rec) is not None
            raise _error(
                self.query,
                tok.pos,
                "INVALID_QUERY_FILTER_OPERATOR",
                f"invalid operator on null: {op}",
            )
        if isinstance(literal, tuple):
            # A date or a relative date literal: an inclusive [lo, hi] range.
            lo, hi = literal
            range_tests: dict[str, Callable[[Any], bool]] = {
                "=": lambda k: lo <= k <= hi,
                "!=": lambda k: not lo <= k <= hi,
                "<": lambda k: k < lo,
                "<=": lambda k: k <= hi,
                ">": lambda k: k > hi,
                ">=": lambda k: k >= lo,
            }
            test = range_tests[op]
            if path.target.type == "datetime":
                # Compare at millisecond precision against the day's bounds.
                return self.guard(getter, norm, test, op)
            return self.guard(getter, lambda v: v, test, op)
        point_tests: dict[str, Callable[[Any], bool]] = {
            "=": lambda k: k == literal,
            "!=": lambda k: k != literal,
            "<": lambda k: k < literal,
            "<=": lambda k: k <= literal,
            ">": lambda k: k > literal,
            ">=": lambda k: k >= literal,
        }
        return self.guard(getter, norm, point_tests[op], op)

    @staticmethod
    def guard(
        getter: Getter, norm: Callable[[Any], Any], test: Callable[[Any], bool], op: str
    ) -> Predicate:
        """Apply `test` to a normalised value; SOQL's `!=` also matches nulls."""
        null_result = op == "!="

        def pred(rec: dict[str, Any]) -> bool:
            v = getter(rec)
            if v is None:
                return null_result
            return test(norm(v))

        return pred

    def in_predicate(self, path: _Path, values: list[Any], negate: bool) -> Predicate:
        getter = path.getter
        norm = self.normaliser(path.target)
        want_null = None in values
        points = {v for v in values if v is not None and not isinstance(v, tuple)}
        ranges = [v for v in values if isinstance(v, tuple)]

        def member(rec: dict[str, Any]) -> bool:
            v = getter(rec)
            if v is None:
                return want_null
            k = norm(v)
            if k in points:
                return True
            return any(lo <= k <= hi for lo, hi in ranges)

        if negate:
            return lambda rec: not member(rec)
        return member


# --------------------------------------------------------------------------- evaluation


def _shape_record(
    rec: dict[str, Any],
    type_name: str,
    shape: _Shape,
    parser: _Parser,
    prefix: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": {"type": type_name, "url": f"{prefix}{type_name}/{rec.get('Id')}"}
    }
    for key, node in shape.fields.items():
        if isinstance(node, _ShapeLink):
            parent_id = rec.get(node.reference.name)
            found = parser.parent_cache.get(parent_id) if isinstance(parent_id, str) else None
            if isinstance(parent_id, str) and parent_id not in parser.parent_cache:
                found = parser.org.get(parent_id)
                parser.parent_cache[parent_id] = found
            if found is None:
                out[key] = None
            else:
                out[key] = _shape_record(found[1], found[0], node.shape, parser, prefix)
        else:
            out[key] = rec.get(key)
    return out


def _candidates(org: Org, query: _Query, include_deleted: bool) -> list[dict[str, Any]]:
    """Rows to filter: index lookups for an `Id` / external-id filter, else every row."""
    sobject = query.sobject.name
    if query.index is not None:
        target, values = query.index
        wanted = [v for v in dict.fromkeys(values) if isinstance(v, str)]
        if target.type == "id":
            found = (org.get(v, include_deleted=include_deleted) for v in wanted)
            return [
                row for hit in found if hit is not None and hit[0] == sobject for row in [hit[1]]
            ]
        # The org's index is case-insensitive unless the field is case-sensitive, like SOQL `=`.
        indexed = (target.external_id or target.unique) and not target.case_sensitive
        if indexed and not include_deleted and all(isinstance(v, str) for v in values):
            rows: list[dict[str, Any]] = []
            for value in wanted:
                for rid in org.find(sobject, target.name, value):
                    hit = org.get(rid)
                    if hit is not None:
                        rows.append(hit[1])
            return rows
    return org.rows(sobject, include_deleted=include_deleted)


def _sort_key(getter: Getter, ftype: str) -> Getter:
    """Sort key for non-null values: text case-insensitively, datetimes by UTC instant."""
    if ftype in _TEXT_TYPES:
        return lambda rec: getter(rec).lower()
    if ftype == "datetime":
        return lambda rec: _dt_key(getter(rec))
    return getter


def _sort(rows: list[dict[str, Any]], order: list[tuple[Getter, FieldDef, bool, bool]]) -> None:
    """Stable multi-key sort; each key partitions nulls to the requested end."""
    for getter, target, descending, nulls_first in reversed(order):
        key = _sort_key(getter, target.type)
        nulls = [r for r in rows if getter(r) is None]
        present = [r for r in rows if getter(r) is not None]
        present.sort(key=key, reverse=descending)
        rows[:] = nulls + present if nulls_first else present + nulls


def execute(
    text: str,
    org: Org,
    *,
    include_deleted: bool = False,
    api_version: str = "62.0",
) -> QueryResult:
    """Parse and run a SOQL query against the org.

    Args:
        text: The SOQL text (already URL-decoded).
        org: The emulator's org.
        include_deleted: True for ``queryAll`` (deleted rows too, when the org keeps them).
        api_version: Version used in each record's ``attributes.url``.

    Returns:
        The full match; the caller pages it.

    Raises:
        SoqlError: On any syntax, name or type error, with Salesforce's code and message.
    """
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "SOQL statements cannot be empty or null")
    if len(text) > MAX_QUERY_LENGTH:
        # The 100,000-character limit is documented (Salesforce Developer Limits and Allocations
        # Quick Reference, "SOQL and SOSL Limits"); the message text is not documented by
        # Salesforce: the emulator's choice.
        raise SoqlError(
            "MALFORMED_QUERY",
            f"SOQL statements cannot be longer than {MAX_QUERY_LENGTH:,} characters.",
        )
    parser = _Parser(text, org, api_version)
    query = parser.parse()
    rows = _candidates(org, query, include_deleted)
    where = query.where
    matched = [r for r in rows if where(r)] if where is not None else list(rows)
    clauses = _clauses(query)
    if query.aggregate is not None:
        records = _aggregate_records(query, query.aggregate, matched)
        return QueryResult(
            total_size=len(records),
            records=records,
            sobject=query.sobject.name,
            aggregate=True,
            clauses=clauses,
        )
    if query.order:
        _sort(matched, query.order)
    if query.offset:
        matched = matched[query.offset :]
    if query.limit is not None:
        matched = matched[: query.limit]
    if query.count_only:
        return QueryResult(
            total_size=len(matched), records=[], sobject=query.sobject.name, clauses=clauses
        )
    prefix = f"/services/data/v{api_version}/sobjects/"
    type_name = query.sobject.name
    records = [_shape_record(r, type_name, query.shape, parser, prefix) for r in matched]
    return QueryResult(
        total_size=len(records),
        records=records,
        sobject=type_name,
        columns=_columns(parser, query),
        clauses=clauses,
    )


def _clauses(query: _Query) -> frozenset[str]:
    found = set()
    if query.count_only:
        found.add("COUNT()")
    if query.aggregate is not None and query.aggregate.groups:
        found.add("GROUP BY")
    if any(item.function for item in query.items):
        found.add("aggregate functions")
    if query.offset:
        found.add("OFFSET")
    return frozenset(found)


def _columns(parser: _Parser, query: _Query) -> list[Column]:
    """The selected fields in SELECT order, each once (as the JSON shape keeps them)."""
    out: dict[tuple[str, ...], Column] = {}
    for item in query.items:
        path = parser.resolve(item.field)
        keys = (*(h.relationship_name or h.name for h in path.hops), path.target.name)
        out.setdefault(keys, Column(keys, path.target.type))
    return list(out.values())


def _aggregate_records(
    query: _Query, aggregate: _Aggregate, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``AggregateResult`` rows: one per group (one in all without GROUP BY).

    The order of groups without ORDER BY is not documented by Salesforce; the emulator keeps the
    order in which each group's first row was found.
    """
    if aggregate.groups:
        found: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in rows:
            key = tuple(_group_key(p.target.type, p.getter(row)) for p in aggregate.groups)
            found.setdefault(key, []).append(row)
        buckets = list(found.values())
    else:
        buckets = [rows]
    for value, ftype, descending, nulls_first in reversed(aggregate.order):
        sort_key = _value_key(ftype)
        nulls = [b for b in buckets if value(b) is None]
        present = [b for b in buckets if value(b) is not None]
        present.sort(key=lambda b: sort_key(value(b)), reverse=descending)
        buckets = nulls + present if nulls_first else present + nulls
    if query.offset:
        buckets = buckets[query.offset :]
    if query.limit is not None:
        buckets = buckets[: query.limit]
    if len(buckets) > MAX_AGGREGATE_ROWS:
        # Text seen in real orgs; the errorCode is not documented by Salesforce (the
        # emulator's choice).
        raise SoqlError(
            "MALFORMED_QUERY",
            "Aggregate query does not support queryMore(), use LIMIT to restrict the results to "
            "a single batch",
        )
    records = []
    for bucket in buckets:
        record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
        for column in aggregate.columns:
            if column.spec is not None:
                record[column.key] = column.spec.evaluate(bucket)
            else:
                group = aggregate.groups[column.group or 0]
                record[column.key] = group.getter(bucket[0]) if bucket else None
        records.append(record)
    return records
