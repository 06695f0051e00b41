"""Quality numbers that no loss in this comparison optimizes: a judge apart from the painter.

Our loss (and pastiche's) matches Gram matrices of conv1_1..conv5_1 and the conv4_2
activations, so a Gram or conv4_2 distance mostly says how well each tool minimized its
own objective. The numbers here measure the result against other statistics:

  style_swd     how far the output's VGG-19 feature *distributions* are from the painting's:
                sliced Wasserstein-1 distance between the sets of feature vectors (one per
                position) at conv1_2, conv2_2, conv3_2, conv4_3 and conv5_2 (layers neither
                loss uses), along 64 fixed random directions, each divided by the painting's
                spread along that direction, averaged. 0 = same distributions; a Gram matrix
                fixes only their second moments.
  style_deep    the same at conv4_3 and conv5_2 only: the painting's large forms (a conv5
                feature sees about a fifth of a 512 px picture), not its brush texture.
  colour_swd    sliced Wasserstein-1 distance between the output's and the painting's pixel
                colours in CIE Lab, in Lab units (about 2.3 is a just noticeable difference).
  content_err   relative error ||F - P|| / ||P|| of the output's features against the
                photo's at conv3_2 and conv5_2 (neither loss's content layer), averaged.
  ssim          structural similarity (Wang et al. 2004, 11 px Gaussian window) of the
                output's luminance to the photo's: 1 = same structure; no network involved.

Apart from the painter: nothing here calls the painter's network, losses or distribution
code. The features come from torchvision's VGG-19 layer stack holding the same Caffe
weights (the only trained VGG-19 we may ship), with max pooling, as the network was
trained; the painter's loss uses average pooling and other layers. The random directions
are this module's own, and `strength: auto` (stylizer/strength.py) draws others. The
numbers are the ones the benchmarks reported before this module stood apart, so results
saved then (pastiche's, on a GPU) still compare.

`pooling="avg"` rescoring checks that a ranking does not come from the pooling the metric
shares with pastiche. The painting is fitted to the output's long side and the photo
resized to the output's size, as in common.quality.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from stylizer import images
from stylizer.vgg import load_weights

STYLE_LAYERS = ("conv1_2", "conv2_2", "conv3_2", "conv4_3", "conv5_2")
DEEP_LAYERS = ("conv4_3", "conv5_2")
CONTENT_LAYERS = ("conv3_2", "conv5_2")
DIRECTIONS, QUANTILES, DIRECTION_SEED = 64, 256, 0
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_EPS = 1e-6


class JudgeNetwork(nn.Module):
    """torchvision's VGG-19 conv stack with the Caffe weights, returning named post-ReLU layers."""

    def __init__(self, layers: tuple[str, ...], pooling: str = "max") -> None:
        super().__init__()
        stack = torchvision.models.vgg19(weights=None).features
        self.names: dict[int, str] = {}
        block, conv = 1, 0
        weights = load_weights()
        for index, module in enumerate(stack):
            if isinstance(module, nn.Conv2d):
                conv += 1
                name = f"conv{block}_{conv}"
                module.weight.data, module.bias.data = (t.clone() for t in weights[name])
                self.names[index + 1] = name  # the ReLU after it
            elif isinstance(module, nn.MaxPool2d):
                block, conv = block + 1, 0
                if pooling == "avg":
                    stack[index] = nn.AvgPool2d(2)
            elif isinstance(module, nn.ReLU):
                stack[index] = nn.ReLU(inplace=False)
        last = max(index for index, name in self.names.items() if name in layers)
        self.stack = stack[: last + 1].eval().requires_grad_(False)
        self.wanted = set(layers)

    @torch.no_grad()
    def forward(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        mean = torch.tensor(_CAFFE_BGR_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
        x = rgb.float().flip(1) - mean
        out = {}
        for index, module in enumerate(self.stack):
            x = module(x)
            name = self.names.get(index)
            if name in self.wanted:
                out[name] = x
        return out


class IndependentMetrics:
    """Loads its own VGG-19 once; `score` returns the numbers for one output image."""

    def __init__(self, pooling: str = "max") -> None:
        self.network = JudgeNetwork(tuple(dict.fromkeys(STYLE_LAYERS + CONTENT_LAYERS)), pooling=pooling)
        self._references: dict[tuple, tuple[torch.Tensor, dict[str, torch.Tensor]]] = {}

    def score(self, output: images.Image.Image, photo: Path, painting: Path) -> dict[str, float]:
        width, height = output.size
        photo_t, photo_f = self._reference(photo, (width, height), fit=False)
        painting_t, painting_f = self._reference(painting, (width, height), fit=True)
        out_t = images.to_tensor(output)
        out_f = self.network(out_t)
        style = {name: swd(_positions(out_f[name]), _positions(painting_f[name])) for name in STYLE_LAYERS}
        return {
            "style_swd": sum(style.values()) / len(style),
            "style_deep": sum(style[name] for name in DEEP_LAYERS) / len(DEEP_LAYERS),
            "colour_swd": swd(_lab_pixels(out_t), _lab_pixels(painting_t), per_spread=False),
            "content_err": sum(_relative_error(out_f[n], photo_f[n]) for n in CONTENT_LAYERS) / len(CONTENT_LAYERS),
            "ssim": ssim(_luma(out_t), _luma(photo_t)),
        }


    def _reference(self, path: Path, size: tuple[int, int], fit: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The photo resized to the output's size, or the painting fitted to its long side,
        with its features: the same for every painting of a sweep, so computed once (the
        last few are kept)."""
        key = (path, size, fit)
        if key not in self._references:
            image = images.load(path)
            image = images.fit(image, max(size)) if fit else image.resize(size, images.Image.Resampling.LANCZOS)
            tensor = images.to_tensor(image)
            if len(self._references) >= 8:
                self._references.pop(next(iter(self._references)))
            self._references[key] = (tensor, self.network(tensor))
        return self._references[key]


def swd(points: torch.Tensor, reference: torch.Tensor, per_spread: bool = True) -> float:
    """Sliced Wasserstein-1 distance of two point sets (rows), averaged over this module's
    fixed directions and `QUANTILES` evenly spaced quantiles; with `per_spread`, each
    direction's distance is in units of the reference's standard deviation along it."""
    directions = torch.randn((points.shape[1], DIRECTIONS), generator=torch.Generator().manual_seed(DIRECTION_SEED),
                             dtype=torch.float64)
    directions = directions / directions.norm(dim=0, keepdim=True)
    ours, theirs = points.double() @ directions, reference.double() @ directions
    gap = (_at_quantiles(ours) - _at_quantiles(theirs)).abs()
    if per_spread:
        gap = gap / (theirs.std(dim=0) + _EPS)
    return float(gap.mean())


def _at_quantiles(projections: torch.Tensor) -> torch.Tensor:
    """(QUANTILES, directions): linear interpolation between the sorted values."""
    ordered = projections.sort(dim=0).values
    where = torch.linspace(0, ordered.shape[0] - 1, QUANTILES, dtype=torch.float64)
    below = where.floor().long()
    above = torch.clamp(below + 1, max=ordered.shape[0] - 1)
    return torch.lerp(ordered[below], ordered[above], (where - below).unsqueeze(1))


def _positions(features: torch.Tensor) -> torch.Tensor:
    """(positions, channels) of a (1, C, H, W) feature map."""
    return features[0].flatten(1).t()


def _relative_error(features: torch.Tensor, target: torch.Tensor) -> float:
    return float((features.float() - target.float()).norm() / (target.float().norm() + _EPS))


def _lab_pixels(rgb: torch.Tensor) -> torch.Tensor:
    """(pixels, 3) CIE Lab (D65) of a (1, 3, H, W) sRGB 0..255 tensor."""
    c = (rgb[0].double() / 255.0).reshape(3, -1)
    linear = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    to_xyz = torch.tensor(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], dtype=torch.float64
    )
    xyz = (to_xyz @ linear) / torch.tensor([[0.95047], [1.0], [1.08883]], dtype=torch.float64)
    f = torch.where(xyz > (6 / 29) ** 3, xyz.clamp_min(0) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lab = torch.stack([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])
    return lab.t()


def _luma(rgb: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=rgb.dtype).view(1, 3, 1, 1)
    return (rgb * weights).sum(dim=1, keepdim=True).double()


def ssim(x: torch.Tensor, y: torch.Tensor, size: int = 11, sigma: float = 1.5) -> float:
    """Mean SSIM of two (1, 1, H, W) images in 0..255."""
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    gauss = torch.exp(-(coords**2) / (2 * sigma**2))
    window = (gauss[:, None] * gauss[None, :] / gauss.sum() ** 2).view(1, 1, size, size)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    value = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(value.mean())
