"""Painting on a real Ray cluster: a head started with `ray start`, two workers, kill -9.

The cluster listens on 127.0.0.1 only and requires its own token, as in production.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from conftest import PHOTO, ROOT
from daemon.config import zero_config
from daemon.service import WatchService
from daemon_support import SETTLE, make_presets, outputs, wait_for
from ray_support import Pace, Stopwatch, local_cluster
from stylizer import Filter, images
from stylizer.cluster import RaySettings
from stylizer.masks import Mask
from stylizer.pool import LocalPainter, job_id

from stylizer.pool import RayPainter

# Not imported here: Ray reads RAY_AUTH_MODE once, at import, and the cluster fixture sets it.
if importlib.util.find_spec("ray") is None:
    if os.environ.get("CI"):
        raise RuntimeError("Ray is not installed; CI installs requirements-ray.txt")
    pytest.skip("Ray is not installed (pip install -r requirements-ray.txt)", allow_module_level=True)

WORKERS = 2


PACE = Pace()  # measured by the `painter` fixture; every wait below is sized from it


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head node on 127.0.0.1 whose token only these tests know. It offers 6 CPUs (on 2
    real cores) so that the tests' pool (2 workers of 1 CPU) and a daemon process's pool (2
    workers of the default 2 CPUs) fit side by side; the paintings are tiny."""
    with local_cluster(tmp_path_factory.mktemp("ray"), cpus=6) as address:
        yield address


@pytest.fixture(scope="module")
def painter(cluster):
    """The tests' pool; how long it took to start, and to paint, sets `PACE`. A lost cluster
    is recorded, not answered by ending the process, which here is pytest's."""
    lost: list[str] = []
    with Stopwatch() as start:
        pool = RayPainter(cluster, workers=WORKERS, cpus_per_worker=1, device="cpu", precision="fp32",  # as `stylizer`
                          on_lost=lost.append)
    with Stopwatch() as painting:
        pool.paint(PHOTO, _filter(iterations=10))
    PACE.start_s, PACE.iteration_s = start.seconds, painting.seconds / 10
    yield pool
    pool.close()
    assert lost == [], "the cluster was never lost"


def _filter(iterations: int = 8, size: int = 64) -> Filter:
    return Filter(styles=(ROOT / "presets" / "styles" / "starry_night.jpg",), size=size, iterations=iterations, scales=1)


def _mean_difference(a, b) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)).mean())


def _kill_painting_worker(painter: RayPainter, job: str | None = None) -> int:
    """kill -9 the worker process that is painting right now (`job`, when given); its pid.
    The wait covers a worker restarted after an earlier kill, loading the network again."""
    busy = wait_for(
        lambda: [w for w in painter.worker_info() if w["painting"] and job in (None, w["painting"])],
        timeout=PACE.patience(starts=2), message="a worker to paint",
    )
    os.kill(busy[0]["pid"], signal.SIGKILL)
    return busy[0]["pid"]


def test_the_cluster_paints_what_this_process_paints_with_live_progress(painter, stylizer):
    flt = _filter(iterations=10)
    seen = []
    remote = painter.paint(PHOTO, flt, on_progress=seen.append, preview_every=5)
    local = LocalPainter(stylizer).paint(PHOTO, flt)
    assert painter.capacity == WORKERS
    assert [p.iteration for p in seen] == list(range(1, 11)), "every iteration's progress comes back"
    assert sum(p.preview is not None for p in seen) >= 1, "live previews come back as images"
    assert remote.image.size == local.image.size
    assert remote.filter == flt, "the result names the filter as asked, paintings by their files"
    # Same code, seed and precision; a worker has 1 thread, so sums may round differently.
    photo = images.load(PHOTO).resize(local.image.size, images.Image.Resampling.LANCZOS)
    assert _mean_difference(photo, local.image) > 5, "the painting changed the photo"
    assert _mean_difference(remote.image, local.image) < 0.5, "the cluster painted something else"


def test_a_worker_paints_a_batch_as_this_process_does_and_reports_each_photo(painter, stylizer, tmp_path):
    flt = _filter(iterations=6)
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    photo = images.load(PHOTO)
    contents = [photo, notes, photo.transpose(images.Image.Transpose.FLIP_LEFT_RIGHT)]
    seen: dict[int, list[int]] = {}
    remote = painter.paint_many(contents, flt, on_progress=lambda i, p: seen.setdefault(i, []).append(p.iteration))
    local = LocalPainter(stylizer).paint_many(contents, flt)
    assert "not an image" in str(remote[1]), "an unreadable photo is reported in its slot"
    assert sorted(seen) == [0, 2] and seen[0] == list(range(1, 7)), "each photo's progress comes back by its index"
    for index in (0, 2):
        assert remote[index].image.size == local[index].image.size
        assert _mean_difference(remote[index].image, local[index].image) < 0.5, "the batch painted something else"
    assert _mean_difference(remote[0].image, remote[2].image) > 1, "each photo is its own painting"


def test_a_worker_receives_pixels_and_numbers_never_a_path(tmp_path):
    """What crosses to a worker cannot point it at the output folder, or at any file."""
    presets = make_presets(tmp_path / "presets")
    flt = Filter(styles=(presets / "starry.jpg",), size=48)
    mask_path = tmp_path / "photo.mask.png"
    images.Image.new("L", (8, 6), 255).save(mask_path)
    mask = Mask(mask_path, outside=Filter(styles=(presets / "wave.jpg",)))
    shipped = pickle.dumps((images.load(PHOTO), flt.portable(), mask.portable()))
    assert str(tmp_path).encode() not in shipped
    assert b"starry.jpg" not in shipped and b"wave.jpg" not in shipped and b"mask.png" not in shipped
    assert job_id(images.load(PHOTO), flt, "normal") == job_id(images.load(PHOTO), flt.portable(), "normal")
    assert job_id(images.load(PHOTO), flt, "normal") != job_id(images.load(PHOTO), flt, "quick")


def test_a_cancelled_painting_frees_its_worker(painter):
    seen = []
    with pytest.raises(Exception) as raised:
        painter.paint(PHOTO, _filter(iterations=400), on_progress=seen.append, cancel=lambda: len(seen) >= 2)
    assert type(raised.value).__name__ == "Cancelled"
    wait_for(lambda: not any(w["painting"] for w in painter.worker_info()), timeout=PACE.patience(), message="the worker to stop")


def _daemon(tmp_path, painter, iterations: int = 8, **settings):
    presets = make_presets(tmp_path / "presets", iterations=iterations)
    source = lambda: zero_config(tmp_path / "in", tmp_path / "out", (presets,), settle_seconds=SETTLE, **settings)  # noqa: E731
    service = WatchService(source, painter)
    service.start()
    return service


def test_a_worker_killed_mid_job_leaves_exactly_one_output(tmp_path, painter):
    service = _daemon(tmp_path, painter, iterations=300)
    try:
        (tmp_path / "in" / "tiny").mkdir(parents=True, exist_ok=True)
        shutil.copy(PHOTO, tmp_path / "in" / "tiny" / "photo.jpg")
        killed = _kill_painting_worker(painter)
        wait_for(lambda: outputs(tmp_path / "out"), timeout=PACE.patience(iterations=300), message="the output")
        assert service.wait_idle(PACE.patience())
    finally:
        service.stop()
    assert outputs(tmp_path / "out") == ["tiny/photo.jpg"]
    assert (tmp_path / "in" / "tiny" / "photo.jpg").exists(), "the photo is not the culprit: it stays"
    workers = painter.worker_info()
    assert len(workers) == WORKERS and killed not in [w["pid"] for w in workers], "Ray restarted the killed worker"


def test_a_worker_killed_while_the_other_is_busy_is_waited_for_and_the_painting_done(painter):
    """Both workers busy, one killed mid-painting: its job may go only to the worker Ray is
    restarting. Sent there at once, it failed three times on one restart ("worker 2; worker
    2; worker 2") and a good photo went to failed/; it must wait for the worker to be back."""
    keep_busy, busy_done = threading.Event(), threading.Event()

    def paint_the_other() -> None:
        try:
            painter.paint(PHOTO, _filter(iterations=100_000), cancel=keep_busy.is_set)
        except Exception:  # Cancelled at the end, as asked
            pass
        finally:
            busy_done.set()

    flt = _filter(iterations=300)
    job = job_id(images.load(PHOTO), flt.portable(), "normal")
    outcome: dict = {}

    def paint_the_job() -> None:
        try:
            outcome["result"] = painter.paint(PHOTO, flt)
        except Exception as exc:
            outcome["error"] = exc

    threading.Thread(target=paint_the_other, daemon=True).start()
    try:
        wait_for(lambda: any(w["painting"] for w in painter.worker_info()), timeout=PACE.patience(), message="one busy worker")
        painting = threading.Thread(target=paint_the_job, daemon=True)
        painting.start()
        killed = _kill_painting_worker(painter, job=job)
        painting.join(PACE.patience(iterations=300, starts=2))
    finally:
        keep_busy.set()
        busy_done.wait(PACE.patience())
    assert not painting.is_alive(), "the painting never ended"
    assert "error" not in outcome, f"one kill failed the painting: {outcome.get('error')}"
    assert outcome["result"].stats.iterations == 300
    assert killed not in [w["pid"] for w in painter.worker_info()], "it was painted by the restarted worker"


def test_a_job_that_kills_three_workers_goes_to_failed_with_the_reason(tmp_path, painter):
    service = _daemon(tmp_path, painter, iterations=300)
    try:
        (tmp_path / "in" / "tiny").mkdir(parents=True, exist_ok=True)
        shutil.copy(PHOTO, tmp_path / "in" / "tiny" / "photo.jpg")
        killed = []
        for _ in range(3):
            killed.append(_kill_painting_worker(painter))
            time.sleep(1.0)  # let the painter see the death before looking for the next worker
        note = tmp_path / "in" / "failed" / "tiny" / "photo.jpg.error.txt"
        wait_for(note.exists, timeout=PACE.patience(), message="the failed/ note")
    finally:
        service.stop()
    assert "stopped 3 workers" in note.read_text()
    assert all(f"process {pid}" in note.read_text() for pid in killed), "three different deaths, each named"
    assert (tmp_path / "in" / "failed" / "tiny" / "photo.jpg").exists()
    assert outputs(tmp_path / "out") == []


def test_bad_input_is_turned_away_before_it_reaches_a_worker(tmp_path, painter):
    jobs_before = sum(w["jobs"] for w in painter.worker_info())
    service = _daemon(tmp_path, painter)
    try:
        (tmp_path / "in" / "tiny").mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / "tiny" / "notes.jpg").write_text("not a photo")
        note = tmp_path / "in" / "failed" / "tiny" / "notes.jpg.error.txt"
        wait_for(note.exists, timeout=PACE.patience(starts=0), message="the failed/ note")
    finally:
        service.stop()
    assert "not an image" in note.read_text() or "cannot" in note.read_text()
    assert sum(w["jobs"] for w in painter.worker_info()) == jobs_before, "no worker time spent on it"


def test_nobody_without_the_token_gets_in(cluster):
    probe = (
        "import sys\n"
        "from stylizer.pool import RayPainter\n"
        "try:\n"
        f"    RayPainter({cluster!r}, workers=1, cpus_per_worker=1)\n"
        "except Exception as exc:\n"
        "    print('refused:', exc)\n"
        "    sys.exit(3)\n"
    )
    env = {**os.environ, "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_NUM_REDIS_GET_RETRIES": "2"}
    env.pop("RAY_AUTH_TOKEN_PATH")
    env.pop("RAY_AUTH_MODE")  # left to the painter, which asks for tokens by default
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=PACE.patience(starts=2))
    assert run.returncode == 3, run.stdout + run.stderr
    assert "token" in run.stdout


def test_the_daemon_killed_with_jobs_in_flight_redoes_them_exactly_once(tmp_path, cluster):
    presets = make_presets(tmp_path / "presets", iterations=200)
    inbox = tmp_path / "in" / "tiny"
    inbox.mkdir(parents=True)
    for n in range(3):
        shutil.copy(PHOTO, inbox / f"photo-{n}.jpg")
    command = [sys.executable, "-m", "daemon", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
               "--presets", str(presets), "--settle", "0.2", "--ray", cluster, "--workers", str(WORKERS)]
    log = open(tmp_path / "daemon.log", "ab")

    def start():
        return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    process = start()
    try:
        status = tmp_path / "out" / ".stylizer-daemon" / "status.json"
        wait_for(lambda: status.exists() and status.read_text().count('"file"') == WORKERS,
                 timeout=PACE.patience(starts=2), message="both workers painting")
        process.kill()
        process.wait()
        assert outputs(tmp_path / "out") == []
        process = start()
        expected = [f"tiny/photo-{n}.jpg" for n in range(3)]
        wait_for(lambda: outputs(tmp_path / "out") == expected, timeout=PACE.patience(iterations=400, starts=2), message="all three outputs")
        time.sleep(1.0)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=PACE.patience())
    assert outputs(tmp_path / "out") == expected, (tmp_path / "daemon.log").read_text()[-3000:]
    assert "Ray cluster" in (tmp_path / "daemon.log").read_text()


def test_daemon_yaml_names_the_cluster(tmp_path):
    from daemon.config import read_config

    config = tmp_path / "daemon.yaml"
    config.write_text("watch: in\noutput: out\nray:\n  address: auto\n  workers: 3\n")
    assert read_config(config).ray == RaySettings("auto", 3, None)
    config.write_text("watch: in\noutput: out\nray: {workers: 3}\n")
    with pytest.raises(Exception, match="ray: address: missing"):
        read_config(config)
    config.write_text("watch: in\noutput: out\nray: {address: auto, workers: 0}\n")
    with pytest.raises(Exception, match="ray: workers: expected 1 to 1024"):
        read_config(config)


def test_the_app_paints_on_the_cluster_with_live_previews(cluster):
    """STYLIZER_RAY_ADDRESS: the app's own painting path, through the cluster's workers."""
    probe = (
        "import app\n"
        "from stylizer import Filter, Progress\n"
        "from webapp.services import scheduler\n"
        "from webapp.uploads import load_image\n"
        f"flt = Filter(styles=({str(ROOT / 'presets' / 'styles' / 'starry_night.jpg')!r},), size=64, iterations=20, scales=1)\n"
        f"job = scheduler.submit(load_image({str(PHOTO)!r}), flt, owner='visitor', preview_every=5)\n"
        "items = list(job.updates())\n"
        "print('concurrency', scheduler.capacity)\n"
        "print('previews', sum(isinstance(i, Progress) and i.preview is not None for i in items))\n"
        "print('result', items[-1].image.size, items[-1].stats.iterations)\n"
        "print('painter', scheduler.description)\n"
    )
    env = {**os.environ, "STYLIZER_RAY_ADDRESS": cluster, "STYLIZER_RAY_WORKERS": str(WORKERS), "STYLIZER_WARM": "0"}
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=PACE.patience(iterations=20, starts=2))
    assert run.returncode == 0, run.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines() if " " in line)
    assert lines["concurrency"] == str(WORKERS), "one painting at a time per worker"
    assert int(lines["previews"]) >= 1, "live previews stream back from the worker"
    assert lines["result"] == "(64, 48) 20"
    assert lines["painter"].startswith(f"Ray cluster at {cluster}")


def test_the_daemon_refuses_a_worker_count_of_zero(capsys):
    from daemon.__main__ import main as daemon_main

    with pytest.raises(SystemExit):
        daemon_main(["in", "--out", "out", "--ray", "auto", "--workers", "0"])
    assert "--workers: expected 1 to 1024" in capsys.readouterr().err
