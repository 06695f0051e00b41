"""daemon.yaml: rules, defaults and the messages a typo gets."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from daemon.config import ConfigError, Rule, read_config, resolve, zero_config
from daemon_support import make_presets
from stylizer import load_presets

EXAMPLE = """\
watch: [inbox, phone-uploads]
output: paintings
presets: [my-presets]
originals: move
format: jpg
quality: 90
rules:
  - folder: portraits
    presets: [tiny, tiny-wave]
    format: png
    size: 768
  - glob: "*.webp"
    presets: tiny
"""


def _write(tmp_path, text):
    make_presets(tmp_path / "my-presets")
    path = tmp_path / "daemon.yaml"
    path.write_text(text)
    return path


def _resolved(path):
    config = read_config(path)
    return resolve(config, load_presets(config.presets))


def test_a_full_config_reads_with_paths_relative_to_the_file(tmp_path):
    config = _resolved(_write(tmp_path, EXAMPLE))
    assert config.watch == (tmp_path / "inbox", tmp_path / "phone-uploads")
    assert config.output == tmp_path / "paintings" and config.originals == "move"
    portraits, webp = config.rules[:2]
    assert (portraits.presets, portraits.format, portraits.size, portraits.jpeg_quality) == (("tiny", "tiny-wave"), "png", 768, 90)
    assert (webp.presets, webp.format, webp.size) == (("tiny",), "jpg", None)
    # preset folders come after the explicit rules, with the top-level settings
    folder_rules = {rule.folder: rule for rule in config.rules[2:]}
    assert folder_rules["starry-night"].format == "jpg" and "tiny-wave" in folder_rules


def test_rules_match_in_order_and_keep_the_path_below_the_rule_folder():
    portraits = Rule(presets=("a",), folder="portraits")
    anything_png = Rule(presets=("b",), glob="*.png", format="same")
    assert portraits.relative_output(PurePosixPath("portraits/2024/me.jpg")) == PurePosixPath("2024/me.jpg")
    assert portraits.relative_output(PurePosixPath("portraitsx/me.jpg")) is None
    assert anything_png.relative_output(PurePosixPath("deep/x.png")) == PurePosixPath("deep/x.png")
    assert anything_png.output_suffix(".PNG") == ".png" and anything_png.output_suffix(".gif") == ".png"
    assert Rule(presets=("a",), format="webp").output_suffix(".jpg") == ".webp"


@pytest.mark.parametrize(
    "text, message",
    [
        ("watch: in\noutput: out\norignals: move\n", "unknown field 'orignals'; did you mean 'originals'?"),
        ("watch: in\noutput: out\noriginals: delete\n", "originals: expected one of keep, move, got 'delete'"),
        ("output: out\n", "watch: missing"),
        ("watch: in\noutput: in/out\n", "overlaps the watch folder"),
        ("watch: in\noutput: out\nquality: best\n", "quality: expected one of instant, quick, normal, high (or a JPEG quality 1 to 100), got 'best'"),
        ("watch: in\noutput: out\njpeg_quality: 101\n", "jpeg_quality: expected 1 to 100, got 101"),
        ("watch: in\noutput: out\nrules:\n  - folder: a\n    glob: '*'\n    presets: tiny\n", "rules[1]: give exactly one of"),
        ("watch: in\noutput: out\nrules:\n  - folder: ../up\n    presets: tiny\n", "must be a sub-folder"),
        ("watch: in\noutput: out\nrules:\n  - folder: failed\n    presets: tiny\n", "is where the daemon puts originals"),
        ("watch: in\noutput: out\nrules:\n  - folder: a\n    presets: [tiny]\n    sise: 5\n", "rules[1]: unknown field 'sise'; did you mean 'size'?"),
        ("watch: in\noutput: out\nrules:\n  - folder: a\n", "rules[1]: presets: missing"),
        ("watch: [in\n", "invalid YAML at line"),
        ("watch: in\noutput: out\nrules:\n  - folder: a\n    presets: [tiny]\n    strength: loud\n",
         "rules[1]: strength: expected a number from 0 to 10, or auto; got 'loud'"),
    ],
)
def test_a_bad_config_names_the_file_the_field_and_the_problem(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        read_config(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_a_rule_naming_a_missing_preset_is_refused_with_a_suggestion(tmp_path):
    path = _write(tmp_path, "watch: in\noutput: out\npresets: my-presets\nrules:\n  - folder: a\n    presets: [tiny, tiny-wav]\n")
    with pytest.raises(ConfigError, match=r"rules\[1\] \(folder a/\): unknown preset 'tiny-wav'; did you mean 'tiny-wave'"):
        _resolved(path)


def test_zero_config_refuses_an_output_inside_the_inbox(tmp_path):
    with pytest.raises(ConfigError, match="overlaps"):
        zero_config(tmp_path / "in", tmp_path / "in" / "out")
    assert zero_config(Path("in"), Path("out")).watch == (Path("in").resolve(),)


def test_quality_names_the_painting_and_a_number_stays_the_jpeg_quality(tmp_path):
    text = (
        "watch: in\noutput: out\npresets: [my-presets]\nquality: quick\njpeg_quality: 80\n"
        "rules:\n  - folder: fast\n    presets: tiny\n    quality: instant\n"
        "  - folder: old\n    presets: tiny\n    quality: 70\n"
        "  - folder: plain\n    presets: tiny\n"
    )
    fast, old, plain = _resolved(_write(tmp_path, text)).rules[:3]
    assert (fast.quality, fast.jpeg_quality) == ("instant", 80)
    assert (old.quality, old.jpeg_quality) == ("quick", 70), "a number is the JPEG quality, as before"
    assert (plain.quality, plain.jpeg_quality) == ("quick", 80), "the top level's settings apply"
