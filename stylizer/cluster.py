"""Where a Ray cluster is and how many painting workers to start on it.

Plain settings, apart from pool.py, so that reading and checking a daemon.yaml that names a
cluster needs no Ray: Ray is imported only when the workers start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CPUS_PER_WORKER = 2  # on nodes without a GPU: torch's threads per painting, when they fit
RESOURCE_STEP = 1e-4  # Ray counts resources in ten-thousandths; a finer share is refused


@dataclass(frozen=True)
class RaySettings:
    """`workers` None: one per GPU, or one per `cpus_per_worker` (default `CPUS_PER_WORKER`)
    cores on a cluster without GPUs."""

    address: str
    workers: int | None = None
    cpus_per_worker: float | None = None


def workers_that_fit(node_cpus: Sequence[float], cpus_per_worker: float) -> int:
    """How many workers of `cpus_per_worker` cores each Ray can place: a worker runs on one
    node, so each node's cores count on their own, never pooled with another node's."""
    return sum(math.floor(cpus / cpus_per_worker + 1e-9) for cpus in node_cpus)


def size_cpu_workers(
    node_cpus: Sequence[float], workers: int | None = None, cpus_per_worker: float | None = None
) -> tuple[int, float]:
    """(workers, cores each) on a cluster without GPUs whose nodes have `node_cpus` cores.

    Given `cpus_per_worker`, that is what each worker asks for. Otherwise a worker asks for
    `CPUS_PER_WORKER` cores where the asked-for number of workers fits at that size, and for
    the largest share that lets them all be placed where it does not: `--workers 2` on one
    2-core node gives 1 core each, instead of 2 workers of 2 cores of which one never
    starts. Without `workers`, as many as fit at `CPUS_PER_WORKER` cores (or a whole node,
    when the largest node is smaller), and at least one.
    """
    nodes = [cpus for cpus in node_cpus if cpus > 0]
    if cpus_per_worker is None:
        if workers is None:
            cpus_per_worker = min(CPUS_PER_WORKER, max(nodes, default=CPUS_PER_WORKER))
        else:
            shares = {math.floor(cpus / k / RESOURCE_STEP) * RESOURCE_STEP for cpus in nodes for k in range(1, workers + 1)}
            fitting = [s for s in shares if 0 < s <= CPUS_PER_WORKER and workers_that_fit(nodes, s) >= workers]
            cpus_per_worker = max(fitting, default=CPUS_PER_WORKER)  # none fits: the start says so
    if workers is None:
        workers = max(1, workers_that_fit(nodes, cpus_per_worker))
    return workers, round(cpus_per_worker, 4)
