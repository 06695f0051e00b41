"""Colour preservation stays on the image's device and dtype (CUDA and MPS broke before).

Every test machine is CPU-only, so this watches what the code does to the image tensors:
no float64 copies (MPS has none) and no mixing of devices, while the 3x3 statistics may
use float64 on the CPU.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

from stylizer.color import match_histogram


class TensorWatch(TorchFunctionMode):
    """Records, for every torch call, the largest tensor involved and the dtypes and devices seen."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int, set, set]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        tensors = [t for t in (*args, *kwargs.values(), result) if isinstance(t, torch.Tensor)]
        if tensors:
            self.calls.append((
                getattr(func, "__name__", str(func)),
                max(t.numel() for t in tensors),
                {t.dtype for t in tensors},
                {t.device for t in tensors},
            ))
        return result


def _reference(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The same transform, all in float64, written independently."""
    s, c = style[0].reshape(3, -1).double(), content[0].reshape(3, -1).double()

    def sqrtm(m):
        values, vectors = torch.linalg.eigh(m)
        return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T

    cov_s = torch.cov(s) + 1e-5 * torch.eye(3, dtype=torch.float64)
    cov_c = torch.cov(c) + 1e-5 * torch.eye(3, dtype=torch.float64)
    out = sqrtm(cov_c) @ torch.linalg.inv(sqrtm(cov_s)) @ (s - s.mean(1, keepdim=True)) + c.mean(1, keepdim=True)
    return out.reshape(style.shape).clamp(0, 255)


def test_histogram_matching_keeps_image_tensors_in_their_dtype():
    generator = torch.Generator().manual_seed(0)
    style = torch.rand((1, 3, 48, 64), generator=generator) * torch.tensor([255.0, 120.0, 60.0]).view(1, 3, 1, 1)
    content = torch.rand((1, 3, 48, 64), generator=generator) * 255
    with TensorWatch() as watch:
        matched = match_histogram(style, content)
    image_sized = [call for call in watch.calls if call[1] >= style.numel()]
    assert image_sized, "the watch saw no image-sized tensor"
    doubles = [call[0] for call in image_sized if torch.float64 in call[2]]
    assert not doubles, f"float64 copies of the image (impossible on MPS): {doubles}"
    assert all(len(call[3]) == 1 for call in watch.calls), "an operation mixed devices"
    assert matched.dtype == style.dtype and matched.device == style.device
    assert torch.allclose(matched.double(), _reference(style, content), atol=0.05)
