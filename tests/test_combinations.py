"""Where features meet: every pair of options paints correctly or is refused before any work.

Each option below changes the filter, the mask or the quality of one small painting. For
every pair of them the painting must either come out right (the asked size, finite losses,
and what each option promises: the photo kept outside a mask, the paper's sums reported,
the photo's colours kept) or be refused with a FilterError before the network has seen a
single pixel. The sizes are the smallest at which each option does its real work: tiling
at 160 px in 64 px tiles, auto strength with a scale to measure at 256 px, a print size
above 512 px (one scale more than a 512 px painting).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from conftest import PAINTING, PHOTO, SECOND_PAINTING
from stylizer import Filter, FilterError, StyleImage, images
from stylizer.masks import Mask
from stylizer.vgg import VGGFeatures

BASE = dict(styles=(PAINTING,), size=96, scales=1, iterations=3)
QUALITIES = ("instant", "quick", "high")


def _left_half() -> Image.Image:
    mask = Image.new("L", (64, 48), 0)
    ImageDraw.Draw(mask).rectangle([0, 0, 32, 48], fill=255)
    return mask


# option: (filter fields, mask kind, quality)
OPTIONS: dict[str, tuple[dict, str | None, str | None]] = {
    "mask": ({}, "keep", None),
    "second painting outside": ({}, "outside", None),
    "tiling": ({"size": 160, "tile": 64}, None, None),
    "paper losses": ({"losses": "paper", "ratio": 1e-3}, None, None),
    "auto strength": ({"auto_strength": True, "size": 256, "scales": 2, "iterations": 8}, None, None),
    "instant": ({}, None, "instant"),
    "quick": ({}, None, "quick"),
    "high": ({}, None, "high"),
    "luminance only": ({"preserve_color": "luminance"}, None, None),
    "two paintings": ({"styles": (StyleImage(PAINTING, 0.5), StyleImage(SECOND_PAINTING, 0.5))}, None, None),
    "noise start": ({"init": "noise"}, None, None),
    "print size": ({"size": 600, "scales": 3, "iterations": 4}, None, None),
}
GROWING = ("size", "scales", "iterations")  # two options that set these get the larger


def _pairs():
    for a, b in itertools.combinations(OPTIONS, 2):
        if OPTIONS[a][2] and OPTIONS[b][2]:
            continue  # two qualities at once is not a painting
        yield pytest.param(a, b, id=f"{a}+{b}")


def _setup(names: tuple[str, ...]) -> tuple[Filter, Mask | None, str]:
    fields, mask_kind, quality = dict(BASE), None, "normal"
    for name in names:
        changes, kind, asked = OPTIONS[name]
        for key, value in changes.items():
            fields[key] = max(fields[key], value) if key in GROWING and key in fields else value
        mask_kind = kind or mask_kind
        quality = asked or quality
    try:
        flt = Filter(**fields)
    except FilterError:
        raise
    mask = None
    if mask_kind == "keep":
        mask = Mask(_left_half())
    elif mask_kind == "outside":
        mask = Mask(_left_half(), outside=Filter(styles=(SECOND_PAINTING,)))
    return flt, mask, quality


def _network_passes() -> tuple[list[int], object]:
    passes: list[int] = []
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: passes.append(1) if isinstance(module, VGGFeatures) else None
    )
    return passes, hook


@pytest.mark.parametrize("first,second", list(_pairs()))
def test_every_pair_of_options_paints_correctly_or_is_refused_before_any_work(stylizer, first, second):
    try:
        flt, mask, quality = _setup((first, second))
    except FilterError:
        return  # refused when the filter is made: before any work by construction
    passes, hook = _network_passes()
    try:
        result = stylizer.paint(PHOTO, flt, quality, mask=mask)
    except FilterError as exc:
        assert not passes, f"refused ({exc}) only after {len(passes)} network passes"
        return
    finally:
        hook.remove()
    photo = images.load(PHOTO)
    assert max(result.image.size) == flt.size
    assert result.image.size == images.fit(photo, flt.size).size
    assert all(np.isfinite(v) for v in result.stats.losses.values())
    assert np.isfinite(result.stats.style_distance) and np.isfinite(result.stats.content_distance)
    painted = np.asarray(result.image, dtype=np.float64)
    original = np.asarray(photo.resize(result.image.size, Image.Resampling.LANCZOS), dtype=np.float64)
    if mask is not None and mask.outside is None:
        right = slice(result.image.width * 3 // 4, None)
        assert np.abs(painted[:, right] - original[:, right]).mean() < 2.0, "outside the mask stays the photo"
    if flt.losses == "paper" and quality != "instant":
        # (its content error can stay tiny: three iterations from the photo move it little)
        assert result.stats.losses["style"] > 1.0, "the paper's own sums, not relative errors"
    if flt.preserve_color == "luminance" and mask is None:
        chroma = [np.asarray(Image.fromarray(x.astype(np.uint8)).convert("YCbCr"), dtype=np.float64)[..., 1:]
                  for x in (painted, original)]
        assert np.abs(chroma[0] - chroma[1]).mean() < 4.0, "the photo's colours are kept"
