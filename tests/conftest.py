"""Tests share helpers.py; the emulator fixtures come from the package's pytest plugin.

Hypothesis runs under a settings profile named by ``HYPOTHESIS_PROFILE``:

- ``ci`` (the default; ``make test``): derandomized, so every run draws the same examples and a
  run never fails by chance; no example database, so a run replays nothing from earlier runs.
- ``soak`` (``make soak``): random draws and ten times the examples, to explore. A failure
  prints the failing example and a ``@reproduce_failure`` blob; add the example to the test
  as an explicit case so that the CI run covers it from then on.

Tests that set their own ``max_examples`` scale it by the profile's (see ``scaled`` in them).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("soak", derandomize=False, max_examples=1000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
