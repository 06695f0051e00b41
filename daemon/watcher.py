"""From file-system events to files that are safe to read.

watchdog's handlers only note paths; the `Settler` decides when a file is complete: its
size and modification time have not changed for `settle_seconds` since the last event.
A slow copy, a download written in pieces or a file moved in from elsewhere all keep
producing events (or arrive whole with one `moved`), so each is handed over once, after
its last write. Nothing here polls: the worker sleeps on a condition until the earliest
deadline or the next event.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

Signature = tuple[int, int]


class Settler:
    """Paths waiting to stop changing, each with the time it may next be checked.

    A heap orders the deadlines (a start-up scan can offer thousands of files at once);
    entries made stale by a newer `touch` are skipped when they surface.
    """

    def __init__(self, settle_seconds: float) -> None:
        self.settle_seconds = settle_seconds
        self._pending: dict[Path, tuple[float, Signature | None]] = {}
        self._deadlines: list[tuple[float, int, Path]] = []
        self._counter = itertools.count()
        self._condition = threading.Condition()

    def touch(self, path: Path, delay: float | None = None) -> None:
        """Something happened to `path`: (re)start its quiet period (or wait `delay` seconds)."""
        wait = self.settle_seconds if delay is None else delay
        with self._condition:
            self._schedule(path, time.monotonic() + wait, _signature(path))
            self._condition.notify_all()

    def wake(self) -> None:
        """Let a waiting `next_ready` re-check its stop condition."""
        with self._condition:
            self._condition.notify_all()

    def is_pending(self, path: Path) -> bool:
        """Is `path` still in its quiet period (changed less than `settle_seconds` ago)?"""
        with self._condition:
            return path in self._pending

    def __len__(self) -> int:
        with self._condition:
            return len(self._pending)

    def next_ready(self, stopping: Callable[[], bool]) -> Path | None:
        """Block until some path has been quiet for the settle time; None once stopping."""
        with self._condition:
            while not stopping():
                if not self._deadlines:
                    self._condition.wait()
                    continue
                deadline, _, path = self._deadlines[0]
                if self._pending.get(path, (None,))[0] != deadline:
                    heapq.heappop(self._deadlines)  # superseded by a later touch
                    continue
                now = time.monotonic()
                if deadline > now:
                    self._condition.wait(deadline - now)
                    continue
                heapq.heappop(self._deadlines)
                signature = self._pending.pop(path)[1]
                current = _signature(path)
                if current == signature and current is not None:
                    return path
                if current is not None:  # still changing: another quiet period
                    self._schedule(path, now + self.settle_seconds, current)
                # gone (renamed away, deleted): its new name has its own event
            return None

    def _schedule(self, path: Path, deadline: float, signature: Signature | None) -> None:
        self._pending[path] = (deadline, signature)
        heapq.heappush(self._deadlines, (deadline, next(self._counter), path))


class InboxHandler(FileSystemEventHandler):
    """Turns watchdog events inside the watch folders into `offer` calls (which decide and
    at most touch the `Settler`). Never blocks."""

    def __init__(self, offer: Callable[[Path], None], rescan: Callable[[Path], None]) -> None:
        self._offer_path = offer
        self._rescan = rescan

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, (FileClosedEvent, FileCreatedEvent, FileModifiedEvent)):
            self._offer(event.src_path)
        elif isinstance(event, FileMovedEvent):
            self._offer(event.dest_path)  # covers `name.part` -> `name.jpg` renames
        elif isinstance(event, (DirMovedEvent, DirCreatedEvent)):
            # A folder moved in (or created with files already inside) brings no file events.
            folder = Path(os.fsdecode(getattr(event, "dest_path", "") or event.src_path))
            self._rescan(folder)

    def _offer(self, raw: bytes | str) -> None:
        self._offer_path(Path(os.fsdecode(raw)))


class ChangeHandler(FileSystemEventHandler):
    """Calls `changed` (debounced) when a file this daemon reads its settings from changes."""

    def __init__(self, relevant: Callable[[Path], bool], changed: Callable[[], None], delay: float = 0.5) -> None:
        self._relevant = relevant
        self._changed = changed
        self._delay = delay
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if not any(p and self._relevant(Path(os.fsdecode(p))) for p in paths):
            return
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            # Editors save in several steps (write temp, rename, chmod): act once, after the last.
            self._timer = threading.Timer(self._delay, self._changed)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()


def _signature(path: Path) -> Signature | None:
    """Size and mtime of the file (of a symlink's target; of the link itself if it is broken,
    so a dangling link still reaches the worker and gets reported instead of vanishing)."""
    for look in (os.stat, os.lstat):
        try:
            stat = look(path)
        except OSError:
            continue
        return (stat.st_size, stat.st_mtime_ns)
    return None
