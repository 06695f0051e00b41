"""Choosing where and in what precision to compute.

bf16 halves memory traffic and runs on matrix units where the hardware has them (CUDA
tensor cores, Intel AMX / AVX-512-BF16); elsewhere it is emulated and *slower* than fp32,
so 'auto' picks it only where the hardware says it is native.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from .errors import StylizerError

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
_CPU_BF16_FLAGS = {"amx_bf16", "avx512_bf16"}


def resolve_device(name: str = "auto") -> torch.device:
    """cuda, then mps, then cpu for 'auto'; a clear error when the named one is missing."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise StylizerError(f"device: expected one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise StylizerError("device: CUDA was requested but no CUDA GPU is available; use --device cpu")
    if name == "mps" and not _mps_available():
        raise StylizerError("device: MPS was requested but is not available; use --device cpu")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """fp32 or bf16; 'auto' means bf16 only where it is fast on `device`."""
    if name not in PRECISIONS:
        raise StylizerError(f"precision: expected one of {', '.join(PRECISIONS)}, got {name!r}")
    if name == "fp32":
        return torch.float32
    if name == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float32
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU advertises AMX-BF16 or AVX-512-BF16 (Linux /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(_CPU_BF16_FLAGS & set(line.split()))
    return False


def precision_name(dtype: torch.dtype) -> str:
    return "bf16" if dtype == torch.bfloat16 else "fp32"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
