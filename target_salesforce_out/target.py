"""The Singer target: settings, choice of sink per stream, and the run's outcome.

The data path runs one way. singer-sdk reads each message and hands it here; a RECORD goes to
its stream's sink (REST or Bulk), which checks and converts it and, when full, writes its batch.
Before a sink writes, the target's :class:`~target_salesforce_out.load_order.LoadOrder` has the
streams it references written first. Sinks share a :class:`~target_salesforce_out.runtime.Runtime`
(client, describe cache, worker pool, report) and report each record's outcome to it; STATE is
written only after every sink's calls and jobs have ended.
"""

from __future__ import annotations

import copy
import logging
import sys
from collections.abc import Callable, Iterable
from types import FrameType
from typing import IO, Any

from singer_sdk import Target
from singer_sdk.exceptions import ConfigValidationError, SingerSDKError
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.exceptions import SingerReadError
from singer_sdk.sinks import Sink

from target_salesforce_out.about import about_text
from target_salesforce_out.api_choice import sink_kind
from target_salesforce_out.batch_files import record_messages
from target_salesforce_out.config_checks import SDK_SETTINGS_IGNORED, config_problems
from target_salesforce_out.config_files import ConfigInput, config_input
from target_salesforce_out.connection_check import is_connection_test
from target_salesforce_out.errors import (
    AuthenticationError,
    ConfigError,
    RunInterruptedError,
    SalesforceOutError,
)
from target_salesforce_out.load_order import LoadOrder
from target_salesforce_out.mirror import Mirror
from target_salesforce_out.runtime import Runtime
from target_salesforce_out.settings import CONFIG_SCHEMA, stream_settings
from target_salesforce_out.singer_input import LineNumberingReader
from target_salesforce_out.sinks.auto import AutoSink
from target_salesforce_out.sinks.base import SalesforceSink
from target_salesforce_out.sinks.bulk import BulkSink
from target_salesforce_out.sinks.connection_test import ConnectionTestSink
from target_salesforce_out.sinks.deletes import SourceDeletes
from target_salesforce_out.sinks.ledger_hook import offer_kept
from target_salesforce_out.sinks.rest import RestSink
from target_salesforce_out.summary import summary_table

# Exit codes: 0 all written (or rejected under on_record_error: continue), 1 records failed or
# the run was interrupted, 2 a configuration or login error, 3 bad Singer input.
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_BAD_INPUT = 3


class _DrainChatterFilter(logging.Filter):
    """Shows singer-sdk's per-drain messages only at DEBUG.

    "Target sink for ... is full. Draining..." comes at INFO once per batch (every second on a
    fast stream) and buries the progress lines that say what the run is doing.
    """

    _PREFIXES = ("Target sink for '%s' is full", "One or more records have exceeded the max age")

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self._logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(self._PREFIXES):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self._logger.isEnabledFor(logging.DEBUG)
        return True


class TargetSalesforceOut(Target):
    """Loads each stream into one Salesforce object through REST or Bulk API 2.0."""

    name = "target-salesforce-out"
    # singer-sdk adds its built-in settings to this dict in place; keep settings' own intact.
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)
    default_sink_class = RestSink
    # singer-sdk's msgspec reader parses input lines about three times faster than the
    # default json.loads reader, with the same values (floats as Decimal).
    message_reader_class = LineNumberingReader

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Validate the settings (no network call), then prepare the shared runtime."""
        super().__init__(*args, **kwargs)
        self.runtime = Runtime(dict(self.config))
        # Every Salesforce sink registers here; it drains a sink through drain_one.
        self.load_order = LoadOrder(self)
        self.max_parallelism = self.runtime.max_concurrency
        self._stop_signal: int | None = None
        self._busy = False
        self._versions_ignored: set[str] = set()
        self._end_of_input = False
        self._source_deletes: list[SourceDeletes] = []
        self.mirror = Mirror(self.runtime)
        self._state_withheld = False
        self._final_report: dict[str, Any] | None = None
        # Per stream, its sink when the sink's ledger stores raw digests (see _record_fast).
        self._raw_sinks: dict[str, SalesforceSink] = {}
        # singer-sdk 0.54.9: Target._handle_max_record_age drains every sink, then emits
        # STATE, once the oldest buffered record is _MAX_RECORD_AGE_IN_MINUTES old (5.0 by
        # default, too much work to re-send after a crash); there is no public setting.
        interval = float(self.config.get("state_interval_seconds") or 60)
        self._MAX_RECORD_AGE_IN_MINUTES = interval / 60
        self.logger.addFilter(_DrainChatterFilter(self.logger))

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict[str, Any]) -> None:
        """singer-sdk's settings, less the two that mean nothing here.

        ``load_method`` is what ``operation`` says per stream, and ``batch_size_rows`` what
        ``batch_size`` says (calls and jobs are sized per stream).
        """
        super().append_builtin_config(config_jsonschema)
        for name in SDK_SETTINGS_IGNORED:
            config_jsonschema["properties"].pop(name, None)

    @classmethod
    def print_about(cls, output_format: str | None = None) -> None:
        """Plain ``--about`` describes each setting, as ``--format markdown`` does.

        singer-sdk 0.54.9: ``PluginBase._get_about_info`` (private; no public way to the
        AboutInfo) gives the settings schema with singer-sdk's own settings added.
        """
        if output_format:
            super().print_about(output_format)
        else:
            print(about_text(cls._get_about_info()))

    @classmethod
    def cb_config(cls, ctx: Any, param: Any, value: tuple[str, ...]) -> ConfigInput:
        """Read ``--config``; a file that cannot be used is reported by :meth:`invoke`."""
        return config_input(value)

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """REST, Bulk, or the auto sink that chooses as records arrive (``api``; api_choice.py)."""
        if is_connection_test(self.config, stream_name):
            return ConnectionTestSink
        kind = sink_kind(stream_settings(dict(self.config), stream_name))
        return {"bulk": BulkSink, "rest": RestSink, "auto": AutoSink}[kind]

    def get_sink(
        self,
        stream_name: str,
        *,
        record: dict[str, Any] | None = None,
        schema: dict[str, Any] | None = None,
        key_properties: Any = None,
    ) -> Sink:
        """Register each new sink; on a SCHEMA change, write the old sink's records first.

        singer-sdk parks the old sink until the next full drain; if the new sink filled
        first, newer rows would be written before older ones for the same key.
        """
        if schema is None:  # a RECORD: its stream's current sink
            return super().get_sink(stream_name, record=record)
        previous = super().get_sink(stream_name) if self.sink_exists(stream_name) else None
        sink = super().get_sink(
            stream_name, record=record, schema=schema, key_properties=key_properties
        )
        if sink is previous:
            return sink
        self._raw_sinks.pop(stream_name, None)
        if isinstance(sink, SalesforceSink):
            if sink.ledger is not None and sink.ledger.keeps_raw and self._maps_plain(stream_name):
                self._raw_sinks[stream_name] = sink
            self.load_order.add(sink)
            self.runtime.start_progress()
        if previous is not None:
            self.drain_one(previous)
            if isinstance(previous, SalesforceSink):
                previous.wait_for_jobs()  # its calls or job must land before the new sink's
                self.load_order.retire(previous)
        return sink

    def process_endofpipe(self) -> None:
        """The final drain is not cut by a first stop signal either.

        Before it, the ledger's kept records of earlier runs are offered again (retry later).
        """
        self._busy = True
        try:
            if self._stop_signal is None and self.runtime.ledger is not None:
                offer_kept(self.load_order.sinks, super()._process_record_message)
            # singer-sdk: process_endofpipe's drain_all calls _drain_all, then clean_up.
            self._end_of_input = True
            super().process_endofpipe()
        finally:
            self._busy = False
        if self._stop_signal is None:
            # Also when the target runs in-process (tests, `Target.listen`), not only via CLI.
            self.finish("succeeded")

    def abort_open_jobs(self) -> None:
        """Abort the Bulk jobs of every sink that are not finished yet (the run is stopping)."""
        for sink in self.load_order.sinks:
            sink.abort_open_jobs()
        for deletes in self._source_deletes:
            deletes.jobs.abort(self.runtime)
        self.mirror.jobs.abort(self.runtime)

    def source_deletes(self, sink: SalesforceSink) -> SourceDeletes:
        """What ``sink``'s stream does with rows deleted at the source (``deleted_records``)."""
        deletes = SourceDeletes(sink)
        self._source_deletes.append(deletes)
        return deletes

    def finish(self, status: str) -> dict[str, Any]:
        """End the run: no call running, every record accounted for, then the report.

        Idempotent: later calls return the same report.
        """
        if self._final_report is None:
            self.runtime.stop_workers()
            # No call runs any more: whatever has no outcome yet was never sent.
            for sink in self.load_order.sinks:
                sink.account_unfinished()
            self.runtime.report.plan = self.load_order.plan_report()
            self._final_report = self.runtime.finish(status)
        return self._final_report

    # -- singer-sdk 0.54.9 private members ---------------------------------------------------
    #
    # singer-sdk offers no public hook for these; each override says what singer-sdk does
    # that it depends on (checked by tests/test_singer_sdk_contract.py). The pin in
    # pyproject.toml keeps singer-sdk to the releases that do so.

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """One line per problem: secrets never echoed, misspelt names with the closest one.

        singer-sdk: ``PluginBase.__init__`` calls ``_validate_config(raise_errors=...)`` once
        the config is set, and raises what it raises (``ConfigValidationError``).
        """
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        problems = config_problems(dict(self.config), schema)
        if problems and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=problems)
        return problems

    def _drain_all(self, sink_list: Iterable[Sink], parallelism: int) -> None:
        """Drain parents before the streams that reference them; wait for calls and jobs.

        Contacts that look up their Account by external id must reach Salesforce after
        the Accounts of the same run, whatever order the streams arrived in.

        singer-sdk: the final ``Target.drain_all`` calls ``_drain_all`` for the parked sinks,
        then for the active ones, then writes STATE with ``_write_state_message``; so STATE
        follows every call and job waited for here.
        """
        sinks = self.load_order.drain_order(sink_list)
        # A dry run's sinks drain one at a time: each counts the calls of its own lookups.
        parallelism = 1 if self.runtime.dry_run else parallelism
        super()._drain_all(sinks, self.load_order.parallelism(sinks, parallelism))
        for sink in sinks:
            if isinstance(sink, SalesforceSink):
                sink.wait_for_jobs()
        if self._end_of_input:
            # Held hierarchy records and second passes, before clean_up and STATE.
            self.load_order.finish(sinks)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: stop reading input, write what was received, then STATE.

        The signal may arrive in the middle of a record or a drain; stopping there could
        leave a batch half-sent, so the stop waits for the next message boundary (see
        :meth:`_at_boundary`). A second signal stops at once: no STATE, and :meth:`run`
        aborts the Bulk jobs left open.

        singer-sdk: ``PluginBase.__init__`` installs ``_handle_termination`` as the SIGINT and
        SIGTERM handler (on the main thread); singer-sdk's own drains and exits at once.
        """
        hard = self._stop_signal is not None
        self._stop_signal = signum
        if hard or not self._busy:
            raise RunInterruptedError(signum, hard=hard)

    def _at_boundary(
        self, process: Callable[[dict[str, Any]], None], message: dict[str, Any]
    ) -> None:
        """Process one message as a unit that a first stop signal does not cut."""
        self._busy = True
        try:
            process(message)
        finally:
            self._busy = False
        if self._stop_signal is not None:
            raise RunInterruptedError(self._stop_signal, hard=False)

    # singer-sdk: the reader calls _process_<type>_message once per input line (the callbacks
    # of SingerReader.process_lines); each is one unit for a stop signal.

    def _process_record_message(self, message_dict: dict[str, Any]) -> None:
        if message_dict.get("stream") in self._raw_sinks:
            self._at_boundary(self._record_fast, message_dict)
        else:
            self._at_boundary(super()._process_record_message, message_dict)

    def _maps_plain(self, stream_name: str) -> bool:
        """Whether singer-sdk hands the stream's records to its sink as received.

        Not with ``stream_maps`` (they change records, rename or split streams) nor flattening.
        singer-sdk: ``Target.mapper.stream_maps[stream]`` lists the maps a RECORD goes through;
        without any configured, one ``SameRecordTransform`` under the stream's own name.
        """
        maps = self.mapper.stream_maps.get(stream_name) or []
        return (
            not self.config.get("stream_maps")
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == stream_name
            and not maps[0].flattening_enabled
        )

    def _record_fast(self, message_dict: dict[str, Any]) -> None:
        """A RECORD of a stream whose ledger keeps raw digests: the fast path, else the SDK's.

        An unchanged record (see ``SinkLedger.skips_raw``) is counted and skipped before
        singer-sdk's record work, validation and conversion; singer-sdk's max-record-age
        check still runs for it, as after any record. Any other record takes singer-sdk's
        path with its raw digest waiting for the ledger.
        """
        sink = self._raw_sinks[message_dict["stream"]]
        hook = sink.ledger
        assert hook is not None
        record = message_dict.get("record")
        if isinstance(record, dict) and hook.skips_raw(record):
            sink.skipped_unchanged()
            self._handle_max_record_age()
            return
        try:
            super()._process_record_message(message_dict)
        finally:
            hook.raw_next = None

    def _process_schema_message(self, message_dict: dict[str, Any]) -> None:
        self._at_boundary(super()._process_schema_message, message_dict)

    def _process_state_message(self, message_dict: dict[str, Any]) -> None:
        self._at_boundary(super()._process_state_message, message_dict)

    def _process_batch_message(self, message_dict: dict[str, Any]) -> None:
        """BATCH: each record of the listed files takes the path of a RECORD message.

        singer-sdk hands the files to ``Sink.process_batch_files``, whose records never reach
        ``process_record``; here they are validated, mapped, counted and drained like any other.
        """
        for record_message in record_messages(message_dict):
            self._process_record_message(record_message)

    def _process_activate_version_message(self, message_dict: dict[str, Any]) -> None:
        """ACTIVATE_VERSION: mirror the stream (``mirror: true``), else say once it is ignored.

        singer-sdk's own warns once per message and calls ``Sink.activate_version``.
        """
        stream = str(message_dict.get("stream"))
        if stream_settings(dict(self.config), stream).mirror and self.sink_exists(stream):
            self._at_boundary(self._mirror_version, message_dict)
            return
        if stream not in self._versions_ignored:
            self._versions_ignored.add(stream)
            self.logger.warning(
                "stream %r: ACTIVATE_VERSION ignored; records missing from the new version "
                "are not deleted in Salesforce",
                stream,
            )

    def _mirror_version(self, message_dict: dict[str, Any]) -> None:
        """Write the stream's pending records, then delete what the new version lacks."""
        sink = super().get_sink(str(message_dict["stream"]))
        if not isinstance(sink, SalesforceSink):
            return
        self.drain_one(sink)
        sink.wait_for_jobs()
        self.mirror.activate_version(sink, message_dict.get("version"))

    def _write_state_message(self, state: dict[str, Any]) -> None:
        """Emit STATE, except in a dry run: nothing was written, so nothing is confirmed.

        Meltano saves whatever STATE a run emits; a dry run's would make the next real
        run skip every record the dry run only looked at.

        singer-sdk: ``Target.drain_all`` emits every STATE through ``_write_state_message``.
        The ledger's confirmations are committed first, so STATE never covers a record whose
        confirmation a crash could still lose.
        """
        if self.runtime.ledger is not None:
            self.runtime.ledger.commit()
        if self.runtime.dry_run:
            if not self._state_withheld:
                self._state_withheld = True
                self.logger.info("dry run: no STATE is emitted (nothing was written)")
            return
        if self.load_order.holds_records():
            # Records held for their parent or a second pass are not written yet; STATE
            # waits until they are (at the latest, the end of the input).
            self.logger.debug("STATE withheld: records wait for their parents or second pass")
            return
        super()._write_state_message(state)

    # -- the run -------------------------------------------------------------------------------

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: Any = None,
        file_input: IO[str] | None = None,
    ) -> None:
        """Run the target; end with the report, the summary table and the right exit code."""
        if isinstance(config, ConfigInput) and config.problem is not None:
            cls.logger.error("configuration: %s", config.problem)
            sys.exit(EXIT_CONFIG)
        if about:
            super().invoke(about=about, about_format=about_format, config=config)
            return
        config = config or ConfigInput()
        cls.print_version(print_fn=cls.logger.info)
        try:
            target = cls(
                config=config.config, validate_config=True, parse_env_config=config.parse_env
            )
        except ConfigValidationError as exc:
            for error in exc.errors or [str(exc)]:
                cls.logger.error("configuration: %s", error)
            sys.exit(EXIT_CONFIG)
        except SalesforceOutError as exc:
            cls.logger.error("%s", exc)
            sys.exit(EXIT_CONFIG)
        sys.exit(target.run(file_input))

    def _note_signal(self, exc: RunInterruptedError) -> None:
        """Say at once what a stop signal does (the run may take a moment to end)."""
        self.runtime.report.errors.append(str(exc))
        self._signals_logged.add(str(exc))
        self.logger.warning("%s", exc)

    def run(self, file_input: IO[str] | None) -> int:
        """Read the input and write it; end with the report and summary; return the exit code.

        Every way out (success, rejections, an outage, bad input, a stop signal, a bug)
        ends here, so the report and the summary always account for every record.
        """
        status, code = "failed", EXIT_FAILED
        self._signals_logged: set[str] = set()
        try:
            try:
                self.listen(file_input)
                # A first signal during the final drain lets it finish, but the run was
                # still interrupted: the caller asked it to stop.
                interrupted = self._stop_signal is not None
                status, code = ("interrupted", EXIT_FAILED) if interrupted else ("succeeded", 0)
            except RunInterruptedError as exc:
                self._note_signal(exc)
                if exc.hard:
                    raise
                # Everything received is written (Bulk jobs waited for) before STATE.
                self.process_endofpipe()
                status = "interrupted"
            except SingerReadError as exc:
                self.runtime.report.errors.append(f"bad Singer input: {exc}")
                # The records before the bad line are written and accounted for.
                status, code = "bad input", EXIT_BAD_INPUT
                self._busy = True
                self._end_of_input = True
                try:
                    super().process_endofpipe()
                finally:
                    self._busy = False
        except (ConfigError, AuthenticationError, ConfigValidationError) as exc:
            status, code = "failed", EXIT_CONFIG
            self.runtime.report.errors.append(str(exc))
        except RunInterruptedError as exc:
            status = "interrupted"
            if str(exc) not in self._signals_logged:  # a second signal, during the drain
                self._note_signal(exc)
        except (SalesforceOutError, SingerSDKError, SingerReadError) as exc:
            self.runtime.report.errors.append(str(exc))
        except Exception as exc:
            # A defect of ours must still end with every record accounted for.
            self.runtime.report.errors.append(f"unexpected error: {type(exc).__name__}: {exc}")
            self.logger.debug("traceback", exc_info=exc)
        finally:
            if status != "succeeded":
                self.abort_open_jobs()
            report = self.finish(status)
            sys.stderr.write(summary_table(report) + "\n")
            sys.stderr.flush()
            # The cause comes last, after the summary, so that tools showing only a run's
            # last line (Meltano) show it.
            for error in report["errors"]:
                if error not in self._signals_logged:
                    self.logger.error("%s", error)
        return code
