"""The process's one core: the `Stylizer`, the painter that uses it, the job scheduler in
front of it, the preset registry, and the warm-up that precomputes the presets' style targets.

Every painting of the page, the API and an in-process daemon is a job of `scheduler`
(stylizer/scheduler.py), which hands it to `painter` (this process's `Stylizer`, or a Ray
cluster's workers; on ZeroGPU through its adapter); instant paintings are made by
`stylizer` here, in the scheduler's instant lane.
"""

from __future__ import annotations

import atexit
import os
import threading

from webapp import settings  # first: it imports the `spaces` package before CUDA is touched
from stylizer import Filter, Stylizer, StylizerError, load_presets
from stylizer.cluster import RaySettings
from stylizer.jobs import Budget
from stylizer.scheduler import Scheduler, device_batch_size
from stylizer.pool import make_painter
from stylizer.transfer import plan_scales
from webapp.zerogpu import ZeroGPUPainter

stylizer = Stylizer()
# ZeroGPU's GPU workers are forked from this process while the page runs: a lock some thread
# held, or a preview counted as running, at that moment would stay so in the worker forever.
os.register_at_fork(after_in_child=stylizer.reset_after_fork)
painter = make_painter(
    RaySettings(settings.RAY_ADDRESS, settings.RAY_WORKERS) if settings.RAY_ADDRESS else None, stylizer=stylizer
)
# What one painting may ask and take on this server; a refusal names the setting to change.
BUDGET = Budget(
    max_side=settings.MAX_SIZE, max_iterations=settings.MAX_ITERATIONS, max_seconds=settings.MAX_SECONDS,
    max_waiting=settings.MAX_WAITING,
    names={"max_side": "STYLIZER_MAX_SIZE", "max_iterations": "STYLIZER_MAX_ITERATIONS",
           "max_seconds": "STYLIZER_MAX_SECONDS", "max_waiting": "STYLIZER_MAX_WAITING"},
)
# ZeroGPU bills each visitor's own quota, so there every painting runs alone.
BATCH_SIZE = 1 if settings.ZERO_GPU else settings.BATCH_SIZE or device_batch_size(stylizer.device.type)
scheduler = Scheduler(ZeroGPUPainter(painter) if settings.ZERO_GPU else painter, budget=BUDGET,
                      batch_size=BATCH_SIZE, max_waiting=settings.QUEUE_SIZE)
atexit.register(scheduler.close, settings.SHUTDOWN_WAIT_S)
registry = load_presets()
PRESET_IDS = list(registry.presets)
DEFAULT_PRESET = "starry-night"
if DEFAULT_PRESET not in registry.presets:
    DEFAULT_PRESET = PRESET_IDS[0] if PRESET_IDS else ""
DEFAULT_FILTER = (registry.presets[DEFAULT_PRESET].filter if DEFAULT_PRESET
                  else Filter(styles=(settings.EXAMPLES / "tubingen.jpg",)))

_warm_stop = threading.Event()


def _warm() -> None:
    """Compute every preset's style targets at the default schedule's sizes, once."""
    side = settings.DEFAULT_SIZE
    for preset in registry.presets.values():
        flt = preset.filter
        for scale in plan_scales(side, side, side, flt.scales, flt.iterations):
            if _warm_stop.is_set():
                return
            try:
                stylizer.style_targets(flt, max(scale.width, scale.height))
            except StylizerError:
                pass  # a broken preset shows its error when used


def _stop_warming(thread: threading.Thread) -> None:
    """At exit (Ctrl-C included): let the warm-up finish its current step instead of being
    torn down inside torch, which aborted the process ("terminate called...", exit 134)."""
    _warm_stop.set()
    thread.join(timeout=30)


if settings.ZERO_GPU:
    # Build the network here, in the main thread: its weights are faked onto CUDA and copied
    # into every GPU worker. A warm-up thread would touch CUDA outside the main thread.
    stylizer.network(DEFAULT_FILTER)
elif settings.WARM and not settings.RAY_ADDRESS:  # Ray workers keep their own
    _warm_thread = threading.Thread(target=_warm, name="warm-presets", daemon=True)
    _warm_thread.start()
    atexit.register(_stop_warming, _warm_thread)
