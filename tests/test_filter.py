import pytest
from conftest import PAINTING

from stylizer import (
    Filter,
    FilterError,
    StyleImage,
    ratio_from_strength,
    strength_from_ratio,
)
from stylizer.filter import PAPER_LAYER_WEIGHTS


def test_defaults_are_the_papers():
    f = Filter(styles=(PAINTING,))
    assert f.layer_weights == PAPER_LAYER_WEIGHTS == (1.0, 0.8, 0.5, 0.3, 0.1)
    assert f.style_layers == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    assert f.content_layer == "conv4_2" and f.ratio == 1e-6 and f.init == "content"
    assert isinstance(f.styles[0], StyleImage)


def test_strength_maps_onto_ratio():
    assert ratio_from_strength(6) == pytest.approx(1e-6)
    assert ratio_from_strength(0) > 1e-3 > ratio_from_strength(10)
    assert strength_from_ratio(ratio_from_strength(3.3)) == pytest.approx(3.3)
    assert Filter(styles=(PAINTING,), ratio=1e-6).strength == pytest.approx(6)


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"ratio": 0}, "ratio"),
        ({"layer_weights": (1, 2)}, "layer_weights: 2 weights given for 5 style layers"),
        ({"layer_weights": (0, 0, 0, 0, 0)}, "at least one weight"),
        ({"content_layer": "conv9_9"}, "not a VGG-19 conv layer"),
        ({"size": 10}, "size"),
        ({"iterations": 0}, "iterations"),
        ({"init": "zeros"}, "init: expected one of content, noise, style"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"preserve_color": "yes"}, "preserve_color"),
        ({"tv_weight": -1}, "tv_weight"),
        ({"styles": ()}, "at least one style"),
    ],
)
def test_bad_values_name_the_field(changes, message):
    with pytest.raises(FilterError, match=message):
        Filter(styles=(PAINTING,)).replace(**changes)


def test_style_image_checks():
    with pytest.raises(FilterError, match="style weight"):
        StyleImage(PAINTING, weight=0)
    with pytest.raises(FilterError, match="style scale"):
        StyleImage(PAINTING, scale=5)


def test_describe_is_json_ready():
    described = Filter(styles=(StyleImage(PAINTING, 2.0, 0.5),)).describe()
    assert described["styles"] == [{"image": "starry_night.jpg", "weight": 2.0, "scale": 0.5}]
    assert described["ratio"] == 1e-6




def test_filters_with_different_paintings_differ_and_equal_ones_match():
    from PIL import Image

    from conftest import SECOND_PAINTING

    starry, wave = Filter(styles=(PAINTING,)), Filter(styles=(SECOND_PAINTING,))
    assert starry != wave and hash(starry) != hash(wave)
    assert starry == Filter(styles=(str(PAINTING),)) and hash(starry) == hash(Filter(styles=(str(PAINTING),)))
    red, blue = Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "blue")
    assert Filter(styles=(red,)) != Filter(styles=(blue,))
    assert Filter(styles=(red,)) == Filter(styles=(red.copy(),)), "same pixels, same filter"
    assert len({starry, wave, Filter(styles=(PAINTING,))}) == 2, "usable as a cache key"
