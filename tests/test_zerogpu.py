"""app.py on a ZeroGPU Space: the `spaces` package's rules (see webapp/settings.py), and its real fork.

The rules: CUDA only from the main thread at import, everything that crosses into the GPU
worker pickled, and closing the stream is what stops a painting. The first test imports the
app with ZeroGPU on; the next three run the adapter (`ZeroGPUPainter`, `stylize_stream`) in
this process with ZeroGPU off, so they check its contract (what it yields pickles, closing
it stops the painting, a job's cancel closes it, the request's context is kept), not the fork. The last one runs the real fork (tests/zerogpu_fork_probe.py), which needs a
CUDA GPU: the package's forked worker starts CUDA (`torch.Tensor([0]).cuda()` in
spaces.zero.torch.patching.init) before it runs the task, and without a GPU it fails there
("Found no NVIDIA driver").
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time

import pytest

from conftest import PAINTING, PHOTO, ROOT, painting_threads
from stylizer import Filter, images
from stylizer.masks import Mask

pytest.importorskip("spaces", reason="the `spaces` package is missing: pip install -r requirements-dev.txt")


def test_on_zero_gpu_the_app_builds_its_network_in_the_main_thread_and_starts_no_warm_up_thread():
    probe = (
        "import threading, app\n"
        "from webapp import services, settings, zerogpu\n"
        "print('zero-gpu', settings.ZERO_GPU)\n"
        "print('device', services.stylizer.device.type)\n"
        "print('threads', sorted(t.name for t in threading.enumerate()))\n"
        "print('decorated', hasattr(zerogpu.stylize_stream, '__wrapped__'))\n"
        "print('networks', len(services.stylizer._networks))\n"
    )
    env = {**os.environ, "SPACES_ZERO_GPU": "1", "SPACES_ZERO_DEVICE_API_URL": "http://127.0.0.1:9/", "STYLIZER_WARM": "1"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert report["zero-gpu"] == "True" and report["device"] == "cuda", done.stdout
    assert report["threads"] == "['MainThread']", "a thread touching CUDA outside the main thread crashes there"
    assert report["decorated"] == "True" and report["networks"] == "1"


@pytest.fixture
def adapter(stylizer):
    """The adapter over this process's painter, with ZeroGPU off: `stylize_stream` runs here."""
    from stylizer.pool import LocalPainter
    from webapp import zerogpu

    return zerogpu.ZeroGPUPainter(LocalPainter(stylizer))


def test_what_crosses_into_the_gpu_worker_pickles(adapter):
    """ZeroGPU off: the values the fork would pickle, pickled here by hand."""
    from webapp import zerogpu

    flt = Filter(styles=(PAINTING,), size=48, scales=1, iterations=12)
    photo = images.load(PHOTO)
    mask = Mask(images.Image.new("L", (8, 8), 255), outside=flt)
    pickle.loads(pickle.dumps((photo, flt, "normal", mask, 4)))
    items = list(zerogpu.stylize_stream(photo, flt, "normal", None, 4))
    assert any(getattr(item, "preview", None) is not None for item in items[:-1]), "previews cross too"
    for item in items:
        assert type(pickle.loads(pickle.dumps(item))) is type(item)


def test_closing_the_stream_stops_the_painting(adapter):
    """On ZeroGPU the only way to reach the worker (here with ZeroGPU off: the generator's
    own answer to being closed)."""
    from webapp import zerogpu

    stream = zerogpu.stylize_stream(images.load(PHOTO), Filter(styles=(PAINTING,), size=64, scales=1, iterations=10_000))
    next(stream)
    assert painting_threads()
    stream.close()
    deadline = time.monotonic() + 10
    while painting_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not painting_threads(), "the painting thread still runs after the stream was closed"


def test_through_the_scheduler_a_cancelled_job_closes_its_stream_and_the_gpu_request_follows_the_measured_time(adapter):
    """The page's path on ZeroGPU: a job of the scheduler, painted by the adapter in the
    context of the request that asked; Cancel reaches the worker by closing the stream."""
    import contextvars

    from stylizer.errors import Cancelled
    from stylizer.scheduler import Scheduler
    from webapp import zerogpu

    asked = contextvars.ContextVar("asked", default=None)
    seen: list = []
    original = adapter._paint

    def noting(*args, **kwargs):
        seen.append(asked.get())  # the submitting request's context, where `spaces` looks
        return original(*args, **kwargs)

    adapter._paint = noting
    line = Scheduler(adapter)
    try:
        flt = Filter(styles=(PAINTING,), size=48, scales=1, iterations=10)
        photo = images.load(PHOTO)
        guess = zerogpu.gpu_seconds(photo, flt)
        asked.set("visitor-1")
        assert line.submit(photo, flt, keep_context=True).wait().image is not None
        assert seen == ["visitor-1"]
        measured = zerogpu.gpu_seconds(photo, flt)
        assert 10 <= measured < guess, "a small painting that took under a second asks for less than the first guess"
        endless = line.submit(photo, flt.replace(iterations=100_000))
        next(item for item in endless.updates() if hasattr(item, "iteration"))
        endless.cancel()
        with pytest.raises(Cancelled):
            endless.wait()
        deadline = time.monotonic() + 10
        while painting_threads() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not painting_threads(), "cancelling the job must close its stream and stop the painting"
    finally:
        line.close(close_painter=False)


def test_a_painting_runs_in_the_real_zero_gpu_fork_and_closing_it_frees_the_worker():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("spaces' forked GPU worker starts CUDA (torch.Tensor([0]).cuda() in "
                    "spaces.zero.torch.patching.init) before it runs the task: this needs a CUDA GPU")
    env = {**os.environ, "ZEROGPU_PROBE_GPU": "0"}
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "zerogpu_fork_probe.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["zero_gpu"] is True
    # The main process's CUDA is the package's fake: a painting that reports cuda ran in the worker.
    assert report["result"] and report["device"] == "cuda" and max(report["size"]) == 64, report
    assert report["previews"] >= 1, "previews cross the fork too"
    assert report["after_close"] == "Progress"
    assert report["again_device"] == "cuda", "after a closed stream the worker paints the next one"


def test_a_process_forked_from_the_app_while_it_paints_gets_fresh_locks():
    """ZeroGPU forks its GPU workers from the running page: the app registers the Stylizer's
    reset, so a lock held by a painting thread at that moment is free in the worker."""
    import threading

    from webapp import services

    held, release = threading.Event(), threading.Event()

    def painting() -> None:
        with services.stylizer._lock:
            held.set()
            release.wait(30)

    thread = threading.Thread(target=painting)
    thread.start()
    assert held.wait(30)
    pid = os.fork()
    if pid == 0:
        os._exit(0 if services.stylizer._lock.acquire(timeout=2) else 1)
    release.set()
    thread.join(30)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the forked process inherited the held lock"
