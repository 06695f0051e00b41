"""Colour handling: keep the photo's colours while taking the painting's brushwork.

Two methods from Gatys et al., "Preserving Color in Neural Artistic Style Transfer" (2016):
luminance-only transfer (optimize on luminance, put the photo's chroma back) and colour
histogram matching (recolour the style image to the photo's colour mean and covariance
before transfer).
"""

from __future__ import annotations

import torch

# ITU-R BT.601 RGB <-> YIQ; Y is the luminance the eye reads as structure.
_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", matrix.to(image), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W) luminance of an RGB 0..255 image."""
    return _apply(_RGB_TO_YIQ, image)[:, :1]


def gray_rgb(luma: torch.Tensor) -> torch.Tensor:
    """Luminance as a 3-channel image, so VGG sees a grey picture."""
    return luma.expand(-1, 3, -1, -1).contiguous()


def match_luminance(style_luma: torch.Tensor, content_luma: torch.Tensor) -> torch.Tensor:
    """Shift and scale style luminance to the photo's mean and spread (paper's Eq. 1)."""
    mean_s, std_s = style_luma.mean(), style_luma.std()
    mean_c, std_c = content_luma.mean(), content_luma.std()
    return (style_luma - mean_s) * (std_c / (std_s + 1e-6)) + mean_c


def combine_luminance(luma: torch.Tensor, colour_source: torch.Tensor) -> torch.Tensor:
    """RGB image with `luma` as luminance and the chroma (I, Q) of `colour_source`."""
    yiq = _apply(_RGB_TO_YIQ, colour_source)
    if yiq.shape[-2:] != luma.shape[-2:]:
        yiq = torch.nn.functional.interpolate(yiq, size=luma.shape[-2:], mode="bilinear", align_corners=False)
    yiq = torch.cat([luma, yiq[:, 1:]], dim=1)
    return _apply(_YIQ_TO_RGB, yiq).clamp(0, 255)


def match_histogram(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Recolour `style` so its colour mean and covariance equal the photo's.

    Uses the symmetric matrix square roots (the paper's "Image Analogies" variant), which
    keeps hues from rotating the way a Cholesky-based transform can.
    """
    s = style[0].reshape(3, -1).float()
    c = content[0].reshape(3, -1).float()
    mu_s, mu_c = s.mean(1, keepdim=True), c.mean(1, keepdim=True)
    # Only the 3x3 statistics go to the CPU in float64 (MPS has no float64, and a CPU
    # constant added to a CUDA tensor fails); the pixels stay on their device.
    eye = 1e-5 * torch.eye(3, dtype=torch.float64)
    cov_s = torch.cov(s).cpu().double() + eye
    cov_c = torch.cov(c).cpu().double() + eye
    transform = (_sqrtm(cov_c) @ torch.linalg.inv(_sqrtm(cov_s))).to(device=s.device, dtype=s.dtype)
    out = transform @ (s - mu_s) + mu_c
    return out.reshape(style.shape).to(style.dtype).clamp(0, 255)


def _sqrtm(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.t()
