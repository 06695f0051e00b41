"""What a painting hands back: the picture, how the run went, and the settings it ran with."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import images
from .filter import Filter
from .quality import instant_description


@dataclass
class Stats:
    """How a run went: enough to reproduce it and to compare runs."""

    seconds: float
    iterations: int
    evaluations: int
    losses: dict[str, float]
    style_distance: float
    content_distance: float
    device: str
    precision: str
    scales: list[tuple[int, int, int]] = field(default_factory=list)  # (width, height, iterations)
    recoveries: int = 0
    strength: float | None = None  # after auto measured (most of the painting): what strength: auto chose
    auto_level: float | None = None  # the level strength: auto measured (strength.py)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "seconds": round(self.seconds, 3),
            "iterations": self.iterations,
            "evaluations": self.evaluations,
            "losses": {k: float(f"{v:.6g}") for k, v in self.losses.items()},
            "style_distance": round(self.style_distance, 5),
            "content_distance": round(self.content_distance, 5),
            "device": self.device,
            "precision": self.precision,
            "scales": [list(s) for s in self.scales],
            "recoveries": self.recoveries,
        }
        if self.strength is not None:
            out["strength"] = round(self.strength, 3)
        if self.auto_level is not None:
            out["auto_level"] = round(self.auto_level, 5)
        return out


@dataclass
class Result:
    image: images.Image.Image
    stats: Stats
    filter: Filter
    quality: str | None = None  # set by `Stylizer.paint`; None for `stylize`, which has no named quality

    def metadata(self) -> dict[str, object]:
        """What goes into the output file so a result can be traced back to its settings.

        Only what really ran: an instant painting runs no optimization, so the filter's
        schedule (iterations, scales, optimizer ...) is left out rather than recorded as if
        it had run.
        """
        if self.quality == "instant":
            return {"quality": "instant", "filter": instant_description(self.filter), "stats": self.stats.as_dict()}
        out: dict[str, object] = {"filter": self.filter.describe(), "stats": self.stats.as_dict()}
        if self.quality is not None:
            out["quality"] = self.quality
        return out


__all__ = ["Result", "Stats"]
