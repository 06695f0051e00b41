"""Style against content across strengths, scored by metrics no loss optimizes (independent.py).

Each (photo, painting) pair is painted at 512 px with the default schedule at several
strengths; every output is scored with the independent metrics and, for reference, with
the Gram/conv4_2 distances our own loss minimizes (common.quality). Prints one table row
per run, saves JSON, and draws the trade-off (style_swd against content_err, one line per
pair through its strengths) to docs/quality-tradeoff.png. Lower-left is better: more of
the painting's feature statistics for the same loss of the photo's structure.

    python bench/quality.py [--strengths 3 4.5 6 7.5 9] [--pairs ...] [--size 512]

A variant of the loss or schedule is swept with `--variant NAME` and its settings
(`--layer-weights`, `--pooling`, `--iterations`, `--scales`, `--plan`, `--coarsest`,
`--style-scale`, `--init`, `--detail`); it
saves bench/results/quality-NAME.json and draws no figure, and `bench/compare.py
--summary --sweep quality-NAME` reads it at pastiche's content. Every
sweep keeps its images in bench/results/images/quality-NAME/ (quality-default/ for the
default), and `--rescore` judges them again without painting.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import RESULTS, ROOT, machine, paint_with_counts, quality, save_json, table
from independent import IndependentMetrics
from pairs import ALL_PAIRS
from PIL import Image, ImageDraw

import stylizer.painting as painting_module
from stylizer import Filter, Stylizer, transfer
from stylizer.filter import StyleImage, ratio_from_strength

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strengths", type=float, nargs="+", default=[3.0, 4.5, 6.0, 7.5, 9.0])
    parser.add_argument("--pairs", nargs="+", default=list(ALL_PAIRS), choices=list(ALL_PAIRS))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--variant", help="name of a loss variant: saves quality-NAME.json, no figure")
    parser.add_argument("--layer-weights", type=float, nargs="+", help="style layer weights (default the seed paper's)")
    parser.add_argument("--pooling", choices=("avg", "max"), default="avg")
    parser.add_argument("--iterations", type=int, help="L-BFGS iterations in all (default the filter's 105)")
    parser.add_argument("--scales", type=int, help="coarse-to-fine scales (default the filter's 3; 1 = full size only)")
    parser.add_argument("--plan", type=int, nargs="+", metavar="N",
                        help="iterations per scale, coarse to fine (default the engine's split of --iterations)")
    parser.add_argument("--coarsest", type=int, metavar="PX",
                        help="the smallest scale's least long side (default transfer.MIN_SCALE_SIDE, 128)")
    parser.add_argument("--style-scale", type=float,
                        help="the painting's size relative to the picture at every scale (default 1)")
    parser.add_argument("--init", choices=("content", "instant"), help="where the optimization starts (default the photo)")
    parser.add_argument("--detail", choices=("on", "off"),
                        help="add the photo's lost detail back between scales (painting.ADD_BACK_DETAIL)")
    parser.add_argument("--rescore", action="store_true",
                        help="score the saved images of this sweep again (after a change of the judge), paint nothing")
    args = parser.parse_args()
    given = {"layer_weights": args.layer_weights and tuple(args.layer_weights), "iterations": args.iterations,
             "scales": args.scales, "init": args.init != "content" and args.init}
    settings = {"pooling": args.pooling, **{key: value for key, value in given.items() if value}}
    if args.plan:
        settings.update(scales=len(args.plan), iterations=sum(args.plan))
        paint_with_counts(args.plan)
    if args.coarsest:
        transfer.MIN_SCALE_SIDE = args.coarsest
    schedule = {name: value for name, value in (("detail", args.detail), ("plan", args.plan),
                ("coarsest", args.coarsest), ("style_scale", args.style_scale)) if value}
    if (settings != {"pooling": "avg"} or schedule) and not args.variant:
        parser.error("a changed loss or schedule needs --variant NAME (it must not replace the default sweep)")
    if args.detail:
        painting_module.ADD_BACK_DETAIL = args.detail == "on"
    saved = RESULTS / "images" / f"quality-{args.variant or 'default'}"
    if args.rescore:
        rescore(f"quality-{args.variant}" if args.variant else "quality", saved)
        return
    stylizer, metrics = Stylizer(), IndependentMetrics()
    saved.mkdir(parents=True, exist_ok=True)
    rows, data = [], {}
    for name in args.pairs:
        photo, painting = ALL_PAIRS[name]
        for strength in args.strengths:
            started = time.perf_counter()
            style = StyleImage(painting, 1.0, args.style_scale or 1.0)
            filter = Filter(styles=(style,), size=args.size, ratio=ratio_from_strength(strength), **settings)
            result = stylizer.stylize(photo, filter)
            seconds = time.perf_counter() - started
            result.image.save(saved / f"{name}-{strength:g}.png")
            scores = metrics.score(result.image, photo, painting)
            gram, conv4_2 = quality(stylizer, result.image, photo, painting)
            data.setdefault(name, {})[str(strength)] = {**scores, "gram": gram, "conv4_2": conv4_2, "seconds": seconds}
            rows.append([name, f"{strength:g}", f"{scores['style_swd']:.3f}", f"{scores['colour_swd']:.2f}",
                         f"{scores['content_err']:.3f}", f"{scores['ssim']:.3f}", f"{gram:.3f}", f"{conv4_2:.3f}",
                         f"{seconds:.1f}"])
            print(" | ".join(rows[-1]), flush=True)
    print(f"{args.size} px; {machine()}; {stylizer.description}")
    print(table(["pair", "strength", "style_swd", "colour_swd", "content_err", "ssim",
                 "gram (own loss)", "conv4_2 (own loss)", "s"], rows))
    if args.variant:
        save_json(f"quality-{args.variant}", {"size": args.size, "machine": machine(), "settings": settings, **schedule,
                                              "results": data})
    else:
        save_json("quality", {"size": args.size, "machine": machine(), "results": data})
        tradeoff_figure(data).save(ROOT / "docs" / "quality-tradeoff.png")


def rescore(name: str, saved: Path) -> None:
    """The saved sweep `name` with every saved image judged again; times and own-loss
    distances stay as they were measured."""
    sweep = json.loads((RESULTS / f"{name}.json").read_text())
    metrics = IndependentMetrics()
    for pair, runs in sweep["results"].items():
        photo, painting = ALL_PAIRS[pair]
        for strength, run in runs.items():
            image = Image.open(saved / f"{pair}-{float(strength):g}.png").convert("RGB")
            run.update(metrics.score(image, photo, painting))
    save_json(name, sweep)
    print(f"rescored {name}: {sum(len(runs) for runs in sweep['results'].values())} images")


def tradeoff_figure(data: dict[str, dict[str, dict[str, float]]], width: int = 900, height: int = 600) -> Image.Image:
    """style_swd (x) against content_err (y), one polyline per pair, its strengths marked."""
    points = [(run["style_swd"], run["content_err"]) for runs in data.values() for run in runs.values()]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    left, right, top, bottom = 70, width - 220, 30, height - 50
    x0, x1 = min(xs) * 0.95, max(xs) * 1.05
    y0, y1 = min(ys) * 0.95, max(ys) * 1.05

    def at(x: float, y: float) -> tuple[float, float]:
        return left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top)

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((left, top, right, bottom), outline="black")
    for i in range(5):
        gx, gy = x0 + (x1 - x0) * i / 4, y0 + (y1 - y0) * i / 4
        draw.text((at(gx, y0)[0] - 12, bottom + 6), f"{gx:.2f}", fill="black")
        draw.text((8, at(x0, gy)[1] - 6), f"{gy:.2f}", fill="black")
    draw.text(((left + right) / 2 - 120, height - 22), "style_swd to the painting (lower = more painting)", fill="black")
    draw.text((8, 8), "content_err to the photo (lower = more photo kept)", fill="black")
    for index, (name, runs) in enumerate(data.items()):
        colour = COLOURS[index % len(COLOURS)]
        ordered = sorted(runs.items(), key=lambda item: float(item[0]))
        line = [at(run["style_swd"], run["content_err"]) for _, run in ordered]
        draw.line(line, fill=colour, width=2)
        for (strength, _), (px, py) in zip(ordered, line):
            draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill=colour)
            draw.text((px + 4, py - 12), strength.rstrip("0").rstrip("."), fill=colour)
        draw.text((right + 12, top + 18 * index), name, fill=colour)
    return image


if __name__ == "__main__":
    main()
