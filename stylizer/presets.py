"""Presets: filters written as small YAML files, validated into `Filter` objects.

A preset is how a person names a look ("starry-night") without knowing the algorithm's
knobs. The YAML is read by people who are not programmers, so every check here ends in a
one-line message naming the file, the field and what to write instead; and loading a
folder never lets one broken file hide the working ones.

The app, the daemon and the CLI all read presets through `load_presets`, so a user
folder added with `--presets DIR` or the `STYLIZER_PRESETS` environment variable shows
up everywhere at once.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from PIL import Image

from . import yamlfields as fields
from .errors import FilterError, StylizerError
from .filter import Filter, StyleImage
from .strength import strength_fields

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "presets"
PRESETS_ENV = "STYLIZER_PRESETS"
PRESET_SUFFIXES = (".yaml", ".yml")
STYLE_KEYS = ("image", "weight", "scale")


class PresetError(StylizerError):
    """A preset file that cannot be used; the message starts with the file's path."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Preset:
    """A named, credited filter, plus the file it came from (for error messages and edits)."""

    id: str
    name: str
    description: str
    credit: str
    filter: Filter
    path: Path

    @property
    def thumbnail(self) -> Path:
        """The first style image: the picture a gallery shows for this preset."""
        return Path(self.filter.styles[0].source)


@dataclass(frozen=True)
class PresetLoadError:
    """A file or folder skipped while loading; kept so front ends can show it, not crash."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class PresetRegistry:
    """Every preset that loaded (by id, ordered by name for menus) and every one that did not."""

    presets: dict[str, Preset]
    errors: list[PresetLoadError]

    def get(self, preset_id: str) -> Preset:
        """The preset with this id; a typo or a broken file gets a message that says which."""
        if preset_id in self.presets:
            return self.presets[preset_id]
        file_errors = [e for e in self.errors if e.path.suffix.lower() in PRESET_SUFFIXES]
        for error in file_errors:
            if error.path.stem == preset_id:
                raise PresetError(error.path, f"preset '{preset_id}' could not be loaded: {error.message}")
        close = difflib.get_close_matches(preset_id, self.presets, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        available = ", ".join(self.presets) or "none found"
        # A mistyped --presets folder is the usual reason a user's preset is "unknown".
        folders = "".join(f"; {e}" for e in self.errors if e not in file_errors)
        raise StylizerError(f"unknown preset '{preset_id}'{hint} (available: {available}){folders}")


def load_presets(extra_dirs: Iterable[str | Path] = (), include_env: bool = True) -> PresetRegistry:
    """Built-in presets, then `STYLIZER_PRESETS` folders, then `extra_dirs`; later ids win.

    Nothing here raises for a bad file or folder: it is skipped and listed in `errors`,
    so one typo in a user's folder never takes the built-in presets down with it.
    """
    folders = preset_folders(extra_dirs, include_env)
    found: dict[str, Preset] = {}
    errors: list[PresetLoadError] = []
    for folder in folders:
        folder = folder.expanduser()
        if not folder.is_dir():
            problem = "not a folder" if folder.exists() else "presets folder not found"
            errors.append(PresetLoadError(folder, problem))
            continue
        seen: dict[str, Path] = {}
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in PRESET_SUFFIXES or path.name.startswith("."):
                continue
            if path.stem in seen:
                errors.append(PresetLoadError(path, f"same id '{path.stem}' as {seen[path.stem].name}; skipped"))
                continue
            seen[path.stem] = path
            try:
                found[path.stem] = load_preset(path)
            except PresetError as exc:
                errors.append(PresetLoadError(exc.path, exc.message))
    ordered = sorted(found.values(), key=lambda p: (p.name.casefold(), p.id))
    return PresetRegistry({p.id: p for p in ordered}, errors)


def preset_folders(extra_dirs: Iterable[str | Path] = (), include_env: bool = True) -> list[Path]:
    """Where presets are looked for, in load order (later folders override earlier ids)."""
    folders = [BUILTIN_DIR]
    if include_env:
        folders += [Path(p) for p in os.environ.get(PRESETS_ENV, "").split(os.pathsep) if p]
    return folders + [Path(p) for p in extra_dirs]


def load_preset(path: Path) -> Preset:
    """Read and validate one YAML preset; any problem raises `PresetError` naming file and field."""
    path = Path(path)
    try:
        return _preset_from(path, fields.read_yaml(path))
    except FilterError as exc:
        raise PresetError(path, str(exc)) from None


# -- validation: every helper raises FilterError("field: problem"), load_preset adds the file


def _preset_from(path: Path, data: object) -> Preset:
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"{type(data).__name__} {data!r:.40}"
        raise FilterError(f"the top level must be a mapping of 'field: value' lines (with at least 'style'), got {got}")
    for key in data:
        if key not in FIELDS:
            raise FilterError(fields.unknown("field", key, FIELDS))
    if "style" not in data:
        raise FilterError("style: missing; give the painting's image path, relative to this file")
    if "strength" in data and "ratio" in data:
        raise FilterError("strength: give either strength or ratio, not both")
    if "style_layers" in data and "layer_weights" not in data:
        given, default = len(fields.as_list("style_layers", data["style_layers"])), len(Filter.layer_weights)
        if given != default:
            raise FilterError(f"style_layers: {given} layers given; add layer_weights with one weight per layer")

    values = {key: convert(key, data[key]) for key, convert in _CONVERTERS.items() if key in data}
    if "strength" in data:
        values.update(strength_fields(data["strength"]))
    styles = _styles(path.parent, data["style"])
    preset_id = path.stem
    return Preset(
        id=preset_id,
        name=fields.text("name", data.get("name", preset_id.replace("-", " ").title())),
        description=fields.text("description", data.get("description", "")),
        credit=fields.text("credit", data.get("credit", "")),
        filter=Filter(styles=styles, **values),
        path=path,
    )


def _styles(folder: Path, value: object) -> tuple[StyleImage, ...]:
    if isinstance(value, str):
        return (StyleImage(_style_path(folder, "style", value)),)
    entries = fields.as_list("style", value)
    if not entries:
        raise FilterError("style: the list is empty; give at least one image")
    styles = []
    for i, entry in enumerate(entries, 1):
        where = f"style entry {i}"
        if isinstance(entry, str):
            styles.append(StyleImage(_style_path(folder, where, entry)))
            continue
        if not isinstance(entry, dict):
            raise FilterError(f"{where}: expected an image path or 'image:/weight:/scale:', got {entry!r}")
        for key in entry:
            if key not in STYLE_KEYS:
                raise FilterError(f"{where}: " + fields.unknown("key", key, STYLE_KEYS))
        if "image" not in entry:
            raise FilterError(f"{where}: missing 'image' (the painting's path)")
        image = _style_path(folder, f"{where}: image", fields.text(f"{where}: image", entry["image"]))
        extras = {k: fields.number(f"{where}: {k}", entry[k]) for k in ("weight", "scale") if k in entry}
        styles.append(StyleImage(image, **extras))
    return tuple(styles)


def _style_path(folder: Path, where: str, relative: str) -> Path:
    """Resolve a style path, refusing anything outside the preset's folder.

    Presets are shared as folders; a path that leaves its folder (absolute, `..`, or a
    symlink out) would make a preset read files its author never shipped.
    """
    if Path(relative).is_absolute():
        raise FilterError(f"{where}: '{relative}' is an absolute path; give a path relative to {folder}")
    root = folder.resolve()
    try:
        resolved = (root / relative).resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise FilterError(f"{where}: cannot resolve '{relative}' ({exc})") from None
    if not resolved.is_relative_to(root):
        lexical = Path(os.path.normpath(root / relative))
        how = "is a symlink that points" if lexical.is_relative_to(root) else "points"
        raise FilterError(f"{where}: '{relative}' {how} outside the preset's folder {root}; keep images inside it")
    try:
        with Image.open(resolved) as image:
            image.verify()
    except FileNotFoundError:
        raise FilterError(f"{where}: image not found: {resolved}") from None
    except IsADirectoryError:
        raise FilterError(f"{where}: {resolved} is a folder, not an image") from None
    except PermissionError:
        raise FilterError(f"{where}: cannot read image (permission denied): {resolved}") from None
    except Exception as exc:  # Pillow signals a bad file with many exception types
        raise FilterError(f"{where}: not a readable image: {resolved} ({exc})") from None
    return resolved


def _color_mode(field: str, value: object) -> str:
    # `preserve_color: no` or an empty value is YAML false/null; both mean "none".
    return "none" if value is None or value is False else fields.text(field, value)


_CONVERTERS: dict[str, Callable[[str, object], object]] = {
    "ratio": fields.number,
    "layer_weights": fields.numbers,
    "style_layers": fields.words,
    "content_layer": fields.text,
    "tv_weight": fields.number,
    "size": fields.integer,
    "iterations": fields.integer,
    "scales": fields.integer,
    "init": fields.text,
    "optimizer": fields.text,
    "learning_rate": fields.number,
    "preserve_color": _color_mode,
    "pooling": fields.text,
    "seed": fields.integer,
    "losses": fields.text,
    "tile": fields.integer,
}
FIELDS = ("name", "description", "credit", "style", "strength", *_CONVERTERS)
