"""Masks: style only where the mask is white; a second painting for the rest; the daemon's
`photo.mask.png`; clear errors for masks that are not images."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from conftest import PAINTING, PHOTO, SECOND_PAINTING
from daemon.config import zero_config
from daemon_support import SETTLE, make_presets, outputs, running, settle
from stylizer import Filter, ImageError, images
from stylizer.cli import main as cli
from stylizer.losses import style_distance
from stylizer.masks import Mask, mask_image

SIZE = 96


@pytest.fixture(scope="module")
def left_half(tmp_path_factory):
    """White on the photo's left half, black on the right, at the photo's own size."""
    photo = images.load(PHOTO)
    mask = Image.new("L", photo.size, 0)
    ImageDraw.Draw(mask).rectangle([0, 0, photo.width // 2, photo.height], fill=255)
    path = tmp_path_factory.mktemp("mask") / "left.png"
    mask.save(path)
    return path


def _filter(painting=PAINTING) -> Filter:
    return Filter(styles=(painting,), size=SIZE, scales=2, iterations=30)


def _pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32)


def _photo_at(size) -> np.ndarray:
    return _pixels(images.load(PHOTO).resize(size, Image.Resampling.LANCZOS))


def _style_distance(stylizer, image, painting) -> float:
    """Whole-image Gram distance of `image` to `painting` (the metric, not a masked loss)."""
    # The painting at the whole output's size (the crops are parts of it), a size other
    # tests' caches can rely on not to be filled from here.
    flt = Filter(styles=(painting,), size=SIZE)
    network = stylizer.network(flt)
    targets = stylizer.style_targets(flt, SIZE)
    with torch.no_grad():
        features = network(images.to_tensor(image, stylizer.device))
    return style_distance(features, targets)


def test_outside_the_mask_stays_the_photo_and_inside_is_painted_as_without_a_mask(stylizer, left_half):
    plain = stylizer.stylize(PHOTO, _filter())
    masked = stylizer.stylize(PHOTO, _filter(), mask=Mask(left_half))
    width, height = masked.image.size
    photo = _photo_at(masked.image.size)
    right = slice(width // 2 + 4, width)  # past the soft edge
    left = (0, 0, width // 2 - 4, height)

    kept = np.abs(_pixels(masked.image)[:, right] - photo[:, right]).mean()
    assert kept < 1.0, "the black part is the photo, pixel for pixel"
    painted = np.abs(_pixels(masked.image)[:, : width // 2 - 4] - photo[:, : width // 2 - 4]).mean()
    assert painted > 10, "the white part is painted"

    alone = _style_distance(stylizer, masked.image.crop(left), PAINTING)
    unmasked = _style_distance(stylizer, plain.image.crop(left), PAINTING)
    photo_only = _style_distance(stylizer, images.load(PHOTO).resize(masked.image.size).crop(left), PAINTING)
    assert alone < photo_only * 0.8, "the masked part moved towards the painting"
    assert alone < unmasked * 1.15, (alone, unmasked)


def test_two_paintings_each_take_their_own_region(stylizer, left_half):
    result = stylizer.stylize(PHOTO, _filter(PAINTING), mask=Mask(left_half, outside=_filter(SECOND_PAINTING)))
    width, height = result.image.size
    left = result.image.crop((0, 0, width // 2 - 4, height))
    right = result.image.crop((width // 2 + 4, 0, width, height))
    assert _style_distance(stylizer, left, PAINTING) < _style_distance(stylizer, left, SECOND_PAINTING)
    assert _style_distance(stylizer, right, SECOND_PAINTING) < _style_distance(stylizer, right, PAINTING)


def test_a_mask_of_another_size_is_stretched_to_the_photo(stylizer, left_half, tmp_path):
    small = tmp_path / "small.png"
    Image.open(left_half).resize((37, 11)).save(small)
    assert mask_image(small).size == (37, 11)
    full = stylizer.stylize(PHOTO, _filter(), mask=Mask(left_half))
    stretched = stylizer.stylize(PHOTO, _filter(), mask=Mask(small))
    assert np.abs(_pixels(full.image) - _pixels(stretched.image)).mean() < 3.0


def test_a_brush_layer_is_read_by_its_opaque_strokes(left_half):
    layer = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    ImageDraw.Draw(layer).rectangle([0, 0, 19, 19], fill=(200, 30, 30, 255))  # a red stroke, dark in grey
    mask = np.asarray(mask_image(layer))
    assert mask[:, :20].min() == 255 and mask[:, 20:].max() == 0


def test_a_mask_that_is_not_an_image_gets_one_line(tmp_path, capsys):
    notes = tmp_path / "notes.png"
    notes.write_text("not a mask")
    with pytest.raises(ImageError) as raised:
        Mask(notes)
    assert str(notes) in str(raised.value) and "\n" not in str(raised.value)
    assert cli([str(PHOTO), "-o", str(tmp_path / "out.png"), "--style", str(PAINTING), "--mask", str(notes)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "not an image" in error
    assert cli([str(PHOTO), "-o", str(tmp_path / "out.png"), "--style", str(PAINTING), "--mask-style", "starry-night"]) == 2
    assert "--mask-style needs --mask" in capsys.readouterr().err


def test_a_mask_larger_than_the_photo_limit_is_refused_before_it_is_decoded(tmp_path):
    """Masks get the photos' pixel limit: a huge mask was decoded in full (a 169 MP one took
    169 MB before anything looked at its size)."""
    huge = tmp_path / "huge.mask.png"
    width = 9000
    height = images.MAX_INPUT_PIXELS // width + 1  # one row over the limit
    Image.new("L", (width, height), 255).save(huge, compress_level=1)
    with pytest.raises(ImageError, match="too large") as raised:
        Mask(huge)
    assert "\n" not in str(raised.value)
    # A caller's own, lower limit (the web app's upload limit), and a brush layer given as pixels.
    with pytest.raises(ImageError, match="too large"):
        mask_image(PHOTO, max_pixels=1000)
    with pytest.raises(ImageError, match="too large"):
        mask_image(Image.new("RGBA", (40, 30)), max_pixels=1000)


def test_the_instant_painting_keeps_the_photo_outside_the_mask(stylizer, left_half):
    preview = stylizer.preview(PHOTO, _filter().replace(size=128), Mask(left_half))
    width = preview.width
    photo = _photo_at(preview.size)
    assert np.abs(_pixels(preview)[:, width // 2 + 4:] - photo[:, width // 2 + 4:]).mean() < 2.0
    assert np.abs(_pixels(preview)[:, : width // 2 - 4] - photo[:, : width // 2 - 4]).mean() > 10


def test_the_daemon_uses_a_mask_beside_the_photo_and_never_paints_the_mask(tmp_path, stylizer, left_half):
    folder = tmp_path / "in" / "tiny"
    folder.mkdir(parents=True)
    shutil.copy(left_half, folder / "photo.mask.png")  # the mask first, then the photo
    shutil.copy(PHOTO, folder / "photo.jpg")
    shutil.copy(PHOTO, folder / "plain.jpg")  # the same photo without a mask
    presets = make_presets(tmp_path / "presets", iterations=12)
    with running(lambda: zero_config(tmp_path / "in", tmp_path / "out", (presets,), settle_seconds=SETTLE), stylizer) as service:
        settle(service)
    assert outputs(tmp_path / "out") == ["tiny/photo.jpg", "tiny/plain.jpg"], "the mask is not painted itself"
    masked = _pixels(images.load(tmp_path / "out" / "tiny" / "photo.jpg"))
    plain = _pixels(images.load(tmp_path / "out" / "tiny" / "plain.jpg"))
    photo = _photo_at(images.load(tmp_path / "out" / "tiny" / "photo.jpg").size)
    middle = masked.shape[1] // 2
    right, left = slice(middle + 3, None), slice(None, middle - 3)
    change = lambda image, part: np.abs(image[:, part] - photo[:, part]).mean()  # noqa: E731
    assert change(masked, right) < change(plain, right) / 3, "the black part stays the photo"
    assert change(masked, left) > change(plain, left) / 2, "the white part is painted as without a mask"
