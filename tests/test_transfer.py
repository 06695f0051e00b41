import threading

import numpy as np
import pytest
import torch
from conftest import PAINTING, PHOTO, SECOND_PAINTING

from stylizer import Cancelled, Filter, StyleImage, images
from stylizer.errors import DivergedError
from stylizer.strength import auto_plan
from stylizer.objective import Objective
from stylizer.transfer import merged_scales, plan_scales, scale_numbers


def _diff(a, b) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean())


def test_plan_puts_most_iterations_on_coarse_scales():
    plan = plan_scales(1024, 768, 512, 3, 300)
    assert [(s.width, s.height) for s in plan] == [(128, 96), (256, 192), (512, 384)]
    assert sum(s.iterations for s in plan) == 300
    assert plan[0].iterations > plan[1].iterations > plan[2].iterations > 0


def test_a_scale_split_by_strength_auto_is_still_one_scale():
    plan = plan_scales(512, 384, 512, 3, 100)  # the default: 128, 256, 512 px
    split, _ = auto_plan(plan)
    assert len(split) == 4, "auto measures between two halves of the 128 px scale"
    assert scale_numbers(split) == [1, 1, 2, 3] and scale_numbers(plan) == [1, 2, 3]
    assert merged_scales(split) == plan


def test_plan_drops_scales_that_would_be_too_small_and_handles_portrait():
    plan = plan_scales(300, 600, 96, 4, 10)
    assert [(s.width, s.height) for s in plan] == [(48, 96)]
    assert plan[0].iterations == 10
    assert sum(s.iterations for s in plan_scales(800, 600, 512, 3, 2)) == 2


def test_small_outputs_start_no_coarser_than_128_px(stylizer):
    """Starting a 256 px painting at 64 px left blocks the final scale could not remove."""
    plan = plan_scales(1024, 768, 256, 3, 100)
    assert [(s.width, s.height) for s in plan] == [(128, 96), (256, 192)]
    result = stylizer.stylize(PHOTO, Filter(styles=(PAINTING,), size=256, iterations=6))
    assert result.image.size == (256, 192)
    assert [tuple(s)[:2] for s in result.stats.scales] == [(128, 96), (256, 192)]


def test_style_loss_falls_and_output_moves_away_from_photo(stylizer, tiny):
    seen = []
    result = stylizer.stylize(PHOTO, tiny, on_progress=seen.append)
    first_style = seen[0].losses["style"]
    assert result.stats.losses["style"] < 0.5 * first_style
    assert result.image.size == (64, 48)
    photo = images.fit(images.load(PHOTO), 64)
    assert _diff(result.image, photo) > 5
    assert result.stats.iterations == 24 == seen[-1].iteration
    assert [p.iteration for p in seen] == list(range(1, 25))


def test_ratio_moves_result_monotonically_from_photo_to_painting(stylizer, tiny):
    distances = []
    for ratio in (1e-3, 1e-4, 1e-5, 1e-6, 1e-7):
        result = stylizer.stylize(PHOTO, tiny.replace(ratio=ratio, size=96, iterations=40))
        distances.append(result.stats.content_distance)
    assert distances == sorted(distances), distances
    assert distances[-1] > 3 * distances[0]


def test_same_seed_same_output_and_other_seed_differs(stylizer, tiny):
    noisy = tiny.replace(init="noise", seed=7, iterations=8)
    a = stylizer.stylize(PHOTO, noisy).image
    b = stylizer.stylize(PHOTO, noisy).image
    c = stylizer.stylize(PHOTO, noisy.replace(seed=8)).image
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert _diff(a, c) > 1


def test_inits_start_where_asked(stylizer, tiny):
    starts = {}
    for init in ("content", "noise", "style"):
        captured = []
        stylizer.stylize(PHOTO, tiny.replace(init=init, iterations=2, scales=1), on_progress=captured.append)
        starts[init] = captured[0].losses["content"]
    assert starts["content"] == 0
    assert starts["noise"] > starts["style"] > starts["content"]


def test_adam_also_lowers_the_loss(stylizer, tiny):
    seen = []
    stylizer.stylize(PHOTO, tiny.replace(optimizer="adam", iterations=30, scales=1), on_progress=seen.append)
    assert seen[-1].losses["total"] < 0.8 * seen[0].losses["total"]


def test_blend_targets_are_weighted_means(stylizer):
    one = Filter(styles=(PAINTING,))
    two = Filter(styles=(SECOND_PAINTING,))
    mix = Filter(styles=(StyleImage(PAINTING, 3.0), StyleImage(SECOND_PAINTING, 1.0)))
    a, b, m = (stylizer.style_targets(f, 64) for f in (one, two, mix))
    for layer in a:
        assert torch.allclose(m[layer], 0.75 * a[layer] + 0.25 * b[layer], rtol=1e-4, atol=1e-3)


def test_style_scale_changes_targets(stylizer):
    small = stylizer.style_targets(Filter(styles=(StyleImage(PAINTING, scale=0.5),)), 128)
    large = stylizer.style_targets(Filter(styles=(StyleImage(PAINTING, scale=2.0),)), 128)
    assert not torch.allclose(small["conv3_1"], large["conv3_1"], rtol=0.05)


def _chroma(image) -> np.ndarray:
    return np.asarray(image.convert("YCbCr"), dtype=np.float64)[..., 1:]


def test_luminance_transfer_keeps_photo_colours(stylizer, tiny):
    photo = images.fit(images.load(PHOTO), 64)
    plain = stylizer.stylize(PHOTO, tiny).image
    kept = stylizer.stylize(PHOTO, tiny.replace(preserve_color="luminance")).image
    assert np.abs(_chroma(kept) - _chroma(photo)).mean() < 0.5 * np.abs(_chroma(plain) - _chroma(photo)).mean()
    assert _diff(kept.convert("L"), photo.convert("L")) > 3  # the structure still changed


def test_histogram_matching_pulls_colours_towards_photo(stylizer, tiny):
    photo_mean = np.asarray(images.fit(images.load(PHOTO), 64), dtype=np.float64).mean((0, 1))
    plain = np.asarray(stylizer.stylize(PHOTO, tiny).image, dtype=np.float64).mean((0, 1))
    matched = np.asarray(stylizer.stylize(PHOTO, tiny.replace(preserve_color="histogram")).image, dtype=np.float64).mean((0, 1))
    assert np.abs(matched - photo_mean).sum() < np.abs(plain - photo_mean).sum()


def test_previews_arrive_every_k_iterations(stylizer, tiny):
    seen = []
    stylizer.stylize(PHOTO, tiny, on_progress=seen.append, preview_every=5)
    with_preview = [p.iteration for p in seen if p.preview is not None]
    assert with_preview == [5, 10, 15, 20, 24]
    assert seen[-1].preview.size == (64, 48)


def test_cancel_from_another_thread_stops_promptly(stylizer, tiny):
    stop = threading.Event()
    seen = []

    def on_progress(progress):
        seen.append(progress.iteration)
        if progress.iteration == 3:
            threading.Thread(target=stop.set).start()

    with pytest.raises(Cancelled):
        stylizer.stylize(PHOTO, tiny.replace(iterations=500), on_progress=on_progress, cancel=stop)
    assert len(seen) <= 5


def test_a_nan_loss_is_recovered_from(stylizer, tiny, monkeypatch):
    original = Objective.loss_and_grad
    calls = {"n": 0, "first": None}

    def sometimes_nan(self, pixels, scale=1.0):
        calls["n"] += 1
        parts = original(self, pixels, scale)
        if calls["first"] is None:
            calls["first"] = float(parts[0]["total"])
        if calls["n"] == 6:
            parts[0]["total"] = parts[0]["total"] * float("nan")
        return parts

    monkeypatch.setattr(Objective, "loss_and_grad", sometimes_nan)
    result = stylizer.stylize(PHOTO, tiny)
    assert result.stats.recoveries == 1
    pixels = np.asarray(result.image, dtype=np.float64)
    assert pixels.std() > 10 and pixels.mean() > 20  # a real picture, not black or flat
    # ...and still painted after the recovery: handing back the starting photo would keep
    # the starting loss, and a painting unlike the photo.
    assert result.stats.losses["total"] < 0.5 * calls["first"]
    photo = np.asarray(images.fit(images.load(PHOTO), 64).resize(result.image.size), dtype=np.float64)
    assert np.abs(pixels - photo).mean() > 5


def test_persistent_nan_fails_clearly(stylizer, tiny, monkeypatch):
    original = Objective.loss_and_grad

    def always_nan(self, pixels, scale=1.0):
        parts = original(self, pixels, scale)
        for picture in parts:
            picture["total"] = picture["total"] * float("nan")
        return parts

    monkeypatch.setattr(Objective, "loss_and_grad", always_nan)
    with pytest.raises(DivergedError, match="NaN"):
        stylizer.stylize(PHOTO, tiny)


def test_multiple_styles_run_end_to_end(stylizer, tiny):
    mix = tiny.replace(styles=(StyleImage(PAINTING, 0.5), StyleImage(SECOND_PAINTING, 0.5, scale=0.5)))
    result = stylizer.stylize(PHOTO, mix)
    assert result.image.size == (64, 48)
    assert result.metadata()["filter"]["styles"][1] == {"image": "great_wave.jpg", "weight": 0.5, "scale": 0.5}


def test_a_very_wide_painting_or_a_small_style_scale_still_paints(stylizer):
    """The painting's short side must survive four poolings; a 15:1 strip crashed at conv5_1."""
    from PIL import Image

    strip = Image.open(PAINTING).convert("RGB").resize((300, 20))
    for style in (StyleImage(strip), StyleImage(PAINTING, scale=0.25)):
        result = stylizer.stylize(PHOTO, Filter(styles=(style,), size=48, scales=1, iterations=3))
        assert result.image.size == (48, 36)


def test_the_noise_start_has_no_pixel_level_noise_to_leave_a_grid(stylizer, tiny):
    """White noise at the coarse scale survived as a regular 8 px grid in the final painting."""
    flt = tiny.replace(init="noise")
    start = stylizer.runner.initial_pixels(flt, None, [], (96, 128))[0].double()
    spectrum = torch.fft.rfft2(start - start.mean(dim=(1, 2), keepdim=True)).abs().square()
    fy = torch.fft.fftfreq(96).abs().view(-1, 1)
    fx = torch.fft.rfftfreq(128).view(1, -1)
    high = (torch.maximum(fy, fx) > 0.25).expand_as(spectrum[0])
    share = float(spectrum[:, high].sum() / spectrum.sum())
    assert share < 0.05, f"{share:.0%} of the start's energy is in the upper half of the frequencies"
    again = stylizer.runner.initial_pixels(flt, None, [], (96, 128))
    other = stylizer.runner.initial_pixels(flt.replace(seed=1), None, [], (96, 128))
    assert torch.equal(start.float(), again[0]) and not torch.equal(again, other), "seeded, and seeds differ"
    assert 0 <= float(start.min()) and float(start.max()) <= 255
