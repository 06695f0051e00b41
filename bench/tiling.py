"""Print sizes: does tiling change the painting, and is a large painting the small one, refined?

1. Equivalence: the same 1024 px painting untiled and with `--tile 384` (a halo of 64 px),
   scored with our own distances and the independent ones (bench/independent.py); 100%
   crops where tile borders cross the image go to docs/tiling-seams.jpg.
2. True to the small version: a 2048 px painting scaled down to 512 px against the 512 px
   painting, for two schedules: 3 scales from 512 px (512, 1024, 2048: the schedule before
   plan_scales added a scale per doubling) and the default, which starts at 128 px like the
   small painting does (128 ... 2048). Distances: SSIM
   of the luminance and the mean colour difference (0-255) between the two 512 px images.
   docs/print-refinement.jpg shows the 512 px painting beside both.

    python bench/tiling.py [--skip-refinement]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from common import PAIRS, ROOT, machine, save_json, table
from independent import IndependentMetrics, _luma, ssim
from stylizer import Filter, Stylizer, images
from stylizer.tiling import plan_tiles

TILE = 384


def equivalence(stylizer: Stylizer, metrics: IndependentMetrics) -> tuple[list, dict]:
    photo, painting = PAIRS["tubingen-starry"]
    flt = Filter(styles=(painting,), size=1024)
    rows, record, images_by_name = [], {}, {}
    for name, run in (("untiled", flt), (f"tile {TILE}", flt.replace(tile=TILE))):
        started = time.perf_counter()
        result = stylizer.stylize(photo, run)
        seconds = time.perf_counter() - started
        scores = metrics.score(result.image, photo, painting)
        record[name] = {"seconds": seconds, "style": result.stats.style_distance,
                        "content": result.stats.content_distance, **scores}
        images_by_name[name] = result.image
        rows.append([name, f"{seconds:.0f}", f"{result.stats.style_distance:.4f}", f"{result.stats.content_distance:.4f}",
                     f"{scores['style_swd']:.4f}", f"{scores['content_err']:.4f}", f"{scores['ssim']:.4f}"])
        print(f"done: 1024 px {name}", flush=True)
    whole, tiled = record["untiled"], record[f"tile {TILE}"]
    differences = {key: tiled[key] / whole[key] - 1 for key in ("style", "content", "style_swd", "content_err")}
    rows.append(["tiled vs untiled", "", *(f"{differences[k]:+.1%}" for k in ("style", "content", "style_swd", "content_err")), ""])
    record["relative_difference"] = differences
    seam_figure(images_by_name[f"tile {TILE}"], images_by_name["untiled"])
    return rows, record


def seam_figure(tiled: Image.Image, whole: Image.Image, side: int = 128) -> None:
    """100% crops centred where four tiles meet (tiled, top) and the same place untiled."""
    width, height = tiled.size
    corners = sorted({(t.interior[0], t.interior[2]) for t in plan_tiles(height, width, TILE)})
    corners = [(y, x) for y, x in corners if y > 0 and x > 0][:3]
    crops = []
    for source in (tiled, whole):
        row = [source.crop((x - side // 2, y - side // 2, x + side // 2, y + side // 2)) for y, x in corners]
        crops.append([c.resize((side * 2, side * 2), Image.Resampling.NEAREST) for c in row])
    sheet = Image.new("RGB", (len(corners) * (2 * side + 8) - 8, 2 * (2 * side) + 8), "white")
    for r, row in enumerate(crops):
        for c, crop in enumerate(row):
            sheet.paste(crop, (c * (2 * side + 8), r * (2 * side + 8)))
    sheet.save(ROOT / "docs" / "tiling-seams.jpg", quality=92)


def refinement(stylizer: Stylizer) -> tuple[list, dict]:
    photo, painting = PAIRS["tubingen-starry"]
    small = stylizer.stylize(photo, Filter(styles=(painting,), size=512)).image
    rows, record, shown = [], {}, [small]
    # `scales` counts the scales up to 512 px; 2048 px adds two (transfer.plan_scales).
    for label, scales in (("3 scales from 512 px", 1), ("5 scales from 128 px (default)", 3)):
        flt = Filter(styles=(painting,), size=2048, scales=scales)
        started = time.perf_counter()
        large = stylizer.stylize(photo, flt).image
        seconds = time.perf_counter() - started
        reduced = large.resize(small.size, Image.Resampling.LANCZOS)
        a, b = images.to_tensor(reduced), images.to_tensor(small)
        similarity = ssim(_luma(a), _luma(b))
        colour = float(np.abs(np.asarray(reduced, np.float32) - np.asarray(small, np.float32)).mean())
        record[label] = {"seconds": seconds, "ssim_to_512": similarity, "mean_colour_difference": colour}
        rows.append([label, f"{seconds:.0f}", f"{similarity:.3f}", f"{colour:.1f}"])
        shown.append(reduced)
        print(f"done: 2048 px, {label}", flush=True)
    strip = Image.new("RGB", (sum(im.width for im in shown) + 8 * (len(shown) - 1), small.height), "white")
    x = 0
    for im in shown:
        strip.paste(im, (x, 0))
        x += im.width + 8
    strip.save(ROOT / "docs" / "print-refinement.jpg", quality=88)
    return rows, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-refinement", action="store_true")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    args = parser.parse_args()
    stylizer, metrics = Stylizer(precision=args.precision), IndependentMetrics()
    torch.manual_seed(0)
    rows, record = equivalence(stylizer, metrics)
    data = {"machine": machine(), "equivalence": record}
    print(machine(), stylizer.description)
    print(table(["1024 px", "s", "style (own)", "content (own)", "style_swd", "content_err", "ssim"], rows))
    if not args.skip_refinement:
        rows, data["refinement"] = refinement(stylizer)
        print(table(["2048 px, scaled to 512, vs the 512 px painting", "s", "SSIM", "mean colour difference"], rows))
    save_json(f"tiling-{stylizer.description.split(' / ')[1]}", data)


if __name__ == "__main__":
    main()
