"""app.py on a ZeroGPU Space, as far as the `spaces` package lets us check without the hardware.

The package's rules (see app.py): CUDA only from the main thread at import, everything that
crosses into the GPU worker pickled, and closing the stream is what stops a painting.
"""

from __future__ import annotations

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
        "print('zero-gpu', app.ZERO_GPU)\n"
        "print('device', app.stylizer.device.type)\n"
        "print('threads', sorted(t.name for t in threading.enumerate()))\n"
        "print('decorated', hasattr(app.stylize_stream, '__wrapped__'))\n"
        "print('networks', len(app.stylizer._networks))\n"
    )
    env = {**os.environ, "SPACES_ZERO_GPU": "1", "SPACES_ZERO_DEVICE_API_URL": "http://127.0.0.1:9/", "STYLIZER_WARM": "1"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert report["zero-gpu"] == "True" and report["device"] == "cuda", done.stdout
    assert report["threads"] == "['MainThread']", "a thread touching CUDA outside the main thread crashes there"
    assert report["decorated"] == "True" and report["networks"] == "1"


def test_what_crosses_into_the_gpu_worker_pickles():
    import app

    flt = Filter(styles=(PAINTING,), size=48, scales=1, iterations=12)
    photo = images.load(PHOTO)
    mask = Mask(images.Image.new("L", (8, 8), 255), outside=flt)
    pickle.loads(pickle.dumps((photo, flt, "run-id", mask)))
    assert 20 <= app.gpu_seconds(photo, flt, "run-id") <= 300
    items = list(app.stylize_stream(photo, flt, "run-id"))
    assert any(getattr(item, "preview", None) is not None for item in items[:-1]), "previews cross too"
    for item in items:
        assert type(pickle.loads(pickle.dumps(item))) is type(item)


def test_closing_the_stream_stops_the_painting():
    """What Gradio's Cancel does, and on ZeroGPU the only way to reach the worker."""
    import app

    stream = app.stylize_stream(images.load(PHOTO), Filter(styles=(PAINTING,), size=64, scales=1, iterations=10_000), "r")
    next(stream)
    assert painting_threads()
    stream.close()
    deadline = time.monotonic() + 10
    while painting_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not painting_threads(), "the painting thread still runs after the stream was closed"
    assert not app._cancel_flags
