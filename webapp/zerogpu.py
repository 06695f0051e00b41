"""The ZeroGPU adapter: every painting of the page and the API runs through `stylize_stream`.

On a ZeroGPU Space `stylize_stream` is decorated with `spaces.GPU` and runs in a forked
worker process (the rules are in webapp/settings.py, where `spaces` is imported); elsewhere
it runs here. Either way it paints in a worker thread and yields what the painter reports.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
from typing import Iterator

from stylizer import Filter, Progress, Result
from stylizer.masks import Mask
from webapp import line
from webapp.services import painter
from webapp.settings import PREVIEW_EVERY, SHUTDOWN_WAIT_S, ZERO_GPU, spaces


def gpu_seconds(photo, flt: Filter, run_id: str, mask: Mask | None = None) -> int:
    """ZeroGPU's time request for one painting: generous for its size (shorter waits in line)."""
    return int(min(300, 20 + 0.1 * flt.iterations * (flt.size / 512) ** 2))


_gpu = spaces.GPU(duration=gpu_seconds) if ZERO_GPU else (lambda fn: fn)
_painting_threads: set[threading.Thread] = set()  # this process's paintings, for a clean exit


@_gpu
def stylize_stream(photo, flt: Filter, run_id: str, mask: Mask | None = None) -> Iterator[Progress | Result]:
    """Run one stylization in a worker thread; yield its `Progress` reports, then the `Result`.

    Only picklable values go in and out (see ZeroGPU in settings). `run_id` names the cancel
    flag in the process that paints: `line.cancel_run` reaches it when that is this process;
    on ZeroGPU, closing this generator (Gradio's cancel does) stops the painting instead.
    """
    events: queue.Queue = queue.Queue()
    cancel = line.flag(run_id)

    def work() -> None:
        try:
            result = painter.paint(
                photo, flt, on_progress=events.put, cancel=cancel.is_set, preview_every=PREVIEW_EVERY, mask=mask
            )
            events.put(result)
        except BaseException as exc:  # handed to the caller's thread
            events.put(exc)
        finally:
            _painting_threads.discard(threading.current_thread())

    worker = threading.Thread(target=work, name="stylize", daemon=True)
    _painting_threads.add(worker)
    worker.start()
    try:
        while True:
            item = events.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, Result):
                return
    finally:
        cancel.set()  # the caller went away (or we are done): never leave the worker painting
        line.release(run_id)


def stop_paintings(timeout: float = SHUTDOWN_WAIT_S) -> None:
    """At exit: cancel every painting and wait for its thread to stop at its next check.

    A painting thread left inside torch while the interpreter shuts down aborted the
    process ("terminate called without an active exception", exit 134), as the warm-up
    thread once did.
    """
    line.cancel_all()
    deadline = time.monotonic() + timeout
    for thread in list(_painting_threads):
        thread.join(timeout=max(0.0, deadline - time.monotonic()))


atexit.register(stop_paintings)
