"""`Stylizer`: owns the device, the networks and the caches; one per process.

The app and the daemon share one instance, so the model is loaded once and style targets
computed for one request serve the next. A lock makes sure two paintings never compete for the
same device: on a small CPU two concurrent runs are each several times slower than one.

The work itself has its own homes: the plan of a painting (plan.py), the paintings and
their targets (styles.py), the instant preview (preview.py), the batch painting loop
(painting.py) and what it hands back (results.py).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence

import torch

from . import images
from .devices import precision_name, resolve_device, resolve_precision
from .errors import Cancelled, FilterError, StylizerError
from .filter import DEFAULT_STRENGTH, Filter
from .instant import InstantPainter
from .losses import content_distance, style_distance
from .masks import Mask
from .painting import BatchRunner, Task
from .plan import Plan, make_plan
from .preview import Previews
from .quality import for_quality
from .results import Result, Stats
from .strength import auto_strength
from .styles import Styles
from .transfer import CancelCheck, Progress, ProgressCallback, plan_scales
from .vgg import VGGFeatures


def default_memory_budget(device: torch.device) -> float:
    """Bytes a painting may use: most of the GPU's memory, or 60% of the machine's RAM."""
    if device.type == "cuda":
        return 0.8 * torch.cuda.get_device_properties(device).total_memory
    try:
        return 0.6 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8e9


class Stylizer:
    """Neural style transfer on one device. Thread-safe; runs one job at a time."""

    def __init__(self, device: str = "auto", precision: str = "auto", max_memory_gb: float | None = None) -> None:
        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        # Paintings that would need more than this are computed tile by tile (tiling.py).
        self.memory_budget = max_memory_gb * 1e9 if max_memory_gb else default_memory_budget(self.device)
        self._networks: dict[tuple, VGGFeatures] = {}
        self.styles = Styles(self.device, self.memory_budget)
        self.previews = Previews(self.styles, self.memory_budget)
        self.runner = BatchRunner(self.device, self.memory_budget, self.styles, self.previews)
        self._new_locks()

    def _new_locks(self) -> None:
        self._lock = threading.Lock()  # one optimization (or target computation) at a time
        self._networks_lock = threading.Lock()

    def reset_after_fork(self) -> None:
        """Fresh locks and conditions, and no preview counted as running, for a process
        forked from one that was using this instance: the child inherits every lock in the
        state some parent thread left it (held, with the holder gone) and previews that
        will never finish in it, and would wait for them forever."""
        self._new_locks()
        self.styles.reset_after_fork()
        self.previews.reset_after_fork()

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
        task = self._task(content, filter, on_progress, cancel, mask)
        with self._lock:
            self._run_waiting([task], preview_every)
        if task.error is not None:
            raise task.error
        return task.result

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
        (the same long side, aspect ratio, filter schedule and network: plan.batch_key): the
        others are painted in batches of their own. Pictures of other sizes are not padded
        into one batch, because padding would change their Gram matrices (and masking the
        padding out would change what the network sees at the edges), so a picture's result
        would depend on its neighbours. `on_progress` gets (photo index, progress); `cancel`
        is one check for all or one per photo. `quality` None: the filters' own schedules,
        as they are (a caller that has already applied a quality and flags over it).
        """
        count = len(contents)
        filters = [filters] * count if isinstance(filters, Filter) else list(filters)
        cancels = list(cancel) if isinstance(cancel, Sequence) else [cancel] * count
        masks = list(masks) if masks is not None else [None] * count
        if not len(filters) == len(cancels) == len(masks) == count:
            raise FilterError("paint_many: give one filter, cancel check and mask per photo (or one for all)")
        results: list[Result | Exception | None] = [None] * count
        tasks: dict[int, Task] = {}
        for index in range(count):
            report = (lambda progress, index=index: on_progress(index, progress)) if on_progress else None
            try:
                if quality == "instant":
                    results[index] = self.paint(contents[index], filters[index], "instant", report, cancels[index],
                                                mask=masks[index])
                else:
                    run = filters[index] if quality is None else for_quality(filters[index], quality)
                    tasks[index] = self._task(contents[index], run, report, cancels[index], masks[index])
            except StylizerError as exc:
                results[index] = exc
        groups: dict[tuple, list[int]] = {}
        for index, task in tasks.items():
            groups.setdefault(task.plan.key, []).append(index)
        for indices in groups.values():
            # No more pictures than the memory budget holds untiled, as each would be alone:
            # a batch that had to be tiled would paint them differently (the halos).
            size = max(1, min(batch_size, tasks[indices[0]].plan.batch))
            for start in range(0, len(indices), size):
                batch = [tasks[i] for i in indices[start : start + size]]
                with self._lock:
                    self._run_waiting(batch, preview_every)
        for index, task in tasks.items():
            results[index] = task.error if task.error is not None else dataclasses.replace(task.result, quality=quality)
        return results

    def plan(self, photo: images.Image.Image, filter: Filter, mask: Mask | None = None) -> Plan:
        """The plan of painting `photo` with `filter` on this device (plan.py); raises
        `FilterError` for a combination that cannot run, before any work."""
        # plan_scales and auto_strength are looked up in this module at each call, so a
        # benchmark or test can force them here (bench/schedule.py, bench/strength.py).
        return make_plan(*photo.size, filter, self._dtype_for(filter), self.memory_budget, mask, plan_scales)

    def _task(self, content, filter: Filter, on_progress, cancel, mask) -> Task:
        """A painting ready to run: planned, photo and paintings decoded, the instant network
        loaded when it starts from the instant painting (errors raised here, before it waits
        for the device)."""
        if isinstance(cancel, threading.Event):
            cancel = cancel.is_set
        photo = images.load(content)
        plan = self.plan(photo, filter, mask)
        styles = self.styles.load_all(filter)
        outside = self.styles.load_all(mask.outside) if mask and mask.outside else []
        if filter.init == "instant":
            self.previews.instant()
        return Task(photo=photo, styles=styles, filter=filter, requested=filter, plan=plan, on_progress=on_progress,
                   cancel=cancel, mask=mask, outside=outside)

    def _run_waiting(self, tasks: list[Task], preview_every: int) -> None:
        """Run jobs that held the lock's queue: one cancelled while it waited does no work."""
        for task in tasks:
            if task.cancel is not None and task.cancel():
                task.error = Cancelled()  # cancelled while waiting for the lock: no work at all
            task.cancel = self.previews.between_iterations(task.cancel)
        waiting = [task for task in tasks if task.error is None]
        if waiting:
            self.runner.run(waiting, self.network(waiting[0].filter), preview_every, auto_strength)

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
        styles = self.styles.load_all(run)
        network = self.network(run)
        with self._lock, torch.no_grad():  # the distances only; the painting did not wait
            features = network(images.to_tensor(image, self.device))
            photo_t = images.to_tensor(photo.resize(image.size, images.Image.Resampling.LANCZOS), self.device)
            content_target = network(photo_t)[run.content_layer]
            targets = self.styles.blended_targets(network, run, styles, max(image.size), photo_t)
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
            # the photo (preview.py), stronger ones painted at it. strength: auto measures nothing.
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
        return self.previews.preview(content, filter, mask)

    def instant(self) -> InstantPainter:
        """The feed-forward network, loaded on first use (about a tenth of a second)."""
        return self.previews.instant()

    def style_targets(self, filter: Filter, long_side: int) -> dict[str, torch.Tensor]:
        """Blended Gram targets of the filter's styles at an output size (cached)."""
        styles = self.styles.load_all(filter)
        network = self.network(filter)
        with self._lock, torch.no_grad():
            return self.styles.blended_targets(network, filter, styles, long_side, None)

    def network(self, filter: Filter) -> VGGFeatures:
        layers = tuple(dict.fromkeys((*filter.style_layers, filter.content_layer)))
        dtype = self._dtype_for(filter)
        key = (layers, filter.pooling, dtype)
        with self._networks_lock:
            network = self._networks.get(key)
        if network is None:  # built outside the lock: a preview must not wait for weights loading
            network = VGGFeatures(layers, filter.pooling, self.device, dtype)
            with self._networks_lock:
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
        return self.plan(images.load(content), filter).tiling_note()


__all__ = ["Result", "Stats", "Stylizer"]
