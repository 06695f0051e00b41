"""Several people's paintings through one network pass: time and quality, batch against one by one.

Paints N different photos of one size (the batched core groups photos by size) with one
filter, twice each way, alternating, in one process:

- one by one: `Stylizer.paint` for each photo in turn;
- batched: `Stylizer.paint_many` with all of them in one batch.

It prints the median wall time of each, their ratio, and for every photo the independent
metrics (bench/independent.py, statistics no loss here optimizes) of its batched painting
against the one painted alone, with the largest relative difference. Never run beside
another busy process: on two cores that alone makes both several times slower.

    python bench/batch.py                      # 4 photos at 256 px, Normal, starry-night
    python bench/batch.py --count 8 --size 512 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import EXAMPLES, ROOT, machine, save_json, table
from independent import IndependentMetrics

from stylizer import Stylizer, images
from stylizer.presets import load_presets

PHOTOS = ("tubingen.jpg", "rocket.jpg", "zebra.jpg", "park_path.jpg", "storm_over_city.jpg", "coffee.png",
          "astronaut.png", "raccoon.png")
PRESET = "starry-night"


def _photos(count: int, size: int) -> list[images.Image.Image]:
    """`count` different photos cropped to 4:3 and resized to one size."""
    out = []
    for index in range(count):
        photo = images.load(EXAMPLES / PHOTOS[index % len(PHOTOS)])
        if index >= len(PHOTOS):
            photo = photo.transpose(images.Image.Transpose.FLIP_LEFT_RIGHT)
        width, height = photo.size
        crop_w, crop_h = (width, width * 3 // 4) if width * 3 <= height * 4 else (height * 4 // 3, height)
        left, top = (width - crop_w) // 2, (height - crop_h) // 2
        out.append(photo.crop((left, top, left + crop_w, top + crop_h)).resize((size, size * 3 // 4)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--quality", default="normal")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()

    stylizer = Stylizer(args.device, args.precision)
    filter = load_presets().get(PRESET).filter.replace(size=args.size, auto_strength=False)
    photos = _photos(args.count, args.size)
    stylizer.paint(photos[0], filter.replace(iterations=4), args.quality)  # warm-up: weights, caches, kernels

    times: dict[str, list[float]] = {"one by one": [], "batched": []}
    outputs: dict[str, list] = {}
    for _ in range(args.rounds):
        for way in times:
            started = time.perf_counter()
            if way == "batched":
                results = stylizer.paint_many(photos, filter, args.quality, batch_size=args.count)
            else:
                results = [stylizer.paint(photo, filter, args.quality) for photo in photos]
            times[way].append(time.perf_counter() - started)
            outputs[way] = results
    alone, together = (statistics.median(times[w]) for w in times)

    print(f"{machine()}; {stylizer.description}")
    print(f"{args.count} photos at {args.size} px, {args.quality}, {PRESET} (strength 6), {args.rounds} rounds each\n")
    print(table(["way", "median s", "s / painting", "runs"],
                [[way, statistics.median(t), statistics.median(t) / args.count, len(t)] for way, t in times.items()]))
    print(f"\nbatched / one by one: {together / alone:.3f}\n")

    metrics = IndependentMetrics()
    painting = ROOT / "presets" / "styles" / "starry_night.jpg"
    rows, worst = [], 0.0
    for index, photo in enumerate(photos):
        path = ROOT / "bench" / "results" / f".batch-photo-{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        photo.save(path)
        a = metrics.score(outputs["one by one"][index].image, path, painting)
        b = metrics.score(outputs["batched"][index].image, path, painting)
        path.unlink()
        differences = {name: abs(b[name] - a[name]) / abs(a[name]) for name in a}
        worst = max(worst, *differences.values())
        rows.append([PHOTOS[index % len(PHOTOS)], *(f"{a[n]:.4f} / {b[n]:.4f}" for n in a),
                     f"{max(differences.values()):.2%}"])
    print(table(["photo", "style_swd alone / batched", "colour_swd", "content_err", "ssim", "largest diff"], rows))
    print(f"\nlargest relative difference of an independent metric: {worst:.2%}")
    save_json(f"batch-{args.device}-{args.size}", {
        "machine": machine(), "device": stylizer.description, "count": args.count, "size": args.size,
        "quality": args.quality, "times": times, "ratio": together / alone, "largest_metric_difference": worst,
        "rows": rows,
    })


if __name__ == "__main__":
    main()
