"""The daemon's memory across restarts: which (photo, preset) jobs are done, and under which name.

An append-only JSON-lines file, flushed and fsynced after every record. The order of
writes in the worker is what makes "exactly once" hold through a `kill -9`:

1. the painting is written to a hidden temporary and synced;
2. a `claim` record fixes its final name;
3. the temporary is linked to that name;
4. a `done` record closes the job.

A crash before 2 leaves only a temporary (deleted at start) and the job is redone. A crash
between 2 and 4 is resolved at the next start by looking at the claimed name: if it exists
it is our finished output, otherwise the job is redone into that same name. No step can
produce a second output for the same job.

An exclusive lock on the state folder keeps two daemons from sharing one output folder.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from stylizer.errors import StylizerError

from .files import sync_folder, temporary_path

JOURNAL_NAME = "journal.jsonl"
LOCK_NAME = "lock"


class JournalBusy(StylizerError):
    """Another daemon already owns this output folder."""


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
        self._claims: dict[str, str] = {}
        self._done: dict[str, str] = {}
        self._failed: dict[str, str] = {}
        self._known: dict[tuple[str, str, int, int], str] = {}
        self._path = state_dir / JOURNAL_NAME
        self._read()
        self._compact()
        self._handle = open(self._path, "a", encoding="utf-8")

    # -- questions ------------------------------------------------------------------------

    def is_done(self, key: InputKey, preset_id: str) -> bool:
        return key.job(preset_id) in self._done

    def claimed_output(self, key: InputKey, preset_id: str) -> Path | None:
        output = self._claims.get(key.job(preset_id))
        return Path(output) if output else None

    def claimed_names(self) -> set[Path]:
        """Names promised to unfinished jobs: a new job must not take one of them."""
        return {Path(p) for job, p in self._claims.items() if job not in self._done}

    def has_failed(self, key: InputKey) -> bool:
        return key.text in self._failed

    def known_sha(self, watch: str, relative: str, stat: os.stat_result) -> str | None:
        """The content hash recorded for a file with this exact size and mtime, if any.

        Lets a restart skip re-reading thousands of already-painted originals.
        """
        return self._known.get((watch, relative, stat.st_size, stat.st_mtime_ns))

    # -- records ---------------------------------------------------------------------------

    def claim(self, key: InputKey, preset_id: str, output: Path) -> None:
        self._append({"op": "claim", "job": key.job(preset_id), "output": str(output)})

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

    def retire(self, key: InputKey) -> None:
        """The original has left the inbox: its records may go at the next compaction."""
        self._append({"op": "retire", "input": key.text})

    def close(self) -> None:
        self._handle.close()
        self._lock_handle.close()

    # -- internals -------------------------------------------------------------------------

    def _append(self, record: dict) -> None:
        self._apply(record)
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def _apply(self, record: dict) -> None:
        op = record.get("op")
        if op == "claim":
            self._claims[record["job"]] = record["output"]
        elif op == "done":
            self._claims[record["job"]] = record["output"]
            self._done[record["job"]] = record["output"]
            watch, relative, sha, _preset = record["job"].split("\n")
            size, mtime = record["stat"]
            self._known[(watch, relative, size, mtime)] = sha
        elif op == "failed":
            self._failed[record["input"]] = record["error"]
        elif op == "retire":
            prefix = record["input"] + "\n"
            for table in (self._claims, self._done):
                for job in [j for j in table if j.startswith(prefix)]:
                    del table[job]
            self._failed.pop(record["input"], None)
            watch, relative, sha = record["input"].split("\n")
            self._known = {k: v for k, v in self._known.items() if not (k[:2] == (watch, relative) and v == sha)}

    def _read(self) -> None:
        if not self._path.exists():
            return
        with open(self._path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                    self._apply(record)
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue  # the last line of a crashed write; everything before it counts

    def _compact(self) -> None:
        """Rewrite the journal with only what still matters, atomically."""
        stats = {}
        for (watch, relative, size, mtime), sha in self._known.items():
            stats[f"{watch}\n{relative}\n{sha}"] = [size, mtime]
        lines = []
        for job, output in self._claims.items():
            if job in self._done:
                input_text = job.rsplit("\n", 1)[0]
                stat = stats.get(input_text, [-1, -1])
                lines.append({"op": "done", "job": job, "output": output, "stat": stat})
            else:
                lines.append({"op": "claim", "job": job, "output": output})
        lines += [{"op": "failed", "input": key, "error": error} for key, error in self._failed.items()]
        temporary = temporary_path(self.state_dir, ".jsonl")
        with open(temporary, "w", encoding="utf-8") as handle:
            for record in lines:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self._path)
        sync_folder(self.state_dir)
