"""Named qualities: how much optimization a painting gets, from none to three times the default.

- instant: the feed-forward network's painting alone (instant.py), well under a second;
- quick: that painting refined by a few full-size iterations of the paper's optimization;
- normal: the filter as it is (the measured default schedule);
- high: three times the iterations.

Quick differs from the paper, which starts from the photo or from noise: starting from a
painting that already has the style's texture, the optimization spends its few iterations
on the paper's objective instead of on getting there (15 iterations at 512 px from the
instant painting reached a 27-62% lower loss than 15 from the photo).
"""

from __future__ import annotations

from .errors import FilterError
from .filter import Filter

QUALITIES = ("instant", "quick", "normal", "high")
QUICK_ITERATIONS = 15
HIGH_FACTOR = 3


# Filter fields an instant painting never uses: the optimization's schedule and loss. Its
# metadata leaves them out (engine.Result.metadata) instead of recording a run that never
# happened; the layers and pooling stay, since its reported distances are measured with them.
INSTANT_UNUSED = (
    "iterations", "scales", "init", "optimizer", "learning_rate", "tile", "seed", "losses",
    "tv_weight", "layer_weights", "auto_strength",
)


def instant_description(filter: Filter) -> dict[str, object]:
    """`Filter.describe()` without the fields an instant painting does not use."""
    return {name: value for name, value in filter.describe().items() if name not in INSTANT_UNUSED}


def for_quality(filter: Filter, quality: str) -> Filter:
    """The filter a quality runs; instant runs no optimization, so its filter is unchanged."""
    if quality not in QUALITIES:
        raise FilterError(f"quality: expected one of {', '.join(QUALITIES)}, got {quality!r}")
    if quality == "quick":
        return filter.replace(init="instant", scales=1, iterations=QUICK_ITERATIONS)
    if quality == "high":
        return filter.replace(iterations=filter.iterations * HIGH_FACTOR)
    return filter
