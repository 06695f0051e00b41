"""bench/gpu.py is run for real only on a GPU lease, where a crash wastes the lease: this
runs its smallest grid on the CPU, as a GPU session would first, and checks what it writes.

Nothing here is timed: the numbers of a smoke run mean nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_smoke_run_paints_every_cell_and_writes_its_table(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    command = [
        sys.executable, str(ROOT / "bench" / "gpu.py"), "--smoke", "--device", "cpu", "--grid", "full",
        "--sizes", "64", "--qualities", "normal", "--precisions", "fp32", "--out", str(out),
        "--budget-s", "1000",  # a busy machine must not turn cells into budget skips
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    data = json.loads(out.read_text())
    cells = {(c["channels_last"], c["batch"]): c for c in data["cells"]}
    assert set(cells) == {(False, 1), (False, 2), (True, 1), (True, 2)}
    assert all(c["status"] == "ok" for c in cells.values()), [c["status"] for c in cells.values()]
    assert all(c["paintings_per_minute"] > 0 for c in cells.values())
    # An empty note: among others, the engine's network really had the layout asked for.
    assert all(c["note"] == "" for c in cells.values()), [c["note"] for c in cells.values()]
    assert data["smoke"] is True and data["device"] == "cpu"
    assert "| px | quality | precision | channels_last | batch |" in run.stdout
