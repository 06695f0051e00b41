"""The daemon's memory across restarts: which (photo, preset) jobs are done, and under which name.

An append-only JSON-lines file, flushed and fsynced after every record. The order of
writes in the worker is what makes "exactly once" hold through a `kill -9`:

1. the painting is written to a hidden temporary, synced and checked;
2. a `claim` record fixes its final name and the size and hash of its bytes;
3. the temporary is linked to that name;
4. a `done` record closes the job.

A crash before 2 leaves only a temporary (deleted at start) and the job is redone. A crash
between 2 and 4 is resolved at the next start by looking at the claimed name: if it holds
exactly the bytes the claim recorded it is our finished output; anything else there is
someone else's file, left alone, and the job is redone under a free name. No step can
produce a second output for the same job, nor adopt a file the daemon did not write.

With `originals: move`, a `moving` record names the original's new name before it is
linked there, so a crash between that link and the unlink of the inbox name is finished
at the next start instead of moving the original a second time.

A record is applied in memory only once it is fully on disk; a failed append (a full disk)
is cut off again, so the file never holds half a line followed by a good one.

A photo's mask (`photo.mask.png`) is part of its job: which mask file (or none) a photo
version is painted with is recorded when its job first starts (`mask` record), and the
mask's digest is part of every job key. A mask file recorded for one photo version is
never applied to another version of that name (see worker.py).

Keys are written as JSON lists, so a name may hold any character, a newline included.
Journals written before that joined the parts of a key with newlines; they are still read.

An exclusive lock on the state folder keeps two daemons from sharing one output folder.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from stylizer.errors import StylizerError

from .files import sync_folder, temporary_path, write_bytes_durably

JOURNAL_NAME = "journal.jsonl"
LOCK_NAME = "lock"


class JournalBusy(StylizerError):
    """Another daemon already owns this output folder."""


@dataclass(frozen=True)
class Claim:
    """The name promised to a job and the bytes that the daemon put (or will put) there."""

    output: Path
    size: int | None
    sha256: str | None

    def holds_our_output(self) -> bool:
        """True only if the claimed name holds exactly the bytes this claim recorded."""
        if self.sha256 is None:
            return False  # a claim from before hashes were recorded: we cannot tell, so never adopt
        try:
            if self.output.is_symlink() or self.output.stat().st_size != self.size:
                return False
            with open(self.output, "rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest() == self.sha256
        except OSError:
            return False


Input = tuple[str, str, str]  # watch folder, path below it, sha256 of the photo's bytes
Job = tuple[str, str, str, str, str]  # an Input, the mask's digest ("" for none), the preset id
MaskFile = tuple[str, str, int, int, int]  # watch folder, mask path below it, inode, size, mtime_ns


@dataclass(frozen=True)
class InputKey:
    """A photo as the journal knows it: where it was dropped, what its bytes were, and the
    digest of the mask it is painted with ("" when none)."""

    watch: str
    relative: str
    sha256: str
    mask: str = ""

    def job(self, preset_id: str) -> Job:
        return (self.watch, self.relative, self.sha256, self.mask, preset_id)

    @property
    def input(self) -> Input:
        return (self.watch, self.relative, self.sha256)


class Journal:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self._lock_handle = open(state_dir / LOCK_NAME, "a+")
        try:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_handle.close()
            raise JournalBusy(f"another daemon is already writing to {state_dir.parent}") from None
        self._claims: dict[Job, dict] = {}
        self._moving: dict[Input, str] = {}
        self._done: dict[Job, str] = {}
        self._failed: dict[Input, str] = {}
        self._known: dict[tuple[str, str, int, int], str] = {}
        self._masks: dict[Input, str | None] = {}  # the mask digest each photo version is painted with
        self._mask_files: dict[MaskFile, set[Input]] = {}  # mask files already given to photo versions
        self._path = state_dir / JOURNAL_NAME
        self._read()
        self._compact()
        self._descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    # -- questions ------------------------------------------------------------------------

    def is_done(self, key: InputKey, preset_id: str) -> bool:
        return key.job(preset_id) in self._done

    def claim_of(self, key: InputKey, preset_id: str) -> Claim | None:
        record = self._claims.get(key.job(preset_id))
        if record is None:
            return None
        return Claim(Path(record["output"]), record.get("size"), record.get("sha256"))

    def claimed_names(self) -> set[Path]:
        """Names promised to unfinished jobs: a new job must not take one of them."""
        return {Path(r["output"]) for job, r in self._claims.items() if job not in self._done}

    def moving_to(self, key: InputKey) -> Path | None:
        """Where the original was being moved when the daemon last stopped, if it was."""
        target = self._moving.get(key.input)
        return Path(target) if target else None

    def has_failed(self, key: InputKey) -> bool:
        return key.input in self._failed

    def mask_chosen(self, key: InputKey) -> tuple[bool, str | None]:
        """(True, digest or None) once this photo version's mask is fixed; (False, None) before."""
        return (key.input in self._masks, self._masks.get(key.input))

    def mask_owners(self, mask_file: MaskFile) -> set[Input]:
        """The photo versions this exact mask file (same inode, size and mtime) was given to."""
        return set(self._mask_files.get(mask_file, ()))

    def known_sha(self, watch: str, relative: str, stat: os.stat_result) -> str | None:
        """The content hash recorded for a file with this exact size and mtime, if any.

        Lets a restart skip re-reading thousands of already-painted originals.
        """
        return self._known.get((watch, relative, stat.st_size, stat.st_mtime_ns))

    # -- records ---------------------------------------------------------------------------

    def claim(self, key: InputKey, preset_id: str, output: Path, data: bytes) -> None:
        self._append(
            {
                "op": "claim",
                "job": list(key.job(preset_id)),
                "output": str(output),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )

    def done(self, key: InputKey, preset_id: str, output: Path, stat: os.stat_result) -> None:
        self._append(
            {
                "op": "done",
                "job": list(key.job(preset_id)),
                "output": str(output),
                "stat": [stat.st_size, stat.st_mtime_ns],
            }
        )

    def failed(self, key: InputKey, error: str) -> None:
        self._append({"op": "failed", "input": list(key.input), "error": error})

    def moving(self, key: InputKey, target: Path) -> None:
        self._append({"op": "moving", "input": list(key.input), "to": str(target)})

    def mask(self, key: InputKey, digest: str | None, mask_file: MaskFile | None) -> None:
        """Fix the mask this photo version is painted with (None: none), and give `mask_file`
        (used, or arrived too late to be used) to it, so no other photo of that name takes it."""
        self._append({"op": "mask", "input": list(key.input), "mask": digest,
                      "file": list(mask_file) if mask_file is not None else None})

    def retire(self, key: InputKey) -> None:
        """The original has left the inbox: its records may go at the next compaction."""
        self._append({"op": "retire", "input": list(key.input)})

    def close(self) -> None:
        """Safe to call twice: a descriptor number closed twice could close someone else's file."""
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1
        self._lock_handle.close()

    # -- internals -------------------------------------------------------------------------

    def _append(self, record: dict) -> None:
        line = (json.dumps(record) + "\n").encode("ascii")  # ASCII escapes: names need not be UTF-8
        end = os.fstat(self._descriptor).st_size
        try:
            written = os.write(self._descriptor, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, "No space left on device (short write)", str(self._path))
            os.fsync(self._descriptor)
        except OSError:
            try:
                os.ftruncate(self._descriptor, end)  # never leave half a record for the next one to join
            except OSError:
                pass
            raise
        self._apply(record)

    def _apply(self, record: dict) -> None:
        op = record.get("op")
        if op == "claim":
            self._claims[_job(record["job"])] = {k: record[k] for k in ("output", "size", "sha256") if k in record}
        elif op == "done":
            job = _job(record["job"])
            self._claims.setdefault(job, {})["output"] = record["output"]
            self._done[job] = record["output"]
            size, mtime = record["stat"]
            self._known[(job[0], job[1], size, mtime)] = job[2]
        elif op == "failed":
            self._failed[_input(record["input"])] = record["error"]
        elif op == "moving":
            self._moving[_input(record["input"])] = record["to"]
        elif op == "mask":
            photo = _input(record["input"])
            if record.get("mask") is not None or photo not in self._masks:  # a late mask never replaces the choice
                self._masks[photo] = record.get("mask")
            if record.get("file") is not None:
                watch, relative, inode, size, mtime = record["file"]
                mask_file = (str(watch), str(relative), int(inode), int(size), int(mtime))
                self._mask_files.setdefault(mask_file, set()).add(photo)
        elif op == "retire":
            photo = _input(record["input"])
            for table in (self._claims, self._done):
                for job in [j for j in table if j[:3] == photo]:
                    del table[job]
            self._failed.pop(photo, None)
            self._moving.pop(photo, None)
            self._masks.pop(photo, None)
            for mask_file in list(self._mask_files):
                self._mask_files[mask_file].discard(photo)
                if not self._mask_files[mask_file]:
                    del self._mask_files[mask_file]
            watch, relative, sha = photo
            self._known = {k: v for k, v in self._known.items() if not (k[:2] == (watch, relative) and v == sha)}

    def _read(self) -> None:
        if not self._path.exists():
            return
        data = self._path.read_bytes()
        for line in data.splitlines():
            try:
                record = json.loads(line.decode("utf-8", errors="replace"))
                self._apply(record)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # the last line of a crashed write; everything before it counts
        if data and not data.endswith(b"\n"):
            # A write torn by a crash: cut it off, or the next record would be glued to it
            # (and lost) should the compaction below find no room to rewrite the file.
            try:
                os.truncate(self._path, data.rfind(b"\n") + 1)
            except OSError:
                pass

    def _compact(self) -> None:
        """Rewrite the journal with only what still matters, atomically."""
        stats = {(watch, relative, sha): [size, mtime] for (watch, relative, size, mtime), sha in self._known.items()}
        lines = []
        for job, claim in self._claims.items():
            if job in self._done:
                stat = stats.get(job[:3], [-1, -1])
                lines.append({"op": "done", "job": list(job), "output": self._done[job], "stat": stat})
            else:
                lines.append({"op": "claim", "job": list(job), **claim})
        lines += [{"op": "failed", "input": list(key), "error": error} for key, error in self._failed.items()]
        lines += [{"op": "moving", "input": list(key), "to": target} for key, target in self._moving.items()]
        lines += [{"op": "mask", "input": list(key), "mask": digest, "file": None} for key, digest in self._masks.items()]
        lines += [{"op": "mask", "input": list(owner), "mask": None, "file": list(mask_file)}
                  for mask_file, owners in self._mask_files.items() for owner in owners]
        text = "".join(json.dumps(record) + "\n" for record in lines)
        temporary = temporary_path(self.state_dir, ".jsonl")
        try:
            write_bytes_durably(temporary, text.encode("ascii"))
        except OSError:
            return  # no room to rewrite it (a full disk): the long journal is just as correct
        os.replace(temporary, self._path)
        sync_folder(self.state_dir)


def _input(value: object) -> Input:
    """An input key as written: a JSON list, or (older journals) its parts joined by newlines."""
    if isinstance(value, str):
        watch, *relative, sha = value.split("\n")
        return (watch, "\n".join(relative), sha)
    watch, relative, sha = value
    return (str(watch), str(relative), str(sha))


def _job(value: object) -> Job:
    """A job key as written: a JSON list, or (older journals, no masks) newline-joined parts."""
    if isinstance(value, str):
        head, preset = value.rsplit("\n", 1)
        return (*_input(head), "", preset)
    watch, relative, sha, mask, preset = value
    return (str(watch), str(relative), str(sha), str(mask), str(preset))
