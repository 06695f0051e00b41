"""File operations that survive a crash at any instruction: nothing half-written, nothing clobbered.

Outputs are encoded in memory, written under a dot-name, flushed to disk, read back and
compared, then hard-linked to their final name (a link fails instead of replacing an
existing file) and the temporary name removed. A `kill -9` can therefore leave only a
dot-named temporary behind, which the next start deletes, and a full disk or a short write
raises instead of leaving a truncated file under a name a user would open.

Every name we make (collision suffixes, `.error.txt` notes) is shortened to fit the file
system's limit on one name, so a long original name cannot make a job fail forever.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import uuid
from collections.abc import Callable, Collection
from pathlib import Path

TEMP_PREFIX = ".stylizer-tmp-"
# Names that browsers, editors and copy tools use while a file is still being written.
IN_PROGRESS_PATTERNS = ("*.part", "*.partial", "*.tmp", "*.temp", "*.crdownload", "*.download", "~$*", ".~*")


def is_in_progress(name: str) -> bool:
    """True for names we must not touch yet: dot-files and the usual temporary names."""
    lowered = name.lower()
    return name.startswith(".") or any(fnmatch.fnmatchcase(lowered, p) for p in IN_PROGRESS_PATTERNS)


def temporary_path(folder: Path, suffix: str) -> Path:
    """A fresh hidden name in `folder` (same file system as the final name, so linking works)."""
    return folder / f"{TEMP_PREFIX}{uuid.uuid4().hex}{suffix}"


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DEFAULT_NAME_MAX = 255


class ShortWrite(OSError):
    """What was read back is not what was written: the file must not be published."""


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def write_bytes_durably(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Create `path` holding exactly `data`, synced and checked, or raise and leave nothing.

    Image libraries write through buffered files whose close can swallow an error on a full
    disk; writing the encoded bytes ourselves and reading them back is the only way to know
    that what will be published is complete.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view):]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if path.stat().st_size != len(data) or path.read_bytes() != data:
            raise ShortWrite(errno.EIO, "the file on disk differs from what was written", str(path))
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def publish(temporary: Path, final: Path) -> None:
    """Give a durable temporary file its final name without ever replacing an existing file."""
    try:
        os.link(temporary, final)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (FAT, some network shares): a checked rename
        if os.path.lexists(final):
            raise FileExistsError(final) from None
        os.rename(temporary, final)
    else:
        temporary.unlink()
    sync_folder(final.parent)


def write_text_atomically(path: Path, text: str) -> None:
    """For small files read by people or other processes (error notes, status): all or nothing."""
    temporary = temporary_path(path.parent, ".txt")
    # A name that is not UTF-8 shows its odd bytes as \xNN instead of failing the write.
    readable = os.fsencode(text).decode("utf-8", errors="backslashreplace")
    write_bytes_durably(temporary, readable.encode("utf-8"))
    os.replace(temporary, path)


def name_max(folder: Path) -> int:
    """The longest name, in bytes, the file system holding `folder` accepts."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return DEFAULT_NAME_MAX


def fit_name(stem: str, tail: str, limit: int) -> str:
    """`stem + tail`, with `stem` cut (never inside a character) so the name fits `limit` bytes."""
    budget = limit - len(os.fsencode(tail))
    while stem and len(os.fsencode(stem)) > budget:
        stem = stem[:-1]
    return stem + tail


def free_name(wanted: Path, taken: Collection[Path] = (), reserve: int = 0) -> Path:
    """`wanted`, or `name-2.ext`, `name-3.ext`...: the first that neither exists nor is `taken`.

    Names are shortened to leave `reserve` bytes under the file system's limit (for a
    suffix the caller adds, such as `.error.txt`).
    """
    limit = name_max(_existing_ancestor(wanted.parent)) - reserve
    suffix = wanted.suffix if len(os.fsencode(wanted.suffix)) <= limit // 2 else ""
    stem = wanted.name[: len(wanted.name) - len(suffix)] if suffix else wanted.name
    candidate, number = wanted.with_name(fit_name(stem, suffix, limit)), 1
    while candidate in taken or os.path.lexists(candidate):
        number += 1
        candidate = wanted.with_name(fit_name(stem, f"-{number}{suffix}", limit))
    return candidate


def _existing_ancestor(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def move_without_clobbering(
    source: Path, wanted: Path, reserve: int = 0, before: Callable[[Path], object] | None = None
) -> Path:
    """Move `source` to `wanted` (or a free variant of it) and return where it went.

    A hard link plus unlink is atomic and refuses to overwrite; symlinks themselves are
    moved (never their targets), and across file systems we fall back to a checked rename.
    `before` learns the target name before the link, so a caller can record it and, after a
    crash between link and unlink, recognise the second name as the same file.
    """
    wanted.parent.mkdir(parents=True, exist_ok=True)
    while True:
        target = free_name(wanted, reserve=reserve)
        if before is not None:
            before(target)
        try:
            os.link(source, target, follow_symlinks=False)
        except FileExistsError:
            continue  # someone took the name between our check and the link
        except OSError:  # no hard links, another file system, or not our file to link
            if os.path.lexists(target):
                continue
            shutil.move(source, target)
        else:
            source.unlink()
        sync_folder(target.parent)
        sync_folder(source.parent)
        return target


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete temporaries a killed run left behind; only our own prefix is ever touched."""
    removed = []
    if folder.is_dir():
        for path in folder.rglob(f"{TEMP_PREFIX}*"):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries so a rename or link survives a power cut."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot sync folders; the rename is still atomic
    finally:
        os.close(descriptor)
