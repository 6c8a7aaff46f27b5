"""``--config``: the files read and merged as singer-sdk does, a broken file as one line.

singer-sdk's own reader raises on a missing or broken file; here the problem is kept on the
result, for the target to report as a configuration error (exit code 2).

Private singer-sdk members used, each only here (singer-sdk 0.54.9):

- ``plugin_base._ConfigInput``: the CLI passes what ``cb_config`` returns to
  ``Target.invoke`` as ``config``, and ``invoke`` reads its ``config`` (the merged settings)
  and ``parse_env`` (``--config ENV`` was given).
- ``helpers._util.load_json``: how singer-sdk parses a ``--config`` file (simplejson, numbers
  with a fraction as ``Decimal``), so a file read here gives the values singer-sdk would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from singer_sdk.helpers._util import load_json
from singer_sdk.plugin_base import _ConfigInput

from target_salesforce_out.config_checks import json_type_text
from target_salesforce_out.errors import ConfigFileError


@dataclass
class ConfigInput(_ConfigInput):
    """singer-sdk's ``--config`` result, plus the problem that kept a file from being read."""

    problem: ConfigFileError | None = None


def read_config_file(path: str) -> dict[str, Any]:
    """One ``--config`` file, parsed as singer-sdk parses it (numbers with every digit)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"config file {path!r} not found") from None
    except IsADirectoryError:
        raise ConfigFileError(f"config file {path!r} is a directory, not a JSON file") from None
    except UnicodeDecodeError:
        raise ConfigFileError(f"config file {path!r} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigFileError(f"config file {path!r} cannot be read: {exc.strerror}") from None
    if not text.strip():
        raise ConfigFileError(f"config file {path!r} is empty; it must hold a JSON object")
    try:
        value = load_json(text)
    except ValueError as exc:
        # simplejson's message says what and where, never quoting the file's text.
        line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        where = f" at line {line} column {column}" if line else ""
        reason = getattr(exc, "msg", "not JSON")
        raise ConfigFileError(f"config file {path!r} is not valid JSON: {reason}{where}") from None
    if not isinstance(value, dict):
        raise ConfigFileError(
            f"config file {path!r} holds {json_type_text(value)}; it must hold a JSON object of "
            "settings"
        )
    return value


def config_input(paths: Iterable[str]) -> ConfigInput:
    """What ``--config`` gave: files merged in order (later wins), ``ENV`` for env vars."""
    config: dict[str, Any] = {}
    parse_env = False
    try:
        for path in paths:
            if path == "ENV":
                parse_env = True
            else:
                config |= read_config_file(path)
    except ConfigFileError as exc:
        return ConfigInput(problem=exc)
    return ConfigInput(config=config, parse_env=parse_env)
