"""The order in which sinks write: parents before the streams whose records look them up.

A Contact that names its Account by external id must reach Salesforce after that Account, in
whatever order the streams arrived. The target owns one :class:`LoadOrder`, registers every
sink it creates, and asks it for the drain order of a full drain; a sink asks it, before
writing a batch, to write its parents' pending records first. Draining goes through the
target (:class:`Drainer`), so a sink never drains another sink itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from singer_sdk.sinks import Sink

from target_salesforce_out.sinks.base import SalesforceSink


class Drainer(Protocol):
    """Writes one sink's buffered records now (singer-sdk's ``Target.drain_one``)."""

    def drain_one(self, sink: Sink) -> None:
        """Process the sink's pending batch, if it has one."""


class LoadOrder:
    """Every Salesforce sink of the run, the objects they load and the objects they reference."""

    def __init__(self, drainer: Drainer) -> None:
        """Start with no sink; ``drainer`` writes a parent's pending records when asked."""
        self._drainer = drainer
        self._all: list[SalesforceSink] = []
        # The current sink of each stream, in the order singer-sdk keeps its active sinks
        # (a SCHEMA change moves the stream's new sink to the end).
        self._active: dict[str, SalesforceSink] = {}
        # Sinks writing their parents first, further up the call stack.
        self._writing: set[SalesforceSink] = set()

    def add(self, sink: SalesforceSink) -> None:
        """A new sink: it becomes its stream's current sink (a SCHEMA change retires the old)."""
        self._all.append(sink)
        self._active.pop(sink.stream_name, None)
        self._active[sink.stream_name] = sink

    @property
    def sinks(self) -> list[SalesforceSink]:
        """Every sink of the run, retired ones too (each may hold records to account for)."""
        return list(self._all)

    def parents_of(self, sink: SalesforceSink) -> list[SalesforceSink]:
        """The current sinks of the objects ``sink`` references (not ``sink`` itself)."""
        return [
            other
            for other in self._active.values()
            if other is not sink and other.obj.name.lower() in sink.parents
        ]

    def drain_order(self, sinks: Iterable[Sink]) -> list[Sink]:
        """``sinks`` with those whose object others reference first (stable otherwise).

        Objects that reference each other (a cycle) cannot be ordered: what is left of a
        cycle keeps its arrival order. A reference to the stream's own object (a Contact's
        ReportsTo) orders nothing.
        """
        ordered: list[Sink] = []
        remaining = list(sinks)
        while remaining:
            loaded = {s.obj.name.lower() for s in remaining if isinstance(s, SalesforceSink)}
            ready = [
                s
                for s in remaining
                if not (
                    isinstance(s, SalesforceSink) and s.parents & (loaded - {s.obj.name.lower()})
                )
            ]
            batch = ready or remaining
            ordered += batch
            remaining = [s for s in remaining if s not in batch]
        return ordered

    @staticmethod
    def linked(sinks: Iterable[Sink]) -> bool:
        """Whether any of ``sinks`` references another object (so they must drain in order)."""
        return any(isinstance(s, SalesforceSink) and s.parents for s in sinks)

    def parallelism(self, sinks: Iterable[Sink], requested: int) -> int:
        """How many of ``sinks`` may drain at once: one when any is linked to another."""
        return 1 if self.linked(sinks) else requested

    def write_parents_first(self, sink: SalesforceSink) -> None:
        """Write the pending records of ``sink``'s parents, and wait for their calls and jobs.

        Streams that reference each other (Account's primary Contact, Contact's Account) would
        write each other without end: a parent that is itself writing its parents further up
        the call stack is in such a cycle with ``sink`` and is not drained again. A sink that
        loads through Bulk jobs still waits for the running jobs of its Bulk parents, cycle or
        not: a job must not start before the jobs that create its parents have ended.
        """
        parents = self.parents_of(sink)
        if sink not in self._writing:
            self._writing.add(sink)
            try:
                for parent in parents:
                    if parent in self._writing:
                        continue
                    if parent.current_size:
                        self._drainer.drain_one(parent)
                    parent.wait_for_jobs()  # a drained batch's calls may still be running
            finally:
                self._writing.discard(sink)
        if sink.runs_jobs:
            for parent in parents:
                if parent.runs_jobs:
                    parent.wait_for_jobs()
