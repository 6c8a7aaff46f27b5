"""The CPU yardstick: a singer-sdk target that does nothing with its records.

Default settings throughout (the SDK's reader, its jsonschema validator, its batch size), as
the cookiecutter template generates it minus the writing. Run it like any target::

    .venv/bin/python benchmarks/noop_target.py --config config.json < input.jsonl
"""

from __future__ import annotations

from typing import Any

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.sinks import BatchSink


class NoopSink(BatchSink):
    """Buffers records like any batch sink, then drops the batch."""

    def process_batch(self, context: dict[str, Any]) -> None:
        """Write nothing."""


class NoopTarget(Target):
    """Reads, validates and batches records; writes nothing."""

    name = "target-noop"
    config_jsonschema = th.PropertiesList().to_dict()
    default_sink_class = NoopSink


if __name__ == "__main__":
    NoopTarget.cli()
