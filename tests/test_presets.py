"""YAML presets: loading, validation messages, folder rules and the registry. No stylization."""

from __future__ import annotations

import dataclasses
import os
import re
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from stylizer import presets
from stylizer.errors import StylizerError
from stylizer.filter import Filter, ratio_from_strength
from stylizer.presets import (
    BUILTIN_DIR,
    FIELDS,
    PRESETS_ENV,
    PresetError,
    PresetLoadError,
    load_preset,
    load_presets,
)


def png(path: Path, color: tuple[int, int, int] = (200, 80, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), color).save(path)
    return path


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(PresetError) as info:
        load_preset(path)
    return str(info.value)


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRESETS_ENV, raising=False)


@pytest.fixture
def no_builtins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Load only the folders a test gives, so counts are exact."""
    empty = tmp_path / "builtin-empty"
    empty.mkdir()
    monkeypatch.setattr(presets, "BUILTIN_DIR", empty)


# -- built-in presets ---------------------------------------------------------------------


def test_builtin_presets_all_load() -> None:
    registry = load_presets()
    assert registry.errors == []
    assert len(registry.presets) >= 8
    for preset in registry.presets.values():
        assert preset.path.parent == BUILTIN_DIR
        assert preset.name and preset.description and preset.credit, preset.id
        assert "public domain" in preset.credit
        assert preset.thumbnail.is_file() and preset.thumbnail.is_relative_to(BUILTIN_DIR / "styles")


def test_builtin_presets_are_ordered_by_name() -> None:
    names = [p.name for p in load_presets().presets.values()]
    assert names == sorted(names, key=str.casefold)


def test_every_filter_field_can_be_written_in_yaml() -> None:
    filter_fields = {f.name for f in dataclasses.fields(Filter)} - {"styles", "auto_strength"}
    assert filter_fields <= set(FIELDS)  # auto_strength is written `strength: auto`


def test_readme_annotated_example_loads_and_documents_the_real_defaults(tmp_path: Path) -> None:
    readme = (BUILTIN_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Every field, annotated", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    png(tmp_path / "styles" / "starry_night.jpg")
    path = tmp_path / "annotated.yaml"
    path.write_text(example, encoding="utf-8")
    preset = load_preset(path)
    assert preset.filter.ratio == pytest.approx(Filter.ratio)
    assert preset.filter.replace(ratio=Filter.ratio) == Filter(styles=preset.filter.styles)


# -- one file -----------------------------------------------------------------------------


def test_minimal_preset_uses_filter_defaults(tmp_path: Path) -> None:
    image = png(tmp_path / "styles" / "mine.png")
    path = write(
        tmp_path,
        "my-painting.yaml",
        """\
        name: My Painting
        credit: Me, Untitled, 2024
        style: styles/mine.png
        """,
    )
    preset = load_preset(path)
    assert (preset.id, preset.name, preset.credit, preset.description) == (
        "my-painting", "My Painting", "Me, Untitled, 2024", "",
    )
    assert preset.path == path
    assert preset.thumbnail == image.resolve()
    assert preset.filter == Filter(styles=preset.filter.styles)
    assert [(s.weight, s.scale) for s in preset.filter.styles] == [(1.0, 1.0)]


def test_name_defaults_to_title_cased_id(tmp_path: Path) -> None:
    png(tmp_path / "a.png")
    preset = load_preset(write(tmp_path, "blue-period.yml", "style: a.png\n"))
    assert (preset.id, preset.name) == ("blue-period", "Blue Period")


def test_style_list_with_weights_and_scales(tmp_path: Path) -> None:
    png(tmp_path / "a.png")
    png(tmp_path / "b.png")
    path = write(
        tmp_path,
        "blend.yaml",
        """\
        style:
          - image: a.png
            weight: 0.7
            scale: '1.5'
          - b.png
        """,
    )
    styles = load_preset(path).filter.styles
    assert [(Path(s.source).name, s.weight, s.scale) for s in styles] == [("a.png", 0.7, 1.5), ("b.png", 1.0, 1.0)]


def test_fields_reach_the_filter(tmp_path: Path) -> None:
    png(tmp_path / "a.png")
    path = write(
        tmp_path,
        "tuned.yaml",
        """\
        style: a.png
        strength: 8
        style_layers: [conv1_1, conv2_1, conv3_1]
        layer_weights: [1, 0.5, 0.25]
        size: 256
        iterations: 50
        init: noise
        preserve_color: no
        seed: 7
        """,
    )
    f = load_preset(path).filter
    assert f.ratio == ratio_from_strength(8)
    assert f.style_layers == ("conv1_1", "conv2_1", "conv3_1") and f.layer_weights == (1.0, 0.5, 0.25)
    assert (f.size, f.iterations, f.init, f.preserve_color, f.seed) == (256, 50, "noise", "none", 7)


def test_ratio_written_as_1e_minus_6_is_a_number(tmp_path: Path) -> None:
    png(tmp_path / "a.png")
    path = write(tmp_path, "r.yaml", "style: a.png\nratio: 1e-6\ntv_weight: 1e-3\n")
    f = load_preset(path).filter
    assert (f.ratio, f.tv_weight) == (1e-6, 1e-3)


def test_unknown_field_suggests_the_right_name(tmp_path: Path) -> None:
    png(tmp_path / "a.png")
    path = write(tmp_path, "x.yaml", "style: a.png\nitrations: 100\n")
    assert error_of(path) == f"{path}: unknown field 'itrations'; did you mean 'iterations'?"


def test_unknown_style_entry_key_suggests_the_right_name(tmp_path: Path) -> None:
    png(tmp_path / "a.png")
    path = write(tmp_path, "x.yaml", "style:\n  - image: a.png\n    wieght: 2\n")
    assert "unknown key 'wieght'; did you mean 'weight'?" in error_of(path)


def test_non_numeric_strength_names_file_and_field(tmp_path: Path) -> None:
    png(tmp_path / "a.png")
    path = write(tmp_path, "wave.yaml", "style: a.png\nstrength: high\n")
    assert error_of(path) == f"{path}: strength: expected a number from 0 to 10, or auto; got 'high'"


@pytest.mark.parametrize(
    "line, expected",
    [
        ("strength: 11", "strength: expected a number from 0 to 10"),
        ("size: 512.5", "size: expected a whole number"),
        ("iterations: '300'", "iterations: expected a whole number"),
        ("layer_weights: 1", "layer_weights: expected a list"),
        ("layer_weights: [1, 1]", "layer_weights: 2 weights given for 5 style layers"),
        ("style_layers: [conv1_1]", "style_layers: 1 layers given; add layer_weights"),
        ("init: sideways", "init: expected one of content, noise, style"),
        ("content_layer: conv9_9", "layer 'conv9_9' is not a VGG-19 conv layer"),
        ("name: 1889", "name: expected text"),
        ("ratio: yes", "ratio: expected a number, got True"),
    ],
)
def test_bad_values_are_reported_with_file_and_field(tmp_path: Path, line: str, expected: str) -> None:
    png(tmp_path / "a.png")
    path = write(tmp_path, "bad.yaml", f"style: a.png\n{line}\n")
    message = error_of(path)
    assert message.startswith(f"{path}: ") and expected in message


def test_strength_and_ratio_together_is_an_error(tmp_path: Path) -> None:
    png(tmp_path / "a.png")
    path = write(tmp_path, "both.yaml", "style: a.png\nstrength: 5\nratio: 1e-5\n")
    assert "give either strength or ratio, not both" in error_of(path)


@pytest.mark.parametrize("text", ["- style: a.png\n", "just words\n", ""])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "list.yaml", text)
    assert "the top level must be a mapping" in error_of(path)


def test_missing_style_field(tmp_path: Path) -> None:
    assert "style: missing" in error_of(write(tmp_path, "x.yaml", "name: Nothing\n"))


def test_invalid_yaml_gives_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.yaml", "style: a.png\nname: [unclosed\n")
    assert re.match(rf"{re.escape(str(path))}: invalid YAML at line \d+, column \d+", error_of(path))


# -- style image paths --------------------------------------------------------------------


def test_missing_style_image_shows_resolved_path(tmp_path: Path) -> None:
    path = write(tmp_path / "p", "x.yaml", "style: styles/nope.jpg\n")
    message = error_of(path)
    assert "image not found" in message
    assert str((tmp_path / "p" / "styles" / "nope.jpg").resolve()) in message


def test_style_file_that_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "fake.jpg").write_text("not a jpeg")
    path = write(tmp_path, "x.yaml", "style: fake.jpg\n")
    assert f"not a readable image: {(tmp_path / 'fake.jpg').resolve()}" in error_of(path)


def test_truncated_style_image_is_caught_when_loading(tmp_path: Path) -> None:
    data = png(tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:-20])  # opens fine; only verify() notices
    path = write(tmp_path, "x.yaml", "style: cut.png\n")
    assert f"not a readable image: {(tmp_path / 'cut.png').resolve()}" in error_of(path)


def test_style_path_escaping_with_dotdot_is_rejected(tmp_path: Path) -> None:
    png(tmp_path / "outside.png")
    path = write(tmp_path / "p", "x.yaml", "style: ../outside.png\n")
    message = error_of(path)
    assert "'../outside.png' points outside the preset's folder" in message


def test_absolute_style_path_is_rejected(tmp_path: Path) -> None:
    image = png(tmp_path / "outside.png")
    path = write(tmp_path / "p", "x.yaml", f"style:\n  - image: '{image.resolve()}'\n")
    assert "is an absolute path; give a path relative to" in error_of(path)


def test_symlink_pointing_outside_is_rejected(tmp_path: Path) -> None:
    image = png(tmp_path / "outside.png")
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "inside.png").symlink_to(image)
    path = write(folder, "x.yaml", "style: inside.png\n")
    assert "'inside.png' is a symlink that points outside the preset's folder" in error_of(path)


def test_symlink_inside_the_folder_is_fine(tmp_path: Path) -> None:
    image = png(tmp_path / "p" / "styles" / "real.png")
    (tmp_path / "p" / "alias.png").symlink_to(image)
    preset = load_preset(write(tmp_path / "p", "x.yaml", "style: alias.png\n"))
    assert preset.thumbnail == image.resolve()


# -- folders and the registry -------------------------------------------------------------


def test_bad_file_does_not_hide_good_one(tmp_path: Path, no_builtins: None) -> None:
    png(tmp_path / "mine" / "a.png")
    write(tmp_path / "mine", "good.yaml", "style: a.png\n")
    bad = write(tmp_path / "mine", "bad.yaml", "style: a.png\nstrength: high\n")
    registry = load_presets([tmp_path / "mine"])
    assert list(registry.presets) == ["good"]
    assert registry.errors == [PresetLoadError(bad, "strength: expected a number from 0 to 10, or auto; got 'high'")]
    assert str(registry.errors[0]) == f"{bad}: strength: expected a number from 0 to 10, or auto; got 'high'"


def test_missing_extra_folder_is_reported_not_raised(tmp_path: Path) -> None:
    registry = load_presets([tmp_path / "nowhere"])
    assert registry.presets  # built-ins still there
    assert registry.errors == [PresetLoadError(tmp_path / "nowhere", "presets folder not found")]


def test_user_folder_overrides_builtin_id(tmp_path: Path) -> None:
    builtin = load_presets()
    png(tmp_path / "mine" / "a.png")
    mine = write(tmp_path / "mine", "starry-night.yaml", "name: My Starry Night\nstyle: a.png\n")
    registry = load_presets([str(tmp_path / "mine")])
    assert registry.errors == []
    assert registry.get("starry-night").path == mine
    assert registry.get("starry-night").name == "My Starry Night"
    assert registry.presets.keys() == builtin.presets.keys()


def test_env_var_folders_are_read_and_extra_dirs_come_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_builtins: None
) -> None:
    for folder in ("one", "two", "three"):
        png(tmp_path / folder / "a.png")
        write(tmp_path / folder, "shared.yaml", f"name: From {folder}\nstyle: a.png\n")
    write(tmp_path / "one", "only-one.yaml", "style: a.png\n")
    monkeypatch.setenv(PRESETS_ENV, os.pathsep.join([str(tmp_path / "one"), str(tmp_path / "two")]))

    registry = load_presets()
    assert registry.errors == []
    assert sorted(registry.presets) == ["only-one", "shared"]
    assert registry.get("shared").name == "From two"
    assert load_presets([tmp_path / "three"]).get("shared").name == "From three"
    assert list(load_presets(include_env=False).presets) == []


def test_get_suggests_close_id() -> None:
    registry = load_presets()
    with pytest.raises(StylizerError) as info:
        registry.get("starry")
    message = str(info.value)
    assert message.startswith("unknown preset 'starry'; did you mean 'starry-night'? (available: ")
    assert "great-wave" in message and "\n" not in message


def test_get_explains_a_preset_that_failed_to_load(tmp_path: Path, no_builtins: None) -> None:
    write(tmp_path / "mine", "broken.yaml", "style: missing.png\n")
    registry = load_presets([tmp_path / "mine"])
    with pytest.raises(PresetError, match="preset 'broken' could not be loaded: style: image not found"):
        registry.get("broken")


def test_get_mentions_a_missing_presets_folder(tmp_path: Path) -> None:
    registry = load_presets([tmp_path / "my-presets"])
    with pytest.raises(StylizerError, match="presets folder not found"):
        registry.get("persistence-of-memory")
