"""strength: auto against one fixed strength, judged by metrics no loss optimizes.

Each pair is painted at 512 px at the default strength (6) and with strength: auto, on one
warmed-up Stylizer, one painting at a time. Every output is scored with independent.py
(style_swd, colour_swd, content_err, SSIM). Printed: one row per pair, then the spread of
each metric across pairs under each setting (max - min, max / min and the standard
deviation) and the time auto adds. Auto's calibration (strength.py) came from the eight
pairs of bench/quality.py; `--pairs held-out` runs pairs it never saw.

`--calibrate S ...` instead forces auto's choice to each S: it prints the level auto
measured and style_swd with the rest of the painting at S, each pair's wanted strength
(the S reaching the pairs' median style_swd at 6) and the line strength.py's GAIN and
TARGET_LEVEL come from.

Writes bench/results/strength-PAIRS.json and docs/strength-auto-PAIRS.jpg (photo | 6 |
auto, one row per pair).

    python bench/strength.py [--pairs calibration|held-out|all] [--size 512] [--calibrate 4.5 6 7.5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from common import EXAMPLES, ROOT, STYLES, machine, save_json, table
from independent import IndependentMetrics
from pairs import ALL_PAIRS

import stylizer.engine as engine
from stylizer import Filter, Stylizer, images
from stylizer.filter import DEFAULT_STRENGTH
from stylizer.grid import labelled_grid

# Pairs the calibration never saw: other paintings on the same photos.
HELD_OUT = {
    "tubingen-kiss": (EXAMPLES / "tubingen.jpg", STYLES / "the_kiss.png"),
    "zebra-hat": (EXAMPLES / "zebra.jpg", STYLES / "woman_with_a_hat.jpg"),
    "coffee-starry": (EXAMPLES / "coffee.png", STYLES / "starry_night.jpg"),
    "raccoon-wave": (EXAMPLES / "raccoon.png", STYLES / "great_wave.jpg"),
    "park-scream": (EXAMPLES / "park_path.jpg", STYLES / "the_scream.jpg"),
    "astronaut-udnie": (EXAMPLES / "astronaut.png", STYLES / "udnie.jpg"),
}
SETS = {"calibration": ALL_PAIRS, "held-out": HELD_OUT, "all": {**ALL_PAIRS, **HELD_OUT}}
METRICS = ("style_swd", "colour_swd", "content_err", "ssim")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", choices=list(SETS), default="all")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--calibrate", type=float, nargs="+", metavar="S",
                        help="measure auto's calibration with its choice forced to each S instead")
    args = parser.parse_args()
    stylizer, metrics = Stylizer(), IndependentMetrics()
    pairs = SETS[args.pairs]
    warm_photo, warm_painting = next(iter(pairs.values()))
    stylizer.stylize(warm_photo, Filter(styles=(warm_painting,), size=128, iterations=4))
    if args.calibrate:
        calibrate(stylizer, metrics, pairs, args.pairs, args.size, args.calibrate)
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
            runs[label] = {**metrics.score(result.image, photo, painting), "seconds": seconds,
                           "strength": result.stats.strength, "level": result.stats.auto_level}
            cells.append((result.image, f"{label} {result.stats.strength:.1f}"))
        data[name] = runs
        fixed, auto = runs["fixed"], runs["auto"]
        rows.append([name, f"{auto['level']:.3f}", f"{auto['strength']:.2f}",
                     *(f"{fixed[m]:.3f} / {auto[m]:.3f}" for m in METRICS),
                     f"{fixed['seconds']:.1f} / {auto['seconds']:.1f}"])
        print(" | ".join(rows[-1]), flush=True)
    print(f"{args.size} px; {machine()}; {stylizer.description}")
    print(table(["pair", "level", "auto strength", *(f"{m} 6 / auto" for m in METRICS), "s 6 / auto"], rows))
    print(table(["metric", "setting", "min", "max", "max - min", "max / min", "std"], spread_rows(data)))
    extra = sum(r["auto"]["seconds"] for r in data.values()) / sum(r["fixed"]["seconds"] for r in data.values())
    print(f"auto takes {extra:.3f}x the time of strength 6 (summed over the pairs)")
    save_json(f"strength-{args.pairs}", {"size": args.size, "machine": machine(), "results": data})
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


def calibrate(stylizer: Stylizer, metrics: IndependentMetrics, pairs: dict, label: str, size: int,
              strengths: list[float]) -> None:
    """Auto's choice forced to each S: the level it measured, and style_swd with the rest at S.

    From these, each pair's wanted strength (the S reaching the pairs' median style_swd at
    6, interpolated) and a least-squares fit of it against log(level): GAIN and TARGET_LEVEL.
    """
    chooser, seen, swd = engine.auto_strength, {}, {}
    try:
        for name, (photo, painting) in pairs.items():
            for strength in strengths:
                def forced(level: float, side: int, name=name, strength=strength) -> float:
                    seen[name] = level
                    return strength

                engine.auto_strength = forced
                image = stylizer.stylize(photo, Filter(styles=(painting,), size=size, auto_strength=True)).image
                swd[name, strength] = metrics.score(image, photo, painting)["style_swd"]
                print(f"{name} | level {seen[name]:.4f} | S {strength:g} | style_swd {swd[name, strength]:.3f}", flush=True)
    finally:
        engine.auto_strength = chooser
    aim = statistics.median(swd[name, DEFAULT_STRENGTH] for name in pairs)
    wanted = {name: _strength_reaching(aim, [(s, swd[name, s]) for s in strengths]) for name in pairs}
    xs, ys = [math.log(seen[name]) for name in pairs], [wanted[name] for name in pairs]
    slope = statistics.covariance(xs, ys) / statistics.variance(xs)
    intercept = statistics.fmean(ys) - slope * statistics.fmean(xs)
    rows = [[name, f"{seen[name]:.4f}", *(f"{swd[name, s]:.3f}" for s in strengths), f"{wanted[name]:.2f}"]
            for name in pairs]
    print(f"{size} px; {machine()}; {stylizer.description}")
    print(table(["pair", "level", *(f"style_swd, rest at {s:g}" for s in strengths), "wanted strength"], rows))
    target = math.exp((DEFAULT_STRENGTH - intercept) / slope)
    print(f"aim: style_swd {aim:.4f}; fit: GAIN {slope:.2f}, TARGET_LEVEL {target:.4f}, "
          f"correlation {statistics.correlation(xs, ys):.2f}")
    save_json(f"strength-calibrate-{label}", {
        "size": size, "machine": machine(), "aim": aim, "gain": slope, "target_level": target,
        "pairs": {name: {"level": seen[name], "wanted": wanted[name],
                         "style_swd": {str(s): swd[name, s] for s in strengths}} for name in pairs},
    })


def _strength_reaching(aim: float, points: list[tuple[float, float]]) -> float:
    """The strength where style_swd crosses `aim`, linear between measured strengths,
    clamped to the measured ones (style_swd falls with strength)."""
    points = sorted(points)
    for (s0, v0), (s1, v1) in zip(points, points[1:]):
        if v0 >= aim >= v1 and v0 != v1:
            return s0 + (s1 - s0) * (v0 - aim) / (v0 - v1)
    return points[0][0] if aim > points[0][1] else points[-1][0]


if __name__ == "__main__":
    main()
