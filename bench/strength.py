"""strength: auto against one fixed strength, judged by metrics no loss optimizes.

Each pair is painted at 512 px at the default strength (6) and with strength: auto, on one
warmed-up Stylizer, one painting at a time. Every output is scored with independent.py;
the number auto is judged by is the stylization level, style_swd(painting) /
style_swd(photo): how much of the photo's distance to the painting the painting still has
(1: the photo; 0: the painting's own feature statistics). Printed: one row per pair, then
the spread of each metric across pairs under each setting (max - min, max / min, standard
deviation) and the time auto adds.

`--pairs calibration` are the pairs auto's constants came from; `--pairs held-out` share
no photo and no painting with them (pairs.py). `--calibrate S ...` instead forces auto's
choice to each S: it prints the level auto measured, the judged level with the rest of
the painting at S, each pair's wanted strength (the S reaching the calibration pairs'
median judged level at 6) and the line strength.py's GAIN and TARGET_LEVEL come from.

Writes bench/results/strength-PAIRS.json and docs/strength-auto-PAIRS.jpg (photo | 6 |
auto, one row per pair).

    python bench/strength.py [--pairs calibration|held-out|all] [--size 512] [--calibrate 4.5 6 7.5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

from common import ROOT, machine, save_json, table
from independent import IndependentMetrics
from pairs import CALIBRATION, HELD_OUT

import stylizer.engine as engine
from stylizer import Filter, Stylizer, images
from stylizer.filter import DEFAULT_STRENGTH
from stylizer.grid import labelled_grid

SETS = {"calibration": CALIBRATION, "held-out": HELD_OUT, "all": {**CALIBRATION, **HELD_OUT}}
METRICS = ("level", "style_swd", "style_deep", "colour_swd", "content_err", "ssim")


class Judge:
    """The independent metrics plus the stylization level, with each photo's own
    style_swd (at the output's size) computed once."""

    def __init__(self) -> None:
        self.metrics = IndependentMetrics()
        self.photo_swd: dict[tuple[Path, Path, tuple[int, int]], float] = {}

    def score(self, output: images.Image.Image, photo: Path, painting: Path) -> dict[str, float]:
        key = (photo, painting, output.size)
        if key not in self.photo_swd:
            unpainted = images.load(photo).resize(output.size, images.Image.Resampling.LANCZOS)
            self.photo_swd[key] = self.metrics.score(unpainted, photo, painting)["style_swd"]
        scores = self.metrics.score(output, photo, painting)
        return {"level": scores["style_swd"] / self.photo_swd[key], **scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", choices=list(SETS), default="held-out")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--calibrate", type=float, nargs="+", metavar="S",
                        help="measure auto's calibration with its choice forced to each S instead")
    args = parser.parse_args()
    stylizer, judge = Stylizer(), Judge()
    pairs = SETS[args.pairs]
    warm_photo, warm_painting = next(iter(pairs.values()))
    stylizer.stylize(warm_photo, Filter(styles=(warm_painting,), size=128, iterations=4))
    if args.calibrate:
        calibrate(stylizer, judge, pairs, args.pairs, args.size, args.calibrate)
        return
    data, rows, cells = {}, [], []
    for name, (photo, painting) in pairs.items():
        base = Filter(styles=(painting,), size=args.size)
        runs = {}
        cells.append((images.load(photo), name))
        for label, filter in (("fixed", base), ("auto", base.replace(auto_strength=True))):
            started = time.perf_counter()
            result = stylizer.stylize(photo, filter)
            seconds = time.perf_counter() - started
            runs[label] = {**judge.score(result.image, photo, painting), "seconds": seconds,
                           "strength": result.stats.strength, "measured": result.stats.auto_level}
            cells.append((result.image, f"{label} {result.stats.strength:.1f}"))
        data[name] = runs
        fixed, auto = runs["fixed"], runs["auto"]
        rows.append([name, f"{auto['measured']:.3f}", f"{auto['strength']:.2f}",
                     *(f"{fixed[m]:.3f} / {auto[m]:.3f}" for m in METRICS),
                     f"{fixed['seconds']:.1f} / {auto['seconds']:.1f}"])
        print(" | ".join(rows[-1]), flush=True)
    print(f"{args.size} px; {machine()}; {stylizer.description}")
    print(table(["pair", "measured", "auto strength", *(f"{m} 6 / auto" for m in METRICS), "s 6 / auto"], rows))
    print(table(["metric", "setting", "min", "max", "max - min", "max / min", "std"], spread_rows(data)))
    spread = {label: statistics.pstdev(runs[label]["level"] for runs in data.values()) for label in ("fixed", "auto")}
    print(f"level's spread (std): {spread['fixed']:.4f} at 6, {spread['auto']:.4f} with auto, "
          f"{100 * (1 - spread['auto'] / spread['fixed']):.0f}% lower")
    extra = sum(r["auto"]["seconds"] for r in data.values()) / sum(r["fixed"]["seconds"] for r in data.values())
    print(f"auto takes {extra:.3f}x the time of strength 6 (summed over the pairs)")
    save_json(f"strength-{args.pairs}", {"size": args.size, "machine": machine(), "spread": spread, "results": data})
    sheet = labelled_grid(cells, columns=3, cell_side=256, title="photo | strength 6 | strength: auto")
    sheet.convert("RGB").save(ROOT / "docs" / f"strength-auto-{args.pairs}.jpg", quality=82)


def spread_rows(data: dict[str, dict[str, dict[str, float]]]) -> list[list[str]]:
    rows = []
    for metric in METRICS:
        for label in ("fixed", "auto"):
            values = [runs[label][metric] for runs in data.values()]
            low, high = min(values), max(values)
            rows.append([metric, "6" if label == "fixed" else "auto", f"{low:.3f}", f"{high:.3f}",
                         f"{high - low:.3f}", f"{high / low:.2f}", f"{statistics.pstdev(values):.3f}"])
    return rows


def calibrate(stylizer: Stylizer, judge: Judge, pairs: dict, label: str, size: int, strengths: list[float]) -> None:
    """Auto's choice forced to each S: the level it measured, and the judged level with the
    rest at S. From these, each pair's wanted strength (the S reaching the pairs' median
    judged level at 6, interpolated) and a least-squares fit of it against log(measured
    level): GAIN and TARGET_LEVEL."""
    chooser, seen, judged = engine.auto_strength, {}, {}
    try:
        for name, (photo, painting) in pairs.items():
            for strength in strengths:
                def forced(level: float, name=name, strength=strength) -> float:
                    seen[name] = level
                    return strength

                engine.auto_strength = forced
                image = stylizer.stylize(photo, Filter(styles=(painting,), size=size, auto_strength=True)).image
                judged[name, strength] = judge.score(image, photo, painting)["level"]
                print(f"{name} | measured {seen[name]:.4f} | S {strength:g} | level {judged[name, strength]:.3f}",
                      flush=True)
    finally:
        engine.auto_strength = chooser
    aim = statistics.median(judged[name, DEFAULT_STRENGTH] for name in pairs)
    wanted = {name: _strength_reaching(aim, [(s, judged[name, s]) for s in strengths]) for name in pairs}
    xs, ys = [math.log(seen[name]) for name in pairs], [wanted[name] for name in pairs]
    slope = statistics.covariance(xs, ys) / statistics.variance(xs)
    intercept = statistics.fmean(ys) - slope * statistics.fmean(xs)
    rows = [[name, f"{seen[name]:.4f}", *(f"{judged[name, s]:.3f}" for s in strengths), f"{wanted[name]:.2f}"]
            for name in pairs]
    print(f"{size} px; {machine()}; {stylizer.description}")
    print(table(["pair", "measured", *(f"level, rest at {s:g}" for s in strengths), "wanted strength"], rows))
    target = math.exp((DEFAULT_STRENGTH - intercept) / slope)
    print(f"aim: level {aim:.4f}; fit: GAIN {slope:.2f}, TARGET_LEVEL {target:.4f}, "
          f"correlation {statistics.correlation(xs, ys):.2f}")
    save_json(f"strength-calibrate-{label}", {
        "size": size, "machine": machine(), "aim": aim, "gain": slope, "target_level": target,
        "pairs": {name: {"measured": seen[name], "wanted": wanted[name],
                         "level": {str(s): judged[name, s] for s in strengths}} for name in pairs},
    })


def _strength_reaching(aim: float, points: list[tuple[float, float]]) -> float:
    """The strength where the judged level crosses `aim`, linear between measured
    strengths, clamped to the measured ones (the level falls with strength)."""
    points = sorted(points)
    for (s0, v0), (s1, v1) in zip(points, points[1:]):
        if v0 >= aim >= v1 and v0 != v1:
            return s0 + (s1 - s0) * (v0 - aim) / (v0 - v1)
    return points[0][0] if aim > points[0][1] else points[-1][0]


if __name__ == "__main__":
    main()
