"""Shared helpers for the benchmarks: paths, the quality metric, timing and table printing.

Every benchmark that prints a speed also says which machine and how many threads it ran
on, because on a small shared CPU those numbers mean nothing without that context.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch

from stylizer import Filter, Stylizer, engine, images
from stylizer.losses import content_distance, style_distance
from stylizer.transfer import Scale, plan_scales

from hardware import cpu_name
from pairs import EXAMPLES, PAIRS, STYLES  # noqa: F401  (re-exported for the benchmarks)

RESULTS = ROOT / "bench" / "results"


def machine() -> str:
    """One line naming the CPU, thread count and torch version the numbers came from."""
    return f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[float, float]:
    """(fastest, mean) wall seconds of `fn` after warm-up calls; the minimum is the least noisy."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), sum(times) / len(times)


def quality(
    stylizer: Stylizer, output: images.Image.Image, photo: Path, painting: Path, pooling: str = "avg"
) -> tuple[float, float]:
    """(style distance, content distance) of an output image, measured the same way for everyone.

    Targets: the photo resized to the output's size (conv4_2) and the painting fitted to the
    output's long side (Gram matrices of conv1_1..conv5_1), both through one VGG-19.
    """
    filter = Filter(styles=(painting,), pooling=pooling)
    network = stylizer.network(filter)
    width, height = output.size
    photo_t = images.to_tensor(
        images.load(photo).resize((width, height), images.Image.Resampling.LANCZOS), stylizer.device
    )
    with torch.no_grad():
        targets = stylizer.style_targets(filter, max(width, height))
        content_target = network(photo_t)[filter.content_layer]
        features = network(images.to_tensor(output, stylizer.device))
        style = style_distance(features, {name: targets[name] for name in filter.style_layers})
        content = content_distance(features[filter.content_layer], content_target)
    return style, content


def paint_with_counts(counts: list[int]) -> None:
    """Make the engine split iterations as `counts` (per scale, coarse to fine) instead of by
    its rule (transfer.plan_scales): the sizes stay the rule's for that many scales."""

    def fixed_plan(width: int, height: int, size: int, scales: int, iterations: int) -> list[Scale]:
        sizes = plan_scales(width, height, size, len(counts), sum(counts))
        return [Scale(s.height, s.width, n) for s, n in zip(sizes, counts)]

    engine.plan_scales = fixed_plan


def save_json(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def table(headers: list[str], rows: Iterable[list[object]]) -> str:
    """A Markdown table, so the printout can go straight into the README."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(value) for value in row) + " |")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


__all__ = ["PAIRS", "RESULTS", "best_of", "machine", "peak_rss_mb", "quality", "save_json", "table"]
