"""The daemon's data-safety promises under hostile conditions: a really full disk (tmpfs),
names at the file system's limit, crashes between two steps of a move, strangers' files at
claimed names, and faults that are not the photo's."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

import daemon.files as files
import daemon.service as service_module
from conftest import PHOTO
from daemon.__main__ import main as daemon_main
from daemon.config import Rule, state_dir_for
from daemon.status import read_status
from daemon_support import outputs, settle, temporaries, wait_for, zero
from stylizer import images

NAME_MAX = 255


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setattr(service_module, "RETRY_FIRST_DELAY", 0.3, raising=False)
    monkeypatch.setattr(service_module, "RETRY_MAX_DELAY", 0.6, raising=False)


@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MiB file system (tmpfs) at the daemon's output folder, for the test to fill up."""
    mount_point = tmp_path / "out"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], capture_output=True)
    if done.returncode != 0:
        reason = f"mounting a tmpfs for the disk-full test needs root: {done.stderr.decode().strip()}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI runs as root and must run this test")
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Write a filler file until the disk refuses, then free `leave` bytes again."""
    filler = state_dir_for(disk) / "test-filler"  # where outputs() does not list it
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        chunk = b"\xff" * 4096
        while True:
            try:
                os.write(descriptor, chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        size = os.fstat(descriptor).st_size
        os.ftruncate(descriptor, max(0, size - leave))
    finally:
        os.close(descriptor)
    return filler


def test_a_full_output_disk_publishes_nothing_keeps_the_photo_and_resumes(tmp_path, stylizer, small_disk, quick_retries):
    inbox, out = tmp_path / "in", small_disk
    with zero(tmp_path, stylizer, defaults=Rule(presets=(), format="png", size=96)) as service:
        filler = _fill(small_disk, leave=4096)  # one page free: the PNG (about 20 KB) cannot fit
        shutil.copy(PHOTO, inbox / "tiny" / "photo.jpg")
        state_dir = state_dir_for(out)
        status = wait_for(
            lambda: (s := read_status(state_dir)) and s["state"] == "output disk full" and s,
            timeout=30, message="status.json to say the disk is full",
        )
        assert "tiny/photo.jpg" in status["last_problem"] and status["retrying"] == 1
        assert outputs(out) == [], "nothing may be published that was not fully written"
        assert (inbox / "tiny" / "photo.jpg").read_bytes() == PHOTO.read_bytes()
        assert not (inbox / "failed").exists(), "a full disk is not the photo's fault"
        assert not temporaries(out)
        filler.unlink()  # space is freed: the daemon notices on its own, no restart
        wait_for(lambda: outputs(out) == ["tiny/photo.png"], timeout=30, message="the retry after space was freed")
        settle(service)
        assert read_status(state_dir)["state"] == "watching" and read_status(state_dir)["done"] == 1
    with Image.open(out / "tiny" / "photo.png") as painted:
        painted.load()  # decodes completely
        assert max(painted.size) == 96


def test_names_at_the_length_limit_are_shortened_not_stuck(tmp_path, stylizer):
    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "tiny").mkdir(parents=True)
    (out / "tiny").mkdir(parents=True)
    long_jpg = "p" * (NAME_MAX - 4) + ".jpg"  # exactly at the limit
    shutil.copy(PHOTO, inbox / "tiny" / long_jpg)
    (out / "tiny" / long_jpg).write_bytes(b"the user's own file")  # forces a -2 suffix
    wide = "ü" * 125 + ".tif"  # 254 bytes of two-byte characters; becomes .png
    Image.open(PHOTO).save(inbox / "tiny" / wide)
    (out / "tiny" / ("ü" * 125 + ".png")).write_bytes(b"another of the user's files")
    bad = "b" * (NAME_MAX - 5) + ".jpg"  # its note would be 260 bytes
    (inbox / "tiny" / bad).write_text("not an image")
    with zero(tmp_path, stylizer) as service:
        settle(service)
        assert service.status.snapshot()["done"] == 2 and service.status.snapshot()["failed"] == 1
    painted = [p for p in (out / "tiny").iterdir() if p.read_bytes()[:4] != b"the " and p.read_bytes()[:4] != b"anot"]
    assert len(painted) == 2
    for path in painted:
        assert len(os.fsencode(path.name)) <= NAME_MAX
        assert path.name.endswith(("-2.jpg", "-2.png")), path.name
        path.name.encode("utf-8")  # never cut inside a character
        images.load(path)
    assert (out / "tiny" / long_jpg).read_bytes() == b"the user's own file"
    notes = list((inbox / "failed" / "tiny").glob("*.error.txt"))
    assert len(notes) == 1 and "Reason:" in notes[0].read_text()
    assert (inbox / "failed" / "tiny" / notes[0].name.removesuffix(".error.txt")).read_text() == "not an image"
    assert sorted(p.name for p in (inbox / "tiny").iterdir()) == [long_jpg, wide], "originals stay"
    assert not temporaries(out, inbox)


def test_a_kill_between_the_two_steps_of_moving_an_original_leaves_one_copy(tmp_path, stylizer, monkeypatch):
    inbox = tmp_path / "in"
    (inbox / "tiny").mkdir(parents=True)
    shutil.copy(PHOTO, inbox / "tiny" / "one.jpg")
    real_link = os.link

    def link_then_die(source, target, **options):
        real_link(source, target, **options)
        if "processed" in Path(target).parts:
            raise Crash()  # as if killed after the link, before the inbox name was removed

    monkeypatch.setattr(files.os, "link", link_then_die)
    with zero(tmp_path, stylizer, originals="move") as service:
        wait_for(lambda: not service._threads[0].is_alive(), message="the worker to die")
    monkeypatch.setattr(files.os, "link", real_link)
    assert (inbox / "tiny" / "one.jpg").exists() and (inbox / "processed" / "tiny" / "one.jpg").exists()
    with zero(tmp_path, stylizer, originals="move") as service:
        settle(service)
    assert outputs(inbox / "processed") == ["tiny/one.jpg"], "the original must not be moved twice"
    assert not (inbox / "tiny" / "one.jpg").exists()
    assert (inbox / "processed" / "tiny" / "one.jpg").read_bytes() == PHOTO.read_bytes()
    assert outputs(tmp_path / "out") == ["tiny/one.jpg"]


class Crash(BaseException):
    """Stands in for kill -9: none of the daemon's except clauses catch it."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_stranger_at_a_claimed_name_is_never_adopted(tmp_path, stylizer, monkeypatch):
    import daemon.worker as worker

    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "tiny").mkdir(parents=True)
    shutil.copy(PHOTO, inbox / "tiny" / "photo.jpg")

    def die(*_):
        raise Crash()

    monkeypatch.setattr(worker, "publish", die)  # killed after the claim, before the link
    with zero(tmp_path, stylizer) as service:
        wait_for(lambda: not service._threads[0].is_alive(), message="the worker to die")
    monkeypatch.undo()
    stranger = out / "tiny" / "photo.jpg"
    stranger.write_bytes(b"someone copied this here while the daemon was down")
    with zero(tmp_path, stylizer) as service:
        settle(service)
    assert stranger.read_bytes() == b"someone copied this here while the daemon was down"
    assert outputs(out) == ["tiny/photo-2.jpg", "tiny/photo.jpg"]
    assert max(images.load(out / "tiny" / "photo-2.jpg").size) == 48


class FlakyStylizer:
    """The real stylizer behind a fault that is not the photo's, for the first `failures` calls."""

    def __init__(self, stylizer, failures: int, error: Exception) -> None:
        self._stylizer, self._failures, self._error = stylizer, failures, error
        self.calls = 0

    def paint_many(self, *args, **kwargs):  # what the daemon's scheduler calls, a batch of one here
        self.calls += 1
        if self.calls <= self._failures:
            raise self._error
        return self._stylizer.paint_many(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._stylizer, name)


@pytest.mark.parametrize(
    "error",
    [MemoryError("out of memory"), RuntimeError("optimization diverged"), images.ImageError("style image gone.jpg: no such file")],
    ids=["out-of-memory", "diverged", "missing-painting"],
)
def test_faults_that_are_not_the_photos_keep_it_and_are_retried(tmp_path, stylizer, quick_retries, error):
    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "tiny").mkdir(parents=True)
    shutil.copy(PHOTO, inbox / "tiny" / "photo.jpg")
    flaky = FlakyStylizer(stylizer, failures=2, error=error)
    with zero(tmp_path, flaky) as service:
        wait_for(lambda: service.status.snapshot()["retrying"] == 1, message="the fault to be reported")
        snapshot = service.status.snapshot()
        assert str(error) in snapshot["last_problem"] and snapshot["failed"] == 0
        assert (inbox / "tiny" / "photo.jpg").exists() and not (inbox / "failed").exists()
        wait_for(lambda: outputs(out) == ["tiny/photo.jpg"], message="the retry")
        settle(service)
        assert service.status.snapshot()["retrying"] == 0 and service.status.snapshot()["done"] == 1
    assert flaky.calls == 3
    assert not (inbox / "failed").exists()


def test_status_keeps_totals_shows_broken_presets_and_survives_a_broken_config(tmp_path, stylizer, capsys):
    from daemon.config import read_config
    from daemon_support import SETTLE, make_presets, running

    presets = make_presets(tmp_path / "presets")
    config = tmp_path / "daemon.yaml"
    config.write_text(f"watch: in\noutput: out\npresets: [presets]\nsettle_seconds: {SETTLE}\n")
    inbox = tmp_path / "in"
    for run, name in enumerate(("a.jpg", "b.jpg")):
        with running(lambda: read_config(config), stylizer) as service:
            shutil.copy(PHOTO, inbox / "tiny" / name)
            settle(service)
            if run == 1:
                (presets / "tiny-wave.yaml").write_text("style: wave.jpg\nsize: huge\n")
                wait_for(lambda: service.status.snapshot()["broken_presets"], message="the broken preset")
                config.write_text("watch: in\noutput: out\nrules: [oops\n")
                assert daemon_main(["status", "--config", str(config)]) == 0
                shown = capsys.readouterr().out
    assert "done: 1   failed: 0   (since start)" in shown
    assert "in all: done: 2" in shown, "a restart must not lose the totals"
    assert "broken preset:" in shown and "tiny-wave.yaml" in shown
    assert "invalid YAML" in shown and "watching" in shown


def test_a_name_that_is_not_utf8_is_painted_and_reported(tmp_path, stylizer):
    """Names from Latin-1 zips or SMB shares reach Python with surrogates; JSON must not choke."""
    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "tiny").mkdir(parents=True)
    latin1 = os.fsdecode(b"caf\xe9.jpg")
    shutil.copy(PHOTO, inbox / "tiny" / latin1)
    (inbox / "tiny" / os.fsdecode(b"r\xe9sum\xe9.jpg")).write_text("not an image")
    with zero(tmp_path, stylizer) as service:
        settle(service)
        snapshot = service.status.snapshot()
        assert snapshot["done"] == 1 and snapshot["failed"] == 1
        assert service._threads[0].is_alive()
    assert (out / "tiny" / latin1).exists()
    assert read_status(state_dir_for(out))["done_total"] == 1, "status.json is still written"
    note = next((inbox / "failed" / "tiny").glob("*.error.txt")).read_text()
    assert "Reason:" in note and "\\xe9" in note
    with zero(tmp_path, stylizer) as service:  # the journal reads back: nothing is painted twice
        settle(service)
        assert service.status.snapshot()["done"] == 0
    assert outputs(out) == [f"tiny/{latin1}"]


def test_the_journal_cuts_a_torn_last_line_and_closes_only_once(tmp_path, monkeypatch):
    import daemon.journal
    from daemon.journal import Journal, JOURNAL_NAME

    state = tmp_path / "state"
    journal = Journal(state)
    journal.retire(_key())
    journal.close()
    journal.close()  # a second close must not touch whatever now has that descriptor number
    with open(state / JOURNAL_NAME, "ab") as handle:
        handle.write(b'{"op": "claim", "job": "half a rec')  # killed mid-write

    def disk_full(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(daemon.journal, "write_bytes_durably", disk_full)  # so no compaction rewrites it
    journal = Journal(state)
    try:
        data = (state / JOURNAL_NAME).read_bytes()
        assert b"half a rec" not in data and (not data or data.endswith(b"\n")), "the torn line must go"
        journal.failed(_key(), "reason")
        lines = (state / JOURNAL_NAME).read_text().splitlines()
        assert json.loads(lines[-1])["op"] == "failed"
    finally:
        journal.close()


def _key():
    from daemon.journal import InputKey

    return InputKey("/watch", "a.jpg", "0" * 64)
