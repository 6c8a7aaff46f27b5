"""Rounds of a batch in which no key appears twice, so that the last write for a key wins.

Calls of one round run at the same time; rounds run one after another, in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def split_rounds(items: list[T], key_of: Callable[[T], Any]) -> Iterator[list[T]]:
    """Split so no key appears twice in a round; rounds run in order, so the last write wins."""
    rounds: list[list[T]] = []
    seen: dict[Any, int] = {}
    for item in items:
        key = key_of(item)
        if key is None:
            index = 0
        else:
            index = seen.get(key, -1) + 1
            seen[key] = index
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(item)
    yield from rounds
