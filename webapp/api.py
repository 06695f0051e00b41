"""The /stylize API endpoint: one painting from plain values, answered as a PNG file."""

from __future__ import annotations

import contextlib
import uuid

import gradio as gr

from stylizer import StylizerError
from webapp.controls import build_filter
from webapp.results import save_result
from webapp.services import DEFAULT_PRESET
from webapp.uploads import load_image
from webapp.zerogpu import stylize_stream


def api_stylize(
    content: str,
    preset: str = DEFAULT_PRESET,
    style: str | None = None,
    strength: float | None = None,
    size: int | None = None,
    iterations: int | None = None,
    seed: int | None = None,
    auto_strength: bool = False,
) -> str:
    """Paint `content` with a preset (by id) or, when `preset` is empty, with the painting `style`.

    Left out (None), strength, size, iterations and seed are the preset's own (or the
    paper's defaults for a painting); a strength given is used as it is, even with a
    preset whose strength is auto. `auto_strength` chooses the strength for this photo and
    painting instead (stylizer.strength). Returns the painted image as a PNG file whose
    metadata holds the parameters used.
    """
    photo = load_image(content)
    flt = build_filter(
        preset or None, [(style, 1.0)] if style else None,
        # A strength given wins over a preset's auto; none given keeps the preset's own.
        strength=strength, auto_strength=True if auto_strength else (False if strength is not None else None),
        size=size, iterations=iterations, seed=seed,
    )
    try:
        result = None
        with contextlib.closing(stylize_stream(photo, flt, uuid.uuid4().hex)) as stream:
            for item in stream:
                result = item
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None
    return save_result(result, content)
