"""The paintings a filter imitates: decoded once, and their Gram targets computed once.

A web page or a daemon paints many photos with few paintings, so decoding a painting and
computing its Gram matrices at an output size are done once and kept (up to
`CACHE_SIZE` of each): the next request with the same painting starts painting at once.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import Generic, TypeVar

import torch

from . import color, images
from .filter import Filter, StyleImage
from .losses import gram
from .tiling import tiled_grams, tiles_for
from .vgg import VGGFeatures

CACHE_SIZE = 64  # entries of each cache: decoded paintings, Gram targets, style vectors
MIN_STYLE_SIDE = 16  # px on the painting's short side, the least that survives four poolings

Value = TypeVar("Value")
LoadedStyle = tuple[StyleImage, tuple[str, images.Image.Image]]  # (spec, (digest, image))


class Cache(Generic[Value]):
    """A thread-safe cache that forgets its least recently stored entries beyond `size`."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, Value] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Value | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: Hashable, value: Value) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)

    def reset_after_fork(self) -> None:
        """A fresh lock: a forked process may have inherited this one held."""
        self._lock = threading.Lock()


def style_side(image: images.Image.Image, spec: StyleImage, long_side: int) -> int:
    """The long side a painting is used at for an output of `long_side` px.

    Short side at least 16 px, or conv5_1 (four poolings deep) has no pixels left: a small
    output with a small --style-scale, or a wide painting, crashed there.
    """
    shortest_long_side = math.ceil(MIN_STYLE_SIDE * max(image.size) / min(image.size))
    return max(shortest_long_side, round(long_side * spec.scale))


class Styles:
    """Decoded paintings (by path and modification time) and their Gram targets (by
    painting, size, network and layers), on one device within one memory budget."""

    def __init__(self, device: torch.device, memory_budget: float) -> None:
        self.device = device
        self.memory_budget = memory_budget
        self.images: Cache[tuple[str, images.Image.Image]] = Cache()
        self.targets: Cache[dict[str, torch.Tensor]] = Cache()

    def load(self, spec: StyleImage) -> tuple[str, images.Image.Image]:
        """Decoded style image and a content digest, cached by path and modification time."""
        source = spec.source
        if isinstance(source, (str, Path)):
            path = Path(source)
            try:
                stat = path.stat()
            except OSError:
                raise images.ImageError(f"style image {path}: no such file") from None
            key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
            cached = self.images.get(key)
            if cached is None:
                image = images.load(path)
                cached = (images.digest(image), image)
                self.images.put(key, cached)
            return cached
        image = images.load(source)
        return images.digest(image), image

    def load_all(self, filter: Filter) -> list[LoadedStyle]:
        """The filter's paintings, decoded (errors raised here, before any work)."""
        return [(spec, self.load(spec)) for spec in filter.styles]

    def blended_targets(
        self, network: VGGFeatures, filter: Filter, styles: list[LoadedStyle], long_side: int, photo_t: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """Weighted mean of each style's Grams; photo-dependent colour modes skip the cache."""
        total_weight = sum(spec.weight for spec, _ in styles)
        blended: dict[str, torch.Tensor] = {}
        for spec, (digest, image) in styles:
            side = style_side(image, spec, long_side)
            key = (digest, side, network.layers, network.pooling, network.dtype, filter.style_layers)
            grams = self.targets.get(key) if filter.preserve_color == "none" else None
            if grams is None:
                style_t = self.tensor(filter, image, side, photo_t)
                style_tiles = tiles_for(style_t.shape[-1], style_t.shape[-2], 0, self.memory_budget)
                if style_tiles:  # a painting at print size: its Gram matrices tile by tile
                    grams = tiled_grams(network, style_t, filter.style_layers, style_tiles)
                else:
                    features = network(style_t)
                    grams = {name: gram(features[name]) for name in filter.style_layers}
                if filter.preserve_color == "none":
                    self.targets.put(key, grams)
            for name, value in grams.items():
                part = value if spec.weight == total_weight else value * (spec.weight / total_weight)
                blended[name] = blended[name] + part if name in blended else part
        return blended

    def tensor(self, filter: Filter, image: images.Image.Image, side: int, photo_t: torch.Tensor | None) -> torch.Tensor:
        """A painting at `side` px as the loss sees it: with the filter's colour mode applied."""
        style_t = images.to_tensor(images.fit(image, side), self.device)
        if filter.preserve_color == "histogram" and photo_t is not None:
            return color.match_histogram(style_t, photo_t)
        if filter.preserve_color == "luminance" and photo_t is not None:
            return color.gray_rgb(color.match_luminance(color.luminance(style_t), color.luminance(photo_t)))
        return style_t

    def reset_after_fork(self) -> None:
        self.images.reset_after_fork()
        self.targets.reset_after_fork()


__all__ = ["CACHE_SIZE", "Cache", "LoadedStyle", "MIN_STYLE_SIDE", "Styles", "style_side"]
