"""The running daemon: watchers, worker threads, hot reload and the status file.

Every painting is a job of a `Scheduler` (stylizer/scheduler.py), the one line the painter's work
waits in. One worker thread per painting the scheduler can run at once: in-process on a CPU
that is one (two stylizations at once on a CPU only slow each other down); on a GPU, one per
picture of a batch, so compatible photos are painted together. Passing the app's scheduler
in is what lets the app and the daemon share a process and a GPU: both wait in the same
line, first come, first served. On a Ray cluster (`ray:` in daemon.yaml) it is one thread
per worker; the threads still write the journal and the output folder one at a time
(`books`), so the daemon stays their only writer and every promise of journal.py holds as
with one thread.

A job that fails for a reason that is not the photo's (a full output disk, out of memory,
a bug) leaves the photo in the inbox and is tried again after a delay that doubles each
time, up to `RETRY_MAX_DELAY`. While the output disk is full nothing is painted: each
waiting photo only checks, on its turn, whether the disk has room again.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.observers import Observer

from PIL import Image

from stylizer.errors import Cancelled, StylizerError
from stylizer.scheduler import Scheduler
from stylizer.pool import Painter, make_painter
from stylizer.presets import PRESET_SUFFIXES, PresetRegistry, load_presets, preset_folders

from .config import RESERVED_DIRS, DaemonConfig, resolve
from .files import TEMP_PREFIX, is_in_progress, remove_stale_temporaries
from .journal import Journal
from .masks import is_mask
from .reserve import SpaceReserve
from .status import StatusBoard, remember_output
from .watcher import ChangeHandler, InboxHandler, Settler
from .worker import NotReady, RetryLater, Settings, Worker

log = logging.getLogger("daemon")

RETRY_FIRST_DELAY = 10.0
RETRY_MAX_DELAY = 600.0  # while the disk is full (a try is only a look at the free space)
FAULT_MAX_DELAY = 3600.0  # after other faults, where a try repaints the whole photo
DISK_FULL_STATE = "output disk full"
MIN_FREE_TO_PAINT = 256 * 1024

ConfigSource = Callable[[], DaemonConfig]


class WatchService:
    """Start with `start()`, stop with `stop()`; `source` is re-read whenever settings change."""

    def __init__(self, source: ConfigSource, painter: Painter | None = None) -> None:
        self._source = source
        self._settings = self._load(previous=None)  # a bad config fails here, before anything starts
        config = self._settings.config
        # The cluster (or the device) is chosen once: a reload that changes `ray:` applies at restart.
        self._owns_painter = painter is None
        painter = painter or make_painter(config.ray, config.device, config.precision, max_memory_gb=config.max_memory_gb)
        self._owns_scheduler = not isinstance(painter, Scheduler)
        self.painter = painter if isinstance(painter, Scheduler) else Scheduler(painter)
        self._stop = threading.Event()
        self._settler = Settler(config.settle_seconds)
        self._observer = Observer()
        self._inbox_watches: dict[Path, object] = {}
        self._settings_watches: dict[Path, object] = {}
        self._settings_handler = ChangeHandler(self._is_settings_file, self.reload)
        self._busy = 0  # worker threads with a job
        self._in_hand: set[Path] = set()  # photos a worker thread has taken and not yet finished
        self._told: set[Path] = set()  # files left alone that the log and status already named
        self._books = threading.Lock()  # held while a job reads or writes the journal and outputs
        self._threads: list[threading.Thread] = []
        self._attempts: dict[Path, int] = {}  # failed tries of photos waiting to be retried
        self._disk_full = False
        self.largest_output = 0  # bytes, of the largest painting written (for the free-space check)
        self.journal: Journal | None = None
        self.status: StatusBoard | None = None
        self.reserve: SpaceReserve | None = None

    @property
    def settings(self) -> Settings:
        return self._settings

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        config = self._settings.config
        self._open_output(config)
        self._prepare_folders(config)
        self._observer.start()
        self._schedule(config)
        for slot in range(self.painter.capacity):
            thread = threading.Thread(target=self._work, args=(slot,), name=f"daemon-worker-{slot + 1}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.scan()
        self.status.update(state="watching", broken_presets=_problems(self._settings.registry))
        watched = ", ".join(str(w) for w in config.watch)
        log.info("watching %s -> %s on %s (%d rules)", watched, config.output, self.painter.description, len(config.rules))

    def stop(self, timeout: float = 30.0) -> None:
        """Stop promptly: a running job is cancelled and redone at the next start."""
        self._stop.set()
        self._settler.wake()
        self._settings_handler.cancel()
        self._observer.stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._observer.join(timeout)
        if self.status is not None:
            self.status.update(state="stopped")
            self.status.close()
        if self.journal is not None:
            with self._books:
                self.journal.close()
        if self._owns_scheduler:
            self.painter.close(close_painter=self._owns_painter)
        log.info("stopped")

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued or running (for tests and batch scripts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not len(self._settler) and not self._busy:
                return True
            time.sleep(0.05)
        return False

    # -- settings ----------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read the configuration and presets; a broken edit leaves the last good ones in force."""
        try:
            settings = self._load(previous=self._settings)
        except StylizerError as exc:
            log.error("settings not reloaded, the last good ones stay in force: %s", exc)
            self.status.update(last_error=str(exc))
            return
        old = self._settings.config
        self._settings = settings
        self._settler.settle_seconds = settings.config.settle_seconds
        self._prepare_folders(settings.config)
        self._schedule(settings.config)
        self.status.update(
            last_error=None,
            config=str(settings.config.source) if settings.config.source else None,
            broken_presets=_problems(settings.registry),
        )
        log.info("settings reloaded (%d rules)", len(settings.config.rules))
        if settings.config != old:
            self.scan()  # files already waiting may match a new rule

    def _load(self, previous: Settings | None) -> Settings:
        config = self._source()
        registry = load_presets(config.presets)
        if previous is not None:
            registry = _keep_last_good(previous.registry, registry)
        for error in registry.errors:
            log.warning("preset skipped: %s", error)
        return Settings(resolve(config, registry), registry)

    def _is_settings_file(self, path: Path) -> bool:
        config = self._settings.config
        return path == config.source or (
            path.suffix.lower() in PRESET_SUFFIXES and path.parent.resolve() in self._preset_folders(config)
        )

    @staticmethod
    def _preset_folders(config: DaemonConfig) -> set[Path]:
        return {p.resolve() for p in preset_folders(config.presets) if p.is_dir()}

    # -- folders -----------------------------------------------------------------------------

    def _open_output(self, config: DaemonConfig) -> None:
        config.output.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(config.state_dir)
        self.status = StatusBoard(config.state_dir, config.source, queued=lambda: len(self._settler))
        if config.source is not None:
            remember_output(config.source, config.output)
        for folder in (config.output, *config.watch):
            for stale in remove_stale_temporaries(folder):
                log.info("removed an unfinished temporary file from an earlier run: %s", stale)
        self.reserve = SpaceReserve(config.state_dir)
        if not self.reserve.restore():
            log.warning("the output disk of %s is (nearly) full; paintings will wait for free space", config.output)

    def _switch_output(self, config: DaemonConfig) -> None:
        """The output folder changed in daemon.yaml: move the journal and status along, between jobs."""
        if self.journal is not None and self.journal.state_dir == config.state_dir:
            return
        counts = self.status.snapshot()
        old, old_status = self.journal, self.status
        self._open_output(config)  # raises (another daemon owns it...) with the old journal still open
        old.close()
        old_status.close()
        self.status.update(state="watching", done=counts["done"], failed=counts["failed"])

    @staticmethod
    def _prepare_folders(config: DaemonConfig) -> None:
        """Create the watch folders and one sub-folder per rule, so users see where to drop."""
        for watch in config.watch:
            watch.mkdir(parents=True, exist_ok=True)
            for rule in config.rules:
                if rule.folder is not None:
                    (watch / rule.folder).mkdir(parents=True, exist_ok=True)

    def _schedule(self, config: DaemonConfig) -> None:
        inbox_handler = InboxHandler(self.offer, self.scan_folder)
        _reschedule(self._observer, self._inbox_watches, set(config.watch), inbox_handler, recursive=True)
        folders = self._preset_folders(config)
        if config.source is not None:
            folders.add(config.source.parent)
        _reschedule(self._observer, self._settings_watches, folders, self._settings_handler, recursive=False)

    # -- finding files -----------------------------------------------------------------------

    def wanted(self, path: Path) -> bool:
        """Is this a file the daemon should look at (inside a watch folder, not ours, not in
        progress)? Masks are: they settle like photos, and a photo waits for its mask."""
        parts = self._inbox_parts(path)
        return bool(parts) and not is_in_progress(parts[-1]) and not path.is_dir()

    def is_photo(self, path: Path) -> bool:
        return self.wanted(path) and not is_mask(path)

    def scan(self) -> None:
        """Offer every file already in the watch folders (arrived while the daemon was down)."""
        for watch in self._settings.config.watch:
            self.scan_folder(watch)

    def offer(self, path: Path) -> None:
        """A file appeared or changed: let it settle if it is ours to paint; say why not if
        it looks like a photo that the user may expect to be painted."""
        if self.wanted(path):
            self._settler.touch(path)
            return
        name = path.name
        if not name.startswith(".") or name.startswith(TEMP_PREFIX) or path.suffix.lower() not in _image_suffixes():
            return
        if self._inbox_parts(path.parent) is None and path.parent not in self._settings.config.watch:
            return  # not in the usable part of an inbox
        if self.status is not None and path not in self._told:
            self._told.add(path)
            shown = path.relative_to(self._watch_of(path)).as_posix()
            reason = "its name starts with a dot, which marks a hidden or unfinished file; rename it to paint it"
            log.warning("left alone %s: %s", shown, reason)
            self.status.left_alone(shown, reason)

    def scan_folder(self, folder: Path) -> None:
        for root, dirs, files in os.walk(folder):
            here = Path(root)
            dirs[:] = sorted(d for d in dirs if self.wanted_folder(here / d))
            for name in sorted(files):
                self.offer(here / name)

    def wanted_folder(self, folder: Path) -> bool:
        return folder in self._settings.config.watch or self._inbox_parts(folder) is not None

    def _inbox_parts(self, path: Path) -> tuple[str, ...] | None:
        """The path's parts below its watch folder; None outside the inbox's usable part
        (not in a watch folder, the watch folder itself, processed/, failed/, dot-names)."""
        watch = self._watch_of(path)
        if watch is None or path == watch:
            return None
        parts = path.relative_to(watch).parts
        if parts[0] in RESERVED_DIRS or any(part.startswith(".") for part in parts):
            return None
        return parts

    def _watch_of(self, path: Path) -> Path | None:
        for watch in self._settings.config.watch:
            if path == watch or watch in path.parents:
                return watch
        return None

    # -- the worker thread -------------------------------------------------------------------

    def _work(self, slot: int) -> None:
        while not self._stop.is_set():
            path = self._settler.next_ready(self._stop.is_set)
            if path is None:
                break
            with self._books:
                if path in self._in_hand:  # changed again while another thread paints it: after that
                    self._settler.touch(path, delay=self._settler.settle_seconds)
                    continue
                self._in_hand.add(path)
                self._busy += 1
            try:
                self._job(slot, path)
            finally:
                with self._books:
                    self._in_hand.discard(path)
                    self._busy -= 1
                self.status.job_ended(slot)

    def _job(self, slot: int, path: Path) -> None:
        settings = self._settings
        watch = self._watch_of(path)
        if watch is None or not self.wanted(path):
            return
        relative = path.relative_to(watch)
        with self._books:
            try:
                self._switch_output(settings.config)
                if self._disk_full and not self._room_again():
                    raise RetryLater("output disk full", disk_full=True)
                worker = Worker(self.painter, self.journal, self.status, self._books, slot)
                if is_mask(path):
                    for photo in worker.mask_settled(watch, path, settings, self.is_photo):
                        if photo not in self._in_hand:
                            self._settler.touch(photo)
                    return
                try:
                    worker.process(watch, path, settings, self._stop.is_set, self._settler.is_pending)
                finally:
                    self.largest_output = max(self.largest_output, worker.largest_output)
            except NotReady as exc:
                log.info("waiting  %s: %s", relative, exc)
                self._settler.touch(path)
            except Cancelled:
                log.info("stopped  %s: interrupted; it will be done at the next start", relative)
            except RetryLater as exc:
                self._retry_later(path, relative, str(exc), exc.disk_full)
            except Exception as exc:  # a bug must not end a daemon that runs for weeks, nor lose the photo
                log.exception("unexpected error while processing %s", relative)
                self._retry_later(path, relative, f"unexpected error: {exc!r}", disk_full=False)
            else:
                if self._attempts.pop(path, None) is not None:
                    self.status.update(retrying=self._waiting_to_retry())

    def _retry_later(self, path: Path, relative: Path, reason: str, disk_full: bool) -> None:
        """Keep the photo where it is and offer it again after a doubling delay."""
        attempt = self._attempts.get(path, 0) + 1
        self._attempts[path] = attempt
        delay = min(RETRY_FIRST_DELAY * 2 ** (attempt - 1), RETRY_MAX_DELAY if disk_full else FAULT_MAX_DELAY)
        if disk_full:
            if not self._disk_full:
                self.reserve.release()  # room for the journal and status.json to be written
            self._disk_full = True
            log.error(
                "waiting  %s: the output disk is full (%s); the photo stays in the inbox, next try in %.0f s",
                relative, self._settings.config.output, delay,
            )
        else:
            log.error("retry    %s: %s; the photo stays in the inbox, next try in %.0f s", relative, reason, delay)
        self.status.update(
            state=DISK_FULL_STATE if self._disk_full else "watching",
            retrying=self._waiting_to_retry(),
            last_problem=f"{relative}: {reason}",
        )
        self._settler.touch(path, delay=delay)

    def _waiting_to_retry(self) -> int:
        """Photos waiting for another try; one deleted or renamed meanwhile no longer counts."""
        self._attempts = {path: n for path, n in self._attempts.items() if os.path.lexists(path)}
        return len(self._attempts)

    def _room_again(self) -> bool:
        """After a full disk: paint again only once the reserve fits back on it and there is
        room for a painting besides (twice the largest written so far), so a whole painting
        is not made only to fail at its write."""
        if not self.reserve.restore():
            return False
        needed = max(MIN_FREE_TO_PAINT, 2 * self.largest_output)
        if shutil.disk_usage(self._settings.config.output).free < needed:
            return False
        self._disk_full = False
        self.status.update(state="watching")
        log.info("the output disk has room again; painting resumes")
        return True


def _reschedule(observer: Observer, watches: dict[Path, object], wanted: set[Path], handler, recursive: bool) -> None:
    for folder in set(watches) - wanted:
        observer.unschedule(watches.pop(folder))
    for folder in wanted - set(watches):
        if folder.is_dir():
            watches[folder] = observer.schedule(handler, str(folder), recursive=recursive)


@functools.cache
def _image_suffixes() -> frozenset[str]:
    """Every file ending Pillow reads (`.jpg`, `.png`, `.tif`...)."""
    Image.init()
    return frozenset(Image.registered_extensions())


def _problems(registry: PresetRegistry) -> list[str]:
    return [str(error) for error in registry.errors]


def _keep_last_good(old: PresetRegistry, new: PresetRegistry) -> PresetRegistry:
    """A preset whose file broke during an edit keeps working as it was until the file is fixed."""
    presets = dict(new.presets)
    for error in new.errors:
        preset_id = error.path.stem
        if error.path.suffix.lower() in PRESET_SUFFIXES and preset_id in old.presets and preset_id not in presets:
            presets[preset_id] = old.presets[preset_id]
            log.error("preset %s is broken, still using its last good version: %s", preset_id, error)
    return PresetRegistry(presets, new.errors)
