"""Spatial control: a mask says where the style goes (Gatys et al. 2017, "Controlling
Perceptual Factors in Neural Style Transfer", section on spatial control).

A mask belongs to one photo, not to a reusable filter, so it travels beside the `Filter`:
`Mask(source, outside=None)`. White is the filter's painting; black is `outside`, a second
filter's painting, or, when there is none, the photo itself.

How (as in the paper): the region is brought down to each style layer's resolution, and
the style loss of a region compares the painting's Gram matrix with a *guided* Gram
matrix, computed over that region's positions only (objective.py: the sum over positions
of m^2 f f^T, divided by the sum of m^2). Where we differ from the paper:
- the mask is softened (a Gaussian blur of `FEATHER` of the long side) before use, so the
  transition is gradual instead of following the brush's hard edge;
- with no `outside` painting, the black region has no style loss at all, and the result
  is blended back into the photo through the soft mask at the end (and in every live
  preview), so black stays the photo exactly, pixel for pixel;
- each region's style term has the weight of a whole image's: a small region is painted
  as strongly as a whole photo would be, instead of in proportion to its area.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from PIL import ImageFilter, UnidentifiedImageError

from . import images
from .errors import ImageError
from .filter import Filter

FEATHER = 0.01  # the soft edge's Gaussian sigma, as a fraction of the output's long side
_EPS = 1e-8


@dataclass(frozen=True)
class Mask:
    """Where `filter`'s painting goes on one photo: white (or opaque) is styled; the rest
    is `outside`'s painting, or the photo when `outside` is None.

    `source` is a path or an image: its alpha channel when it has a transparent part (a
    brush stroke on an empty layer), otherwise its brightness. Any size: it is stretched to
    the photo's.
    """

    source: images.ImageSource = field(compare=False)
    outside: Filter | None = None
    identity: str = field(init=False, repr=False)
    _grey: images.Image.Image = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Read once: every scale, the preview and the digest use these same pixels, even
        # if the file changes while the painting runs.
        grey = mask_image(self.source)
        object.__setattr__(self, "_grey", grey)
        object.__setattr__(self, "identity", images.digest(grey))

    def image(self) -> images.Image.Image:
        """The mask as an 8-bit grey image (255 = styled), at its own size."""
        return self._grey

    def portable(self) -> "Mask":
        """The same mask as pixels, for a worker that cannot read our files."""
        return Mask(self.image(), self.outside.portable() if self.outside is not None else None)


def mask_image(source: images.ImageSource, max_pixels: int = images.MAX_INPUT_PIXELS) -> images.Image.Image:
    """Read a mask: alpha where the image has transparency, else brightness; 'L' mode.

    A mask is decoded at full size, so it gets the photos' limit (images.MAX_INPUT_PIXELS,
    or the caller's), checked from the header before any pixel is decoded: a 169 MP mask
    would otherwise cost as much memory as the photo limit exists to prevent.
    """
    name = images.describe(source)
    try:
        if isinstance(source, images.Image.Image):
            images.check_pixels(source, f"mask {name}", max_pixels)
            raw = source
        else:
            raw = images.Image.open(source)
            images.check_pixels(raw, f"mask {name}", max_pixels)
            raw.load()
    except FileNotFoundError:
        raise ImageError(f"mask {name}: no such file") from None
    except UnidentifiedImageError:
        raise ImageError(f"mask {name}: not an image (or a format Pillow cannot read)") from None
    except (OSError, ValueError, images.Image.DecompressionBombError) as exc:
        raise ImageError(f"mask {name}: not an image ({exc})") from None
    if raw.mode in ("RGBA", "LA", "PA") or (raw.mode == "P" and "transparency" in raw.info):
        alpha = raw.convert("RGBA").getchannel("A")
        if alpha.getextrema()[0] < 255:  # some of it is transparent: the strokes are the mask
            return alpha
    return raw.convert("L")


def soft_mask_image(mask: Mask, size: tuple[int, int]) -> images.Image.Image:
    """The mask at `size` (width, height) with its soft edge, as an 'L' image."""
    grey = mask.image().resize(size, images.Image.Resampling.BILINEAR)
    sigma = FEATHER * max(size)
    return grey.filter(ImageFilter.GaussianBlur(sigma)) if sigma >= 0.5 else grey


def soft_mask(mask: Mask, size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """The mask at `size` (width, height), softened, as a (1, 1, H, W) tensor in 0..1."""
    grey = soft_mask_image(mask, size)
    tensor = torch.frombuffer(bytearray(grey.tobytes()), dtype=torch.uint8).float().div(255.0)
    return tensor.view(1, 1, size[1], size[0]).to(device)


def layer_masks(region: torch.Tensor, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The region brought down to each layer's resolution (area averaging, as pooling does)."""
    return {
        name: F.interpolate(region, size=value.shape[-2:], mode="area").to(value.dtype)
        for name, value in features.items()
    }


def blend(painted: torch.Tensor, photo: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """The painting where the region is, the photo elsewhere, mixed along the soft edge."""
    region = region.to(painted.dtype)
    return painted * region + photo.to(painted.dtype) * (1 - region)


__all__ = ["FEATHER", "Mask", "blend", "layer_masks", "mask_image", "soft_mask", "soft_mask_image"]
