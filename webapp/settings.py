"""Settings from the environment, and the page's constants.

Environment:
  STYLIZER_MAX_SIZE            largest output long side in px (default 1024)
  STYLIZER_MAX_UPLOAD_PIXELS   largest accepted photo or painting (default 40 MP)
  STYLIZER_MAX_UPLOAD_MB       largest upload in MB (default 50)
  STYLIZER_MAX_ITERATIONS      most iterations one painting may ask for (default 1000)
  STYLIZER_MAX_SECONDS         longest a painting may run; it is stopped past it (default 600)
  STYLIZER_MAX_WAITING         paintings one visitor or API caller may have in line at once
                               (default 2)
  STYLIZER_BATCH_SIZE          compatible paintings started together (default 8 on a GPU,
                               1 on the CPU, where batches do not pay: stylizer/scheduler.py)
  STYLIZER_RAY_ADDRESS         paint on this Ray cluster (auto, or HOST:PORT) instead of here
  STYLIZER_RAY_WORKERS         workers to start there (default: one per GPU, else per 2 cores)
  STYLIZER_QUEUE_SIZE          paintings waiting before new ones are turned away (default 32)
  STYLIZER_WARM                0 skips precomputing the presets' style targets at start
  STYLIZER_DAEMON_CONFIG       a daemon.yaml: also run the watch-folder daemon in this process,
                               sharing the app's model and GPU (jobs take turns)
  GRADIO_SERVER_NAME / GRADIO_SERVER_PORT   where to listen (Gradio's own handling; 7860)
  SPACES_ZERO_GPU              set by Hugging Face on a ZeroGPU Space (see ZERO_GPU below)
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

MAX_SIZE = int(os.environ.get("STYLIZER_MAX_SIZE", 1024))
WORKING_SIDE = 2 * MAX_SIZE  # uploads are scaled down to this long side as they are decoded
DEFAULT_SIZE = min(512, MAX_SIZE)
MAX_UPLOAD_PIXELS = int(float(os.environ.get("STYLIZER_MAX_UPLOAD_PIXELS", 40_000_000)))
MAX_UPLOAD_MB = int(os.environ.get("STYLIZER_MAX_UPLOAD_MB", 50))
RAY_ADDRESS = os.environ.get("STYLIZER_RAY_ADDRESS") or None
RAY_WORKERS = int(os.environ["STYLIZER_RAY_WORKERS"]) if os.environ.get("STYLIZER_RAY_WORKERS") else None
QUEUE_SIZE = int(os.environ.get("STYLIZER_QUEUE_SIZE", 32))
MAX_ITERATIONS = int(os.environ.get("STYLIZER_MAX_ITERATIONS", 1000))
# High at 1024 px is about 12 times Normal at 512 px (3x the iterations, 4x the pixels), some
# 4-6 minutes on 2 CPU cores (Normal: 17-25 s, QUALITY_INFO): 10 minutes leave room for a busy machine.
MAX_SECONDS = float(os.environ.get("STYLIZER_MAX_SECONDS", 600))
MAX_WAITING = int(os.environ.get("STYLIZER_MAX_WAITING", 2))
BATCH_SIZE = int(os.environ["STYLIZER_BATCH_SIZE"]) if os.environ.get("STYLIZER_BATCH_SIZE") else None
WARM = os.environ.get("STYLIZER_WARM", "1") != "0"
PREVIEW_EVERY = 10  # iterations between live previews
MASK_CANVAS_SIDE = 1024  # px: the brush's canvas shows a lighter copy of the photo
# Results are downloadable this long; older ones are deleted (here and from Gradio's cache),
# so a Space that runs for months does not fill its disk.
RESULT_MAX_AGE_S = 3600
STATUS_EVERY_S = 0.5  # at most this often a progress line without a new preview
# The core's named qualities (stylizer/quality.py), plus Draft: half the filter's iterations.
QUALITY = [("Instant", "instant"), ("Quick", "quick"), ("Draft", "draft"), ("Normal", "normal"), ("High", "high")]
# What each costs, measured (bench/qualities.py, 512 px, the benchmark pairs): Quick took 42-49%
# of Normal's time on a 2-core Intel Xeon (Normal at 105 iterations, one run) and 55-63% on a
# 2-core AMD EPYC (at 100); Instant under a second on both. Quick is not "a few seconds more"
# than Instant: at 512 px on 2 cores it was 7-10 s more (the Xeon run), and it grows with
# the size and with other people's paintings.
QUALITY_INFO = ("Instant: about a second · Quick: about half of Normal's time (at 512 px on 2 CPU cores, "
                "Instant 0.6-0.8 s, Quick 8-11 s, Normal 17-25 s) · Normal: the full painting · High: three times Normal")
READY = "Ready."  # the status line when nothing is asked or under way
UPDATE_EVERY_S = 1.0  # a waiting or painting stream says something at least this often (see handlers)
# A painting submitted with the instant one is followed by the page's next event within a
# second; one nobody came for in this long (a client gone between the two) is cancelled.
FOLLOW_WITHIN_S = 30.0
COLOR_CHOICES = [
    ("Painting's colours", "none"),
    ("Keep photo colours", "luminance"),
    ("Repaint in photo's palette", "histogram"),
]
INIT_CHOICES = [
    ("The photo", "content"), ("Noise (as in the paper)", "noise"),
    ("The painting", "style"), ("The instant painting", "instant"),
]
LAYER_LABELS = ("conv1_1 (fine)", "conv2_1", "conv3_1", "conv4_1", "conv5_1 (coarse)")
OWN_STYLE_SLOTS = 3
ENLARGE_WARNING = 2  # a photo enlarged more than this many times is warned about at upload
THUMBNAIL_SIDE = 240
SHUTDOWN_WAIT_S = 30  # at exit, how long paintings get to reach their next cancel check

# -- ZeroGPU -----------------------------------------------------------------------------
# On a ZeroGPU Space (the `spaces` package, SPACES_ZERO_GPU set) a GPU exists only inside
# functions decorated with `spaces.GPU`, which run in a forked worker process. Its rules,
# from the package's source: import it before anything touches CUDA (this module is the
# first the app imports, so it is imported here); at import, CUDA may be used only from the
# main thread (it is faked there, and the weights are copied to each worker); arguments and
# yielded values cross the fork pickled, so no Event or lock can go in; and the only way to
# stop a running worker is to close the generator it feeds. The adapter is webapp/zerogpu.py.

try:
    import spaces  # type: ignore

    ZERO_GPU = bool(spaces.config.Config.zero_gpu)
except ImportError:
    spaces, ZERO_GPU = None, False
