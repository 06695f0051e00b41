"""The ZeroGPU adapter: on a ZeroGPU Space the scheduler paints through `ZeroGPUPainter`.

There a GPU exists only inside `stylize_stream`, decorated with `spaces.GPU`, which runs in
a forked worker process (the rules are in webapp/settings.py, where `spaces` is imported).
Only picklable values cross: the photo, the filter, the mask going in; progress and the
result coming out. No cancel flag can cross the fork, so a painting is stopped by closing
its stream, which the adapter does at the first report after its job's cancel check says
so. The scheduler runs it in the context of the request that asked (`keep_context`), where
`spaces` finds the visitor whose GPU quota pays.
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
from collections import deque
from collections.abc import Iterator

from stylizer import Cancelled, Filter, Progress, Result, StylizerError
from stylizer.jobs import work_units
from stylizer.masks import Mask
from webapp.settings import ZERO_GPU, spaces

RECENT = 5  # paintings whose GPU time the next request is sized by
MAX_GPU_S = 300  # the most one call may request
_seconds_per_unit: deque[float] = deque(maxlen=RECENT)  # measured inside the GPU worker
_painter = None  # what the GPU worker paints with: set (before any fork) by ZeroGPUPainter


def gpu_seconds(photo, flt: Filter, quality: str = "normal", mask: Mask | None = None, preview_every: int = 0) -> int:
    """ZeroGPU's time request for one painting: the GPU time this Space measured on its
    recent paintings for this much work, with half again as margin; before any was
    measured, generous for its size. A visitor's quota is charged what is requested, and
    shorter requests wait less for a GPU."""
    if _seconds_per_unit:
        expected = max(_seconds_per_unit) * work_units(photo.size, flt, quality)
        return int(min(MAX_GPU_S, max(10, math.ceil(1.5 * expected + 5))))
    return int(min(MAX_GPU_S, 20 + 0.1 * flt.iterations * (flt.size / 512) ** 2))


def _on_gpu(fn):
    return spaces.GPU(duration=gpu_seconds)(fn) if ZERO_GPU else fn


@_on_gpu
def stylize_stream(photo, flt: Filter, quality: str = "normal", mask: Mask | None = None,
                   preview_every: int = 0) -> Iterator[Progress | Result]:
    """Paint in a thread of the process this runs in; yield its `Progress`, then the `Result`.
    Closing the generator stops the painting at its next iteration."""
    events: queue.Queue = queue.Queue()
    stop = threading.Event()

    def work() -> None:
        try:
            events.put(_painter.paint(photo, flt, quality, on_progress=events.put, cancel=stop.is_set,
                                      preview_every=preview_every, mask=mask))
        except BaseException as exc:  # handed to the caller's thread
            events.put(exc)

    threading.Thread(target=work, name="stylize", daemon=True).start()
    try:
        while True:
            item = events.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, Result):
                return
    finally:
        stop.set()  # the caller went away (or we are done): never leave the worker painting


class ZeroGPUPainter:
    """A painter (pool.Painter) whose every painting runs through `stylize_stream`, one at a time."""

    capacity = 1

    def __init__(self, painter) -> None:
        global _painter
        _painter = painter
        self.description = f"{painter.description} (ZeroGPU)"

    def paint_many(self, contents, filters, quality="normal", on_progress=None, cancel=None, masks=None,
                   preview_every=0) -> list:
        outcomes: list = []
        for index, photo in enumerate(contents):
            report = (lambda p, index=index: on_progress(index, p)) if on_progress else None
            try:
                outcomes.append(self._paint(photo, filters[index], quality, report, cancel[index] if cancel else None,
                                            masks[index] if masks else None, preview_every))
            except StylizerError as exc:
                outcomes.append(exc)
        return outcomes

    @staticmethod
    def _paint(photo, flt: Filter, quality: str, on_progress, cancel, mask, preview_every) -> Result:
        with contextlib.closing(stylize_stream(photo, flt, quality, mask, preview_every)) as stream:
            for item in stream:
                if isinstance(item, Result):
                    _seconds_per_unit.append(item.stats.seconds / work_units(photo.size, flt, quality))
                    return item
                if on_progress is not None:
                    on_progress(item)
                if cancel is not None and cancel():
                    raise Cancelled("painting cancelled")
        raise Cancelled("painting cancelled")

    def close(self) -> None:
        pass
