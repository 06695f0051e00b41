"""Image input/output: everything a real photo throws at us, turned into clean RGB.

Phones write EXIF rotation instead of rotating pixels, scanners write 16-bit or CMYK,
web images carry palettes and alpha. Each is normalized here once so the optimizer only
ever sees 8-bit-range RGB, and a hostile file fails with a message instead of a crash.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from .errors import ImageError

ImageSource = Union[str, Path, bytes, Image.Image]

# Refuse anything larger before decoding: a 40 MP photo is plenty, bombs are far larger.
MAX_INPUT_PIXELS = 64_000_000
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
METADATA_KEY = "stylizer"


def load(source: ImageSource, max_pixels: int = MAX_INPUT_PIXELS, reduce_to: int | None = None) -> Image.Image:
    """Open any supported image as upright 8-bit RGB, refusing oversized ones before decoding.

    With `reduce_to`, the result's long side is at most that, and a JPEG is decoded at 1/2,
    1/4 or 1/8 scale on the way: a 108 MP phone photo then costs what a 7 MP one does, and
    `max_pixels` applies to what is actually decoded.
    """
    name = describe(source)
    if isinstance(source, Image.Image):
        check_pixels(source, name, max_pixels)
        rgb = to_rgb(source)
    else:
        rgb = _decode(source, name, max_pixels, reduce_to)
    if reduce_to is not None and max(rgb.size) > reduce_to:
        rgb = fit(rgb, reduce_to)
    return rgb


def _decode(source: str | Path | bytes, name: str, max_pixels: int, reduce_to: int | None) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP; a reduced JPEG decode is far smaller (its hard limit stays).
            warnings.simplefilter("ignore" if reduce_to else "error", Image.DecompressionBombWarning)
            stream = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
            with stream:
                image = Image.open(stream)
                if reduce_to is not None:
                    image.draft("RGB", (reduce_to, reduce_to))
                check_pixels(image, name, max_pixels)
                image.load()
                return to_rgb(image)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a folder, not an image") from None
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image (or a format Pillow cannot read)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name}: image is too large to process safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: cannot decode image ({exc})") from None


def digest(image: Image.Image) -> str:
    """A short fingerprint of an image's pixels: equal pixels, equal digest."""
    return hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest() + f"-{image.mode}-{image.size}"


def to_rgb(image: Image.Image) -> Image.Image:
    """Upright RGB: EXIF rotation applied, alpha flattened on white, 16-bit scaled down."""
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # animated: the first frame is the photo a person expects
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        depth = 65535.0 if mode.startswith("I;16") or np.asarray(image).max() > 255 else 255.0
        array = np.asarray(image, dtype=np.float64) * (255.0 / depth)
        image = Image.fromarray(np.clip(array + 0.5, 0, 255).astype(np.uint8), "L")
    elif mode == "F":
        array = np.asarray(image, dtype=np.float64)
        scale = 255.0 if array.max() <= 1.0 else 1.0
        image = Image.fromarray(np.clip(array * scale + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def fit(image: Image.Image, long_side: int) -> Image.Image:
    """Resize so the longer side is `long_side`, keeping aspect; high-quality filter."""
    width, height = image.size
    scale = long_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def to_tensor(image: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """(1, 3, H, W) float32 RGB in 0..255, the scale VGG's Caffe weights expect."""
    array = np.array(image, dtype=np.uint8)  # a writable copy: torch refuses read-only buffers
    return torch.from_numpy(array).to(device).permute(2, 0, 1).unsqueeze(0).float().contiguous()


def to_image(tensor: torch.Tensor) -> Image.Image:
    """Back to an 8-bit RGB image, clamping whatever left the valid range."""
    array = tensor.detach()[0].float().clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0)
    return Image.fromarray(array.cpu().numpy(), "RGB")


def resize_tensor(tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a (1, 3, H, W) image tensor to (H, W); used to carry pixels to the next scale."""
    if tuple(tensor.shape[-2:]) == tuple(size):
        return tensor
    return F.interpolate(tensor, size=size, mode="bicubic", align_corners=False, antialias=True)


def save(image: Image.Image, path: str | Path, metadata: dict | None = None, quality: int = 95) -> Path:
    """Write in the format the extension names; parameters go into PNG text metadata."""
    path = Path(path)
    path.write_bytes(encode(image, output_format(path), metadata, quality))
    return path


def encode(image: Image.Image, fmt: str, metadata: dict | None = None, quality: int = 95) -> bytes:
    """The file's bytes, made in memory, so a writer can check that all of them reached the disk."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_options(fmt, metadata, quality))
    return buffer.getvalue()


def output_format(path: str | Path) -> str:
    """The Pillow format for an output path; raises before any work if it cannot be written."""
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"{path}: unsupported output extension {path.suffix or '(none)'!r}; "
            f"use one of {', '.join(sorted(SAVE_FORMATS))}"
        )
    if not path.parent.is_dir():
        raise ImageError(f"{path}: output folder {path.parent} does not exist")
    return fmt


def save_options(fmt: str, metadata: dict | None, quality: int = 95) -> dict:
    """Pillow keyword arguments for `fmt`: quality for lossy formats, parameters for PNG."""
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        if metadata:
            info.add_text(METADATA_KEY, json.dumps(metadata, default=str, sort_keys=True))
        return {"pnginfo": info}
    if fmt == "JPEG":
        return {"quality": quality, "subsampling": 0}
    return {"quality": quality}


def read_metadata(path: str | Path) -> dict | None:
    """The parameters a PNG was made with, or None."""
    with Image.open(path) as image:
        text = getattr(image, "text", {}).get(METADATA_KEY)
    return json.loads(text) if text else None


def check_pixels(image: Image.Image, name: str, max_pixels: int = MAX_INPUT_PIXELS) -> None:
    """Refuse an image larger than `max_pixels` from its header, before decoding: photos
    and masks share this limit (masks.py)."""
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: {width}x{height} is too large ({width * height / 1e6:.0f} MP; "
            f"the limit is {max_pixels / 1e6:.0f} MP). Downscale it first."
        )
    if width < 1 or height < 1:
        raise ImageError(f"{name}: image has no pixels")


def describe(source: ImageSource) -> str:
    """How a message names the source: its path, or what kind of data it is."""
    if isinstance(source, (str, Path)):
        return os.fspath(source)
    if isinstance(source, bytes):
        return "uploaded data"
    return "image"
