"""The load order between sinks (target_salesforce_out.load_order): drain order, cycles, links.

Sinks here are stand-ins that carry only what LoadOrder reads (stream, object, parents, pending
records, whether they run jobs); draining one records the event and, like a real sink's
process_batch, first asks the load order to write its own parents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from target_salesforce_out.load_order import LoadOrder
from target_salesforce_out.sinks.base import SalesforceSink


@dataclass
class _Object:
    name: str


class FakeSink(SalesforceSink):
    """What LoadOrder reads of a sink, without describe or singer-sdk set-up."""

    def __init__(
        self,
        stream: str,
        sobject: str,
        parents: tuple[str, ...] = (),
        *,
        pending: int = 0,
        jobs: bool = False,
        events: list[str] | None = None,
    ) -> None:
        self.stream_name = stream
        self.obj = _Object(sobject)
        self.parents = frozenset(p.lower() for p in parents) - {sobject.lower()}
        self.pending = pending
        self.runs_jobs = jobs
        self.events = events if events is not None else []

    @property
    def current_size(self) -> int:
        return self.pending

    def wait_for_jobs(self) -> None:
        self.events.append(f"wait {self.stream_name}")

    def __repr__(self) -> str:
        return self.stream_name


class FakeDrainer:
    """Drains like singer-sdk's drain_one: the sink's batch, whose parents are written first."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.order: LoadOrder | None = None

    def drain_one(self, sink: Any) -> None:
        assert self.order is not None
        self.events.append(f"drain {sink.stream_name}")
        self.order.write_parents_first(sink)
        sink.pending = 0


def _order(*sinks: FakeSink, events: list[str] | None = None) -> LoadOrder:
    drainer = FakeDrainer(events if events is not None else [])
    order = drainer.order = LoadOrder(drainer)
    for sink in sinks:
        order.add(sink)
    return order


def _sinks(spec: list[tuple[str, str, tuple[str, ...]]]) -> list[FakeSink]:
    return [FakeSink(stream, sobject, parents) for stream, sobject, parents in spec]


@pytest.mark.parametrize(
    ("arrived", "drained"),
    [
        pytest.param(
            [("contacts", "Contact", ("Account",)), ("accounts", "Account", ())],
            ["accounts", "contacts"],
            id="parent-first",
        ),
        pytest.param(
            [
                ("opportunities", "Opportunity", ("Contact",)),
                ("contacts", "Contact", ("Account",)),
                ("accounts", "Account", ()),
            ],
            ["accounts", "contacts", "opportunities"],
            id="chain",
        ),
        pytest.param(
            [("leads", "Lead", ()), ("cases", "Case", ()), ("tasks", "Task", ())],
            ["leads", "cases", "tasks"],
            id="unrelated-keep-arrival-order",
        ),
        pytest.param(
            [("contacts", "Contact", ("Contact",)), ("leads", "Lead", ())],
            ["contacts", "leads"],
            id="self-reference-orders-nothing",
        ),
        pytest.param(
            [
                ("contacts", "Contact", ("Account",)),
                ("accounts", "Account", ("Contact",)),
                ("leads", "Lead", ()),
            ],
            ["leads", "contacts", "accounts"],
            id="cycle-keeps-arrival-order-after-the-rest",
        ),
        pytest.param(
            [("contacts", "Contact", ("Account",))],
            ["contacts"],
            id="parent-not-loaded-this-run",
        ),
        pytest.param(
            [("accounts", "Account", ()), ("contacts", "Contact", ("Account",))],
            ["accounts", "contacts"],
            id="already-in-order",
        ),
    ],
)
def test_drain_order(arrived: list[tuple[str, str, tuple[str, ...]]], drained: list[str]) -> None:
    sinks = _sinks(arrived)
    order = _order(*sinks)
    assert [s.stream_name for s in order.drain_order(sinks)] == drained


def test_drain_order_keeps_sinks_that_load_no_object() -> None:
    contacts, accounts = _sinks(
        [("contacts", "Contact", ("Account",)), ("accounts", "Account", ())]
    )
    other = object()  # a sink of another kind (the connection test's)
    order = _order(contacts, accounts)
    assert order.drain_order([other, contacts, accounts]) == [other, accounts, contacts]


@pytest.mark.parametrize(
    ("spec", "linked", "parallelism"),
    [
        pytest.param([("leads", "Lead", ()), ("cases", "Case", ())], False, 8, id="unlinked"),
        pytest.param(
            [("contacts", "Contact", ("Account",)), ("leads", "Lead", ())], True, 1, id="linked"
        ),
        pytest.param([("contacts", "Contact", ("Contact",))], False, 8, id="self-reference"),
        pytest.param([], False, 8, id="no-sinks"),
    ],
)
def test_linked_sinks_drain_one_at_a_time(
    spec: list[tuple[str, str, tuple[str, ...]]], linked: bool, parallelism: int
) -> None:
    sinks = _sinks(spec)
    order = _order(*sinks)
    assert order.linked(sinks) is linked
    assert order.parallelism(sinks, 8) == parallelism


def test_parents_are_drained_then_waited_for_and_nothing_else() -> None:
    events: list[str] = []
    accounts = FakeSink("accounts", "Account", pending=3, events=events)
    users = FakeSink("users", "User", events=events)  # referenced, nothing pending
    leads = FakeSink("leads", "Lead", pending=5, events=events)  # not referenced
    contacts = FakeSink("contacts", "Contact", ("Account", "User"), pending=2, events=events)
    order = _order(accounts, users, leads, contacts, events=events)
    order.write_parents_first(contacts)
    assert events == ["drain accounts", "wait accounts", "wait users"]
    assert order.parents_of(contacts) == [accounts, users]


@pytest.mark.parametrize(
    ("jobs", "events"),
    [
        pytest.param(
            False,
            ["drain contacts", "wait contacts"],
            id="rest-parent-in-a-cycle-is-not-drained-again",
        ),
        pytest.param(
            True,
            ["drain contacts", "wait accounts", "wait contacts", "wait contacts"],
            id="bulk-waits-for-bulk-parent-jobs-even-in-a-cycle",
        ),
    ],
)
def test_streams_that_reference_each_other_write_once(jobs: bool, events: list[str]) -> None:
    seen: list[str] = []
    accounts = FakeSink("accounts", "Account", ("Contact",), pending=1, jobs=jobs, events=seen)
    contacts = FakeSink("contacts", "Contact", ("Account",), pending=1, jobs=jobs, events=seen)
    order = _order(accounts, contacts, events=seen)
    order.write_parents_first(accounts)  # ends: neither drains the other without end
    assert seen == events


def test_a_sink_naming_its_own_object_as_parent_still_drains_in_order() -> None:
    contacts, leads = _sinks([("contacts", "Contact", ()), ("leads", "Lead", ())])
    contacts.parents = frozenset({"contact"})  # as if the sink had not left its own object out
    order = _order(contacts, leads)
    assert order.drain_order([contacts, leads]) == [contacts, leads]
    assert order.parents_of(contacts) == []


def test_a_sink_is_never_its_own_parent() -> None:
    events: list[str] = []
    contacts = FakeSink("contacts", "Contact", ("Contact",), pending=4, events=events)
    order = _order(contacts, events=events)
    order.write_parents_first(contacts)
    assert order.parents_of(contacts) == []
    assert events == []


def test_a_new_sink_for_a_stream_replaces_the_old_one_as_parent_but_both_are_kept() -> None:
    events: list[str] = []
    old = FakeSink("accounts", "Account", pending=1, events=events)
    contacts = FakeSink("contacts", "Contact", ("Account",), events=events)
    new = FakeSink("accounts", "Account", pending=1, events=events)
    order = _order(old, contacts, new, events=events)
    assert order.parents_of(contacts) == [new]
    assert order.sinks == [old, contacts, new]  # the old one may still hold records
    order.write_parents_first(contacts)
    assert events == ["drain accounts", "wait accounts"]
    assert (old.pending, new.pending) == (1, 0)
