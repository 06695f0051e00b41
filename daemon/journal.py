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


@dataclass(frozen=True)
class InputKey:
    """A photo as the journal knows it: where it was dropped and what its bytes were."""

    watch: str
    relative: str
    sha256: str

    def job(self, preset_id: str) -> str:
        return f"{self.watch}\n{self.relative}\n{self.sha256}\n{preset_id}"

    @property
    def text(self) -> str:
        return f"{self.watch}\n{self.relative}\n{self.sha256}"


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
        self._claims: dict[str, dict] = {}
        self._moving: dict[str, str] = {}
        self._done: dict[str, str] = {}
        self._failed: dict[str, str] = {}
        self._known: dict[tuple[str, str, int, int], str] = {}
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
        target = self._moving.get(key.text)
        return Path(target) if target else None

    def has_failed(self, key: InputKey) -> bool:
        return key.text in self._failed

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
                "job": key.job(preset_id),
                "output": str(output),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )

    def done(self, key: InputKey, preset_id: str, output: Path, stat: os.stat_result) -> None:
        self._append(
            {
                "op": "done",
                "job": key.job(preset_id),
                "output": str(output),
                "stat": [stat.st_size, stat.st_mtime_ns],
            }
        )

    def failed(self, key: InputKey, error: str) -> None:
        self._append({"op": "failed", "input": key.text, "error": error})

    def moving(self, key: InputKey, target: Path) -> None:
        self._append({"op": "moving", "input": key.text, "to": str(target)})

    def retire(self, key: InputKey) -> None:
        """The original has left the inbox: its records may go at the next compaction."""
        self._append({"op": "retire", "input": key.text})

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
            self._claims[record["job"]] = {k: record[k] for k in ("output", "size", "sha256") if k in record}
        elif op == "done":
            self._claims.setdefault(record["job"], {})["output"] = record["output"]
            self._done[record["job"]] = record["output"]
            watch, relative, sha, _preset = record["job"].split("\n")
            size, mtime = record["stat"]
            self._known[(watch, relative, size, mtime)] = sha
        elif op == "failed":
            self._failed[record["input"]] = record["error"]
        elif op == "moving":
            self._moving[record["input"]] = record["to"]
        elif op == "retire":
            prefix = record["input"] + "\n"
            for table in (self._claims, self._done):
                for job in [j for j in table if j.startswith(prefix)]:
                    del table[job]
            self._failed.pop(record["input"], None)
            self._moving.pop(record["input"], None)
            watch, relative, sha = record["input"].split("\n")
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
        stats = {}
        for (watch, relative, size, mtime), sha in self._known.items():
            stats[f"{watch}\n{relative}\n{sha}"] = [size, mtime]
        lines = []
        for job, claim in self._claims.items():
            if job in self._done:
                input_text = job.rsplit("\n", 1)[0]
                stat = stats.get(input_text, [-1, -1])
                lines.append({"op": "done", "job": job, "output": self._done[job], "stat": stat})
            else:
                lines.append({"op": "claim", "job": job, **claim})
        lines += [{"op": "failed", "input": key, "error": error} for key, error in self._failed.items()]
        lines += [{"op": "moving", "input": key, "to": target} for key, target in self._moving.items()]
        text = "".join(json.dumps(record) + "\n" for record in lines)
        temporary = temporary_path(self.state_dir, ".jsonl")
        try:
            write_bytes_durably(temporary, text.encode("utf-8"))
        except OSError:
            return  # no room to rewrite it (a full disk): the long journal is just as correct
        os.replace(temporary, self._path)
        sync_folder(self.state_dir)
