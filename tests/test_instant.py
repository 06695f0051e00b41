"""The instant preview: a feed-forward painting of the whole photo, at once, any time."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import PAINTING, PHOTO, SECOND_PAINTING
from stylizer import Filter, images
from stylizer.errors import Cancelled
from stylizer.losses import style_distance


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32)


def _style_distance(stylizer, image: Image.Image, filter: Filter) -> float:
    """Gram distance to the painting in our VGG-19: a yardstick the feed-forward net never saw."""
    network = stylizer.network(filter)
    targets = stylizer.style_targets(filter, max(image.size))
    with torch.no_grad():
        return style_distance(network(images.to_tensor(image)), targets)


@pytest.mark.parametrize("size", [96, 101, 160])
def test_preview_has_the_photos_aspect_and_the_requested_size(stylizer, size):
    preview = stylizer.preview(PHOTO, Filter(styles=(PAINTING,), size=size))
    photo = Image.open(PHOTO)
    assert max(preview.size) == size
    assert preview.size == images.fit(photo, size).size
    portrait = stylizer.preview(photo.rotate(90, expand=True), Filter(styles=(PAINTING,), size=size))
    assert portrait.size == preview.size[::-1]


def test_preview_is_closer_in_style_to_the_painting_than_the_photo_is(stylizer):
    for painting in (PAINTING, SECOND_PAINTING):
        filter = Filter(styles=(painting,), size=192)
        preview = stylizer.preview(PHOTO, filter)
        photo = images.fit(images.load(PHOTO), 192)
        assert _style_distance(stylizer, preview, filter) < 0.8 * _style_distance(stylizer, photo, filter)
        # ...and it is still the photo: its light and dark follow the photo's.
        brightness = [_pixels(image).mean(axis=-1).ravel() for image in (preview, photo)]
        assert np.corrcoef(*brightness)[0, 1] > 0.6


def test_weaker_strength_stays_nearer_the_photo(stylizer):
    photo = _pixels(images.fit(images.load(PHOTO), 128))
    difference = {}
    for strength in (1.0, 6.0):
        filter = Filter(styles=(PAINTING,), size=128).replace(ratio=10 ** (-2 - strength * 2 / 3))
        difference[strength] = np.abs(_pixels(stylizer.preview(PHOTO, filter)) - photo).mean()
    assert difference[1.0] < 0.6 * difference[6.0]


def test_luminance_mode_keeps_the_photos_colours(stylizer):
    def ycbcr(image: Image.Image) -> np.ndarray:
        return np.asarray(image.convert("YCbCr"), dtype=np.float32)

    photo = ycbcr(images.fit(images.load(PHOTO), 128))
    chroma = {}
    for mode in ("none", "luminance"):
        preview = ycbcr(stylizer.preview(PHOTO, Filter(styles=(PAINTING,), size=128, preserve_color=mode)))
        chroma[mode] = np.abs(preview[..., 1:] - photo[..., 1:]).mean()
    assert chroma["luminance"] < 2.0 < chroma["none"]


def test_styles_blend_by_weight(stylizer):
    def preview(*styles):
        return _pixels(stylizer.preview(PHOTO, Filter(styles=styles, size=96)))

    from stylizer.filter import StyleImage

    starry, wave = preview(PAINTING), preview(SECOND_PAINTING)
    mostly_starry = preview(StyleImage(PAINTING, weight=1.0), StyleImage(SECOND_PAINTING, weight=1e-4))
    half = preview(StyleImage(PAINTING), StyleImage(SECOND_PAINTING))
    assert np.abs(mostly_starry - starry).mean() < 1.0
    assert np.abs(half - starry).mean() > 5 and np.abs(half - wave).mean() > 5


def test_a_preview_answers_while_a_painting_holds_the_stylizer(stylizer):
    """The web page's promise: an instant answer even when the Gatys queue is busy."""
    long_job = Filter(styles=(PAINTING,), size=128, scales=1, iterations=10_000)
    started, stop = threading.Event(), threading.Event()
    outcome = {}

    def paint():
        try:
            stylizer.stylize(PHOTO, long_job, on_progress=lambda p: started.set(), cancel=stop)
        except Cancelled:
            outcome["cancelled"] = True

    worker = threading.Thread(target=paint)
    worker.start()
    try:
        assert started.wait(60), "the painting did not start"
        began = time.monotonic()
        preview = stylizer.preview(PHOTO, Filter(styles=(SECOND_PAINTING,), size=256))
        waited = time.monotonic() - began
        assert worker.is_alive(), "the preview must not wait for the painting to end"
        assert max(preview.size) == 256
    finally:
        stop.set()
        worker.join(30)
    assert outcome == {"cancelled": True}
    assert waited < 20  # generous: a loaded 2-core machine; what matters is it did not queue


def test_cli_quality_instant_and_quick(tmp_path, capsys):
    from stylizer.cli import main

    base = [str(PHOTO), "--style", str(PAINTING), "--size", "96", "--json", "-q"]
    assert main([*base, "--quality", "instant", "-o", str(tmp_path / "instant.png")]) == 0
    instant = json.loads(capsys.readouterr().out)
    assert instant["iterations"] == 0 and instant["style_distance"] > 0
    assert Image.open(tmp_path / "instant.png").size == (96, 72)
    assert main([*base, "--quality", "quick", "-o", str(tmp_path / "quick.png")]) == 0
    quick = json.loads(capsys.readouterr().out)
    assert quick["iterations"] == 15 and quick["scales"] == [[96, 72, 15]]
    assert images.read_metadata(tmp_path / "quick.png")["filter"]["init"] == "instant"
    # The refinement moves the instant painting closer to the paper's style target.
    assert quick["style_distance"] < instant["style_distance"]
    assert main([*base, "--quality", "quick", "--iterations", "4", "-o", str(tmp_path / "mine.png")]) == 0
    assert json.loads(capsys.readouterr().out)["iterations"] == 4, "the user's own flags win over the quality"


def test_quick_starts_from_the_instant_painting(stylizer):
    """Fewer iterations from the instant painting beat the same number from the photo."""
    from stylizer.quality import for_quality

    base = Filter(styles=(PAINTING,), size=128)
    quick = stylizer.stylize(PHOTO, for_quality(base, "quick"))
    from_photo = stylizer.stylize(PHOTO, for_quality(base, "quick").replace(init="content"))
    assert quick.stats.losses["total"] < from_photo.stats.losses["total"]


def test_an_instant_print_size_is_painted_within_the_memory_budget_and_enlarged(monkeypatch):
    """The feed-forward network ran at up to 8192 px whatever the memory budget."""
    from stylizer import Stylizer
    from stylizer.instant import InstantPainter

    small = Stylizer("cpu", "fp32", max_memory_gb=0.03)  # room for about 86,000 pixels
    painted_at = []
    original = InstantPainter.paint
    monkeypatch.setattr(InstantPainter, "paint", lambda self, photo, vector: painted_at.append(photo.size)
                        or original(self, photo, vector))
    result = small.paint(PHOTO, Filter(styles=(PAINTING,), size=512), "instant")
    assert result.image.size == (512, 384), "the asked size, enlarged"
    width, height = painted_at[-1]
    assert width * height * 350 <= 0.03e9 and width >= 300, painted_at
    small.paint(PHOTO, Filter(styles=(PAINTING,), size=256), "instant")
    assert painted_at[-1] == (256, 192), "within the budget it paints at the size asked"
