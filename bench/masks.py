"""Masks: what a masked painting costs, and whether each region got what it asked for.

For each example the same filter paints the photo twice, without and with a mask, in one
process one after the other. The table gives both times and their ratio, then numbers no
loss optimizes (bench/independent.py), per region:
  - outside the mask (where the photo should stay): content_err and SSIM against the photo,
    for the masked and for the unmasked painting;
  - inside: style_swd against the painting, masked vs unmasked (equal = painted as fully).
Regions are scored on a rectangle inside them, 8 px away from the soft edge.

Writes docs/masks.jpg (photo, mask, unmasked, masked) and docs/mask-edge.jpg (100% crops
across the mask's edge).

    python bench/masks.py            # 512 px
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from common import EXAMPLES, ROOT, STYLES, machine, save_json, table
from independent import IndependentMetrics
from stylizer import Filter, Stylizer, images
from stylizer.masks import Mask

MARGIN = 8  # px between a scored region and the mask's edge


def sky(photo: Image.Image) -> Image.Image:
    """The top 42% of the picture: Tübingen's sky and roofs."""
    mask = Image.new("L", photo.size, 0)
    ImageDraw.Draw(mask).rectangle([0, 0, photo.width, int(photo.height * 0.42)], fill=255)
    return mask


def ellipse(photo: Image.Image) -> Image.Image:
    """A centred ellipse over half the width: the coffee cup."""
    mask = Image.new("L", photo.size, 0)
    w, h = photo.size
    ImageDraw.Draw(mask).ellipse([w * 0.22, h * 0.12, w * 0.78, h * 0.88], fill=255)
    return mask


EXAMPLES_TO_RUN = [
    ("Tübingen, sky only: Starry Night", EXAMPLES / "tubingen.jpg", STYLES / "starry_night.jpg", sky, None),
    ("coffee, cup only: The Scream", EXAMPLES / "coffee.png", STYLES / "the_scream.jpg", ellipse, None),
    ("Tübingen, sky Starry Night, rest Great Wave", EXAMPLES / "tubingen.jpg", STYLES / "starry_night.jpg", sky,
     STYLES / "great_wave.jpg"),
]


def interior(mask: Image.Image, size: tuple[int, int], inside: bool) -> np.ndarray:
    """Boolean map of a region's pixels at `size`, at least MARGIN px from the edge."""
    grey = mask.resize(size, Image.Resampling.BILINEAR)
    region = grey if inside else Image.eval(grey, lambda v: 255 - v)
    shrunk = region.point(lambda v: 255 if v > 127 else 0).filter(ImageFilter.MinFilter(2 * MARGIN + 1))
    return np.asarray(shrunk) > 0


def region_box(region: np.ndarray) -> tuple[int, int, int, int]:
    """A rectangle wholly inside the region, so the scores see nothing of the other one: the
    widest band of whole rows or columns, or else the region's bounding box shrunk until it
    fits (the inside of an ellipse)."""
    height, width = region.shape
    best, box = 0, None
    for axis, length, other in ((1, height, width), (0, width, height)):
        full = region.all(axis=axis)
        start = None
        for i, ok in enumerate(list(full) + [False]):
            if ok and start is None:
                start = i
            elif not ok and start is not None:
                if (i - start) * other > best:
                    best = (i - start) * other
                    box = (0, start, width, i) if axis == 1 else (start, 0, i, height)
                start = None
    if box is not None:
        return box
    rows, cols = np.where(region.any(axis=1))[0], np.where(region.any(axis=0))[0]
    left, top, right, bottom = cols[0], rows[0], cols[-1] + 1, rows[-1] + 1
    while not region[top:bottom, left:right].all():
        left, top, right, bottom = left + 1, top + 1, right - 1, bottom - 1
    return int(left), int(top), int(right), int(bottom)


def score_region(metrics, output, photo_path, painting, region) -> dict[str, float]:
    """Independent numbers for a rectangle inside the region (its interior only)."""
    photo = images.load(photo_path).resize(output.size, Image.Resampling.LANCZOS)
    box = region_box(region)
    with tempfile.TemporaryDirectory() as folder:
        photo_crop = Path(folder) / "photo.png"
        photo.crop(box).save(photo_crop)
        return metrics.score(output.crop(box), photo_crop, painting)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()

    stylizer = Stylizer()
    metrics = IndependentMetrics()
    rows, records, figure_rows, crops = [], [], [], []
    stylizer.stylize(EXAMPLES / "tubingen.jpg", Filter(styles=(STYLES / "starry_night.jpg",), size=64, iterations=4))
    for name, photo_path, painting, make_mask, second in EXAMPLES_TO_RUN:
        photo = images.load(photo_path)
        mask_image = make_mask(photo)
        flt = Filter(styles=(painting,), size=args.size)
        outside = Filter(styles=(second,)) if second else None
        started = time.perf_counter()
        plain = stylizer.stylize(photo, flt)
        plain_s = time.perf_counter() - started
        started = time.perf_counter()
        masked = stylizer.stylize(photo, flt, mask=Mask(mask_image, outside))
        masked_s = time.perf_counter() - started

        inside = interior(mask_image, masked.image.size, inside=True)
        rest = interior(mask_image, masked.image.size, inside=False)
        record = {"example": name, "plain_s": plain_s, "masked_s": masked_s, "ratio": masked_s / plain_s}
        record["inside_plain"] = score_region(metrics, plain.image, photo_path, painting, inside)
        record["inside_masked"] = score_region(metrics, masked.image, photo_path, painting, inside)
        rest_painting = second or painting
        record["rest_plain"] = score_region(metrics, plain.image, photo_path, rest_painting, rest)
        record["rest_masked"] = score_region(metrics, masked.image, photo_path, rest_painting, rest)
        records.append(record)
        rows.append([
            name, f"{plain_s:.1f}", f"{masked_s:.1f}", f"{masked_s / plain_s:.2f}x",
            f"{record['inside_plain']['style_swd']:.3f} / {record['inside_masked']['style_swd']:.3f}",
            (f"{record['rest_plain']['style_swd']:.3f} / {record['rest_masked']['style_swd']:.3f} (swd)" if second else
             f"{record['rest_plain']['content_err']:.2f} / {record['rest_masked']['content_err']:.3f}, "
             f"SSIM {record['rest_plain']['ssim']:.2f} / {record['rest_masked']['ssim']:.3f}"),
        ])
        figure_rows.append([photo, mask_image.convert("RGB"), plain.image, masked.image])
        crops.append(edge_crop(masked.image, mask_image))
        print(f"done: {name}", flush=True)

    print(machine())
    print(table(
        ["example", "unmasked s", "masked s", "ratio", "inside style_swd unmasked / masked",
         "outside: content_err and SSIM vs photo (or style_swd to the 2nd painting), unmasked / masked"],
        rows,
    ))
    save_json("masks", {"machine": machine(), "size": args.size, "records": records})
    write_figure(figure_rows, ROOT / "docs" / "masks.jpg", height=240)
    write_strip(crops, ROOT / "docs" / "mask-edge.jpg")


def edge_crop(image: Image.Image, mask: Image.Image, side: int = 160) -> Image.Image:
    """A 100% crop centred on the mask's edge, where the soft transition is."""
    grey = np.asarray(mask.resize(image.size, Image.Resampling.BILINEAR), dtype=np.float32)
    column = image.width // 3
    y = int(np.argmax(np.abs(np.diff(grey[:, column]))))
    top = int(np.clip(y - side // 2, 0, image.height - side))
    left = int(np.clip(column - side // 2, 0, image.width - side))
    return image.crop((left, top, left + side, top + side))


def write_figure(rows: list[list[Image.Image]], path: Path, height: int) -> None:
    scaled = [[im.resize((round(im.width * height / im.height), height), Image.Resampling.LANCZOS) for im in row]
              for row in rows]
    width = max(sum(im.width for im in row) + 8 * (len(row) - 1) for row in scaled)
    sheet = Image.new("RGB", (width, len(scaled) * (height + 8) - 8), "white")
    for r, row in enumerate(scaled):
        x = 0
        for im in row:
            sheet.paste(im, (x, r * (height + 8)))
            x += im.width + 8
    sheet.save(path, quality=88)


def write_strip(crops: list[Image.Image], path: Path) -> None:
    """The crops side by side at 2x (nearest neighbour), so single pixels are visible."""
    big = [c.resize((c.width * 2, c.height * 2), Image.Resampling.NEAREST) for c in crops]
    strip = Image.new("RGB", (sum(c.width for c in big) + 8 * (len(big) - 1), big[0].height), "white")
    x = 0
    for c in big:
        strip.paste(c, (x, 0))
        x += c.width + 8
    strip.save(path, quality=92)


if __name__ == "__main__":
    main()
