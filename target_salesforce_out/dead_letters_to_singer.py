"""``dead-letters-to-singer``: dead-letter lines back into Singer messages, to replay them.

    dead-letters-to-singer dead.jsonl [more.jsonl ...] [--stream NAME]... [--code CODE]...
        [--run-id ID]... [--config config.json] | target-salesforce-out --config config.json

Each selected line's ``record`` becomes a RECORD message of its ``stream``, in file order, so the
target sends exactly those records again through the same settings, reports each outcome, and
writes the ones that fail again to its own ``dead_letter_path`` (which must be another file:
see below). A record deleted at the source keeps its ``_sdc_deleted_at``, so it is deleted
again rather than written.

Schemas. The target writes the stream's SCHEMA and key properties on the first dead-letter
line of each stream in a run (``schema``, ``key_properties``); each RECORD is preceded by the
SCHEMA of the run that rejected it. Lines written before the target did so carry none: their
stream gets a permissive SCHEMA (every property seen in its lines, any JSON value, no key
properties), so the Salesforce field types alone decide the conversion; the log says so.

Filters combine: ``--stream`` and ``--code`` (Salesforce's ``errorCode``, or the target's such as
``NOT_SENT``) and ``--run-id`` may each be given several times; a line is selected when it
matches one value of every filter given.

Safety. The files are read up to the size they had when the command started, so lines the
replaying target appends are never read back; with ``--config`` (the target's config file),
a ``dead_letter_path`` naming one of the input files is refused, as is
``TARGET_SALESFORCE_OUT_DEAD_LETTER_PATH`` naming one.

A mistake (a missing file, a line that is not a dead-letter line, no line matching the
filters) is one line on stderr and exit code 2 (1 when no line matches), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import msgspec

PROG = "dead-letters-to-singer"
EXIT_NO_MATCH = 1
EXIT_USAGE = 2
# Exact numbers in, exact numbers out (the dead-letter file's own encoding).
_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_ENCODER = msgspec.json.Encoder(enc_hook=str, decimal_format="number")
_ENV_DEAD_LETTER = "TARGET_SALESFORCE_OUT_DEAD_LETTER_PATH"


class ReplayError(Exception):
    """A mistake of the user's, told in one line."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        """Keep the exit code with the message."""
        super().__init__(message)
        self.code = code


@dataclass
class Line:
    """One dead-letter line: where it is, and what replaying it needs."""

    stream: str
    record: dict[str, Any]
    code: str
    run_id: str
    schema: dict[str, Any] | None
    key_properties: list[str]
    # A dry run's line is a prediction (the record was never sent): never replayed.
    predicted: bool = False


@dataclass(frozen=True)
class Filters:
    """The values each filter accepts (an empty set accepts everything)."""

    streams: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    runs: frozenset[str] = frozenset()

    def accept(self, line: Line) -> bool:
        """Whether ``line`` matches one value of every filter given."""
        return (
            (not self.streams or line.stream in self.streams)
            and (not self.codes or line.code in self.codes)
            and (not self.runs or line.run_id in self.runs)
        )

    def text(self) -> str:
        """The filters as given on the command line."""
        parts = [f"--stream {s}" for s in sorted(self.streams)]
        parts += [f"--code {c}" for c in sorted(self.codes)]
        parts += [f"--run-id {r}" for r in sorted(self.runs)]
        return " ".join(parts) or "(no filter)"


@dataclass
class Catalog:
    """What pass one learns: each run's schema per stream, and what the lines hold."""

    schemas: dict[tuple[str, str], tuple[dict[str, Any], list[str]]] = field(default_factory=dict)
    properties: dict[str, dict[str, None]] = field(default_factory=dict)
    streams: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    selected: int = 0
    predicted: int = 0


def _lines(path: Path, size: int) -> Iterator[tuple[int, Line]]:
    """The dead-letter lines of ``path`` within its first ``size`` bytes, numbered from 1."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ReplayError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        read = 0
        for number, raw in enumerate(handle, start=1):
            read += len(raw)
            if read > size:
                return  # appended after the command started
            if not raw.strip():
                continue
            yield number, _parse(path, number, raw)


def _parse(path: Path, number: int, raw: bytes) -> Line:
    """One line as a :class:`Line`; anything else is a one-line mistake."""
    try:
        entry = _DECODER.decode(raw)
    except msgspec.DecodeError:
        entry = None
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("stream"), str)
        or not isinstance(entry.get("record"), dict)
        or "errorCode" not in entry
    ):
        raise ReplayError(
            f"{path}, line {number}: not a dead-letter line (a JSON object with stream, record "
            "and errorCode, as target-salesforce-out writes to dead_letter_path)"
        )
    schema = entry.get("schema")
    return Line(
        stream=entry["stream"],
        record=entry["record"],
        code=str(entry["errorCode"]),
        run_id=str(entry.get("run_id") or ""),
        schema=schema if isinstance(schema, dict) else None,
        key_properties=[str(k) for k in entry.get("key_properties") or []],
        predicted=entry.get("source") == "dry_run",
    )


def _survey(files: dict[Path, int], filters: Filters) -> Catalog:
    """Pass one: schemas by (stream, run), properties of the selected lines, and counts."""
    catalog = Catalog()
    for path, size in files.items():
        for _, line in _lines(path, size):
            if line.predicted:
                catalog.predicted += 1
                continue
            catalog.streams.add(line.stream)
            catalog.codes.add(line.code)
            if line.schema is not None:
                catalog.schemas[(line.stream, line.run_id)] = (line.schema, line.key_properties)
            if filters.accept(line):
                catalog.selected += 1
                names = catalog.properties.setdefault(line.stream, {})
                names.update(dict.fromkeys(line.record))
    return catalog


def _permissive(names: dict[str, None]) -> dict[str, Any]:
    """A SCHEMA taking any JSON value for each property seen (``{}`` accepts anything)."""
    return {"type": "object", "properties": {name: {} for name in names}}


def _messages(files: dict[Path, int], filters: Filters, catalog: Catalog) -> Iterator[bytes]:
    """Pass two: SCHEMA messages where a stream's schema changes, and a RECORD per line."""
    current: dict[str, tuple[dict[str, Any], list[str]]] = {}
    permissive: dict[str, tuple[dict[str, Any], list[str]]] = {
        s: (_permissive(names), []) for s, names in catalog.properties.items()
    }
    for path, size in files.items():
        for _, line in _lines(path, size):
            if line.predicted or not filters.accept(line):
                continue
            stored = catalog.schemas.get((line.stream, line.run_id))
            schema = stored or permissive[line.stream]
            if current.get(line.stream) is not schema:
                current[line.stream] = schema
                yield _ENCODER.encode(
                    {
                        "type": "SCHEMA",
                        "stream": line.stream,
                        "schema": schema[0],
                        "key_properties": schema[1],
                    }
                )
            yield _ENCODER.encode({"type": "RECORD", "stream": line.stream, "record": line.record})


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and a.samefile(b))
    except OSError:
        return False


def _check_output(files: Sequence[Path], config: Path | None) -> None:
    """Refuse a replay whose target would append to a file being replayed."""
    targets: list[tuple[str, Path]] = []
    env = os.environ.get(_ENV_DEAD_LETTER)
    if env:
        targets.append((_ENV_DEAD_LETTER, Path(env).expanduser()))
    if config is not None:
        try:
            settings = json.loads(config.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ReplayError(f"cannot read {config}: {exc.strerror or exc}") from None
        except ValueError:
            raise ReplayError(f"{config} is not a JSON config file") from None
        path = settings.get("dead_letter_path") if isinstance(settings, dict) else None
        if path:
            targets.append((f"dead_letter_path in {config}", Path(str(path)).expanduser()))
    for name, target in targets:
        for path in files:
            if _same_file(path, target):
                raise ReplayError(
                    f"{name} is {path}, the file being replayed: give the replaying target "
                    "another dead_letter_path, so records that fail again land in a new file"
                )


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Turn target-salesforce-out dead-letter lines back into Singer messages "
        "(SCHEMA, then RECORD) on stdout, to pipe into target-salesforce-out.",
    )
    parser.add_argument("files", nargs="+", type=Path, help="dead-letter JSONL files")
    parser.add_argument("--stream", action="append", default=[], help="only this stream")
    parser.add_argument("--code", action="append", default=[], help="only this errorCode")
    parser.add_argument("--run-id", action="append", default=[], help="only this run_id")
    parser.add_argument(
        "--config",
        type=Path,
        help="the replaying target's config: refuse when its dead_letter_path is an input file",
    )
    return parser.parse_args(argv)


def replay(
    files: Sequence[Path], filters: Filters, out: IO[bytes], config: Path | None = None
) -> int:
    """Write the selected lines as Singer messages to ``out``; return how many records.

    Raises:
        ReplayError: a mistake (missing file, not a dead-letter line, no line matches).
    """
    _check_output(files, config)
    sizes: dict[Path, int] = {}
    for path in files:
        try:
            sizes[path] = path.stat().st_size
        except OSError as exc:
            raise ReplayError(f"cannot read {path}: {exc.strerror or exc}") from None
    catalog = _survey(sizes, filters)
    if catalog.predicted:
        sys.stderr.write(
            f"{PROG}: {catalog.predicted} line(s) written by a dry run skipped (source dry_run: "
            "predictions, never sent)\n"
        )
    if not catalog.selected:
        has = (
            f"the file(s) hold streams {', '.join(sorted(catalog.streams))} and codes "
            f"{', '.join(sorted(catalog.codes))}"
            if catalog.streams
            else "the file(s) hold no dead-letter line"
        )
        raise ReplayError(f"no dead-letter line matches {filters.text()}; {has}", EXIT_NO_MATCH)
    without = sorted(s for s in catalog.properties if not any(k[0] == s for k in catalog.schemas))
    for stream in without:
        sys.stderr.write(
            f"{PROG}: stream {stream!r}: its lines carry no SCHEMA (written by an older "
            "target); sending a permissive one built from the records' properties\n"
        )
    for message in _messages(sizes, filters, catalog):
        out.write(message + b"\n")
    out.flush()
    return catalog.selected


def main(argv: Sequence[str] | None = None) -> int:
    """Console script entry point."""
    args = _arguments(argv)
    filters = Filters(frozenset(args.stream), frozenset(args.code), frozenset(args.run_id))
    try:
        count = replay(args.files, filters, sys.stdout.buffer, args.config)
    except ReplayError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return exc.code
    except BrokenPipeError:
        # The reading end stopped (e.g. the target exited on a configuration error); point
        # stdout at devnull so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.stderr.write(f"{PROG}: the command reading the messages stopped early\n")
        return EXIT_USAGE
    sys.stderr.write(f"{PROG}: {count} record(s) written as Singer messages\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
