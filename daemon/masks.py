"""Which mask file goes with which photo in a watch folder.

A photo's mask lies beside it: `beach.jpg` is painted only where `beach.mask.png` is white.
The stem must match exactly; the `.mask.png` ending may be in any case (`beach.MASK.PNG`),
as cameras and phones write upper-case names. A mask belongs to one photo version: the
worker records which one (journal.py), so a mask left in the folder is never applied to a
different photo dropped later under the same name.
"""

from __future__ import annotations

import os
from pathlib import Path

MASK_SUFFIX = ".mask.png"


def is_mask(path: Path) -> bool:
    """A mask is never a photo to paint: it is read with the photo beside it."""
    return path.name.lower().endswith(MASK_SUFFIX)


def mask_stem(mask: Path) -> str:
    """`beach` for `beach.mask.png` (or `beach.MASK.PNG`)."""
    return mask.name[: -len(MASK_SUFFIX)]


def mask_name_for(photo_name: str) -> str:
    """The mask name for a photo name, as the daemon writes it (when moving a photo's mask)."""
    stem, dot, _suffix = photo_name.rpartition(".")
    return (stem if dot and stem else photo_name) + MASK_SUFFIX


def find_mask(photo: Path) -> Path | None:
    """The mask beside `photo`, if there is one: `stem.mask.png` itself first, else the same
    name with the ending in another case."""
    exact = photo.with_name(photo.stem + MASK_SUFFIX)
    try:
        if os.path.lexists(exact):
            return exact
    except OSError:  # a name at the length limit: no mask can have a longer one
        return None
    wanted = photo.stem + MASK_SUFFIX
    try:
        names = sorted(
            entry.name for entry in os.scandir(photo.parent)
            if entry.name.startswith(photo.stem) and entry.name.lower() == wanted.lower()
        )
    except OSError:
        return None
    return photo.with_name(names[0]) if names else None


def photos_of(mask: Path, is_photo) -> list[Path]:
    """The files beside `mask` that it is the mask of (same stem, any extension)."""
    stem = mask_stem(mask)
    try:
        entries = list(os.scandir(mask.parent))
    except OSError:
        return []
    return sorted(
        mask.with_name(entry.name) for entry in entries
        if Path(entry.name).stem == stem and not is_mask(Path(entry.name)) and is_photo(mask.with_name(entry.name))
    )


def file_identity(path: Path) -> tuple[int, int, int]:
    """(inode, size, mtime_ns) of the file itself: a mask written again, even with the same
    bytes, is a new mask."""
    stat = os.stat(path)
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)
