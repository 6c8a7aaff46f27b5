"""The log of requests the emulator served, and how many it is serving now (for inspection)."""

from __future__ import annotations

import threading
from typing import Any


class RequestLog:
    """Entries in arrival order plus an in-flight count. Thread-safe."""

    def __init__(self) -> None:
        """Start empty."""
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self.in_flight = 0

    def arrive(self) -> int:
        """Count a request as being served.

        Returns:
            How many requests are being served now, this one included.
        """
        with self._lock:
            self.in_flight += 1
            return self.in_flight

    def leave(self) -> None:
        """Count a request as no longer being served."""
        with self._lock:
            self.in_flight -= 1

    def append(self, entry: dict[str, Any]) -> None:
        """Record one served request."""
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        """Copies of the entries, in arrival order."""
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
