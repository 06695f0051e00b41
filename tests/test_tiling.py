"""Print sizes tile by tile: the same objective and gradient as the whole image, in pieces."""

from __future__ import annotations

import pytest
import torch

from conftest import PAINTING, PHOTO
from stylizer import Cancelled, Filter, FilterError, Stylizer, images
from stylizer.objective import Objective, StyleTerm, Terms
from stylizer.tiling import (
    ALIGN, DEFAULT_HALO, SLOW_TILING_WORK, auto_tile, estimated_bytes, plan_tiles, slow_tiling_note, tiling_work,
)
from stylizer.transfer import content_weight

HEIGHT, WIDTH = 176, 240


@pytest.fixture(scope="module")
def setting(stylizer):
    """The whole-image objective for a noisy photo, its loss and its gradient."""
    flt = Filter(styles=(PAINTING,))
    network = stylizer.network(flt)
    photo = images.to_tensor(images.load(PHOTO).resize((WIDTH, HEIGHT)), stylizer.device)
    torch.manual_seed(0)
    pixels = (photo + torch.randn_like(photo) * 20).clamp(0, 255)
    with torch.no_grad():
        content_target = network(photo)[flt.content_layer]
    terms = Terms(
        content_layer=flt.content_layer, content_target=content_target,
        styles=(StyleTerm(stylizer.style_targets(flt, WIDTH)),), layer_weights=dict(zip(flt.style_layers, flt.layer_weights)),
        content_weight=content_weight(flt.ratio), tv_weight=0.5,
    )
    args = (network, [terms])
    whole = pixels.clone().requires_grad_(True)
    parts = Objective(*args).loss_and_grad(whole)[0]
    return args, pixels, {name: float(value) for name, value in parts.items()}, whole.grad


def _tiled(args, pixels, tile, halo):
    objective = Objective(*args, tiles=plan_tiles(HEIGHT, WIDTH, tile, halo))
    x = pixels.clone().requires_grad_(True)
    parts = objective.loss_and_grad(x)[0]
    return parts, x.grad, len(objective.tiles)


def test_tiles_with_a_wide_halo_give_the_whole_images_loss_and_gradient(setting):
    args, pixels, parts, gradient = setting
    tiled, tiled_gradient, count = _tiled(args, pixels, 64, halo=WIDTH)
    assert count >= 6
    for name in ("content", "style", "tv", "total"):
        assert float(tiled[name]) == pytest.approx(float(parts[name]), rel=1e-5), name
    error = (tiled_gradient - gradient).norm() / gradient.norm()
    assert error < 1e-4, float(error)


def test_the_default_halo_leaves_under_a_percent_of_gradient_error(setting):
    args, pixels, parts, gradient = setting
    tiled, tiled_gradient, _ = _tiled(args, pixels, 64, halo=DEFAULT_HALO)
    assert float(tiled["total"]) == pytest.approx(float(parts["total"]), rel=1e-3)
    assert (tiled_gradient - gradient).norm() / gradient.norm() < 0.01
    _, thin_gradient, _ = _tiled(args, pixels, 64, halo=16)
    assert (thin_gradient - gradient).norm() / gradient.norm() > 0.01, "a thin halo must show (the test can fail)"


@pytest.mark.parametrize("height,width,tile", [(176, 240, 64), (1000, 333, 384), (97, 4100, 1000)])
def test_tile_interiors_cover_every_pixel_once_on_the_16_px_grid(height, width, tile):
    covered = torch.zeros(height, width, dtype=torch.int32)
    for t in plan_tiles(height, width, tile):
        y0, y1, x0, x1 = t.interior
        covered[y0:y1, x0:x1] += 1
        assert y0 % ALIGN == 0 and x0 % ALIGN == 0 and t.crop[0] % ALIGN == 0 and t.crop[2] % ALIGN == 0
        assert t.crop[0] <= y0 and t.crop[1] >= y1 and t.crop[1] <= height and t.crop[3] <= width
    assert bool((covered == 1).all())


def test_a_tiled_painting_matches_the_untiled_one(stylizer):
    flt = Filter(styles=(PAINTING,), size=256, scales=2, iterations=20)
    whole = stylizer.stylize(PHOTO, flt)
    reports = []
    tiled = stylizer.stylize(PHOTO, flt.replace(tile=96), on_progress=reports.append)
    assert any(r.tiles for r in reports), "progress reports tiles within an iteration"
    # The halo's approximation, amplified by 20 iterations. Style: -3.9% to +6.2% apart over
    # four photos at 18, 20 and 22 iterations (12 runs on a 2-core Xeon, fp32); content:
    # 1-6% depending on the CPU (5.9% on a 2-core Xeon, with the objective before and after
    # it was written once).
    assert tiled.stats.style_distance == pytest.approx(whole.stats.style_distance, rel=0.10)
    assert tiled.stats.content_distance == pytest.approx(whole.stats.content_distance, rel=0.08)
    assert tiled.image.size == whole.image.size


def test_a_small_memory_budget_tiles_by_itself_and_cancel_answers_within_a_tile():
    small = Stylizer("cpu", "fp32", max_memory_gb=1.2)
    assert auto_tile(128, 96, small.memory_budget) == 0, "what fits is painted in one piece"
    assert auto_tile(512, 384, small.memory_budget) > 0
    seen = []

    def cancel() -> bool:
        return any(r.tiles for r in seen)

    with pytest.raises(Cancelled):
        small.stylize(PHOTO, Filter(styles=(PAINTING,), size=512, scales=1, iterations=5),
                      on_progress=seen.append, cancel=cancel)
    assert seen[-1].tiles is not None and seen[-1].tiles[0] < seen[-1].tiles[1], "stopped inside the iteration"


def test_tile_sizes_are_checked():
    with pytest.raises(FilterError, match="tile"):
        Filter(styles=(PAINTING,), tile=10)
    assert Filter(styles=(PAINTING,), tile=0).tile == 0


def test_a_large_painting_starts_where_the_512_px_painting_starts():
    """Its coarse scales are the small painting's, so it refines that painting."""
    from stylizer.transfer import plan_scales

    small = plan_scales(1024, 768, 512, 3, 100)
    large = plan_scales(1024, 768, 2048, 3, 100)
    assert [s.width for s in large] == [128, 256, 512, 1024, 2048]
    assert [s.width for s in large[:3]] == [s.width for s in small]
    assert sum(s.iterations for s in large) == 100


def test_a_budget_that_leaves_only_tiny_tiles_is_named_with_its_cost_and_a_way_out():
    """2 GB at 2048x1536: 768 tiles of 64 px, which had not finished after 8.5 minutes."""
    note = slow_tiling_note(2048, 1536, 2e9)
    assert note.startswith("a memory budget of 2 GB paints 2048x1536 in 768 tiles of 64 px")
    assert "8.6x the image's pixels" in note
    # Each way out it names really is one: larger tiles at that budget, one piece at that size.
    budget, tile = 3e9, 352
    assert "--max-memory 3 allows tiles of 352 px" in note and auto_tile(2048, 1536, budget) == tile
    assert tiling_work(plan_tiles(1536, 2048, tile), 2048, 1536) < SLOW_TILING_WORK
    assert "--size 784 paints in one piece within 2 GB" in note and estimated_bytes(784, 588) <= 2e9
    assert slow_tiling_note(2048, 1536, 4e9) is None, "tiles of a reasonable size need no warning"
    assert slow_tiling_note(512, 384, 8e9) is None, "one piece needs no warning"
    assert "--tile 64 paints 512x384 in 48 tiles" in slow_tiling_note(512, 384, 8e9, tile=64)
