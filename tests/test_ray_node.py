"""A Ray cluster the size of a small machine (2 CPUs), and the node under the daemon dying.

Each test starts its own cluster, apart from test_ray.py's: some kill theirs.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PHOTO, ROOT
from daemon_support import make_presets, outputs, wait_for
from ray_support import Pace, Stopwatch, local_cluster
from stylizer.cluster import size_cpu_workers, workers_that_fit

if importlib.util.find_spec("ray") is None:
    if os.environ.get("CI"):
        raise RuntimeError("Ray is not installed; CI installs requirements-ray.txt")
    pytest.skip("Ray is not installed (pip install -r requirements-ray.txt)", allow_module_level=True)

PACE = Pace()  # measured by the first test that starts a pool


def test_asked_for_workers_share_the_cores_when_two_each_do_not_fit():
    assert size_cpu_workers([2], workers=2) == (2, 1.0), "the issue: --workers 2 on one 2-core node"
    assert size_cpu_workers([16], workers=2) == (2, 2.0), "two cores each where they fit"
    assert size_cpu_workers([6], workers=4) == (4, 1.5)
    workers, cpus = size_cpu_workers([3, 1], workers=2)
    assert workers_that_fit([3, 1], cpus) >= 2, "a worker is placed on one node: cores are not pooled"
    assert size_cpu_workers([2], workers=3, cpus_per_worker=2) == (3, 2.0), "what daemon.yaml asks for is kept"
    assert size_cpu_workers([16]) == (8, 2.0), "unasked: one per 2 cores"
    assert size_cpu_workers([1]) == (1, 1.0), "unasked on a 1-core node: one worker that fits"
    assert size_cpu_workers([3, 3, 3]) == (3, 2.0), "unasked: what fits on each node, not the sum's half"


def test_two_workers_start_on_a_two_core_node_without_saying_how_many_cores_each(tmp_path):
    """The zero-config `--ray ADDRESS --workers 2` asked 2 CPUs per worker: on a 2-core node
    the second never started and the start gave up after 120 s."""
    from stylizer.pool import RayPainter

    with local_cluster(tmp_path, cpus=2) as address:
        with Stopwatch() as start:
            pool = RayPainter(address, workers=2, device="cpu", precision="fp32", on_lost=print)
        try:
            PACE.start_s = start.seconds
            assert pool.capacity == 2
            assert pool.cpus_per_worker == 1
            assert len(pool.worker_info()) == 2, "both workers answer"
            assert pool.description.endswith("2 workers (1 CPUs each)")
        finally:
            pool.close()


def _raylet_of(address: str) -> int:
    """The pid of the raylet serving the cluster at `address` (this machine's only node)."""
    port = address.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if argv[0].endswith(b"/raylet") and any(a.startswith(b"--gcs-address=") and a.endswith(b":" + port.encode()) for a in argv):
            return int(entry.name)
    raise AssertionError(f"no raylet for {address}")


def _start_daemon(tmp_path: Path, address: str, photo: bool) -> tuple[subprocess.Popen, Path]:
    """The zero-config daemon on the cluster with `--workers 2`, painting a photo that takes
    far longer than the test (or idle); its process and its log."""
    presets = make_presets(tmp_path / "presets", iterations=100_000)
    inbox = tmp_path / "in" / "tiny"
    inbox.mkdir(parents=True)
    if photo:
        shutil.copy(PHOTO, inbox / "photo.jpg")
    command = [sys.executable, "-m", "daemon", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
               "--presets", str(presets), "--settle", "0.2", "--ray", address, "--workers", "2"]
    log_path = tmp_path / "daemon.log"
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log_path


@pytest.mark.parametrize("painting", [True, False], ids=["while-painting", "while-idle"])
def test_the_daemon_whose_node_dies_says_so_and_exits_for_its_service_to_restart_it(tmp_path, painting):
    """With Ray 2.60, a daemon moving a painting through its node's object store is ended by
    Ray on the spot (status 1, no line of ours); an idle one outlived its node, its workers
    dead for good, so that every later photo "stopped 3 workers" at once and went to failed/.
    Either way: one line saying why, a non-zero status, and no photo in failed/."""
    with local_cluster(tmp_path / "ray", cpus=2) as address:
        process, log_path = _start_daemon(tmp_path, address, photo=painting)
        try:
            status = tmp_path / "out" / ".stylizer-daemon" / "status.json"
            wait_for(lambda: status.exists() and (not painting or '"file"' in status.read_text()),
                     timeout=PACE.patience(starts=2), message="the daemon started" + (", painting" if painting else ""))
            os.kill(_raylet_of(address), signal.SIGKILL)
            code = process.wait(timeout=PACE.patience())
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert code != 0, "a service manager restarts a process that failed"
    # Written by the daemon, or by its sentinel just after Ray ended the daemon.
    wait_for(lambda: f"lost the Ray cluster at {address}" in log_path.read_text(),
             timeout=PACE.patience(starts=0), message="the log line saying why the daemon ended")
    assert log_path.read_text().count("lost the Ray cluster") == 1, "said once"
    failed = tmp_path / "in" / "failed"
    assert not failed.exists() or not list(failed.rglob("*.jpg")), "a lost cluster is not the photo's fault"
    assert (tmp_path / "in" / "tiny" / "photo.jpg").exists() == painting, "the photo waits for the next start"
    assert outputs(tmp_path / "out") == []
