"""Reading hand-written YAML and checking its fields, shared by presets and the daemon's config.

Both files are edited by people who are not programmers, so the checks here raise
`FilterError("field: problem")` with wording that says what to write instead; each caller
prefixes the file's path.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable

import yaml

from .errors import FilterError


def read_yaml(path: Path) -> object:
    """Parse a YAML file safely; unreadable files and syntax errors raise `FilterError`."""
    try:
        return yaml.safe_load(path.read_bytes())
    except OSError as exc:
        raise FilterError(f"cannot read file ({exc.strerror or exc})") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise FilterError(f"invalid YAML{where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise FilterError(f"invalid YAML: {exc}") from None


def mapping(what: str, data: object, valid: Iterable[str]) -> dict:
    """`data` as a dict whose keys are all in `valid`; a typo gets the closest valid name."""
    valid = tuple(valid)
    if not isinstance(data, dict):
        got = "nothing" if data is None else f"{type(data).__name__} {data!r:.40}"
        raise FilterError(f"{what} must be a mapping of 'field: value' lines, got {got}")
    for key in data:
        if key not in valid:
            raise FilterError(unknown("field", key, valid))
    return data


def unknown(what: str, key: object, valid: Iterable[str]) -> str:
    """The message for a name that is not one of `valid`, suggesting the closest one."""
    valid = list(valid)
    close = difflib.get_close_matches(str(key), valid, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"valid: {', '.join(valid)}"
    return f"unknown {what} '{key}'; {hint}"


def text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise FilterError(f"{field}: expected text, got {value!r} (put it in quotes)")
    return value


def number(field: str, value: object) -> float:
    # YAML 1.1 reads `1e-6` (no dot) as text, so numeric text is accepted as a number.
    if not isinstance(value, bool) and isinstance(value, (int, float, str)):
        try:
            return float(value)
        except ValueError:
            pass
    raise FilterError(f"{field}: expected a number, got {value!r}")


def integer(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FilterError(f"{field}: expected a whole number, got {value!r}")
    return value


def boolean(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise FilterError(f"{field}: expected true or false, got {value!r}")
    return value


def as_list(field: str, value: object) -> list:
    if not isinstance(value, list):
        raise FilterError(f"{field}: expected a list like [a, b, c], got {value!r}")
    return value


def numbers(field: str, value: object) -> tuple[float, ...]:
    return tuple(number(field, v) for v in as_list(field, value))


def words(field: str, value: object) -> tuple[str, ...]:
    return tuple(text(field, v) for v in as_list(field, value))


def choice(field: str, value: object, options: Iterable[str]) -> str:
    options = tuple(options)
    if text(field, value) not in options:
        raise FilterError(f"{field}: expected one of {', '.join(options)}, got {value!r}")
    return value
