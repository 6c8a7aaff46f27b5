"""The load plan: which streams write first, which lookups wait for a second pass.

The plan is built from the lookups each stream sends (relationship paths such as
``Account.External_Id__c`` and reference fields holding Ids), once per new stream, from the
streams whose SCHEMA has arrived:

- **Parents first.** A stream writes after the streams whose object it looks up.
- **Cycles between streams** (an Account's primary Contact, a Contact's Account) cannot be
  ordered. One stream of the cycle writes its records without the lookups that close the cycle
  (first pass), the other streams follow, and a second pass sets those lookups once every
  stream has written: an update by Id, the Id each record got in the first pass. This is how
  CumulusCI's ``after:`` steps and SFDMU's second update pass load such data. Only a lookup
  that may be empty and may be changed (describe ``nillable`` and ``updateable``) can wait,
  and only on a stream with a key (its records' Ids are matched to their second-pass rows by
  key); the stream with the fewest such lookups is chosen, custom lookups before standard
  ones, then the earlier stream.
- **Self-references** (Account ``Parent``, Contact ``ReportsTo``) order the rows of one stream;
  see :mod:`target_salesforce_out.sinks.hierarchy`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from target_salesforce_out.mapping import Column

# The names of the passes, as in the report's "plan" and the printed plan.
WRITE = "write"
SET_LOOKUPS = "set_lookups"


@dataclass(frozen=True)
class Reference:
    """One lookup a stream sends: its column, its field, and the record it points to."""

    column: str  # wire name: "Parent.External_Id__c", "AccountId", "Contact:Who.Email"
    field: str  # the lookup field: "ParentId"
    parent: str  # the object it points to, as described: "Account"
    parent_field: str  # what the value matches on the parent: an external id field, or "Id"
    deferrable: bool  # may be left empty in a first write and set by an update
    custom: bool


def references_of(columns: Iterable[Column], *, sends_fields: bool) -> tuple[Reference, ...]:
    """The lookups among ``columns`` whose parent object is known (not an Id of any type)."""
    if not sends_fields:
        return ()
    found = []
    for c in columns:
        f = c.field
        if f.type != "reference":
            continue
        if len(f.reference_to) == 1:
            parent = f.reference_to[0]
        elif ":" in c.name:
            parent = c.name.split(":", 1)[0]
        else:
            continue  # a polymorphic Id: its object is only known per value
        found.append(
            Reference(
                column=c.name,
                field=f.name,
                parent=parent,
                parent_field=c.parent_field.name if c.parent_field is not None else "Id",
                deferrable=f.nillable and f.updateable,
                custom=f.custom,
            )
        )
    return tuple(found)


@dataclass(frozen=True)
class Node:
    """What the plan needs of one stream's sink."""

    stream: str
    sobject: str
    api: str
    references: tuple[Reference, ...]
    has_key: bool  # records have a key value, so their second-pass rows can be matched
    hierarchy: tuple[str, ...] = ()  # self-reference columns ordered level by level

    def refs_to(self, sobject: str) -> list[Reference]:
        """References of this stream to ``sobject`` (case-insensitive)."""
        return [r for r in self.references if r.parent.lower() == sobject.lower()]


@dataclass
class Plan:
    """The order of the streams and, per stream, the lookups left for the second pass."""

    order: list[int] = field(default_factory=list)  # indexes into nodes
    nodes: list[Node] = field(default_factory=list)
    deferred: dict[int, tuple[str, ...]] = field(default_factory=dict)  # node -> columns
    unbroken: list[list[int]] = field(default_factory=list)  # cycles left as they are

    def steps(self) -> list[dict[str, Any]]:
        """The plan as the report's list of steps, in the order they run."""
        steps: list[dict[str, Any]] = []
        for i in self.order:
            node = self.nodes[i]
            step: dict[str, Any] = {
                "stream": node.stream,
                "sobject": node.sobject,
                "api": node.api,
                "pass": WRITE,
                "deferred": list(self.deferred.get(i, ())),
            }
            if node.hierarchy:
                step["levels_by"] = list(node.hierarchy)
            steps.append(step)
        for i in self.order:
            if self.deferred.get(i):
                node = self.nodes[i]
                steps.append(
                    {
                        "stream": node.stream,
                        "sobject": node.sobject,
                        "api": node.api,
                        "pass": SET_LOOKUPS,
                        "fields": list(self.deferred[i]),
                    }
                )
        for n, step in enumerate(steps, 1):
            step["step"] = n
        return steps

    def lines(self) -> list[str]:
        """The plan as compact log lines, one per step."""
        out = []
        for step in self.steps():
            head = f"plan {step['step']}: {step['stream']} -> {step['sobject']} ({step['api']})"
            if step["pass"] == SET_LOOKUPS:
                out.append(f"{head}: second pass sets {', '.join(step['fields'])}")
                continue
            text = "write"
            if step["deferred"]:
                text += f" without {', '.join(step['deferred'])} (set in a second pass)"
            if step.get("levels_by"):
                text += f"; level by level on {', '.join(step['levels_by'])}"
            out.append(f"{head}: {text}")
        for cycle in self.unbroken:
            names = " -> ".join(self.nodes[i].stream for i in cycle)
            out.append(
                f"plan: streams {names} look each other up through lookups that cannot wait "
                "for a second pass (required, read-only, or a stream without a key); they "
                "write in arrival order"
            )
        return out


def _edges(nodes: Sequence[Node], deferred: dict[int, tuple[str, ...]]) -> dict[int, set[int]]:
    """For each node, the nodes it must write after (its parents), deferred lookups aside."""
    edges: dict[int, set[int]] = {i: set() for i in range(len(nodes))}
    for i, node in enumerate(nodes):
        waiting = set(deferred.get(i, ()))
        for j, other in enumerate(nodes):
            if i == j or other.sobject.lower() == node.sobject.lower():
                continue
            if any(r.column not in waiting for r in node.refs_to(other.sobject)):
                edges[i].add(j)
    return edges


def _cycles(edges: dict[int, set[int]]) -> list[list[int]]:
    """The strongly connected groups of more than one node (Tarjan), each in node order."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    groups: list[list[int]] = []

    def visit(v: int) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def _cut(nodes: Sequence[Node], cycle: list[int]) -> tuple[int, tuple[str, ...]] | None:
    """The node of ``cycle`` whose lookups into the cycle wait, and those lookups; or None."""
    objects = {nodes[j].sobject.lower() for j in cycle}
    candidates = []
    for i in cycle:
        node = nodes[i]
        refs = [
            r
            for r in node.references
            if r.parent.lower() in objects and r.parent.lower() != node.sobject.lower()
        ]
        if refs and node.has_key and all(r.deferrable for r in refs):
            score = (len(refs), not all(r.custom for r in refs), i)
            candidates.append((score, i, tuple(r.column for r in refs)))
    if not candidates:
        return None
    _, i, columns = min(candidates)
    return i, columns


def build_plan(nodes: Sequence[Node]) -> Plan:
    """Order ``nodes`` (in arrival order) parents first, cutting cycles (see module doc)."""
    plan = Plan(nodes=list(nodes))
    while True:
        cycles = _cycles(_edges(nodes, plan.deferred))
        cycles = [c for c in cycles if c not in plan.unbroken]
        if not cycles:
            break
        cut = _cut(nodes, cycles[0])
        if cut is None:
            plan.unbroken.append(cycles[0])
            continue
        i, columns = cut
        plan.deferred[i] = tuple(dict.fromkeys((*plan.deferred.get(i, ()), *columns)))
    edges = _edges(nodes, plan.deferred)
    remaining = list(range(len(nodes)))
    while remaining:
        ready = [i for i in remaining if not edges[i] & set(remaining)]
        batch = ready or remaining  # a cycle left unbroken keeps its arrival order
        plan.order += batch
        remaining = [i for i in remaining if i not in batch]
    return plan
