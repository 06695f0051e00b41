"""A little disk space held back, so a full output disk can still be reported and recorded.

When the output disk fills up, the journal and `status.json` live on that same disk and
could not be written either: `status` would show stale numbers and the journal could lose
a record. The daemon therefore keeps a small file of padding in its state folder and
deletes it the moment a write fails for lack of space. That frees room for the status and
journal writes that follow. Painting resumes only once the reserve can be written again,
which also tells us that the disk has room.
"""

from __future__ import annotations

import os
from pathlib import Path

from .files import temporary_path, write_bytes_durably

RESERVE_NAME = "reserve"
RESERVE_BYTES = 256 * 1024


class SpaceReserve:
    def __init__(self, state_dir: Path, size: int = RESERVE_BYTES) -> None:
        self.path = state_dir / RESERVE_NAME
        self.size = size

    def restore(self) -> bool:
        """Hold the reserve again; False while the disk has no room for it."""
        try:
            if self.path.stat().st_size == self.size:
                return True
        except OSError:
            pass
        temporary = temporary_path(self.path.parent, ".reserve")
        try:
            # Random bytes: a file system that compresses or deduplicates would not store zeros.
            write_bytes_durably(temporary, os.urandom(self.size))
            os.replace(temporary, self.path)
        except OSError:
            return False
        return True

    def release(self) -> None:
        """Give the space back to the disk so the status and journal can still be written."""
        self.path.unlink(missing_ok=True)
