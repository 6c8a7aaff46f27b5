"""Run a Python program in this process and write its own peak RSS when it exits.

    python benchmarks/measured.py SCRIPT [ARGS...]   (BENCH_PEAK_RSS_FILE=path)

Linux carries a child's ``ru_maxrss`` over from its parent at fork/exec, so ``os.wait4`` reports
the benchmark process's own peak (which holds the emulator and its records) for every target
it starts. ``VmHWM`` in ``/proc/self/status`` is the high-water mark of this process's memory
only; it is read at exit, after the program's threads have ended.
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys
from pathlib import Path


def _write_peak() -> None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            Path(os.environ["BENCH_PEAK_RSS_FILE"]).write_text(line.split()[1])  # kB


if __name__ == "__main__":
    atexit.register(_write_peak)
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
