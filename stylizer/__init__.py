"""Neural style transfer after Gatys, Ecker and Bethge, shared by the app, daemon and CLI."""

from .engine import Result, Stats, Stylizer
from .errors import Cancelled, FilterError, ImageError, StylizerError
from .filter import Filter, StyleImage, ratio_from_strength, strength_from_ratio
from .presets import Preset, PresetError, load_presets
from .transfer import Progress

__all__ = [
    "Cancelled",
    "Filter",
    "FilterError",
    "ImageError",
    "Preset",
    "PresetError",
    "Progress",
    "Result",
    "Stats",
    "StyleImage",
    "Stylizer",
    "StylizerError",
    "load_presets",
    "ratio_from_strength",
    "strength_from_ratio",
]
