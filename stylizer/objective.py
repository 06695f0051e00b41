"""The one objective: style, content and total variation, for each picture of a batch.

Every term is written once, as a function of *statistics* that add up over feature
positions: for each style layer the sum over positions of m(p)^2 f(p) f(p)^T (m the
region's mask, 1 without one) and of m(p)^2; for the content layer the sum of squared
errors against the photo's features. A Gram matrix is such a sum divided by its weight,
so the whole objective is a function of sums, and so it can be evaluated in three ways
that are each the same computation:

- the whole picture at once (autograd through the network);
- tile by tile at print sizes (tiling.py plans the tiles): a first pass without gradients
  adds up the sums over the tiles' interiors; autograd on the loss as a function of those
  sums gives d(loss)/d(sum); a second pass back-propagates each tile's own sums weighted by
  it. The couplings between tiles come from autograd, not from a hand-derived gradient, so
  every kind of term tiles: normalized or paper losses, with or without mask regions;
- for several pictures at once: one network pass over the batch, each picture with its own
  targets, strength, layer weights, regions and loss kind. No term mixes two pictures, so
  each picture's gradient is the one it would have alone.

The loss kinds (losses.py explains them): "normalized" relative errors, and the paper's
own sums (Gatys et al. eqs. 1-5). A masked region's Gram matrix is the guided one of Gatys
et al. 2017 (masks.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .losses import gram, total_variation
from .tiling import Tile, layer_stride

_EPS = 1e-12


@dataclass(frozen=True)
class StyleTerm:
    """One region's style: Gram targets per layer, and the region's mask at each layer's
    resolution over the whole picture ((1, 1, h, w) in 0..1), or None for the whole picture."""

    targets: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor] | None = None


@dataclass(frozen=True)
class Terms:
    """What one picture's loss compares it with, and how the parts are weighed."""

    content_layer: str
    content_target: torch.Tensor  # the photo's features at the content layer, whole picture
    styles: tuple[StyleTerm, ...]
    layer_weights: dict[str, float]
    content_weight: float
    tv_weight: float
    paper: bool = False  # Gatys et al.'s un-normalized sums instead of relative errors

    @property
    def style_layers(self) -> list[str]:
        return [name for name, weight in self.layer_weights.items() if weight]


def layer_masks(region: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """A (1, 1, H, W) region brought down to each layer's feature grid (area averaging, as
    pooling does); the grid of a layer with stride s is (H // s, W // s)."""
    height, width = region.shape[-2:]
    return {
        name: F.interpolate(region, size=(height // layer_stride(name), width // layer_stride(name)), mode="area")
        for name in layers
    }


Statistics = dict[str, torch.Tensor]


def statistics(features: dict[str, torch.Tensor], terms: Terms, tile: Tile | None = None) -> Statistics:
    """The sums the loss is made of, over the whole picture or over one tile's interior
    (`features` then being the tile's crop's). One picture: features of batch size 1."""
    stats: Statistics = {}
    for name in terms.style_layers:
        inner, where = _positions(features[name], name, tile)
        positions = inner.shape[-1] * inner.shape[-2]
        for index, style in enumerate(terms.styles):
            if style.masks is None:
                stats[f"gram{index}/{name}"] = gram(inner) * positions
                stats[f"weight{index}/{name}"] = inner.new_tensor(float(positions), dtype=torch.float32)
            else:
                mask = style.masks[name][(..., *where)].to(inner.dtype)
                stats[f"gram{index}/{name}"] = gram(inner * mask) * positions
                stats[f"weight{index}/{name}"] = mask.float().square().sum()
    inner, where = _positions(features[terms.content_layer], terms.content_layer, tile)
    target = terms.content_target[(..., *where)]
    stats["content"] = (inner.float() - target.float()).square().sum()
    return stats


def loss_parts(stats: Statistics, terms: Terms, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The loss of one picture from its statistics; `pixels` (1, 3, H, W) for the total
    variation, which is cheap to compute on the whole picture whatever the tiling."""
    total_weight = sum(terms.layer_weights.values())
    style = stats["content"].new_zeros(())
    for index, term in enumerate(terms.styles):
        for name in terms.style_layers:
            value = stats[f"gram{index}/{name}"] / stats[f"weight{index}/{name}"].clamp_min(_EPS)
            target = term.targets[name].float()
            error = (value - target).square().sum()
            weight = terms.layer_weights[name]
            if terms.paper:  # eq. 4-5: w_l / (4 N_l^2) with the means' M_l^2 cancelled (losses.py)
                style = style + weight * error / (4 * value.shape[-1] ** 2)
            else:
                style = style + (weight / total_weight) * error / (target.square().sum() + _EPS)
    if terms.paper:
        content = 0.5 * stats["content"]
    else:
        content = stats["content"] / (terms.content_target.float().square().sum() + _EPS)
    total = terms.content_weight * content + style
    parts = {"content": content, "style": style}
    if terms.tv_weight:
        tv = total_variation(pixels)
        total = total + terms.tv_weight * tv
        parts["tv"] = tv
    parts["total"] = total
    return parts


@dataclass
class Objective:
    """The loss of a batch of pictures of one size, each with its own `Terms`.

    `loss_and_grad` returns each picture's loss parts and back-propagates the sum of their
    totals (times `scale`) into whatever made `pixels`, skipping pictures whose loss is not
    finite (their gradient is zero), so one picture's NaN never reaches another's.
    """

    network: Callable[[torch.Tensor], dict[str, torch.Tensor]]
    terms: Sequence[Terms]
    tiles: Sequence[Tile] | None = None
    on_tile: Callable[[int, int], None] | None = None  # (done, total) after each tile's gradient

    def parts(self, pixels: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """Each picture's loss parts, without gradients (for reports)."""
        with torch.no_grad():
            stats = self._whole_statistics(pixels) if self.tiles is None else self._tiled_statistics(pixels)
            return [loss_parts(s, t, pixels[i : i + 1]) for i, (s, t) in enumerate(zip(stats, self.terms))]

    def loss_and_grad(self, pixels: torch.Tensor, scale: float = 1.0) -> list[dict[str, torch.Tensor]]:
        if self.tiles is None:
            return self._whole(pixels, scale)
        return self._tiled(pixels, scale)

    def _whole(self, pixels: torch.Tensor, scale: float) -> list[dict[str, torch.Tensor]]:
        stats = self._whole_statistics(pixels)
        parts = [loss_parts(s, t, pixels[i : i + 1]) for i, (s, t) in enumerate(zip(stats, self.terms))]
        finite = [p["total"] for p in parts if torch.isfinite(p["total"])]
        if finite:
            (torch.stack(finite).sum() * scale).backward()
        return [{key: value.detach() for key, value in picture.items()} for picture in parts]

    def _whole_statistics(self, pixels: torch.Tensor) -> list[Statistics]:
        features = self.network(pixels)
        return [
            statistics({name: value[i : i + 1] for name, value in features.items()}, terms)
            for i, terms in enumerate(self.terms)
        ]

    def _tiled_statistics(self, pixels: torch.Tensor) -> list[Statistics]:
        """Pass 1: each picture's sums over every tile's interior, without gradients."""
        totals: list[Statistics] = [{} for _ in self.terms]
        with torch.no_grad():
            for tile in self.tiles:
                y0, y1, x0, x1 = tile.crop
                for i, stats in enumerate(self._tile_statistics(pixels.detach()[..., y0:y1, x0:x1], tile)):
                    for key, value in stats.items():
                        totals[i][key] = totals[i][key] + value if key in totals[i] else value
        return totals

    def _tile_statistics(self, crop: torch.Tensor, tile: Tile) -> list[Statistics]:
        """Each picture's sums over one tile's interior, from the pixels of its crop."""
        features = self.network(crop)
        return [
            statistics({name: value[i : i + 1] for name, value in features.items()}, terms, tile)
            for i, terms in enumerate(self.terms)
        ]

    def _tiled(self, pixels: torch.Tensor, scale: float) -> list[dict[str, torch.Tensor]]:
        """Two passes over the tiles; the second back-propagates d(loss)/d(sums) tile by tile."""
        sums = self._tiled_statistics(pixels)
        whole = pixels.detach().clone().requires_grad_(True)  # for the total variation
        parts, weights = [], []
        gradient = torch.zeros_like(pixels, dtype=torch.float32)
        with torch.enable_grad():
            for i, terms in enumerate(self.terms):
                leaves = {key: value.detach().requires_grad_(True) for key, value in sums[i].items()}
                picture = loss_parts(leaves, terms, whole[i : i + 1])
                parts.append({key: value.detach() for key, value in picture.items()})
                if not torch.isfinite(picture["total"]):
                    weights.append({})
                    continue
                keys = list(leaves)
                *grads, pixel_grad = torch.autograd.grad(
                    picture["total"] * scale, [leaves[k] for k in keys] + [whole], allow_unused=True
                )
                weights.append({k: g for k, g in zip(keys, grads) if g is not None})
                if pixel_grad is not None:  # the total variation's, on the whole picture
                    gradient += pixel_grad.float()
        for done, tile in enumerate(self.tiles, 1):
            y0, y1, x0, x1 = tile.crop
            crop = pixels.detach()[..., y0:y1, x0:x1].clone().requires_grad_(True)
            surrogate = crop.new_zeros((), dtype=torch.float32)
            for i, stats in enumerate(self._tile_statistics(crop, tile)):
                for key, weight in weights[i].items():
                    surrogate = surrogate + (stats[key] * weight).sum()
            if surrogate.requires_grad:
                surrogate.backward()
                gradient[..., y0:y1, x0:x1] += crop.grad
            del crop, surrogate
            if self.on_tile is not None:
                self.on_tile(done, len(self.tiles))
        if pixels.requires_grad:
            pixels.backward(gradient.to(pixels.dtype))
        return parts


def _positions(layer: torch.Tensor, name: str, tile: Tile | None) -> tuple[torch.Tensor, tuple[slice, slice]]:
    """A layer's features at the positions counted here, and where those are in the whole
    picture's grid: all of them, or a tile's interior."""
    if tile is None:
        return layer, (slice(None), slice(None))
    rows, cols = tile.positions(layer_stride(name))
    return layer[..., rows, cols], tile.whole_positions(layer_stride(name))


__all__ = ["Objective", "StyleTerm", "Terms", "layer_masks", "loss_parts", "statistics"]
