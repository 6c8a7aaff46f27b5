"""singer-sdk behaviours this target builds on, checked against singer-sdk itself.

The target overrides or reads private singer-sdk members where singer-sdk has no public hook
(see target.py, sinks/base.py, singer_input.py, settings.py). Each test here drives a tiny
Target and Sink defined below, not this project's, and is named for the singer-sdk behaviour an
override depends on: a singer-sdk release that changes it fails here first, by name, rather
than somewhere deep in an end-to-end run. The pin in pyproject.toml follows these tests.
"""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from singer_sdk import Target
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.exceptions import InvalidRecord, RecordsWithoutSchemaException
from singer_sdk.helpers._typing import get_datelike_property_type
from singer_sdk.helpers._util import load_json
from singer_sdk.helpers.conform import DatetimeErrorTreatmentEnum
from singer_sdk.io_base import SingerMessageType
from singer_sdk.plugin_base import _ConfigInput
from singer_sdk.singerlib.exceptions import InvalidInputLine, SingerReadError
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator

STREAM = "items"
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}}


# A tiny target that records what singer-sdk calls, in order -------------------------------


class RecordingValidator(BaseJSONSchemaValidator):
    def __init__(self, schema: dict[str, Any], events: list[tuple[Any, ...]]) -> None:
        super().__init__(schema)
        self.events = events

    def validate(self, record: dict[str, Any]) -> None:
        self.events.append(("validator.validate", record.get("n")))


class TinySink(BatchSink):
    size = 1000

    def __init__(self, target: TinyTarget, stream_name: str, schema: dict, key_properties) -> None:
        self.events = target.events
        self.serial = len(target.sinks_made)
        target.sinks_made.append(self)
        super().__init__(target, stream_name, schema, key_properties)

    @property
    def max_size(self) -> int:
        return self.size

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        self.events.append(("get_validator", self.serial))
        return RecordingValidator(self.schema, self.events)

    def _validate_and_parse(self, record: dict) -> dict:
        self.events.append(("_validate_and_parse", record.get("n")))
        return super()._validate_and_parse(record)

    def preprocess_record(self, record: dict, context: dict) -> dict:
        self.events.append(("preprocess_record", record.get("n")))
        return record

    def _singer_validate_message(self, record: dict) -> None:
        self.events.append(("_singer_validate_message", record.get("n")))
        super()._singer_validate_message(record)

    def process_record(self, record: dict, context: dict) -> None:
        self.events.append(("process_record", self.serial, record.get("n")))
        super().process_record(record, context)

    def process_batch(self, context: dict) -> None:
        numbers = [r.get("n") for r in context.get("records", [])]
        self.events.append(("process_batch", self.serial, numbers))

    def activate_version(self, new_version: int) -> None:
        self.events.append(("activate_version", new_version))


class TinyTarget(Target):
    name = "tiny-target"
    config_jsonschema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}
    default_sink_class = TinySink

    def __init__(self, **kwargs: Any) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.sinks_made: list[TinySink] = []
        super().__init__(**kwargs)

    def _write_state_message(self, state: dict) -> None:
        self.events.append(("_write_state_message", state))

    def _drain_all(self, sink_list, parallelism: int) -> None:
        sinks = list(sink_list)
        self.events.append(("_drain_all", [s.serial for s in sinks], parallelism))
        super()._drain_all(sinks, parallelism)


@pytest.fixture(autouse=True)
def _keep_signal_handlers() -> Iterator[None]:
    """A Target installs SIGINT/SIGTERM handlers; put pytest's back afterwards."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def schema_msg(schema: dict = SCHEMA) -> dict:
    return {"type": "SCHEMA", "stream": STREAM, "schema": schema, "key_properties": []}


def record_msg(n: int) -> dict:
    return {"type": "RECORD", "stream": STREAM, "record": {"n": n}}


def state_msg(value: dict) -> dict:
    return {"type": "STATE", "value": value}


def lines(*messages: dict) -> io.StringIO:
    return io.StringIO("".join(json.dumps(m) + "\n" for m in messages))


def run(*messages: dict, target: TinyTarget | None = None) -> TinyTarget:
    target = target or TinyTarget(config={})
    target.listen(lines(*messages))
    return target


def named(events: list[tuple[Any, ...]], *names: str) -> list[tuple[Any, ...]]:
    return [e for e in events if e[0] in names]


# RECORD messages -------------------------------------------------------------------------


def test_record_message_calls_validate_and_parse_preprocess_singer_validate_then_process_record():
    target = run(schema_msg(), record_msg(1))
    steps = [e for e in target.events if e[0] not in {"get_validator", "_drain_all"}]
    assert steps[:5] == [
        ("_validate_and_parse", 1),
        ("validator.validate", 1),
        ("preprocess_record", 1),
        ("_singer_validate_message", 1),
        ("process_record", 0, 1),
    ]


def test_a_full_sink_is_drained_right_after_the_record_that_filled_it():
    target = TinyTarget(config={})
    TinySink.size = 2
    try:
        run(schema_msg(), record_msg(1), record_msg(2), record_msg(3), target=target)
    finally:
        TinySink.size = 1000
    assert named(target.events, "process_record", "process_batch") == [
        ("process_record", 0, 1),
        ("process_record", 0, 2),
        ("process_batch", 0, [1, 2]),
        ("process_record", 0, 3),
        ("process_batch", 0, [3]),
    ]


def test_drain_all_drains_every_sink_then_writes_the_latest_state():
    target = run(schema_msg(), record_msg(1), state_msg({"s": 1}), state_msg({"s": 2}))
    assert named(target.events, "process_batch", "_write_state_message") == [
        ("process_batch", 0, [1]),
        ("_write_state_message", {"s": 2}),
    ]


def test_drain_all_writes_no_state_when_none_was_received():
    target = run(schema_msg(), record_msg(1))
    assert named(target.events, "_write_state_message") == []
    assert named(target.events, "process_batch") == [("process_batch", 0, [1])]


def test_a_state_message_never_drains_by_itself():
    target = TinyTarget(config={})
    target.process_lines(lines(schema_msg(), record_msg(1), state_msg({"s": 1})))
    assert named(target.events, "process_batch", "_write_state_message") == []


def test_drain_all_calls__drain_all_for_parked_sinks_one_at_a_time_then_for_active_sinks():
    target = TinyTarget(config={})
    target.max_parallelism = 3
    run(schema_msg(), record_msg(1), target=target)
    assert named(target.events, "_drain_all") == [("_drain_all", [], 1), ("_drain_all", [0], 3)]


def test_max_record_age_is_read_from_the_instance_and_drains_all_after_a_record():
    target = TinyTarget(config={})
    target._MAX_RECORD_AGE_IN_MINUTES = -1.0
    target.process_lines(lines(schema_msg(), record_msg(1), state_msg({"s": 1}), record_msg(2)))
    assert Target._MAX_RECORD_AGE_IN_MINUTES == 5.0
    assert named(target.events, "process_batch", "_write_state_message") == [
        ("process_batch", 0, [1]),
        ("process_batch", 0, [2]),
        ("_write_state_message", {"s": 1}),
    ]


def test_records_younger_than_the_max_age_wait_for_the_end():
    target = TinyTarget(config={})
    target.process_lines(lines(schema_msg(), record_msg(1), state_msg({"s": 1}), record_msg(2)))
    assert named(target.events, "process_batch", "_write_state_message") == []


def test_drain_log_messages_start_with_the_texts_the_target_quiets(caplog):
    # target.py's _DrainChatterFilter matches these two message formats.
    target = TinyTarget(config={})
    target._MAX_RECORD_AGE_IN_MINUTES = -1.0
    TinySink.size = 1
    try:
        with caplog.at_level(logging.INFO, logger=TinyTarget.name):
            target.process_lines(lines(schema_msg(), record_msg(1)))
    finally:
        TinySink.size = 1000
    formats = [r.msg for r in caplog.records if r.name == TinyTarget.name]
    assert any(f.startswith("Target sink for '%s' is full") for f in formats)
    assert any(f.startswith("One or more records have exceeded the max age") for f in formats)


# SCHEMA messages -------------------------------------------------------------------------


def test_get_sink_is_called_with_the_schema_for_each_schema_message():
    calls: list[dict[str, Any]] = []

    class Spy(TinyTarget):
        def get_sink(self, stream_name, *, record=None, schema=None, key_properties=None):
            calls.append({"stream": stream_name, "schema": schema is not None})
            return super().get_sink(
                stream_name, record=record, schema=schema, key_properties=key_properties
            )

    run(schema_msg(), record_msg(1), target=Spy(config={}))
    assert calls == [{"stream": STREAM, "schema": True}, {"stream": STREAM, "schema": False}]


def test_a_schema_change_makes_a_new_sink_and_parks_the_old_one_until_drain_all():
    target = TinyTarget(config={})
    changed = {"type": "object", "properties": {"n": {"type": "integer"}, "x": {}}}
    target.process_lines(lines(schema_msg(), record_msg(1), schema_msg(changed), record_msg(2)))
    old, new = target.sinks_made
    assert target._sinks_active[STREAM] is new
    assert target._sinks_to_clear == [old]
    assert named(target.events, "process_batch") == []
    target.process_endofpipe()
    assert named(target.events, "process_batch") == [
        ("process_batch", 0, [1]),
        ("process_batch", 1, [2]),
    ]
    assert target._sinks_to_clear == []


def test_the_same_schema_again_keeps_the_sink():
    target = run(schema_msg(), record_msg(1), schema_msg(), record_msg(2))
    assert len(target.sinks_made) == 1


# BATCH and ACTIVATE_VERSION messages -----------------------------------------------------


def test_batch_message_hands_encoding_and_manifest_to_sink_process_batch_files():
    seen: list[tuple[str, str | None, list[str]]] = []

    class FilesSink(TinySink):
        def process_batch_files(self, encoding, files) -> None:
            seen.append((encoding.format, encoding.compression, list(files)))

    class FilesTarget(TinyTarget):
        default_sink_class = FilesSink

    batch = {
        "type": "BATCH",
        "stream": STREAM,
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "manifest": ["file:///nowhere/1.jsonl.gz", "file:///nowhere/2.jsonl.gz"],
    }
    target = run(schema_msg(), batch, target=FilesTarget(config={}))
    assert seen == [("jsonl", "gzip", ["file:///nowhere/1.jsonl.gz", "file:///nowhere/2.jsonl.gz"])]
    assert named(target.events, "process_record") == []


def test_process_batch_files_passes_records_to_process_batch_without_process_record(tmp_path):
    # Why the target reads BATCH files itself: this path skips validation and mapping.
    path = tmp_path / "records.jsonl"
    path.write_text('{"n": 7}\n{"n": "not an integer"}\n', encoding="utf-8")
    batch = {
        "type": "BATCH",
        "stream": STREAM,
        "encoding": {"format": "jsonl", "compression": "none"},
        "manifest": [path.as_uri()],
    }
    target = run(schema_msg(), batch)
    assert named(target.events, "process_batch") == [("process_batch", 0, [7, "not an integer"])]
    assert named(target.events, "_validate_and_parse", "process_record") == []


def test_activate_version_calls_sink_activate_version_for_every_message():
    versions = [{"type": "ACTIVATE_VERSION", "stream": STREAM, "version": v} for v in (5, 6)]
    target = run(schema_msg(), *versions)
    assert named(target.events, "activate_version") == [
        ("activate_version", 5),
        ("activate_version", 6),
    ]


def test_record_metadata_takes_time_extracted_and_version_from_the_record_message():
    # batch_files.py copies these two keys from a BATCH message into each RECORD it makes.
    kept: list[dict] = []

    class KeepingSink(TinySink):
        def process_batch(self, context: dict) -> None:
            kept.extend(context["records"])

    class MetadataTarget(TinyTarget):
        default_sink_class = KeepingSink

    message = {**record_msg(1), "version": 42, "time_extracted": "2024-01-31T13:45:00+00:00"}
    run(schema_msg(), message, target=MetadataTarget(config={"add_record_metadata": True}))
    [record] = kept
    assert record["_sdc_table_version"] == 42
    assert record["_sdc_extracted_at"] == datetime(2024, 1, 31, 13, 45, tzinfo=UTC)


# Signals ---------------------------------------------------------------------------------


def test_the_target_receives_sigterm_and_sigint_in__handle_termination():
    target = TinyTarget(config={})
    assert signal.getsignal(signal.SIGTERM) == target._handle_termination
    assert signal.getsignal(signal.SIGINT) == target._handle_termination


def test_handle_termination_drains_writes_state_then_exits():
    target = TinyTarget(config={})
    target.process_lines(lines(schema_msg(), record_msg(1), state_msg({"s": 1})))
    with pytest.raises(SystemExit) as exited:
        target._handle_termination(signal.SIGTERM, None)
    assert exited.value.code == 0
    assert named(target.events, "process_batch", "_write_state_message") == [
        ("process_batch", 0, [1]),
        ("_write_state_message", {"s": 1}),
    ]


# The message reader ----------------------------------------------------------------------


class CountingReader(MsgSpecReader):
    def __init__(self) -> None:
        super().__init__()
        self.lines_read = 0
        self.unknown: list[dict] = []

    def deserialize_json(self, line: str) -> dict:
        self.lines_read += 1
        return super().deserialize_json(line)

    def _process_unknown_message(self, message_dict: dict) -> None:
        self.unknown.append(message_dict)


class ReaderTarget(TinyTarget):
    message_reader_class = CountingReader


def test_message_reader_class_is_instantiated_as_the_message_reader():
    target = ReaderTarget(config={})
    assert type(target.message_reader) is CountingReader


def test_process_lines_runs_the_reader_with_one_callback_per_message_type():
    seen: dict[str, Any] = {}

    class CallbackReader(MsgSpecReader):
        def process_lines(self, file_input, callbacks):
            seen.update(callbacks)
            return super().process_lines(file_input, callbacks)

    class CallbackTarget(TinyTarget):
        message_reader_class = CallbackReader

    target = CallbackTarget(config={})
    target.listen(lines(schema_msg()))
    assert set(seen) == {m.value for m in SingerMessageType}
    assert seen[SingerMessageType.SCHEMA] == target._process_schema_message
    assert seen[SingerMessageType.RECORD] == target._process_record_message
    assert seen[SingerMessageType.STATE] == target._process_state_message
    assert seen[SingerMessageType.BATCH] == target._process_batch_message
    assert seen[SingerMessageType.ACTIVATE_VERSION] == target._process_activate_version_message


def test_the_reader_deserializes_each_line_once_and_hands_unknown_types_to_a_hook():
    target = ReaderTarget(config={})
    target.listen(lines(schema_msg(), {"type": "MYSTERY", "x": 1}, record_msg(1)))
    reader = target.message_reader
    assert reader.lines_read == 3
    assert reader.unknown == [{"type": "MYSTERY", "x": 1}]


def test_a_message_without_type_raises_invalid_input_line_a_singer_read_error():
    target = TinyTarget(config={})
    with pytest.raises(InvalidInputLine):
        target.process_lines(io.StringIO('{"stream": "items"}\n'))
    assert issubclass(InvalidInputLine, SingerReadError)


def test_a_record_before_its_schema_raises_records_without_schema_exception():
    target = TinyTarget(config={})
    with pytest.raises(RecordsWithoutSchemaException):
        target.process_lines(lines(record_msg(1)))


def test_the_msgspec_reader_reads_fractions_as_decimal_and_integers_as_int():
    message = MsgSpecReader().deserialize_json('{"a": 0.1, "b": 12345678901234567890, "c": 1e2}')
    assert message == {"a": Decimal("0.1"), "b": 12345678901234567890, "c": Decimal("1E+2")}
    assert type(message["b"]) is int


# Sinks: validation and timestamps --------------------------------------------------------


def test_get_validator_is_called_once_per_sink_and_kept_as__validator():
    target = run(schema_msg(), record_msg(1), record_msg(2))
    [sink] = target.sinks_made
    assert named(target.events, "get_validator") == [("get_validator", 0)]
    assert isinstance(sink._validator, RecordingValidator)
    assert named(target.events, "validator.validate") == [
        ("validator.validate", 1),
        ("validator.validate", 2),
    ]


def test_a_validator_of_none_means_no_validation():
    class NoValidation(TinySink):
        def get_validator(self):
            return None

    class NoValidationTarget(TinyTarget):
        default_sink_class = NoValidation

    target = run(schema_msg(), record_msg(1), target=NoValidationTarget(config={}))
    assert target.sinks_made[0]._validator is None
    assert named(target.events, "process_record") == [("process_record", 0, 1)]


def test_a_validator_takes_the_schema_and_reports_with_invalid_record():
    # validation.py's RecordValidator builds on both.
    class Strict(BaseJSONSchemaValidator):
        def validate(self, record: dict[str, Any]) -> None:
            raise InvalidRecord("n is missing", record)

    validator = Strict(SCHEMA)
    assert validator.schema is SCHEMA
    with pytest.raises(InvalidRecord) as raised:
        validator.validate({"x": 1})
    assert (raised.value.error_message, raised.value.record) == ("n is missing", {"x": 1})


PARSED = [
    pytest.param(
        {"type": "string", "format": "date-time"},
        "2024-01-31T13:45:00+02:00",
        datetime(2024, 1, 31, 13, 45, tzinfo=timezone(timedelta(hours=2))),
        id="date-time",
    ),
    pytest.param({"type": "string", "format": "date"}, "2024-01-31", date(2024, 1, 31), id="date"),
    pytest.param({"type": "string", "format": "time"}, "13:45:00", time(13, 45), id="time"),
    pytest.param(
        {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
        "2024-01-31",
        date(2024, 1, 31),
        id="any-of",
    ),
    pytest.param({"type": "string"}, "2024-01-31", "2024-01-31", id="plain-string-untouched"),
    pytest.param({"type": "string", "format": "date"}, None, None, id="null-untouched"),
]


@pytest.mark.parametrize(("prop", "value", "expected"), PARSED)
def test_parse_timestamps_in_record_by_format_reading_only_properties(prop, value, expected):
    target = TinyTarget(config={})
    sink = TinySink(target, STREAM, SCHEMA, [])
    record = {"v": value}
    # The target passes a schema holding only "properties" (its date-like ones).
    sink._parse_timestamps_in_record(
        record, {"properties": {"v": prop}}, DatetimeErrorTreatmentEnum.ERROR
    )
    assert record == {"v": expected}


def test_parse_timestamps_in_record_raises_on_a_bad_value_with_the_error_treatment():
    target = TinyTarget(config={})
    sink = TinySink(target, STREAM, SCHEMA, [])
    with pytest.raises(ValueError):
        sink._parse_timestamps_in_record(
            {"v": "31/01/2024"},
            {"properties": {"v": {"type": "string", "format": "date"}}},
            DatetimeErrorTreatmentEnum.ERROR,
        )


def test_parse_timestamps_in_record_leaves_properties_without_schema_alone():
    target = TinyTarget(config={})
    sink = TinySink(target, STREAM, SCHEMA, [])
    record = {"unknown": "2024-01-31"}
    sink._parse_timestamps_in_record(record, {"properties": {}}, DatetimeErrorTreatmentEnum.ERROR)
    assert record == {"unknown": "2024-01-31"}


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        pytest.param({"type": "string", "format": "date-time"}, "date-time", id="date-time"),
        pytest.param({"type": ["string", "null"], "format": "date"}, "date", id="nullable-date"),
        pytest.param({"anyOf": [{"type": "string", "format": "time"}]}, "time", id="any-of"),
        pytest.param({"type": "string", "format": "email"}, None, id="other-format"),
        pytest.param({"type": "integer"}, None, id="not-a-string"),
    ],
)
def test_get_datelike_property_type(prop, expected):
    assert get_datelike_property_type(prop) == expected


# Settings and the command line -----------------------------------------------------------


def test_append_builtin_config_adds_load_method_and_batch_size_rows():
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    TinyTarget.append_builtin_config(schema)
    assert {"load_method", "batch_size_rows"} <= set(schema["properties"])


def test_the_constructor_validates_the_config_through__validate_config():
    calls: list[bool] = []

    class Checked(TinyTarget):
        def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
            calls.append(raise_errors)
            return []

    Checked(config={}, validate_config=True)
    Checked(config={}, validate_config=False)
    assert calls == [True, False]


def test_config_input_carries_the_config_and_the_env_flag(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"a": 1}', encoding="utf-8")
    assert _ConfigInput() == _ConfigInput(config={}, parse_env=False)
    assert _ConfigInput.from_cli_args(str(path)) == _ConfigInput(config={"a": 1}, parse_env=False)
    assert _ConfigInput.from_cli_args("ENV").parse_env is True


def test_load_json_reads_fractions_as_decimal_and_says_where_the_json_breaks():
    assert load_json('{"a": 0.5, "b": 2}') == {"a": Decimal("0.5"), "b": 2}
    with pytest.raises(ValueError) as raised:
        load_json('{\n  "a": 1,\n  "b": }')
    # config_files.py shows these three attributes, never the file's text.
    assert (raised.value.lineno, raised.value.colno) == (3, 8)
    assert raised.value.msg == "Expecting value"


CLI_SCRIPT = textwrap.dedent(
    """
    import json

    from singer_sdk import Target
    from singer_sdk.sinks import BatchSink


    class Sink(BatchSink):
        def process_batch(self, context):
            pass


    class CliTarget(Target):
        name = "tiny-cli-target"
        config_jsonschema = {"type": "object", "properties": {}}
        default_sink_class = Sink

        @classmethod
        def cb_config(cls, ctx, param, value):
            return {"cb_config saw": list(value)}

        @classmethod
        def invoke(cls, **kwargs):
            shown = {k: v.read() if hasattr(v, "read") else v for k, v in kwargs.items()}
            print(json.dumps(shown))


    CliTarget.cli()
    """
)


def test_cli_passes_cb_config_s_value_and_the_input_file_to_invoke(tmp_path):
    script = tmp_path / "cli_target.py"
    script.write_text(CLI_SCRIPT, encoding="utf-8")
    messages = tmp_path / "in.jsonl"
    messages.write_text('{"type": "STATE", "value": {}}\n', encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            "--config",
            "a.json",
            "--config",
            "ENV",
            "--input",
            str(messages),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {
        "about": False,
        "about_format": None,
        "config": {"cb_config saw": ["a.json", "ENV"]},
        "file_input": '{"type": "STATE", "value": {}}\n',
    }
