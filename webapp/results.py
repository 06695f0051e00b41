"""Saved results: one folder per result under one folder per process, deleted after
RESULT_MAX_AGE_S so a Space that runs for months does not fill its disk."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path

from stylizer import Result, images
from webapp.settings import RESULT_MAX_AGE_S

RESULTS_DIR = Path(tempfile.mkdtemp(prefix="stylizer-results-"))
atexit.register(shutil.rmtree, RESULTS_DIR, ignore_errors=True)


def save_result(result: Result, photo_path: str | None) -> str:
    """Full-quality PNG with the parameters in its metadata, in a fresh temp folder."""
    return save_image(result.image, result.metadata(), photo_path)


def save_image(image, metadata: dict, photo_path: str | None) -> str:
    """One folder per result (its name is the user's photo's), under one folder per process."""
    forget_old_results()
    stem = Path(photo_path).stem if photo_path else "photo"
    folder = Path(tempfile.mkdtemp(dir=RESULTS_DIR))
    return str(images.save(image, folder / f"{stem}-painted.png", metadata=metadata))


def forget_old_results(max_age_s: float = RESULT_MAX_AGE_S) -> None:
    """Delete results and mask canvases older than `max_age_s`: a result is a folder, a
    canvas a file (rmtree skipped those silently, so canvases were never deleted)."""
    oldest = time.time() - max_age_s
    for entry in RESULTS_DIR.iterdir():
        try:
            if entry.stat().st_mtime < oldest:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink()
        except OSError:
            pass  # removed by a concurrent request
