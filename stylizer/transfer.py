"""The optimization loop: change only the pixels until their VGG statistics match.

Coarse to fine: most iterations run on a small image, where each one is cheap and the
large-scale arrangement of strokes settles; later scales only refine detail. Each scale
starts from the previous result upsampled, so the work is never thrown away.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from . import images
from .errors import Cancelled, DivergedError
from .losses import CONTENT_SCALE, paper_content_loss, paper_style_loss, relative_error, style_loss, total_variation
from .vgg import VGGFeatures

# Below this long side VGG's deeper layers see only a few pixels (conv5_1 is 1/16 of the
# image) and the coarse result is blocky; the few full-size iterations after it could not
# remove the blocks from 256 px outputs that started at 64 px, so coarser scales are dropped.
MIN_SCALE_SIDE = 128
REFERENCE_SIDE = 512  # the size whose schedule larger paintings refine (plan_scales)
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
    iterations still costs half as much; shares are 2^k for the k-th scale from the top.

    `scales` counts the scales of a painting up to `REFERENCE_SIDE` px; a larger painting
    adds one scale per doubling, so it starts where the 512 px painting starts and is that
    painting refined (bench/tiling.py: a 2048 px painting scaled down to 512 px had SSIM
    0.57 to the 512 px one this way, against 0.24 when its 3 scales began at 512 px, whose
    strokes came out a quarter the size relative to the picture, and it took 84 s instead
    of 216 s). Differs from the paper, which paints at one size.
    """
    aspect = height / width
    scales += max(0, math.ceil(math.log2(size / REFERENCE_SIDE)))
    sides = [size / 2**k for k in reversed(range(scales))]
    sides = [s for s in sides if s >= MIN_SCALE_SIDE] or [float(size)]
    sides = sides[-iterations:]  # never more scales than iterations
    shares = [2.0 ** (len(sides) - 1 - i) for i in range(len(sides))]
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
class Objective:
    """Targets and weights for one scale; `__call__` gives the loss parts for an image."""

    network: VGGFeatures
    content_layer: str
    content_target: torch.Tensor
    style_targets: dict[str, torch.Tensor]
    layer_weights: dict[str, float]
    content_weight: float
    tv_weight: float
    paper_losses: bool = False  # Gatys et al.'s un-normalized sums instead of relative errors
    regions: tuple = ()  # masks.Region: guided style terms of a masked run, instead of the whole-image one

    def __call__(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.parts(self.network(pixels), pixels)

    def parts(self, features: dict[str, torch.Tensor], pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss parts from features already computed (saves a forward pass when reporting)."""
        if self.paper_losses:
            content = paper_content_loss(features[self.content_layer], self.content_target)
            style = paper_style_loss(features, self.style_targets, self.layer_weights)
        else:
            content = relative_error(features[self.content_layer], self.content_target)
            if self.regions:
                style = sum(region.style_loss(features, self.layer_weights) for region in self.regions)
            else:
                style = style_loss(features, self.style_targets, self.layer_weights)
        total = self.content_weight * content + style
        parts = {"content": content, "style": style}
        if self.tv_weight:
            tv = total_variation(pixels)
            total = total + self.tv_weight * tv
            parts["tv"] = tv
        parts["total"] = total
        return parts


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


def optimize_scale(
    pixels: torch.Tensor,
    objective: Objective,
    scale_index: int,
    plan: list[Scale],
    state: LoopState,
    optimizer_name: str,
    learning_rate: float,
    on_progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    preview_every: int,
    render_preview: Callable[[torch.Tensor], images.Image.Image],
    history: int = LBFGS_HISTORY,
) -> torch.Tensor:
    """Run one scale's iterations and return the best pixels seen (lowest total loss)."""
    pixels = pixels.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    best = {"loss": math.inf, "pixels": pixels.detach().clone()}
    lr = learning_rate if optimizer_name == "adam" else 1.0
    optimizer = _make_optimizer(optimizer_name, pixels, lr, history)

    # The losses are relative errors of order 1, so d(loss)/d(pixel) is tiny, and L-BFGS
    # skips curvature pairs whose s.y falls below 1e-10. Scaling by the pixel count gives
    # per-pixel gradients of order 1 without changing the minimizer.
    loss_scale = float(pixels[0, 0].numel())

    tiled = hasattr(objective, "loss_and_grad")  # tiling.TiledObjective: it fills pixels.grad itself

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        parts = objective.loss_and_grad(pixels, loss_scale) if tiled else objective(pixels)
        loss = parts["total"] * loss_scale
        state.evaluations += 1
        if torch.isfinite(loss):
            if not tiled:
                loss.backward()
            value = float(loss.detach()) / loss_scale
            state.losses = {k: float(v.detach()) for k, v in parts.items()}
            if value < best["loss"]:
                best["loss"], best["pixels"] = value, pixels.detach().clone()
        else:
            pixels.grad = torch.zeros_like(pixels)
            state.losses = {k: float(v.detach()) for k, v in parts.items()}
        return loss

    for _ in range(plan[scale_index].iterations):
        if cancel is not None and cancel():
            raise Cancelled("stylization cancelled")
        loss = optimizer.step(closure)
        if optimizer_name == "adam":
            with torch.no_grad():
                pixels.clamp_(0, 255)
        if not (torch.isfinite(loss) and torch.isfinite(pixels).all()):
            state.recoveries += 1
            if state.recoveries > MAX_RECOVERIES:
                raise DivergedError(
                    "the optimization kept producing NaN/inf values; try a lower learning "
                    "rate, a different optimizer or --precision fp32"
                )
            lr /= 2
            with torch.no_grad():
                pixels.copy_(best["pixels"])
            optimizer = _make_optimizer(optimizer_name, pixels, lr, history)
        state.iteration += 1
        if on_progress is not None:
            preview = None
            last = state.iteration == state.total_iterations
            if preview_every and (state.iteration % preview_every == 0 or last):
                preview = render_preview(best["pixels"])
            scale = plan[scale_index]
            numbers = scale_numbers(plan)
            on_progress(
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
    return best["pixels"]


def _make_optimizer(name: str, pixels: torch.Tensor, lr: float, history: int = LBFGS_HISTORY) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam([pixels], lr=lr)
    # One iteration per step() call, so progress, previews and cancel happen between
    # iterations; the curvature history lives in the optimizer state and persists.
    return torch.optim.LBFGS(
        [pixels], lr=lr, max_iter=1, history_size=history, tolerance_grad=-1, tolerance_change=-1
    )
