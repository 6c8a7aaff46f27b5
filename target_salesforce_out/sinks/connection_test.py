"""The sink for Meltano's ``config test``: log in, list the org's objects, load nothing.

``meltano config test`` checks a loader by piping it one record of a stream named
``meltano_test_stream`` and expects exit code 0. No Salesforce object is named like that, and
writing a test record into a real org would leave data behind, so the stream is read as a
connection test: the OAuth login and describe global (the list of objects the user can see)
prove the credentials and the API access, and the record is dropped.
"""

from __future__ import annotations

from typing import Any

from singer_sdk.sinks import BatchSink


class ConnectionTestSink(BatchSink):
    """Proves the connection when created; every record is dropped."""

    def __init__(
        self,
        target: Any,
        stream_name: str,
        schema: dict[str, Any],
        key_properties: list[str] | None,
    ) -> None:
        """Log in and list the objects (describe global) before the first record is read."""
        super().__init__(target, stream_name, schema, key_properties)
        runtime = target.runtime
        session = runtime.auth.session()
        objects = runtime.describe.global_objects()
        self.logger.info(
            "connection test: logged in to %s (%s flow) and listed %d objects; stream %r "
            "is not loaded",
            session.instance_url,
            runtime.auth.flow,
            len(objects),
            stream_name,
        )

    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        """Drop the record: the test is the login and describe done at creation."""

    def process_batch(self, context: dict[str, Any]) -> None:
        """Nothing to write."""
