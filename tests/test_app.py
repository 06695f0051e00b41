"""The web app end to end: launched in-process, driven through gradio_client like a user's script."""

from __future__ import annotations

import os
import socket

import pytest

from gradio_client import Client, handle_file
from PIL import Image, ImageChops

from conftest import PHOTO, SECOND_PAINTING


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client():
    previous = os.environ.get("STYLIZER_WARM")
    os.environ["STYLIZER_WARM"] = "0"  # no background warm-up competing with the tests
    try:
        import app
    finally:
        if previous is None:
            os.environ.pop("STYLIZER_WARM", None)
        else:
            os.environ["STYLIZER_WARM"] = previous

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
    import app

    with pytest.raises(Exception, match=f"limit of {app.MAX_SIZE} px"):
        _stylize(client, PHOTO, size=app.MAX_SIZE + 1)


def test_no_preset_and_no_style_asks_for_one(client):
    with pytest.raises(Exception, match="Choose a preset"):
        _stylize(client, PHOTO, preset="")
