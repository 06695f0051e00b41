"""What the daemon is doing, as a small JSON file another process can read at any time.

`python -m daemon status` reads it; so can a monitoring script. It is rewritten
atomically (never half a file) on every change and at most once a second while a job
reports progress, so watching it costs nothing.

`done` and `failed` count since this start; `done_total` and `failed_total` carry on from
the previous status file, so a restart does not make 30 finished photos look like none.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .files import write_text_atomically

STATUS_NAME = "status.json"
PROGRESS_INTERVAL = 1.0


class StatusBoard:
    """Counters and the current job, kept in memory and mirrored to `status.json`."""

    def __init__(self, state_dir: Path, config_source: Path | None, queued: Callable[[], int]) -> None:
        self.path = state_dir / STATUS_NAME
        self._queued = queued
        self._lock = threading.Lock()
        self._written = 0.0
        self._jobs: dict[int, dict] = {}  # worker slot -> its job, mirrored to "running"
        previous = read_status(state_dir) or {}
        self._data: dict = {
            "pid": os.getpid(),
            "state": "starting",
            "started": _now(),
            "config": str(config_source) if config_source else None,
            "queued": 0,
            "done": 0,
            "failed": 0,
            "done_total": _count(previous.get("done_total")),
            "failed_total": _count(previous.get("failed_total")),
            "retrying": 0,
            "running": [],  # the jobs painting now, one per worker
            "last_error": None,
            "last_problem": None,
            "broken_presets": [],
        }

    def update(self, throttle: bool = False, **changes: object) -> None:
        with self._lock:
            self._data.update(changes)
            if throttle and time.monotonic() - self._written < PROGRESS_INTERVAL:
                return
            self._write()

    def count(self, outcome: str) -> None:
        with self._lock:
            self._data[outcome] += 1
            self._data[f"{outcome}_total"] += 1
            self._write()

    def job_started(self, slot: int, job: dict) -> None:
        with self._lock:
            self._jobs[slot] = {**job, "since": time.strftime("%H:%M:%S")}
            self._write()

    def job_progress(self, slot: int, fraction: float) -> None:
        with self._lock:
            if slot in self._jobs:
                self._jobs[slot]["progress"] = f"{fraction:.0%}"
            if time.monotonic() - self._written >= PROGRESS_INTERVAL:
                self._write()

    def job_ended(self, slot: int) -> None:
        with self._lock:
            if self._jobs.pop(slot, None) is not None:
                self._write()

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self._data)

    def _write(self) -> None:
        self._data["running"] = [self._jobs[slot] for slot in sorted(self._jobs)]
        self._data["updated"] = _now()
        self._data["queued"] = self._queued()
        self._written = time.monotonic()
        try:
            write_text_atomically(self.path, json.dumps(self._data, indent=2) + "\n")
        except (OSError, ValueError):
            pass  # a full disk must not stop the painting; the log still has every job


def read_status(state_dir: Path) -> dict | None:
    try:
        return json.loads((state_dir / STATUS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe(status: dict | None, state_dir: Path) -> str:
    """Human-readable status, saying plainly when the daemon is not actually running."""
    if status is None:
        return f"no daemon has run with output folder {state_dir.parent} (no {STATUS_NAME})"
    alive = status.get("state") != "stopped" and _pid_alive(status.get("pid"))
    state = status.get("state") if alive else f"not running (last state: {status.get('state')})"
    lines = [
        f"daemon: {state}, pid {status.get('pid')}, since {status.get('started')}",
        f"queued: {status.get('queued')}   done: {status.get('done')}   failed: {status.get('failed')}   (since start)",
        f"in all: done: {status.get('done_total', '?')}   failed: {status.get('failed_total', '?')}",
    ]
    if status.get("retrying"):
        lines.append(f"waiting to retry: {status['retrying']} (last problem: {status.get('last_problem')})")
    running = status.get("running") or []
    for job in running if alive and isinstance(running, list) else ():
        lines.append(f"running: {job.get('file')} [{job.get('preset')}] {job.get('progress', '')}".rstrip())
    if status.get("last_error"):
        lines.append(f"last error: {status['last_error']}")
    for problem in status.get("broken_presets") or ():
        lines.append(f"broken preset: {problem}")
    lines.append(f"updated: {status.get('updated')}")
    return "\n".join(lines)


def _count(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
