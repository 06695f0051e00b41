"""The paper's experiments, each one command that writes a labelled figure.

- ratio-sweep: the same pair at alpha/beta from 1e-3 to 1e-7 (paper Fig. 3, one column), with
  our normalized losses and with the paper's own sums.
- noise-init: starting from the photo vs from noise (the paper starts from white noise; ours is
  smoother, see Stylizer._initial_pixels).
- swap: content and style exchanged, showing the two representations are separable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PIL import Image

from . import images
from .engine import Stylizer
from .filter import Filter, StyleImage
from .grid import labelled_grid

SWEEP_RATIOS = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
NOISE_SEEDS = (0, 1)

Run = Callable[[Path | Image.Image, Filter, str], Image.Image]


def ratio_sweep(run: Run, content: Path, base: Filter) -> Image.Image:
    """Top row: our normalized losses; bottom row: the paper's own sums (eqs. 1-3), where
    alpha/beta means something different for every image and size (see losses.py)."""
    photo, painting = _inputs(content, base)
    cells = [photo]
    for ratio in SWEEP_RATIOS:
        image = run(content, base.replace(ratio=ratio, losses="normalized"), f"ratio {ratio:g}")
        cells.append((image, f"normalized, alpha/beta = {ratio:g}"))
    cells.append(painting)
    for ratio in SWEEP_RATIOS:
        image = run(content, base.replace(ratio=ratio, losses="paper"), f"paper's losses, ratio {ratio:g}")
        cells.append((image, f"paper's losses, alpha/beta = {ratio:g}"))
    return labelled_grid(cells, columns=len(SWEEP_RATIOS) + 1, title="Content/style ratio sweep")


def noise_init(run: Run, content: Path, base: Filter) -> Image.Image:
    cells = _inputs(content, base)
    cells.append((run(content, base.replace(init="content"), "start from photo"), "start: photo"))
    for seed in NOISE_SEEDS:
        image = run(content, base.replace(init="noise", seed=seed), f"noise seed {seed}")
        cells.append((image, f"start: noise (seed {seed})"))
    return labelled_grid(cells, columns=len(cells), title="Initialization: photo vs noise")


def swap(run: Run, content: Path, base: Filter) -> Image.Image:
    style = base.styles[0]
    style_path = Path(style.source) if isinstance(style.source, (str, Path)) else None
    if style_path is None:
        raise ValueError("swap needs the style as a file")
    forward = run(content, base, "photo in painting's style")
    swapped = base.replace(styles=(StyleImage(content, style.weight, style.scale),))
    backward = run(style_path, swapped, "painting in photo's style")
    cells = [
        (images.load(content), "A: content"),
        (images.load(style_path), "B: style"),
        (forward, "A painted like B"),
        (backward, "B painted like A"),
    ]
    return labelled_grid(cells, columns=4, title="Content and style swapped")


EXPERIMENTS: dict[str, Callable[[Run, Path, Filter], Image.Image]] = {
    "ratio-sweep": ratio_sweep,
    "noise-init": noise_init,
    "swap": swap,
}


def run_with(stylizer: Stylizer, on_run: Callable[[str, Filter], object]) -> Run:
    """A `Run` that stylizes with `stylizer`, announcing each run through `on_run`."""

    def run(content, filter: Filter, label: str) -> Image.Image:
        callback = on_run(label, filter)
        return stylizer.stylize(content, filter, on_progress=callback).image

    return run


def _inputs(content: Path, base: Filter) -> list[tuple[Image.Image, str]]:
    style = base.styles[0].source
    return [(images.load(content), "content"), (images.load(style), "style")]
