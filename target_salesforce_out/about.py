"""Plain ``--about``: singer-sdk's header, then every setting with its type and description.

singer-sdk's own text format gives each top-level setting's name, type and environment
variable but no description and no nested keys; ``--format markdown`` and ``--format json``
stay singer-sdk's. The input is singer-sdk's public ``AboutInfo`` (the
target builds it with singer-sdk's ``_get_about_info``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from singer_sdk.about import AboutInfo


def _settings_rows(schema: Mapping[str, Any], prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """(dotted name, schema) of every setting, nested keys after their object."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for name, spec in schema.get("properties", {}).items():
        rows.append((prefix + name, spec))
        if spec.get("properties"):
            rows += _settings_rows(spec, f"{prefix}{name}.")
        extra = spec.get("additionalProperties")
        if isinstance(extra, Mapping) and extra.get("properties"):
            rows += _settings_rows(extra, f"{prefix}{name}.<{name.rstrip('s')}>.")
    return rows


def _type_text(spec: Mapping[str, Any]) -> str:
    kinds = spec.get("type") or []
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    words = [k for k in kinds if k != "null"] or ["any"]
    text = "/".join(words)
    if spec.get("enum"):
        text = "one of " + ", ".join(str(v) for v in spec["enum"] if v is not None)
    if spec.get("secret"):
        text += ", secret"
    if spec.get("default") is not None:
        default = spec["default"]
        text += f", default {str(default).lower() if isinstance(default, bool) else default}"
    return text


def about_text(info: AboutInfo) -> str:
    """``--about`` without ``--format``: singer-sdk's header, then each setting described."""
    lines = [
        f"Name: {info.name}",
        f"Description: {info.description}",
        f"Version: {info.version}",
        f"SDK Version: {info.sdk_version}",
    ]
    if info.supported_python_versions:
        lines.append(f"Supported Python Versions: {', '.join(info.supported_python_versions)}")
    lines.append(f"Capabilities: {', '.join(str(c) for c in info.capabilities)}")
    lines += [
        "",
        f"Settings (a top-level setting can also come from the environment variable "
        f"{info.env_var_prefix}<NAME> with --config ENV):",
    ]
    for name, spec in _settings_rows(info.settings):
        lines.append(f"  {name} ({_type_text(spec)})")
        description = str(spec.get("description") or spec.get("title") or "")
        lines += textwrap.wrap(
            description, width=100, initial_indent="      ", subsequent_indent="      "
        )
    return "\n".join(lines)
