"""Small pictures for the page: the presets' thumbnails and the examples row."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from stylizer import StylizerError, images
from webapp.settings import EXAMPLES, THUMBNAIL_SIDE
from webapp.uploads import check_photo

THUMBNAILS_DIR = Path(tempfile.mkdtemp(prefix="stylizer-thumbnails-"))
gr.set_static_paths([str(EXAMPLES), str(THUMBNAILS_DIR)])

EXAMPLE_PAIRS = [("tubingen.jpg", "starry-night"), ("coffee.png", "the-scream"), ("astronaut.png", "great-wave")]


def gallery_thumbnail(preset) -> Path:
    """A small JPEG of the preset's painting: the full-size files made the page weigh 6 MB."""
    try:
        return small_jpeg(preset.thumbnail, f"{preset.id}.jpg", THUMBNAIL_SIDE, quality=82)
    except StylizerError:
        return preset.thumbnail  # a broken painting shows its error when used


def example_photo(name: str) -> str:
    """An example photo at 1024 px (JPEG): plenty for painting, a fifth of the original bytes."""
    return str(small_jpeg(EXAMPLES / name, f"example-{Path(name).stem}.jpg", 1024, quality=88))


def example_thumbnail(name: str) -> Path:
    """What the examples row shows: a thumbnail, not the photo that a click loads."""
    return small_jpeg(EXAMPLES / name, f"example-{Path(name).stem}-small.jpg", THUMBNAIL_SIDE, quality=82)


def load_example(index: int):
    """A click on an example: its photo at 1024 px, its preset, and the photo's status line."""
    name, preset_id = EXAMPLE_PAIRS[int(index)]
    path = example_photo(name)
    return path, preset_id, check_photo(path)[1]


def small_jpeg(source: Path, name: str, side: int, quality: int) -> Path:
    """A copy of `source` fitted to `side` px, made once per process in THUMBNAILS_DIR."""
    path = THUMBNAILS_DIR / name
    if not path.exists():
        images.fit(images.load(source), side).save(path, "JPEG", quality=quality)
    return path
