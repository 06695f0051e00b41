"""The web app end to end: launched in-process, driven through gradio_client like a user's script."""

from __future__ import annotations

import json
import os
import re
import socket
import time

import pytest

import httpx
from gradio_client import Client, handle_file
from PIL import Image, ImageChops

from conftest import PHOTO, ROOT, SECOND_PAINTING
from stylizer import images


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


USER_PRESET = "persistence-of-memory"
OWN_LAYERS = "own-layers"  # a preset with settings of its own, some of which the page cannot show


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # A user's own preset folder, added as presets/README.md says: no code changes.
    folder = tmp_path_factory.mktemp("my-presets")
    Image.new("RGB", (64, 48), (190, 150, 70)).save(folder / "my_painting.jpg")
    (folder / f"{USER_PRESET}.yaml").write_text("name: The Persistence of Memory\nstyle: my_painting.jpg\n")
    (folder / f"{OWN_LAYERS}.yaml").write_text(
        "name: Own layers\nstyle: my_painting.jpg\nstrength: 3.3\ninit: style\nsize: 96\nseed: 7\n"
        "iterations: 6\nscales: 1\nstyle_layers: [conv1_1, conv2_1, conv3_1]\nlayer_weights: [1, 1, 1]\n"
    )
    env = {"STYLIZER_WARM": "0", "STYLIZER_PRESETS": str(folder)}  # no warm-up competing with tests
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        import app
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    port = _free_port()
    app.demo.queue().launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, show_error=True
    )
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        app.demo.close()


def _stylize(client, content, **overrides):
    args = dict(preset="starry-night", style=None, strength=6, size=48, iterations=6, seed=0)
    args.update(overrides)
    return client.predict(content=handle_file(str(content)), api_name="/stylize", **args)


def test_stylize_endpoint_paints_the_photo(client):
    path = _stylize(client, PHOTO)
    with Image.open(path) as painted:
        painted.load()
        assert painted.format == "PNG"
        assert max(painted.size) == 48
        assert abs(painted.width / painted.height - 1024 / 768) < 0.05
        photo = Image.open(PHOTO).convert("RGB").resize(painted.size)
        difference = ImageChops.difference(painted.convert("RGB"), photo)
        assert max(hi for _, hi in difference.getextrema()) > 30  # really repainted


def test_user_preset_folder_is_offered_and_usable(client):
    from webapp import services

    assert USER_PRESET in services.PRESET_IDS
    path = _stylize(client, PHOTO, preset=USER_PRESET, size=40, iterations=3)
    with Image.open(path) as painted:
        assert max(painted.size) == 40


def test_own_style_when_preset_is_empty(client):
    path = _stylize(client, PHOTO, preset="", style=handle_file(str(SECOND_PAINTING)), size=40, iterations=3)
    with Image.open(path) as painted:
        assert max(painted.size) == 40


def test_text_file_as_photo_is_refused_with_a_message(client, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    with pytest.raises(Exception, match="Cannot use this photo.*notes.txt.*not an image"):
        _stylize(client, notes)


def test_unknown_preset_is_named(client):
    with pytest.raises(Exception, match="unknown preset 'starry-nite'.*did you mean 'starry-night'"):
        _stylize(client, PHOTO, preset="starry-nite")


def test_output_size_is_capped(client):
    from webapp import settings

    with pytest.raises(Exception, match=f"limit of {settings.MAX_SIZE} px"):
        _stylize(client, PHOTO, size=settings.MAX_SIZE + 1)


def test_no_preset_and_no_style_asks_for_one(client):
    with pytest.raises(Exception, match="Choose a preset"):
        _stylize(client, PHOTO, preset="")


@pytest.mark.parametrize("strength", [99, -1])
def test_strength_outside_0_to_10_is_refused(client, strength):
    with pytest.raises(Exception, match=r"strength: expected a number from 0 to 10"):
        _stylize(client, PHOTO, strength=strength)


def test_old_results_are_deleted_so_a_long_running_space_keeps_its_disk(client):
    from webapp import controls, results, settings

    controls.mask_canvas(str(PHOTO))  # the page makes one for every photo, as a file among the results
    _stylize(client, PHOTO, size=40, iterations=2)
    old = list(results.RESULTS_DIR.iterdir())
    assert old, "results are saved under RESULTS_DIR"
    two_hours_ago = time.time() - 2 * settings.RESULT_MAX_AGE_S
    for folder in old:
        os.utime(folder, (two_hours_ago, two_hours_ago))
    _stylize(client, PHOTO, size=40, iterations=2)
    assert not any(folder.exists() for folder in old), "results older than RESULT_MAX_AGE_S must be deleted"
    assert len(list(results.RESULTS_DIR.iterdir())) == 1, "the new result stays"


def test_the_api_uses_a_presets_own_settings_unless_given(client):
    from stylizer import images
    from stylizer.filter import ratio_from_strength

    path = _stylize(client, PHOTO, preset=OWN_LAYERS, strength=None, size=None, iterations=None, seed=None)
    used = images.read_metadata(path)["filter"]
    assert used["ratio"] == pytest.approx(ratio_from_strength(3.3))
    assert (used["size"], used["seed"], used["iterations"], used["init"]) == (96, 7, 6, "style")
    assert used["style_layers"] == ["conv1_1", "conv2_1", "conv3_1"]


def _page_sends(preset_id, touched=False, strength_now=None):
    """What Paint sends after the page picked `preset_id` (the controls as preset_controls set them)."""
    from webapp import controls

    out = controls.preset_controls(preset_id, touched, strength_now)
    strength, size, seed, colour, init = out[2:7]
    if not isinstance(strength, (int, float)):
        strength = strength_now  # skipped: the slider keeps the user's value
    weights = [getattr(w, "value", None) or 1.0 for w in out[7:12]]  # inactive fields keep some value
    tv_weight, optimizer, scales, auto = out[12:]
    if not isinstance(auto, bool):
        auto = False  # skipped: the box keeps the user's value, unticked here
    rest = [None, 1.0] * 3 + [strength, auto, "normal", size, init, colour, seed, *weights, tv_weight, optimizer, scales,
                              None, None, ""]  # no mask
    return controls.controls_filter(str(PHOTO), "preset", preset_id, rest)[1], out[0]


@pytest.mark.parametrize("preset_id", [OWN_LAYERS, "starry-night", "the-scream"])
def test_a_preset_is_one_filter_in_the_page(client, preset_id):
    from webapp import services

    sent, _ = _page_sends(preset_id)
    assert sent == services.registry.get(preset_id).filter


def test_picking_a_preset_keeps_the_strength_the_user_chose_and_says_so(client):
    sent, note = _page_sends(OWN_LAYERS, touched=True, strength_now=8.0)
    assert sent.strength == pytest.approx(8.0)
    assert "Your strength 8 is kept" in note and "3.3" in note
    assert "the layer weights below do not apply" in note


def test_the_mask_panel_gives_a_mask_from_brush_strokes_or_an_upload(client, tmp_path):
    import gradio as gr

    from webapp import controls, services, settings

    assert controls.controls_mask(None, None, "") is None
    empty = images.Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    assert controls.controls_mask({"background": None, "layers": [empty], "composite": None}, None, "") is None
    stroke = empty.copy()
    stroke.paste((255, 45, 85, 255), (0, 0, 20, 30))
    mask = controls.controls_mask({"background": None, "layers": [stroke], "composite": None}, None, "great-wave")
    assert mask.outside == services.registry.get("great-wave").filter
    grey = mask.image()
    assert grey.getpixel((5, 5)) == 255 and grey.getpixel((30, 5)) == 0
    upload = tmp_path / "mask.png"
    images.Image.new("L", (8, 8), 255).save(upload)
    chosen = controls.controls_mask({"background": None, "layers": [stroke], "composite": None}, str(upload), "")
    assert chosen.image().size == (8, 8), "an uploaded mask wins over strokes"
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(gr.Error, match="mask"):
        controls.controls_mask(None, str(tmp_path / "notes.png"), "")
    canvas = controls.mask_canvas(str(PHOTO))
    assert images.load(canvas["background"]).size[0] <= settings.MASK_CANVAS_SIDE and canvas["layers"] == []


def test_auto_strength_from_the_api_and_from_the_page(client):
    from stylizer import images

    path = _stylize(client, PHOTO, size=256, iterations=20, auto_strength=True)
    used = images.read_metadata(path)
    assert used["filter"]["auto_strength"] is True and "auto_level" in used["stats"]
    fixed = images.read_metadata(_stylize(client, PHOTO, size=256, iterations=20))  # strength=6 given
    assert fixed["filter"]["auto_strength"] is False and "auto_level" not in fixed["stats"]
    own = images.read_metadata(_stylize(client, PHOTO, strength=None, size=256, iterations=20))
    assert own["filter"]["auto_strength"] is True, "no strength given: the preset's own, auto"

    from webapp import controls

    # The page: the box ticked sends auto; unticked, the slider's strength.
    rest = [None, 1.0] * 3 + [3.0, True, "normal", 256, "content", "none", 0, 1, 0.8, 0.5, 0.3, 0.1, 0.0, "lbfgs", 3,
                              None, None, ""]
    sent = controls.controls_filter(str(PHOTO), "preset", "starry-night", rest)[1]
    assert sent.auto_strength and sent.strength == pytest.approx(6.0), "auto starts from the default strength"
    rest[7] = False
    sent = controls.controls_filter(str(PHOTO), "preset", "starry-night", rest)[1]
    assert not sent.auto_strength and sent.strength == pytest.approx(3.0)


@pytest.mark.parametrize("path", ["/etc/hostname", "file:///etc/hostname"])
def test_a_file_named_by_its_server_path_is_refused_in_our_words(client, path):
    """A raw API call (not gradio_client, which uploads the file) naming a file on the server:
    Gradio refused it with the path, and for file:// the app's working folder, in the message."""
    data = [{"path": path, "meta": {"_type": "gradio.FileData"}}, "starry-night", None, 6, 48, 2, 0, False]
    event = httpx.post(client.src + "gradio_api/call/stylize", json={"data": data}, timeout=30).json()["event_id"]
    answer = httpx.get(client.src + f"gradio_api/call/stylize/{event}", timeout=60).text
    assert "event: error" in answer, answer
    message = json.loads(answer.split("data:", 1)[1].strip().splitlines()[0])["error"]
    assert "only as uploads" in message, message
    for secret in ("/etc", "hostname", os.getcwd(), str(ROOT), "cache dir"):
        assert secret not in message, f"{secret!r} in {message!r}"


def test_the_quality_note_states_quicks_cost_as_measured(client):
    """'Quick: a few seconds more' than Instant was false (16-44 s on a busy 2-core machine);
    the note now says what the benchmark measured: Quick costs about half of Normal's time."""
    import app
    from webapp import settings

    measured = json.loads((ROOT / "bench" / "results" / "qualities.json").read_text())["results"]
    pairs = {key.split("/")[0] for key in measured}
    shares = [measured[f"{pair}/quick"]["seconds"] / measured[f"{pair}/normal"]["seconds"] for pair in pairs]
    assert all(0.35 <= share <= 0.7 for share in shares), shares  # "about half", as measured
    assert "a few seconds" not in settings.QUALITY_INFO
    assert "Quick: about half of Normal's time" in settings.QUALITY_INFO
    assert app.quality.info == settings.QUALITY_INFO, "the page shows the note"


def test_a_mask_or_painting_that_is_not_an_image_is_refused_at_upload_in_plain_words(client, tmp_path):
    from webapp import uploads

    notes = tmp_path / "notes.jpg"
    notes.write_text("a shopping list")
    kept, said = uploads.check_mask(str(notes))
    assert kept is None, "the bad file is not kept as the mask"
    assert "Cannot use this mask (notes.jpg): not an image" in said, said
    assert str(tmp_path) not in said and "cannot identify" not in said and said.count("notes.jpg") == 1, said
    kept, said = uploads.check_painting(str(notes))
    assert kept is None and "Cannot use this painting (notes.jpg): not an image" in said, said
    good = tmp_path / "mask.png"
    images.Image.new("L", (16, 12), 255).save(good)
    assert "Mask ready" in uploads.check_mask(str(good))[1]
    assert "Painting ready (16×12 px)" in uploads.check_painting(str(good))[1]


def test_a_photo_much_smaller_than_the_painting_is_warned_about_at_upload(client, tmp_path):
    from webapp import uploads

    tiny = tmp_path / "tiny.png"
    images.Image.new("RGB", (8, 8), (200, 40, 40)).save(tiny)
    said = uploads.check_photo(str(tiny), 256)[1]
    assert "8×8" in said and "enlarged 32×" in said and "blurred" in said, said
    said = uploads.check_photo(str(PHOTO), 512)[1]  # 1024 px: shrunk, not enlarged
    assert "enlarged" not in said and "Photo ready" in said, said


def test_brush_layers_get_the_upload_limit_before_they_are_decoded(client, tmp_path):
    """Gradio's ImageEditor decoded every layer in full; a layer over the limit is refused
    from its header (here a 1-pixel-over layer, with the limit lowered for the test)."""
    import gradio as gr
    from gradio.data_classes import FileData
    from gradio.components.image_editor import EditorData

    import app
    from webapp import settings

    layer = tmp_path / "layer.png"
    images.Image.new("RGBA", (400, 300), (0, 0, 0, 0)).save(layer)
    payload = EditorData(background=None, layers=[FileData(path=str(layer))], composite=None)
    assert app.mask_editor.preprocess(payload)["layers"][0].size == (400, 300), "within the limit: decoded"
    limit = settings.MAX_UPLOAD_PIXELS
    settings.MAX_UPLOAD_PIXELS = 400 * 300 - 1
    try:
        with pytest.raises(gr.Error, match="Cannot use the brush strokes: 400x300 is too large"):
            app.mask_editor.preprocess(payload)
    finally:
        settings.MAX_UPLOAD_PIXELS = limit


def test_an_uploaded_mask_gets_the_upload_limit_at_paint_too(client, tmp_path):
    import gradio as gr

    from webapp import controls, settings

    mask = tmp_path / "mask.png"
    images.Image.new("L", (400, 300), 255).save(mask)
    limit = settings.MAX_UPLOAD_PIXELS
    settings.MAX_UPLOAD_PIXELS = 400 * 300 - 1
    try:
        with pytest.raises(gr.Error, match=re.escape("Cannot use this mask (mask.png): 400x300 is too large")):
            controls.controls_mask(None, str(mask), "")
    finally:
        settings.MAX_UPLOAD_PIXELS = limit


def test_ticking_choose_the_strength_drops_the_note_that_the_slider_is_kept(client):
    from webapp import controls

    _, note = _page_sends(OWN_LAYERS, touched=True, strength_now=2.5)
    assert "Your strength 2.5 is kept" in note
    slider, note = controls.auto_strength_changed(True, OWN_LAYERS, "preset", True, 2.5)
    assert "is kept" not in note and "chosen for your photo" in note, note
    assert slider.interactive is False
    slider, note = controls.auto_strength_changed(False, OWN_LAYERS, "preset", True, 2.5)
    assert "Your strength 2.5 is kept" in note and slider.interactive is True
