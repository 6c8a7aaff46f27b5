"""The order in which sinks write: parents before the streams whose records look them up.

A Contact that names its Account by external id must reach Salesforce after that Account, in
whatever order the streams arrived. The target owns one :class:`LoadOrder`, registers every
sink it creates, and asks it for the drain order of a full drain; a sink asks it, before
writing a batch, to write its parents' pending records first. Draining goes through the
target (:class:`Drainer`), so a sink never drains another sink itself.

Each new stream re-plans the run (:mod:`target_salesforce_out.planner`): streams that look
each other up lose the lookups that close the cycle from their first write, and a stream that
looks itself up writes level by level (:mod:`target_salesforce_out.sinks.deferred`). The plan
is logged at INFO when the first batch is written, and again when a new stream changes it;
the report's ``plan`` lists its steps with their counts. At the end of the input
(:meth:`LoadOrder.finish`) the held hierarchy records are written or dead-lettered, then each
second pass runs, before STATE.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from singer_sdk.sinks import Sink

from target_salesforce_out.planner import SET_LOOKUPS, Node, Plan, build_plan
from target_salesforce_out.sinks.base import SalesforceSink
from target_salesforce_out.sinks.deferred import DeferredWrites

LOGGER = logging.getLogger("target_salesforce_out.plan")


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
        # The objects each sink's first write no longer waits for (lookups cut from a cycle).
        self._cut: dict[SalesforceSink, frozenset[str]] = {}
        self._plan = Plan()
        self._logged: list[str] = []

    def add(self, sink: SalesforceSink) -> None:
        """A new sink: it becomes its stream's current sink (a SCHEMA change retires the old)."""
        self._all.append(sink)
        self._active.pop(sink.stream_name, None)
        self._active[sink.stream_name] = sink
        if sink.references and sink.deferral is None:
            sink.deferral = DeferredWrites(sink)
        self._replan()

    # -- the plan ----------------------------------------------------------------------------

    def _replan(self) -> None:
        sinks = list(self._active.values())
        nodes = [
            Node(
                stream=s.stream_name,
                sobject=s.obj.name,
                api=_api(s),
                references=s.references,
                has_key=bool(s.references) and s.mapper.key_column is not None,
                hierarchy=d.hierarchy_columns if (d := _deferral(s)) is not None else (),
            )
            for s in sinks
        ]
        self._plan = build_plan(nodes)
        self._cut = {}
        for i, s in enumerate(sinks):
            columns = self._plan.deferred.get(i, ())
            deferral = _deferral(s)
            if deferral is not None:
                deferral.defer(columns)
            self._cut[s] = frozenset(
                r.parent.lower()
                for r in s.references
                if r.column in columns
                and not any(o.parent == r.parent and o.column not in columns for o in s.references)
            )

    def log_plan(self) -> None:
        """Log the plan at INFO if it is new (the first batch, or a new stream changed it)."""
        lines = self._plan.lines()
        if lines != self._logged:
            self._logged = lines
            for line in lines:
                LOGGER.info("%s", line)

    def plan_report(self) -> list[dict[str, Any]]:
        """The report's ``plan``: each step, with what it did."""
        steps = self._plan.steps()
        for step in steps:
            stats = [
                d.stats
                for s in self._all
                if s.stream_name == step["stream"] and (d := _deferral(s)) is not None
            ]
            if step["pass"] == SET_LOOKUPS:
                for name in ("sent", "updated", "failed"):
                    step[name] = sum(st["second_pass"][name] for st in stats)
                continue
            if stats:
                step["written"] = sum(st["written"] for st in stats)
            else:  # no record of the stream waited: its confirmed writes are the stream's
                sink = next(s for s in self._all if s.stream_name == step["stream"])
                step["written"] = sink.runtime.report.stream(sink.stream_name).written
            if step["deferred"]:
                step["deferred_rows"] = sum(st["deferred_rows"] for st in stats)
            if step.get("levels_by"):
                step["held"] = sum(st["held"] for st in stats)
                step["levels"] = [n for st in stats for n in st["waves"]]
                step["missing_parent"] = sum(st["missing_parent"] for st in stats)
                step["cycles"] = sum(st["cycles"] for st in stats)
        return steps

    def holds_records(self) -> bool:
        """Whether any sink holds records for later (STATE must not cover them yet)."""
        return any((d := _deferral(s)) is not None and d.holds_records() for s in self._all)

    def finish(self, sinks: Iterable[Sink]) -> None:
        """The end of the input: held hierarchy records, then every second pass, in order."""
        ordered = [s for s in self.drain_order(sinks) if isinstance(s, SalesforceSink)]
        for sink in ordered:
            deferral = _deferral(sink)
            if deferral is not None:
                deferral.release(final=True)
        for sink in ordered:
            deferral = _deferral(sink)
            if deferral is not None:
                deferral.second_pass()
                deferral.close()
            sink.raise_for_failures()

    def retire(self, sink: SalesforceSink) -> None:
        """A SCHEMA change replaced ``sink``: its held records and second pass run now.

        singer-sdk removes a replaced sink's files at the next full drain, so what it holds
        cannot wait for the end of the input.
        """
        deferral = _deferral(sink)
        if deferral is not None:
            deferral.release(final=True)
            deferral.second_pass()
            deferral.close()

    def _parents(self, sink: SalesforceSink) -> frozenset[str]:
        """The objects ``sink`` writes after: its parents less those a cut cycle defers."""
        return sink.parents - self._cut.get(sink, frozenset())

    @property
    def sinks(self) -> list[SalesforceSink]:
        """Every sink of the run, retired ones too (each may hold records to account for)."""
        return list(self._all)

    def parents_of(self, sink: SalesforceSink) -> list[SalesforceSink]:
        """The current sinks of the objects ``sink`` references (not ``sink`` itself)."""
        return [
            other
            for other in self._active.values()
            if other is not sink and other.obj.name.lower() in self._parents(sink)
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
                    isinstance(s, SalesforceSink)
                    and self._parents(s) & (loaded - {s.obj.name.lower()})
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
        self.log_plan()
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


def _deferral(sink: SalesforceSink) -> DeferredWrites | None:
    """``sink``'s :class:`DeferredWrites`, when it sends lookups."""
    return sink.deferral if isinstance(sink.deferral, DeferredWrites) else None


def _api(sink: SalesforceSink) -> str:
    """The stream's ``api`` setting (``rest``, ``bulk`` or ``auto``)."""
    settings = getattr(sink, "settings", None)  # set by SalesforceSink.__init__
    return str(getattr(settings, "api", "bulk" if sink.runs_jobs else "rest"))
