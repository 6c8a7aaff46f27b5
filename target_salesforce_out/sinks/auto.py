"""The ``api: auto`` sink: sObject Collections for small batches, a Bulk API 2.0 job for large.

Records wait in memory as a REST batch. When the batch's pending records (received, checked and
converted, not yet written) pass ``bulk_threshold``, the batch becomes a Bulk batch: its records
go to a Bulk job file (on disk, see :mod:`.bulk`), and so does every record that arrives until
the batch is drained (the job is full, STATE is due, a child stream needs this one's records
written first, or the input ends). Then the next batch starts as REST again: a batch that ends
with at most ``bulk_threshold`` records is written through Collections calls. A steady large
stream therefore runs as Bulk jobs, one per drain, and its tail or a trickle through REST.

Salesforce's guidance: Bulk API for more than 2,000 records, REST (sObject Collections) for
fewer (Bulk API 2.0 and Bulk API Developer Guide, "When to Use Bulk API 2.0"; REST API
Developer Guide, "sObject Collections": up to 200 records a call).

One registered sink per stream keeps the load order, SCHEMA changes and the run's end as for
the other sinks; its Bulk side is a :class:`~.bulk.BulkSink` made on first use. Order per key:
a Bulk batch waits for the REST calls still running before its first job starts, and a REST
batch waits for the Bulk jobs still running, so writes of one key land in input order.
STATE waits for both (:meth:`AutoSink.wait_for_jobs`).
"""

from __future__ import annotations

from typing import Any

from target_salesforce_out.sinks.bulk import BulkSink
from target_salesforce_out.sinks.item import Item
from target_salesforce_out.sinks.rest import RestSink


class AutoSink(RestSink):
    """Loads a stream through REST calls or Bulk jobs, chosen per batch by its size."""

    def __init__(
        self,
        target: Any,
        stream_name: str,
        schema: dict[str, Any],
        key_properties: list[str] | None,
    ) -> None:
        """A REST sink whose Bulk side is made when a batch first passes the threshold."""
        super().__init__(target, stream_name, schema, key_properties)
        self._target = target
        self._key_properties_given = key_properties
        self.threshold = self.settings.bulk_threshold
        self._bulk: BulkSink | None = None
        # Whether the current batch goes to a Bulk job (its records are in the job file).
        self._bulk_batch = False

    # -- singer-sdk hooks ------------------------------------------------------------------

    @property
    def max_size(self) -> int:
        """Records read before a drain: a Bulk job's cap, else just past the threshold."""
        if self._bulk_batch and self._bulk is not None:
            return self._bulk.max_size
        return self.threshold + 1

    @property
    def is_full(self) -> bool:
        """A Bulk batch drains when its job is full; a REST one when its reads pass the threshold.

        A REST batch's pending records never pass the threshold (the batch turns Bulk first);
        records rejected on arrival still count as read, so a stream whose records are all
        rejected drains (and applies ``on_record_error``) as often as a written one.
        """
        if self._bulk_batch and self._bulk is not None:
            return self._bulk.is_full
        return self.current_size > self.threshold

    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        """Into the REST batch; once its pending records pass the threshold, into a Bulk job."""
        if self._bulk_batch:
            item = self._prepare(record)
            if item is not None:
                self._to_bulk(item)
            return
        super().process_record(record, context)
        items: list[Item] = context.get("items") or []
        if len(items) > self.threshold:
            self._start_bulk_batch(items)

    def process_batch(self, context: dict[str, Any]) -> None:
        """Submit the Bulk batch's job, or write the REST batch."""
        if not self._bulk_batch:
            super().process_batch(context)
            return
        self._bulk_batch = False
        bulk = self._bulk
        assert bulk is not None
        # Like every sink's batch: its parents' records first (this sink, not its Bulk side,
        # is the one registered in the load order).
        self._parents_first.write_parents_first(self)
        bulk.process_batch(context)
        self.raise_for_failures()

    def write_batch(self, items: list[Item]) -> None:
        """A REST batch: after the Bulk jobs still running, so each key's writes stay in order."""
        if self._bulk is not None:
            self._bulk.wait_for_jobs()
        super().write_batch(items)

    def wait_for_jobs(self) -> None:
        """Wait for the REST calls and the Bulk jobs still running."""
        try:
            super().wait_for_jobs()
        finally:
            if self._bulk is not None:
                self._bulk.wait_for_jobs()

    def wait_before_failing(self) -> None:
        """A Bulk job's own error is the one reported."""
        if self._bulk is not None:
            self._bulk.wait_for_jobs()

    def abort_open_jobs(self) -> None:
        """Abort the Bulk jobs not finished yet (the run is stopping)."""
        if self._bulk is not None:
            self._bulk.abort_open_jobs()

    def account_unfinished(self) -> None:
        """Dead-letter the records without an outcome, in memory and in unsent Bulk jobs."""
        super().account_unfinished()
        if self._bulk is not None:
            self._bulk.account_unfinished()

    def clean_up(self) -> None:
        """Delete the Bulk side's temporary files too."""
        super().clean_up()
        if self._bulk is not None:
            self._bulk.clean_up()

    # -- switching ---------------------------------------------------------------------------

    def _start_bulk_batch(self, items: list[Item]) -> None:
        """The batch passed the threshold: its records, and the next ones, go to a Bulk job."""
        self._bulk_side()
        # REST calls still running land before any job of this batch starts.
        while self._running:
            _, futures = self._running.popleft()
            self._wait(futures)
        self._bulk_batch = True
        pending = list(items)
        items.clear()
        for item in pending:
            self._to_bulk(item)

    def _to_bulk(self, item: Item) -> None:
        # The Bulk side accounts for the record from here on (its job file holds it).
        self.settle(item.record)
        bulk = self._bulk
        assert bulk is not None
        bulk.accept(item)

    def _bulk_side(self) -> BulkSink:
        """The Bulk sink of this stream, made on first use with the stream's settings."""
        if self._bulk is None:
            bulk = BulkSink(
                self._target,
                self.stream_name,
                self.original_schema,
                self._key_properties_given,
            )
            # Records held for their parents wait in one place, whichever API writes them.
            bulk.deferral = self.deferral
            self._bulk = bulk
            self.logger.info(
                "stream %r: more than %d records pending (bulk_threshold): loading through "
                "Bulk API 2.0 jobs",
                self.stream_name,
                self.threshold,
            )
        return self._bulk
