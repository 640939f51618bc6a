"""``bench/load.py`` (the mixed load of ``make soak``) runs end to end for a few seconds with a
few streams, so the script cannot rot: every operation is exercised against a real server and
nothing fails."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.load import MIX

REPO = Path(__file__).resolve().parents[2]


def test_load_script_runs_clean(own_database: str) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.load", "--seconds", "3", "--streams", "5"),
            *("--clients", "2", "--workers", "1", "--datasets", "60", "--no-save"),
            *("--database-url", own_database),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for op in MIX:
        row = re.search(rf"^{op}\s+(\d+)\s+\S+\s+\S+\s+(\d+)$", out, re.MULTILINE)
        assert row, f"no line for {op}:\n{out}"
        assert int(row.group(1)) > 0, f"{op} never ran:\n{out}"
        assert row.group(2) == "0"
    assert re.search(r"^live streams: [1-9]\d* deliveries, 0 missed$", out, re.MULTILINE), out
    assert "errors: 0" in out
