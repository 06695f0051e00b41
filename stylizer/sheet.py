"""Contact sheet: every preset applied to one photo, labelled, for choosing a filter."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image

from . import images
from .experiments import Run
from .grid import labelled_grid
from .presets import Preset


def contact_sheet(
    run: Run, photo: Path, presets: list[Preset], overrides: dict[str, object] | None = None, cell_side: int = 256
) -> Image.Image:
    """The photo followed by one cell per preset, in rows of about a square's width."""
    cells: list[tuple[Image.Image, str]] = [(images.load(photo), "photo")]
    for preset in presets:
        filter = preset.filter.replace(**(overrides or {}))
        cells.append((run(photo, filter, preset.id), preset.name))
    columns = math.ceil(math.sqrt(len(cells)))
    return labelled_grid(cells, columns=columns, cell_side=cell_side, title=Path(photo).name)
