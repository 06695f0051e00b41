"""Stylizer web app (Gradio): paint a photo in the style of an artwork.

Hugging Face Space entry point: the page's layout and the wiring of its events. What the
events do lives in webapp/ (one job a module; webapp/__init__.py lists them), and every
painting is a job of the one scheduler in webapp/services.py. The environment settings are
listed in webapp/settings.py.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import gradio as gr

from webapp.api import api_stylize
from webapp.controls import auto_strength_changed, mask_canvas, pick_preset, preset_controls, preset_note
from webapp.gallery import EXAMPLE_PAIRS, example_thumbnail, gallery_thumbnail, load_example
from webapp.handlers import STARTING, instant, leave, paint, stop
from webapp.layout_assets import CSS, SCROLL_TO_PAINTING
from webapp.services import DEFAULT_FILTER, DEFAULT_PRESET, PRESET_IDS, registry, scheduler
from webapp.settings import (
    COLOR_CHOICES, EXAMPLES, INIT_CHOICES, LAYER_LABELS, MAX_SIZE, MAX_UPLOAD_MB, OWN_STYLE_SLOTS, QUALITY,
    QUALITY_INFO, QUEUE_SIZE, READY, RESULT_MAX_AGE_S,
)
from webapp.uploads import (
    check_mask, check_painting, check_photo, limit_editor_pixels, raw_path_upload, refuse_server_paths,
)

# Gradio 6 takes the page's CSS in launch(): every launch passes css=CSS.
with gr.Blocks(title="Stylizer — paint your photo", delete_cache=(RESULT_MAX_AGE_S, RESULT_MAX_AGE_S)) as demo:
    gr.Markdown(
        "# Stylizer — paint your photo like a masterpiece\n"
        "Pick a photo and a painting, press **Paint**, and watch the painting appear "
        "([Gatys et al.](https://arxiv.org/abs/1508.06576) neural style transfer)."
    )
    mode = gr.State("preset")
    # Photo, Paint and the painting come first, so on a phone Paint sits right under the
    # photo and the result right under Paint; the style and the settings follow.
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            content = raw_path_upload(gr.Image(
                label="Your photo", type="filepath", image_mode=None,
                sources=["upload", "webcam", "clipboard"], height=320, elem_id="photo",
            ))
            with gr.Row():
                run_button = gr.Button("Paint", variant="primary", scale=3, elem_id="paint")
                stop_button = gr.Button("Cancel", variant="stop", scale=1, elem_id="cancel")
            status = gr.Markdown(READY, elem_id="status")
            with gr.Accordion("Paint only part of the photo", open=False, elem_id="mask-panel"):
                mask_editor = limit_editor_pixels(gr.ImageEditor(
                    label="Brush over where the style goes", type="pil", image_mode="RGBA", sources=(),
                    layers=False, transforms=(), eraser=gr.Eraser(), height=320, elem_id="mask-editor",
                    brush=gr.Brush(colors=["rgba(255, 45, 85, 0.45)"], color_mode="fixed", default_size=40),
                ))
                with gr.Row():
                    mask_file = raw_path_upload(gr.Image(
                        label="…or upload a mask (white = style)", type="filepath", image_mode=None,
                        sources=["upload", "clipboard"], height=120, elem_id="mask-file",
                    ))
                    mask_rest = gr.Dropdown(
                        choices=[("Keep the photo", "")] + [(p.name, p.id) for p in registry.presets.values()],
                        value="", label="The rest of the photo", elem_id="mask-rest",
                        info="stays the photo, or takes a second painting",
                    )
        with gr.Column(scale=1):
            with gr.Tabs():  # the comparison as a tab: no tall empty panel before there is a result
                with gr.Tab("Painting"):
                    # Shown as JPEG: a tenth of a PNG's bytes and 40x faster to encode, for every live
                    # update on a phone's connection; the download is the full-quality PNG.
                    output = gr.Image(label="Painting", type="pil", format="jpeg", interactive=False, height=420,
                                      elem_id="painting")
                with gr.Tab("Before / after"):
                    compare = gr.ImageSlider(label="Before / after", type="pil", interactive=False, max_height=420,
                                             elem_id="compare")
            download = gr.DownloadButton("Download full-quality PNG", visible=False, elem_id="download")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            with gr.Tabs():
                with gr.Tab("Presets") as preset_tab:
                    gallery = gr.Gallery(
                        value=[(str(gallery_thumbnail(p)), p.name) for p in registry.presets.values()],
                        label="Choose a painting", columns=5, height=250, object_fit="cover",
                        allow_preview=False, selected_index=PRESET_IDS.index(DEFAULT_PRESET) if DEFAULT_PRESET else None,
                        interactive=False, elem_id="preset-gallery",
                    )
                    preset = gr.Dropdown(
                        choices=[(p.name, p.id) for p in registry.presets.values()],
                        value=DEFAULT_PRESET, label="Preset", elem_id="preset",
                    )
                    preset_info = gr.Markdown(preset_note(DEFAULT_PRESET, False, None, DEFAULT_FILTER.auto_strength))
                with gr.Tab("Your own style") as own_tab:
                    gr.Markdown("Upload one to three paintings; the weights set how much of each goes into the mix.")
                    own_inputs = []
                    with gr.Row():
                        for i in range(OWN_STYLE_SLOTS):
                            with gr.Column(min_width=120):
                                own_inputs.append(raw_path_upload(gr.Image(
                                    label=f"Painting {i + 1}", type="filepath", image_mode=None,
                                    sources=["upload", "clipboard"], height=160, elem_id=f"own-painting-{i + 1}",
                                )))
                                own_inputs.append(gr.Slider(0.1, 5, value=1, step=0.1, label="Weight"))
        with gr.Column(scale=1):
            strength = gr.Slider(0, 10, value=max(0.0, min(10.0, DEFAULT_FILTER.strength)), step=0.1,
                                 label="Style strength", info="0 keeps the photo, 10 is pure painting texture",
                                 elem_id="strength", interactive=not DEFAULT_FILTER.auto_strength)
            auto_strength = gr.Checkbox(value=DEFAULT_FILTER.auto_strength, label="Choose the strength for me",
                                        info="Draft, Normal and High measure your photo and painting while "
                                             "they paint, so every pair comes out about equally painted; "
                                             "Instant and Quick paint at 6", elem_id="auto-strength")
            strength_touched = gr.State(False)  # set once the user moves it: presets then keep it
            with gr.Row():
                quality = gr.Radio(QUALITY, value="normal", label="Quality", info=QUALITY_INFO, elem_id="quality")
                size = gr.Slider(64, MAX_SIZE, value=min(DEFAULT_FILTER.size, MAX_SIZE), step=32,
                                 label="Output size (long side, px)",
                                 elem_id="size")
            with gr.Row():
                init = gr.Radio(INIT_CHOICES, value=DEFAULT_FILTER.init, label="Start from")
                colour = gr.Radio(COLOR_CHOICES, value=DEFAULT_FILTER.preserve_color, label="Colours")
            seed = gr.Number(value=DEFAULT_FILTER.seed, precision=0, minimum=0, label="Seed",
                             info="same seed and settings, same picture")
            with gr.Accordion("Advanced", open=False):
                with gr.Row():
                    layer_weights = [
                        gr.Number(value=w, minimum=0, label=label, min_width=90)
                        for w, label in zip(DEFAULT_FILTER.layer_weights, LAYER_LABELS)
                    ]
                with gr.Row():
                    tv_weight = gr.Number(value=DEFAULT_FILTER.tv_weight, minimum=0, label="Smoothing (TV weight)")
                    optimizer = gr.Radio(["lbfgs", "adam"], value=DEFAULT_FILTER.optimizer, label="Optimizer")
                    scales = gr.Slider(1, 5, value=DEFAULT_FILTER.scales, step=1, label="Scales (coarse to fine)",
                                       info="up to 512 px; larger paintings add one per doubling")

    if EXAMPLES.is_dir():  # the repository's photos; an installed package has none
        # Shown as thumbnails (gr.Examples showed the 1024 px photos: 580 KB of the page);
        # a click loads the 1024 px photo to paint.
        examples = gr.Dataset(
            components=[content, preset], label="Try an example", type="index", elem_id="examples",
            samples=[[str(example_thumbnail(name)), preset_id] for name, preset_id in EXAMPLE_PAIRS],
        )
    if registry.errors:
        gr.Markdown("Presets that could not be loaded:\n" + "\n".join(f"- `{e}`" for e in registry.errors))

    # API-only inputs (hidden): plain values and files, so clients get our messages.
    with gr.Row(visible=False):
        api_inputs = [
            gr.File(label="content", type="filepath"),
            gr.Textbox(label="preset", value=DEFAULT_PRESET),
            gr.File(label="style", type="filepath"),
            gr.Number(label="strength", value=None),
            gr.Number(label="size", value=None, precision=0),
            gr.Number(label="iterations", value=None, precision=0),
            gr.Number(label="seed", value=None, precision=0),
            gr.Checkbox(label="auto_strength", value=False),
        ]
        api_output = gr.Image(label="painting", type="filepath", format="png")
        api_button = gr.Button("api")

    if EXAMPLES.is_dir():
        examples.click(load_example, examples, [content, preset, status], api_visibility="private", queue=False)
    # On a phone the painting sits below the photo, Cancel, the status and the mask panel:
    # Paint brings it into view (it started at y=812 of an 844 px screen).
    run_button.click(None, None, None, js=SCROLL_TO_PAINTING, queue=False)
    content.upload(check_photo, [content, size], [content, status], api_visibility="private", queue=False,
                   show_progress="hidden")
    mask_file.upload(check_mask, mask_file, [mask_file, status], api_visibility="private", queue=False,
                     show_progress="hidden")
    for own_painting in own_inputs[0::2]:
        own_painting.upload(check_painting, own_painting, [own_painting, status], api_visibility="private",
                            queue=False, show_progress="hidden")
    content.change(mask_canvas, content, mask_editor, api_visibility="private", queue=False, show_progress="hidden")
    preset_tab.select(lambda: "preset", None, mode, api_visibility="private", queue=False)
    own_tab.select(lambda: "own", None, mode, api_visibility="private", queue=False)
    gallery.select(pick_preset, None, preset, api_visibility="private", queue=False)
    strength.input(lambda: True, None, strength_touched, api_visibility="private", queue=False)
    auto_strength.input(lambda: True, None, strength_touched, api_visibility="private", queue=False)
    auto_strength.change(auto_strength_changed, [auto_strength, preset, mode, strength_touched, strength],
                         [strength, preset_info], api_visibility="private", queue=False, show_progress="hidden")
    preset.change(
        preset_controls, [preset, strength_touched, strength, auto_strength],
        [preset_info, gallery, strength, size, seed, colour, init, *layer_weights, tv_weight, optimizer, scales,
         auto_strength],
        api_visibility="private", queue=False,
    )
    paint_inputs = [content, mode, preset, *own_inputs, strength, auto_strength, quality, size, init, colour, seed,
                    *layer_weights, tv_weight, optimizer, scales, mask_editor, mask_file, mask_rest]
    paint_outputs = [output, status, download, compare]
    ticket = gr.State(None)  # instant() submits the painting and hands its job's id to paint()
    # The instant painting has its own unlimited lane in the queue, so it shows at once even
    # while others paint (and its errors arrive as the usual message, like the painting's).
    # The press shows at once, in the browser: a Cancel that comes before the server answers
    # sends it, and `stop` knows Paint was pressed.
    run_button.click(None, None, status, js=f"() => {json.dumps(STARTING)}", queue=False, api_visibility="private")
    preview_event = run_button.click(
        instant, paint_inputs, [*paint_outputs, ticket], api_visibility="undocumented", show_progress="hidden",
        concurrency_id="instant", concurrency_limit=None,
    )
    preview_event.failure(lambda: READY, None, status, queue=False, api_visibility="private")  # its message says why
    # Every painting waits in the scheduler's line (stylizer/scheduler.py), not in Gradio's queue:
    # no concurrency limit here, so each stream starts at once and shows its true place.
    preview_event.success(
        paint, [ticket, content], paint_outputs,
        api_visibility="undocumented", concurrency_id="stylize", concurrency_limit=None, show_progress="hidden",
    )
    # Cancel cancels this tab's job (`stop`), whose stream then ends with "Stopped", after any
    # progress it had already sent; cancelling the stream in Gradio too let a progress line
    # sent just before land after "Stopped" and stay there.
    stop_button.click(stop, status, status, cancels=[preview_event], queue=False, api_visibility="private")
    demo.unload(leave)  # a closed tab cancels its painting
    api_button.click(api_stylize, api_inputs, api_output, api_name="stylize", concurrency_id="stylize",
                     concurrency_limit=None)


refuse_server_paths(demo)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the server the way Ctrl-C does: cleanly, exit 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    watch_service = None
    if os.environ.get("STYLIZER_DAEMON_CONFIG"):
        import logging

        from daemon.config import read_config
        from daemon.service import WatchService

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(message)s")
        daemon_config = Path(os.environ["STYLIZER_DAEMON_CONFIG"]).resolve()
        watch_service = WatchService(lambda: read_config(daemon_config), painter=scheduler)
        watch_service.start()
    try:
        demo.queue(max_size=QUEUE_SIZE).launch(
            show_error=True, max_file_size=f"{MAX_UPLOAD_MB}mb", css=CSS,
        )
    except KeyboardInterrupt:
        demo.close()  # interrupted while launch() was still starting up: stop just as cleanly
    finally:
        if watch_service is not None:
            watch_service.stop()
