"""Shared fixtures: one Stylizer for the whole session (the model loads once), real images."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from stylizer import Filter, Stylizer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
STYLES = ROOT / "presets" / "styles"
PHOTO = EXAMPLES / "tubingen.jpg"
PAINTING = STYLES / "starry_night.jpg"
SECOND_PAINTING = STYLES / "great_wave.jpg"


@pytest.fixture(scope="session")
def stylizer() -> Stylizer:
    return Stylizer(device="cpu", precision="fp32")


@pytest.fixture
def tiny() -> Filter:
    """A filter small enough for a test: 64 px, 2 scales, 24 iterations."""
    return Filter(styles=(PAINTING,), size=64, scales=2, iterations=24)


def painting_threads() -> list[threading.Thread]:
    """The ZeroGPU adapter's painting threads still alive (webapp.zerogpu.stylize_stream names them)."""
    return [t for t in threading.enumerate() if t.name == "stylize" and t.is_alive()]
