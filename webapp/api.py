"""The /stylize API endpoint: one painting from plain values, answered as a PNG file."""

from __future__ import annotations

import time

import gradio as gr

from stylizer import Result, StylizerError
from webapp.controls import build_filter
from webapp.results import save_result
from webapp.services import DEFAULT_PRESET, scheduler
from webapp.settings import UPDATE_EVERY_S, ZERO_GPU
from webapp.uploads import load_image


async def api_stylize(
    request: gr.Request,
    content: str,
    preset: str = DEFAULT_PRESET,
    style: str | None = None,
    strength: float | None = None,
    size: int | None = None,
    iterations: int | None = None,
    seed: int | None = None,
    auto_strength: bool = False,
):
    """Paint `content` with a preset (by id) or, when `preset` is empty, with the painting `style`.

    Left out (None), strength, size, iterations and seed are the preset's own (or the
    paper's defaults for a painting); a strength given is used as it is, even with a
    preset whose strength is auto. `auto_strength` chooses the strength for this photo and
    painting instead (stylizer.strength). Returns the painted image as a PNG file whose
    metadata holds the parameters used.

    The painting is a job of the caller's (by address) under the server's budget: a caller
    that closes its connection, is cancelled or is killed cancels it within `UPDATE_EVERY_S`
    (the stream's quiet updates are when Gradio notices), and none runs past the budget's time.
    """
    photo = load_image(content)
    flt = build_filter(
        preset or None, [(style, 1.0)] if style else None,
        # A strength given wins over a preset's auto; none given keeps the preset's own.
        strength=strength, auto_strength=True if auto_strength else (False if strength is not None else None),
        size=size, iterations=iterations, seed=seed,
    )
    try:
        job = scheduler.submit(photo, flt, owner=f"api {getattr(request.client, 'host', None) or request.session_hash}",
                               keep_context=ZERO_GPU)
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None
    said = time.monotonic()
    try:
        async for item in job.aupdates(heartbeat=UPDATE_EVERY_S):
            if isinstance(item, Result):
                yield save_result(item, content)
            elif time.monotonic() - said >= UPDATE_EVERY_S:  # the API answers only the painting:
                said = time.monotonic()  # in between, an empty update lets Gradio see a client gone
                yield gr.skip()
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None
    finally:
        job.cancel()  # the caller went away: a no-op once it has ended
