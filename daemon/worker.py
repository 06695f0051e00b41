"""One dropped file: claim -> stylize -> write -> record, and what to do when it goes wrong.

The worker is the only place the daemon writes outputs or moves originals, and it does so
in an order that keeps every promise through a crash (see journal.py): outputs become
visible only complete, under a name that is never someone else's, and an original moves
to `processed/` or `failed/` only after everything it produced is on disk.

Only what can never succeed moves a photo to `failed/`: a fault of the photo itself
(unreadable, not an image, too large, a link out of the watch folder) or of its job (a
mask that is not an image, a rule whose settings cannot paint it, such as a mask on a
tiled print size). Everything else - a full output disk, out of memory, a diverged
optimization, a preset whose painting went missing - is a fault of the machine or of
something that can be fixed without touching the photo: it stays where it is and the job
is raised as `RetryLater` for the service to try again.

A photo's mask is part of its job. It is chosen when the job first starts and recorded in
the journal; it moves with its photo (to `processed/` or `failed/`), and a mask file once
given to a photo is never applied to another photo dropped later under the same name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat as stat_module
import threading
import time
from collections.abc import Callable
import dataclasses
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from stylizer import images
from stylizer.errors import Cancelled, FilterError, ImageError
from stylizer.masks import Mask
from stylizer.scheduler import Scheduler
from stylizer.pool import WorkerFailed
from stylizer.presets import PresetRegistry
from stylizer.strength import strength_fields
from stylizer.transfer import Progress

from .config import FAILED_DIR, PROCESSED_DIR, DaemonConfig, Rule
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
from .journal import InputKey, Journal, MaskFile
from .masks import file_identity, find_mask, mask_name_for, photos_of
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


class NotReady(Exception):
    """The photo's mask is still being written: try the photo again once it has settled."""


class RetryLater(Exception):
    """The job could not finish for a reason that is not the photo's; it stays in the inbox."""

    def __init__(self, reason: str, disk_full: bool = False) -> None:
        super().__init__(reason)
        self.disk_full = disk_full


class Worker:
    """One job. `books` is held by the caller for the whole job except the painting itself:
    the journal, the names and the output folder are touched by one job at a time, while
    the long part, the painting, runs beside the other jobs' (one per worker of the pool)."""

    def __init__(self, painter: Scheduler, journal: Journal, status: StatusBoard, books: threading.Lock, slot: int) -> None:
        self.painter = painter
        self.journal = journal
        self.status = status
        self.books = books
        self.slot = slot
        self.largest_output = 0  # bytes of the largest painting this job encoded, written or not

    def process(
        self,
        watch: Path,
        path: Path,
        settings: Settings,
        stopping: Callable[[], bool],
        settling: Callable[[Path], bool] = lambda _: False,
    ) -> None:
        """Paint one file with every preset its rule names; raises `Cancelled` when stopping,
        `NotReady` while its mask is still changing (`settling` says which files are)."""
        relative = PurePosixPath(path.relative_to(watch).as_posix())
        matched = settings.config.match(relative)
        if matched is None:
            log.info("ignored  %s: no rule matches it (drop photos into a preset's folder)", relative)
            return
        rule, out_relative = matched
        if not os.path.lexists(path):
            return  # moved or deleted while it waited; its new name has its own event
        key = None
        mask_path = find_mask(path)
        try:
            key, stat = self._identify(watch, path, relative, settings.config.follow_links)
            if self.journal.has_failed(key) or self._finish_interrupted_move(key, path, relative):
                return  # reported before but could not leave the inbox, or already moved
            if mask_path is not None and settling(mask_path):
                raise NotReady(f"its mask {mask_path.name} is still being written")
            key, mask = self._choose_mask(watch, key, path, mask_path, rule, settings)
            pending = [p for p in rule.presets if not self.journal.is_done(key, p)]
            if pending:
                photo = self._load(path, relative)
                mask_name = mask_path.name if mask is not None and mask_path is not None else None
                for preset_id in pending:
                    self._paint(key, stat, photo, (mask, mask_name), preset_id, rule, out_relative, relative,
                                settings, stopping)
            if settings.config.originals == "move":
                moved = self._move_with_mask(key, path, mask_path, watch / PROCESSED_DIR / relative)
                self.journal.retire(key)
                log.info("moved    %s -> %s", relative, moved)
        except (InputFailed, WorkerFailed) as exc:  # WorkerFailed: it took down several workers in turn
            self._fail(watch, path, mask_path, relative, key, str(exc))
        except FilterError as exc:  # the rule's settings cannot paint this photo, however often tried
            self._fail(watch, path, mask_path, relative, key, f"these settings cannot paint it: {exc}")
        except OSError as exc:
            if is_disk_full(exc):
                raise RetryLater(f"output disk full ({exc.strerror or exc})", disk_full=True) from exc
            raise

    def mask_settled(self, watch: Path, mask_path: Path, settings: Settings, is_photo: Callable[[Path], bool]) -> list[Path]:
        """A mask has stopped changing: return the photos that should now be (re)considered.

        A photo whose mask was already chosen when this mask arrived keeps that choice: the
        late mask is reported and given to that photo, so it never masks a later photo of
        the same name.
        """
        relative = mask_path.relative_to(watch).as_posix()
        photos = photos_of(mask_path, is_photo)
        if not photos:
            log.info("mask     %s waits for its photo", relative)
            return []
        waiting = []
        for photo in photos:
            try:
                key, _stat = self._identify(watch, photo, PurePosixPath(photo.relative_to(watch).as_posix()),
                                            settings.config.follow_links)
                mask_file = _mask_file(watch, mask_path)
            except (InputFailed, OSError):
                waiting.append(photo)  # its own job reports what is wrong
                continue
            chosen, _digest = self.journal.mask_chosen(key)
            if not chosen:
                waiting.append(photo)
            elif key.input not in self.journal.mask_owners(mask_file):
                self.journal.mask(key, None, mask_file)
                message = (f"{mask_path.name} arrived after the painting of {photo.name} had started, so it is not "
                           "used, nor kept for a later photo of that name (to use it, drop both again under a new name)")
                log.warning("mask     %s: %s", relative, message)
                self.status.update(last_problem=f"{relative}: {message}")
        return waiting

    def _choose_mask(
        self, watch: Path, key: InputKey, path: Path, mask_path: Path | None, rule: Rule, settings: Settings
    ) -> tuple[InputKey, Mask | None]:
        """The mask this photo version is painted with, fixed in the journal the first time.

        A mask file already given to an earlier photo of the same name is not this photo's:
        it is left out (and said so), never applied to the new photo.
        """
        outside = settings.registry.get(rule.mask_style).filter if rule.mask_style else None
        chosen, digest = self.journal.mask_chosen(key)
        if chosen:
            if digest is None:
                return key, None
            mask = self._read_mask(mask_path, outside, settings.config.follow_links, watch)
            if mask is None or mask.identity != digest:
                raise InputFailed(
                    f"its mask {mask_name_for(path.name)} changed or went away while the photo was being painted; "
                    "put the photo and its mask back to paint it again"
                )
            return dataclasses.replace(key, mask=digest), mask
        if mask_path is None:
            self.journal.mask(key, None, None)
            return key, None
        try:
            mask_file = _mask_file(watch, mask_path)
        except OSError as exc:
            raise InputFailed(f"its mask {mask_path.name} cannot be read ({exc.strerror or exc})") from None
        earlier = [owner for owner in self.journal.mask_owners(mask_file)
                   if owner[1] == key.relative and owner != key.input]
        if earlier:
            message = (f"{mask_path.name} belongs to the earlier photo of this name, so this one is painted "
                       f"without a mask (drop a new mask beside it to mask it)")
            log.warning("mask     %s: %s", key.relative, message)
            self.status.update(last_problem=f"{key.relative}: {message}")
            self.journal.mask(key, None, None)
            return key, None
        mask = self._read_mask(mask_path, outside, settings.config.follow_links, watch)
        self.journal.mask(key, mask.identity, mask_file)
        return dataclasses.replace(key, mask=mask.identity), mask

    @staticmethod
    def _read_mask(mask_path: Path | None, outside, follow_links: bool, watch: Path) -> Mask | None:
        if mask_path is None or not os.path.lexists(mask_path):
            return None
        _check_link(mask_path, watch, follow_links, what="mask")
        try:
            return Mask(mask_path, outside)
        except ImageError as exc:
            raise InputFailed(str(exc)) from None

    def _move_with_mask(self, key: InputKey, path: Path, mask_path: Path | None, wanted: Path) -> Path:
        """Move the photo to `wanted` (or a free variant), its own mask first, beside it under
        the matching name: moved first, a crash between the two never leaves the mask behind
        for the next photo of that name."""
        target = free_name(wanted)
        if mask_path is not None and os.path.lexists(mask_path) and self._owns(key, mask_path):
            move_without_clobbering(mask_path, target.with_name(mask_name_for(target.name)))
        return move_without_clobbering(path, target, before=lambda final: self.journal.moving(key, final))

    def _owns(self, key: InputKey, mask_path: Path) -> bool:
        """Was this mask file given to this photo version (painted with it, or arrived too late)?"""
        try:
            identity = _mask_file(Path(key.watch), mask_path)
        except OSError:
            return False
        return key.input in self.journal.mask_owners(identity)

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

    def _identify(
        self, watch: Path, path: Path, relative: PurePosixPath, follow_links: bool
    ) -> tuple[InputKey, os.stat_result]:
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise InputFailed(f"broken symlink: it points to {os.readlink(path)}, which does not exist") from None
        except OSError as exc:
            raise InputFailed(f"cannot read the file ({exc.strerror or exc})") from None
        _check_link(path, watch, follow_links, what="photo")
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

    def _paint(
        self,
        key: InputKey,
        stat: os.stat_result,
        photo: images.Image.Image,
        masked: tuple[Mask | None, str | None],
        preset_id: str,
        rule: Rule,
        out_relative: PurePosixPath,
        relative: PurePosixPath,
        settings: Settings,
        stopping: Callable[[], bool],
    ) -> None:
        mask, mask_name = masked
        folder = settings.config.output / preset_id / out_relative.parent
        folder.mkdir(parents=True, exist_ok=True)
        claim = self.journal.claim_of(key, preset_id)
        if claim is not None and os.path.lexists(claim.output):
            if claim.holds_our_output():
                # Killed after the output got its name but before the journal said so: it is done.
                self.journal.done(key, preset_id, claim.output, stat)
                self.status.count("done")
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
            result = self.painter.paint(photo, filter, rule.quality, on_progress=report, cancel=stopping, mask=mask,
                                        owner=f"daemon {relative.as_posix()}")
        except (Cancelled, WorkerFailed, FilterError):
            raise
        except Exception as exc:  # out of memory, diverged, a missing painting: not the photo's fault
            raise RetryLater(f"painting with '{preset_id}' failed: {exc}") from exc
        finally:
            self.books.acquire()
        wanted = folder / (out_relative.stem + rule.output_suffix(out_relative.suffix))
        metadata = {**result.metadata(), "source": relative.as_posix()}
        if mask_name is not None:
            metadata["mask"] = mask_name
        data = images.encode(result.image, images.output_format(wanted), metadata, quality=rule.jpeg_quality)
        self.largest_output = max(self.largest_output, len(data))
        temporary = temporary_path(folder, wanted.suffix)
        # Never wider permissions than the photo's: a private photo makes a private painting.
        write_bytes_durably(temporary, data, mode=stat.st_mode & 0o666)
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

    def _fail(
        self, watch: Path, path: Path, mask_path: Path | None, relative: PurePosixPath, key: InputKey | None, reason: str
    ) -> None:
        """Move the original (and its mask) to `failed/` with a note beside it saying why, so
        the next file can go."""
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
            if mask_path is not None and os.path.lexists(mask_path) and self._mask_may_go(key, watch, mask_path):
                move_without_clobbering(mask_path, destination.with_name(mask_name_for(destination.name)))
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

    def _mask_may_go(self, key: InputKey | None, watch: Path, mask_path: Path) -> bool:
        """A failed photo takes its mask along unless the mask was given to another photo."""
        try:
            identity = _mask_file(watch, mask_path)
        except OSError:
            return True  # a broken link or unreadable mask: it goes with the photo it failed
        owners = self.journal.mask_owners(identity)
        return not owners or (key is not None and owners == {key.input})


def _mask_file(watch: Path, mask_path: Path) -> MaskFile:
    """A mask file as the journal knows it: where it lies and which file it is right now."""
    return (str(watch), mask_path.relative_to(watch).as_posix(), *file_identity(mask_path))


def _check_link(path: Path, watch: Path, follow_links: bool, what: str) -> None:
    """Refuse a symbolic link that leads out of the watch folder, unless links are allowed:
    otherwise anyone who can drop a link could have the daemon read (and publish a painting
    of) any file it may read."""
    if follow_links or not path.is_symlink():
        return
    target = Path(os.path.realpath(path))
    if target != watch.resolve() and watch.resolve() not in target.parents:
        raise InputFailed(
            f"the {what} is a link to {target}, outside the watch folder; links that leave it are not followed "
            "(set follow_links: true in daemon.yaml, or --follow-links, to allow them)"
        )
