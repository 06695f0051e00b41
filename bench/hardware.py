"""The CPU's name, with no torch import, for every saved number's "which machine" line."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_name() -> str:
    """The model name Linux reports (the same VM type comes with different CPUs, and the
    numbers differ with them), else whatever Python knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
