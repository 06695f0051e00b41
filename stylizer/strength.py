"""`strength: auto`: the content/style balance chosen per photo and painting.

One fixed strength lands at different places for different pairs: at strength 6 some
photos come out barely painted and others nearly pure texture, because how far a photo's
feature statistics are from a painting's, and how fast the optimization closes that gap,
differ from pair to pair. Auto measures that early and steers almost the whole painting:

- halfway through the coarsest scale (painted at the filter's strength, 6 unless set), it
  measures how much of the photo's distance to the painting the picture still has:
  level = distance(picture) / distance(photo), both at that scale;
- every later iteration (the rest of the coarsest scale and every finer one: 77 of a
  Normal painting's 105 iterations, over 90% of its time) runs at the strength that
  brings this pair to where a typical pair lands at 6.

So auto costs no trial painting, only two passes of the network at the coarsest scale and
a restart of L-BFGS's memory. A one-scale painting has no coarse scale to measure early
and keeps the filter's strength.

The distance: the sliced Wasserstein distance (distributions.py) between the feature
vectors of the picture (or photo) and of the painting, at the loss's own style layers,
with the loss's pooling. The loss matches Gram matrices, which are met about equally well
for every pair; how far the whole feature distributions still are differs, and that is
what the eye sees as more or less painted. The benchmark that judges auto
(bench/strength.py, bench/independent.py) shares no function, layer, pooling or random
direction with this measurement.

The constants are fitted with `python bench/strength.py --pairs calibration --calibrate
...` (bench/results/strength-calibrate-calibration.json): per calibration pair, the
strength whose finished painting reaches the calibration pairs' median stylization level
at strength 6 (the judge's style distance of the painting over the photo's), against the
level measured here; a least-squares line through (log level, strength). Its held-out
pairs share no photo and no painting with the calibration pairs.

Precision: the same pair can get a different strength in bf16 and in fp32, because the
picture measured differs (the optimization is sensitive to how its sums are rounded), not
the measurement. The line was fitted in bf16, the CPU default.

Not in the paper: Gatys et al. and the seed paper use one alpha/beta for every pair.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from .distributions import feature_rows, sliced_wasserstein
from .errors import FilterError
from .filter import DEFAULT_STRENGTH, STRENGTH_RANGE, ratio_from_strength
from .transfer import Scale

AUTO = "auto"
# Auto measures halfway through the coarsest scale (after 28 of its 57 iterations at the
# default 512 px). After 10 the picture had moved too little to say what the pair needs
# (calibration pairs, leave-one-out error of the fitted strength 0.45 against a spread of
# 0.42); after 30, 0.37; at the end of that scale, 0.33, but then only the finer scales
# would be steered.
MEASURE_SHARE = 0.5
# Fitted by bench/strength.py --calibrate (see above): strength 6 at this level, and
# GAIN strength per unit of log level.
TARGET_LEVEL = 0.272
GAIN = 1.33
# Never weaker than this, nor stronger: a line fitted between 4.5 and 7.5 says little
# further out. The 18 benchmark pairs wanted 5.4 to 7.0.
BOUNDS = (3.0, 9.0)
# A photo this close to its painting (the painting itself, say) has nothing left to paint:
# its level is 0, not the ratio of two small numbers. The 18 benchmark pairs start at 0.36
# to 0.95 at 128 px.
ALREADY_PAINTED = 0.05
_MIN_ROWS = 16  # a layer with fewer positions inside a mask says nothing
MAX_ROWS = 8192  # feature vectors per layer the measurement looks at (_sample)


def stylization_level(
    features: dict[str, torch.Tensor],
    paintings: list[tuple[float, dict[str, torch.Tensor]]],
    layers: tuple[str, ...],
    where: dict[str, torch.Tensor] | None = None,
) -> float:
    """How far a picture's feature distributions are from the paintings' (0: the same).

    `paintings` are (blend weight, features) pairs; their distances are averaged by
    weight. `where` limits the picture to a masked region, per layer.
    """
    return _distance(features, _painting_rows(paintings, layers), layers, where)


def remaining_level(
    picture: dict[str, torch.Tensor],
    photo: dict[str, torch.Tensor],
    paintings: list[tuple[float, dict[str, torch.Tensor]]],
    layers: tuple[str, ...],
    where: dict[str, torch.Tensor] | None = None,
) -> float:
    """The level auto measures: how much of the photo's distance to the paintings the
    picture still has (1: the photo, 0: the paintings' own statistics); 0 for a photo
    already within `ALREADY_PAINTED` of them."""
    rows = _painting_rows(paintings, layers)
    start = _distance(photo, rows, layers, where)
    return _distance(picture, rows, layers, where) / start if start > ALREADY_PAINTED else 0.0


def _painting_rows(paintings: list[tuple[float, dict[str, torch.Tensor]]],
                   layers: tuple[str, ...]) -> list[tuple[float, dict[str, torch.Tensor]]]:
    """Each painting's sampled feature vectors per layer, with its blend weight."""
    return [(weight, {name: _sample(feature_rows(painting[name])) for name in layers}) for weight, painting in paintings]


def _distance(features: dict[str, torch.Tensor], paintings: list[tuple[float, dict[str, torch.Tensor]]],
              layers: tuple[str, ...], where: dict[str, torch.Tensor] | None) -> float:
    picture = {name: feature_rows(features[name], where[name] if where else None) for name in layers}
    picture = {name: _sample(rows) for name, rows in picture.items() if rows.shape[0] >= _MIN_ROWS}
    total_weight = sum(weight for weight, _ in paintings)
    level = 0.0
    for weight, painting in paintings:
        distances = [sliced_wasserstein(rows, painting[name]) for name, rows in picture.items()]
        level += weight / total_weight * (sum(distances) / len(distances) if distances else 0.0)
    return level


def _sample(rows: torch.Tensor) -> torch.Tensor:
    """At most `MAX_ROWS` of the rows, the same ones every time: all 196,608 positions of
    conv1_1 at 512 px made the measurement cost 20% of a painting; quantiles from a fixed
    sample of 8,192 are as good for a number that only sets a strength."""
    if rows.shape[0] <= MAX_ROWS:
        return rows
    chosen = torch.randperm(rows.shape[0], generator=torch.Generator().manual_seed(0))[:MAX_ROWS]
    return rows[chosen]


def auto_strength(level: float) -> float:
    """The strength for the rest of a painting whose picture was measured at `level`."""
    if level <= 0:
        return BOUNDS[0]
    strength = DEFAULT_STRENGTH + GAIN * math.log(level / TARGET_LEVEL)
    return min(BOUNDS[1], max(BOUNDS[0], strength))


def auto_plan(plan: list[Scale]) -> tuple[list[Scale], int | None]:
    """The schedule auto runs, and the index of the scale before which it measures.

    The coarsest scale is split after `MEASURE_SHARE` of its iterations; the rest of it, and
    every finer scale, is painted at the chosen strength. No measurement (None) in a
    one-scale painting, or one whose coarsest scale is too short to split.
    """
    measured = round(plan[0].iterations * MEASURE_SHARE) if len(plan) > 1 else 0
    if not 0 < measured < plan[0].iterations:
        return plan, None
    first = dataclasses.replace(plan[0], iterations=measured)
    rest = dataclasses.replace(plan[0], iterations=plan[0].iterations - measured)
    return [first, rest, *plan[1:]], 1


def strength_fields(value: object, name: str = "strength") -> dict[str, object]:
    """The Filter fields for a strength as people write it: a number from 0 to 10, or auto.

    One reading for presets, the command line and daemon rules, so they accept the same.
    """
    number = value
    if isinstance(value, str):
        if value.strip().lower() == AUTO:
            return {"ratio": ratio_from_strength(DEFAULT_STRENGTH), "auto_strength": True}
        try:
            number = float(value)
        except ValueError:
            pass
    try:
        return {"ratio": ratio_from_strength(number), "auto_strength": False}
    except FilterError:
        low, high = STRENGTH_RANGE
        raise FilterError(f"{name}: expected a number from {low:g} to {high:g}, or auto; got {value!r}") from None
