"""Instant, Quick and Normal side by side: time, the quality metrics, and a figure to look at.

Each benchmark pair is painted at 512 px with each quality, one after another on one
Stylizer (warmed up first), and scored by the independent judge (independent.py:
style_swd, content_err, SSIM) and, for reference, by common.quality's own-loss distances
(Gram matrices, conv4_2), which the optimized qualities minimize and Instant never saw.
`--before` adds Normal as it painted before the photo's detail was added back between
scales (painting.ADD_BACK_DETAIL) and the finest scale got its larger share
(transfer.FINEST_SHARE: 100 iterations, 57, 28 and 15), timed in the same run. Writes
docs/qualities.jpg.

    python bench/qualities.py [--size 512] [--pairs tubingen-starry coffee-wave ...] [--before]
"""

from __future__ import annotations

import argparse
import time

from common import PAIRS, ROOT, machine, quality, save_json, table
from independent import IndependentMetrics
from PIL import Image, ImageDraw

from stylizer import Filter, Stylizer, images, painting, transfer

QUALITIES = ("instant", "quick", "normal")
BEFORE = "normal before"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--before", action="store_true",
                        help="also Normal without the detail added back, at 100 iterations split 57, 28, 15")
    args = parser.parse_args()
    stylizer, judge = Stylizer(), IndependentMetrics()
    levels = (*QUALITIES, BEFORE) if args.before else QUALITIES
    warm_photo, warm_painting = PAIRS[args.pairs[0]]
    stylizer.paint(warm_photo, Filter(styles=(warm_painting,), size=128, iterations=4), "quick")
    rows, data, tiles = [], {}, []
    finest_share = transfer.FINEST_SHARE
    for name in args.pairs:
        photo, style_image = PAIRS[name]
        row_tiles = [images.fit(images.load(photo), 256)]
        for level in levels:
            filter = Filter(styles=(style_image,), size=args.size)
            if level == BEFORE:
                painting.ADD_BACK_DETAIL, transfer.FINEST_SHARE = False, 1 / 2
                filter = filter.replace(iterations=100)
            started = time.perf_counter()
            result = stylizer.paint(photo, filter, level.split()[0])
            seconds = time.perf_counter() - started
            painting.ADD_BACK_DETAIL, transfer.FINEST_SHARE = True, finest_share
            style, content = quality(stylizer, result.image, photo, style_image)
            judged = judge.score(result.image, photo, style_image)
            data[f"{name}/{level}"] = {"seconds": seconds, "style": style, "content": content, **judged}
            rows.append([name, level, f"{seconds:.2f}", f"{judged['style_swd']:.3f}", f"{judged['content_err']:.3f}",
                         f"{judged['ssim']:.3f}", f"{style:.3f}", f"{content:.3f}"])
            row_tiles.append(images.fit(result.image, 256))
        tiles.append(row_tiles)
    print(f"{args.size} px; {machine()}; {stylizer.description}")
    print(table(["pair", "quality", "seconds", "style_swd", "content_err", "ssim", "gram (own loss)",
                 "conv4_2 (own loss)"], rows))
    save_json("qualities", {"size": args.size, "machine": machine(), "results": data})
    figure = _figure(tiles, ["photo", *levels])
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
