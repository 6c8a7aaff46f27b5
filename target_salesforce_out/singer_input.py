"""Reading Singer messages: singer-sdk's msgspec reader, with line numbers in every input error.

A tap that writes one bad line should get one line back that says where and what, not a
traceback: the reader counts the lines it reads, and every input error (not JSON, not an
object, no ``type``, an unknown message type) is raised as :class:`BadInputError` naming the
line number and showing the start of the line.

singer-sdk behaviours this relies on (0.54.9; each checked in tests/test_singer_sdk_contract.py):
the target builds its reader from the ``message_reader_class`` attribute; the reader's
``process_lines`` calls ``deserialize_json`` once per line, in order, and hands a message of
no known type to the private hook ``_process_unknown_message``; a message without ``type``
raises ``InvalidInputLine``, and a RECORD before its SCHEMA raises
``RecordsWithoutSchemaException`` out of ``process_lines``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import IO, Any

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader, decoder
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_salesforce_out.errors import BadInputError, RecordBeforeSchemaError

_SHOWN_CHARS = 80


def _shown(line: str) -> str:
    text = line.rstrip("\r\n")
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "...")


class LineNumberingReader(MsgSpecReader):
    """Singer's reader, counting lines so that an input error can say which line it was."""

    def __init__(self) -> None:
        """Start before the first line."""
        super().__init__()
        self.line_number = 0

    def process_lines(
        self, file_input: IO[str] | None, callbacks: dict[str, Callable[[dict[str, Any]], None]]
    ) -> Counter[str]:
        """Process every line; input errors raised by singer-sdk get the line number too."""
        try:
            return super().process_lines(file_input, callbacks)
        except BadInputError:
            raise
        except InvalidInputLine as exc:
            # singer-sdk's own check: a message missing a required key.
            raise BadInputError(f"input line {self.line_number}: {exc}") from None
        except RecordsWithoutSchemaException as exc:
            raise RecordBeforeSchemaError(f"input line {self.line_number}: {exc}") from None

    def deserialize_json(self, line: str) -> dict[str, Any]:
        """Parse one line; say which line and why when it is not a JSON object.

        Raises:
            BadInputError: the line is not a JSON object.
        """
        self.line_number += 1
        try:
            message = decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise BadInputError(
                f"input line {self.line_number} is not valid JSON ({exc}): {_shown(line)}"
            ) from None
        if not isinstance(message, dict):
            raise BadInputError(
                f"input line {self.line_number} is not a JSON object: {_shown(line)}"
            )
        return message

    def _process_unknown_message(self, message_dict: dict[str, Any]) -> None:
        raise BadInputError(
            f"input line {self.line_number}: unknown Singer message type "
            f"{message_dict.get('type')!r} (expected RECORD, SCHEMA, STATE, ACTIVATE_VERSION "
            "or BATCH)"
        )
