"""The instant preview: a feed-forward painting while the optimization runs (instant.py).

A preview is someone waiting for a first picture, so it never waits for the Stylizer's
lock, and a painting in progress pauses between iterations while previews run
(`between_iterations`). The network and each painting's style vector are loaded once.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from . import color, images
from .filter import DEFAULT_STRENGTH, Filter
from .instant import InstantPainter, blend
from .masks import Mask, soft_mask_image
from .styles import Cache, Styles
from .transfer import CancelCheck

# The instant network's peak memory per output pixel on the CPU: 0.85 GB more at 2048x1536
# than at rest (272 bytes a pixel), 0.27 GB at 1024x768 (341); rounded up.
INSTANT_BYTES_PER_PIXEL = 350
PREVIEW_PAUSE_S = 2.0  # the longest a painting waits at one iteration for previews to finish
# Beyond its first PREVIEW_PAUSE_S, a painting pauses for previews at most this share of its
# running time: a client looping on previews once slowed every painting several-fold.
PREVIEW_SHARE = 0.5


class Previews:
    """Instant paintings, the style vectors they were painted with, and how many are being
    painted right now (for the pause between a painting's iterations)."""

    def __init__(self, styles: Styles, memory_budget: float) -> None:
        self.styles = styles
        self.memory_budget = memory_budget
        self._painter: InstantPainter | None = None
        self._vectors: Cache[np.ndarray] = Cache()  # per painting's digest
        self.reset_after_fork()

    def reset_after_fork(self) -> None:
        """Fresh locks and no preview in progress: a forked process inherits them mid-state
        (held by a thread it does not have, counting previews it will never finish)."""
        self._painter_lock = threading.Lock()
        self._vectors.reset_after_fork()
        self.running = 0  # instant previews being painted right now
        self._done = threading.Condition()

    def instant(self) -> InstantPainter:
        """The feed-forward network, loaded on first use (about a tenth of a second)."""
        with self._painter_lock:
            if self._painter is None:
                self._painter = InstantPainter()
            return self._painter

    def preview(self, content: images.ImageSource, filter: Filter, mask: Mask | None = None) -> images.Image.Image:
        """An instant painting of `content` with `filter`, at `filter.size`; with a mask,
        its regions side by side, mixed along its soft edge, as `Stylizer.stylize` does."""
        with self._done:
            self.running += 1
        try:
            photo = images.load(content)
            painted = self._paint(photo, filter)
            if mask is None:
                return painted
            photo = images.fit(photo, filter.size).convert("RGB").resize(painted.size)
            rest = self._paint(photo, mask.outside.replace(size=filter.size)) if mask.outside else photo
            return images.Image.composite(painted, rest.resize(painted.size), soft_mask_image(mask, painted.size))
        finally:
            with self._done:
                self.running -= 1
                self._done.notify_all()

    def between_iterations(self, cancel: CancelCheck | None) -> CancelCheck:
        """The per-iteration check: cancelled? And let instant previews have the CPU first.

        Differs from a plain loop for the web page's sake: a preview is someone waiting
        for a first picture, so the painting pauses at its next iteration boundary while
        previews run (at most PREVIEW_PAUSE_S at a time), instead of halving their speed;
        but in all no more than PREVIEW_PAUSE_S plus PREVIEW_SHARE of its running time, so a
        flood of previews cannot starve it.
        """
        started = time.monotonic()
        paused = 0.0

        def check() -> bool:
            nonlocal paused
            now = time.monotonic()
            allowed = min(PREVIEW_PAUSE_S, PREVIEW_PAUSE_S + PREVIEW_SHARE * (now - started) - paused)
            if allowed > 0:
                with self._done:
                    self._done.wait_for(lambda: self.running == 0, timeout=allowed)
                paused += time.monotonic() - now
            return cancel is not None and cancel()

        return check

    def _paint(self, content: images.ImageSource, filter: Filter) -> images.Image.Image:
        painter = self.instant()
        photo = images.fit(images.load(content), filter.size)
        photo_t = images.to_tensor(photo)
        vectors, weights = [], []
        for spec in filter.styles:
            digest, painting = self.styles.load(spec)
            if filter.preserve_color == "histogram":  # depends on the photo: not cached
                matched = color.match_histogram(images.to_tensor(painting), photo_t)
                vectors.append(painter.style_vector(images.to_image(matched)))
            else:
                vectors.append(self._style_vector(painter, digest, painting))
            weights.append(spec.weight)
        vector = blend(vectors, weights)
        # Differs from stylize: the network has one strength. Weaker filters blend its style
        # vector towards the photo's own (Ghiasi et al. 2017, section 5) and then the pixels
        # towards the photo, since the photo's own style alone still repaints it visibly.
        share = min(1.0, max(0.0, filter.strength / DEFAULT_STRENGTH))
        if share < 1.0:
            vector = blend([vector, painter.style_vector(photo)], [share, 1.0 - share])
        painted = self._within_budget(painter, photo, vector)
        if share < 1.0:
            painted = images.Image.blend(photo.convert("RGB"), painted, share)
        if filter.preserve_color == "luminance":
            painted_t = color.combine_luminance(color.luminance(images.to_tensor(painted)), photo_t)
            painted = images.to_image(painted_t)
        return painted

    def _within_budget(self, painter: InstantPainter, photo: images.Image.Image, vector: np.ndarray) -> images.Image.Image:
        """The feed-forward painting at the photo's size, or, when that would not fit the
        memory budget (a print size: 8192 px needs about 17 GB), painted at the largest size
        that does and enlarged. Differs from the optimization, which tiles instead: the
        network has no tiled form, and its strokes are the same size at any output size."""
        width, height = photo.size
        fits = self.memory_budget / INSTANT_BYTES_PER_PIXEL
        if width * height <= fits:
            return painter.paint(photo, vector)
        factor = math.sqrt(fits / (width * height))
        smaller = photo.resize((max(1, int(width * factor)), max(1, int(height * factor))), images.Image.Resampling.LANCZOS)
        return painter.paint(smaller, vector).resize((width, height), images.Image.Resampling.LANCZOS)

    def _style_vector(self, painter: InstantPainter, digest: str, painting: images.Image.Image) -> np.ndarray:
        cached = self._vectors.get(digest)
        if cached is None:
            cached = painter.style_vector(painting)
            self._vectors.put(digest, cached)
        return cached


__all__ = ["INSTANT_BYTES_PER_PIXEL", "PREVIEW_PAUSE_S", "PREVIEW_SHARE", "Previews"]
