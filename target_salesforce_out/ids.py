"""Salesforce record ids: shape and checksum checks done before a value is sent.

An id is 15 case-sensitive letters and digits, or those 15 plus a 3-character suffix that
encodes the case of the first 15, so the 18-character form survives case-insensitive systems;
the API accepts both and returns 18 (SOAP API Developer Guide, "Field Types": ID). The suffix
is compared without case here: whether Salesforce reads a lower-case suffix is not documented,
and the emulator accepts one too.
"""

from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_SHAPE = re.compile(r"[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?")


def checksum_suffix(id15: str) -> str:
    """The 3-character suffix that encodes the case of a 15-character id.

    Each 5-character block gives one suffix character: bit ``i`` is set when the block's
    ``i``-th character is an upper-case letter, and the 5-bit number indexes ``A-Z0-5``.
    """
    suffix = ""
    for start in (0, 5, 10):
        bits = 0
        for pos, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def id_problem(value: str) -> str | None:
    """Why ``value`` is not a Salesforce id, or None when it is one."""
    if not _ID_SHAPE.fullmatch(value):
        return "must be 15 or 18 letters and digits"
    if len(value) == 18 and checksum_suffix(value[:15]) != value[15:].upper():
        return "the last 3 characters are not the checksum of the first 15"
    return None


def to18(value: str) -> str:
    """Normalise a valid 15- or 18-character id to 18 characters (suffix upper-cased)."""
    return value[:15] + checksum_suffix(value[:15])
