"""pytest plugin (entry point ``salesforce_emulator``): fixtures that start a fresh emulator.

``salesforce_emulator`` gives each test a new emulator with default settings;
``salesforce_emulator_tls`` one that serves HTTPS (``base_url`` is ``https://127.0.0.1:PORT``,
``ca_path`` the CA file a client must trust, e.g. through ``REQUESTS_CA_BUNDLE``);
``salesforce_emulator_factory(**options)`` starts one with options (faults, person_accounts,
token_ttl_calls, jwt_public_key, tls, tls_hostnames, ...). Every emulator is stopped when the
test ends.
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


@pytest.fixture
def salesforce_emulator_tls(
    salesforce_emulator_factory: Callable[..., Emulator],
) -> Emulator:
    """A fresh HTTPS emulator (``tls=True``), stopped after the test.

    Its certificate names 127.0.0.1, ::1 and localhost; trust ``emulator.ca_path``.

    Returns:
        The running emulator.
    """
    return salesforce_emulator_factory(tls=True)
