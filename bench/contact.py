"""Contact sheets of a schedule change, from the images two quality sweeps saved.

Per pair: the photo, pastiche's default, the sweep `--before` and the sweep `--after`, at
one strength; then 100% crops of faces and edges (photo | before | after), where a
schedule's effect on fine structure shows. Nothing is painted: run bench/quality.py for
both sweeps first (it keeps its images in bench/results/images/quality-NAME/).

pastiche's 512 px results were made on a GPU machine and are not kept in the repository;
when they are not in bench/results/images/, the sheet takes pastiche's cell from the
earlier matched-content sheet, docs/compare-matched.jpg (300 px wide, labelled so).

    python bench/contact.py --before before --after default [--strength 6]
    python bench/contact.py --before default --after coarse64 --strength 7 --name large-forms \
        --pairs coffee-wave rocket-udnie raccoon-contrast --labels "Normal" "from 64 px"
"""

from __future__ import annotations

import argparse

from common import RESULTS, ROOT
from pairs import ALL_PAIRS
from PIL import Image

from stylizer import images
from stylizer.grid import labelled_grid

# 100% crops (left, top, side) in the 512 px painting: a face or an edge per pair.
CROPS = {
    "astronaut-scream": ("face", (170, 70, 176)),
    "raccoon-contrast": ("face", (240, 40, 176)),
    "tubingen-starry": ("windows", (300, 90, 176)),
    "rocket-udnie": ("rocket", (170, 80, 176)),
}
EARLIER_SHEET = ROOT / "docs" / "compare-matched.jpg"
EARLIER_ORDER = sorted(ALL_PAIRS)  # its rows, one per pair in name order
EARLIER_THUMB, EARLIER_ROW = (300, 225), 245


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="default", help="the sweep shown as today's (images quality-NAME)")
    parser.add_argument("--after", required=True, help="the sweep shown as the new default")
    parser.add_argument("--strength", type=float, default=6.0)
    parser.add_argument("--labels", nargs=2, default=("Normal before", "Normal now"))
    parser.add_argument("--pairs", nargs="+", default=list(ALL_PAIRS), choices=list(ALL_PAIRS))
    parser.add_argument("--name", default="quality", help="writes docs/NAME-sheet.jpg and docs/NAME-crops.png")
    args = parser.parse_args()
    before, after = (RESULTS / "images" / f"quality-{name}" for name in (args.before, args.after))
    cells, crops = [], []
    for name in args.pairs:
        photo_path = ALL_PAIRS[name][0]
        old, new = (images.load(folder / f"{name}-{args.strength:g}.png") for folder in (before, after))
        photo = images.load(photo_path).resize(new.size, Image.Resampling.LANCZOS)
        theirs, where = pastiche(name, photo.size)
        cells += [(photo, name), (theirs, f"pastiche{where}"), (old, args.labels[0]), (new, args.labels[1])]
        if name in CROPS:
            what, (left, top, side) = CROPS[name]
            box = (left, top, left + side, top + side)
            crops += [(photo.crop(box), f"{name.split('-')[0]}: {what}"), (old.crop(box), args.labels[0]),
                      (new.crop(box), args.labels[1])]
    title = f"photo | pastiche default | {args.labels[0]} | {args.labels[1]}, strength {args.strength:g}"
    labelled_grid(cells, columns=4, cell_side=300, title=title).save(ROOT / "docs" / f"{args.name}-sheet.jpg", quality=85)
    labelled_grid(crops, columns=3, cell_side=176, title="100% crops").save(ROOT / "docs" / f"{args.name}-crops.png")
    print(f"docs/{args.name}-sheet.jpg, docs/{args.name}-crops.png")


def pastiche(name: str, size: tuple[int, int]) -> tuple[Image.Image, str]:
    """pastiche's default painting of the pair, and a note when it is the earlier sheet's copy."""
    kept = RESULTS / "images" / f"{name}-512-cuda-pastiche.png"
    if kept.exists():
        return images.load(kept), ""
    scale = min(EARLIER_THUMB[0] / size[0], EARLIER_THUMB[1] / size[1])
    width, height = round(size[0] * scale), round(size[1] * scale)
    top = EARLIER_ORDER.index(name) * EARLIER_ROW + 20
    cell = Image.open(EARLIER_SHEET).convert("RGB").crop((300, top, 300 + width, top + height))
    return cell, " (300 px copy)"


if __name__ == "__main__":
    main()
