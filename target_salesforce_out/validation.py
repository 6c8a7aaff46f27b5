"""Record validation against the stream's SCHEMA: fastjsonschema first, jsonschema decides.

jsonschema walks the schema anew for every record and costs more than everything else the
target does with a record. fastjsonschema compiles the schema to Python code once and is
several times faster, so it answers first; only a record it does not accept is checked by
jsonschema, which then decides and describes the error. The outcome is therefore exactly
jsonschema's as long as fastjsonschema never accepts a record that jsonschema rejects; that
holds for the keywords both read the same way in draft 7 and 2020-12, so a schema using any
other keyword (``$ref``, ``prefixItems``, ``unevaluatedProperties``...) is left to jsonschema
alone. ``tests/target/test_validation.py`` checks the two against each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastjsonschema
from jsonschema import ValidationError
from jsonschema.validators import validator_for
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks.core import BaseJSONSchemaValidator

# Keywords whose meaning is the same in draft 7 (fastjsonschema) and 2020-12 (jsonschema's
# default), with values of the given kinds. Annotations change nothing.
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "readOnly", "writeOnly"}
)
_NUMBER_KEYWORDS = frozenset(
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
)
_COUNT_KEYWORDS = frozenset(
    {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"}
)
_SCHEMA_MAP_KEYWORDS = frozenset({"properties", "patternProperties"})
_SCHEMA_LIST_KEYWORDS = frozenset({"anyOf", "allOf", "oneOf"})
_SCHEMA_KEYWORDS = frozenset({"not", "additionalProperties", "items"})
_OTHER_KEYWORDS = frozenset(
    {"type", "enum", "const", "required", "pattern", "format", "uniqueItems", "$schema"}
)
_CLASSIC_DRAFTS = ("draft-04", "draft-06", "draft-07")


def fast_path_applies(schema: Any) -> bool:
    """True when every keyword in ``schema`` is one fastjsonschema reads like jsonschema."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict):
        return False
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key in _NUMBER_KEYWORDS:
            # Draft 4's boolean exclusiveMinimum/Maximum reads differently in later drafts.
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
        elif key in _COUNT_KEYWORDS:
            if isinstance(value, bool) or not isinstance(value, int):
                return False
        elif key in _SCHEMA_MAP_KEYWORDS:
            if not isinstance(value, dict) or not all(fast_path_applies(s) for s in value.values()):
                return False
        elif key in _SCHEMA_LIST_KEYWORDS:
            if not isinstance(value, list) or not all(fast_path_applies(s) for s in value):
                return False
        elif key in _SCHEMA_KEYWORDS:
            # A list under "items" is a tuple in draft 7 and an error in 2020-12.
            if not fast_path_applies(value):
                return False
        elif key == "$schema":
            if not any(draft in str(value) for draft in _CLASSIC_DRAFTS):
                return False
        elif key not in _OTHER_KEYWORDS:
            return False
    return True


def compile_fast(schema: dict[str, Any]) -> Callable[[Any], Any] | None:
    """The compiled fastjsonschema validator, or None when jsonschema must do it alone."""
    if not fast_path_applies(schema):
        return None
    try:
        # No defaults filled into records, and no format checks (jsonschema makes none).
        return fastjsonschema.compile(schema, use_default=False, use_formats=False)
    except fastjsonschema.JsonSchemaDefinitionException:
        return None


class RecordValidator(BaseJSONSchemaValidator):
    """Validates records as jsonschema does, at fastjsonschema's speed for valid records."""

    def __init__(self, schema: dict[str, Any]) -> None:
        """Compile both validators for ``schema``."""
        super().__init__(schema)
        self._full = validator_for(schema)(schema)
        self._fast = compile_fast(schema)

    @property
    def uses_fast_path(self) -> bool:
        """Whether fastjsonschema checks records before jsonschema."""
        return self._fast is not None

    def first_error(self, record: dict[str, Any]) -> ValidationError | None:
        """The first error jsonschema finds in ``record``, or None when it is valid."""
        if self._fast is not None and self._fast_accepts(record):
            return None
        return next(iter(self._full.iter_errors(record)), None)

    def _fast_accepts(self, record: dict[str, Any]) -> bool:
        assert self._fast is not None
        try:
            self._fast(record)
        except Exception:
            # Rejected, or a value fastjsonschema cannot judge: jsonschema decides.
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
