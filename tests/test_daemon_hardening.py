"""The daemon never paints a photo wrong and never sends a good photo to failed/: masks that
belong to one photo, masks that settle, links that leave the inbox, permissions, names
with any character, settings that can never work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import EXAMPLES, PHOTO, ROOT
from daemon.config import Rule, state_dir_for
from daemon.journal import JOURNAL_NAME
from daemon_support import SETTLE, outputs, settle, wait_for, zero
from test_daemon_safety import Crash, _fill, small_disk  # noqa: F401 (a fixture)
from stylizer import images

SECOND_PHOTO = EXAMPLES / "rocket.jpg"
PNG = Rule(presets=(), format="png")  # PNG outputs carry the parameters they were made with

def _left_half_mask(path: Path, size=(64, 48)) -> Path:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle([0, 0, size[0] // 2, size[1]], fill=255)
    mask.save(path)
    return path


def _metadata(path: Path) -> dict:
    return json.loads(Image.open(path).info["stylizer"])


def _painted_right_against_left(painting: Path, photo: Path) -> float:
    """How much the right third of a painting moved from its photo, against the left third:
    about 1 unmasked, far below 1 under a left-half mask (the right stays the photo)."""
    painted = np.asarray(images.load(painting), dtype=np.float32)
    original = np.asarray(images.load(photo).resize(images.load(painting).size), dtype=np.float32)
    third = painted.shape[1] // 3
    change = np.abs(painted - original).mean(axis=(0, 2))
    return float(change[-third:].mean() / change[:third].mean())


@pytest.mark.parametrize("originals", ["keep", "move"])
def test_an_old_mask_never_masks_a_new_photo_of_the_same_name(tmp_path, stylizer, originals):
    inbox, out = tmp_path / "in", tmp_path / "out"
    folder = inbox / "tiny"
    folder.mkdir(parents=True)
    _left_half_mask(folder / "photo.mask.png")
    shutil.copy(PHOTO, folder / "photo.jpg")
    with zero(tmp_path, stylizer, originals=originals, defaults=PNG, iterations=40) as service:
        settle(service)
        assert outputs(out) == ["tiny/photo.png"]
        assert _metadata(out / "tiny" / "photo.png").get("mask") == "photo.mask.png"
        # A different photo under the same name, with no mask of its own.
        shutil.copy(SECOND_PHOTO, tmp_path / "new.jpg")
        os.rename(tmp_path / "new.jpg", folder / "photo.jpg")
        settle(service)
    assert outputs(out) == ["tiny/photo-2.png", "tiny/photo.png"]
    second = out / "tiny" / "photo-2.png"
    assert "mask" not in _metadata(second), "the first photo's mask was applied to the second"
    assert _painted_right_against_left(out / "tiny" / "photo.png", PHOTO) < 0.5, "the first was masked"
    assert _painted_right_against_left(second, SECOND_PHOTO) > 0.7, "the right third was kept as the photo: masked"
    if originals == "move":
        processed = sorted(p.relative_to(inbox / "processed").as_posix() for p in (inbox / "processed").rglob("*"))
        assert processed == ["tiny", "tiny/photo-2.jpg", "tiny/photo.jpg", "tiny/photo.mask.png"], processed
        assert not (folder / "photo.mask.png").exists(), "the mask moves with its photo"


def test_a_new_mask_beside_a_new_photo_of_that_name_is_used(tmp_path, stylizer):
    inbox, out = tmp_path / "in", tmp_path / "out"
    folder = inbox / "tiny"
    folder.mkdir(parents=True)
    _left_half_mask(folder / "photo.mask.png")
    shutil.copy(PHOTO, folder / "photo.jpg")
    with zero(tmp_path, stylizer, defaults=PNG) as service:
        settle(service)
        time.sleep(0.01)
        _left_half_mask(tmp_path / "mask.png")  # written again: a new mask, even with the same pixels
        os.replace(tmp_path / "mask.png", folder / "photo.mask.png")
        shutil.copy(SECOND_PHOTO, tmp_path / "new.jpg")
        os.rename(tmp_path / "new.jpg", folder / "photo.jpg")
        settle(service)
    assert outputs(out) == ["tiny/photo-2.png", "tiny/photo.png"]
    assert _metadata(out / "tiny" / "photo-2.png").get("mask") == "photo.mask.png"


def test_a_mask_that_arrives_after_its_photo_is_reported_and_not_kept(tmp_path, stylizer, caplog):
    inbox, out = tmp_path / "in", tmp_path / "out"
    folder = inbox / "tiny"
    folder.mkdir(parents=True)
    shutil.copy(PHOTO, folder / "photo.jpg")
    with zero(tmp_path, stylizer, defaults=PNG) as service:
        settle(service)
        _left_half_mask(folder / "photo.mask.png")
        settle(service)
        assert "arrived after" in (service.status.snapshot()["last_problem"] or "")
        shutil.copy(SECOND_PHOTO, tmp_path / "new.jpg")
        os.rename(tmp_path / "new.jpg", folder / "photo.jpg")
        settle(service)
    assert outputs(out) == ["tiny/photo-2.png", "tiny/photo.png"], "the late mask repainted nothing"
    assert "mask" not in _metadata(out / "tiny" / "photo.png")
    assert "mask" not in _metadata(out / "tiny" / "photo-2.png"), "a late mask was kept for the next photo"


def test_a_photo_waits_for_its_half_written_mask(tmp_path, stylizer):
    inbox, out = tmp_path / "in", tmp_path / "out"
    folder = inbox / "tiny"
    folder.mkdir(parents=True)
    mask = _left_half_mask(tmp_path / "whole.png")
    data = mask.read_bytes()
    with zero(tmp_path, stylizer, defaults=PNG) as service:
        shutil.copy(PHOTO, folder / "photo.jpg")
        pieces = 16
        for start in range(0, len(data), -(-len(data) // pieces)):  # a slow copy, well past the photo's settling
            with open(folder / "photo.mask.png", "ab") as handle:
                handle.write(data[start : start + -(-len(data) // pieces)])
            time.sleep(SETTLE / 3)
        wait_for(lambda: outputs(out), timeout=120, message="the painting")
        settle(service)
    assert not (inbox / "failed").exists(), "a good photo went to failed/ because of a half-written mask"
    assert outputs(out) == ["tiny/photo.png"]
    assert _metadata(out / "tiny" / "photo.png").get("mask") == "photo.mask.png"


def test_a_mask_with_an_upper_case_ending_is_used(tmp_path, stylizer):
    inbox, out = tmp_path / "in", tmp_path / "out"
    folder = inbox / "tiny"
    folder.mkdir(parents=True)
    _left_half_mask(folder / "photo.MASK.PNG")
    shutil.copy(PHOTO, folder / "photo.jpg")
    with zero(tmp_path, stylizer, defaults=PNG) as service:
        settle(service)
    assert outputs(out) == ["tiny/photo.png"]
    assert _metadata(out / "tiny" / "photo.png").get("mask") == "photo.MASK.PNG"


def test_a_mask_that_is_not_an_image_fails_its_photo_and_both_leave(tmp_path, stylizer):
    inbox, out = tmp_path / "in", tmp_path / "out"
    folder = inbox / "tiny"
    folder.mkdir(parents=True)
    (folder / "photo.mask.png").write_text("not a mask")
    shutil.copy(PHOTO, folder / "photo.jpg")
    with zero(tmp_path, stylizer) as service:
        settle(service)
        assert service.status.snapshot()["retrying"] == 0
    failed = inbox / "failed" / "tiny"
    assert sorted(p.name for p in failed.iterdir()) == ["photo.jpg", "photo.jpg.error.txt", "photo.mask.png"]
    assert "not an image" in (failed / "photo.jpg.error.txt").read_text()


def test_links_out_of_the_inbox_are_painted_only_when_allowed_and_outputs_stay_private(tmp_path, stylizer):
    inbox, out = tmp_path / "in", tmp_path / "out"
    folder = inbox / "tiny"
    folder.mkdir(parents=True)
    outside = tmp_path / "outside.jpg"
    shutil.copy(PHOTO, outside)
    (folder / "link.jpg").symlink_to(outside)
    shutil.copy(PHOTO, folder / "private.jpg")
    os.chmod(folder / "private.jpg", 0o600)
    with zero(tmp_path, stylizer, follow_links=True) as service:
        settle(service)
    assert outputs(out) == ["tiny/link.jpg", "tiny/private.jpg"]
    assert (out / "tiny" / "private.jpg").stat().st_mode & 0o777 == 0o600, "a private photo's painting is private"


def test_a_newline_in_a_name_is_journalled_and_read_back(tmp_path, stylizer):
    inbox, out = tmp_path / "in", tmp_path / "out"
    folder = inbox / "tiny"
    folder.mkdir(parents=True)
    shutil.copy(PHOTO, folder / "two\nlines.jpg")
    with zero(tmp_path, stylizer) as service:
        settle(service)
        assert service.status.snapshot()["done"] == 1 and service.status.snapshot()["retrying"] == 0
    assert outputs(out) == ["tiny/two\nlines.jpg"]
    records = [json.loads(line) for line in (state_dir_for(out) / JOURNAL_NAME).read_text().splitlines()]
    assert any(r["op"] == "done" and r["job"][1] == "tiny/two\nlines.jpg" for r in records)
    with zero(tmp_path, stylizer) as service:  # read back after a restart: not painted again
        settle(service)
        assert service.status.snapshot()["done"] == 0
    assert outputs(out) == ["tiny/two\nlines.jpg"]


def test_a_journal_written_before_keys_were_lists_is_still_read(tmp_path, stylizer):
    inbox, out = tmp_path / "in", tmp_path / "out"
    folder = inbox / "tiny"
    folder.mkdir(parents=True)
    shutil.copy(PHOTO, folder / "photo.jpg")
    with zero(tmp_path, stylizer) as service:
        settle(service)
    journal = state_dir_for(out) / JOURNAL_NAME
    old_style = []
    for line in journal.read_text().splitlines():
        record = json.loads(line)
        if record["op"] in ("done", "claim"):
            watch, relative, sha, _mask, preset = record["job"]
            old_style.append(json.dumps({**record, "job": f"{watch}\n{relative}\n{sha}\n{preset}"}))
    journal.write_text("\n".join(old_style) + "\n")
    with zero(tmp_path, stylizer) as service:
        settle(service)
        assert service.status.snapshot()["done"] == 0, "an upgrade must not paint everything again"
    assert outputs(out) == ["tiny/photo.jpg"]


def test_settings_that_can_never_paint_a_photo_send_it_to_failed_instead_of_retrying(tmp_path, stylizer):
    """A mask with a preset on the paper's own losses cannot be painted: retrying it every
    hour forever helps no one."""
    inbox, out = tmp_path / "in", tmp_path / "out"
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "tiny-paper.yaml").write_text(
        "name: Tiny paper\nstyle: starry.jpg\nsize: 48\nscales: 1\niterations: 4\nlosses: paper\nratio: 1e-3\n"
    )
    folder = inbox / "tiny-paper"
    folder.mkdir(parents=True)
    _left_half_mask(folder / "photo.mask.png")
    shutil.copy(PHOTO, folder / "photo.jpg")
    shutil.copy(PHOTO, folder / "plain.jpg")
    with zero(tmp_path, stylizer, defaults=PNG) as service:
        settle(service, timeout=300)
        status = service.status.snapshot()
    assert status["retrying"] == 0 and status["failed"] == 1 and status["done"] == 1
    assert outputs(out) == ["tiny-paper/plain.png"]
    note = (inbox / "failed" / "tiny-paper" / "photo.jpg.error.txt").read_text()
    assert "cannot paint it" in note and "mask" in note


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--settle", "-5"], "--settle: expected 0 to 600 seconds"),
        (["--settle", "nan"], "--settle: expected 0 to 600 seconds"),
        (["--jpeg-quality", "-3"], "--jpeg-quality: expected 1 to 100"),
        (["--jpeg-quality", "500"], "--jpeg-quality: expected 1 to 100"),
        (["--size", "0"], "--size: expected 32 to 8192"),
        (["--size", "20000"], "--size: expected 32 to 8192"),
    ],
)
def test_bad_flags_are_refused_at_start_in_one_line(tmp_path, flags, message):
    run = subprocess.run(
        [sys.executable, "-m", "daemon", str(tmp_path / "in"), "--out", str(tmp_path / "out"), *flags],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"python -m daemon: error: {run.stderr.split('error: ', 1)[1].strip()}"]
    assert message in run.stderr
    assert not (tmp_path / "in").exists(), "nothing starts with a bad flag"


def test_the_same_values_in_daemon_yaml_get_the_same_words(tmp_path):
    from daemon.config import ConfigError, read_config

    config = tmp_path / "daemon.yaml"
    config.write_text("watch: in\noutput: out\nsettle_seconds: -5\n")
    with pytest.raises(ConfigError, match="settle_seconds: expected 0 to 600 seconds"):
        read_config(config)


def test_after_a_restart_status_counts_only_what_really_waits(tmp_path, stylizer):
    """A restart offers every photo still in the inbox again; most are already painted."""
    from daemon.status import read_status

    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "tiny").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        shutil.copy(PHOTO, inbox / "tiny" / name)
    with zero(tmp_path, stylizer) as service:
        settle(service)
    with zero(tmp_path, stylizer) as service:
        settle(service)
        assert service.status.snapshot()["done"] == 0
        wait_for(lambda: read_status(state_dir_for(out))["queued"] == 0, timeout=10,
                 message="status.json to say nothing waits")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_job_recovered_after_a_crash_counts_as_done(tmp_path, stylizer, monkeypatch):
    from daemon.journal import Journal

    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "tiny").mkdir(parents=True)
    shutil.copy(PHOTO, inbox / "tiny" / "photo.jpg")

    def die(*_):
        raise Crash()

    monkeypatch.setattr(Journal, "done", die)  # killed after the output got its name, before `done`
    with zero(tmp_path, stylizer) as service:
        wait_for(lambda: not service._threads[0].is_alive(), message="the worker to die")
    monkeypatch.undo()
    assert outputs(out) == ["tiny/photo.jpg"]
    with zero(tmp_path, stylizer) as service:
        settle(service)
        assert service.status.snapshot()["done"] == 1
    assert outputs(out) == ["tiny/photo.jpg"]


def test_status_is_rewritten_on_a_full_disk(tmp_path, stylizer, small_disk):
    from daemon.status import read_status

    with zero(tmp_path, stylizer) as service:
        settle(service)
        _fill(small_disk, leave=0)
        service.status.update(last_problem="written on a full disk")
        assert read_status(state_dir_for(small_disk))["last_problem"] == "written on a full disk"


def test_status_by_config_still_finds_a_daemon_whose_config_was_deleted(tmp_path, stylizer, monkeypatch, capsys):
    from daemon.__main__ import main as daemon_main
    from daemon.config import read_config
    from daemon_support import make_presets, running

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    make_presets(tmp_path / "presets")
    config = tmp_path / "daemon.yaml"
    config.write_text(f"watch: in\noutput: out\npresets: [presets]\nsettle_seconds: {SETTLE}\n")
    with running(lambda: read_config(config), stylizer) as service:
        settle(service)
        config.unlink()
        assert daemon_main(["status", "--config", str(config)]) == 0
        shown = capsys.readouterr().out
    assert "daemon: watching" in shown and str(tmp_path / "out") in shown


def test_files_left_alone_are_named_in_the_log_and_status(tmp_path, stylizer, caplog):
    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "tiny").mkdir(parents=True)
    shutil.copy(PHOTO, inbox / "tiny" / "..jpg")
    shutil.copy(PHOTO, inbox / "tiny" / "photo.jpg.part")  # still downloading: not worth a word
    with zero(tmp_path, stylizer) as service:
        settle(service)
        left = service.status.snapshot()["left_alone"]
    assert outputs(out) == []
    assert [entry["file"] for entry in left] == ["tiny/..jpg"] and "rename it" in left[0]["reason"]
    assert "tiny/..jpg" in caplog.text
