"""Where a Ray cluster is and how many painting workers to start on it.

Plain settings, apart from pool.py, so that reading and checking a daemon.yaml that names a
cluster needs no Ray: Ray is imported only when the workers start.
"""

from __future__ import annotations

from dataclasses import dataclass

CPUS_PER_WORKER = 2  # on nodes without a GPU: torch's threads per painting


@dataclass(frozen=True)
class RaySettings:
    """`workers` None: one per GPU, or one per `cpus_per_worker` (default `CPUS_PER_WORKER`)
    cores on a cluster without GPUs."""

    address: str
    workers: int | None = None
    cpus_per_worker: float | None = None
