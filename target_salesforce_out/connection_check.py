"""Which stream is Meltano's connection test (``meltano config test``).

`meltano config test` sends one record of this stream. When no streams entry names it, the
target only logs in and lists the org's objects (describe global), and loads nothing (see
``sinks/connection_test.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CONNECTION_TEST_STREAM = "meltano_test_stream"


def is_connection_test(config: Mapping[str, Any], stream_name: str) -> bool:
    """True for Meltano's test stream, unless the user configured a stream of that name."""
    return stream_name == CONNECTION_TEST_STREAM and stream_name not in (
        config.get("streams") or {}
    )
