"""Salesforce record ids: generation, validation and 15 -> 18 character conversion.

An id is a 3-character key prefix followed by 12 base-62 characters (15, case-sensitive), plus a
3-character suffix that encodes the case of the first 15 characters (SOAP API Developer Guide,
"Field Types", the ID field type).
"""

from __future__ import annotations

import random
import re

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SHAPE = re.compile(r"[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?")
MASTER_RECORD_TYPE_ID = "012000000000000AAA"


def suffix(id15: str) -> str:
    """Return the 3-character case-encoding suffix of a 15-character id.

    Args:
        id15: A 15-character id.

    Returns:
        The suffix, upper-case.
    """
    out = []
    for start in (0, 5, 10):
        bits = 0
        for pos, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        out.append(_SUFFIX[bits])
    return "".join(out)


def to18(sf_id: str) -> str:
    """Convert a 15- or 18-character id to its canonical 18-character form.

    Args:
        sf_id: The id to convert.

    Returns:
        The 18-character id with an upper-case suffix.

    Raises:
        ValueError: If the id is not a well-formed 15/18-character id.
    """
    normalized = normalize(sf_id)
    if normalized is None:
        raise ValueError(f"malformed id {sf_id}")
    return normalized


def normalize(sf_id: str) -> str | None:
    """Return the canonical 18-character id, or None when the text is not a valid id.

    The suffix of an 18-character id is checked case-insensitively (whether Salesforce accepts
    either case is not documented by Salesforce; the emulator's choice).

    Args:
        sf_id: Candidate id text.

    Returns:
        The 18-character id, or None.
    """
    if not isinstance(sf_id, str) or not _SHAPE.fullmatch(sf_id):
        return None
    expected = sf_id[:15] + suffix(sf_id[:15])
    if len(sf_id) == 18 and sf_id[15:].upper() != expected[15:]:
        return None
    return expected


def looks_like_id(text: str) -> bool:
    """Tell whether a path segment has the shape of an id (used to route REST paths).

    Args:
        text: A URL path segment.

    Returns:
        True for 15 or 18 base-62 characters.
    """
    return bool(_SHAPE.fullmatch(text))


def new_id(key_prefix: str) -> str:
    """Generate a fresh 18-character id for an object with the given key prefix.

    Args:
        key_prefix: The object's 3-character key prefix.

    Returns:
        A new random id (prefix + 12 base-62 characters + checksum suffix).
    """
    body = "".join(random.choices(BASE62, k=12))
    id15 = key_prefix + body
    return id15 + suffix(id15)


def fixed_id(key_prefix: str, number: int) -> str:
    """Build a deterministic 18-character id (for seeded rows such as the admin user).

    Args:
        key_prefix: The object's 3-character key prefix.
        number: A small sequence number.

    Returns:
        An id like ``005Em00000000001AAA`` shaped as a real id.
    """
    id15 = f"{key_prefix}Em{number:010d}"
    return id15 + suffix(id15)
