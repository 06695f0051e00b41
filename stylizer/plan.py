"""The plan of a painting, made before any work: its scales, tiles, batch and memory.

Everything here follows from the photo's size, the filter, the precision and the memory
budget, so it is known before a photo waits for the device, and a painting that cannot run
is refused here, in one line, instead of after its coarse scales were painted:

- the scales (transfer.plan_scales), with `strength: auto`'s split of one scale and the
  point where it measures (strength.auto_plan);
- the tiles of each scale (tiling.py), or None for a scale computed in one piece;
- how many such pictures the memory budget paints in one batch without tiling them (a
  batch that had to be tiled would paint each picture differently: the halos);
- the memory one picture needs at its largest scale, in one piece.

`batch_key` says which paintings may share a batch (one network pass per iteration) from
their sizes and filters alone: a scheduler can group waiting paintings without decoding a
photo or holding a `Stylizer`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .errors import FilterError
from .filter import Filter
from .masks import Mask
from .strength import auto_plan
from .tiling import Tile, estimated_bytes, slow_tiling_note, tiles_for
from .transfer import Scale, plan_scales, scale_numbers

ScalesFor = Callable[[int, int, int, int, int], list[Scale]]


def refuse_unsupported(filter: Filter, mask: Mask | None = None) -> None:
    """Raise `FilterError` (one line) for a combination the painting cannot run."""
    if mask is not None and filter.losses == "paper":
        raise FilterError("a mask works with the normalized losses, not losses: paper")


def schedule(width: int, height: int, filter: Filter, scales_for: ScalesFor = plan_scales) -> tuple[tuple[Scale, ...], int | None]:
    """The scales a `width` x `height` photo is painted at, and the index of the scale before
    which `strength: auto` measures (None: no measurement)."""
    scales = scales_for(width, height, filter.size, filter.scales, filter.iterations)
    scales, measure_at = auto_plan(scales) if filter.auto_strength else (scales, None)
    return tuple(scales), measure_at


def batch_key(width: int, height: int, filter: Filter, dtype: torch.dtype) -> tuple:
    """Paintings with equal keys may share a batch: the same scales at the same sizes, the
    same network (layers, pooling, `dtype`: the Stylizer's precision, fp32 for `losses:
    paper`) and the same optimizer and tiling. Each keeps its own targets, strength, mask
    and optimizer state; pictures of other sizes are never padded into one batch, since
    padding would change their Gram matrices."""
    return _key(*schedule(width, height, filter), filter, dtype)


def _key(scales: tuple[Scale, ...], measure_at: int | None, filter: Filter, dtype: torch.dtype) -> tuple:
    layers = tuple(dict.fromkeys((*filter.style_layers, filter.content_layer)))
    return (scales, measure_at, layers, filter.pooling, dtype, filter.optimizer, filter.learning_rate,
            filter.tile, filter.init == "instant")


@dataclass(frozen=True)
class Plan:
    """What painting one photo with one filter will do, decided before any work."""

    filter: Filter
    dtype: torch.dtype
    memory_budget: float
    scales: tuple[Scale, ...]  # auto's measured scale split in two, when it measures
    measure_at: int | None  # strength: auto measures before this scale; None: not at all
    tiles: tuple[tuple[Tile, ...] | None, ...]  # per scale; None: computed in one piece
    batch: int  # pictures of this plan the memory budget paints together untiled (at least 1)
    picture_bytes: float  # one picture's estimated peak at the largest scale, untiled

    @property
    def numbers(self) -> list[int]:
        """Each scale's number as the user counts them (auto's two halves are one scale)."""
        return scale_numbers(list(self.scales))

    @property
    def key(self) -> tuple:
        """`batch_key` of this plan's painting."""
        return _key(self.scales, self.measure_at, self.filter, self.dtype)

    def tiling_note(self) -> str | None:
        """A warning when the largest scale is tiled so finely that it takes many times
        longer than in one piece (tiling.slow_tiling_note); None otherwise."""
        last = self.scales[-1]
        return slow_tiling_note(last.width, last.height, self.memory_budget, self.filter.tile)


def make_plan(
    width: int,
    height: int,
    filter: Filter,
    dtype: torch.dtype,
    memory_budget: float,
    mask: Mask | None = None,
    scales_for: ScalesFor = plan_scales,
) -> Plan:
    """The plan of painting a `width` x `height` photo; raises `FilterError` for a
    combination that cannot run (`refuse_unsupported`). `scales_for` lets a benchmark give
    its own schedule (bench/schedule.py)."""
    refuse_unsupported(filter, mask)
    scales, measure_at = schedule(width, height, filter, scales_for)
    tiles = tuple(_tuple(tiles_for(s.width, s.height, filter.tile, memory_budget)) for s in scales)
    last = scales[-1]
    picture_bytes = estimated_bytes(last.width, last.height)
    return Plan(
        filter=filter, dtype=dtype, memory_budget=memory_budget, scales=scales, measure_at=measure_at,
        tiles=tiles, batch=max(1, int(memory_budget // picture_bytes)), picture_bytes=picture_bytes,
    )


def _tuple(tiles: list[Tile] | None) -> tuple[Tile, ...] | None:
    return tuple(tiles) if tiles is not None else None


__all__ = ["Plan", "batch_key", "make_plan", "refuse_unsupported", "schedule"]
