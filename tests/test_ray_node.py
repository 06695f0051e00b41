"""A Ray cluster the size of a small machine (2 CPUs).

Each test starts its own cluster, apart from test_ray.py's.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

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
            pool = RayPainter(address, workers=2, device="cpu", precision="fp32")
        try:
            PACE.start_s = start.seconds
            assert pool.capacity == 2
            assert pool.cpus_per_worker == 1
            assert len(pool.worker_info()) == 2, "both workers answer"
            assert pool.description.endswith("2 workers (1 CPUs each)")
        finally:
            pool.close()
