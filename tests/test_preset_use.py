"""Presets in use: from the command line, in a contact sheet, and in the style-target cache."""

import json
import os
import shutil

from PIL import Image

from conftest import PAINTING, PHOTO
from stylizer import Filter, images, load_presets
from stylizer.cli import main

TINY = ["--size", "48", "--iterations", "4", "--scales", "1"]


def _user_preset(folder, preset_id="persistence-of-memory"):
    """A user's own painting, added the way presets/README.md tells them to."""
    folder.mkdir(exist_ok=True)
    Image.new("RGB", (64, 48), (180, 140, 60)).save(folder / "my_painting.jpg")
    (folder / f"{preset_id}.yaml").write_text(
        "name: The Persistence of Memory\ncredit: my own licensed copy\nstyle: my_painting.jpg\n"
    )
    return folder


def test_cli_uses_a_preset_and_its_settings(tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main([str(PHOTO), "--preset", "starry-night", "-o", str(out), "--json", *TINY]) == 0
    meta = images.read_metadata(out)["filter"]
    assert meta["styles"][0]["image"] == "starry_night.jpg" and meta["size"] == 48


def test_user_preset_folder_via_flag_and_environment(tmp_path, capsys, monkeypatch):
    folder = _user_preset(tmp_path / "my-presets")
    assert main(["presets", "--presets", str(folder)]) == 0
    listing = capsys.readouterr().out
    assert "persistence-of-memory" in listing and "starry-night" in listing
    monkeypatch.setenv("STYLIZER_PRESETS", str(folder))
    out = tmp_path / "out.png"
    assert main([str(PHOTO), "--preset", "persistence-of-memory", "-o", str(out), "-q", *TINY]) == 0
    assert out.exists()


def test_presets_listing_reports_broken_files_without_hiding_good_ones(tmp_path, capsys):
    folder = _user_preset(tmp_path / "mine")
    (folder / "broken.yaml").write_text("style: my_painting.jpg\nstrength: high\n")
    assert main(["presets", "--presets", str(folder), "--json"]) == 0
    captured = capsys.readouterr()
    ids = [json.loads(line)["id"] for line in captured.out.splitlines()]
    assert "persistence-of-memory" in ids and len(ids) >= 9
    assert "broken.yaml: strength: expected a number from 0 to 10, or auto; got 'high'" in captured.err


def test_contact_sheet_has_a_cell_per_preset(tmp_path, capsys):
    folder = tmp_path / "only"
    folder.mkdir()
    shutil.copy(PAINTING, folder / "p.jpg")
    for name in ("one", "two", "three"):
        (folder / f"{name}.yaml").write_text("style: p.jpg\n")
    out = tmp_path / "sheet.png"
    code = main(["sheet", str(PHOTO), "-o", str(out), "--presets", str(folder), "-q", *TINY])
    assert code == 0
    assert len(load_presets([folder]).presets) >= 13  # ten built-in plus three
    with Image.open(out) as sheet:
        assert sheet.width > 4 * 200  # at least four 256-px cells across
        assert sheet.height > 2 * 256


def test_style_targets_cached_and_refreshed_when_the_image_changes(stylizer, tmp_path):
    painting = tmp_path / "style.png"
    Image.open(PAINTING).convert("RGB").resize((80, 60)).save(painting)
    filter = Filter(styles=(painting,))
    first = stylizer.style_targets(filter, 64)
    again = stylizer.style_targets(filter, 64)
    assert again["conv1_1"] is first["conv1_1"]  # served from the cache
    Image.new("RGB", (80, 60), "red").save(painting)
    os.utime(painting, ns=(1, 1))  # a different modification time, as any edit gives
    changed = stylizer.style_targets(filter, 64)
    assert not changed["conv1_1"].equal(first["conv1_1"])
