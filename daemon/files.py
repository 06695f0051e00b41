"""File operations that survive a crash at any instruction: nothing half-written, nothing clobbered.

Outputs are written under a dot-name, flushed to disk, then hard-linked to their final
name (a link fails instead of replacing an existing file) and the temporary name removed.
A `kill -9` can therefore leave only a dot-named temporary behind, which the next start
deletes, and never a truncated file under a name a user would open.
"""

from __future__ import annotations

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


def write_durably(path: Path, write: Callable[[Path], object]) -> None:
    """Let `write` create `path`, then make sure its bytes are on disk before anyone links it."""
    try:
        write(path)
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
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
    write_durably(temporary, lambda p: p.write_text(text, encoding="utf-8"))
    os.replace(temporary, path)


def free_name(wanted: Path, taken: Collection[Path] = ()) -> Path:
    """`wanted`, or `name-2.ext`, `name-3.ext`...: the first that neither exists nor is `taken`."""
    candidate, number = wanted, 1
    while candidate in taken or os.path.lexists(candidate):
        number += 1
        candidate = wanted.with_name(f"{wanted.stem}-{number}{wanted.suffix}")
    return candidate


def move_without_clobbering(source: Path, wanted: Path) -> Path:
    """Move `source` to `wanted` (or a free variant of it) and return where it went.

    A hard link plus unlink is atomic and refuses to overwrite; symlinks themselves are
    moved (never their targets), and across file systems we fall back to a checked rename.
    """
    wanted.parent.mkdir(parents=True, exist_ok=True)
    while True:
        target = free_name(wanted)
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
