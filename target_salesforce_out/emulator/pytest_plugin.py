"""pytest plugin (entry point ``salesforce_emulator``): fixtures that start a fresh emulator.

``salesforce_emulator`` gives each test a new emulator with default settings;
``salesforce_emulator_factory(**options)`` starts one with options (faults, person_accounts,
token_ttl_calls, jwt_public_key, ...). Every emulator is stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from . import Emulator


@pytest.fixture
def salesforce_emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Start emulators with options; all of them stop at the end of the test.

    Yields:
        A function taking :class:`Emulator` keyword arguments and returning a running emulator.
    """
    started: list[Emulator] = []

    def start(**options: Any) -> Emulator:
        emulator = Emulator(**options).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def salesforce_emulator(
    salesforce_emulator_factory: Callable[..., Emulator],
) -> Emulator:
    """A fresh emulator with default settings, stopped after the test.

    Returns:
        The running emulator.
    """
    return salesforce_emulator_factory()
