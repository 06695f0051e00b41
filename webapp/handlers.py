"""Paint and Cancel: the instant painting, the streamed painting, and the words the page shows.

Paint is two events: `instant` (its own unlimited lane: a feed-forward painting in well under
a second, and a place in line) and then `paint` (the painting itself, streamed). `stop` is
Cancel. Who waits and who paints is kept by webapp/line.py.
"""

from __future__ import annotations

import contextlib
import time

import gradio as gr

from stylizer import Cancelled, Filter, Progress, StylizerError, images
from webapp import line
from webapp.controls import controls_filter
from webapp.results import save_image, save_result
from webapp.services import painter, stylizer
from webapp.settings import STATUS_EVERY_S
from webapp.zerogpu import stylize_stream


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def instant(request: gr.Request, content, mode, preset_id, *rest):
    """Paint's first answer, outside the queue: the feed-forward painting in well under a second.

    Also hands out the ticket that `paint` checks: only the latest press, not cancelled, paints.
    """
    photo, flt, quality_name, mask = controls_filter(content, mode, preset_id, rest)
    session = _session(request)
    try:
        preview = stylizer.preview(photo, flt, mask)
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None
    if quality_name == "instant":  # the whole answer: paint() below has nothing left to do
        path = save_image(preview, {"filter": flt.describe(), "quality": "instant"}, content)
        before = images.fit(photo, max(preview.size))
        return preview, "Instant painting ready.", gr.DownloadButton(value=path, visible=True), (before, preview), None
    ticket = line.join(session, flt)
    return preview, f"Instant preview; {line.sentence(session)}.", gr.DownloadButton(visible=False), None, ticket


def paint(request: gr.Request, ticket: str | None, content, mode, preset_id, *rest):
    """Streaming handler: live previews and a progress line, then result, download, comparison.

    `request` comes first: Gradio fills in only positional parameters, and with `request`
    after `*rest` it stayed None, so every run shared one cancel flag that `stop` never found.
    A painting whose ticket is no longer its session's (cancelled while it waited, or
    Paint pressed again since) paints nothing.
    """
    session = _session(request)
    if not line.admit(session, ticket):
        yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return
    photo, flt, quality_name, mask = controls_filter(content, mode, preset_id, rest)
    if quality_name == "instant":  # instant() already answered; an empty stream would clear it
        yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return
    run_id = line.start(session, flt)
    skip = gr.skip()
    try:
        # closing(): the painting stops as soon as this handler ends (done, cancelled or gone).
        with contextlib.closing(stylize_stream(photo, flt, run_id, mask)) as stream:
            yield from _updates(stream, photo, flt, content)
    except Cancelled:
        yield skip, "Stopped. Change something and press **Paint** to try again.", skip, skip
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None
    finally:
        line.finish(session, run_id)


def _updates(stream, photo, flt: Filter, content):
    """The page's updates for one painting's stream: previews, progress, then the result."""
    skip = gr.skip()
    last_status = 0.0
    for item in stream:
        if isinstance(item, Progress):
            now = time.monotonic()
            if item.preview is not None or now - last_status >= STATUS_EVERY_S:
                last_status = now
                # Live previews come from the coarse scales: shown at the final size, never as a thumbnail.
                shown = images.fit(item.preview, flt.size) if item.preview is not None else skip
                yield shown, status_line(item), skip, skip
            continue
        line.measured(flt, item.stats.seconds)
        path = save_result(item, content)
        stats = item.stats
        done = (
            f"Done in **{stats.seconds:.1f} s** · {stats.iterations} iterations · "
            f"{item.image.width}×{item.image.height} px{strength_words(flt, stats)} · {painter.description}"
        )
        before = images.fit(photo, max(item.image.size))
        yield item.image, done, gr.DownloadButton(value=path, visible=True), (before, item.image)


def status_line(p: Progress) -> str:
    bar = f"<progress value='{p.iteration}' max='{p.iterations}' style='width:100%'></progress>"
    return f"{bar}\nScale {p.scale}/{p.scales} ({p.size[0]}×{p.size[1]}) · iteration {p.iteration}/{p.iterations} · {p.elapsed:.0f} s"


def strength_words(flt: Filter, stats) -> str:
    """With "Choose the strength for me", the strength it chose: the box promised a choice,
    and the page never said which."""
    if not flt.auto_strength or stats.strength is None:
        return ""
    if stats.auto_level is None:  # one scale (Quick, or a small painting): nothing was measured
        return f" · strength {stats.strength:.1f} (one scale: not measured, the default)"
    return f" · strength **{stats.strength:.1f}**, chosen for this photo"


def stop(request: gr.Request = None):
    """Cancel: a painting waiting in line never starts; a running one stops at its next check
    (in this process at once; on ZeroGPU, Gradio's cancel closes the stream)."""
    cancelled = line.cancel(_session(request))
    if cancelled == "waiting":
        return "Cancelled. Change something and press **Paint** to try again."
    if cancelled == "running":
        return "Stopped. Change something and press **Paint** to try again."
    return gr.skip()
