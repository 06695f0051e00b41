"""Losses of Gatys et al., normalized so their balance means the same at every size.

The paper sums squared errors, so its content term grows with the pixel count while the
style term does not, and alpha/beta means something different at each resolution. Here
every term is a *relative* squared error (error energy over target energy): dimensionless,
size independent, and equal to the square of the own-loss distances the benchmarks report.
`CONTENT_SCALE` then puts the paper's alpha/beta range (1e-3 .. 1e-7) where it visibly
moves the result from photo to painting.

How our `ratio` r relates to the paper's alpha/beta (G: Gram matrix as a mean over the M_l
positions, N_l channels, w_l the layer weights, P the photo's content features):

    paper:  (alpha/beta) * 1/2 ||F - P||^2       + sum_l w_l ||G_l - A_l||^2 / (4 N_l^2)
    ours:   r * 1e5 * ||F - P||^2 / ||P||^2      + sum_l (w_l / sum w) ||G_l - A_l||^2 / ||A_l||^2

Ours is the paper's objective with layer weights w_l * 4 N_l^2 / (sum w * ||A_l||^2) and
alpha/beta = 2e5 * r / ||P||^2: both depend on the images, which is why one r means the same
balance for every photo, painting and size here, and the paper's alpha/beta does not.
`Filter(losses="paper")` uses the paper's sums as they are, with alpha = r and beta = 1.
Both kinds of term are written once, in objective.py; this module has their parts and the
quality metrics.
"""

from __future__ import annotations

import torch

# Calibrated by looking at ratio sweeps: at 1e-6 the photo is clearly painted but its
# objects stay recognizable; 1e-3 is nearly the photo; 1e-7 is nearly pure texture.
CONTENT_SCALE = 1e5
_EPS = 1e-12


def _channel_matrix(features: torch.Tensor) -> torch.Tensor:
    """The (channels, positions) matrix of a one-image batch as a view, never a copy.

    On the CPU the network runs channels-last, where `reshape(C, H*W)` would copy every
    style layer's activations (and keep the copy alive for the backward pass); the
    transposed view of the (positions, channels) matrix costs nothing and BLAS reads it
    as it is.
    """
    _, channels, height, width = features.shape
    if features.is_contiguous():
        return features.view(channels, height * width)
    return features.permute(0, 2, 3, 1).reshape(height * width, channels).t()


class _Gram(torch.autograd.Function):
    """G = F F^T / n with a one-multiply backward.

    Autograd would differentiate the product as two multiplies (one per factor) and add
    the results, a full activation-sized temporary; since both factors are F, the
    gradient is (dG + dG^T) F / n, one multiply straight into the layer's own layout.
    """

    @staticmethod
    def forward(ctx, features: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(features)
        flat = _channel_matrix(features)
        product = torch.mm(flat, flat.t())
        return product.to(torch.promote_types(product.dtype, torch.float32)) / flat.shape[1]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (features,) = ctx.saved_tensors
        flat = _channel_matrix(features)
        symmetric = ((grad + grad.t()) / flat.shape[1]).to(features.dtype)
        if features.is_contiguous():
            return torch.mm(symmetric, flat).view_as(features)
        # Computed as (positions, channels) and viewed back: lands in the channels-last layout.
        return torch.mm(flat.t(), symmetric).t().reshape_as(features)


def gram(features: torch.Tensor) -> torch.Tensor:
    """Channel correlations averaged over positions, in at least fp32 whatever the feature dtype."""
    return _Gram.apply(features)


def relative_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||value - target||^2 / ||target||^2, computed in fp32."""
    target = target.float()
    return (value.float() - target).square().sum() / (target.square().sum() + _EPS)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels, in units of full 0..255 range."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return (dx.square().mean() + dy.square().mean()) / (255.0**2)


def style_distance(features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> float:
    """Quality metric: mean over the given layers of ||G - A|| / ||A|| (not squared)."""
    return gram_distance({name: gram(features[name]) for name in targets}, targets)


def gram_distance(grams: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> float:
    """`style_distance` from Gram matrices already computed (tile by tile at print sizes)."""
    errors = [relative_error(grams[name], targets[name]).sqrt() for name in targets]
    return float(torch.stack(errors).mean())


def content_distance(features: torch.Tensor, target: torch.Tensor) -> float:
    """Quality metric: ||F - P|| / ||P|| at the content layer."""
    return float(relative_error(features, target).sqrt())
