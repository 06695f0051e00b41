"""Watch-folder daemon: images per minute on a batch, and CPU used while idle.

Runs the real daemon (`python -m daemon INBOX --out OUTBOX`) as a separate process, so
start-up, file events, settling, painting and atomic writes are all in the numbers.
Idle CPU is read from /proc before any file arrives: a daemon that waits on inotify and
condition variables should use about 0%; a busy-polling one would show here.

    python bench/daemon_throughput.py                    # 4 photos, starry-night, its defaults
    python bench/daemon_throughput.py --count 8 --size 256
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = sorted((ROOT / "examples").glob("*.jpg"))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status(out: Path) -> dict:
    try:
        return json.loads((out / ".stylizer-daemon" / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=4, help="photos in the batch")
    parser.add_argument("--preset", default="starry-night")
    parser.add_argument("--size", type=int, help="output long side (default: the preset's)")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="daemon-bench-"))
    inbox, out = work / "in", work / "out"
    command = [sys.executable, "-m", "daemon", str(inbox), "--out", str(out), "--settle", "1"]
    if args.size:
        command += ["--size", str(args.size)]
    log = open(work / "daemon.log", "wb")
    started = time.monotonic()
    daemon = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait(lambda: status(out).get("state") == "watching", 300, "the daemon to start")
        startup = time.monotonic() - started
        time.sleep(2)  # let start-up work (imports, model load) finish before measuring idle
        before, clock = cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle = (cpu_seconds(daemon.pid) - before) / (time.monotonic() - clock)

        folder = inbox / args.preset
        if not folder.is_dir():
            sys.exit(f"no preset folder {folder.name}/ was created; is '{args.preset}' a preset?")
        batch_started = time.monotonic()
        for i in range(args.count):
            photo = PHOTOS[i % len(PHOTOS)]
            shutil.copy(photo, folder / f"{i:03d}-{photo.name}")
        wait(lambda: status(out).get("done", 0) + status(out).get("failed", 0) >= args.count, 3600, "the batch")
        batch = time.monotonic() - batch_started
        done, failed = status(out)["done"], status(out)["failed"]
    finally:
        daemon.terminate()
        daemon.wait(60)
        log.close()

    print(f"daemon: preset {args.preset}, size {args.size or 'preset default'}, {args.count} photos, CPU threads {os.cpu_count()}")
    print(f"{'start-up to watching':<28}{startup:8.1f} s")
    print(f"{'idle CPU use':<28}{idle * 100:8.2f} % of one core (over {args.idle_seconds:.0f} s)")
    print(f"{'batch wall time':<28}{batch:8.1f} s  ({done} done, {failed} failed)")
    print(f"{'per image':<28}{batch / max(done, 1):8.1f} s")
    print(f"{'throughput':<28}{done / batch * 60:8.2f} images/minute")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
