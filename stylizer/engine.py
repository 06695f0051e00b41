"""`Stylizer`: owns the device, the network and the caches; one per process.

The app and the daemon share one instance, so the model is loaded once and style targets
computed for one request serve the next. A lock makes sure two jobs never compete for the
same device: on a small CPU two concurrent runs are each several times slower than one.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from . import color, images
from .devices import precision_name, resolve_device, resolve_precision
from .filter import DEFAULT_STRENGTH, Filter, StyleImage, ratio_from_strength
from .instant import InstantPainter, blend
from .quality import for_quality, instant_description
from .losses import content_distance, gram, gram_distance, style_distance
from .transfer import (
    LBFGS_HISTORY,
    CancelCheck,
    LoopState,
    Picture,
    Progress,
    ProgressCallback,
    content_weight,
    merged_scales,
    optimize_scale,
    plan_scales,
    scale_numbers,
)
from .errors import Cancelled, FilterError, StylizerError
from .masks import Mask, soft_mask, soft_mask_image
from .masks import layer_masks as feature_masks
from .masks import blend as blend_region
from .objective import Objective, StyleTerm, Terms, layer_masks, loss_parts, statistics
from .tiling import (
    auto_tile,
    estimated_bytes,
    lbfgs_history,
    plan_tiles,
    slow_tiling_note,
    tiled_features,
    tiled_grams,
)
from .strength import auto_plan, auto_strength, stylization_level
from .vgg import VGGFeatures

TARGET_CACHE_SIZE = 64


def _style_side(image: images.Image.Image, spec: StyleImage, long_side: int) -> int:
    """The long side a painting is used at for an output of `long_side` px.

    Short side at least 16 px, or conv5_1 (four poolings deep) has no pixels left: a small
    output with a small --style-scale, or a wide painting, crashed there.
    """
    shortest_long_side = math.ceil(MIN_STYLE_SIDE * max(image.size) / min(image.size))
    return max(shortest_long_side, round(long_side * spec.scale))


def default_memory_budget(device: torch.device) -> float:
    """Bytes a painting may use: most of the GPU's memory, or 60% of the machine's RAM."""
    if device.type == "cuda":
        return 0.8 * torch.cuda.get_device_properties(device).total_memory
    try:
        return 0.6 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8e9


MIN_STYLE_SIDE = 16  # px on the painting's short side, the least that survives four poolings
# The instant network's peak memory per output pixel on the CPU: 0.85 GB more at 2048x1536
# than at rest (272 bytes a pixel), 0.27 GB at 1024x768 (341); rounded up.
INSTANT_BYTES_PER_PIXEL = 350
PREVIEW_PAUSE_S = 2.0  # the longest a painting waits at one iteration for previews to finish
NOISE_CELL = 4  # px of the coarsest scale per independent noise value (see _initial_pixels)


@dataclass
class Stats:
    """How a run went: enough to reproduce it and to compare runs."""

    seconds: float
    iterations: int
    evaluations: int
    losses: dict[str, float]
    style_distance: float
    content_distance: float
    device: str
    precision: str
    scales: list[tuple[int, int, int]] = field(default_factory=list)  # (width, height, iterations)
    recoveries: int = 0
    strength: float | None = None  # of the last scale: what strength: auto chose
    auto_level: float | None = None  # strength.stylization_level that auto measured

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "seconds": round(self.seconds, 3),
            "iterations": self.iterations,
            "evaluations": self.evaluations,
            "losses": {k: float(f"{v:.6g}") for k, v in self.losses.items()},
            "style_distance": round(self.style_distance, 5),
            "content_distance": round(self.content_distance, 5),
            "device": self.device,
            "precision": self.precision,
            "scales": [list(s) for s in self.scales],
            "recoveries": self.recoveries,
        }
        if self.strength is not None:
            out["strength"] = round(self.strength, 3)
        if self.auto_level is not None:
            out["auto_level"] = round(self.auto_level, 5)
        return out


@dataclass
class Result:
    image: images.Image.Image
    stats: Stats
    filter: Filter
    quality: str | None = None  # set by `Stylizer.paint`; None for `stylize`, which has no named quality

    def metadata(self) -> dict[str, object]:
        """What goes into the output file so a result can be traced back to its settings.

        Only what really ran: an instant painting runs no optimization, so the filter's
        schedule (iterations, scales, optimizer ...) is left out rather than recorded as if
        it had run.
        """
        if self.quality == "instant":
            return {"quality": "instant", "filter": instant_description(self.filter), "stats": self.stats.as_dict()}
        out: dict[str, object] = {"filter": self.filter.describe(), "stats": self.stats.as_dict()}
        if self.quality is not None:
            out["quality"] = self.quality
        return out


@dataclass
class _Job:
    """One painting on its way through `Stylizer._run`: what it was asked, and what it has
    become so far (its picture in the batch, this scale's targets, its result or error)."""

    photo: images.Image.Image
    styles: list
    filter: Filter  # the filter in force: strength: auto replaces its ratio when it measures
    requested: Filter
    on_progress: ProgressCallback | None = None
    cancel: CancelCheck | None = None
    mask: Mask | None = None
    outside: list = field(default_factory=list)
    picture: Picture | None = None
    level: float | None = None
    photo_t: torch.Tensor | None = None
    target_photo: torch.Tensor | None = None
    keep_photo: torch.Tensor | None = None
    content_target: torch.Tensor | None = None
    style_targets: dict | None = None
    terms: Terms | None = None
    render: object = None
    result: Result | None = None
    error: Exception | None = None


class Stylizer:
    """Neural style transfer on one device. Thread-safe; runs one job at a time."""

    def __init__(self, device: str = "auto", precision: str = "auto", max_memory_gb: float | None = None) -> None:
        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        # Paintings that would need more than this are computed tile by tile (tiling.py).
        self.memory_budget = max_memory_gb * 1e9 if max_memory_gb else default_memory_budget(self.device)
        self._networks: dict[tuple, VGGFeatures] = {}
        self._targets: OrderedDict[tuple, dict[str, torch.Tensor]] = OrderedDict()
        self._style_images: OrderedDict[tuple, tuple[str, images.Image.Image]] = OrderedDict()
        self._style_vectors: OrderedDict[str, object] = OrderedDict()  # instant network's, per painting
        self._lock = threading.Lock()  # one optimization (or target computation) at a time
        self._cache_lock = threading.RLock()  # the dict caches, touched from any thread
        self._instant: InstantPainter | None = None
        self._instant_lock = threading.Lock()
        self._previews = 0  # instant previews being painted right now
        self._previews_done = threading.Condition()

    @property
    def description(self) -> str:
        return f"{self.device.type} / {precision_name(self.dtype)}"

    def stylize(
        self,
        content: images.ImageSource,
        filter: Filter,
        on_progress: ProgressCallback | None = None,
        cancel: CancelCheck | threading.Event | None = None,
        preview_every: int = 0,
        mask: Mask | None = None,
    ) -> Result:
        """Paint `content` with `filter` (only where `mask` is white, when given); raises
        `Cancelled` if `cancel` becomes true."""
        job = self._job(content, filter, on_progress, cancel, mask)
        with self._lock:
            self._run_waiting([job], preview_every)
        if job.error is not None:
            raise job.error
        return job.result

    def paint_many(
        self,
        contents: Sequence[images.ImageSource],
        filters: Filter | Sequence[Filter],
        quality: str | None = "normal",
        on_progress: Callable[[int, Progress], None] | None = None,
        cancel: CancelCheck | threading.Event | Sequence[CancelCheck | threading.Event | None] | None = None,
        masks: Sequence[Mask | None] | None = None,
        preview_every: int = 0,
        batch_size: int = 8,
    ) -> list[Result | Exception]:
        """Paint several photos, up to `batch_size` of them through one network pass per
        iteration (fewer when the memory budget holds fewer untiled): one result per photo,
        in order, or the exception that stopped that photo alone (an unreadable photo, a
        cancel, a diverged run); the others are painted.

        Photos are batched only with photos that follow the same schedule at the same sizes
        (the same long side, aspect ratio, filter schedule and network): the others are
        painted in batches of their own. Pictures of other sizes are not padded into one
        batch, because padding would change their Gram matrices (and masking the padding
        out would change what the network sees at the edges), so a picture's result would
        depend on its neighbours. `on_progress` gets (photo index, progress); `cancel` is
        one check for all or one per photo. `quality` None: the filters' own schedules, as
        they are (a caller that has already applied a quality and flags over it).
        """
        count = len(contents)
        filters = [filters] * count if isinstance(filters, Filter) else list(filters)
        cancels = list(cancel) if isinstance(cancel, Sequence) else [cancel] * count
        masks = list(masks) if masks is not None else [None] * count
        if not len(filters) == len(cancels) == len(masks) == count:
            raise FilterError("paint_many: give one filter, cancel check and mask per photo (or one for all)")
        results: list[Result | Exception | None] = [None] * count
        jobs: dict[int, _Job] = {}
        for index in range(count):
            report = (lambda progress, index=index: on_progress(index, progress)) if on_progress else None
            try:
                if quality == "instant":
                    results[index] = self.paint(contents[index], filters[index], "instant", report, cancels[index],
                                                mask=masks[index])
                else:
                    run = filters[index] if quality is None else for_quality(filters[index], quality)
                    jobs[index] = self._job(contents[index], run, report, cancels[index], masks[index])
            except StylizerError as exc:
                results[index] = exc
        groups: dict[tuple, list[int]] = {}
        for index, job in jobs.items():
            groups.setdefault(self._batch_key(job), []).append(index)
        for indices in groups.values():
            # No more pictures than the memory budget holds untiled, as each would be alone:
            # a batch that had to be tiled would paint them differently (the halos).
            last = self._plan(jobs[indices[0]].photo, jobs[indices[0]].filter)[-1]
            size = max(1, min(batch_size, int(self.memory_budget // estimated_bytes(last.width, last.height))))
            for start in range(0, len(indices), size):
                batch = [jobs[i] for i in indices[start : start + size]]
                with self._lock:
                    self._run_waiting(batch, preview_every)
        for index, job in jobs.items():
            results[index] = job.error if job.error is not None else dataclasses.replace(job.result, quality=quality)
        return results

    def _job(self, content, filter: Filter, on_progress, cancel, mask) -> "_Job":
        """A painting ready to run: photo and paintings decoded (errors raised here, before
        it waits for the device)."""
        if isinstance(cancel, threading.Event):
            cancel = cancel.is_set
        if mask is not None and filter.losses == "paper":
            raise FilterError("a mask works with the normalized losses, not losses: paper")
        photo = images.load(content)
        styles = [(spec, self._load_style(spec)) for spec in filter.styles]
        outside = [(spec, self._load_style(spec)) for spec in mask.outside.styles] if mask and mask.outside else []
        return _Job(photo=photo, styles=styles, filter=filter, requested=filter, on_progress=on_progress,
                    cancel=cancel, mask=mask, outside=outside)

    def _run_waiting(self, jobs: list["_Job"], preview_every: int) -> None:
        """Run jobs that held the lock's queue: one cancelled while it waited does no work."""
        for job in jobs:
            if job.cancel is not None and job.cancel():
                job.error = Cancelled()  # cancelled while waiting for the lock: no work at all
            job.cancel = self._between_iterations(job.cancel)
        waiting = [job for job in jobs if job.error is None]
        if waiting:
            self._run(waiting, preview_every)

    def _batch_key(self, job: "_Job") -> tuple:
        """Jobs with equal keys can share a batch: same sizes, schedule and network."""
        filter = job.filter
        plan = self._plan(job.photo, filter)
        plan = auto_plan(plan) if filter.auto_strength else (plan, None)
        layers = tuple(dict.fromkeys((*filter.style_layers, filter.content_layer)))
        return (repr(plan), layers, filter.pooling, self._dtype_for(filter), filter.optimizer, filter.learning_rate,
                filter.tile, filter.init == "instant")

    def _between_iterations(self, cancel: CancelCheck | None) -> CancelCheck:
        """The per-iteration check: cancelled? And let instant previews have the CPU first.

        Differs from a plain loop for the web page's sake: a preview is someone waiting
        for a first picture, so the painting pauses at its next iteration boundary while
        previews run (at most PREVIEW_PAUSE_S at a time), instead of halving their speed.
        """

        def check() -> bool:
            with self._previews_done:
                self._previews_done.wait_for(lambda: self._previews == 0, timeout=PREVIEW_PAUSE_S)
            return cancel is not None and cancel()

        return check

    def paint(
        self,
        content: images.ImageSource,
        filter: Filter,
        quality: str = "normal",
        on_progress: ProgressCallback | None = None,
        cancel: CancelCheck | threading.Event | None = None,
        preview_every: int = 0,
        mask: Mask | None = None,
    ) -> Result:
        """`stylize` at a named quality (quality.py); "instant" is the feed-forward painting alone."""
        run = for_quality(filter, quality)
        if quality != "instant":
            result = self.stylize(content, run, on_progress, cancel, preview_every, mask)
            return dataclasses.replace(result, quality=quality)
        started = time.perf_counter()
        photo = images.load(content)
        image = self.preview(photo, run, mask)
        seconds = time.perf_counter() - started
        styles = [(spec, self._load_style(spec)) for spec in run.styles]
        network = self.network(run)
        with self._lock, torch.no_grad():  # the distances only; the painting did not wait
            features = network(images.to_tensor(image, self.device))
            photo_t = images.to_tensor(photo.resize(image.size, images.Image.Resampling.LANCZOS), self.device)
            content_target = network(photo_t)[run.content_layer]
            targets = self._blended_targets(network, run, styles, max(image.size), photo_t)
        stats = Stats(
            seconds=seconds,
            iterations=0,
            evaluations=0,
            losses={},
            style_distance=style_distance(features, targets),
            content_distance=content_distance(features[run.content_layer], content_target),
            device="cpu",  # onnxruntime's CPU provider, whatever device the optimization uses
            precision="int8",
            # The feed-forward network has one strength: weaker filters are blended towards
            # the photo (_preview), stronger ones painted at it. strength: auto measures nothing.
            strength=min(run.strength, DEFAULT_STRENGTH),
        )
        return Result(image=image, stats=stats, filter=run, quality="instant")

    def preview(self, content: images.ImageSource, filter: Filter, mask: Mask | None = None) -> images.Image.Image:
        """An instant painting of `content` with `filter`, at `filter.size`, in well under a second.

        A feed-forward network (see instant.py) stands in for the optimization, so this
        never waits for a painting in progress: call it while `stylize` runs. Colour
        preservation, style blending and strengths below the default apply as in
        `stylize`; iterations, layers and the optimizer do not.
        """
        with self._previews_done:
            self._previews += 1
        try:
            photo = images.load(content)
            painted = self._preview(photo, filter)
            if mask is None:
                return painted
            # The mask's regions side by side, mixed along its soft edge, as stylize does.
            photo = images.fit(photo, filter.size).convert("RGB").resize(painted.size)
            rest = self._preview(photo, mask.outside.replace(size=filter.size)) if mask.outside else photo
            return images.Image.composite(painted, rest.resize(painted.size), soft_mask_image(mask, painted.size))
        finally:
            with self._previews_done:
                self._previews -= 1
                self._previews_done.notify_all()

    def _preview(self, content: images.ImageSource, filter: Filter) -> images.Image.Image:
        painter = self.instant()
        photo = images.fit(images.load(content), filter.size)
        photo_t = images.to_tensor(photo)
        vectors, weights = [], []
        for spec in filter.styles:
            digest, painting = self._load_style(spec)
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
        painted = self._instant_within_budget(painter, photo, vector)
        if share < 1.0:
            painted = images.Image.blend(photo.convert("RGB"), painted, share)
        if filter.preserve_color == "luminance":
            painted_t = color.combine_luminance(color.luminance(images.to_tensor(painted)), photo_t)
            painted = images.to_image(painted_t)
        return painted

    def _instant_within_budget(self, painter: InstantPainter, photo: images.Image.Image, vector) -> images.Image.Image:
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

    def _style_vector(self, painter: InstantPainter, digest: str, painting: images.Image.Image):
        with self._cache_lock:
            cached = self._style_vectors.get(digest)
        if cached is None:
            cached = painter.style_vector(painting)
            self._remember(self._style_vectors, digest, cached)
        return cached

    def instant(self) -> InstantPainter:
        """The feed-forward network, loaded on first use (about a tenth of a second)."""
        with self._instant_lock:
            if self._instant is None:
                self._instant = InstantPainter()
            return self._instant

    def style_targets(self, filter: Filter, long_side: int) -> dict[str, torch.Tensor]:
        """Blended Gram targets of the filter's styles at an output size (cached)."""
        styles = [(spec, self._load_style(spec)) for spec in filter.styles]
        network = self.network(filter)
        with self._lock, torch.no_grad():
            return self._blended_targets(network, filter, styles, long_side, None)

    def network(self, filter: Filter) -> VGGFeatures:
        layers = tuple(dict.fromkeys((*filter.style_layers, filter.content_layer)))
        dtype = self._dtype_for(filter)
        key = (layers, filter.pooling, dtype)
        with self._cache_lock:
            network = self._networks.get(key)
        if network is None:  # built outside the lock: a preview must not wait for weights loading
            network = VGGFeatures(layers, filter.pooling, self.device, dtype)
            with self._cache_lock:
                network = self._networks.setdefault(key, network)
        return network

    def _dtype_for(self, filter: Filter) -> torch.dtype:
        """The paper's losses always run in fp32: their sums reach 1e10, and with bf16's
        rounding L-BFGS stalled far from the optimum (a 1e-4 sweep step stayed near the photo)."""
        return torch.float32 if filter.losses == "paper" else self.dtype

    def tiling_note(self, content: images.ImageSource, filter: Filter) -> str | None:
        """A warning, before any work, when this painting's largest scale would be tiled so
        finely that it takes many times longer than usual (tiling.slow_tiling_note); None
        when it is painted in one piece or in tiles of a reasonable size."""
        last = self._plan(images.load(content), filter)[-1]
        return slow_tiling_note(last.width, last.height, self.memory_budget, filter.tile)

    # -- internals ---------------------------------------------------------------------

    def _run(self, jobs: list["_Job"], preview_every: int) -> None:
        """Paint a batch of jobs that share a schedule and a network (`_batch_key`); each
        job ends with its `result` or its `error`. A batch of one is an ordinary painting."""
        first = jobs[0].filter
        torch.manual_seed(first.seed)
        network = self.network(first)
        plan = self._plan(jobs[0].photo, jobs[0].filter)
        plan, measure_at = auto_plan(plan) if first.auto_strength else (plan, None)
        numbers = scale_numbers(plan)  # auto's split scale is one scale to the user
        for job in jobs:
            job.picture = Picture(
                pixels=None, state=LoopState(total_iterations=sum(s.iterations for s in plan)),
                on_progress=job.on_progress, cancel=job.cancel,
            )
        tiles = None
        for index, scale in enumerate(plan):
            live = [job for job in jobs if job.picture.error is None]
            if not live:
                break
            if index == measure_at:
                # strength: auto (strength.py): the coarse scales ran at the filter's
                # strength; the rest runs at the strength this picture's level calls for.
                for job in live:
                    job.level = self._stylization_level(network, job.filter, job.styles, job.picture.pixels,
                                                        job.photo, job.mask)
                    chosen = auto_strength(job.level, max(job.picture.pixels.shape[-2:]))
                    job.filter = job.filter.replace(ratio=ratio_from_strength(chosen))
            size = (scale.height, scale.width)
            tiles = self._tiles(first, scale.width, scale.height, len(live))
            with torch.no_grad():
                terms = [self._prepare_scale(job, network, scale, tiles) for job in live]
            for job in live:
                if job.picture.pixels is None:
                    job.picture.pixels = self._initial_pixels(job.filter, job.target_photo, job.styles, size, job.mask)
                else:
                    job.picture.pixels = images.resize_tensor(job.picture.pixels, size)
                job.picture.render_preview = job.render
            objective = Objective(network, terms, tiles, self._on_tile(live, scale, numbers[index], numbers[-1]) if tiles else None)
            history = lbfgs_history(scale.width * scale.height * len(live), self.memory_budget, LBFGS_HISTORY) if tiles else LBFGS_HISTORY
            optimize_scale([job.picture for job in live], objective, index, plan, first.optimizer,
                           first.learning_rate, preview_every, history)
        for job in jobs:
            if job.picture.error is not None:
                job.error = job.picture.error
                continue
            job.result = self._result(job, network, tiles, plan)

    @staticmethod
    def _plan(photo: images.Image.Image, filter: Filter) -> list:
        return plan_scales(*photo.size, filter.size, filter.scales, filter.iterations)

    def _prepare_scale(self, job: "_Job", network, scale, tiles) -> Terms:
        """The photo, targets and loss terms of one job at one scale (no gradients)."""
        filter = job.filter
        size = (scale.height, scale.width)
        job.photo_t = images.to_tensor(job.photo.resize((scale.width, scale.height), images.Image.Resampling.LANCZOS), self.device)
        luminance_only = filter.preserve_color == "luminance"
        job.target_photo = color.gray_rgb(color.luminance(job.photo_t)) if luminance_only else job.photo_t
        if tiles:
            content_target = tiled_features(network, job.target_photo, filter.content_layer, tiles)
        else:
            content_target = network(job.target_photo)[filter.content_layer]
        style_targets = self._blended_targets(network, filter, job.styles, max(size), job.photo_t)
        region = soft_mask(job.mask, (scale.width, scale.height), self.device) if job.mask else None
        styles = self._style_terms(network, filter, job, region, style_targets)
        job.keep_photo = region if job.mask is not None and job.mask.outside is None else None
        job.content_target = content_target
        job.style_targets = style_targets

        def render(p: torch.Tensor, photo_t=job.photo_t, keep_photo=job.keep_photo) -> images.Image.Image:
            return images.to_image(self._finish(p, photo_t, luminance_only, keep_photo))

        job.render = render
        job.terms = Terms(
            content_layer=filter.content_layer,
            content_target=content_target,
            styles=styles,
            layer_weights=dict(zip(filter.style_layers, filter.layer_weights)),
            content_weight=content_weight(filter.ratio, filter.losses),
            tv_weight=filter.tv_weight,
            paper=filter.losses == "paper",
        )
        return job.terms

    def _style_terms(self, network, filter: Filter, job: "_Job", region, style_targets) -> tuple[StyleTerm, ...]:
        """The whole picture's style term; or, with a mask, the guided terms of its regions
        (masks.py): the filter's paintings where the mask is white, and `mask.outside`'s
        where it is black, if it has one."""
        if job.mask is None:
            return (StyleTerm(style_targets),)
        terms = [StyleTerm(style_targets, layer_masks(region, filter.style_layers))]
        if job.mask.outside is not None:
            # The second painting's own schedule, strength and layers do not apply: only its
            # paintings (with their weights and scales), under this filter's layers.
            rest = job.mask.outside.replace(style_layers=filter.style_layers, layer_weights=filter.layer_weights,
                                            preserve_color=filter.preserve_color)
            targets = self._blended_targets(network, rest, job.outside, max(region.shape[-2:]), job.photo_t)
            terms.append(StyleTerm(targets, layer_masks(1 - region, filter.style_layers)))
        return tuple(terms)

    def _result(self, job: "_Job", network, tiles, plan) -> Result:
        """The finished picture with its losses and the independent distances."""
        filter, pixels = job.filter, job.picture.pixels
        with torch.no_grad():
            if tiles:
                final_parts = Objective(network, [job.terms], tiles).parts(pixels)[0]
                metrics_style = gram_distance(tiled_grams(network, pixels, job.style_targets, tiles), job.style_targets)
                features = {filter.content_layer: tiled_features(network, pixels, filter.content_layer, tiles)}
            else:  # one network pass serves the losses and the distances
                features = network(pixels)
                final_parts = loss_parts(statistics(features, job.terms), job.terms, pixels)
                metrics_style = style_distance(features, job.style_targets)
            final_parts = {k: float(v) for k, v in final_parts.items()}
            metrics_content = content_distance(features[filter.content_layer], job.content_target)
        image = images.to_image(self._finish(pixels, job.photo_t, filter.preserve_color == "luminance", job.keep_photo))
        state = job.picture.state
        stats = Stats(
            seconds=time.perf_counter() - state.started,
            iterations=state.iteration,
            evaluations=state.evaluations,
            losses=final_parts,
            style_distance=metrics_style,
            content_distance=metrics_content,
            device=self.device.type,
            precision=precision_name(network.dtype),
            scales=[(s.width, s.height, s.iterations) for s in merged_scales(plan)],
            recoveries=state.recoveries,
            strength=filter.strength,
            auto_level=job.level,
        )
        return Result(image=image, stats=stats, filter=job.requested)

    def _on_tile(self, jobs: list["_Job"], scale, number: int, scales: int):
        """Between tiles: progress for each picture, and a stop once all of them are cancelled."""

        def on_tile(done: int, total: int) -> None:
            pictures = [job.picture for job in jobs if job.picture.error is None]
            if pictures and all(p.cancel is not None and p.cancel() for p in pictures):
                raise Cancelled("stylization cancelled")
            for picture in pictures:
                if picture.on_progress is not None:
                    state = picture.state
                    picture.on_progress(Progress(
                        scale=number, scales=scales, size=(scale.width, scale.height),
                        iteration=max(1, state.iteration), iterations=state.total_iterations,
                        losses=dict(state.losses), elapsed=time.perf_counter() - state.started, tiles=(done, total),
                    ))

        return on_tile

    @staticmethod
    def _finish(pixels: torch.Tensor, photo_t: torch.Tensor, luminance_only: bool, keep_photo=None) -> torch.Tensor:
        """The image to show: colours put back in luminance mode, and where a mask keeps the
        photo, the photo itself (mixed along the mask's soft edge)."""
        finished = pixels.detach()
        if luminance_only:
            finished = color.combine_luminance(color.luminance(finished), photo_t)
        if keep_photo is not None:
            finished = blend_region(finished, photo_t, keep_photo)
        return finished

    def _tiles(self, filter: Filter, width: int, height: int, pictures: int = 1):
        """The tiles for a scale: the filter's tile size, or automatic against the memory
        budget (shared by the batch's pictures); None when the scale is computed in one piece."""
        tile = filter.tile or auto_tile(width, height, self.memory_budget / pictures)
        if not tile or tile >= max(width, height):
            return None
        return plan_tiles(height, width, tile)

    def _initial_pixels(self, filter: Filter, photo_t, styles, size, mask=None) -> torch.Tensor:
        if filter.init == "content":
            return photo_t.clone()
        if filter.init == "instant":
            photo = images.to_image(photo_t)
            start = self.preview(photo, filter.replace(size=max(photo.size)), mask)
            start_t = images.to_tensor(start.resize(photo.size, images.Image.Resampling.LANCZOS), self.device)
            if filter.preserve_color == "luminance":
                return color.gray_rgb(color.luminance(start_t))
            return start_t
        if filter.init == "noise":
            # Differs from the paper's white noise: uniform noise at a quarter of the coarsest
            # scale, enlarged smoothly. Pixel-level noise sat partly below what the pooled
            # layers see, survived the few coarse iterations, and the enlargement to the final
            # size turned it into a regular 8 px coloured grid with speckled top and left edges.
            generator = torch.Generator().manual_seed(filter.seed)
            coarse = (max(1, size[0] // NOISE_CELL), max(1, size[1] // NOISE_CELL))
            noise = torch.rand((1, 3, *coarse), generator=generator) * 255
            smooth = torch.nn.functional.interpolate(noise, size=size, mode="bicubic", align_corners=False)
            return smooth.clamp(0, 255).to(self.device)
        style = images.to_tensor(styles[0][1][1].resize(size[::-1], images.Image.Resampling.LANCZOS), self.device)
        if filter.preserve_color == "luminance":
            return color.gray_rgb(color.match_luminance(color.luminance(style), color.luminance(photo_t)))
        return style

    def _blended_targets(self, network, filter: Filter, styles, long_side: int, photo_t) -> dict[str, torch.Tensor]:
        """Weighted mean of each style's Grams; photo-dependent colour modes skip the cache."""
        total_weight = sum(spec.weight for spec, _ in styles)
        blended: dict[str, torch.Tensor] = {}
        for spec, (digest, image) in styles:
            side = _style_side(image, spec, long_side)
            key = (digest, side, network.layers, network.pooling, network.dtype, filter.style_layers)
            with self._cache_lock:
                grams = self._targets.get(key) if filter.preserve_color == "none" else None
            if grams is None:
                style_t = self._style_tensor(filter, image, side, photo_t)
                style_tiles = self._tiles(filter.replace(tile=0), style_t.shape[-1], style_t.shape[-2])
                if style_tiles:  # a painting at print size: its Gram matrices tile by tile
                    grams = tiled_grams(network, style_t, filter.style_layers, style_tiles)
                else:
                    features = network(style_t)
                    grams = {name: gram(features[name]) for name in filter.style_layers}
                if filter.preserve_color == "none":
                    self._remember(self._targets, key, grams)
            for name, value in grams.items():
                part = value if spec.weight == total_weight else value * (spec.weight / total_weight)
                blended[name] = blended[name] + part if name in blended else part
        return blended

    def _style_tensor(self, filter: Filter, image: images.Image.Image, side: int, photo_t) -> torch.Tensor:
        """A painting at `side` px as the loss sees it: with the filter's colour mode applied."""
        style_t = images.to_tensor(images.fit(image, side), self.device)
        if filter.preserve_color == "histogram" and photo_t is not None:
            return color.match_histogram(style_t, photo_t)
        if filter.preserve_color == "luminance" and photo_t is not None:
            return color.gray_rgb(color.match_luminance(color.luminance(style_t), color.luminance(photo_t)))
        return style_t

    def _stylization_level(self, network, filter: Filter, styles, pixels: torch.Tensor, photo, mask) -> float:
        """strength.stylization_level of the picture as one scale left it, against the
        filter's paintings at the same size (inside the mask, for a masked run)."""
        height, width = pixels.shape[-2:]
        long_side = max(height, width)
        photo_t = images.to_tensor(photo.resize((width, height), images.Image.Resampling.LANCZOS), self.device)
        with torch.no_grad():
            features = network(pixels.detach())
            paintings = [
                (spec.weight, network(self._style_tensor(filter, image, _style_side(image, spec, long_side), photo_t)))
                for spec, (_, image) in styles
            ]
            where = feature_masks(soft_mask(mask, (width, height), self.device), features) if mask else None
        return stylization_level(features, paintings, filter.style_layers, where)

    def _load_style(self, spec: StyleImage) -> tuple[str, images.Image.Image]:
        """Decoded style image and a content digest, cached by path and modification time."""
        source = spec.source
        if isinstance(source, (str, Path)):
            path = Path(source)
            try:
                stat = path.stat()
            except OSError:
                raise images.ImageError(f"style image {path}: no such file") from None
            key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
            with self._cache_lock:
                cached = self._style_images.get(key)
            if cached is None:
                image = images.load(path)
                cached = (images.digest(image), image)
                self._remember(self._style_images, key, cached)
            return cached
        image = images.load(source)
        return images.digest(image), image

    def _remember(self, cache: OrderedDict, key, value) -> None:
        with self._cache_lock:
            cache[key] = value
            cache.move_to_end(key)
            while len(cache) > TARGET_CACHE_SIZE:
                cache.popitem(last=False)


__all__ = ["Result", "Stats", "Stylizer"]
