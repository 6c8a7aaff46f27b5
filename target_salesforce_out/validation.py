"""Record validation against the stream's SCHEMA, read in the SCHEMA's own JSON Schema dialect.

Dialect. Taps write different drafts, and one keyword can mean two things: in draft 4
``"maximum": 100, "exclusiveMaximum": true`` is a bound and a flag (JSON Schema Validation,
draft 4, section 5.1.2); from draft 6 on ``exclusiveMaximum`` is the bound itself, so a later
reader takes ``true`` for the number 1 and rejects every record. The dialect is chosen once:

1. the draft that ``$schema`` names (draft 3, 4, 6, 7, 2019-09 or 2020-12);
2. without a ``$schema`` it knows: draft 4 when a boolean ``exclusiveMinimum`` or
   ``exclusiveMaximum`` appears anywhere (the pipelinewise taps); else draft 7 when ``items``
   is a list or ``additionalItems``/``dependencies`` appear; else 2020-12, singer-sdk's own.

A misread or broken SCHEMA never rejects a record. The SCHEMA is checked against its dialect's
meta-schema first; every keyword that is invalid there is dropped (a property's schema that is
not a schema at all becomes ``{}``), with one warning naming the stream and the keyword.
Dropping a keyword only ever lets more records through. A record that the validator cannot
judge at all (an exception instead of a verdict) is let through with one warning as well; the
per-field conversion still checks every value against its Salesforce field.

``multipleOf`` is decided exactly, in decimal: tap-postgres writes ``"multipleOf": 0.01`` for
``numeric(p, 2)``, and binary floats reject 0.07 (0.07 / 0.01 is 7.000000000000001), while the
``Decimal`` numbers singer-sdk's reader produces cannot be divided by a float at all.

Speed. jsonschema walks the schema anew for every record and costs more than everything else
the target does with a record. fastjsonschema compiles the schema to Python code once and is
several times faster, so it answers first; only a record it does not accept is checked by
jsonschema, which then decides and describes the error. The outcome is exactly jsonschema's as
long as fastjsonschema never accepts a record that jsonschema rejects; that holds for the
keywords both read the same way in the chosen dialect, so a schema using any other keyword
(``$ref``, ``prefixItems``, ``unevaluatedProperties``...) is left to jsonschema alone.
fastjsonschema's ``multipleOf`` rounds to 28 digits, so it never sees that keyword: the
``multipleOf`` of a top-level property is checked here exactly, and a schema with one anywhere
else is left to jsonschema. ``tests/target/test_validation.py`` checks the two against each other.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import fastjsonschema
from jsonschema import ValidationError, validators
from jsonschema.protocols import Validator
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks.core import BaseJSONSchemaValidator

LOGGER = logging.getLogger("target_salesforce_out.validation")

# -- dialects ------------------------------------------------------------------------------------

DRAFT3 = validators.Draft3Validator
DRAFT4 = validators.Draft4Validator
DRAFT6 = validators.Draft6Validator
DRAFT7 = validators.Draft7Validator
DRAFT2019 = validators.Draft201909Validator
DRAFT2020 = validators.Draft202012Validator

# What a ``$schema`` URI contains, for each dialect (with or without "#", http or https).
_SCHEMA_URIS: tuple[tuple[str, type[Validator]], ...] = (
    ("draft-03", DRAFT3),
    ("draft-04", DRAFT4),
    ("draft-06", DRAFT6),
    ("draft-07", DRAFT7),
    ("draft/2019-09", DRAFT2019),
    ("draft/2020-12", DRAFT2020),
)
DIALECT_NAMES: dict[type[Validator], str] = {
    DRAFT3: "draft 3",
    DRAFT4: "draft 4",
    DRAFT6: "draft 6",
    DRAFT7: "draft 7",
    DRAFT2019: "draft 2019-09",
    DRAFT2020: "draft 2020-12",
}

# Keywords whose value is a map of names to schemas, a list of schemas, or one schema; the
# walk below needs them to tell a keyword from a property that happens to share its name.
_SCHEMA_MAP_KEYWORDS = frozenset(
    {"properties", "patternProperties", "definitions", "$defs", "dependentSchemas"}
)
_SCHEMA_LIST_KEYWORDS = frozenset({"anyOf", "allOf", "oneOf", "prefixItems"})
_SCHEMA_KEYWORDS = frozenset(
    {
        "not",
        "items",
        "additionalItems",
        "additionalProperties",
        "propertyNames",
        "contains",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)


def subschemas(schema: Any) -> Iterator[dict[str, Any]]:
    """Every schema object inside ``schema`` (itself included), keyword by keyword."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key, value in schema.items():
        if key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            for sub in value.values():
                yield from subschemas(sub)
        elif key in _SCHEMA_LIST_KEYWORDS or (key == "items" and isinstance(value, list)):
            if isinstance(value, list):
                for sub in value:
                    yield from subschemas(sub)
        elif key in _SCHEMA_KEYWORDS or key == "dependencies":
            if key == "dependencies" and isinstance(value, dict):
                for sub in value.values():
                    yield from subschemas(sub)
            else:
                yield from subschemas(value)


def dialect_of(schema: Any) -> tuple[type[Validator], str]:
    """The validator class for ``schema`` and how it was chosen (for the log)."""
    declared = schema.get("$schema") if isinstance(schema, dict) else None
    if isinstance(declared, str):
        for marker, cls in _SCHEMA_URIS:
            if marker in declared:
                return cls, f"$schema {declared}"
    found_draft4 = found_draft7 = False
    for sub in subschemas(schema):
        if isinstance(sub.get("exclusiveMinimum"), bool) or isinstance(
            sub.get("exclusiveMaximum"), bool
        ):
            found_draft4 = True
        if isinstance(sub.get("items"), list) or "additionalItems" in sub or "dependencies" in sub:
            found_draft7 = True
    if found_draft4:
        return DRAFT4, "a boolean exclusiveMinimum/exclusiveMaximum (draft 4)"
    if found_draft7:
        return DRAFT7, "a list under items, additionalItems or dependencies (draft 7)"
    return DRAFT2020, "no draft-specific keyword (singer-sdk's default, 2020-12)"


# -- exact multipleOf ----------------------------------------------------------------------------


def _exact(number: Any) -> Decimal | None:
    """A JSON number as an exact decimal; a float counts as the shortest text that reads back."""
    if isinstance(number, bool):
        return None
    if isinstance(number, Decimal):
        return number if number.is_finite() else None
    if isinstance(number, int):
        return Decimal(number)
    if isinstance(number, float):
        return Decimal(repr(number)) if math.isfinite(number) else None
    return None


def _coefficient(number: Decimal) -> int:
    # Built from the digits, exactly however many there are (arithmetic would round past 28).
    return int(Decimal((0, number.as_tuple().digits, 0)))


def is_multiple_of(value: Any, step: Any) -> bool:
    """Whether ``value`` is an integer multiple of ``step``, exactly, without huge numbers.

    ``value`` is ``a * 10**ea`` and ``step`` is ``b * 10**eb`` with integers ``a`` and ``b``:
    the quotient is whole when ``a * 10**(ea - eb)`` is divisible by ``b``. A positive power is
    reduced modulo ``b``; a negative one needs ``a`` to have more digits than the power.
    """
    a, b = _exact(value), _exact(step)
    if a is None or b is None or b <= 0:
        return False
    if a.is_zero():
        return True
    a_int, b_int = _coefficient(a), _coefficient(b)
    a_exp, b_exp = a.as_tuple().exponent, b.as_tuple().exponent
    assert isinstance(a_exp, int)
    assert isinstance(b_exp, int)
    shift = a_exp - b_exp
    if shift >= 0:
        return (a_int % b_int) * pow(10, shift, b_int) % b_int == 0
    if -shift >= len(a.as_tuple().digits):
        return False  # 0 < a < 10**-shift <= b * 10**-shift
    return bool(a_int % (b_int * 10**-shift) == 0)


def _multiple_of(
    validator: Validator, step: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "number") and not is_multiple_of(instance, step):
        yield ValidationError(f"{instance!r} is not a multiple of {step}")


_EXACT: dict[type[Validator], type[Validator]] = {
    cls: validators.extend(cls, {"multipleOf": _multiple_of})  # type: ignore[no-untyped-call]
    for cls in DIALECT_NAMES
}


# -- schemas that are invalid in their dialect --------------------------------------------------


def _kinds(schema: Any, path: list[Any]) -> list[str]:
    """For each step of ``path``, what its parent is: schema, map, list or value."""
    kinds, kind, node = [], "schema", schema
    for step in path:
        kinds.append(kind)
        if kind == "schema":
            if step in _SCHEMA_MAP_KEYWORDS or step == "dependencies":
                kind = "map"
            elif step in _SCHEMA_LIST_KEYWORDS or (
                step == "items" and isinstance(node, dict) and isinstance(node.get(step), list)
            ):
                kind = "list"
            elif step not in _SCHEMA_KEYWORDS:
                kind = "value"
        elif kind in {"map", "list"}:
            kind = "schema"
        node = _at(node, [step])
    return kinds


def _at(schema: Any, path: list[Any]) -> Any:
    """The node at ``path``, or None when an earlier repair removed it."""
    node = schema
    for step in path:
        found = (isinstance(node, dict) and step in node) or (
            isinstance(node, list) and isinstance(step, int) and step < len(node)
        )
        if not found:
            return None
        node = node[step]
    return node


def _repair(schema: Any, error: ValidationError) -> list[Any] | None:
    """Widen ``schema`` in place so ``error`` goes away.

    Returns:
        The path of what was dropped; ``[]`` when an earlier repair already removed the
        cause; None when nothing short of the whole schema can go.
    """
    path = list(error.path)
    node = _at(schema, path)
    if error.validator in {"dependencies", "dependentRequired"} and isinstance(node, dict):
        # Draft 4: "exclusiveMaximum" needs "maximum" beside it; drop the lone flag.
        needed: Any = error.validator_value
        for key, needs in dict(needed).items():
            if key in node and isinstance(needs, list) and any(n not in node for n in needs):
                del node[key]
                return [*path, key]
        return []
    kinds = _kinds(schema, path)
    for index in range(len(path) - 1, -1, -1):
        parent = _at(schema, path[:index])
        if not isinstance(parent, dict) or path[index] not in parent:
            continue
        if kinds[index] == "schema":
            del parent[path[index]]
            return path[: index + 1]
        if kinds[index] == "map":
            # A property whose schema is unusable accepts anything (dropping it from
            # "properties" would make it an additional property, and could reject more).
            parent[path[index]] = {}
            return path[: index + 1]
    return None


def _what(schema: Any, path: list[Any]) -> str:
    """How a dropped spot is named in the warning."""
    if _kinds(schema, path)[-1] == "map":
        return f"the schema of property {path[-1]!r} at {'.'.join(map(str, path))}"
    return f"keyword {path[-1]!r} at {'.'.join(map(str, path))}"


def usable_schema(schema: Any, dialect: type[Validator], stream: str) -> dict[str, Any] | bool:
    """``schema`` less every keyword that is invalid in ``dialect``, each dropped with a warning."""
    name = DIALECT_NAMES[dialect]
    if not isinstance(schema, dict | bool):
        LOGGER.warning(
            "stream %r: the SCHEMA is not a JSON Schema object; records are not checked against it",
            stream,
        )
        return True
    fixed: dict[str, Any] | bool = copy.deepcopy(schema)
    checker = dialect(dialect.META_SCHEMA)
    # Each round repairs every error found (the meta-schema reports one spot several times);
    # the next round confirms, or finds what a repair uncovered.
    for _ in range(100):
        errors = list(checker.iter_errors(fixed))
        if not errors:
            return fixed
        dropped: list[list[Any]] = []
        progress = False
        for error in errors:
            if any(list(error.path)[: len(d)] == d for d in dropped):
                continue
            where = _repair(fixed, error)
            if where is None:
                continue
            progress = True
            if not where:
                continue
            dropped.append(where)
            LOGGER.warning(
                "stream %r: in the SCHEMA, %s is not valid JSON Schema %s (%s); it is ignored, "
                "so no record is rejected for it",
                stream,
                _what(fixed, where),
                name,
                error.message,
            )
        if not progress:
            break
    LOGGER.warning(
        "stream %r: the SCHEMA is not valid JSON Schema %s; records are not checked against it",
        stream,
        name,
    )
    return True


# -- the fast path -------------------------------------------------------------------------------

# Keywords that fastjsonschema reads like jsonschema in every dialect it is used for, with
# values of the given kinds. Annotations change nothing; "inclusion" and "selected" are Singer
# catalog annotations that older taps leave in their SCHEMA messages.
_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "readOnly",
        "writeOnly",
        "inclusion",
        "selected",
    }
)
_BOUND_KEYWORDS = frozenset({"minimum", "maximum"})
_EXCLUSIVE_KEYWORDS = frozenset({"exclusiveMinimum", "exclusiveMaximum"})
_COUNT_KEYWORDS = frozenset(
    {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"}
)
_FAST_SCHEMA_KEYWORDS = frozenset({"not", "additionalProperties", "items"})
_FAST_LIST_KEYWORDS = frozenset({"anyOf", "allOf", "oneOf"})
_OTHER_KEYWORDS = frozenset({"type", "required", "pattern", "format", "uniqueItems"})
# The fastjsonschema draft that reads each dialect's fast-path keywords the same way.
_FAST_DRAFT: dict[type[Validator], str] = {
    DRAFT4: "http://json-schema.org/draft-04/schema#",
    DRAFT6: "http://json-schema.org/draft-06/schema#",
    DRAFT7: "http://json-schema.org/draft-07/schema#",
    DRAFT2019: "http://json-schema.org/draft-07/schema#",
    DRAFT2020: "http://json-schema.org/draft-07/schema#",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _is_text_or_null(value: Any) -> bool:
    # fastjsonschema compares enum and const with ==, where True == 1 == Decimal("1.0");
    # jsonschema tells them apart.
    return value is None or isinstance(value, str)


def fast_path_applies(schema: Any, *, draft4: bool = False) -> bool:
    """True when every keyword in ``schema`` is one fastjsonschema reads like jsonschema.

    ``multipleOf`` never is (see the module docstring); ``const`` does not exist in draft 4,
    where exclusive bounds are flags; ``enum`` and ``const`` only with text or null values.
    """
    if isinstance(schema, bool):
        return not draft4  # boolean schemas arrived in draft 6
    if not isinstance(schema, dict):
        return False
    for key, value in schema.items():
        if key in _ANNOTATIONS or key == "$schema":
            continue
        if key in _BOUND_KEYWORDS:
            ok = _is_number(value)
        elif key in _EXCLUSIVE_KEYWORDS:
            ok = isinstance(value, bool) if draft4 else _is_number(value)
        elif key in _COUNT_KEYWORDS:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif key in {"properties", "patternProperties"}:
            ok = isinstance(value, dict) and all(
                fast_path_applies(s, draft4=draft4) for s in value.values()
            )
        elif key in _FAST_LIST_KEYWORDS:
            ok = isinstance(value, list) and all(fast_path_applies(s, draft4=draft4) for s in value)
        elif key in _FAST_SCHEMA_KEYWORDS:
            # A list under "items" is a tuple in drafts 4-7 and an error in 2020-12.
            ok = fast_path_applies(value, draft4=draft4)
        elif key == "enum":
            ok = isinstance(value, list) and all(_is_text_or_null(v) for v in value)
        elif key == "const":
            ok = not draft4 and _is_text_or_null(value)
        else:
            ok = key in _OTHER_KEYWORDS
        if not ok:
            return False
    return True


def _split_multiples(schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``schema`` without its top-level properties' ``multipleOf``, and those steps by name."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return schema, {}
    steps = {
        name: sub["multipleOf"]
        for name, sub in properties.items()
        if isinstance(sub, dict) and "multipleOf" in sub
    }
    if not steps:
        return schema, {}
    stripped = {
        name: {k: v for k, v in sub.items() if k != "multipleOf"} if name in steps else sub
        for name, sub in properties.items()
    }
    return {**schema, "properties": stripped}, steps


def compile_fast(
    schema: Any, dialect: type[Validator] = DRAFT2020
) -> tuple[Callable[[Any], Any], dict[str, Any]] | None:
    """The compiled fastjsonschema validator and the exact steps to check beside it.

    None when jsonschema must decide alone.
    """
    if not isinstance(schema, dict) or dialect not in _FAST_DRAFT:
        return None
    stripped, steps = _split_multiples(schema)
    if not fast_path_applies(stripped, draft4=dialect is DRAFT4):
        return None
    try:
        # No defaults filled into records, and no format checks (jsonschema makes none).
        compiled = fastjsonschema.compile(
            {**stripped, "$schema": _FAST_DRAFT[dialect]}, use_default=False, use_formats=False
        )
    except fastjsonschema.JsonSchemaDefinitionException:
        return None
    return compiled, steps


# -- the validator -------------------------------------------------------------------------------


class RecordValidator(BaseJSONSchemaValidator):
    """Validates records as jsonschema does in the SCHEMA's dialect, mostly at compiled speed."""

    def __init__(self, schema: dict[str, Any], *, stream: str = "") -> None:
        """Choose the dialect, drop what is invalid in it, compile both validators.

        Args:
            schema: The stream's SCHEMA.
            stream: Stream name, for the warnings about the SCHEMA.
        """
        super().__init__(schema)
        self.stream = stream
        self.dialect, reason = dialect_of(schema)
        declared = schema.get("$schema") if isinstance(schema, dict) else None
        if declared is not None and not reason.startswith("$schema"):
            LOGGER.warning(
                "stream %r: $schema %r names no JSON Schema draft the target knows; the SCHEMA "
                "is read as %s, found by %s",
                stream,
                declared,
                DIALECT_NAMES[self.dialect],
                reason,
            )
        else:
            # Worth a line only when the SCHEMA is not read as singer-sdk's default.
            level = logging.DEBUG if self.dialect is DRAFT2020 else logging.INFO
            LOGGER.log(
                level,
                "stream %r: SCHEMA read as JSON Schema %s (%s)",
                stream,
                DIALECT_NAMES[self.dialect],
                reason,
            )
        self.usable = usable_schema(schema, self.dialect, stream)
        self._full = _EXACT[self.dialect](self.usable)
        fast = compile_fast(self.usable, self.dialect)
        self._fast: Callable[[Any], Any] | None = fast[0] if fast is not None else None
        self._steps: dict[str, Any] = fast[1] if fast is not None else {}
        self._failed_once = False

    @property
    def uses_fast_path(self) -> bool:
        """Whether fastjsonschema checks records before jsonschema."""
        return self._fast is not None

    def first_error(self, record: dict[str, Any]) -> ValidationError | None:
        """The first error jsonschema finds in ``record``, or None when it is valid."""
        if self._fast is not None and self._fast_accepts(record):
            return None
        try:
            return next(iter(self._full.iter_errors(record)), None)
        except Exception as exc:  # a schema jsonschema cannot apply is no reason to reject
            if not self._failed_once:
                self._failed_once = True
                LOGGER.warning(
                    "stream %r: the SCHEMA could not be applied to a record (%s: %s); such "
                    "records are not checked against it",
                    self.stream,
                    type(exc).__name__,
                    exc,
                )
            return None

    def _fast_accepts(self, record: dict[str, Any]) -> bool:
        assert self._fast is not None
        try:
            self._fast(record)
        except Exception:
            # Rejected, or a value fastjsonschema cannot judge: jsonschema decides.
            return False
        for name, step in self._steps.items():
            value = record.get(name)
            if _is_number(value) and not is_multiple_of(value, step):
                return False
        return True

    def validate(self, record: dict[str, Any]) -> None:
        """Raise :class:`InvalidRecord` with jsonschema's message when ``record`` is invalid.

        Raises:
            InvalidRecord: The record does not match the schema.
        """
        error = self.first_error(record)
        if error is not None:
            raise InvalidRecord(error.message, record)
