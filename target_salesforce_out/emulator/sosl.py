r"""SOSL for the emulator: ``FIND {term} [IN x FIELDS] [RETURNING Object(fields), ...] [LIMIT n]``.

SOQL and SOSL Reference, "SOSL Syntax", "FIND {SearchQuery}", "IN SearchGroup", "RETURNING
FieldSpec" and "LIMIT n". The subset is the emulator's choice: a search query of words, each
matched case-insensitively against whole words of a record's text fields (``*`` matches any run
of characters, ``?`` one character, ``\`` escapes), all words required (SOSL's implicit AND); a
search group of ``ALL``, ``NAME``, ``EMAIL`` or ``PHONE`` fields; RETURNING objects with a plain
field list. Anything else (``AND``/``OR``/``NOT``, quoted phrases, WHERE, ORDER BY or LIMIT
inside RETURNING, WITH, OFFSET, ``SIDEBAR`` fields, ...) is refused with ``MALFORMED_SEARCH``
naming what is not supported. Without RETURNING every object that can be created is searched and
only Ids come back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import soql
from .definitions import STRING_TYPES

if TYPE_CHECKING:
    from .definitions import FieldDef, ObjectDef
    from .store import Org

__all__ = ["MAX_LIMIT", "SoslError", "search"]

# SOQL and SOSL Reference, "LIMIT n": at most 2,000 results (the default and the cap).
MAX_LIMIT = 2000
_GROUPS: dict[str, Callable[[FieldDef], bool]] = {
    "ALL": lambda f: f.type in STRING_TYPES,
    "NAME": lambda f: f.name_field or f.name in ("FirstName", "LastName"),
    "EMAIL": lambda f: f.type == "email",
    "PHONE": lambda f: f.type == "phone",
}
_OPERATORS = frozenset({"AND", "OR", "NOT", "AND NOT"})
_WORD_SPLIT = re.compile(r"[^0-9A-Za-z_\u00c0-\uffff]+")
_CLAUSE_WORDS = ("WHERE", "ORDER", "LIMIT", "OFFSET", "USING")


class SoslError(Exception):
    """A search error answered as HTTP 400 ``[{"message": ..., "errorCode": ...}]``."""

    def __init__(self, error_code: str, message: str) -> None:
        """Create the error.

        Args:
            error_code: Salesforce ``errorCode``.
            message: The message text.
        """
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


@dataclass
class _Returning:
    name: str
    fields: list[str] = field(default_factory=list)


@dataclass
class _Search:
    words: list[re.Pattern[str]]
    group: str
    returning: list[_Returning]
    limit: int


def _unsupported(what: str) -> SoslError:
    return SoslError("MALFORMED_SEARCH", f"{what} is not supported by the emulator")


def _split_term(text: str) -> tuple[str, str]:
    """The search query between the braces after FIND, and the rest of the statement."""
    match = re.match(r"\s*FIND\s*", text, re.IGNORECASE)
    if match is None or not text[match.end() :].startswith("{"):
        # Text seen in real orgs' search errors.
        raise SoslError(
            "MALFORMED_SEARCH",
            "No search term found. The search term must be enclosed in braces.",
        )
    i = match.end() + 1
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        if ch == "}":
            return "".join(out), text[i + 1 :]
        out.append(ch)
        i += 1
    raise SoslError("MALFORMED_SEARCH", "No closing brace found for the search term.")


def _word_pattern(word: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(word):
        ch = word[i]
        if ch == "\\" and i + 1 < len(word):
            parts.append(re.escape(word[i + 1]))
            i += 2
            continue
        parts.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _words(term: str) -> list[re.Pattern[str]]:
    if '"' in term:
        raise _unsupported("A quoted phrase in the search query")
    raw = term.split()
    for word in raw:
        if word.upper() in _OPERATORS:
            raise _unsupported(f"The {word.upper()} operator in the search query")
        if word.startswith(("(", ")")) or word.endswith(("(", ")")):
            raise _unsupported("Parentheses in the search query")
    # Punctuation separates words in indexed text, so it does in the query too (an email
    # address is three words); a backslash keeps the next character.
    words = [w for r in raw for w in re.split(r"(?<!\\)[^0-9A-Za-z_*?\\\u00c0-\uffff]+", r) if w]
    bare = "".join(words).replace("*", "").replace("?", "").replace("\\", "")
    if len(bare) < 2:
        # Text seen in real orgs' search errors.
        raise SoslError("MALFORMED_SEARCH", "search term must be longer than one character")
    return [_word_pattern(w) for w in words]


def _parse(text: str) -> _Search:
    term, rest = _split_term(text)
    words = _words(term)
    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_.]*|\d+|[(),]|\S", rest)
    i = 0

    def peek(offset: int = 0) -> str:
        return tokens[i + offset] if i + offset < len(tokens) else ""

    group = "ALL"
    returning: list[_Returning] = []
    limit = MAX_LIMIT
    if peek().upper() == "IN":
        group = peek(1).upper()
        if group not in _GROUPS or peek(2).upper() != "FIELDS":
            raise _unsupported(f"IN {peek(1)} {peek(2)}".strip())
        i += 3
    if peek().upper() == "RETURNING":
        i += 1
        while True:
            name = peek()
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise SoslError("MALFORMED_SEARCH", f"unexpected token: '{name or '<EOF>'}'")
            spec = _Returning(name)
            i += 1
            if peek() == "(":
                i += 1
                while peek() != ")":
                    word = peek()
                    if not word:
                        raise SoslError("MALFORMED_SEARCH", "unexpected token: '<EOF>'")
                    if word.upper() in _CLAUSE_WORDS:
                        raise _unsupported(f"{word.upper()} inside RETURNING")
                    if word != ",":
                        spec.fields.append(word)
                    i += 1
                i += 1
            returning.append(spec)
            if peek() != ",":
                break
            i += 1
    if peek().upper() == "LIMIT":
        count = peek(1)
        if not count.isdigit():
            raise SoslError("MALFORMED_SEARCH", f"unexpected token: '{count or '<EOF>'}'")
        limit = min(int(count), MAX_LIMIT)
        i += 2
    if peek():
        raise _unsupported(f"'{peek()}' after the search query")
    return _Search(words, group, returning, limit)


def _matches(words: list[re.Pattern[str]], texts: list[str]) -> bool:
    tokens = [t for text in texts for t in _WORD_SPLIT.split(text) if t]
    return all(any(w.fullmatch(t) for t in tokens) for w in words)


def search(text: str, org: Org, *, api_version: str) -> list[dict[str, Any]]:
    """Run a SOSL search.

    Args:
        text: The SOSL statement (the ``q`` parameter, URL-decoded).
        org: The emulator's org.
        api_version: Version used in each record's ``attributes.url``.

    Returns:
        The ``searchRecords``: per object in RETURNING order, records with ``attributes`` and
        the listed fields (only ``Id`` when none are listed).

    Raises:
        SoslError: For a malformed or unsupported search, an unknown object or field.
    """
    if not text.strip():
        raise SoslError("MALFORMED_SEARCH", "No search term found.")
    parsed = _parse(text)
    targets: list[tuple[ObjectDef, list[str]]] = []
    if parsed.returning:
        for spec in parsed.returning:
            obj = org.schema.get(spec.name)
            if obj is None:
                raise SoslError(
                    "INVALID_TYPE",
                    f"sObject type '{spec.name}' is not supported. If you are attempting to use "
                    "a custom object, be sure to append the '__c' after the entity name. Please "
                    "reference your WSDL or the describe call for the appropriate names.",
                )
            targets.append((obj, spec.fields))
    else:
        targets = [(obj, []) for obj in org.schema.objects if obj.createable and obj.queryable]
    found: list[dict[str, Any]] = []
    searched = _GROUPS[parsed.group]
    for obj, fields in targets:
        names = [f.name for f in obj.fields if searched(f)]
        hits = {
            str(row["Id"])
            for row in org.rows(obj.name)
            if _matches(parsed.words, [str(row[n]) for n in names if row.get(n)])
        }
        if not hits:
            continue
        selected = ", ".join(fields) if fields else "Id"
        try:
            result = soql.execute(
                # The in-memory evaluator parses the text; nothing reaches a database.
                f"SELECT {selected} FROM {obj.name}",  # noqa: S608
                org,
                api_version=api_version,
            )
        except soql.SoqlError as exc:
            # The SOQL text is the emulator's own; keep only the reason.
            raise SoslError(exc.error_code, exc.message.rsplit("\n", 1)[-1]) from None
        for record in result.records:
            if str(record["attributes"]["url"]).rsplit("/", 1)[-1] in hits:
                found.append(record)
    return found[: parsed.limit]
