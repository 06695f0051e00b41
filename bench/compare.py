"""Side by side with the `pastiche` package: time to a result and the result's quality.

For each (photo, painting) pair, in one process and one after the other (never
concurrently, so neither slows the other): pastiche's default run (1000 L-BFGS steps, its
own content/style weights) through its command line, then our default `Filter` at the
same output size. Both saved 8-bit images are then scored the same way.

Two kinds of score, and only the second is fair:
- `common.quality`'s style distance (relative Gram error, conv1_1..conv5_1) and content
  distance (relative conv4_2 error) are the square roots of *our* loss's terms, so our
  result is scored by what it minimized: circular. pastiche minimizes something else (a
  Gram MSE weighted by 1/C^2, max pooling, bilinear resizing, its own weights), so it is
  not optimizing towards this metric at all. Kept as "own-loss" columns, for reference.
- `independent.IndependentMetrics` (feature-distribution and colour distances to the
  painting at layers neither loss uses, content error at other layers, SSIM) measures
  what neither tool optimizes; those columns decide.

pastiche is given `--size` and `--style-size` equal to our output size, so both see the
painting at the same scale; everything else is its default (max pooling, 1000 steps,
L-BFGS history 100). The own-loss metric uses average pooling, like our default network;
the max-pool columns repeat it with pastiche's pooling.

    python bench/compare.py --pairs tubingen-starry --size 256     # one row, saved to JSON
    python bench/compare.py --pairs raccoon-contrast --size 512 --content-weight 0.1   # a sweep point
    python bench/compare.py --summary                              # merge all saved rows

The summary also reads our strength sweep (bench/quality.py, same size) at each pastiche
result's content_err, so the two tools are compared at matched content, not only each at
its default.

Results and images go to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time

from common import RESULTS, machine, quality, save_json, table
from independent import IndependentMetrics
from quality import ALL_PAIRS

from stylizer import Filter, Stylizer, images

PASTICHE_STEPS = 1000
CONTENT_SLACK = 1.10


def run_pastiche(photo, painting, size: int, output, steps: int, seed: int, content_weight: float | None) -> dict:
    """pastiche's CLI in a child process; its own clock (after imports) and ours (wall)."""
    exe = shutil.which("pastiche") or sys.exit("pastiche is not installed: pip install -r requirements.txt")
    command = [
        exe, "--content", str(photo), "--styles", str(painting), "--output", str(output),
        "--size", str(size), "--style-size", str(size), "--device", "cpu", "--seed", str(seed),
        "--num-steps", str(steps), "--info-step", str(steps),
        *(["--content-weight", f"{content_weight:g}"] if content_weight is not None else []),
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    # Verbose lines: "<step> <elapsed> <loss>"; the first is step 0 (after setup).
    rows = [line.split() for line in done.stdout.splitlines() if re.match(r"^\d+\s+[\d.]+\s", line)]
    setup, total = float(rows[0][1]), float(rows[-1][1])
    return {"seconds": total, "wall_seconds": wall, "s_per_step": (total - setup) / steps, "steps": steps,
            "content_weight": content_weight}


def run_ours(photo, painting, size: int, output, seed: int) -> dict:
    """Our default filter at `size`, timed from a cold `Stylizer` (model load included)."""
    start = time.perf_counter()
    stylizer = Stylizer(device="cpu", precision="auto")
    result = stylizer.stylize(photo, Filter(styles=(painting,), size=size, seed=seed))
    seconds = time.perf_counter() - start
    result.image.save(output)
    stats = result.stats
    return {
        "seconds": seconds,
        "iterations": stats.iterations,
        "evaluations": stats.evaluations,
        "scales": stats.scales,
        "precision": stats.precision,
        "s_per_step": seconds / stats.iterations,
    }


def compare(name: str, size: int, steps: int, seed: int, content_weight: float | None = None) -> dict:
    photo, painting = ALL_PAIRS[name]
    folder = RESULTS / "images"
    folder.mkdir(parents=True, exist_ok=True)
    tag = f"{name}-{size}" + (f"-cw{content_weight:g}" if content_weight is not None else "")
    outputs = {who: folder / f"{tag}-{who}.png" for who in ("pastiche", "ours")}
    row = {"pair": name, "size": size, "machine": machine()}
    row["pastiche"] = run_pastiche(photo, painting, size, outputs["pastiche"], steps, seed, content_weight)
    row["ours"] = run_ours(photo, painting, size, outputs["ours"], seed)
    scorer = Stylizer(device="cpu", precision="fp32")
    independent = IndependentMetrics()
    for who, path in outputs.items():
        image = images.load(path)
        row[who]["size"] = list(image.size)
        row[who]["independent"] = independent.score(image, photo, painting)
        for pooling in ("avg", "max"):
            style, content = quality(scorer, image, photo, painting, pooling)
            row[who][f"style_{pooling}"], row[who][f"content_{pooling}"] = style, content
        row[who]["image"] = str(path.relative_to(RESULTS.parent.parent))
    row["speedup"] = row["pastiche"]["seconds"] / row["ours"]["seconds"]
    row["reached"] = {
        pooling: row["ours"][f"style_{pooling}"] <= row["pastiche"][f"style_{pooling}"]
        and row["ours"][f"content_{pooling}"] <= CONTENT_SLACK * row["pastiche"][f"content_{pooling}"]
        for pooling in ("avg", "max")
    }
    save_json(f"compare-{tag}", row)
    return row


HEADERS = [
    "pair", "size", "pastiche s", "pastiche s/step", "ours s", "ours iterations", "speed-up",
    "style dist. pastiche / ours", "content dist. pastiche / ours", "reached",
    "max-pool metric: style / content", "reached (max)",
    "independent style_swd pastiche / ours", "content_err pastiche / ours", "ssim pastiche / ours",
]


def _row(r: dict) -> list[object]:
    p, o = r["pastiche"], r["ours"]
    return [
        r["pair"], "x".join(map(str, o["size"])), p["seconds"], p["s_per_step"], o["seconds"], o["iterations"],
        f"{r['speedup']:.0f}x",
        f"{p['style_avg']:.3f} / {o['style_avg']:.3f}", f"{p['content_avg']:.3f} / {o['content_avg']:.3f}",
        "yes" if r["reached"]["avg"] else "no",
        f"{p['style_max']:.3f} / {o['style_max']:.3f}, {p['content_max']:.3f} / {o['content_max']:.3f}",
        "yes" if r["reached"]["max"] else "no",
        *_independent(p, o),
    ]


def _independent(p: dict, o: dict) -> list[str]:
    if "independent" not in p:
        return ["-", "-", "-"]  # a row saved before the independent metrics existed
    pi, oi = p["independent"], o["independent"]
    return [f"{pi[k]:.3f} / {oi[k]:.3f}" for k in ("style_swd", "content_err", "ssim")]


def summary() -> None:
    rows = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("compare-*.json"))]
    if not rows:
        sys.exit("no saved comparisons yet: run with --pairs first")
    rows.sort(key=lambda r: (r["size"], r["pair"]))
    print(f"machine: {rows[0]['machine']}")
    print(table(HEADERS, (_row(r) for r in rows)))
    matched = [row for row in (_at_matched_content(r) for r in rows) if row]
    if matched:
        print("\nAt matched content: our strength sweep (bench/quality.py) read at pastiche's content_err")
        print(table(["pair", "pastiche content weight", "content_err", "style_swd pastiche", "style_swd ours",
                     "our strength there"], matched))


def _at_matched_content(row: dict) -> list[str] | None:
    """Our style_swd where our strength sweep reaches pastiche's content_err (linear between
    the two sweep points around it); None without a sweep of that pair at that size."""
    sweep_path = RESULTS / "quality.json"
    if "independent" not in row["pastiche"] or not sweep_path.exists():
        return None
    sweep = json.loads(sweep_path.read_text())
    runs = sweep["results"].get(row["pair"]) if sweep["size"] == row["size"] else None
    if not runs:
        return None
    points = sorted((run["content_err"], run["style_swd"], float(strength)) for strength, run in runs.items())
    target = row["pastiche"]["independent"]
    for (c0, s0, k0), (c1, s1, k1) in zip(points, points[1:]):
        if c0 <= target["content_err"] <= c1:
            t = (target["content_err"] - c0) / (c1 - c0)
            weight = row["pastiche"].get("content_weight")
            return [row["pair"], "default" if weight is None else f"{weight:g}", f"{target['content_err']:.3f}",
                    f"{target['style_swd']:.3f}", f"{s0 + t * (s1 - s0):.3f}", f"{k0 + t * (k1 - k0):.2f}"]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="*", choices=sorted(ALL_PAIRS), default=[])
    parser.add_argument("--size", type=int, default=256, help="output long side for both (default 256)")
    parser.add_argument("--steps", type=int, default=PASTICHE_STEPS, help="pastiche steps (default its 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--content-weight", type=float, help="pastiche's content weight (default its own), for a sweep")
    parser.add_argument("--summary", action="store_true", help="print every saved row")
    args = parser.parse_args()
    if not args.pairs and not args.summary:
        parser.error("give --pairs and/or --summary")
    for name in args.pairs:
        row = compare(name, args.size, args.steps, args.seed, args.content_weight)
        print(table(HEADERS, [_row(row)]), flush=True)
    if args.summary:
        summary()


if __name__ == "__main__":
    main()
