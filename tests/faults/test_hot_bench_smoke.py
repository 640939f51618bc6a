"""``bench/hot.py`` (issue 21's ratios) runs end to end for a fraction of a second per path, so
the script cannot rot: every path and the bare endpoint answer, nothing fails, and a ratio is
printed next to each goal (the figures themselves are the benchmark's, not this test's)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.hot import GOALS

REPO = Path(__file__).resolve().parents[2]


def test_hot_bench_runs_clean() -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.hot", "--seconds", "0.3", "--clients", "2"),
            *("--datasets", "60", "--no-save"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name, goal in GOALS.items():
        row = re.search(rf"^{name}\s+([\d.]+)\s+{goal}\s+(ok|MISS)\s+([\d.]+)", done.stdout, re.M)
        assert row, f"no line for {name}:\n{done.stdout}"
        assert float(row.group(3)) > 0, f"{name} never ran:\n{done.stdout}"
