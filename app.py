"""Stylizer web app (Gradio): paint a photo in the style of an artwork.

Hugging Face Space entry point. Layout and callbacks only: every painting goes through the
one module-level `painter` (this process's `Stylizer`, or a Ray cluster's workers), and
every set of controls becomes a `Filter` through `build_filter`, shared by the streaming UI
handler and the `/stylize` API endpoint. Instant paintings are always made here.

Environment:
  STYLIZER_MAX_SIZE            largest output long side in px (default 1024)
  STYLIZER_MAX_UPLOAD_PIXELS   largest accepted photo or painting (default 40 MP)
  STYLIZER_MAX_UPLOAD_MB       largest upload in MB (default 50)
  STYLIZER_CONCURRENCY         stylizations run at once; others wait in line (default 1, or
                               the number of Ray workers)
  STYLIZER_RAY_ADDRESS         paint on this Ray cluster (auto, or HOST:PORT) instead of here
  STYLIZER_RAY_WORKERS         workers to start there (default: one per GPU, else per 2 cores)
  STYLIZER_QUEUE_SIZE          longest line before new requests are turned away (default 32)
  STYLIZER_WARM                0 skips precomputing the presets' style targets at start
  STYLIZER_DAEMON_CONFIG       a daemon.yaml: also run the watch-folder daemon in this process,
                               sharing the app's model and GPU (jobs take turns)
  GRADIO_SERVER_NAME / GRADIO_SERVER_PORT   where to listen (Gradio's own handling; 7860)
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import gradio as gr
from gradio.exceptions import InvalidPathError

from stylizer import (
    Cancelled,
    Filter,
    Progress,
    Result,
    StyleImage,
    Stylizer,
    StylizerError,
    load_presets,
    ratio_from_strength,
)
from stylizer import images
from stylizer.cluster import RaySettings
from stylizer.masks import Mask, mask_image
from stylizer.pool import make_painter
from stylizer.quality import for_quality
from stylizer.strength import AUTO, strength_fields
from stylizer.transfer import plan_scales
from stylizer.vgg import STYLE_LAYERS

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples"

MAX_SIZE = int(os.environ.get("STYLIZER_MAX_SIZE", 1024))
WORKING_SIDE = 2 * MAX_SIZE  # uploads are scaled down to this long side as they are decoded
DEFAULT_SIZE = min(512, MAX_SIZE)
MAX_UPLOAD_PIXELS = int(float(os.environ.get("STYLIZER_MAX_UPLOAD_PIXELS", 40_000_000)))
MAX_UPLOAD_MB = int(os.environ.get("STYLIZER_MAX_UPLOAD_MB", 50))
RAY_ADDRESS = os.environ.get("STYLIZER_RAY_ADDRESS") or None
RAY_WORKERS = int(os.environ["STYLIZER_RAY_WORKERS"]) if os.environ.get("STYLIZER_RAY_WORKERS") else None
QUEUE_SIZE = int(os.environ.get("STYLIZER_QUEUE_SIZE", 32))
PREVIEW_EVERY = 10  # iterations between live previews
MASK_CANVAS_SIDE = 1024  # px: the brush's canvas shows a lighter copy of the photo
# Results are downloadable this long; older ones are deleted (here and from Gradio's cache),
# so a Space that runs for months does not fill its disk.
RESULT_MAX_AGE_S = 3600
STATUS_EVERY_S = 0.5  # at most this often a progress line without a new preview
# The core's named qualities (stylizer/quality.py), plus Draft: half the filter's iterations.
QUALITY = [("Instant", "instant"), ("Quick", "quick"), ("Draft", "draft"), ("Normal", "normal"), ("High", "high")]
# What each costs, measured (bench/qualities.py, 512 px, the benchmark pairs): Quick took 41-54%
# of Normal's time on a 2-core Intel Xeon and 55-63% on a 2-core AMD EPYC; Instant under a
# second on both. Quick is not "a few seconds more" than Instant: at 512 px on 2 cores it
# was 5-8 s more, and it grows with the size and with other people's paintings.
QUALITY_INFO = ("Instant: about a second · Quick: about half of Normal's time (at 512 px on 2 CPU cores, "
                "Instant 0.7 s, Quick 6 s, Normal 11-14 s) · Normal: the full painting · High: three times Normal")
# The queue estimate before any painting has been timed here: seconds per iteration and
# square pixel of output (a default 512 px, 100-iteration painting took about 33 s on 2 cores).
TYPICAL_SECONDS_PER_UNIT = 33.0 / (100 * 512 * 512)
WAITING_MAX_S = 1800
RECENT_PAINTINGS = 5  # how many measured paintings the queue estimate averages  # longer than any real wait in line (32 paintings of ~1 min)
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
DEFAULT_PRESET = "starry-night"

# -- ZeroGPU -----------------------------------------------------------------------------
# On a ZeroGPU Space (the `spaces` package, SPACES_ZERO_GPU set) a GPU exists only inside
# functions decorated with `spaces.GPU`, which run in a forked worker process. Its rules,
# from the package's source: import it before anything touches CUDA; at import, CUDA may be
# used only from the main thread (it is faked there, and the weights are copied to each
# worker); arguments and yielded values cross the fork pickled, so no Event or lock can go
# in; and the only way to stop a running worker is to close the generator it feeds.

try:
    import spaces  # type: ignore

    ZERO_GPU = bool(spaces.config.Config.zero_gpu)
except ImportError:
    spaces, ZERO_GPU = None, False

# -- the shared core ---------------------------------------------------------------------

stylizer = Stylizer()
painter = make_painter(RaySettings(RAY_ADDRESS, RAY_WORKERS) if RAY_ADDRESS else None, stylizer=stylizer)
CONCURRENCY = int(os.environ.get("STYLIZER_CONCURRENCY", painter.capacity))
registry = load_presets()
PRESET_IDS = list(registry.presets)
if DEFAULT_PRESET not in registry.presets:
    DEFAULT_PRESET = PRESET_IDS[0] if PRESET_IDS else ""
DEFAULT_FILTER = registry.presets[DEFAULT_PRESET].filter if DEFAULT_PRESET else Filter(styles=(ROOT / "examples" / "tubingen.jpg",))
THUMBNAILS_DIR = Path(tempfile.mkdtemp(prefix="stylizer-thumbnails-"))
THUMBNAIL_SIDE = 240
gr.set_static_paths([str(EXAMPLES), str(THUMBNAILS_DIR)])


def gallery_thumbnail(preset) -> Path:
    """A small JPEG of the preset's painting: the full-size files made the page weigh 6 MB."""
    try:
        return small_jpeg(preset.thumbnail, f"{preset.id}.jpg", THUMBNAIL_SIDE, quality=82)
    except StylizerError:
        return preset.thumbnail  # a broken painting shows its error when used


def example_photo(name: str) -> str:
    """An example photo at 1024 px (JPEG): plenty for painting, a fifth of the original bytes."""
    return str(small_jpeg(EXAMPLES / name, f"example-{Path(name).stem}.jpg", 1024, quality=88))


EXAMPLE_PAIRS = [("tubingen.jpg", "starry-night"), ("coffee.png", "the-scream"), ("astronaut.png", "great-wave")]


def example_thumbnail(name: str) -> Path:
    """What the examples row shows: a thumbnail, not the photo that a click loads."""
    return small_jpeg(EXAMPLES / name, f"example-{Path(name).stem}-small.jpg", THUMBNAIL_SIDE, quality=82)


def load_example(index: int):
    """A click on an example: its photo at 1024 px, its preset, and the photo's status line."""
    name, preset_id = EXAMPLE_PAIRS[int(index)]
    path = example_photo(name)
    return path, preset_id, check_photo(path)[1]


def small_jpeg(source: Path, name: str, side: int, quality: int) -> Path:
    """A copy of `source` fitted to `side` px, made once per process in THUMBNAILS_DIR."""
    path = THUMBNAILS_DIR / name
    if not path.exists():
        images.fit(images.load(source), side).save(path, "JPEG", quality=quality)
    return path


# Paint's own scroll, in the browser: only when the painting is mostly out of view (a phone).
SCROLL_TO_PAINTING = """() => {
    const painting = document.querySelector('#painting');
    if (!painting) return;
    const box = painting.getBoundingClientRect();
    if (box.top > window.innerHeight * 0.5 || box.bottom < 0) painting.scrollIntoView({block: 'center'});
}"""

# On a phone: three paintings a row with their whole names, the gallery as tall as it needs.
CSS = """
@media (max-width: 640px) {
  #preset-gallery .grid-container { --grid-cols: 3 !important; }
  #preset-gallery, #preset-gallery .grid-wrap { height: auto !important; max-height: none !important; }
}
#preset-gallery .caption-label { white-space: normal; overflow: visible; text-overflow: clip; line-height: 1.2; }
"""


_warm_stop = threading.Event()


def _warm() -> None:
    """Compute every preset's style targets at the default schedule's sizes, once."""
    for preset in registry.presets.values():
        flt = preset.filter
        for scale in plan_scales(DEFAULT_SIZE, DEFAULT_SIZE, DEFAULT_SIZE, flt.scales, flt.iterations):
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


if ZERO_GPU:
    # Build the network here, in the main thread: its weights are faked onto CUDA and copied
    # into every GPU worker. A warm-up thread would touch CUDA outside the main thread.
    stylizer.network(DEFAULT_FILTER)
elif os.environ.get("STYLIZER_WARM", "1") != "0" and not RAY_ADDRESS:  # workers keep their own
    _warm_thread = threading.Thread(target=_warm, name="warm-presets", daemon=True)
    _warm_thread.start()
    atexit.register(_stop_warming, _warm_thread)


def gpu_seconds(photo, flt: Filter, run_id: str, mask: Mask | None = None) -> int:
    """ZeroGPU's time request for one painting: generous for its size (shorter waits in line)."""
    return int(min(300, 20 + 0.1 * flt.iterations * (flt.size / 512) ** 2))


_gpu = spaces.GPU(duration=gpu_seconds) if ZERO_GPU else (lambda fn: fn)
_cancel_flags: dict[str, threading.Event] = {}  # run id -> the flag its painting checks
_painting_threads: set[threading.Thread] = set()  # this process's paintings, for a clean exit
SHUTDOWN_WAIT_S = 30  # at exit, how long paintings get to reach their next cancel check


@_gpu
def stylize_stream(photo, flt: Filter, run_id: str, mask: Mask | None = None) -> Iterator[Progress | Result]:
    """Run one stylization in a worker thread; yield its `Progress` reports, then the `Result`.

    Only picklable values go in and out (see ZeroGPU above). `run_id` names the cancel flag
    in the process that paints: `cancel_run` reaches it when that is this process; on
    ZeroGPU, closing this generator (Gradio's cancel does) stops the painting instead.
    """
    events: queue.Queue = queue.Queue()
    cancel = _cancel_flags.setdefault(run_id, threading.Event())

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
        _cancel_flags.pop(run_id, None)


def stop_paintings(timeout: float = SHUTDOWN_WAIT_S) -> None:
    """At exit: cancel every painting and wait for its thread to stop at its next check.

    A painting thread left inside torch while the interpreter shuts down aborted the
    process ("terminate called without an active exception", exit 134), as the warm-up
    thread once did.
    """
    for flag in list(_cancel_flags.values()):
        flag.set()
    deadline = time.monotonic() + timeout
    for thread in list(_painting_threads):
        thread.join(timeout=max(0.0, deadline - time.monotonic()))


atexit.register(stop_paintings)


def cancel_run(run_id: str) -> None:
    flag = _cancel_flags.get(run_id)
    if flag is not None:
        flag.set()


# -- shared helpers ----------------------------------------------------------------------


def refusal(exc: Exception, path: str | None, what: str) -> str:
    """'Cannot use this mask (notes.jpg): not an image ...': the core's message, said once.

    The core names the file by its full path (in Gradio's upload folder, which means
    nothing to the person) and may name it twice; the page names it once, by its own name.
    """
    name = Path(path).name if path else what
    reason = str(exc)
    if path:
        for prefix in (f"mask {path}: ", f"{path}: "):
            if reason.startswith(prefix):
                reason = reason[len(prefix):]
                break
        reason = reason.replace(str(path), name)
    return f"Cannot use this {what} ({name}): {reason.rstrip('.')}."


def load_image(path: str | None, what: str = "photo"):
    """Decode an upload through the core's loader; bad files become a message for people.

    Photos larger than the app can paint are scaled down while decoding (a 48 or 108 MP
    phone photo just works); only what is decoded counts against STYLIZER_MAX_UPLOAD_PIXELS.
    """
    if not path:
        raise gr.Error(f"Add a {what} first: upload one, paste it, or take one with the webcam.")
    try:
        return images.load(path, max_pixels=MAX_UPLOAD_PIXELS, reduce_to=WORKING_SIDE)
    except StylizerError as exc:
        raise gr.Error(refusal(exc, path, what), title="Bad image") from None


def check_photo(path: str | None, size: float | None = None):
    """Right after an upload: say at once, in our own words, whether the file can be painted;
    a file that cannot is not kept as the photo. A photo far smaller than the painting is
    painted anyway, but the person hears why it will look blurred (an 8x8 photo was
    enlarged 32x without a word)."""
    if not path:
        return gr.skip(), "Ready."
    try:
        photo = load_image(path)
    except gr.Error as exc:
        return None, f"**{exc.message}**"
    ready = f"Photo ready ({photo.width}×{photo.height} px)."
    side = int(size or DEFAULT_SIZE)
    enlarged = side / max(photo.size)
    if enlarged > ENLARGE_WARNING:
        return gr.skip(), (
            f"{ready} **It is much smaller than the painting ({side} px): enlarged {enlarged:.0f}×, "
            "it will look blurred. A larger photo gives a sharper painting.**"
        )
    return gr.skip(), f"{ready} Pick a painting and press **Paint**."


def check_mask(path: str | None):
    """Right after a mask's upload, as for the photo: a file that is not an image, or one
    over the upload limit, is refused here in words, not at Paint."""
    if not path:
        return gr.skip(), gr.skip()
    try:
        mask_image(path, max_pixels=MAX_UPLOAD_PIXELS)
    except StylizerError as exc:
        return None, f"**{refusal(exc, path, 'mask')}**"
    return gr.skip(), "Mask ready: the style goes where it is white."


def check_painting(path: str | None):
    """Right after an own painting's upload: refused at once, in words, if it cannot be used."""
    if not path:
        return gr.skip(), gr.skip()
    try:
        painting = load_image(path, "painting")
    except gr.Error as exc:
        return None, f"**{exc.message}**"
    return gr.skip(), f"Painting ready ({painting.width}×{painting.height} px)."


def limit_editor_pixels(editor: gr.ImageEditor) -> gr.ImageEditor:
    """The brush canvas's layers get the upload limit before Gradio decodes them.

    Gradio's ImageEditor opens every layer in full before our handlers see it, so a call
    that sends a 169 MP layer cost 169 MP of memory; the sizes are in the files' headers.
    """
    original = editor.preprocess

    def preprocess(payload):
        for file in _editor_files(editor, payload):
            try:
                with images.Image.open(file.path if hasattr(file, "path") else io.BytesIO(file)) as layer:
                    images.check_pixels(layer, "the brush strokes", MAX_UPLOAD_PIXELS)
            except StylizerError as exc:
                raise gr.Error(f"Cannot use the brush strokes: {str(exc).split(': ', 1)[-1]}") from None
            except (OSError, ValueError, images.Image.DecompressionBombError):
                pass  # not an image: Gradio's own preprocess says so
        return original(payload)

    editor.preprocess = preprocess
    return editor


def _editor_files(editor: gr.ImageEditor, payload) -> list:
    """Every image an ImageEditor payload holds: files, or bytes it cached by id."""
    if payload is None:
        return []
    data = editor.blob_storage.get(payload.id) if payload.id is not None else payload
    if data is None:
        return []
    return [f for f in (data.background, *(data.layers or []), data.composite) if f is not None]


SERVER_PATH_REFUSAL = (
    "This app takes files only as uploads: send the file itself (gradio_client's handle_file "
    "uploads it), not a path or a file:// address on the server."
)


def refuse_server_paths(blocks: gr.Blocks) -> None:
    """Answer a call that names a file on the server with our own words.

    Gradio refuses such a file (good) with a message that echoes the path, and for a
    file:// address the app's working folder ("Cannot move /srv/app/file:/etc/passwd to
    the gradio cache dir because it was not uploaded by a user"). Its refusals come from
    Blocks.preprocess_data (gradio 6: processing_utils._check_allowed raises
    InvalidPathError, check_all_files_in_cache a gr.Error), before any handler of ours runs,
    so that is where they are replaced.
    """
    original = blocks.preprocess_data

    async def preprocess_data(*args, **kwargs):
        try:
            return await original(*args, **kwargs)
        except InvalidPathError:
            raise gr.Error(SERVER_PATH_REFUSAL, title="Not an upload") from None
        except gr.Error as exc:
            if "is not in the cache folder" in str(exc.message):
                raise gr.Error(SERVER_PATH_REFUSAL, title="Not an upload") from None
            raise

    blocks.preprocess_data = preprocess_data


def raw_path_upload(component: gr.Image) -> gr.Image:
    """Hand our handlers the uploaded file's path without Gradio opening it first.

    Gradio's own check opens every upload with Pillow and, for a file that is not an
    image (or a photo over Pillow's limit), shows its internal "Could not preprocess input
    component" text; our loader gives the reason in words instead.
    """
    original = component.preprocess

    def preprocess(payload):
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return str(payload.path)
        return original(payload)

    component.preprocess = preprocess
    return component


def build_filter(
    preset: str | None,
    styles: list[tuple[str, float]] | None = None,
    *,
    strength: float | None = None,
    auto_strength: bool | None = None,
    size: int | None = None,
    iterations: int | None = None,
    seed: int | None = None,
    init: str | None = None,
    preserve_color: str | None = None,
    layer_weights: tuple[float, ...] | None = None,
    tv_weight: float | None = None,
    optimizer: str | None = None,
    scales: int | None = None,
) -> Filter:
    """The one place controls become a `Filter`: a preset (or own paintings) plus overrides.

    A `None` keeps the preset's (or the paper's) value. Used by the UI and the API alike.
    With `auto_strength` the strength is chosen per photo (stylizer.strength) and
    `strength` is not used.
    """
    if size is not None and int(size) > MAX_SIZE:
        raise gr.Error(f"Output size {int(size)} px is above this app's limit of {MAX_SIZE} px; choose {MAX_SIZE} or less.")
    try:
        if preset:
            base = registry.get(preset).filter
        elif styles:
            base = Filter(styles=tuple(StyleImage(load_image(path, "painting"), weight=float(w)) for path, w in styles))
        else:
            raise gr.Error("Choose a preset, or upload at least one painting under “Your own style”.")
        # The preset's own value stays exact unless the control really moved: strength 6 and
        # alpha/beta 1e-6 differ in the last bit, and a preset must stay one Filter.
        moved = strength is not None and abs(float(strength) - base.strength) > 1e-6
        if auto_strength:
            base = base.replace(**strength_fields(AUTO))
            moved = False
        elif auto_strength is False and base.auto_strength:
            base = base.replace(auto_strength=False)
        if layer_weights is not None and base.style_layers != STYLE_LAYERS:
            layer_weights = None  # the page's five weights are for conv1_1..conv5_1 only
        changes = {
            "ratio": ratio_from_strength(float(strength)) if moved else None,
            "size": int(size) if size is not None else (MAX_SIZE if base.size > MAX_SIZE else None),
            "iterations": None if iterations is None else int(iterations),
            "seed": None if seed is None else int(seed),
            "init": init,
            "preserve_color": preserve_color,
            "layer_weights": None if layer_weights is None else tuple(float(w) for w in layer_weights),
            "tv_weight": None if tv_weight is None else float(tv_weight),
            "optimizer": optimizer,
            "scales": None if scales is None else int(scales),
        }
        return base.replace(**{k: v for k, v in changes.items() if v is not None})
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None


def save_result(result: Result, photo_path: str | None) -> str:
    """Full-quality PNG with the parameters in its metadata, in a fresh temp folder."""
    return save_image(result.image, result.metadata(), photo_path)


RESULTS_DIR = Path(tempfile.mkdtemp(prefix="stylizer-results-"))
atexit.register(shutil.rmtree, RESULTS_DIR, ignore_errors=True)


def save_image(image, metadata: dict, photo_path: str | None) -> str:
    """One folder per result (its name is the user's photo's), under one folder per process."""
    forget_old_results()
    stem = Path(photo_path).stem if photo_path else "photo"
    folder = Path(tempfile.mkdtemp(dir=RESULTS_DIR))
    return str(images.save(image, folder / f"{stem}-painted.png", metadata=metadata))


def forget_old_results(max_age_s: float = RESULT_MAX_AGE_S) -> None:
    """Delete results and mask canvases older than `max_age_s`: a result is a folder, a
    canvas a file (rmtree skipped those silently, so canvases were never deleted)."""
    oldest = time.time() - max_age_s
    for entry in RESULTS_DIR.iterdir():
        try:
            if entry.stat().st_mtime < oldest:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink()
        except OSError:
            pass  # removed by a concurrent request


def describe_preset(preset_id: str | None) -> str:
    preset = registry.presets.get(preset_id or "")
    if preset is None:
        return ""
    credit = f"  \n*{preset.credit}*" if preset.credit else ""
    return f"**{preset.name}** — {preset.description}{credit}"


def status_line(p: Progress) -> str:
    bar = f"<progress value='{p.iteration}' max='{p.iterations}' style='width:100%'></progress>"
    return f"{bar}\nScale {p.scale}/{p.scales} ({p.size[0]}×{p.size[1]}) · iteration {p.iteration}/{p.iterations} · {p.elapsed:.0f} s"


# -- UI callbacks ------------------------------------------------------------------------

_running: dict[str, str] = {}  # session -> run id of its current painting
_waiting: dict[str, float] = {}  # session -> when it pressed Paint, until its painting starts
# session -> the ticket of its latest Paint press whose painting has not started. The painting
# waits in Gradio's queue as its own event, which Cancel does not remove: without this check
# a painting cancelled while waiting still ran when its turn came.
_tickets: dict[str, str] = {}
_work: dict[str, float] = {}  # session -> its painting's size in iterations x pixels, queued or running
_seconds_per_unit: list[float] = []  # measured on recent paintings, for the queue estimate


def _work_units(flt: Filter) -> float:
    return float(flt.iterations * flt.size * flt.size)


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def controls_filter(content, mode, preset_id, rest) -> tuple[object, Filter, str, Mask | None]:
    """The photo, the `Filter`, the quality name and the mask that the UI's controls describe."""
    own = rest[: 2 * OWN_STYLE_SLOTS]
    strength, auto_strength, quality_name, size, init, colour, seed, *advanced = rest[2 * OWN_STYLE_SLOTS :]
    layer_weights, (tv_weight, optimizer, scales), mask_controls = advanced[:5], advanced[5:8], advanced[8:]
    photo = load_image(content)
    mask = controls_mask(*mask_controls)
    styles = [(path, w) for path, w in zip(own[0::2], own[1::2]) if path]
    flt = build_filter(
        preset_id if mode == "preset" else None, styles,
        strength=strength, auto_strength=bool(auto_strength), size=size, seed=seed or 0, init=init,
        preserve_color=colour, layer_weights=layer_weights, tv_weight=tv_weight,
        optimizer=optimizer, scales=scales,
    )
    if quality_name == "draft":
        return photo, flt.replace(iterations=max(1, flt.iterations // 2)), quality_name, mask
    return photo, for_quality(flt, quality_name or "normal"), quality_name, mask


def controls_mask(brushed, uploaded: str | None, rest_preset: str | None) -> Mask | None:
    """The mask panel's answer: an uploaded mask wins over brush strokes; none of either, no mask.

    The brush paints on a transparent layer over the photo, so where it touched is the mask.
    """
    layers = brushed.get("layers") or [] if isinstance(brushed, dict) else []
    strokes = next((layer for layer in layers if layer is not None and layer.getextrema()[-1][1] > 0), None)
    if strokes is not None:  # the brush is see-through, so the photo shows: every touched pixel counts fully
        strokes = strokes.getchannel("A").point(lambda alpha: 255 if alpha else 0)
    if uploaded is None and strokes is None:
        return None
    try:
        source = mask_image(uploaded, max_pixels=MAX_UPLOAD_PIXELS) if uploaded else strokes
    except StylizerError as exc:
        raise gr.Error(refusal(exc, uploaded, "mask"), title="Bad mask") from None
    try:
        outside = registry.get(rest_preset).filter if rest_preset else None
        return Mask(source, outside)
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None


def mask_canvas(photo_path: str | None):
    """The brush's canvas shows the photo the mask is for (and forgets strokes for another)."""
    if not photo_path:
        return None
    try:
        canvas = images.fit(load_image(photo_path), MASK_CANVAS_SIDE)
    except gr.Error:
        return None  # not a photo: check_photo says so
    path = RESULTS_DIR / f"canvas-{uuid.uuid4().hex}.jpg"
    canvas.convert("RGB").save(path, "JPEG", quality=85)
    return {"background": str(path), "layers": [], "composite": None}


def queue_sentence(session: str) -> str:
    """'2 paintings ahead of yours, about 40 s': the work ahead and yours, at the measured speed."""
    _forget_abandoned()
    pressed = _waiting.get(session, time.monotonic())
    ahead = [other for other in _running if other != session]
    ahead += [other for other, when in _waiting.items() if other != session and when < pressed]
    if not ahead:
        return "painting the full version now"
    recent = _seconds_per_unit[-RECENT_PAINTINGS:]
    rate = sum(recent) / len(recent) if recent else TYPICAL_SECONDS_PER_UNIT
    seconds = rate * (sum(_work.get(other, 0.0) for other in ahead) + _work.get(session, 0.0))
    paintings = "painting" if len(ahead) == 1 else "paintings"
    return f"{len(ahead)} {paintings} ahead of yours, about {seconds:.0f} s"


def _forget_abandoned() -> None:
    """A tab closed between its instant painting and its turn never starts painting: after
    WAITING_MAX_S its place in line no longer counts."""
    too_old = time.monotonic() - WAITING_MAX_S
    for session in [s for s, when in _waiting.items() if when < too_old]:
        _waiting.pop(session, None)
        _tickets.pop(session, None)
        if session not in _running:
            _work.pop(session, None)


def instant(request: gr.Request, content, mode, preset_id, *rest):
    """Paint's first answer, outside the queue: the feed-forward painting in well under a second.

    Also hands out the ticket that `paint` checks: only the latest press, not cancelled, paints.
    """
    photo, flt, quality_name, mask = controls_filter(content, mode, preset_id, rest)
    session = _session(request)
    try:
        preview = stylizer.preview(photo, flt, mask)
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None
    if quality_name == "instant":  # the whole answer: paint() below has nothing left to do
        path = save_image(preview, {"filter": flt.describe(), "quality": "instant"}, content)
        before = images.fit(photo, max(preview.size))
        return preview, "Instant painting ready.", gr.DownloadButton(value=path, visible=True), (before, preview), None
    _waiting[session] = time.monotonic()
    _work[session] = _work_units(flt)
    ticket = _tickets[session] = uuid.uuid4().hex
    return preview, f"Instant preview; {queue_sentence(session)}.", gr.DownloadButton(visible=False), None, ticket


def paint(request: gr.Request, ticket: str | None, content, mode, preset_id, *rest):
    """Streaming handler: live previews and a progress line, then result, download, comparison.

    `request` comes first: Gradio fills in only positional parameters, and with `request`
    after `*rest` it stayed None, so every run shared one cancel flag that `stop` never found.
    A painting whose ticket is no longer its session's (cancelled while it waited, or
    Paint pressed again since) paints nothing.
    """
    session = _session(request)
    if ticket is None or _tickets.get(session) != ticket:
        yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return
    del _tickets[session]
    _waiting.pop(session, None)
    photo, flt, quality_name, mask = controls_filter(content, mode, preset_id, rest)
    if quality_name == "instant":  # instant() already answered; an empty stream would clear it
        yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return
    run_id = uuid.uuid4().hex
    _running[session] = run_id
    _work[session] = _work_units(flt)
    skip = gr.skip()
    try:
        # closing(): the painting stops as soon as this handler ends (done, cancelled or gone).
        with contextlib.closing(stylize_stream(photo, flt, run_id, mask)) as stream:
            yield from _updates(stream, photo, flt, content)
    except Cancelled:
        yield skip, "Stopped. Change something and press **Paint** to try again.", skip, skip
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None
    finally:
        if _running.get(session) == run_id:
            del _running[session]
            if session not in _waiting:  # Paint pressed again meanwhile: that request's size stays
                _work.pop(session, None)


def _updates(stream, photo, flt: Filter, content):
    """The page's updates for one painting's stream: previews, progress, then the result."""
    skip = gr.skip()
    last_status = 0.0
    for item in stream:
        if isinstance(item, Progress):
            now = time.monotonic()
            if item.preview is not None or now - last_status >= STATUS_EVERY_S:
                last_status = now
                # Live previews come from the coarse scales: shown at the final size, never as a thumbnail.
                shown = images.fit(item.preview, flt.size) if item.preview is not None else skip
                yield shown, status_line(item), skip, skip
            continue
        _seconds_per_unit.append(item.stats.seconds / _work_units(flt))
        del _seconds_per_unit[:-RECENT_PAINTINGS]
        path = save_result(item, content)
        stats = item.stats
        done = (
            f"Done in **{stats.seconds:.1f} s** · {stats.iterations} iterations · "
            f"{item.image.width}×{item.image.height} px{strength_words(flt, stats)} · {painter.description}"
        )
        before = images.fit(photo, max(item.image.size))
        yield item.image, done, gr.DownloadButton(value=path, visible=True), (before, item.image)


def strength_words(flt: Filter, stats) -> str:
    """With "Choose the strength for me", the strength it chose: the box promised a choice,
    and the page never said which."""
    if not flt.auto_strength or stats.strength is None:
        return ""
    if stats.auto_level is None:  # one scale (Quick, or a small painting): nothing was measured
        return f" · strength {stats.strength:.1f} (one scale: not measured, the default)"
    return f" · strength **{stats.strength:.1f}**, chosen for this photo"


def stop(request: gr.Request = None):
    session = _session(request)
    _tickets.pop(session, None)  # a painting still waiting in line never starts
    if _waiting.pop(session, None) is not None:
        _work.pop(session, None)
        return "Cancelled. Change something and press **Paint** to try again."
    run_id = _running.get(session)
    if run_id is None:
        return gr.skip()
    cancel_run(run_id)  # in this process at once; on ZeroGPU, Gradio's cancel closes the stream
    return "Stopped. Change something and press **Paint** to try again."


def preset_controls(
    preset_id: str | None, strength_touched: bool = False, strength_now: float | None = None, auto_now: bool = False
):
    """A preset's own settings fill the controls, so Paint sends exactly the preset's Filter.

    A strength the user chose stays (and the note says so, unless the strength is chosen
    for the photo, when no slider value is used); the layer weights apply only to presets
    that use the page's five layers, and say so otherwise.
    """
    preset = registry.presets.get(preset_id or "")
    if preset is None:
        return (gr.skip(),) * (7 + len(LAYER_LABELS) + 4)
    f = preset.filter
    index = PRESET_IDS.index(preset.id)
    own_layers = f.style_layers == STYLE_LAYERS
    if own_layers:
        weights = [gr.Number(value=w, interactive=True) for w in f.layer_weights]
    else:
        weights = [gr.Number(interactive=False)] * len(LAYER_LABELS)
    strength = max(0.0, min(10.0, f.strength))
    auto = auto_now if strength_touched else f.auto_strength
    note = preset_note(preset.id, strength_touched, strength_now, auto)
    if strength_touched and strength_now is not None:
        strength = gr.skip()
    auto = gr.skip() if strength_touched else auto
    return (
        note,
        gr.Gallery(selected_index=index),
        strength,
        min(f.size, MAX_SIZE),
        f.seed,
        f.preserve_color,
        f.init,
        *weights,
        f.tv_weight,
        f.optimizer,
        f.scales,
        auto,
    )


def preset_note(preset_id: str | None, strength_touched: bool, strength_now: float | None, auto: bool) -> str:
    """The preset's description, and what of its settings the page does not use.

    Also called when "Choose the strength for me" is ticked or unticked: "Your strength
    2.5 is kept" stayed after re-ticking, though the slider was then no longer used.
    """
    preset = registry.presets.get(preset_id or "")
    if preset is None:
        return ""
    f = preset.filter
    note = describe_preset(preset.id)
    if f.style_layers != STYLE_LAYERS:
        note += f"  \n*Uses its own style layers ({', '.join(f.style_layers)}); the layer weights below do not apply.*"
    own = max(0.0, min(10.0, f.strength))
    if auto:
        note += "  \n*The strength is chosen for your photo while it paints; the result says which.*"
    elif strength_touched and strength_now is not None and abs(float(strength_now) - own) > 1e-6:
        note += f"  \n*Your strength {float(strength_now):g} is kept; this preset's own is {own:.3g}.*"
    return note


def auto_strength_changed(auto: bool, preset_id: str | None, mode: str, strength_touched: bool, strength_now: float):
    """Ticking or unticking: the slider is usable only unticked, and the note says what is used."""
    note = preset_note(preset_id, strength_touched, strength_now, auto) if mode == "preset" else gr.skip()
    return gr.Slider(interactive=not auto), note


def pick_preset(evt: gr.SelectData):
    return PRESET_IDS[evt.index]


# -- API ---------------------------------------------------------------------------------


def api_stylize(
    content: str,
    preset: str = DEFAULT_PRESET,
    style: str | None = None,
    strength: float | None = None,
    size: int | None = None,
    iterations: int | None = None,
    seed: int | None = None,
    auto_strength: bool = False,
) -> str:
    """Paint `content` with a preset (by id) or, when `preset` is empty, with the painting `style`.

    Left out (None), strength, size, iterations and seed are the preset's own (or the
    paper's defaults for a painting); a strength given is used as it is, even with a
    preset whose strength is auto. `auto_strength` chooses the strength for this photo and
    painting instead (stylizer.strength). Returns the painted image as a PNG file whose
    metadata holds the parameters used.
    """
    photo = load_image(content)
    flt = build_filter(
        preset or None, [(style, 1.0)] if style else None,
        # A strength given wins over a preset's auto; none given keeps the preset's own.
        strength=strength, auto_strength=True if auto_strength else (False if strength is not None else None),
        size=size, iterations=iterations, seed=seed,
    )
    try:
        result = None
        with contextlib.closing(stylize_stream(photo, flt, uuid.uuid4().hex)) as stream:
            for item in stream:
                result = item
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None
    return save_result(result, content)


# -- layout ------------------------------------------------------------------------------

# Gradio 6 takes the page's CSS in launch(): every launch passes css=CSS.
with gr.Blocks(title="Stylizer — paint your photo", delete_cache=(RESULT_MAX_AGE_S, RESULT_MAX_AGE_S)) as demo:
    gr.Markdown(
        "# Stylizer — paint your photo like a masterpiece\n"
        "Pick a photo and a painting, press **Paint**, and watch the painting appear "
        "([Gatys et al.](https://arxiv.org/abs/1508.06576) neural style transfer)."
    )
    mode = gr.State("preset")
    # Photo, Paint and the painting come first, so on a phone Paint sits right under the
    # photo and the result right under Paint; the style and the settings follow.
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            content = raw_path_upload(gr.Image(
                label="Your photo", type="filepath", image_mode=None,
                sources=["upload", "webcam", "clipboard"], height=320, elem_id="photo",
            ))
            with gr.Row():
                run_button = gr.Button("Paint", variant="primary", scale=3, elem_id="paint")
                stop_button = gr.Button("Cancel", variant="stop", scale=1, elem_id="cancel")
            status = gr.Markdown("Ready.", elem_id="status")
            with gr.Accordion("Paint only part of the photo", open=False, elem_id="mask-panel"):
                mask_editor = limit_editor_pixels(gr.ImageEditor(
                    label="Brush over where the style goes", type="pil", image_mode="RGBA", sources=(),
                    layers=False, transforms=(), eraser=gr.Eraser(), height=320, elem_id="mask-editor",
                    brush=gr.Brush(colors=["rgba(255, 45, 85, 0.45)"], color_mode="fixed", default_size=40),
                ))
                with gr.Row():
                    mask_file = raw_path_upload(gr.Image(
                        label="…or upload a mask (white = style)", type="filepath", image_mode=None,
                        sources=["upload", "clipboard"], height=120, elem_id="mask-file",
                    ))
                    mask_rest = gr.Dropdown(
                        choices=[("Keep the photo", "")] + [(p.name, p.id) for p in registry.presets.values()],
                        value="", label="The rest of the photo", elem_id="mask-rest",
                        info="stays the photo, or takes a second painting",
                    )
        with gr.Column(scale=1):
            with gr.Tabs():  # the comparison as a tab: no tall empty panel before there is a result
                with gr.Tab("Painting"):
                    # Shown as JPEG: a tenth of a PNG's bytes and 40x faster to encode, for every live
                    # update on a phone's connection; the download is the full-quality PNG.
                    output = gr.Image(label="Painting", type="pil", format="jpeg", interactive=False, height=420,
                                      elem_id="painting")
                with gr.Tab("Before / after"):
                    compare = gr.ImageSlider(label="Before / after", type="pil", interactive=False, max_height=420,
                                             elem_id="compare")
            download = gr.DownloadButton("Download full-quality PNG", visible=False, elem_id="download")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            with gr.Tabs():
                with gr.Tab("Presets") as preset_tab:
                    gallery = gr.Gallery(
                        value=[(str(gallery_thumbnail(p)), p.name) for p in registry.presets.values()],
                        label="Choose a painting", columns=5, height=250, object_fit="cover",
                        allow_preview=False, selected_index=PRESET_IDS.index(DEFAULT_PRESET) if DEFAULT_PRESET else None,
                        interactive=False, elem_id="preset-gallery",
                    )
                    preset = gr.Dropdown(
                        choices=[(p.name, p.id) for p in registry.presets.values()],
                        value=DEFAULT_PRESET, label="Preset", elem_id="preset",
                    )
                    preset_info = gr.Markdown(preset_note(DEFAULT_PRESET, False, None, DEFAULT_FILTER.auto_strength))
                with gr.Tab("Your own style") as own_tab:
                    gr.Markdown("Upload one to three paintings; the weights set how much of each goes into the mix.")
                    own_inputs = []
                    with gr.Row():
                        for i in range(OWN_STYLE_SLOTS):
                            with gr.Column(min_width=120):
                                own_inputs.append(raw_path_upload(gr.Image(
                                    label=f"Painting {i + 1}", type="filepath", image_mode=None,
                                    sources=["upload", "clipboard"], height=160, elem_id=f"own-painting-{i + 1}",
                                )))
                                own_inputs.append(gr.Slider(0.1, 5, value=1, step=0.1, label="Weight"))
        with gr.Column(scale=1):
            strength = gr.Slider(0, 10, value=max(0.0, min(10.0, DEFAULT_FILTER.strength)), step=0.1,
                                 label="Style strength", info="0 keeps the photo, 10 is pure painting texture",
                                 elem_id="strength", interactive=not DEFAULT_FILTER.auto_strength)
            auto_strength = gr.Checkbox(value=DEFAULT_FILTER.auto_strength, label="Choose the strength for me",
                                        info="Draft, Normal and High measure your photo and painting while "
                                             "they paint, so every pair comes out about equally painted; "
                                             "Instant and Quick paint at 6", elem_id="auto-strength")
            strength_touched = gr.State(False)  # set once the user moves it: presets then keep it
            with gr.Row():
                quality = gr.Radio(QUALITY, value="normal", label="Quality", info=QUALITY_INFO, elem_id="quality")
                size = gr.Slider(64, MAX_SIZE, value=min(DEFAULT_FILTER.size, MAX_SIZE), step=32,
                                 label="Output size (long side, px)",
                                 elem_id="size")
            with gr.Row():
                init = gr.Radio(INIT_CHOICES, value=DEFAULT_FILTER.init, label="Start from")
                colour = gr.Radio(COLOR_CHOICES, value=DEFAULT_FILTER.preserve_color, label="Colours")
            seed = gr.Number(value=DEFAULT_FILTER.seed, precision=0, minimum=0, label="Seed",
                             info="same seed and settings, same picture")
            with gr.Accordion("Advanced", open=False):
                with gr.Row():
                    layer_weights = [
                        gr.Number(value=w, minimum=0, label=label, min_width=90)
                        for w, label in zip(DEFAULT_FILTER.layer_weights, LAYER_LABELS)
                    ]
                with gr.Row():
                    tv_weight = gr.Number(value=DEFAULT_FILTER.tv_weight, minimum=0, label="Smoothing (TV weight)")
                    optimizer = gr.Radio(["lbfgs", "adam"], value=DEFAULT_FILTER.optimizer, label="Optimizer")
                    scales = gr.Slider(1, 5, value=DEFAULT_FILTER.scales, step=1, label="Scales (coarse to fine)",
                                       info="up to 512 px; larger paintings add one per doubling")

    if EXAMPLES.is_dir():  # the repository's photos; an installed package has none
        # Shown as thumbnails (gr.Examples showed the 1024 px photos: 580 KB of the page);
        # a click loads the 1024 px photo to paint.
        examples = gr.Dataset(
            components=[content, preset], label="Try an example", type="index", elem_id="examples",
            samples=[[str(example_thumbnail(name)), preset_id] for name, preset_id in EXAMPLE_PAIRS],
        )
    if registry.errors:
        gr.Markdown("Presets that could not be loaded:\n" + "\n".join(f"- `{e}`" for e in registry.errors))

    # API-only inputs (hidden): plain values and files, so clients get our messages.
    with gr.Row(visible=False):
        api_inputs = [
            gr.File(label="content", type="filepath"),
            gr.Textbox(label="preset", value=DEFAULT_PRESET),
            gr.File(label="style", type="filepath"),
            gr.Number(label="strength", value=None),
            gr.Number(label="size", value=None, precision=0),
            gr.Number(label="iterations", value=None, precision=0),
            gr.Number(label="seed", value=None, precision=0),
            gr.Checkbox(label="auto_strength", value=False),
        ]
        api_output = gr.Image(label="painting", type="filepath", format="png")
        api_button = gr.Button("api")

    if EXAMPLES.is_dir():
        examples.click(load_example, examples, [content, preset, status], api_visibility="private", queue=False)
    # On a phone the painting sits below the photo, Cancel, the status and the mask panel:
    # Paint brings it into view (it started at y=812 of an 844 px screen).
    run_button.click(None, None, None, js=SCROLL_TO_PAINTING, queue=False)
    content.upload(check_photo, [content, size], [content, status], api_visibility="private", queue=False,
                   show_progress="hidden")
    mask_file.upload(check_mask, mask_file, [mask_file, status], api_visibility="private", queue=False,
                     show_progress="hidden")
    for own_painting in own_inputs[0::2]:
        own_painting.upload(check_painting, own_painting, [own_painting, status], api_visibility="private",
                            queue=False, show_progress="hidden")
    content.change(mask_canvas, content, mask_editor, api_visibility="private", queue=False, show_progress="hidden")
    preset_tab.select(lambda: "preset", None, mode, api_visibility="private", queue=False)
    own_tab.select(lambda: "own", None, mode, api_visibility="private", queue=False)
    gallery.select(pick_preset, None, preset, api_visibility="private", queue=False)
    strength.input(lambda: True, None, strength_touched, api_visibility="private", queue=False)
    auto_strength.input(lambda: True, None, strength_touched, api_visibility="private", queue=False)
    auto_strength.change(auto_strength_changed, [auto_strength, preset, mode, strength_touched, strength],
                         [strength, preset_info], api_visibility="private", queue=False, show_progress="hidden")
    preset.change(
        preset_controls, [preset, strength_touched, strength, auto_strength],
        [preset_info, gallery, strength, size, seed, colour, init, *layer_weights, tv_weight, optimizer, scales,
         auto_strength],
        api_visibility="private", queue=False,
    )
    paint_inputs = [content, mode, preset, *own_inputs, strength, auto_strength, quality, size, init, colour, seed,
                    *layer_weights, tv_weight, optimizer, scales, mask_editor, mask_file, mask_rest]
    paint_outputs = [output, status, download, compare]
    ticket = gr.State(None)  # instant() hands it to paint(): see _tickets
    # The instant painting has its own unlimited lane in the queue, so it shows at once even
    # while others paint (and its errors arrive as the usual message, like the painting's).
    preview_event = run_button.click(
        instant, paint_inputs, [*paint_outputs, ticket], api_visibility="undocumented", show_progress="hidden",
        concurrency_id="instant", concurrency_limit=None,
    )
    run_event = preview_event.success(
        paint, [ticket, *paint_inputs], paint_outputs,
        api_visibility="undocumented", concurrency_id="stylize", show_progress="hidden",
    )
    # Cancel sets the painting's flag (`stop`), and the painting's own stream then ends with
    # "Stopped", after any progress it had already sent. Cancelling that stream in Gradio too
    # let a progress line sent just before land after "Stopped" and stay there. On ZeroGPU the
    # flag cannot reach the worker process, so there Gradio's cancel closes the stream.
    cancelled = [preview_event, run_event] if ZERO_GPU else [preview_event]
    stop_button.click(stop, None, status, cancels=cancelled, queue=False, api_visibility="private")
    api_button.click(api_stylize, api_inputs, api_output, api_name="stylize", concurrency_id="stylize")


refuse_server_paths(demo)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the server the way Ctrl-C does: cleanly, exit 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    watch_service = None
    if os.environ.get("STYLIZER_DAEMON_CONFIG"):
        import logging

        from daemon.config import read_config
        from daemon.service import WatchService

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(message)s")
        daemon_config = Path(os.environ["STYLIZER_DAEMON_CONFIG"]).resolve()
        watch_service = WatchService(lambda: read_config(daemon_config), painter=painter)
        watch_service.start()
    try:
        demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE).launch(
            show_error=True, max_file_size=f"{MAX_UPLOAD_MB}mb", css=CSS,
        )
    except KeyboardInterrupt:
        demo.close()  # interrupted while launch() was still starting up: stop just as cleanly
    finally:
        if watch_service is not None:
            watch_service.stop()
