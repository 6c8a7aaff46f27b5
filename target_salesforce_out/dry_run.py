"""The dry run's side of each sink: look up, count, check parents, predict calls.

A dry run reads only (SOQL queries); what it predicts is described in
:mod:`target_salesforce_out.predictions`. The sinks call these functions where a real run would
write: the REST sink per batch (:func:`rest_batch`), the Bulk sink per block of rows
(:func:`bulk_batch`); both check parents first (:func:`missing_parents`).

The lookups a real run also makes (update and delete by external id, ``match_fields``) are
counted by the calls they took; the target drains sinks one at a time in a dry run, so the
client's call counter moves only for the lookup being measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from target_salesforce_out.errors import ErrorDetail
from target_salesforce_out.predictions import collections_calls
from target_salesforce_out.reporting import Count
from target_salesforce_out.sinks.rounds import split_rounds
from target_salesforce_out.soql import find_ids, key_of

if TYPE_CHECKING:
    from target_salesforce_out.describe import ObjectInfo
    from target_salesforce_out.errors import ErrorDetail as Detail
    from target_salesforce_out.mapping import Column, RecordMapper
    from target_salesforce_out.operations import Operation
    from target_salesforce_out.predictions import StreamForecast
    from target_salesforce_out.runtime import Runtime
    from target_salesforce_out.settings import StreamSettings
    from target_salesforce_out.sinks.bulk_csv import RowFormat
    from target_salesforce_out.sinks.item import Item
    from target_salesforce_out.soql import MatchKey


class SalesforceSink(Protocol):
    """What the dry run uses of a sink (``sinks.base.SalesforceSink`` has it).

    A protocol rather than the class: the sinks call this module, so it must not import them.
    """

    stream_name: str
    runtime: Runtime
    mapper: RecordMapper
    obj: ObjectInfo
    operation: Operation
    settings: StreamSettings
    forecast: StreamForecast | None

    def count(self, count: Count, n: int = 1) -> None:
        """Add to one of the stream's counters."""

    def reject(
        self,
        record: dict[str, Any],
        detail: Detail,
        *,
        source: str,
        job_id: str | None = None,
    ) -> None:
        """Dead-letter ``record``."""

    def message(self, record: dict[str, Any], text: str) -> str:
        """A rejection message naming the stream and the record's key."""

    def key_name(self) -> str | None:
        """Wire name of the key field, if the stream has one."""

    def key_type(self, key: str) -> str:
        """Describe type of the key field."""

    def existing(self, items: list[Item], key: str) -> dict[str, list[str]]:
        """Ids of the org's records holding each item's ``key`` value."""


class RestSink(SalesforceSink, Protocol):
    """What the dry run uses of a REST sink (``sinks.rest.RestSink``): its matcher."""

    def _match_key(self, item: Item) -> MatchKey | None: ...

    def _lookup_matches(self, items: list[Item]) -> list[tuple[Item, list[str] | None]]: ...

    def _no_match_key(self, record: dict[str, Any]) -> Detail: ...


class BulkSink(SalesforceSink, Protocol):
    """What the dry run uses of a Bulk sink (``sinks.bulk.BulkSink``): its job cuts and rows."""

    _job_op: Operation
    _format: RowFormat

    @property
    def max_job_bytes(self) -> int:
        """Raw CSV bytes per job."""

    @property
    def max_size(self) -> int:
        """Records per job."""

    def _cells(self, record: dict[str, Any], fields: dict[str, Any]) -> list[str] | None: ...


T = TypeVar("T")


def _forecast(sink: SalesforceSink) -> StreamForecast:
    forecast: StreamForecast | None = sink.forecast
    assert forecast is not None, "only a dry run's sinks predict"
    return forecast


def _measured(sink: SalesforceSink, lookup: Callable[[], T]) -> tuple[T, int]:
    """What ``lookup`` returns, and the API calls it took."""
    before = sink.runtime.client.api_calls
    result = lookup()
    return result, sink.runtime.client.api_calls - before


# -- keys and parents ---------------------------------------------------------------------------


def note_keys(sink: SalesforceSink, fields: dict[str, Any]) -> None:
    """Remember the record's external id (and Id) values: it may be another record's parent."""
    keys = sink.runtime.report.run_keys
    for column in sink.mapper.columns:
        field = column.field
        if column.parent_field is not None or column.name not in fields:
            continue
        if field.external_id or field.id_lookup or field.name == "Id":
            keys.note(sink.obj.name, field.name, key_of(fields[column.name], field.type))


def _parent_object(column: Column) -> str:
    """``Account`` for ``Account.External_Id__c``; ``Contact`` for ``Contact:Who.Email``."""
    typed, _, _ = column.name.split(".", 1)[0].rpartition(":")
    return typed or column.field.reference_to[0]


def missing_parents(sink: SalesforceSink, items: list[Item]) -> set[int]:
    """Reject (as Salesforce would) the items whose parent does not exist; their indexes.

    A parent exists when a record of this run carries its key (the real run writes parents
    first) or the org holds it (one read-only SOQL lookup per chunk of keys). A real run
    still sends such records (Salesforce rejects them), so they count in the calls.
    """
    columns = [c for c in sink.mapper.columns if c.parent_field is not None]
    if not columns:
        return set()
    forecast, keys = _forecast(sink), sink.runtime.report.run_keys
    rejected: set[int] = set()
    for column in columns:
        parent, parent_field = _parent_object(column), column.parent_field
        assert parent_field is not None
        wanted: dict[str, list[int]] = {}
        for index, (_, fields) in enumerate(items):
            value = fields.get(column.name)
            key = None if value is None else key_of(value, parent_field.type)
            if key is not None and not keys.has(parent, parent_field.name, key):
                wanted.setdefault(key, []).append(index)
        if not wanted:
            continue
        values = [items[indexes[0]].fields[column.name] for indexes in wanted.values()]
        found = find_ids(sink.runtime.client, parent, parent_field.name, values, parent_field.type)
        for key, indexes in wanted.items():
            if key in found:
                continue
            for index in indexes:
                if index in rejected:
                    continue
                rejected.add(index)
                record, fields = items[index]
                value = fields[column.name]
                forecast.missing(parent, parent_field.name, value)
                text = (
                    f"its parent {parent} with {parent_field.name}={value!r} is neither in this "
                    "run nor in the org; Salesforce would refuse it (INVALID_FIELD: Foreign key "
                    "external ID not found)"
                )
                detail = ErrorDetail(
                    "INVALID_FIELD", sink.message(record, text), (column.field.name,)
                )
                sink.reject(record, detail, source="dry_run")
    return rejected


# -- outcomes ---------------------------------------------------------------------------------


def count_outcome(
    sink: SalesforceSink,
    record: dict[str, Any],
    key: Hashable | None,
    *,
    found: bool,
    not_found: ErrorDetail,
) -> Count | None:
    """Count what the record would do; None after rejecting it as ``not_found``.

    A key created by an earlier record of the run exists by the time this one is written.
    """
    forecast = _forecast(sink)
    counted = sink.operation.dry_run_count(exists=forecast.exists(key, found))
    if counted is None:
        sink.reject(record, not_found, source="dry_run")
        return None
    sink.count(counted)
    if counted is Count.WOULD_CREATE:
        forecast.note_created(key)
    return counted


def _multiple(sink: SalesforceSink, record: dict[str, Any], ids: list[str], shown: str) -> None:
    text = f"{len(ids)} {sink.obj.name} records match {shown}: {', '.join(ids)}; none would change"
    detail = ErrorDetail("MULTIPLE_MATCHES", sink.message(record, text))
    sink.reject(record, detail, source="dry_run")


def _real_lookup(operation: Operation, key: str) -> bool:
    """Whether a real run looks the records' Ids up first (update and delete by external id)."""
    return not operation.finds_by_key and key != "Id"


def _looked_up(
    sink: SalesforceSink, items: list[Item], key: str, operation: Operation, missing: set[int]
) -> Iterator[tuple[int, Item, str | None, Any, list[str]]]:
    """Each item with its index, key (canonical, and as sent) and the org's Ids holding it.

    One lookup for the batch, counted as the real run's when it makes it too. An item whose
    key several org records hold is rejected here (``MULTIPLE_MATCHES``) when the real run
    would look it up, and not yielded.
    """
    key_type = sink.key_type(key)
    real_lookup = _real_lookup(operation, key)
    found, queries = _measured(sink, lambda: sink.existing(items, key))
    if real_lookup:
        _forecast(sink).lookup_queries += queries
    for index, item in enumerate(items):
        value = item.fields.get(key)
        canonical = None if value is None else key_of(value, key_type)
        ids = found.get(canonical, []) if canonical is not None else []
        if real_lookup and len(ids) > 1:
            if index not in missing:
                _multiple(sink, item.record, ids, f"{key}={value!r}")
            continue
        yield index, item, canonical, value, ids


def rest_batch(sink: RestSink, items: list[Item]) -> None:
    """Count the batch's would-be outcomes and the Collections calls and lookups it would take."""
    op, forecast = sink.operation, _forecast(sink)
    size = sink.settings.effective_batch_size
    key = sink.key_name()
    missing = missing_parents(sink, items)
    if op.needs_key and sink.mapper.match_columns:
        _matched_batch(sink, items, size, missing)
        return
    if not op.needs_key or key is None:
        sink.count(Count.WOULD_CREATE, len(items) - len(missing))  # existing ones do not matter
        forecast.collections_calls += math.ceil(len(items) / size)
        return
    real_lookup = _real_lookup(op, key)
    sent: list[str | None] = []
    for index, (record, _), canonical, _, ids in _looked_up(sink, items, key, op, missing):
        if index in missing:
            if ids or not real_lookup:
                sent.append(canonical)
            continue
        text = f"no {sink.obj.name} record matches its key"
        not_found = ErrorDetail("NOT_FOUND", sink.message(record, text))
        counted = count_outcome(sink, record, canonical, found=bool(ids), not_found=not_found)
        # By external id only found records are sent; by Id and upsert, every record is.
        if counted is not None or not real_lookup:
            sent.append(canonical)
    forecast.collections_calls += collections_calls(sent, size)


def _matched_batch(sink: RestSink, items: list[Item], size: int, missing: set[int]) -> None:
    """A ``match_fields`` batch: one lookup per round, then update and create calls."""
    forecast = _forecast(sink)
    names = [c.name for c in sink.mapper.match_columns]
    unsent = {id(items[index].record) for index in missing}
    for round_items in split_rounds(items, sink._match_key):
        looked, queries = _measured(sink, partial(sink._lookup_matches, round_items))
        forecast.lookup_queries += queries
        by_id = creates = 0
        for item, ids in looked:
            record, fields = item
            if id(record) in unsent:  # rejected for its parent, yet sent by a real run
                if ids is not None and len(ids) == 1:
                    by_id += 1
                elif ids == [] and sink.operation.creates_when_not_found:
                    creates += 1
                continue
            if ids is None:
                sink.reject(record, sink._no_match_key(record), source="dry_run")
                continue
            shown = ", ".join(f"{n}={fields.get(n)!r}" for n in names)
            if len(ids) > 1:
                _multiple(sink, record, ids, shown)
                continue
            text = f"no {sink.obj.name} matches {shown}"
            not_found = ErrorDetail("NOT_FOUND", sink.message(record, text), tuple(names))
            key = sink._match_key(item)
            counted = count_outcome(sink, record, key, found=bool(ids), not_found=not_found)
            if counted is Count.WOULD_CREATE:
                creates += 1
            elif counted is not None:
                by_id += 1
        forecast.collections_calls += math.ceil(by_id / size) + math.ceil(creates / size)


# -- Bulk ---------------------------------------------------------------------------------------


class JobPlan:
    """Cuts the dry run's rows into the Bulk jobs a real run would make (see sinks/bulk.py).

    A job ends at the record cap, before a row that would pass the byte cap, before a key it
    already holds, and at the end of each sink batch.
    """

    def __init__(self, sink: BulkSink) -> None:
        """An empty job."""
        self._sink = sink
        self._rows = 0
        self._bytes = 0
        self._keys: set[str] = set()

    def row(self, correlation_key: str, size: int) -> None:
        """One row of ``size`` CSV bytes goes into the current job."""
        sink = self._sink
        if self._rows and self._bytes + size > sink.max_job_bytes:
            self.cut()
        if correlation_key.startswith("k:"):
            if correlation_key in self._keys:
                self.cut()
            self._keys.add(correlation_key)
        self._rows += 1
        self._bytes += size
        if self._rows >= sink.max_size:
            self.cut()

    def cut(self) -> None:
        """The current job would be submitted here."""
        if self._rows:
            sink = self._sink
            _forecast(sink).bulk_jobs += 1
            sink.runtime.report.add_batch(sink.stream_name, "bulk", self._rows)
        self._rows = self._bytes = 0
        self._keys = set()


def bulk_batch(sink: BulkSink, items: list[Item], plan: JobPlan) -> None:
    """Count a block of Bulk rows' would-be outcomes and put them into the planned jobs."""
    missing = missing_parents(sink, items)
    job_op, key = sink._job_op, sink.key_name()
    fmt = sink._format

    def planned(record: dict[str, Any], fields: dict[str, Any]) -> bool:
        cells = sink._cells(record, fields)
        if cells is not None:
            plan.row(fmt.correlation_key(cells), len(fmt.line(cells).encode()) + 1)
        return cells is not None

    if not job_op.needs_key or key is None:
        for index, (record, fields) in enumerate(items):
            if planned(record, fields) and index not in missing:
                sink.count(Count.WOULD_CREATE)
        return
    real_lookup = _real_lookup(job_op, key)
    for index, (record, fields), canonical, value, ids in _looked_up(
        sink, items, key, job_op, missing
    ):
        row = {**fields, "Id": ids[0]} if real_lookup and ids else fields
        if index in missing:
            if ids or not real_lookup:
                planned(record, row)  # sent by a real run, and rejected by Salesforce
            continue
        if (real_lookup and not ids) or planned(record, row):
            text = f"no {sink.obj.name} has {key}={value!r}"
            not_found = ErrorDetail("NOT_FOUND", sink.message(record, text), (key,))
            count_outcome(sink, record, canonical, found=bool(ids), not_found=not_found)
