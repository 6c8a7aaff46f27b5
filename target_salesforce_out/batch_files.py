"""The records of singer-sdk BATCH messages, read from the files their manifest lists.

A tap run with ``batch_config`` writes its records to files (JSON Lines, gzipped or not, or
Parquet) and sends one BATCH message naming them instead of one RECORD message per record.
:func:`record_messages` turns each record of those files into the RECORD message the tap would
otherwise have sent, so the target checks, maps, rejects, counts and checkpoints it exactly like
one, one record at a time: a file of any size is never held in memory whole.

A file that cannot be read (missing, not gzip when it should be, a line that is not a JSON
object, not Parquet) raises :class:`BatchFileError` naming it: skipping it would let STATE
advance past records that never reached Salesforce.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
from upath import UPath

from target_salesforce_out.errors import BatchFileError

# The values a RECORD message would carry: JSON numbers with a fraction as Decimal, like
# singer-sdk's msgspec reader that parses this target's input.
_DECODER = msgspec.json.Decoder(float_hook=Decimal)
# Parquet values (datetime, date, Decimal, ...) written as the JSON a tap's RECORD would hold.
_ENCODER = msgspec.json.Encoder(enc_hook=str, decimal_format="number")
_GZIP_MAGIC = b"\x1f\x8b"
# Parquet rows converted at a time: bounded memory whatever the row group size.
_PARQUET_ROWS = 1000


def record_messages(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The RECORD messages equivalent to a BATCH message, in file and line order.

    Args:
        message: A singer-sdk BATCH message (``stream``, ``encoding``, ``manifest``).

    Yields:
        One RECORD message per record of the listed files.

    Raises:
        BatchFileError: the message is malformed or a file cannot be read.
    """
    stream = message.get("stream")
    encoding = message.get("encoding")
    manifest = message.get("manifest")
    if not isinstance(encoding, dict) or not isinstance(manifest, list):
        raise BatchFileError(
            f"BATCH message for stream {stream!r} needs an encoding object and a manifest list"
        )
    fmt = str(encoding.get("format") or "").lower()
    compression = str(encoding.get("compression") or "none").lower()
    if fmt not in {"jsonl", "parquet"}:
        raise BatchFileError(
            f"BATCH message for stream {stream!r}: unsupported format {fmt!r} (jsonl or parquet)"
        )
    if compression not in {"gzip", "none"}:
        raise BatchFileError(
            f"BATCH message for stream {stream!r}: unsupported compression {compression!r} "
            "(gzip or none)"
        )
    # What singer-sdk's _add_sdc_metadata_to_record reads from a RECORD message.
    extra: dict[str, Any] = {k: message[k] for k in ("version", "time_extracted") if k in message}
    for url in manifest:
        read = _parquet_records if fmt == "parquet" else _jsonl_records
        for record in read(str(url), gzipped=compression == "gzip"):
            yield {"type": "RECORD", "stream": stream, "record": record, **extra}


def _open(url: str) -> IO[bytes]:
    """Open a manifest entry: a local path, a ``file://`` URL or any fsspec URL."""
    try:
        return UPath(url).open("rb")
    except (OSError, ValueError, ImportError) as exc:
        raise _unreadable(url, "", exc) from exc


def _jsonl_records(url: str, *, gzipped: bool) -> Iterator[dict[str, Any]]:
    """JSON Lines records, one per non-blank line.

    singer-sdk's JSON Lines batcher gzips its files even when the tap's ``batch_config``
    says ``compression: none``, so gzip is also recognised by its magic number.
    """
    number = 0
    with _open(url) as raw:
        try:
            head = raw.read(2)
            raw.seek(0)
            stream: IO[bytes] | gzip.GzipFile = (
                gzip.GzipFile(fileobj=raw, mode="rb") if gzipped or head == _GZIP_MAGIC else raw
            )
            with stream:
                for number, line in enumerate(stream, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = _DECODER.decode(line)
                    except msgspec.DecodeError as exc:
                        raise BatchFileError(
                            f"BATCH file {_shown(url)}, line {number}: not valid JSON ({exc})"
                        ) from None
                    if not isinstance(record, dict):
                        raise BatchFileError(
                            f"BATCH file {_shown(url)}, line {number}: not a JSON object"
                        )
                    yield record
        except (OSError, EOFError, zlib.error) as exc:
            raise _unreadable(url, f", after line {number}" if number else "", exc) from exc


def _parquet_records(url: str, *, gzipped: bool) -> Iterator[dict[str, Any]]:
    """Parquet rows as the JSON values a RECORD message would carry.

    Parquet compresses inside the file, so ``compression`` changes nothing here (singer-sdk's
    Parquet batcher writes ``gzip`` as the file's internal codec).
    """
    del gzipped
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError:
        raise BatchFileError(
            f"BATCH file {_shown(url)} is Parquet, which needs pyarrow: "
            "pip install 'target-salesforce-out[parquet]'"
        ) from None
    import pyarrow as pa  # noqa: PLC0415

    with _open(url) as raw:
        try:
            for batch in pq.ParquetFile(raw).iter_batches(batch_size=_PARQUET_ROWS):
                yield from _DECODER.decode(_ENCODER.encode(batch.to_pylist()))
        # ValueError: a value Python cannot hold (nanosecond timestamps, say).
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise _unreadable(url, "", exc) from exc


def _unreadable(url: str, where: str, exc: BaseException) -> BatchFileError:
    """The error naming the file (its URL shown without credentials, here too)."""
    reason = f"{type(exc).__name__}: {exc}".replace(url, _shown(url))
    return BatchFileError(f"BATCH file {_shown(url)}{where} cannot be read: {reason}")


def _shown(url: str) -> str:
    """The URL without any user or password it carries (never logged)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
