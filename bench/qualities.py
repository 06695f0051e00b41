"""Instant, Quick and Normal side by side: time, the quality metric, and a figure to look at.

Each benchmark pair is painted at 512 px with each quality, one after another on one
Stylizer (warmed up first), and scored with common.quality: style distance (Gram matrices
against the painting) and content distance (conv4_2 against the photo), lower is better.
Caveat: these are the terms the Gatys optimization (Quick, Normal) minimizes and the
feed-forward network (Instant) never saw, so they favour the optimized results by
construction; the figure is the fairer judge. Writes docs/qualities.jpg.

    python bench/qualities.py [--size 512] [--pairs tubingen-starry coffee-wave ...]
"""

from __future__ import annotations

import argparse
import time

from common import PAIRS, ROOT, machine, quality, save_json, table
from PIL import Image, ImageDraw

from stylizer import Filter, Stylizer, images

QUALITIES = ("instant", "quick", "normal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    args = parser.parse_args()
    stylizer = Stylizer()
    warm_photo, warm_painting = PAIRS[args.pairs[0]]
    stylizer.paint(warm_photo, Filter(styles=(warm_painting,), size=128, iterations=4), "quick")
    rows, data, tiles = [], {}, []
    for name in args.pairs:
        photo, painting = PAIRS[name]
        row_tiles = [images.fit(images.load(photo), 256)]
        for level in QUALITIES:
            started = time.perf_counter()
            result = stylizer.paint(photo, Filter(styles=(painting,), size=args.size), level)
            seconds = time.perf_counter() - started
            style, content = quality(stylizer, result.image, photo, painting)
            data[f"{name}/{level}"] = {"seconds": seconds, "style": style, "content": content}
            rows.append([name, level, f"{seconds:.2f}", f"{style:.3f}", f"{content:.3f}"])
            row_tiles.append(images.fit(result.image, 256))
        tiles.append(row_tiles)
    print(f"{args.size} px; {machine()}; {stylizer.description}")
    print(table(["pair", "quality", "seconds", "style distance", "content distance"], rows))
    save_json("qualities", {"size": args.size, "machine": machine(), "results": data})
    figure = _figure(tiles, ["photo", *QUALITIES])
    figure.save(ROOT / "docs" / "qualities.jpg", quality=88)


def _figure(rows: list[list[Image.Image]], labels: list[str]) -> Image.Image:
    width = max(t.width for row in rows for t in row)
    heights = [max(t.height for t in row) for row in rows]
    sheet = Image.new("RGB", (width * len(labels), 24 + sum(heights)), "white")
    draw = ImageDraw.Draw(sheet)
    for column, label in enumerate(labels):
        draw.text((column * width + 8, 6), label, fill="black")
    top = 24
    for row, height in zip(rows, heights):
        for column, tile in enumerate(row):
            sheet.paste(tile, (column * width, top))
        top += height
    return sheet


if __name__ == "__main__":
    main()
