"""`strength: auto`: the content/style balance chosen per photo and painting.

One fixed strength lands at different places for different pairs: at strength 6 the
independent style distance (bench/quality.py) of eight pairs at 512 px spread from 0.109
to 0.182, so some photos came out barely painted and others nearly pure texture. Auto
paints the coarse scales at the filter's strength (6 unless set), then, a few iterations
into the 512 px scale, measures how much of the painting the picture already has, and
paints the rest at the strength that brings this pair to where a typical pair lands at 6.

Why steering the rest is enough: forcing the rest of the painting to 4.5 or 7.5 moved
the independent style distance most of the way to where painting every scale at that
strength puts it (bench/strength.py --calibrate against bench/quality.py's sweep). So auto costs no trial painting, only one
pass of the network over the picture and the painting, and a restart of L-BFGS's memory.

The measure: the sliced Wasserstein distance (distributions.py) between the picture's and
the painting's feature vectors at the loss's own style layers, with the loss's pooling.
The loss matches Gram matrices, which are met about equally well for every pair; how far
the whole feature distributions still are differs, and that is what the eye sees as more
or less painted. The benchmark that judges auto (bench/strength.py) uses another network
pooling (max), other layers (conv1_2 .. conv5_2) and the finished painting.

Precision. The same pair can get a different strength in bf16 and in fp32 (6.0 against
4.8 was seen), and measuring in fp32 would not change that: the measurement is not what
differs, the picture it measures is. At 512 px, picture caught at the measurement point,
level (strength):

| pair | fp32, 2 threads | fp32, 1 thread | bf16, 2 threads | bf16, 1 thread |
|---|---|---|---|---|
| Tübingen + Starry Night | 0.1169 (4.52) | 0.1351 (5.42) | 0.1451 (5.87) | 0.1499 (6.08) |
| astronaut + Udnie | 0.1146 (4.5) | 0.1164 (4.5) | 0.1245 (4.91) | 0.1217 (4.77) |

Each of those eight pictures measured with the network in the other precision moved by at
most 0.2% (0.01 strength). Painting in bf16 rather than fp32 raised the level by 5-24%;
fp32 alone, on 1 thread rather than 2, moved it by 2-16% (0.9 strength). So the choice
carries the optimization's sensitivity to how its sums are rounded (the same that moves two
untiled runs' style distance by up to 9%, README "Print sizes"), and in these four
comparisons bf16 left the picture less painted, so fp32 chose lower. The line was fitted
in bf16.

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
# Auto measures during the last scale of at most this side, after its first few iterations.
MEASURE_SIDE = 512
MEASURE_AFTER = 5
# Calibrated with `python bench/strength.py --pairs calibration --calibrate 4.5 6 7.5` on
# the eight pairs of bench/quality.py at 512 px: for each pair, the strength whose result
# reached the pairs' median independent style distance at 6 (0.144), against the level
# measured here; a least-squares line through (log level, strength) has this slope and
# passes 6 at this level (correlation 0.79). bench/results/strength-calibrate-calibration.json.
TARGET_LEVEL = 0.148
GAIN = 6.3
# Smaller paintings are measured at a smaller side, where a picture at the same stage
# measures higher (0.156 at 128 px against 0.127 at 256 px at the end of those scales,
# eight pairs' medians): the target follows that power law below 512 px.
TARGET_SIZE_EXPONENT = math.log(0.156 / 0.127) / math.log(2)
# Never weaker than this, nor stronger: at 8 the raccoon under Contrast of Forms had no
# face left; below 4.5 a typical pair looks like a filtered photo.
BOUNDS = (4.5, 7.5)
_MIN_ROWS = 16  # a layer with fewer positions inside a mask says nothing
MAX_ROWS = 8192  # feature vectors per layer the measurement looks at (_sample)


def target_level(side: int) -> float:
    """The level a typical pair has, at the default strength, at a scale of this long side."""
    return TARGET_LEVEL * (MEASURE_SIDE / side) ** TARGET_SIZE_EXPONENT


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
    picture = {name: feature_rows(features[name], where[name] if where else None) for name in layers}
    picture = {name: _sample(rows) for name, rows in picture.items() if rows.shape[0] >= _MIN_ROWS}
    total_weight = sum(weight for weight, _ in paintings)
    level = 0.0
    for weight, painting in paintings:
        distances = [sliced_wasserstein(rows, _sample(feature_rows(painting[name]))) for name, rows in picture.items()]
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


def auto_strength(level: float, side: int) -> float:
    """The strength for the remaining scales of a picture measured at `level`, at `side` px."""
    if level <= 0:
        return BOUNDS[0]
    strength = DEFAULT_STRENGTH + GAIN * math.log(level / target_level(side))
    return min(BOUNDS[1], max(BOUNDS[0], strength))


def auto_plan(plan: list[Scale]) -> tuple[list[Scale], int | None]:
    """The schedule auto runs, and the index of the scale before which it measures.

    The measured scale is the last one of at most `MEASURE_SIDE` px; it is split after its
    first `MEASURE_AFTER` iterations, and the rest of it (and every larger scale) is painted
    at the chosen strength. No measurement (None) when that scale is the first: a one-scale
    painting starts from the photo, and after a few iterations it says nothing yet.
    """
    sides = [max(scale.width, scale.height) for scale in plan]
    measured = max((index for index, side in enumerate(sides) if side <= MEASURE_SIDE), default=None)
    if not measured:
        return plan, None
    scale = plan[measured]
    if scale.iterations > MEASURE_AFTER:
        first = dataclasses.replace(scale, iterations=MEASURE_AFTER)
        rest = dataclasses.replace(scale, iterations=scale.iterations - MEASURE_AFTER)
        return [*plan[:measured], first, rest, *plan[measured + 1 :]], measured + 1
    return plan, measured + 1 if measured + 1 < len(plan) else None


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
