import pytest
import torch

from conftest import PHOTO

from stylizer.losses import (
    content_distance,
    gram,
    relative_error,
    style_distance,
    total_variation,
)
from stylizer.objective import StyleTerm, Terms, loss_parts, statistics


def _parts(features, targets, weights, paper=False, content=None):
    """The objective's parts for one picture's features (content layer "a")."""
    terms = Terms(content_layer="a", content_target=features["a"] if content is None else content,
                  styles=(StyleTerm(targets),), layer_weights=weights, content_weight=1.0, tv_weight=0.0, paper=paper)
    return loss_parts(statistics(features, terms), terms, None)


def style_loss(features, targets, weights):
    return _parts(features, targets, weights)["style"]


def test_gram_is_mean_channel_correlation():
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 2
    assert torch.allclose(gram(features), expected)


def test_gram_does_not_depend_on_image_size():
    patch = torch.rand(1, 8, 5, 5)
    tiled = patch.repeat(1, 1, 3, 3)
    assert torch.allclose(gram(patch), gram(tiled), rtol=1e-5)


def test_relative_error_zero_for_equal_and_one_for_zero():
    target = torch.rand(4, 4) + 0.1
    assert float(relative_error(target, target)) == 0
    assert abs(float(relative_error(torch.zeros_like(target), target)) - 1) < 1e-6


def test_style_loss_weights_are_normalized():
    features = {"a": torch.rand(1, 4, 3, 3), "b": torch.rand(1, 4, 3, 3)}
    targets = {k: gram(torch.rand(1, 4, 3, 3)) for k in features}
    once = style_loss(features, targets, {"a": 1.0, "b": 0.5})
    scaled = style_loss(features, targets, {"a": 10.0, "b": 5.0})
    assert torch.allclose(once, scaled)
    only_a = style_loss(features, targets, {"a": 1.0, "b": 0.0})
    assert torch.allclose(only_a, relative_error(gram(features["a"]), targets["a"]))


def test_total_variation_prefers_smooth_images():
    smooth = torch.linspace(0, 255, 32).repeat(1, 3, 32, 1)
    noisy = torch.rand(1, 3, 32, 32) * 255
    assert total_variation(smooth) < total_variation(noisy)


def test_distances_are_square_roots_of_relative_errors():
    f = torch.rand(1, 4, 3, 3)
    t = torch.rand(1, 4, 3, 3)
    assert abs(content_distance(f, t) - float(relative_error(f, t).sqrt())) < 1e-6
    assert abs(style_distance({"x": f}, {"x": gram(t)}) - float(relative_error(gram(f), gram(t)).sqrt())) < 1e-6


def test_gram_gradient_matches_autograd_in_both_layouts():
    """The hand-written backward must equal autograd's, channels-last included (no copies)."""
    for layout in (torch.contiguous_format, torch.channels_last):
        features = torch.rand(1, 5, 4, 6, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_(True)
        assert torch.autograd.gradcheck(gram, (features,))
        weights = torch.rand(5, 5, dtype=torch.float64)
        (gram(features) * weights).sum().backward()
        reference = features.detach().clone().requires_grad_(True)
        flat = reference.reshape(5, 24)
        ((flat @ flat.t() / 24) * weights).sum().backward()
        assert torch.allclose(features.grad, reference.grad)
        assert features.grad.is_contiguous(memory_format=layout)


def test_gram_of_channels_last_features_equals_contiguous():
    features = torch.rand(1, 6, 5, 7)
    assert torch.allclose(gram(features.contiguous(memory_format=torch.channels_last)), gram(features))


def test_paper_losses_are_gatys_equations_as_written():
    """Eq. 1: 1/2 sum (F - P)^2; eqs. 3-5: sum_l w_l / (4 N_l^2 M_l^2) sum (G - A)^2, G = F F^T."""
    generator = torch.Generator().manual_seed(0)
    features = {"a": torch.rand((1, 4, 5, 6), generator=generator), "b": torch.rand((1, 8, 3, 3), generator=generator)}
    painting = {"a": torch.rand((1, 4, 5, 6), generator=generator), "b": torch.rand((1, 8, 3, 3), generator=generator)}
    targets = {name: gram(value) for name, value in painting.items()}
    weights = {"a": 1.0, "b": 0.5}
    expected = 0.0
    for name, weight in weights.items():
        n, m = features[name].shape[1], features[name].shape[2] * features[name].shape[3]
        f, p = features[name].reshape(n, m), painting[name].reshape(n, m)
        expected += weight / (4 * n**2 * m**2) * float((f @ f.T - p @ p.T).square().sum())
    parts = _parts(features, targets, weights, paper=True, content=painting["a"])
    assert float(parts["style"]) == pytest.approx(expected, rel=1e-5)
    content, photo = features["a"], painting["a"]
    assert float(parts["content"]) == pytest.approx(0.5 * float((content - photo).square().sum()), rel=1e-6)


def test_the_paper_losses_run_end_to_end_and_are_recorded(stylizer, tiny):
    result = stylizer.stylize(PHOTO, tiny.replace(losses="paper", ratio=1e-3))
    assert result.metadata()["filter"]["losses"] == "paper"
    assert result.stats.losses["content"] > 1.0, "the paper's sums are not relative errors"
    assert result.image.size == (64, 48)


def test_the_paper_losses_run_in_fp32_even_on_a_bf16_stylizer(tiny):
    """Their sums reach 1e10; with bf16 rounding L-BFGS stalled near the photo."""
    from stylizer import Stylizer

    bf16 = Stylizer(device="cpu", precision="bf16")
    assert bf16.network(tiny.replace(losses="paper")).dtype == torch.float32
    assert bf16.network(tiny).dtype == torch.bfloat16
