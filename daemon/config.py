"""The daemon's configuration: which folders to watch, which presets apply to which files.

There are two ways in. `zero_config` is the no-file form (`python -m daemon INBOX --out
OUTBOX`): every preset gets a sub-folder of the inbox. `read_config` reads daemon.yaml,
whose rules add sub-folders or globs with their own presets, format and size. Both give
the same `DaemonConfig`, checked against the presets that are actually loaded, so a rule
naming a missing preset is refused at start (and on reload) rather than at 3 a.m.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from stylizer import yamlfields as fields
from stylizer.devices import DEVICES, PRECISIONS
from stylizer.errors import FilterError, StylizerError
from stylizer.images import SAVE_FORMATS
from stylizer.cluster import RaySettings
from stylizer.presets import PresetRegistry
from stylizer.quality import QUALITIES
from stylizer.strength import AUTO, strength_fields

ORIGINALS = ("keep", "move")
FORMATS = ("same", "jpg", "png", "webp")
# Inside each watch folder: where originals go when done or unusable. Never scanned.
PROCESSED_DIR = "processed"
FAILED_DIR = "failed"
RESERVED_DIRS = (PROCESSED_DIR, FAILED_DIR)
DEFAULT_QUALITY = 92
DEFAULT_SETTLE_SECONDS = 2.0

TOP_FIELDS = (
    "watch", "output", "presets", "originals", "preset_folders", "rules",
    "format", "quality", "jpeg_quality", "size", "device", "precision", "settle_seconds", "ray",
    "mask_style", "tile", "max_memory", "strength", "follow_links",
)
RAY_FIELDS = ("address", "workers", "cpus_per_worker")
RULE_FIELDS = (
    "folder", "glob", "presets", "format", "quality", "jpeg_quality", "size", "tile", "mask_style", "strength",
)


class ConfigError(StylizerError):
    """A daemon configuration that cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class Rule:
    """Files under `folder` (or matching `glob`) are painted with each of `presets`.

    Outputs keep the file's path below the rule's folder, so `INBOX/starry-night/trip/a.jpg`
    becomes `OUTBOX/starry-night/trip/a.jpg`.
    """

    presets: tuple[str, ...]
    folder: str | None = None
    glob: str | None = None
    format: str = "same"
    jpeg_quality: int = DEFAULT_QUALITY
    size: int | None = None
    quality: str = "normal"  # how much painting: instant, quick, normal or high (stylizer.quality)
    mask_style: str | None = None  # preset for the black part of a photo's mask (None: keep the photo)
    tile: int | None = None  # px per tile for print sizes (stylizer.tiling); None: the preset's own
    strength: float | str | None = None  # 0..10 or "auto" (stylizer.strength); None: the preset's own

    def relative_output(self, relative: PurePosixPath) -> PurePosixPath | None:
        """Where a file at `relative` (to its watch folder) lands below a preset's output
        folder, or None when this rule does not apply to it."""
        if self.folder is not None:
            folder = PurePosixPath(self.folder)
            if relative.parent == folder or folder in relative.parents:
                return relative.relative_to(folder)
            return None
        return relative if fnmatch.fnmatchcase(relative.as_posix(), self.glob or "") else None

    def output_suffix(self, source_suffix: str) -> str:
        if self.format != "same":
            return f".{self.format}"
        # Keep the photo's own format when it is one we write; GIFs, TIFFs etc. become PNG.
        return source_suffix.lower() if source_suffix.lower() in SAVE_FORMATS else ".png"

    def describe(self) -> str:
        return f"folder {self.folder}/" if self.folder is not None else f"glob {self.glob}"


@dataclass(frozen=True)
class DaemonConfig:
    watch: tuple[Path, ...]
    output: Path
    rules: tuple[Rule, ...]
    presets: tuple[Path, ...] = ()
    originals: str = "keep"
    device: str = "auto"
    precision: str = "auto"
    settle_seconds: float = DEFAULT_SETTLE_SECONDS
    source: Path | None = None  # the YAML file, when there is one
    preset_folders: bool = True
    defaults: Rule = field(default_factory=lambda: Rule(presets=()))
    ray: RaySettings | None = None  # paint on a Ray cluster's workers; None: in this process
    max_memory_gb: float | None = None  # a painting's memory before it is tiled; None: the machine's default
    follow_links: bool = False  # paint files reached through links that leave the watch folder

    def match(self, relative: PurePosixPath) -> tuple[Rule, PurePosixPath] | None:
        """The first rule that applies to a file (explicit rules before preset folders)."""
        for rule in self.rules:
            output = rule.relative_output(relative)
            if output is not None:
                return rule, output
        return None

    @property
    def state_dir(self) -> Path:
        return state_dir_for(self.output)


def state_dir_for(output: Path) -> Path:
    """Journal, lock and status live next to the outputs they describe (hidden from users)."""
    return output / ".stylizer-daemon"


def zero_config(inbox: Path, output: Path, preset_dirs: tuple[Path, ...] = (), **settings: object) -> DaemonConfig:
    """The no-file form: `INBOX/<preset-id>/` -> that preset, for every preset found."""
    inbox, output = Path(inbox).resolve(), Path(output).resolve()
    if output == inbox or inbox in output.parents or output in inbox.parents:
        raise ConfigError(f"the output folder {output} overlaps the watch folder {inbox}; keep them apart")
    return DaemonConfig(
        watch=(inbox,), output=output, rules=(), presets=tuple(Path(p).resolve() for p in preset_dirs), **settings
    )


def read_config(path: Path) -> DaemonConfig:
    """Read and check daemon.yaml; raise `ConfigError` naming the file, field and problem."""
    path = Path(path)
    try:
        return _config_from(path, fields.mapping("the file", fields.read_yaml(path), TOP_FIELDS))
    except FilterError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def output_of_broken_config(path: Path) -> Path | None:
    """The output folder a daemon.yaml names even when the rest of it is wrong, if it names one.

    A YAML syntax error anywhere makes the whole file unreadable, so then the top-level
    `output:` line is read on its own.
    """
    path = Path(path)
    try:
        data = fields.read_yaml(path)
        output = data.get("output") if isinstance(data, dict) else None
    except FilterError:
        try:
            found = re.search(r"^output:[ \t]*(['\"]?)([^'\"#\n]+?)\1[ \t]*(#.*)?$", path.read_text(), re.MULTILINE)
        except (OSError, UnicodeDecodeError):
            return None
        output = found.group(2) if found else None
    return _folder(path.parent, "output", output) if isinstance(output, str) and output.strip() else None


def resolve(config: DaemonConfig, registry: PresetRegistry) -> DaemonConfig:
    """Check every rule against the loaded presets and add the preset-folder rules."""
    for rule_number, rule in enumerate(config.rules, 1):
        for preset_id in rule.presets + ((rule.mask_style,) if rule.mask_style else ()):
            try:
                registry.get(preset_id)
            except StylizerError as exc:
                where = f"{config.source}: " if config.source else ""
                raise ConfigError(f"{where}rules[{rule_number}] ({rule.describe()}): {exc}") from None
    if config.defaults.mask_style:
        try:
            registry.get(config.defaults.mask_style)
        except StylizerError as exc:
            raise ConfigError(f"{config.source or 'daemon'}: mask_style: {exc}") from None
    folder_rules = ()
    if config.preset_folders:
        base = config.defaults
        folder_rules = tuple(
            dataclasses.replace(base, presets=(preset_id,), folder=preset_id, glob=None)
            for preset_id in registry.presets
            if preset_id not in RESERVED_DIRS
        )
    if not config.rules and not folder_rules:
        raise ConfigError(f"{config.source or 'daemon'}: no rules and no presets to make folders for")
    return dataclasses.replace(config, rules=config.rules + folder_rules)


def _config_from(path: Path, data: dict) -> DaemonConfig:
    base = path.parent
    if "watch" not in data:
        raise FilterError("watch: missing; give the folder (or a list of folders) to watch")
    if "output" not in data:
        raise FilterError("output: missing; give the folder the paintings are written to")
    watch_value = data["watch"]
    watch_list = [watch_value] if isinstance(watch_value, str) else fields.words("watch", watch_value)
    if not watch_list:
        raise FilterError("watch: the list is empty")
    watch = tuple(_folder(base, "watch", w) for w in watch_list)
    output = _folder(base, "output", fields.text("output", data["output"]))
    for folder in watch:
        if output == folder or folder in output.parents or output in folder.parents:
            raise FilterError(f"output: {output} overlaps the watch folder {folder}; keep them apart")
    preset_value = data.get("presets", [])
    preset_list = [preset_value] if isinstance(preset_value, str) else fields.words("presets", preset_value)
    defaults = _rule_settings("", data, presets=())
    rules_value = fields.as_list("rules", data.get("rules", []))
    rules = tuple(_rule(i, entry) for i, entry in enumerate(rules_value, 1))
    settle = _settle(data.get("settle_seconds", DEFAULT_SETTLE_SECONDS))
    return DaemonConfig(
        watch=watch,
        output=output,
        rules=tuple(_with_defaults(rule, defaults, rules_value[i]) for i, rule in enumerate(rules)),
        presets=tuple(_folder(base, "presets", p) for p in preset_list),
        originals=fields.choice("originals", data.get("originals", "keep"), ORIGINALS),
        device=fields.choice("device", data.get("device", "auto"), DEVICES),
        precision=fields.choice("precision", data.get("precision", "auto"), PRECISIONS),
        settle_seconds=settle,
        source=path,
        preset_folders=fields.boolean("preset_folders", data.get("preset_folders", True)),
        defaults=defaults,
        ray=ray_settings(data["ray"]) if data.get("ray") is not None else None,
        max_memory_gb=_max_memory(data.get("max_memory")),
        follow_links=fields.boolean("follow_links", data.get("follow_links", False)),
    )


def _settle(value: object) -> float:
    settle = fields.number("settle_seconds", value)
    if not 0 <= settle <= 600:  # also refuses nan, with which no file would ever settle
        raise FilterError(f"settle_seconds: expected 0 to 600 seconds, got {value}")
    return settle


# The command line's flag for each daemon.yaml field it shares, to name it in messages.
FLAGS = {"format": "--format", "quality": "--quality", "jpeg_quality": "--jpeg-quality", "size": "--size",
         "settle_seconds": "--settle"}


def flag_settings(**values: object) -> tuple[Rule, float]:
    """The command line's output settings and settle time (given by their daemon.yaml field
    names), checked by the very code that checks daemon.yaml: a value refused in the file is
    refused as a flag, at start, in the same words but naming the flag. None: the default."""
    data = {name: value for name, value in values.items() if value is not None}
    try:
        return _rule_settings("", data, presets=()), _settle(data.get("settle_seconds", DEFAULT_SETTLE_SECONDS))
    except FilterError as exc:
        field_name, _, problem = str(exc).partition(": ")
        raise ConfigError(f"{FLAGS.get(field_name, field_name)}: {problem}") from None


def _max_memory(value: object) -> float | None:
    if value is None:
        return None
    gb = fields.number("max_memory", value)
    if not 0.5 <= gb <= 100_000:
        raise FilterError(f"max_memory: expected gigabytes (0.5 or more), got {value!r}")
    return gb


def ray_settings(data: object) -> RaySettings:
    """`ray: {address: auto | HOST:6379 | ray://HOST:10001, workers: N, cpus_per_worker: N}`."""
    if isinstance(data, str):
        data = {"address": data}
    try:
        data = fields.mapping("the map", data, RAY_FIELDS)
        if "address" not in data:
            raise FilterError("address: missing; give 'auto' (the cluster this machine belongs to) or HOST:PORT")
        address = fields.text("address", data["address"]).strip()
        workers = data.get("workers", "auto")
        if workers != "auto":
            workers = fields.integer("workers", workers)
            if not 1 <= workers <= 1024:
                raise FilterError(f"workers: expected 1 to 1024 (or auto), got {workers}")
        cpus = _optional_number(data, "cpus_per_worker", fields.number, 1e-3, 1024, "a number above 0")
    except FilterError as exc:
        raise FilterError(f"ray: {exc}") from None
    return RaySettings(address, None if workers == "auto" else workers, cpus)


def _rule(number: int, entry: object) -> Rule:
    where = f"rules[{number}]"
    try:
        data = fields.mapping(where, entry, RULE_FIELDS)
        if ("folder" in data) == ("glob" in data):
            raise FilterError("give exactly one of 'folder' (a sub-folder of the watch folder) or 'glob'")
        if "presets" not in data:
            raise FilterError("presets: missing; name one or more preset ids")
        value = data["presets"]
        presets = (fields.text("presets", value),) if isinstance(value, str) else fields.words("presets", value)
        if not presets:
            raise FilterError("presets: the list is empty")
        rule = _rule_settings(where, data, presets=presets)
        if "folder" in data:
            folder = PurePosixPath(fields.text("folder", data["folder"]).strip("/"))
            if folder.is_absolute() or ".." in folder.parts or not folder.parts:
                raise FilterError(f"folder: '{data['folder']}' must be a sub-folder inside the watch folder")
            if folder.parts[0] in RESERVED_DIRS:
                raise FilterError(f"folder: '{folder.parts[0]}/' is where the daemon puts originals; pick another name")
            return dataclasses.replace(rule, folder=folder.as_posix())
        return dataclasses.replace(rule, glob=fields.text("glob", data["glob"]))
    except FilterError as exc:
        raise FilterError(f"{where}: {exc}") from None


def _rule_settings(where: str, data: dict, presets: tuple[str, ...]) -> Rule:
    """format/quality/jpeg_quality/size as given at the top level or in one rule.

    `quality` names how much painting (instant, quick, normal, high). A number there is
    the JPEG/WebP quality, as it was before painting qualities existed.
    """
    fmt = fields.choice("format", data.get("format", "same"), FORMATS)
    quality, jpeg_quality = data.get("quality", "normal"), data.get("jpeg_quality", DEFAULT_QUALITY)
    if isinstance(quality, (int, float)) and not isinstance(quality, bool):
        quality, jpeg_quality = "normal", quality
    elif quality not in QUALITIES:
        raise FilterError(f"quality: expected one of {', '.join(QUALITIES)} (or a JPEG quality 1 to 100), got {quality!r}")
    jpeg_quality = fields.integer("jpeg_quality", jpeg_quality)
    if not 1 <= jpeg_quality <= 100:
        raise FilterError(f"jpeg_quality: expected 1 to 100, got {jpeg_quality}")
    size = _optional_number(data, "size", fields.integer, 32, 8192, "32 to 8192 pixels (long side)")
    mask_style = fields.text("mask_style", data["mask_style"]) if data.get("mask_style") is not None else None
    tile = _optional_number(data, "tile", fields.integer, 64, 8192, "0 (automatic) or 64 to 8192 px", zero_ok=True)
    strength = data.get("strength")
    if strength is not None:
        strength = AUTO if strength_fields(strength)["auto_strength"] else float(strength)
    return Rule(presets=presets, format=fmt, jpeg_quality=jpeg_quality, size=size, quality=quality,
                mask_style=mask_style, tile=tile, strength=strength)


def _optional_number(data: dict, name: str, convert, low: float, high: float, expected: str, zero_ok: bool = False):
    """`data[name]` converted and checked against low..high; None when it is not given."""
    value = data.get(name)
    if value is None:
        return None
    value = convert(name, value)
    if not (low <= value <= high or (zero_ok and value == 0)):
        raise FilterError(f"{name}: expected {expected}, got {value}")
    return value


def _with_defaults(rule: Rule, defaults: Rule, given: dict) -> Rule:
    """A rule's own output settings win; what it leaves out comes from the top level."""
    number_given = isinstance(given.get("quality"), (int, float))
    own = {
        "format": "format" in given,
        "jpeg_quality": "jpeg_quality" in given or number_given,
        "quality": "quality" in given and not number_given,
        "size": "size" in given,
        "mask_style": "mask_style" in given,
        "tile": "tile" in given,
        "strength": "strength" in given,
    }
    return dataclasses.replace(
        rule, **{name: getattr(rule if mine else defaults, name) for name, mine in own.items()}
    )


def _folder(base: Path, field_name: str, value: str) -> Path:
    return (base / Path(fields.text(field_name, value)).expanduser()).resolve()
