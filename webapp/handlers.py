"""Paint and Cancel: the instant painting, the streamed painting, and the words the page shows.

Paint is two events: `instant` (its own unlimited lane: a feed-forward painting in well under
a second, after which the painting is submitted as a job of this tab's) and then `paint`,
which follows that job: its true place in line while it waits, then its progress and result.
`stop` is Cancel, `leave` a closed tab. Who waits and who paints is the scheduler's alone
(stylizer/scheduler.py); this module keeps no queue or cancel state.
"""

from __future__ import annotations

import time

import gradio as gr

from stylizer import Cancelled, Filter, Progress, StylizerError, images
from stylizer.jobs import Ahead, State
from webapp.controls import controls_filter
from webapp.results import save_image, save_result
from webapp.services import painter, scheduler, stylizer
from webapp.settings import FOLLOW_WITHIN_S, PREVIEW_EVERY, STATUS_EVERY_S, UPDATE_EVERY_S, ZERO_GPU

TRY_AGAIN = "Change something and press **Paint** to try again."
# The status from the moment Paint is pressed (set in the browser, app.py) until the server
# answers: under load, Paint's request can still wait in Gradio's queue when Cancel arrives.
STARTING = "Starting…"


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def instant(request: gr.Request, content, mode, preset_id, *rest):
    """Paint's first answer: the feed-forward painting in well under a second; then the
    painting goes in line as this tab's job (replacing any earlier one of this tab's), and
    its id is the ticket `paint` follows. The job keeps the moment Paint was pressed, so a
    Cancel pressed while this ran still cancels it."""
    pressed = time.monotonic()
    photo, flt, quality_name, mask = controls_filter(content, mode, preset_id, rest)
    session = _session(request)
    try:
        preview = scheduler.instant(lambda: stylizer.preview(photo, flt, mask), owner=session)
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None
    if quality_name == "instant":  # the whole answer: paint() below has nothing left to do
        path = save_image(preview, {"filter": flt.describe(), "quality": "instant"}, content)
        before = images.fit(photo, max(preview.size))
        return preview, "Instant painting ready.", gr.DownloadButton(value=path, visible=True), (before, preview), None
    try:
        job = scheduler.submit(photo, flt, owner=session, mask=mask, preview_every=PREVIEW_EVERY, since=pressed,
                               keep_context=ZERO_GPU, replace=True, follow_within=FOLLOW_WITHIN_S)
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None
    if job.state is State.CANCELLED:  # Cancel was pressed while the instant painting was made
        return preview, f"Cancelled. {TRY_AGAIN}", gr.DownloadButton(visible=False), None, None
    return preview, f"Instant preview; {waiting_words(scheduler.ahead(job))}.", gr.DownloadButton(visible=False), None, job.id


def waiting_words(ahead: Ahead) -> str:
    """'2 paintings ahead of yours; yours starts in about 40 s', and the running-time limit
    when there is a line: an API caller can hold the painter no longer than that."""
    if ahead.position == 0:
        return "painting the full version now"
    limit = scheduler.budget.max_seconds
    return ahead.sentence() + (f" (no painting runs longer than {limit:.0f} s here)" if limit else "")


async def paint(request: gr.Request, ticket: str | None, content):
    """Streaming handler: the place in line while waiting, live previews and a progress line
    while painting, then result, download, comparison.

    `request` comes first: Gradio fills in only positional parameters. Only this tab's own
    job is followed. However this handler ends (done, Cancel, the tab closed: Gradio closes
    the stream within `UPDATE_EVERY_S` of its client going away), its job ends with it.
    """
    job = scheduler.job(ticket)
    skip = gr.skip()
    if job is None or job.owner != _session(request):
        yield skip, skip, skip, skip
        return
    last_status = 0.0
    try:
        async for item in job.aupdates(heartbeat=UPDATE_EVERY_S):
            if isinstance(item, Ahead):
                yield skip, f"Instant preview; {waiting_words(item)}.", skip, skip
            elif isinstance(item, Progress):
                now = time.monotonic()
                if item.preview is not None or now - last_status >= STATUS_EVERY_S:
                    last_status = now
                    # Live previews come from the coarse scales: shown at the final size, never as a thumbnail.
                    shown = images.fit(item.preview, job.filter.size) if item.preview is not None else skip
                    yield shown, status_line(item), skip, skip
            elif item is None:
                yield skip, skip, skip, skip  # nothing new: lets Gradio notice a client that went away
            else:
                yield done_updates(item, job.photo, job.filter, content)
    except Cancelled:
        yield skip, f"{'Stopped' if job.started is not None else 'Cancelled'}. {TRY_AGAIN}", skip, skip
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None
    finally:
        job.cancel()  # no one follows it any more; a no-op once it has ended


def done_updates(result, photo, flt: Filter, content):
    """The finished painting, its download, its comparison and one line about the run."""
    path = save_result(result, content)
    stats = result.stats
    done = (
        f"Done in **{stats.seconds:.1f} s** · {stats.iterations} iterations · "
        f"{result.image.width}×{result.image.height} px{strength_words(flt, stats)} · {painter.description}"
    )
    before = images.fit(photo, max(result.image.size))
    return result.image, done, gr.DownloadButton(value=path, visible=True), (before, result.image)


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


def stop(status: str | None = None, request: gr.Request = None):
    """Cancel: this tab's painting stops, whether it waits (it never starts), runs (it stops at
    its next iteration) or is about to be submitted (its instant painting is still being made,
    or Paint's request has not left Gradio's queue yet: Cancel's `cancels` drops it there, and
    the page, still saying `STARTING`, is told so)."""
    session = _session(request)
    busy, jobs = scheduler.busy(session), scheduler.jobs(session)
    scheduler.cancel_owner(session)
    if not busy:
        # Nothing under way: a finished painting's words stay.
        return f"Cancelled. {TRY_AGAIN}" if status == STARTING else gr.skip()
    return f"{'Stopped' if any(job.started is not None for job in jobs) else 'Cancelled'}. {TRY_AGAIN}"


def leave(request: gr.Request = None) -> None:
    """The tab was closed (Gradio's unload): its paintings are cancelled."""
    scheduler.cancel_owner(_session(request))
