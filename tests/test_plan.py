"""The plan of a painting: made before any work, and the place where a painting is refused."""

from __future__ import annotations

import contextlib

import pytest
import torch

from conftest import PAINTING, PHOTO, SECOND_PAINTING
from stylizer import Filter, FilterError, Stylizer, images
from stylizer.instant import InstantUnavailable
from stylizer.masks import Mask
from stylizer.plan import batch_key, make_plan
from stylizer.strength import auto_plan
from stylizer.tiling import estimated_bytes, plan_tiles, slow_tiling_note
from stylizer.transfer import plan_scales
from stylizer.vgg import VGGFeatures

GB = 1e9


@contextlib.contextmanager
def network_passes():
    """Every pass through a VGG network while inside, by its input's size."""
    passes: list[tuple[int, ...]] = []
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: passes.append(tuple(args[0].shape[-2:])) if isinstance(module, VGGFeatures) else None
    )
    try:
        yield passes
    finally:
        hook.remove()


def _left_half() -> Mask:
    mask = images.Image.new("L", (64, 48), 0)
    mask.paste(255, (0, 0, 32, 48))
    return Mask(mask)


def test_the_plan_holds_the_scales_tiles_batch_and_memory():
    flt = Filter(styles=(PAINTING,), size=1024, scales=3, iterations=100)
    roomy = make_plan(1024, 768, flt, torch.float32, 64 * GB)
    assert list(roomy.scales) == plan_scales(1024, 768, 1024, 3, 100) and roomy.measure_at is None
    assert roomy.tiles == (None,) * len(roomy.scales), "what fits the budget is painted in one piece"
    assert roomy.picture_bytes == estimated_bytes(1024, 768)
    assert roomy.batch == int(64 * GB // estimated_bytes(1024, 768)) > 1
    assert roomy.numbers == [1, 2, 3, 4]

    tight = make_plan(1024, 768, flt, torch.float32, 2.5 * GB)
    assert tight.tiles[0] is None and tight.tiles[-1], "only the scales that do not fit are tiled"
    assert tight.batch == 1
    assert tight.tiling_note() == slow_tiling_note(1024, 768, 2.5 * GB)

    chosen = make_plan(1024, 768, flt.replace(tile=256), torch.float32, 64 * GB)
    assert chosen.tiles[-1] == tuple(plan_tiles(768, 1024, 256)), "a tile size the user chose holds at every budget"


def test_auto_is_planned_with_its_split_scale_and_measuring_point():
    flt = Filter(styles=(PAINTING,), size=1024, auto_strength=True)
    plan = make_plan(1024, 768, flt, torch.float32, 64 * GB)
    split, measure_at = auto_plan(plan_scales(1024, 768, 1024, flt.scales, flt.iterations))
    assert list(plan.scales) == split and plan.measure_at == measure_at is not None
    assert len(plan.tiles) == len(split)
    assert plan.numbers[measure_at] == plan.numbers[measure_at - 1], "the split scale is one scale to the user"


def test_the_batch_key_needs_only_sizes_filter_and_precision():
    flt = Filter(styles=(PAINTING,), size=256)
    key = batch_key(640, 480, flt, torch.float32)
    assert key == make_plan(640, 480, flt, torch.float32, 1 * GB).key, "the plan's own key, whatever the budget"
    # Each picture keeps its own targets, strength and seed: those share a batch.
    assert batch_key(1280, 960, flt.replace(styles=(SECOND_PAINTING,), ratio=1e-2, seed=3), torch.float32) == key
    for other in (
        batch_key(480, 640, flt, torch.float32),  # another shape
        batch_key(640, 480, flt.replace(size=128), torch.float32),
        batch_key(640, 480, flt, torch.bfloat16),
        batch_key(640, 480, flt.replace(pooling="max"), torch.float32),
        batch_key(640, 480, flt.replace(optimizer="adam"), torch.float32),
        batch_key(640, 480, flt.replace(tile=128), torch.float32),
        batch_key(640, 480, flt.replace(auto_strength=True), torch.float32),
    ):
        assert other != key
    assert hash(key) == hash(batch_key(640, 480, flt, torch.float32)), "usable as a dict key"


def test_a_mask_with_the_papers_losses_is_refused_in_one_line_by_the_plan():
    paper = Filter(styles=(PAINTING,), losses="paper")
    with pytest.raises(FilterError) as refused:
        make_plan(640, 480, paper, torch.float32, 8 * GB, mask=_left_half())
    assert str(refused.value) == "a mask works with the normalized losses, not losses: paper"
    make_plan(640, 480, paper, torch.float32, 8 * GB)  # without a mask it runs


def test_a_refused_painting_runs_no_network_pass(stylizer):
    # Many iterations at the coarse scales: a refusal moved into the painting loop would come
    # after network passes over targets and coarse iterations.
    paper = Filter(styles=(PAINTING,), size=128, scales=2, iterations=6, losses="paper", ratio=1e-3)
    with network_passes() as passes, pytest.raises(FilterError, match="not losses: paper"):
        stylizer.stylize(PHOTO, paper, mask=_left_half())
    assert passes == []
    normal = paper.replace(losses="normalized", ratio=Filter(styles=(PAINTING,)).ratio)
    with network_passes() as passes:
        results = stylizer.paint_many([PHOTO, PHOTO], [paper, normal], quality=None, masks=[_left_half(), None])
    assert isinstance(results[0], FilterError) and results[1].image.size == (128, 96)
    assert all(max(shape) <= 128 for shape in passes) and passes, "only the accepted painting ran"


def test_a_missing_instant_network_refuses_a_painting_that_starts_from_it_before_any_pass(monkeypatch):
    fresh = Stylizer(device="cpu", precision="fp32")

    def unavailable():
        raise InstantUnavailable("the instant preview needs onnxruntime: pip install onnxruntime")

    monkeypatch.setattr("stylizer.preview.InstantPainter", unavailable)
    quick = Filter(styles=(PAINTING,), size=64, scales=1, iterations=2, init="instant")
    with network_passes() as passes, pytest.raises(InstantUnavailable):
        fresh.stylize(PHOTO, quick)
    assert passes == []


def test_the_stylizer_plans_the_papers_losses_in_fp32_and_warns_from_its_plan():
    bf16 = Stylizer(device="cpu", precision="bf16", max_memory_gb=2)
    photo = images.load(PHOTO)
    assert bf16.plan(photo, Filter(styles=(PAINTING,), losses="paper")).dtype == torch.float32
    assert bf16.plan(photo, Filter(styles=(PAINTING,))).dtype == torch.bfloat16
    big = Filter(styles=(PAINTING,), size=2048)
    assert bf16.tiling_note(PHOTO, big) == bf16.plan(photo, big).tiling_note() is not None
