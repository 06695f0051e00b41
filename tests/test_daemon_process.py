"""The daemon as users run it: a separate process that gets SIGTERM, SIGINT or kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import PHOTO, ROOT
from daemon_support import make_presets, outputs, temporaries, wait_for
from stylizer import images

# Long enough per photo (a few seconds) that a signal lands in the middle of a job.
SLOW_ITERATIONS = 150


def _start(tmp_path):
    presets = make_presets(tmp_path / "presets", iterations=SLOW_ITERATIONS)
    command = [sys.executable, "-m", "daemon", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
               "--presets", str(presets), "--settle", "0.2", "--device", "cpu"]
    log = open(tmp_path / "daemon.log", "ab")
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def _status(tmp_path):
    try:
        return json.loads((tmp_path / "out" / ".stylizer-daemon" / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def _running_job(tmp_path, process):
    def running():
        assert process.poll() is None, (tmp_path / "daemon.log").read_text()
        return _status(tmp_path).get("running") and _status(tmp_path).get("pid") == process.pid
    wait_for(running, timeout=60, message="a job to start")


def _drop_photos(tmp_path, count):
    folder = tmp_path / "in" / "tiny"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        shutil.copy(PHOTO, folder / f"photo {i}.jpg")


def test_kill_9_mid_job_then_restart_gives_exactly_one_output_each(tmp_path):
    _drop_photos(tmp_path, 2)
    process = _start(tmp_path)
    _running_job(tmp_path, process)
    process.kill()
    process.wait()
    for name in outputs(tmp_path / "out"):
        images.load(tmp_path / "out" / name)  # whatever is visible is complete
    process = _start(tmp_path)
    try:
        wait_for(lambda: len(outputs(tmp_path / "out")) == 2 and _status(tmp_path).get("queued") == 0
                 and not _status(tmp_path).get("running"), timeout=120, message="both photos")
        time.sleep(1)  # would a duplicate still appear?
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert outputs(tmp_path / "out") == ["tiny/photo 0.jpg", "tiny/photo 1.jpg"]
    assert not temporaries(tmp_path / "out", tmp_path / "in")
    assert sorted(os.listdir(tmp_path / "in" / "tiny")) == ["photo 0.jpg", "photo 1.jpg"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_within_seconds_and_the_job_is_redone_next_start(tmp_path, signum):
    _drop_photos(tmp_path, 1)
    process = _start(tmp_path)
    _running_job(tmp_path, process)
    asked = time.monotonic()
    process.send_signal(signum)
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - asked < 5
    assert _status(tmp_path)["state"] == "stopped"
    assert outputs(tmp_path / "out") == [] and not temporaries(tmp_path / "out")
    process = _start(tmp_path)
    try:
        wait_for(lambda: outputs(tmp_path / "out") == ["tiny/photo 0.jpg"], timeout=120, message="the redo")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    log = (tmp_path / "daemon.log").read_text()
    assert "interrupted; it will be done at the next start" in log and "done     tiny/photo 0.jpg" in log


def test_bad_configuration_is_refused_at_start_with_file_and_field(tmp_path):
    config = tmp_path / "daemon.yaml"
    config.write_text("watch: in\noutput: out\norignals: move\n")
    result = subprocess.run([sys.executable, "-m", "daemon", "--config", str(config)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert f"{config}: unknown field 'orignals'; did you mean 'originals'?" in result.stderr


def test_a_second_daemon_on_the_same_output_folder_is_refused(tmp_path):
    first = _start(tmp_path)
    try:
        wait_for(lambda: _status(tmp_path).get("state") == "watching" and _status(tmp_path).get("pid") == first.pid,
                 timeout=60, message="the first daemon to start")
        second = subprocess.run(
            [sys.executable, "-m", "daemon", str(tmp_path / "other-inbox"), "--out", str(tmp_path / "out"),
             "--presets", str(tmp_path / "presets"), "--device", "cpu"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert second.returncode == 2, second.stderr
        assert f"another daemon is already writing to {tmp_path / 'out'}" in second.stderr
        assert first.poll() is None, "the first daemon must keep running"
        assert _status(tmp_path).get("pid") == first.pid, "the refused daemon must not take over the status"
    finally:
        first.terminate()
        first.wait(30)


def test_the_journal_lock_holds_within_one_process_too(tmp_path):
    from daemon.journal import Journal, JournalBusy

    held = Journal(tmp_path / "state")
    try:
        with pytest.raises(JournalBusy):
            Journal(tmp_path / "state")
    finally:
        held.close()
    Journal(tmp_path / "state").close()  # free again once closed
