"""The watch-folder daemon in-process: what lands in the inbox comes out painted, nothing lost."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import PHOTO
from daemon.__main__ import main as daemon_main
from daemon.files import publish as REAL_PUBLISH
from daemon_support import outputs, settle, temporaries, wait_for, zero
from stylizer import images


def _snapshot(path):
    stat = path.stat()
    return path.read_bytes(), stat.st_mtime_ns


def test_zero_config_paints_files_already_waiting_and_new_ones(tmp_path, stylizer):
    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "tiny" / "trip" / "day 1").mkdir(parents=True)
    early = inbox / "tiny" / "trip" / "day 1" / "early.jpg"
    shutil.copy(PHOTO, early)  # arrived while the daemon was down
    before = _snapshot(early)
    with zero(tmp_path, stylizer) as service:
        # One folder per preset is there for users to drop into, built-in presets included.
        assert (inbox / "tiny-wave").is_dir() and (inbox / "starry-night").is_dir()
        shutil.copy(PHOTO, inbox / "tiny-wave" / "late.jpg")
        settle(service)
        assert service.status.snapshot()["done"] == 2
    assert outputs(out) == ["tiny-wave/late.jpg", "tiny/trip/day 1/early.jpg"]
    painted = images.load(out / "tiny" / "trip" / "day 1" / "early.jpg")
    assert max(painted.size) == 48 and painted.size[0] > painted.size[1]
    assert _snapshot(early) == before, "the original must never be modified"
    assert not temporaries(out, inbox)


def test_a_file_is_read_only_once_completely_written(tmp_path, stylizer):
    inbox, out = tmp_path / "in", tmp_path / "out"
    data = PHOTO.read_bytes()
    elsewhere = tmp_path / "elsewhere.jpg"
    elsewhere.write_bytes(data)
    with zero(tmp_path, stylizer) as service:
        folder = inbox / "tiny"

        def slow_copy():  # one open file, written in pieces with pauses
            with open(folder / "slow.jpg", "wb") as handle:
                for start in range(0, len(data), len(data) // 8):
                    handle.write(data[start : start + len(data) // 8])
                    handle.flush()
                    time.sleep(0.1)

        def download_in_pieces():  # reopened for every piece, like a resumed download
            for start in range(0, len(data), len(data) // 6):
                with open(folder / "pieces.jpg", "ab") as handle:
                    handle.write(data[start : start + len(data) // 6])
                time.sleep(0.1)

        writers = [threading.Thread(target=slow_copy), threading.Thread(target=download_in_pieces)]
        for writer in writers:
            writer.start()
        # A browser download: written under a temporary name, renamed when complete.
        (folder / "browser.jpg.part").write_bytes(data[: len(data) // 2])
        (folder / ".~lock.jpg").write_bytes(data)
        os.rename(elsewhere, folder / "moved-in.jpg")
        for writer in writers:
            writer.join()
        settle(service)
        assert outputs(out) == ["tiny/moved-in.jpg", "tiny/pieces.jpg", "tiny/slow.jpg"]
        assert not (inbox / "failed").exists(), "a half-written file was read too early"
        with open(folder / "browser.jpg.part", "ab") as handle:
            handle.write(data[len(data) // 2 :])
        os.rename(folder / "browser.jpg.part", folder / "browser.jpg")
        settle(service)
    assert outputs(out) == ["tiny/browser.jpg", "tiny/moved-in.jpg", "tiny/pieces.jpg", "tiny/slow.jpg"]
    for name in outputs(out):
        assert max(images.load(out / name).size) == 48


def _bad_and_odd_inputs(folder, tmp_path):
    """Every kind of file the issue lists; returns (should work, should fail) names."""
    data = PHOTO.read_bytes()
    photo = Image.open(PHOTO)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "notes.jpg").write_text("not a picture at all")
    bomb = tmp_path / "bomb.png"
    Image.new("1", (16, 16)).save(bomb)
    raw = bytearray(bomb.read_bytes())
    raw[16:24] = (40000).to_bytes(4, "big") + (40000).to_bytes(4, "big")  # IHDR claims 1.6 GP
    import zlib

    raw[29:33] = zlib.crc32(bytes(raw[12:29])).to_bytes(4, "big")
    (folder / "bomb.png").write_bytes(bytes(raw))
    Image.new("RGB", (6000, 4000), (90, 120, 200)).save(folder / "huge.jpg", quality=50)
    Image.new("I;16", (64, 40), 40000).save(folder / "sixteen-bit.png")
    photo.convert("CMYK").save(folder / "cmyk.jpg")
    frames = [photo.resize((64, 48)), photo.resize((64, 48)).rotate(180)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": stored landscape, shown portrait
    photo.resize((80, 40)).save(folder / "rotated.jpg", exif=exif)
    shutil.copy(PHOTO, folder / "café au lait ü.jpg")
    (folder / "deep" / "deeper").mkdir(parents=True)
    shutil.copy(PHOTO, folder / "deep" / "deeper" / "nested.jpg")
    target = tmp_path / "outside.jpg"
    shutil.copy(PHOTO, target)
    (folder / "link.jpg").symlink_to(target)  # leaves the watch folder: refused unless allowed
    (folder / "inner-link.jpg").symlink_to(folder / "deep" / "deeper" / "nested.jpg")
    (folder / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    works = ["huge.jpg", "sixteen-bit.png", "cmyk.jpg", "animated.png", "rotated.jpg", "café au lait ü.jpg",
             "deep/deeper/nested.jpg", "inner-link.jpg"]
    fails = ["empty.jpg", "truncated.jpg", "notes.jpg", "bomb.png", "dangling.jpg", "link.jpg"]
    return works, fails, target


def test_bad_input_is_set_aside_with_a_reason_and_the_rest_is_painted(tmp_path, stylizer):
    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "tiny").mkdir(parents=True)
    works, fails, link_target = _bad_and_odd_inputs(inbox / "tiny", tmp_path)
    target_before = _snapshot(link_target)
    with zero(tmp_path, stylizer) as service:
        settle(service, timeout=120)
        status = service.status.snapshot()
    assert outputs(out) == sorted(f"tiny/{name}" for name in works)
    assert status["done"] == len(works) and status["failed"] == len(fails)
    for name in fails:
        assert (inbox / "failed" / "tiny" / name).exists() or (inbox / "failed" / "tiny" / name).is_symlink()
        note = (inbox / "failed" / "tiny" / f"{name}.error.txt").read_text()
        assert f"tiny/{name}" in note and "Reason:" in note
        assert not os.path.lexists(inbox / "tiny" / name)
    assert "too large" in (inbox / "failed" / "tiny" / "bomb.png.error.txt").read_text()
    assert "broken symlink" in (inbox / "failed" / "tiny" / "dangling.jpg.error.txt").read_text()
    assert "outside the watch folder" in (inbox / "failed" / "tiny" / "link.jpg.error.txt").read_text()
    rotated = images.load(out / "tiny" / "rotated.jpg")
    assert rotated.size[1] > rotated.size[0], "EXIF orientation must be applied"
    assert max(images.load(out / "tiny" / "huge.jpg").size) == 48
    assert _snapshot(link_target) == target_before and (inbox / "failed" / "tiny" / "link.jpg").is_symlink()


def test_a_name_clash_never_overwrites_another_photos_result(tmp_path, stylizer):
    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "tiny").mkdir(parents=True)
    (out / "tiny").mkdir(parents=True)
    (out / "tiny" / "beach.jpg").write_bytes(b"the user's own file, not ours")
    Image.open(PHOTO).save(inbox / "tiny" / "beach.png")
    Image.open(PHOTO).rotate(90, expand=True).save(inbox / "tiny" / "beach.webp")
    with zero(tmp_path, stylizer, defaults=_rule(format="jpg")) as service:
        settle(service)
    assert outputs(out) == ["tiny/beach-2.jpg", "tiny/beach-3.jpg", "tiny/beach.jpg"]
    assert (out / "tiny" / "beach.jpg").read_bytes() == b"the user's own file, not ours"
    shapes = {images.load(out / "tiny" / n).size for n in ("beach-2.jpg", "beach-3.jpg")}
    assert shapes == {(48, 36), (36, 48)}, "each photo got its own result"


def _rule(**settings):
    from daemon.config import Rule

    return Rule(presets=(), **settings)


def test_move_mode_moves_originals_only_after_their_outputs_exist(tmp_path, stylizer, monkeypatch):
    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "tiny").mkdir(parents=True)
    shutil.copy(PHOTO, inbox / "tiny" / "one.jpg")
    import daemon.worker as worker

    moves = []
    real_move = worker.move_without_clobbering

    def checked_move(source, wanted, **options):
        moves.append((source.name, (out / "tiny" / "one.jpg").is_file()))
        return real_move(source, wanted, **options)

    monkeypatch.setattr(worker, "move_without_clobbering", checked_move)
    with zero(tmp_path, stylizer, originals="move") as service:
        settle(service)
    assert moves == [("one.jpg", True)]
    assert (inbox / "processed" / "tiny" / "one.jpg").read_bytes() == PHOTO.read_bytes()
    assert not (inbox / "tiny" / "one.jpg").exists()
    assert outputs(out) == ["tiny/one.jpg"]


def test_restart_paints_each_file_exactly_once(tmp_path, stylizer):
    inbox, out = tmp_path / "in", tmp_path / "out"
    with zero(tmp_path, stylizer) as service:
        shutil.copy(PHOTO, inbox / "tiny" / "first.jpg")
        settle(service)
    shutil.copy(PHOTO, inbox / "tiny" / "while-down.jpg")
    with zero(tmp_path, stylizer) as service:
        settle(service)
        assert service.status.snapshot()["done"] == 1
    with zero(tmp_path, stylizer) as service:
        settle(service)
        assert service.status.snapshot()["done"] == 0
    assert outputs(out) == ["tiny/first.jpg", "tiny/while-down.jpg"]


class Crash(BaseException):
    """Stands in for kill -9 in the worker thread: none of our except clauses catch it."""


def _crash(*_):
    raise Crash()


def _publish_then_crash(temporary, final):
    REAL_PUBLISH(temporary, final)
    raise Crash()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("crashing_publish", [_crash, _publish_then_crash], ids=["before-link", "after-link"])
def test_a_crash_at_any_step_of_writing_leaves_exactly_one_output(tmp_path, stylizer, monkeypatch, crashing_publish):
    """Killed after the journal claimed a name, before or after the output got it."""
    import daemon.worker as worker

    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "tiny").mkdir(parents=True)
    shutil.copy(PHOTO, inbox / "tiny" / "photo.jpg")
    monkeypatch.setattr(worker, "publish", crashing_publish)
    with zero(tmp_path, stylizer) as service:
        wait_for(lambda: not service._threads[0].is_alive(), message="the worker to die")
    monkeypatch.setattr(worker, "publish", REAL_PUBLISH)
    with zero(tmp_path, stylizer) as service:
        settle(service)
    assert outputs(out) == ["tiny/photo.jpg"]
    assert not temporaries(out), "the restart must clear what the crash left"
    with zero(tmp_path, stylizer) as service:
        settle(service)
    assert outputs(out) == ["tiny/photo.jpg"]


def test_hot_reload_applies_good_edits_and_keeps_the_last_good_config(tmp_path, stylizer):
    from daemon.config import read_config
    from daemon_support import SETTLE, make_presets, running

    presets = make_presets(tmp_path / "presets")
    config = tmp_path / "daemon.yaml"
    base = f"watch: in\noutput: out\npresets: [presets]\npreset_folders: false\nsettle_seconds: {SETTLE}\n"
    config.write_text(base + "rules:\n  - folder: portraits\n    presets: tiny\n")
    inbox, out = tmp_path / "in", tmp_path / "out"
    with running(lambda: read_config(config), stylizer) as service:
        assert not (inbox / "tiny").exists() and (inbox / "portraits").is_dir()
        config.write_text(base + "rules:\n  - folder: portraits\n    presets: [tiny, tiny-wave]\n    format: png\n")
        wait_for(lambda: len(service.settings.config.rules[0].presets) == 2, message="the reload")
        shutil.copy(PHOTO, inbox / "portraits" / "me.jpg")
        settle(service)
        assert outputs(out) == ["tiny-wave/me.png", "tiny/me.png"]
        config.write_text(base + "rules:\n  - folder: portraits\n    presets: [tiny, stary-night]\n")
        wait_for(lambda: service.status.snapshot()["last_error"], message="the broken edit to be reported")
        assert "did you mean 'starry-night'" in service.status.snapshot()["last_error"]
        (presets / "tiny.yaml").write_text("style: starry.jpg\nsize: big\n")  # breaks a preset in use
        time.sleep(1.0)
        shutil.copy(PHOTO, inbox / "portraits" / "you.jpg")
        settle(service)
    assert outputs(out) == ["tiny-wave/me.png", "tiny-wave/you.png", "tiny/me.png", "tiny/you.png"]
    assert max(images.load(out / "tiny" / "you.png").size) == 48, "the last good preset stays in force"


def test_status_command_reports_counts_and_that_it_stopped(tmp_path, stylizer, capsys):
    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "tiny").mkdir(parents=True)
    shutil.copy(PHOTO, inbox / "tiny" / "a.jpg")
    (inbox / "tiny" / "b.jpg").write_text("nope")
    with zero(tmp_path, stylizer) as service:
        settle(service)
        assert daemon_main(["status", "--out", str(out)]) == 0
        live = capsys.readouterr().out
    assert "watching" in live and "done: 1" in live and "failed: 1" in live
    assert daemon_main(["status", "--out", str(out)]) == 0
    assert "not running" in capsys.readouterr().out
    assert daemon_main(["status", "--out", str(tmp_path / "nowhere")]) == 1


def test_a_users_own_preset_gets_a_folder_without_code_changes(tmp_path, stylizer, monkeypatch):
    """presets/README.md's recipe (a painting the user has rights to) works in the daemon too."""
    mine = tmp_path / "my-presets"
    mine.mkdir()
    Image.new("RGB", (64, 48), (180, 140, 60)).save(mine / "my_painting.jpg")
    (mine / "persistence-of-memory.yaml").write_text(
        "name: The Persistence of Memory\nstyle: my_painting.jpg\nsize: 48\nscales: 1\niterations: 4\n"
    )
    monkeypatch.setenv("STYLIZER_PRESETS", str(mine))
    with zero(tmp_path, stylizer) as service:
        folder = tmp_path / "in" / "persistence-of-memory"
        assert folder.is_dir()
        shutil.copy(PHOTO, folder / "clock.jpg")
        settle(service)
    assert outputs(tmp_path / "out") == ["persistence-of-memory/clock.jpg"]


def test_the_daemon_and_another_front_end_share_one_stylizer(tmp_path, stylizer, tiny):
    """As when the app starts the daemon in its own process: jobs take turns on one model."""
    inbox, out = tmp_path / "in", tmp_path / "out"
    with zero(tmp_path, stylizer) as service:
        for i in range(3):
            shutil.copy(PHOTO, inbox / "tiny" / f"{i}.jpg")
        results = [stylizer.stylize(PHOTO, tiny) for _ in range(2)]  # meanwhile, "the app"
        settle(service)
    assert all(max(r.image.size) == 64 for r in results)
    assert outputs(out) == ["tiny/0.jpg", "tiny/1.jpg", "tiny/2.jpg"]


def _paint_by_rules(tmp_path, stylizer, rules: str, photos: list[str], presets: dict[str, str] | None = None) -> Path:
    """Run the daemon with these rules (YAML lines below `rules:`) over the tiny presets
    (plus `presets`, id -> YAML), drop the photo at each of `photos` (below the inbox), and
    return the output folder once all are painted."""
    from daemon.config import read_config
    from daemon_support import SETTLE, make_presets, running

    folder = make_presets(tmp_path / "presets")
    for preset_id, text in (presets or {}).items():
        (folder / f"{preset_id}.yaml").write_text(text)
    config = tmp_path / "daemon.yaml"
    config.write_text(
        f"watch: in\noutput: out\npresets: [presets]\npreset_folders: false\nsettle_seconds: {SETTLE}\nformat: png\n"
        f"rules:\n{rules}"
    )
    with running(lambda: read_config(config), stylizer) as service:
        for path in photos:
            shutil.copy(PHOTO, tmp_path / "in" / path)
        settle(service)
    return tmp_path / "out"


def test_rules_choose_how_much_painting(tmp_path, stylizer):
    rules = "  - folder: fast\n    presets: tiny\n    quality: instant\n  - folder: quick\n    presets: tiny\n    quality: quick\n"
    out = _paint_by_rules(tmp_path, stylizer, rules, ["fast/a.jpg", "quick/b.jpg"])
    assert outputs(out) == ["tiny/a.png", "tiny/b.png"]
    instant, quick = (images.read_metadata(out / "tiny" / name) for name in ("a.png", "b.png"))
    assert instant["stats"]["iterations"] == 0 and instant["stats"]["precision"] == "int8"
    assert quick["stats"]["iterations"] == 15 and quick["filter"]["init"] == "instant"
    assert max(images.load(out / "tiny" / "a.png").size) == 48


def test_rules_set_the_strength_or_leave_it_to_auto(tmp_path, stylizer):
    from stylizer.filter import ratio_from_strength

    # Two scales (128 and 256 px): auto measures in the second.
    small = {"small": "style: starry.jpg\nsize: 256\niterations: 20\n"}
    rules = "  - folder: auto\n    presets: small\n    strength: auto\n  - folder: soft\n    presets: small\n    strength: 3\n"
    out = _paint_by_rules(tmp_path, stylizer, rules, ["auto/a.jpg", "soft/b.jpg"], small)
    auto, soft = (images.read_metadata(out / "small" / name) for name in ("a.png", "b.png"))
    assert auto["filter"]["auto_strength"] is True and "auto_level" in auto["stats"]
    assert soft["filter"]["auto_strength"] is False and soft["filter"]["ratio"] == pytest.approx(ratio_from_strength(3))
