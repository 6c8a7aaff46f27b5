"""The REST API versions the emulator serves (REST API Developer Guide, "Versions")."""

from __future__ import annotations

MIN_VERSION, MAX_VERSION = 31, 66


def api_versions() -> list[dict[str, str]]:
    """The versions list of ``GET /services/data/``, oldest first."""
    out = []
    for number in range(MIN_VERSION, MAX_VERSION + 1):
        offset = number - 62  # 62.0 is Winter '25; three releases a year
        year = 25 + offset // 3
        season = ("Winter", "Spring", "Summer")[offset % 3]
        out.append(
            {
                "label": f"{season} '{year:02d}",
                "url": f"/services/data/v{number}.0",
                "version": f"{number}.0",
            }
        )
    return out


def supported_version(version: str) -> bool:
    """Whether ``version`` (``62.0``) is served."""
    major, dot, minor = version.partition(".")
    return (
        bool(dot) and minor == "0" and major.isdigit() and MIN_VERSION <= int(major) <= MAX_VERSION
    )
