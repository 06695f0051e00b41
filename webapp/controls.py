"""The page's controls: what they describe (a `Filter`, a mask) and how a preset sets them.

`build_filter` is the one place controls become a `Filter`, for the page and the API alike.
"""

from __future__ import annotations

import uuid

import gradio as gr

from stylizer import Filter, StyleImage, StylizerError, images, ratio_from_strength
from stylizer.masks import Mask, mask_image
from stylizer.quality import for_quality
from stylizer.strength import AUTO, strength_fields
from stylizer.vgg import STYLE_LAYERS
from webapp import settings  # MAX_UPLOAD_PIXELS is read at each call (tests lower it)
from webapp.results import RESULTS_DIR
from webapp.services import PRESET_IDS, registry
from webapp.settings import LAYER_LABELS, MASK_CANVAS_SIDE, MAX_SIZE, OWN_STYLE_SLOTS
from webapp.uploads import load_image, refusal


def build_filter(
    preset: str | None,
    styles: list[tuple[str, float]] | None = None,
    *,
    strength: float | None = None,
    auto_strength: bool | None = None,
    size: int | None = None,
    iterations: int | None = None,
    seed: int | None = None,
    init: str | None = None,
    preserve_color: str | None = None,
    layer_weights: tuple[float, ...] | None = None,
    tv_weight: float | None = None,
    optimizer: str | None = None,
    scales: int | None = None,
) -> Filter:
    """The one place controls become a `Filter`: a preset (or own paintings) plus overrides.

    A `None` keeps the preset's (or the paper's) value. Used by the UI and the API alike.
    With `auto_strength` the strength is chosen per photo (stylizer.strength) and
    `strength` is not used.
    """
    if size is not None and int(size) > MAX_SIZE:
        raise gr.Error(f"Output size {int(size)} px is above this app's limit of {MAX_SIZE} px; choose {MAX_SIZE} or less.")
    try:
        if preset:
            base = registry.get(preset).filter
        elif styles:
            base = Filter(styles=tuple(StyleImage(load_image(path, "painting"), weight=float(w)) for path, w in styles))
        else:
            raise gr.Error("Choose a preset, or upload at least one painting under “Your own style”.")
        # The preset's own value stays exact unless the control really moved: strength 6 and
        # alpha/beta 1e-6 differ in the last bit, and a preset must stay one Filter.
        moved = strength is not None and abs(float(strength) - base.strength) > 1e-6
        if auto_strength:
            base = base.replace(**strength_fields(AUTO))
            moved = False
        elif auto_strength is False and base.auto_strength:
            base = base.replace(auto_strength=False)
        if layer_weights is not None and base.style_layers != STYLE_LAYERS:
            layer_weights = None  # the page's five weights are for conv1_1..conv5_1 only
        changes = {
            "ratio": ratio_from_strength(float(strength)) if moved else None,
            "size": int(size) if size is not None else (MAX_SIZE if base.size > MAX_SIZE else None),
            "iterations": None if iterations is None else int(iterations),
            "seed": None if seed is None else int(seed),
            "init": init,
            "preserve_color": preserve_color,
            "layer_weights": None if layer_weights is None else tuple(float(w) for w in layer_weights),
            "tv_weight": None if tv_weight is None else float(tv_weight),
            "optimizer": optimizer,
            "scales": None if scales is None else int(scales),
        }
        return base.replace(**{k: v for k, v in changes.items() if v is not None})
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None


def controls_filter(content, mode, preset_id, rest) -> tuple[object, Filter, str, Mask | None]:
    """The photo, the `Filter`, the quality name and the mask that the UI's controls describe."""
    own = rest[: 2 * OWN_STYLE_SLOTS]
    strength, auto_strength, quality_name, size, init, colour, seed, *advanced = rest[2 * OWN_STYLE_SLOTS :]
    layer_weights, (tv_weight, optimizer, scales), mask_controls = advanced[:5], advanced[5:8], advanced[8:]
    photo = load_image(content)
    mask = controls_mask(*mask_controls)
    styles = [(path, w) for path, w in zip(own[0::2], own[1::2]) if path]
    flt = build_filter(
        preset_id if mode == "preset" else None, styles,
        strength=strength, auto_strength=bool(auto_strength), size=size, seed=seed or 0, init=init,
        preserve_color=colour, layer_weights=layer_weights, tv_weight=tv_weight,
        optimizer=optimizer, scales=scales,
    )
    if quality_name == "draft":
        return photo, flt.replace(iterations=max(1, flt.iterations // 2)), quality_name, mask
    return photo, for_quality(flt, quality_name or "normal"), quality_name, mask


def controls_mask(brushed, uploaded: str | None, rest_preset: str | None) -> Mask | None:
    """The mask panel's answer: an uploaded mask wins over brush strokes; none of either, no mask.

    The brush paints on a transparent layer over the photo, so where it touched is the mask.
    """
    layers = brushed.get("layers") or [] if isinstance(brushed, dict) else []
    strokes = next((layer for layer in layers if layer is not None and layer.getextrema()[-1][1] > 0), None)
    if strokes is not None:  # the brush is see-through, so the photo shows: every touched pixel counts fully
        strokes = strokes.getchannel("A").point(lambda alpha: 255 if alpha else 0)
    if uploaded is None and strokes is None:
        return None
    try:
        source = mask_image(uploaded, max_pixels=settings.MAX_UPLOAD_PIXELS) if uploaded else strokes
    except StylizerError as exc:
        raise gr.Error(refusal(exc, uploaded, "mask"), title="Bad mask") from None
    try:
        outside = registry.get(rest_preset).filter if rest_preset else None
        return Mask(source, outside)
    except StylizerError as exc:
        raise gr.Error(str(exc)) from None


def mask_canvas(photo_path: str | None):
    """The brush's canvas shows the photo the mask is for (and forgets strokes for another)."""
    if not photo_path:
        return None
    try:
        canvas = images.fit(load_image(photo_path), MASK_CANVAS_SIDE)
    except gr.Error:
        return None  # not a photo: check_photo says so
    path = RESULTS_DIR / f"canvas-{uuid.uuid4().hex}.jpg"
    canvas.convert("RGB").save(path, "JPEG", quality=85)
    return {"background": str(path), "layers": [], "composite": None}


def describe_preset(preset_id: str | None) -> str:
    preset = registry.presets.get(preset_id or "")
    if preset is None:
        return ""
    credit = f"  \n*{preset.credit}*" if preset.credit else ""
    return f"**{preset.name}** — {preset.description}{credit}"


def preset_controls(
    preset_id: str | None, strength_touched: bool = False, strength_now: float | None = None, auto_now: bool = False
):
    """A preset's own settings fill the controls, so Paint sends exactly the preset's Filter.

    A strength the user chose stays (and the note says so, unless the strength is chosen
    for the photo, when no slider value is used); the layer weights apply only to presets
    that use the page's five layers, and say so otherwise.
    """
    preset = registry.presets.get(preset_id or "")
    if preset is None:
        return (gr.skip(),) * (7 + len(LAYER_LABELS) + 4)
    f = preset.filter
    index = PRESET_IDS.index(preset.id)
    own_layers = f.style_layers == STYLE_LAYERS
    if own_layers:
        weights = [gr.Number(value=w, interactive=True) for w in f.layer_weights]
    else:
        weights = [gr.Number(interactive=False)] * len(LAYER_LABELS)
    strength = max(0.0, min(10.0, f.strength))
    auto = auto_now if strength_touched else f.auto_strength
    note = preset_note(preset.id, strength_touched, strength_now, auto)
    if strength_touched and strength_now is not None:
        strength = gr.skip()
    auto = gr.skip() if strength_touched else auto
    return (
        note,
        gr.Gallery(selected_index=index),
        strength,
        min(f.size, MAX_SIZE),
        f.seed,
        f.preserve_color,
        f.init,
        *weights,
        f.tv_weight,
        f.optimizer,
        f.scales,
        auto,
    )


def preset_note(preset_id: str | None, strength_touched: bool, strength_now: float | None, auto: bool) -> str:
    """The preset's description, and what of its settings the page does not use.

    Also called when "Choose the strength for me" is ticked or unticked: "Your strength
    2.5 is kept" stayed after re-ticking, though the slider was then no longer used.
    """
    preset = registry.presets.get(preset_id or "")
    if preset is None:
        return ""
    f = preset.filter
    note = describe_preset(preset.id)
    if f.style_layers != STYLE_LAYERS:
        note += f"  \n*Uses its own style layers ({', '.join(f.style_layers)}); the layer weights below do not apply.*"
    own = max(0.0, min(10.0, f.strength))
    if auto:
        note += "  \n*The strength is chosen for your photo while it paints; the result says which.*"
    elif strength_touched and strength_now is not None and abs(float(strength_now) - own) > 1e-6:
        note += f"  \n*Your strength {float(strength_now):g} is kept; this preset's own is {own:.3g}.*"
    return note


def auto_strength_changed(auto: bool, preset_id: str | None, mode: str, strength_touched: bool, strength_now: float):
    """Ticking or unticking: the slider is usable only unticked, and the note says what is used."""
    note = preset_note(preset_id, strength_touched, strength_now, auto) if mode == "preset" else gr.skip()
    return gr.Slider(interactive=not auto), note


def pick_preset(evt: gr.SelectData):
    return PRESET_IDS[evt.index]
