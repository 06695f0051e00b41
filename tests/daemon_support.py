"""Helpers for the daemon tests: tiny presets, a service running in-process, waiting."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import PAINTING, SECOND_PAINTING
from daemon.config import zero_config
from daemon.files import TEMP_PREFIX
from daemon.service import WatchService
from stylizer import Stylizer
from stylizer.pool import LocalPainter

SETTLE = 0.3


def make_presets(folder: Path, iterations: int = 4) -> Path:
    """Two presets small enough to paint in a fraction of a second."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(PAINTING, folder / "starry.jpg")
    shutil.copy(SECOND_PAINTING, folder / "wave.jpg")
    settings = f"size: 48\nscales: 1\niterations: {iterations}\n"
    (folder / "tiny.yaml").write_text(f"name: Tiny\nstyle: starry.jpg\n{settings}")
    (folder / "tiny-wave.yaml").write_text(f"name: Tiny wave\nstyle: wave.jpg\n{settings}")
    return folder


@contextmanager
def running(source: Callable, stylizer: Stylizer) -> Iterator[WatchService]:
    service = WatchService(source, LocalPainter(stylizer))
    service.start()
    try:
        yield service
    finally:
        service.stop()


def zero(tmp_path: Path, stylizer: Stylizer, iterations: int = 4, **settings: object):
    """A zero-config daemon on tmp_path/in -> tmp_path/out with the tiny presets."""
    presets = make_presets(tmp_path / "presets", iterations)
    settings.setdefault("settle_seconds", SETTLE)
    return running(lambda: zero_config(tmp_path / "in", tmp_path / "out", (presets,), **settings), stylizer)


def wait_for(condition: Callable[[], object], timeout: float = 30.0, message: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


def settle(service: WatchService, timeout: float = 60.0) -> None:
    """Wait past the settle time for events to arrive, then until the daemon is idle."""
    time.sleep(SETTLE * 2)
    assert service.wait_idle(timeout), "daemon did not become idle"


def outputs(folder: Path) -> list[str]:
    """Every visible file under `folder`, as sorted relative paths (state folder excluded)."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and ".stylizer-daemon" not in p.parts
    )


def temporaries(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob(f"{TEMP_PREFIX}*")]
