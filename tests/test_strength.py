"""strength: auto: the strength of almost the whole painting chosen from how painted its first iterations came out."""

from __future__ import annotations

import json
import re

import pytest
import torch

from conftest import EXAMPLES, PAINTING, PHOTO, STYLES
from stylizer import Filter, Stylizer, images
from stylizer.cli import main
from stylizer.errors import FilterError
from stylizer.filter import DEFAULT_STRENGTH, ratio_from_strength
from stylizer.presets import load_preset
from stylizer.transfer import plan_scales
from stylizer.strength import (
    BOUNDS,
    MEASURE_SHARE,
    TARGET_LEVEL,
    auto_plan,
    auto_strength,
    strength_fields,
    stylization_level,
)

FAR_PHOTO, FAR_PAINTING = EXAMPLES / "storm_over_city.jpg", STYLES / "shipwreck_of_the_minotaur.jpg"


@pytest.mark.parametrize("value", ["auto", "Auto", " AUTO "])
def test_auto_is_read_in_any_case(value):
    assert strength_fields(value) == {"ratio": ratio_from_strength(DEFAULT_STRENGTH), "auto_strength": True}


@pytest.mark.parametrize("value, strength", [(7, 7), (7.5, 7.5), ("3", 3), (0, 0), (10, 10)])
def test_a_number_is_a_fixed_strength(value, strength):
    assert strength_fields(value) == {"ratio": ratio_from_strength(strength), "auto_strength": False}


@pytest.mark.parametrize("value", ["loud", 11, -1, True, None, "nan", [6]])
def test_anything_else_is_refused_with_the_choices(value):
    with pytest.raises(FilterError, match=r"strength: expected a number from 0 to 10, or auto; got"):
        strength_fields(value)


def test_the_strength_follows_the_level_within_bounds():
    assert auto_strength(TARGET_LEVEL) == pytest.approx(DEFAULT_STRENGTH)
    levels = [0.01, 0.2, 0.5, 0.7, 0.8, 0.9, 1.2, 5.0]
    chosen = [auto_strength(level) for level in levels]
    assert chosen == sorted(chosen), "a picture further from the painting needs more strength"
    assert chosen[0] == BOUNDS[0] and chosen[-1] == BOUNDS[1]
    assert auto_strength(0.0) == BOUNDS[0]  # already the painting: nothing to add


def test_the_measurement_splits_the_coarsest_scale_halfway():
    def sides(size, scales=3, iterations=105):
        plan, at = auto_plan(plan_scales(512, 384, size, scales, iterations))
        return [(scale.width, scale.iterations) for scale in plan], at

    first = round(57 * MEASURE_SHARE)
    plan, at = sides(512)
    assert plan == [(128, first), (128, 57 - first), (256, 28), (512, 20)] and at == 1
    plan, at = sides(2048)  # print sizes: measured at 128 px too, every larger scale at the choice
    assert [w for w, _ in plan] == [128, 128, 256, 512, 1024, 2048] and at == 1
    assert sum(i for _, i in plan) == 105
    plan, at = sides(256)
    assert [w for w, _ in plan] == [128, 128, 256] and at == 1
    plan, at = sides(512, iterations=50)  # Draft: half the iterations, measured all the same
    assert plan[0][0] == plan[1][0] == 128 and at == 1
    assert sides(512, scales=1) == ([(512, 105)], None)  # one scale from the photo: nothing to measure early
    short = plan_scales(512, 384, 512, 3, 3)  # a coarsest scale of one iteration: nothing to split
    assert auto_plan(short) == (short, None)


def test_the_level_only_looks_inside_the_mask():
    torch.manual_seed(0)
    painting = {"conv1_1": torch.randn(1, 8, 16, 16)}
    picture = painting["conv1_1"].clone()
    picture[..., 8:] = torch.randn(1, 8, 16, 8) * 5 + 3  # the right half is something else
    left = torch.zeros(1, 1, 16, 16)
    left[..., :8] = 1
    same = stylization_level({"conv1_1": picture}, [(1.0, painting)], ("conv1_1",), {"conv1_1": left})
    other = stylization_level({"conv1_1": picture}, [(1.0, painting)], ("conv1_1",), {"conv1_1": 1 - left})
    assert same < 0.35 < 1.0 < other


def test_paper_losses_refuse_auto():
    with pytest.raises(FilterError, match="strength: auto works with the normalized losses"):
        Filter(styles=(PAINTING,), auto_strength=True, losses="paper")


def test_a_pair_far_from_its_painting_gets_more_strength_than_one_already_there(stylizer):
    auto = Filter(styles=(FAR_PAINTING,), size=256, iterations=40, auto_strength=True)
    far = stylizer.stylize(FAR_PHOTO, auto)
    # The photo painted in its own style: it already *is* its painting, nothing to paint.
    near = stylizer.stylize(PHOTO, auto.replace(styles=(PHOTO,)))
    assert near.stats.strength == BOUNDS[0] and near.stats.auto_level == 0
    assert far.stats.strength > BOUNDS[0] and far.stats.auto_level > 0.1
    fixed = stylizer.stylize(FAR_PHOTO, auto.replace(auto_strength=False))
    assert fixed.stats.strength == pytest.approx(DEFAULT_STRENGTH) and fixed.stats.auto_level is None
    assert images.digest(fixed.image) != images.digest(far.image), "auto's strength was not used"
    # What auto chose goes into the file, beside the filter as asked for.
    metadata = far.metadata()
    assert metadata["filter"]["auto_strength"] is True
    assert metadata["stats"]["strength"] == round(far.stats.strength, 3)


def test_the_rest_is_painted_at_the_chosen_strength(stylizer, monkeypatch):
    """Auto's result is its first iterations at the filter's strength and the rest at its
    choice: more painted than 6 throughout, and not the same picture as 8 throughout."""
    import stylizer.engine as engine

    monkeypatch.setattr(engine, "auto_strength", lambda level: 8.0)
    auto = Filter(styles=(PAINTING,), size=256, scales=2, iterations=45, auto_strength=True)
    result = stylizer.stylize(PHOTO, auto)
    assert result.stats.strength == pytest.approx(8.0)
    weak = stylizer.stylize(PHOTO, auto.replace(auto_strength=False))
    strong = stylizer.stylize(PHOTO, auto.replace(auto_strength=False, ratio=ratio_from_strength(8.0)))
    assert result.stats.content_distance > weak.stats.content_distance
    assert result.stats.style_distance < weak.stats.style_distance
    assert images.digest(result.image) not in (images.digest(weak.image), images.digest(strong.image))


def test_a_single_scale_painting_keeps_the_filters_strength(stylizer):
    result = stylizer.stylize(PHOTO, Filter(styles=(PAINTING,), size=64, scales=1, iterations=3, auto_strength=True))
    assert result.stats.strength == pytest.approx(DEFAULT_STRENGTH) and result.stats.auto_level is None


def test_a_preset_can_say_auto(tmp_path):
    images.Image.new("RGB", (32, 32), "red").save(tmp_path / "a.png")
    (tmp_path / "red.yaml").write_text("style: a.png\nstrength: auto\n")
    preset = load_preset(tmp_path / "red.yaml")
    assert preset.filter.auto_strength is True and preset.filter.strength == pytest.approx(DEFAULT_STRENGTH)


def test_the_command_line_paints_with_auto_and_says_what_it_chose(tmp_path, capsys):
    out = tmp_path / "out.png"
    args = [str(PHOTO), "--style", str(PAINTING), "--strength", "auto", "--size", "256", "--iterations", "20"]
    assert main([*args, "-o", str(out)]) == 0
    assert re.search(r", strength auto: \d\.\d\n", capsys.readouterr().err)
    assert main([*args, "-o", str(out), "--scales", "1"]) == 0
    assert "strength auto: nothing to measure in a one-scale painting, painted at 6.0" in capsys.readouterr().err
    assert main([*args, "-o", str(out), "--json", "-q"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert BOUNDS[0] <= stats["strength"] <= BOUNDS[1] and stats["auto_level"] > 0
    assert json.loads(images.Image.open(out).info["stylizer"])["filter"]["auto_strength"] is True


@pytest.mark.parametrize("flag", [["--ratio", "1e-5"], ["--strength", "4"]])
def test_a_balance_given_on_the_command_line_wins_over_a_presets_auto(tmp_path, capsys, flag):
    out = tmp_path / "out.png"
    args = [str(PHOTO), "--preset", "starry-night", *flag, "--size", "64", "--iterations", "2", "-q"]
    assert main([*args, "-o", str(out)]) == 0
    used = json.loads(images.Image.open(out).info["stylizer"])["filter"]
    assert used["auto_strength"] is False
    assert used["ratio"] == pytest.approx(1e-5 if flag[0] == "--ratio" else ratio_from_strength(4))


def test_the_level_hardly_depends_on_the_precision_it_is_measured_in(stylizer):
    """Why bf16 and fp32 runs choose differently is the picture, not the measurement (strength.py)."""
    auto = Filter(styles=(PAINTING,), size=128, auto_strength=True)
    photo = images.to_tensor(images.load(PHOTO).resize((128, 96)))
    painting = images.to_tensor(images.fit(images.load(PAINTING), 128))
    levels = []
    for engine in (stylizer, Stylizer(device="cpu", precision="bf16")):
        network = engine.network(auto)
        with torch.no_grad():
            levels.append(stylization_level(network(photo), [(1.0, network(painting))], auto.style_layers))
    assert levels[1] == pytest.approx(levels[0], rel=0.01)
