"""Seconds per iteration and peak memory against output size; the largest size that fits.

Each size runs in a fresh child process (peak RSS only ever grows within a process) as a
one-scale run of a few iterations at full size, which is where a real run peaks: earlier
scales are smaller and their tensors are freed. The one thing a short run under-counts is
the L-BFGS history, which fills up over the first `history` iterations; it is two
image-sized fp32 vectors per remembered step, so it is added exactly. Peak memory is then
fitted as a + b * pixels over the measured sizes and solved for the memory limits.

Print sizes are painted tile by tile once a painting would not fit the memory budget
(`--max-memory`, as the CLI's; stylizer/tiling.py). Their rows say so, with the tile
size and the (shorter) L-BFGS history the budget allows; the fit uses untiled rows only.

    python bench/scaling.py [--sizes 256 512 1024 2048] [--iterations 3]
    python bench/scaling.py --sizes 1024 2048 4096 8192 --iterations 2 --max-memory 8
    python bench/scaling.py --sizes 2048 --iterations 3 --tile 1056     # tiling's own cost
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from itertools import pairwise

from common import PAIRS, machine, peak_rss_mb, save_json, table

from stylizer import Filter, Stylizer
from stylizer.tiling import auto_tile, lbfgs_history
from stylizer.transfer import LBFGS_HISTORY

LIMITS_GB = (8, 24)


def child(size: int, iterations: int, max_memory: float | None, tile: int = 0) -> dict:
    """Runs in the child process: one scale at `size`, reports timings and peak RSS."""
    photo, painting = PAIRS["tubingen-starry"]
    stylizer = Stylizer(device="cpu", precision="auto", max_memory_gb=max_memory)
    stamps: list[float] = []
    tiles: list[int] = []
    start = time.perf_counter()

    def progress(p) -> None:
        if p.tiles is None:
            stamps.append(p.elapsed)  # an iteration ended
        else:
            tiles.append(p.tiles[1])

    filter = Filter(styles=(painting,), size=size, scales=1, iterations=iterations, tile=tile)
    result = stylizer.stylize(photo, filter, on_progress=progress)
    width, height = result.image.size
    gaps = [b - a for a, b in pairwise(stamps)]
    return {
        "size": size,
        "width": width,
        "height": height,
        "pixels": width * height,
        "s_per_iteration": min(gaps) if gaps else stamps[0],
        "seconds": time.perf_counter() - start,
        "peak_rss_mb": peak_rss_mb(),
        "precision": result.stats.precision,
        "tiles": max(tiles, default=0),
        "tile": tile or auto_tile(width, height, stylizer.memory_budget),
        "history": lbfgs_history(width * height, stylizer.memory_budget, LBFGS_HISTORY) if tiles else LBFGS_HISTORY,
    }


def history_mb(pixels: int, steps: int = LBFGS_HISTORY) -> float:
    """Memory of a full L-BFGS history: `steps` (step, gradient change) fp32 pairs."""
    return steps * 2 * 3 * pixels * 4 / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--max-memory", type=float, metavar="GB", help="memory budget before tiling (default: the machine's)")
    parser.add_argument("--tile", type=int, default=0, metavar="PX", help="tile every size at PX (default: automatic)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.iterations, args.max_memory, args.tile)))
        return
    runs = []
    for size in args.sizes:
        command = [sys.executable, __file__, "--child", str(size), "--iterations", str(args.iterations)]
        if args.max_memory:
            command += ["--max-memory", str(args.max_memory)]
        if args.tile:
            command += ["--tile", str(args.tile)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(output.strip().splitlines()[-1]))
        print(f"  {size} px done", file=sys.stderr, flush=True)
    base = runs[0]
    rows = []
    for run in runs:
        run["history_mb"] = history_mb(run["pixels"], run["history"])
        run["full_run_peak_mb"] = run["peak_rss_mb"] + run["history_mb"]
        per_mpix = run["s_per_iteration"] / (run["pixels"] / 1e6)
        how = f"tiles of {run['tile']} px ({run['tiles']}), history {run['history']}" if run["tiles"] else "whole"
        rows.append([
            f"{run['width']}x{run['height']}", how, run["pixels"] / 1e6, run["s_per_iteration"],
            run["s_per_iteration"] / base["s_per_iteration"], run["pixels"] / base["pixels"], per_mpix,
            run["peak_rss_mb"] / 1024, run["full_run_peak_mb"] / 1024,
        ])
    print(f"machine: {machine()}; precision {runs[0]['precision']}; {args.iterations} iterations per size")
    print(table([
        "output", "computed", "Mpixels", "s / iteration", "time vs smallest", "pixels vs smallest", "s / iteration / Mpixel",
        "peak RSS GB (short run)", "peak GB with full L-BFGS history",
    ], rows))
    whole = [r for r in runs if not r["tiles"]]
    if len(whole) < 2:
        save_json("scaling-tiled", {"machine": machine(), "runs": runs})
        return
    # Linear fit over the two largest untiled sizes, where fixed costs (interpreter, weights) matter least.
    (p1, m1), (p2, m2) = [(r["pixels"], r["full_run_peak_mb"]) for r in whole[-2:]]
    slope = (m2 - m1) / (p2 - p1)
    intercept = m1 - slope * p1
    aspect = runs[-1]["height"] / runs[-1]["width"]
    fits = {}
    for limit in LIMITS_GB:
        pixels = (limit * 1024 - intercept) / slope
        long_side = int((pixels / aspect) ** 0.5)
        fits[limit] = {"pixels": pixels, "long_side": long_side}
        print(f"fits in {limit} GB: about {pixels / 1e6:.1f} Mpixels, a {long_side}x{int(long_side * aspect)} image "
              f"(fit: {intercept / 1024:.2f} GB + {slope * 1e6 / 1024:.2f} GB per Mpixel)")
    name = "scaling-tiled" if len(whole) < len(runs) else "scaling"
    save_json(name, {"machine": machine(), "runs": runs, "fit_mb": [intercept, slope], "fits": fits})


if __name__ == "__main__":
    main()
