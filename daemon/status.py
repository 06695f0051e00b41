"""What the daemon is doing, as a small JSON file another process can read at any time.

`python -m daemon status` reads it; so can a monitoring script. It is rewritten
atomically (never half a file) on every change, at most once a second while a job
reports progress, and within a second whenever the number of waiting files changes (a
restart re-offers every photo still in the inbox, most of them already painted, and
skipping those changes nothing else). On a disk too full for the new copy that an atomic
rewrite needs, it is overwritten in place: the file is padded to whole pages, so the
rewrite needs no new space.

`done` and `failed` count since this start; `done_total` and `failed_total` carry on from
the previous status file, so a restart does not make 30 finished photos look like none.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .files import is_disk_full, write_text_atomically

STATUS_NAME = "status.json"
PROGRESS_INTERVAL = 1.0
PAGE = 4096  # status.json is padded to whole pages, so an in-place rewrite needs no new blocks


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
            "left_alone": [],  # files the daemon will not paint, and why (the latest few)
        }
        self._closed = threading.Event()
        self._refresher = threading.Thread(target=self._refresh, name="daemon-status", daemon=True)
        self._refresher.start()

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

    def left_alone(self, name: str, reason: str, keep: int = 20) -> None:
        """A file that will not be painted unless the user acts (renames it, say)."""
        with self._lock:
            entries = [e for e in self._data["left_alone"] if e.get("file") != name][-(keep - 1):]
            self._data["left_alone"] = [*entries, {"file": name, "reason": reason}]
            self._write()

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self._data)

    def close(self) -> None:
        self._closed.set()
        self._refresher.join(5)

    def _refresh(self) -> None:
        """Rewrite the file when the queue's length changed since the last write."""
        while not self._closed.wait(PROGRESS_INTERVAL):
            with self._lock:
                if self._queued() != self._data["queued"]:
                    self._write()

    def _write(self) -> None:
        self._data["running"] = [self._jobs[slot] for slot in sorted(self._jobs)]
        self._data["updated"] = _now()
        self._data["queued"] = self._queued()
        self._written = time.monotonic()
        text = json.dumps(self._data, indent=2) + "\n"
        text += " " * (-len(text) % PAGE)  # JSON allows trailing white space
        try:
            write_text_atomically(self.path, text)
        except OSError as exc:
            if is_disk_full(exc):
                _overwrite_in_place(self.path, text)
        except ValueError:
            pass  # a full disk must not stop the painting; the log still has every job


def _overwrite_in_place(path: Path, text: str) -> None:
    """Rewrite the file's own blocks: no new space needed, at the price of a reader possibly
    catching it half written (read_status then tries again)."""
    data = os.fsencode(text) if isinstance(text, str) else text
    try:
        descriptor = os.open(path, os.O_WRONLY)
    except OSError:
        return
    try:
        if os.fstat(descriptor).st_size < len(data):
            return  # it would need new blocks, which the disk does not have
        os.pwrite(descriptor, data, 0)
        os.ftruncate(descriptor, len(data))
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def read_status(state_dir: Path, tries: int = 3) -> dict | None:
    for attempt in range(tries):
        try:
            return json.loads((state_dir / STATUS_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            if attempt + 1 < tries:
                time.sleep(0.05)  # perhaps caught mid-way through an in-place rewrite
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
    for entry in status.get("left_alone") or ():
        lines.append(f"left alone: {entry.get('file')}: {entry.get('reason')}")
    lines.append(f"updated: {status.get('updated')}")
    return "\n".join(lines)


def _pointers() -> Path:
    """Per user: which output folder each daemon.yaml last wrote to. `status --config` still
    finds a running daemon after its daemon.yaml was deleted or broken past reading."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "stylizer-daemon"


def _pointer_for(config: Path) -> Path:
    return _pointers() / hashlib.sha256(os.fsencode(Path(config).resolve())).hexdigest()[:32]


def remember_output(config: Path, output: Path) -> None:
    try:
        _pointers().mkdir(parents=True, exist_ok=True)
        write_text_atomically(_pointer_for(config), os.fsdecode(os.fsencode(output)))
    except OSError:
        pass  # only a convenience for `status`; never a reason to stop


def recall_output(config: Path) -> Path | None:
    """The output folder a daemon last used with this daemon.yaml, if one ever ran with it."""
    try:
        text = _pointer_for(config).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return Path(text) if text else None


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
