"""Print sizes: tiles over which the objective is evaluated, and their planning.

A Gram matrix is a sum over positions, so it can be accumulated tile by tile without
changing what is computed; this is not patchwise stylization (independent patches drift
apart and leave seams). objective.py evaluates the whole objective this way, in two passes
over overlapping tiles: the first adds up its statistics over the tiles' interiors, the
second back-propagates each tile's part of them, weighted by the loss's gradient with
respect to the whole picture's statistics. Here: where the tiles go, and the Gram matrices
and features of a whole image computed tile by tile (for targets and reports).

Positions are exact as long as the halo covers the receptive field that reaches an
interior position; a thinner halo trades a little accuracy (features near a tile's edge
see zero padding where the untiled network sees pixels) for speed. Tiles and halos are
multiples of 16 px, the deepest pooling's stride, so every tile's feature grid lines up
with the whole image's.

The optimizer still works on the whole image: its memory is the image and L-BFGS's
history (two image-sized vectors per remembered step), which `lbfgs_history` bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .losses import gram

ALIGN = 16  # px: the stride of conv5_x (four 2x poolings)
# px of context on each side of a tile. Measured at 512x384 against the untiled gradient:
# 80 px is exact (to fp32 rounding), 64 px leaves 0.08% gradient error, 48 px 0.9%.
DEFAULT_HALO = 64
MIN_TILE = 64
# The automatic tile's largest side. Bigger tiles are slower per pixel on the CPU (4096 px in
# bf16 on a 2-core EPYC: tiles of 768 / 1056 / 1696 px took 7.2 / 5.8 / 8.3 s per
# megapixel-iteration), and past about a megapixel they save little of the halos' cost.
MAX_AUTO_TILE = 1056


def layer_stride(name: str) -> int:
    """Pixels per feature position at a VGG layer: conv1_x 1, conv2_x 2 ... conv5_x 16."""
    return 2 ** (int(name[4:].split("_")[0]) - 1)


@dataclass(frozen=True)
class Tile:
    """A tile's interior (y0, y1, x0, x1) and the crop around it that the network sees."""

    interior: tuple[int, int, int, int]
    crop: tuple[int, int, int, int]

    def positions(self, stride: int) -> tuple[slice, slice]:
        """The interior's feature positions in the crop's feature map at a layer's stride."""
        y0, y1, x0, x1 = self.interior
        cy0, _, cx0, _ = self.crop
        return (slice((y0 - cy0) // stride, _ceil_div(y1 - cy0, stride)),
                slice((x0 - cx0) // stride, _ceil_div(x1 - cx0, stride)))


    def whole_positions(self, stride: int) -> tuple[slice, slice]:
        """The same positions in the whole image's feature map."""
        y0, y1, x0, x1 = self.interior
        return slice(y0 // stride, _ceil_div(y1, stride)), slice(x0 // stride, _ceil_div(x1, stride))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def plan_tiles(height: int, width: int, tile: int, halo: int = DEFAULT_HALO) -> list[Tile]:
    """Interiors of about `tile` px covering the image, each with a `halo` (clipped at the
    image's border, where the untiled network sees the same border)."""
    tile = max(MIN_TILE, tile // ALIGN * ALIGN)
    halo = _ceil_div(halo, ALIGN) * ALIGN
    rows = _edges(height, tile)
    cols = _edges(width, tile)
    tiles = []
    for y0, y1 in zip(rows, rows[1:]):
        for x0, x1 in zip(cols, cols[1:]):
            crop = (max(0, y0 - halo), min(height, y1 + halo), max(0, x0 - halo), min(width, x1 + halo))
            tiles.append(Tile((y0, y1, x0, x1), crop))
    return tiles


def _edges(length: int, tile: int) -> list[int]:
    """0, tile, 2 tile ... length: every edge but the last on the 16 px grid; the last
    interior takes the remainder (so no feature position is lost or counted twice)."""
    count = max(1, round(length / tile))
    step = max(ALIGN, length // count // ALIGN * ALIGN)
    edges = [min(i * step, length) for i in range(count)] + [length]
    return sorted(set(edges))


def tiled_features(network, image: torch.Tensor, layer: str, tiles: list[Tile]) -> torch.Tensor:
    """One layer's features of a whole image, computed tile by tile (for a content target
    too large to compute in one piece)."""
    stride = layer_stride(layer)
    out = None
    with torch.no_grad():
        for tile in tiles:
            y0, y1, x0, x1 = tile.crop
            inner = _interior(network(image[..., y0:y1, x0:x1]), layer, tile)
            if out is None:
                height, width = image.shape[-2] // stride, image.shape[-1] // stride
                out = inner.new_zeros((*inner.shape[:2], height, width))
            whole_rows, whole_cols = tile.whole_positions(stride)
            out[..., whole_rows, whole_cols] = inner
    return out


def tiled_grams(network, image: torch.Tensor, layers, tiles: list[Tile]) -> dict[str, torch.Tensor]:
    """Gram matrices of a whole image (a painting at print size), accumulated tile by tile."""
    return _accumulate(network, image, tiles, layers)[0]


def _accumulate(network, image: torch.Tensor, tiles: list[Tile], layers):
    """One pass over the tiles without gradients: each layer's Gram matrix over the tiles'
    interiors, and the position counts."""
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    with torch.no_grad():
        for tile in tiles:
            y0, y1, x0, x1 = tile.crop
            features = network(image[..., y0:y1, x0:x1])
            for name in layers:
                inner = _interior(features, name, tile)
                part = gram(inner) * _positions(inner)
                sums[name] = sums[name] + part if name in sums else part
                counts[name] = counts.get(name, 0) + _positions(inner)
    return {name: sums[name] / counts[name] for name in sums}, counts


def _interior(features: dict[str, torch.Tensor], layer: str, tile: Tile) -> torch.Tensor:
    rows, cols = tile.positions(layer_stride(layer))
    return features[layer][..., rows, cols]


def _positions(inner: torch.Tensor) -> int:
    return inner.shape[-1] * inner.shape[-2]


def lbfgs_history(pixels: int, budget_bytes: float, default: int) -> int:
    """Remembered L-BFGS steps that fit a quarter of the memory budget (two fp32 vectors
    of the image's size each), between 3 and `default`."""
    per_step = 2 * 4 * pixels * 3
    return max(3, min(default, int(budget_bytes / 4 // per_step)))


def estimated_bytes(width: int, height: int) -> float:
    """Peak memory of an untiled run at this size: about 1 GB plus 2.1 GB per megapixel
    (bench/scaling.py, fp32 on the CPU, L-BFGS history included)."""
    return 1e9 + 2.1e9 * width * height / 1e6


def tiles_for(width: int, height: int, tile: int, budget_bytes: float) -> list[Tile] | None:
    """The tiles of a `width` x `height` image: of `tile` px when given (0: automatic against
    `budget_bytes`); None when it is computed in one piece."""
    tile = tile or auto_tile(width, height, budget_bytes)
    if not tile or tile >= max(width, height):
        return None
    return plan_tiles(height, width, tile)


def auto_tile(width: int, height: int, budget_bytes: float) -> int:
    """0 (no tiling) when the whole image fits the budget; else the largest tile that does,
    measured the same way (a tile costs what an untiled image of its size with halos does),
    up to MAX_AUTO_TILE."""
    if estimated_bytes(width, height) <= budget_bytes:
        return 0
    side = math.sqrt(max(0.0, budget_bytes / 2 - 1e9) / 2.1e9 * 1e6)  # half the budget for tiles
    return max(MIN_TILE, min(MAX_AUTO_TILE, int(side - 2 * DEFAULT_HALO) // ALIGN * ALIGN))


# Tiles whose crops add up to this many times the image's pixels are worth a warning: with
# a 64 px halo that is tiles under about 320 px. A 2 GB budget left room only for 64 px
# tiles (768 of them at 2048x1536, 8.6x the pixels), and a 2048 px painting had not
# finished after 8.5 minutes without a word. The automatic tiles of a sufficient budget
# stay near 1.2-1.4x.
SLOW_TILING_WORK = 2.0
# Seconds per iteration, tiled against one piece, per unit of tiling_work: 1.59x at 1.25x
# the pixels (README, "Print sizes": 2048x1536, 1056 px tiles against one piece, bf16).
_TIME_PER_WORK = 1.59 / 1.25


def tiling_work(tiles: list[Tile], width: int, height: int) -> float:
    """The pixels the network sees per pass over the tiles (halos included), relative to the
    image's own: 1.0 untiled, more the smaller the tiles are against their halos."""
    seen = sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in (tile.crop for tile in tiles))
    return seen / (width * height)


def largest_untiled_side(width: int, height: int, budget_bytes: float) -> int:
    """The largest long side (px) of this picture's shape that `budget_bytes` paints in one
    piece; 0 when none does."""
    megapixels = (budget_bytes - 1e9) / 2.1e9
    if megapixels <= 0:
        return 0
    long, short = max(width, height), min(width, height)
    return int(math.sqrt(megapixels * 1e6 * long / short)) // ALIGN * ALIGN


def slow_tiling_note(width: int, height: int, budget_bytes: float, tile: int = 0) -> str | None:
    """What painting `width` x `height` will cost when the tiles are so small that their
    halos multiply the work (`SLOW_TILING_WORK`), with what would avoid it; None otherwise.

    `tile` is a tile size the user chose (0: automatic against `budget_bytes`).
    """
    chosen = tile or auto_tile(width, height, budget_bytes)
    if not chosen or chosen >= max(width, height):
        return None
    tiles = plan_tiles(height, width, chosen)
    work = tiling_work(tiles, width, height)
    if work < SLOW_TILING_WORK:
        return None
    why = f"--tile {tile}" if tile else f"a memory budget of {budget_bytes / 1e9:g} GB"
    note = (
        f"{why} paints {width}x{height} in {len(tiles)} tiles of {chosen} px: each iteration runs "
        f"the network over {work:.1f}x the image's pixels, about {work * _TIME_PER_WORK:.0f}x the time "
        f"of painting it in one piece"
    )
    if tile:
        return note + "; a larger --tile (or none) is faster"
    return note + ". " + "; ".join(_cheaper(width, height, budget_bytes))


def _cheaper(width: int, height: int, budget_bytes: float) -> list[str]:
    """What would paint this faster: the least budget (in steps of 0.5 GB) whose automatic
    tiles cost less than `SLOW_TILING_WORK`, or that paints it in one piece; and the size
    that the given budget paints in one piece."""
    options = []
    budget = math.floor(budget_bytes / 5e8) * 5e8
    while True:
        budget += 5e8
        tile = auto_tile(width, height, budget)
        if not tile or tile >= max(width, height):
            options.append(f"--max-memory {budget / 1e9:g} paints it in one piece")
            break
        work = tiling_work(plan_tiles(height, width, tile), width, height)
        if work < SLOW_TILING_WORK:
            options.append(f"--max-memory {budget / 1e9:g} allows tiles of {tile} px ({work:.1f}x)")
            break
    fits = largest_untiled_side(width, height, budget_bytes)
    if fits >= MIN_TILE:
        options.append(f"--size {fits} paints in one piece within {budget_bytes / 1e9:g} GB")
    return options


__all__ = [
    "DEFAULT_HALO", "Tile", "auto_tile", "layer_stride", "lbfgs_history", "plan_tiles",
    "slow_tiling_note", "tiles_for", "tiling_work",
]
