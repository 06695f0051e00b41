"""One objective for every way of evaluating it: whole or tiled, alone or in a batch, with
normalized or paper losses, with or without mask regions; and batched paintings that come
out as each picture would alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from conftest import EXAMPLES, PAINTING, PHOTO, SECOND_PAINTING
from stylizer import Cancelled, Filter, ImageError, images
from stylizer.masks import Mask, soft_mask
from stylizer.objective import Objective, StyleTerm, Terms, layer_masks
from stylizer.tiling import plan_tiles
from stylizer.transfer import content_weight
from stylizer.vgg import VGGFeatures

HEIGHT, WIDTH = 176, 240


def _terms(stylizer, kind: str, photo: torch.Tensor) -> Terms:
    flt = Filter(styles=(PAINTING,), losses="paper" if kind == "paper" else "normalized",
                 ratio=1e-3 if kind == "paper" else 1e-6)
    network = stylizer.network(flt)
    with torch.no_grad():
        content = network(photo)[flt.content_layer]
    targets = stylizer.style_targets(flt, WIDTH)
    styles = (StyleTerm(targets),)
    if kind == "masked":
        region = torch.zeros(1, 1, HEIGHT, WIDTH)
        region[..., : WIDTH // 2] = 1.0
        region = torch.nn.functional.avg_pool2d(region, 9, stride=1, padding=4)
        second = stylizer.style_targets(Filter(styles=(SECOND_PAINTING,)), WIDTH)
        styles = (StyleTerm(targets, layer_masks(region, flt.style_layers)),
                  StyleTerm(second, layer_masks(1 - region, flt.style_layers)))
    return Terms(flt.content_layer, content, styles, dict(zip(flt.style_layers, flt.layer_weights)),
                 content_weight(flt.ratio, flt.losses), tv_weight=0.5, paper=kind == "paper")


@pytest.fixture(scope="module")
def pictures(stylizer):
    photo = images.to_tensor(images.load(PHOTO).resize((WIDTH, HEIGHT)), stylizer.device)
    generator = torch.Generator().manual_seed(0)
    noisy = [(photo + torch.randn(photo.shape, generator=generator) * 20).clamp(0, 255) for _ in range(2)]
    return photo, noisy


def _evaluate(network, terms, pixels, tiles=None):
    x = pixels.clone().requires_grad_(True)
    parts = Objective(network, terms, tiles).loss_and_grad(x)
    return [{k: float(v) for k, v in p.items()} for p in parts], x.grad


@pytest.mark.parametrize("kind", ["normalized", "paper", "masked"])
def test_every_kind_of_term_tiles_to_the_whole_pictures_loss_and_gradient(stylizer, pictures, kind):
    """Tiling once held its own copy of the style term: paper losses and masks did not tile."""
    photo, noisy = pictures
    terms = [_terms(stylizer, kind, photo)]
    network = stylizer.network(Filter(styles=(PAINTING,), losses="paper" if kind == "paper" else "normalized"))
    whole, whole_gradient = _evaluate(network, terms, noisy[0])
    tiles = plan_tiles(HEIGHT, WIDTH, 64, halo=WIDTH)  # halos as wide as the picture: exact
    assert len(tiles) >= 6
    tiled, tiled_gradient = _evaluate(network, terms, noisy[0], tiles)
    for name in whole[0]:
        assert tiled[0][name] == pytest.approx(whole[0][name], rel=1e-5), name
    assert float((tiled_gradient - whole_gradient).norm() / whole_gradient.norm()) < 1e-4


@pytest.mark.parametrize("tiled", [False, True])
def test_in_a_batch_each_picture_gets_the_loss_and_gradient_it_has_alone(stylizer, pictures, tiled):
    photo, noisy = pictures
    network = stylizer.network(Filter(styles=(PAINTING,)))
    terms = [_terms(stylizer, "normalized", photo), _terms(stylizer, "masked", photo)]
    tiles = plan_tiles(HEIGHT, WIDTH, 96, halo=WIDTH) if tiled else None
    batch, batch_gradient = _evaluate(network, terms, torch.cat(noisy), tiles)
    for index in range(2):
        alone, alone_gradient = _evaluate(network, [terms[index]], noisy[index], tiles)
        assert batch[index]["total"] == pytest.approx(alone[0]["total"], rel=1e-5)
        error = (batch_gradient[index : index + 1] - alone_gradient).norm() / alone_gradient.norm()
        assert float(error) < 1e-4, (index, float(error))


def _same_size_photos() -> list[Image.Image]:
    """Three different pictures of one size (the batched core groups by size)."""
    photo = images.load(PHOTO)
    return [photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT), images.load(EXAMPLES / "rocket.jpg").resize(photo.size)]


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def test_a_batched_painting_is_the_picture_painted_alone(stylizer):
    flt = Filter(styles=(PAINTING,), size=128, scales=2, iterations=24)
    photos = _same_size_photos()
    batch_sizes = []
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: batch_sizes.append(args[0].shape[0]) if isinstance(module, VGGFeatures) else None
    )
    try:
        together = stylizer.paint_many(photos, flt)
    finally:
        hook.remove()
    assert max(batch_sizes) == 3, "the three pictures went through the network together"
    for photo, batched in zip(photos, together):
        alone = stylizer.paint(photo, flt)
        assert batched.stats.style_distance == pytest.approx(alone.stats.style_distance, rel=0.01)
        assert batched.stats.content_distance == pytest.approx(alone.stats.content_distance, rel=0.01)
        assert np.abs(_pixels(batched.image) - _pixels(alone.image)).mean() < 2.0, "they look the same"


def test_one_picture_cancelled_leaves_the_batch_and_the_others_finish(stylizer):
    flt = Filter(styles=(PAINTING,), size=96, scales=1, iterations=12)
    photos = _same_size_photos()
    stop = {"now": False}

    def on_progress(index: int, progress) -> None:
        if index == 1 and progress.iteration == 3:
            stop["now"] = True

    results = stylizer.paint_many(photos, flt, on_progress=on_progress,
                                  cancel=[None, lambda: stop["now"], None])
    assert isinstance(results[1], Cancelled)
    for index in (0, 2):
        alone = stylizer.paint(photos[index], flt)
        assert results[index].stats.iterations == 12
        assert results[index].stats.style_distance == pytest.approx(alone.stats.style_distance, rel=0.01)


def test_an_unreadable_photo_in_a_batch_is_reported_and_the_others_are_painted(stylizer, tmp_path):
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    flt = Filter(styles=(PAINTING,), size=64, scales=1, iterations=3)
    results = stylizer.paint_many([PHOTO, notes, PHOTO], flt)
    assert isinstance(results[1], ImageError) and "not an image" in str(results[1])
    assert results[0].image.size == results[2].image.size == (64, 48)


def test_photos_of_other_sizes_are_painted_in_batches_of_their_own(stylizer):
    flt = Filter(styles=(PAINTING,), size=64, scales=1, iterations=3)
    wide, tall = images.load(PHOTO), images.load(PHOTO).rotate(90, expand=True)
    results = stylizer.paint_many([wide, tall, wide], flt)
    assert [r.image.size for r in results] == [(64, 48), (48, 64), (64, 48)]


def test_a_mask_paints_at_a_tiled_print_size(stylizer, tmp_path):
    """Masks were refused with tiles, after the coarse scales had been painted."""
    mask_path = tmp_path / "left.png"
    mask = Image.new("L", (64, 48), 0)
    ImageDraw.Draw(mask).rectangle([0, 0, 32, 48], fill=255)
    mask.save(mask_path)
    flt = Filter(styles=(PAINTING,), size=192, scales=1, iterations=6, tile=64)
    result = stylizer.stylize(PHOTO, flt, mask=Mask(mask_path))
    painted = _pixels(result.image)
    photo = _pixels(images.load(PHOTO).resize(result.image.size, Image.Resampling.LANCZOS))
    right = slice(result.image.width * 3 // 4, None)
    assert np.abs(painted[:, right] - photo[:, right]).mean() < 1.0, "outside the mask stays the photo"
    assert np.abs(painted[:, :40] - photo[:, :40]).mean() > 3.0, "inside the mask is painted"


def test_paper_losses_at_a_tiled_size_are_the_papers(stylizer):
    """Tiling once painted `losses: paper` with the normalized losses and a content weight
    1e5 times too small, and reported them as the paper's."""
    flt = Filter(styles=(PAINTING,), size=160, scales=1, iterations=4, losses="paper", ratio=1e-3)
    whole = stylizer.stylize(PHOTO, flt)
    tiled = stylizer.stylize(PHOTO, flt.replace(tile=64))
    assert whole.stats.losses["content"] > 1.0, "the paper's sums are not relative errors"
    for name in ("content", "style"):
        assert tiled.stats.losses[name] == pytest.approx(whole.stats.losses[name], rel=0.1), name
