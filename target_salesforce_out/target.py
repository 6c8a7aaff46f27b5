"""The Singer target: settings, choice of sink per stream, and the run's outcome."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterable
from types import FrameType
from typing import IO, Any

from singer_sdk import Target
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.exceptions import ConfigValidationError, SingerSDKError
from singer_sdk.singerlib.exceptions import SingerReadError
from singer_sdk.sinks import Sink

from target_salesforce_out.errors import RunInterruptedError, SalesforceOutError
from target_salesforce_out.reporting import summary_table
from target_salesforce_out.runtime import Runtime
from target_salesforce_out.settings import CONFIG_SCHEMA, cross_setting_problems, stream_settings
from target_salesforce_out.sinks.base import SalesforceSink
from target_salesforce_out.sinks.bulk import BulkSink
from target_salesforce_out.sinks.rest import RestSink


def order_by_dependencies(sinks: list[Sink]) -> list[Sink]:
    """Sinks whose object others reference come first (stable otherwise)."""
    ordered: list[Sink] = []
    remaining = list(sinks)
    while remaining:
        loaded = {s.obj.name.lower() for s in remaining if isinstance(s, SalesforceSink)}
        ready = [
            s
            for s in remaining
            if not (isinstance(s, SalesforceSink) and s.parents & (loaded - {s.obj.name.lower()}))
        ]
        # A reference cycle cannot be ordered; keep the arrival order for what is left.
        batch = ready or remaining
        ordered += batch
        remaining = [s for s in remaining if s not in batch]
    return ordered


class TargetSalesforceOut(Target):
    """Loads each stream into one Salesforce object through REST or Bulk API 2.0."""

    name = "target-salesforce-out"
    # singer-sdk adds its built-in settings to this dict in place; keep settings' own intact.
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)
    default_sink_class = RestSink
    # singer-sdk's msgspec reader parses input lines about three times faster than the
    # default json.loads reader, with the same values (floats as Decimal).
    message_reader_class = MsgSpecReader

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Validate the settings (no network call), then prepare the shared runtime."""
        super().__init__(*args, **kwargs)
        self.runtime = Runtime(dict(self.config))
        self.max_parallelism = self.runtime.max_concurrency
        self.runtime.active_sinks = lambda: [
            s for s in self._sinks_active.values() if isinstance(s, SalesforceSink)
        ]
        self.runtime.drain = self.drain_one
        self._stop_signal: int | None = None
        self._busy = False

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict[str, Any]) -> None:
        """singer-sdk's settings, less the two that mean nothing here.

        ``load_method`` is what ``operation`` says per stream, and ``batch_size_rows`` what
        ``batch_size`` says (calls and jobs are sized per stream).
        """
        super().append_builtin_config(config_jsonschema)
        for name in ("load_method", "batch_size_rows"):
            config_jsonschema["properties"].pop(name, None)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        errors = super()._validate_config(raise_errors=raise_errors)
        problems = cross_setting_problems(dict(self.config))
        if problems and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=problems)
        return errors + problems

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """REST or Bulk, per the stream's ``api`` setting."""
        if stream_settings(dict(self.config), stream_name).api == "bulk":
            return BulkSink
        return RestSink

    def get_sink(
        self,
        stream_name: str,
        *,
        record: dict[str, Any] | None = None,
        schema: dict[str, Any] | None = None,
        key_properties: Any = None,
    ) -> Sink:
        """On a SCHEMA change, write the old sink's records before the new sink's.

        singer-sdk parks the old sink until the next full drain; if the new sink filled
        first, newer rows would be written before older ones for the same key.
        """
        previous = self._sinks_active.get(stream_name)
        sink = super().get_sink(
            stream_name, record=record, schema=schema, key_properties=key_properties
        )
        if previous is not None and sink is not previous:
            self.drain_one(previous)
            if isinstance(previous, SalesforceSink):
                previous.wait_for_jobs()  # its calls or job must land before the new sink's
        return sink

    def _drain_all(self, sink_list: Iterable[Sink], parallelism: int) -> None:
        """Drain parents before the streams that reference them; wait for Bulk jobs.

        Contacts that look up their Account by external id must reach Salesforce after
        the Accounts of the same run, whatever order the streams arrived in.
        """
        sinks = order_by_dependencies(list(sink_list))
        linked = any(getattr(s, "parents", None) for s in sinks)
        super()._drain_all(sinks, 1 if linked else parallelism)
        for sink in sinks:
            wait = getattr(sink, "wait_for_jobs", None)
            if wait is not None:
                wait()

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: stop reading input, write what was received, then STATE.

        The signal may arrive in the middle of a record or a drain; stopping there could
        leave a batch half-sent, so the stop waits for the next message boundary (see
        :meth:`_at_boundary`). A second signal stops at once: no STATE, and :meth:`invoke`
        aborts the Bulk jobs left open.
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

    def _process_record_message(self, message_dict: dict[str, Any]) -> None:
        self._at_boundary(super()._process_record_message, message_dict)

    def _process_schema_message(self, message_dict: dict[str, Any]) -> None:
        self._at_boundary(super()._process_schema_message, message_dict)

    def _process_state_message(self, message_dict: dict[str, Any]) -> None:
        self._at_boundary(super()._process_state_message, message_dict)

    def process_endofpipe(self) -> None:
        """The final drain is not cut by a first stop signal either."""
        self._busy = True
        try:
            super().process_endofpipe()
        finally:
            self._busy = False
        if self._stop_signal is None:
            # Also when the target runs in-process (tests, `Target.listen`), not only via CLI.
            self.runtime.finish("succeeded")

    def abort_open_jobs(self) -> None:
        """Abort the Bulk jobs of every sink that are not finished yet (the run is stopping)."""
        for sink in self.runtime.sinks:
            abort = getattr(sink, "abort_open_jobs", None)
            if abort is not None:
                abort()

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
        if about:
            super().invoke(about=about, about_format=about_format, config=config)
            return
        from singer_sdk.plugin_base import _ConfigInput  # noqa: PLC0415

        config = config or _ConfigInput()
        cls.print_version(print_fn=cls.logger.info)
        target = cls(config=config.config, validate_config=True, parse_env_config=config.parse_env)
        status = "failed"
        try:
            try:
                target.listen(file_input)
                status = "succeeded"
            except RunInterruptedError as exc:
                target.runtime.report.errors.append(str(exc))
                target.logger.warning("%s", exc)
                if exc.hard:
                    raise
                # Everything received is written (Bulk jobs waited for) before STATE.
                target.process_endofpipe()
                status = "interrupted"
        except (SalesforceOutError, SingerSDKError, SingerReadError) as exc:
            target.runtime.report.errors.append(str(exc))
            target.logger.error("%s", exc)
        finally:
            if status != "succeeded":
                target.abort_open_jobs()
            report = target.runtime.finish(status)
            sys.stderr.write(summary_table(report) + "\n")
            sys.stderr.flush()
        if status != "succeeded":
            sys.exit(1)
