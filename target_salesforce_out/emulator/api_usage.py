"""The org's daily API request allocation: calls counted so far against the limit."""

from __future__ import annotations

import threading


class ApiUsage:
    """A thread-safe counter of API calls with a daily limit."""

    def __init__(self, limit: int) -> None:
        """Start with no calls used.

        Args:
            limit: Daily API request allocation.
        """
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    def spend(self) -> tuple[bool, int]:
        """Count one call unless the allocation is used up.

        Returns:
            (whether the call was counted, calls used afterwards).
        """
        with self._lock:
            if self._used >= self.limit:
                return False, self._used
            self._used += 1
            return True, self._used

    def usage(self) -> tuple[int, int]:
        """(API calls used, daily allocation)."""
        with self._lock:
            return self._used, self.limit

    def reset(self) -> None:
        """Forget every counted call."""
        with self._lock:
            self._used = 0
