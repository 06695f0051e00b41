"""Latency of the instant preview (`Stylizer.preview`), idle and while a painting runs.

"Idle": nothing else runs. "Busy": a default Gatys painting runs in another process on the
same machine (as when the app serves one user's painting and another presses Paint). Each
figure is over `--repeats` previews after warm-up, photo decoding and resizing included.
The issue's targets: p50 <= 0.3 s idle, p95 <= 0.5 s busy, at 512 px on 2 CPU cores.

    python bench/instant_preview.py [--size 512] [--repeats 40]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PAIRS, ROOT, machine, save_json, table

from stylizer import Filter, Stylizer


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timings(stylizer: Stylizer, size: int, repeats: int) -> list[float]:
    seconds = []
    pairs = list(PAIRS.values())
    for index in range(repeats):
        photo, painting = pairs[index % len(pairs)]
        started = time.perf_counter()
        stylizer.preview(photo, Filter(styles=(painting,), size=size))
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    stylizer = Stylizer()
    timings(stylizer, args.size, len(PAIRS))  # warm-up: load the networks, cache every style vector
    rows, results = [], {}
    for condition in ("idle", "busy"):
        painter = None
        if condition == "busy":
            photo, painting = PAIRS["tubingen-starry"]
            out = Path(tempfile.mkdtemp()) / "busy.png"
            painter = subprocess.Popen(
                [sys.executable, "-m", "stylizer", str(photo), "--style", str(painting), "-o", str(out), "-q"],
                cwd=ROOT,
            )
            time.sleep(8)  # past model loading: the optimization is running
        try:
            seconds = timings(stylizer, args.size, args.repeats)
        finally:
            if painter is not None:
                still_painting = painter.poll() is None
                painter.kill()
                painter.wait()
                assert still_painting, "the painting ended before the measurement did; use fewer --repeats"
        p50, p95 = statistics.median(seconds), percentile(seconds, 0.95)
        results[condition] = {"p50": p50, "p95": p95, "max": max(seconds), "n": len(seconds)}
        rows.append([condition, f"{p50:.3f}", f"{p95:.3f}", f"{max(seconds):.3f}", str(len(seconds))])
    print(f"instant preview at {args.size} px; {machine()}")
    print(table(["condition", "p50 s", "p95 s", "max s", "previews"], rows))
    save_json("instant_preview", {"size": args.size, "machine": machine(), "results": results})


if __name__ == "__main__":
    main()
