"""One dropped file: claim -> stylize -> write -> record, and what to do when it goes wrong.

The worker is the only place the daemon writes outputs or moves originals, and it does so
in an order that keeps every promise through a crash (see journal.py): outputs become
visible only complete, under a name that is never someone else's, and an original moves
to `processed/` or `failed/` only after everything it produced is on disk.

Only a fault of the photo itself (unreadable, not an image, too large) moves it to
`failed/`. Everything else - a full output disk, out of memory, a diverged optimization, a
preset whose painting went missing - is not the photo's fault: the photo stays where it is
and the job is raised as `RetryLater` for the service to try again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat as stat_module
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from stylizer import images
from stylizer.errors import Cancelled, ImageError
from stylizer.masks import Mask
from stylizer.pool import Painter, WorkerFailed
from stylizer.presets import PresetRegistry
from stylizer.strength import strength_fields
from stylizer.transfer import Progress

from .config import FAILED_DIR, PROCESSED_DIR, DaemonConfig, Rule, mask_path_for
from .files import (
    free_name,
    is_disk_full,
    move_without_clobbering,
    publish,
    sync_folder,
    temporary_path,
    write_bytes_durably,
    write_text_atomically,
)
from .journal import InputKey, Journal
from .status import StatusBoard

log = logging.getLogger("daemon")


@dataclass(frozen=True)
class Settings:
    """The configuration and presets in force when a job starts (a reload never changes a running job)."""

    config: DaemonConfig
    registry: PresetRegistry


ERROR_NOTE_SUFFIX = ".error.txt"


class InputFailed(Exception):
    """This file cannot be painted; the message is what the user reads in `.error.txt`."""


class RetryLater(Exception):
    """The job could not finish for a reason that is not the photo's; it stays in the inbox."""

    def __init__(self, reason: str, disk_full: bool = False) -> None:
        super().__init__(reason)
        self.disk_full = disk_full


class Worker:
    """One job. `books` is held by the caller for the whole job except the painting itself:
    the journal, the names and the output folder are touched by one job at a time, while
    the long part, the painting, runs beside the other jobs' (one per worker of the pool)."""

    def __init__(self, painter: Painter, journal: Journal, status: StatusBoard, books: threading.Lock, slot: int) -> None:
        self.painter = painter
        self.journal = journal
        self.status = status
        self.books = books
        self.slot = slot
        self.largest_output = 0  # bytes of the largest painting this job encoded, written or not

    def process(self, watch: Path, path: Path, settings: Settings, stopping: Callable[[], bool]) -> None:
        """Paint one file with every preset its rule names; raises `Cancelled` when stopping."""
        relative = PurePosixPath(path.relative_to(watch).as_posix())
        matched = settings.config.match(relative)
        if matched is None:
            log.info("ignored  %s: no rule matches it (drop photos into a preset's folder)", relative)
            return
        rule, out_relative = matched
        if not os.path.lexists(path):
            return  # moved or deleted while it waited; its new name has its own event
        key = None
        try:
            key, stat = self._identify(watch, path, relative)
            if self.journal.has_failed(key) or self._finish_interrupted_move(key, path, relative):
                return  # reported before but could not leave the inbox, or already moved
            pending = [p for p in rule.presets if not self.journal.is_done(key, p)]
            if pending:
                photo = self._load(path, relative)
                mask = self._mask(path, rule, settings)
                for preset_id in pending:
                    self._paint(key, stat, photo, mask, preset_id, rule, out_relative, relative, settings, stopping)
            if settings.config.originals == "move":
                moved = move_without_clobbering(
                    path, watch / PROCESSED_DIR / relative, before=lambda target: self.journal.moving(key, target)
                )
                self.journal.retire(key)
                log.info("moved    %s -> %s", relative, moved)
        except InputFailed as exc:
            self._fail(watch, path, relative, key, str(exc))
        except WorkerFailed as exc:  # it took down several workers in turn: the photo's own fault
            self._fail(watch, path, relative, key, str(exc))
        except OSError as exc:
            if is_disk_full(exc):
                raise RetryLater(f"output disk full ({exc.strerror or exc})", disk_full=True) from exc
            raise

    def _finish_interrupted_move(self, key: InputKey, path: Path, relative: PurePosixPath) -> bool:
        """Killed between linking the original into `processed/` and unlinking it here: finish that."""
        target = self.journal.moving_to(key)
        if target is None or not os.path.lexists(target):
            return False
        if not os.path.samestat(os.lstat(path), os.lstat(target)):
            return False  # a different file took that name; move this one normally
        path.unlink()
        sync_folder(path.parent)
        self.journal.retire(key)
        log.info("moved    %s -> %s (finished after restart)", relative, target)
        return True

    def _identify(self, watch: Path, path: Path, relative: PurePosixPath) -> tuple[InputKey, os.stat_result]:
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise InputFailed(f"broken symlink: it points to {os.readlink(path)}, which does not exist") from None
        except OSError as exc:
            raise InputFailed(f"cannot read the file ({exc.strerror or exc})") from None
        if not stat_module.S_ISREG(stat.st_mode):
            raise InputFailed("not a regular file")
        sha = self.journal.known_sha(str(watch), relative.as_posix(), stat)
        if sha is None:
            try:
                with open(path, "rb") as handle:
                    sha = hashlib.file_digest(handle, "sha256").hexdigest()
            except OSError as exc:
                raise InputFailed(f"cannot read the file ({exc.strerror or exc})") from None
        return InputKey(str(watch), relative.as_posix(), sha), stat

    @staticmethod
    def _load(path: Path, relative: PurePosixPath) -> images.Image.Image:
        try:
            return images.load(path)
        except ImageError as exc:
            # The note sits beside the file, so the loader's leading path would only repeat it.
            raise InputFailed(str(exc).removeprefix(f"{path}: ")) from None

    @staticmethod
    def _mask(path: Path, rule: Rule, settings: Settings) -> Mask | None:
        """`photo.mask.png` beside the photo, if there is one: where the style goes."""
        mask_path = mask_path_for(path)
        try:
            if not mask_path.exists():
                return None
        except OSError:  # the photo's name is at the length limit: no mask can have a longer one
            return None
        outside = settings.registry.get(rule.mask_style).filter if rule.mask_style else None
        try:
            return Mask(mask_path, outside)
        except ImageError as exc:
            raise InputFailed(str(exc)) from None

    def _paint(
        self,
        key: InputKey,
        stat: os.stat_result,
        photo: images.Image.Image,
        mask: Mask | None,
        preset_id: str,
        rule: Rule,
        out_relative: PurePosixPath,
        relative: PurePosixPath,
        settings: Settings,
        stopping: Callable[[], bool],
    ) -> None:
        folder = settings.config.output / preset_id / out_relative.parent
        folder.mkdir(parents=True, exist_ok=True)
        claim = self.journal.claim_of(key, preset_id)
        if claim is not None and os.path.lexists(claim.output):
            if claim.holds_our_output():
                # Killed after the output got its name but before the journal said so: it is done.
                self.journal.done(key, preset_id, claim.output, stat)
                log.info("done     %s [%s] recovered after restart -> %s", relative, preset_id, claim.output)
                return
            log.warning(
                "kept     %s: the daemon cannot verify it wrote this file (at %s); painting %s again under a free name",
                claim.output, claim.output.name, relative,
            )
            claim = None
        preset = settings.registry.get(preset_id)
        own = {name: value for name, value in (("size", rule.size), ("tile", rule.tile)) if value is not None}
        if rule.strength is not None:
            own.update(strength_fields(rule.strength))
        filter = preset.filter.replace(**own) if own else preset.filter
        started = time.monotonic()
        self.status.job_started(self.slot, {"file": relative.as_posix(), "preset": preset_id})

        def report(progress: Progress) -> None:
            self.status.job_progress(self.slot, progress.fraction)

        self.books.release()
        try:
            result = self.painter.paint(photo, filter, rule.quality, on_progress=report, cancel=stopping, mask=mask)
        except (Cancelled, WorkerFailed):
            raise
        except Exception as exc:  # out of memory, diverged, a missing painting: not the photo's fault
            raise RetryLater(f"painting with '{preset_id}' failed: {exc}") from exc
        finally:
            self.books.acquire()
        wanted = folder / (out_relative.stem + rule.output_suffix(out_relative.suffix))
        metadata = {**result.metadata(), "source": relative.as_posix()}
        if mask is not None:
            metadata["mask"] = mask_path_for(Path(relative)).name
        data = images.encode(result.image, images.output_format(wanted), metadata, quality=rule.jpeg_quality)
        self.largest_output = max(self.largest_output, len(data))
        temporary = temporary_path(folder, wanted.suffix)
        write_bytes_durably(temporary, data)
        try:
            final = claim.output if claim is not None else None
            while True:
                if final is None:
                    final = free_name(wanted, self.journal.claimed_names())
                self.journal.claim(key, preset_id, final, data)  # records these bytes, so only they are adopted
                try:
                    publish(temporary, final)
                    break
                except FileExistsError:
                    final = None  # a file appeared under the claimed name; claim another
        finally:
            temporary.unlink(missing_ok=True)  # published (already gone) or failed: never left behind
        self.journal.done(key, preset_id, final, stat)
        self.status.count("done")
        log.info("done     %s [%s] %.1f s -> %s", relative, preset_id, time.monotonic() - started, final)

    def _fail(self, watch: Path, path: Path, relative: PurePosixPath, key: InputKey | None, reason: str) -> None:
        """Move the original to `failed/` with a note beside it saying why, so the next file can go."""
        reserve = len(ERROR_NOTE_SUFFIX.encode())
        destination = free_name(watch / FAILED_DIR / relative, reserve=reserve)
        destination.parent.mkdir(parents=True, exist_ok=True)
        note = (
            f"Could not stylize: {relative}\n"
            f"Reason: {reason}\n"
            f"When: {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
            "To try again, fix the file (or the preset) and put it back in the watch folder.\n"
        )
        try:
            write_text_atomically(destination.with_name(destination.name + ERROR_NOTE_SUFFIX), note)
            record = (lambda target: self.journal.moving(key, target)) if key is not None else None
            moved = move_without_clobbering(path, destination, reserve=reserve, before=record)
        except OSError as exc:
            if key is not None:
                self.journal.failed(key, reason)  # stays in the inbox, but is not retried forever
            self.status.count("failed")
            log.error("failed   %s: %s (and could not move it to %s/: %s)", relative, reason, FAILED_DIR, exc)
            return
        if key is not None:
            self.journal.retire(key)  # it has left the inbox: its records may go
        self.status.count("failed")
        log.error("failed   %s: %s -> %s", relative, reason, moved)
