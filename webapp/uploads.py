"""Uploads: decoded through the core's loader, checked the moment they arrive, refused in
people's words; files named by their server path are not uploads and are refused too."""

from __future__ import annotations

import io
from pathlib import Path

import gradio as gr
from gradio.exceptions import InvalidPathError

from stylizer import StylizerError, images
from stylizer.masks import mask_image
from webapp import settings  # MAX_UPLOAD_PIXELS is read at each call (tests lower it)


def refusal(exc: Exception, path: str | None, what: str) -> str:
    """'Cannot use this mask (notes.jpg): not an image ...': the core's message, said once.

    The core names the file by its full path (in Gradio's upload folder, which means
    nothing to the person) and may name it twice; the page names it once, by its own name.
    """
    name = Path(path).name if path else what
    reason = str(exc)
    if path:
        for prefix in (f"mask {path}: ", f"{path}: "):
            if reason.startswith(prefix):
                reason = reason[len(prefix):]
                break
        reason = reason.replace(str(path), name)
    return f"Cannot use this {what} ({name}): {reason.rstrip('.')}."


def load_image(path: str | None, what: str = "photo"):
    """Decode an upload through the core's loader; bad files become a message for people.

    Photos larger than the app can paint are scaled down while decoding (a 48 or 108 MP
    phone photo just works); only what is decoded counts against STYLIZER_MAX_UPLOAD_PIXELS.
    """
    if not path:
        raise gr.Error(f"Add a {what} first: upload one, paste it, or take one with the webcam.")
    try:
        return images.load(path, max_pixels=settings.MAX_UPLOAD_PIXELS, reduce_to=settings.WORKING_SIDE)
    except StylizerError as exc:
        raise gr.Error(refusal(exc, path, what), title="Bad image") from None


def check_photo(path: str | None, size: float | None = None):
    """Right after an upload: say at once, in our own words, whether the file can be painted;
    a file that cannot is not kept as the photo. A photo far smaller than the painting is
    painted anyway, but the person hears why it will look blurred (an 8x8 photo was
    enlarged 32x without a word)."""
    if not path:
        return gr.skip(), settings.READY
    try:
        photo = load_image(path)
    except gr.Error as exc:
        return None, f"**{exc.message}**"
    ready = f"Photo ready ({photo.width}×{photo.height} px)."
    side = int(size or settings.DEFAULT_SIZE)
    enlarged = side / max(photo.size)
    if enlarged > settings.ENLARGE_WARNING:
        return gr.skip(), (
            f"{ready} **It is much smaller than the painting ({side} px): enlarged {enlarged:.0f}×, "
            "it will look blurred. A larger photo gives a sharper painting.**"
        )
    return gr.skip(), f"{ready} Pick a painting and press **Paint**."


def check_mask(path: str | None):
    """Right after a mask's upload, as for the photo: a file that is not an image, or one
    over the upload limit, is refused here in words, not at Paint."""
    if not path:
        return gr.skip(), gr.skip()
    try:
        mask_image(path, max_pixels=settings.MAX_UPLOAD_PIXELS)
    except StylizerError as exc:
        return None, f"**{refusal(exc, path, 'mask')}**"
    return gr.skip(), "Mask ready: the style goes where it is white."


def check_painting(path: str | None):
    """Right after an own painting's upload: refused at once, in words, if it cannot be used."""
    if not path:
        return gr.skip(), gr.skip()
    try:
        painting = load_image(path, "painting")
    except gr.Error as exc:
        return None, f"**{exc.message}**"
    return gr.skip(), f"Painting ready ({painting.width}×{painting.height} px)."


def limit_editor_pixels(editor: gr.ImageEditor) -> gr.ImageEditor:
    """The brush canvas's layers get the upload limit before Gradio decodes them.

    Gradio's ImageEditor opens every layer in full before our handlers see it, so a call
    that sends a 169 MP layer cost 169 MP of memory; the sizes are in the files' headers.
    """
    original = editor.preprocess

    def preprocess(payload):
        for file in _editor_files(editor, payload):
            try:
                with images.Image.open(file.path if hasattr(file, "path") else io.BytesIO(file)) as layer:
                    images.check_pixels(layer, "the brush strokes", settings.MAX_UPLOAD_PIXELS)
            except StylizerError as exc:
                raise gr.Error(f"Cannot use the brush strokes: {str(exc).split(': ', 1)[-1]}") from None
            except (OSError, ValueError, images.Image.DecompressionBombError):
                pass  # not an image: Gradio's own preprocess says so
        return original(payload)

    editor.preprocess = preprocess
    return editor


def _editor_files(editor: gr.ImageEditor, payload) -> list:
    """Every image an ImageEditor payload holds: files, or bytes it cached by id."""
    if payload is None:
        return []
    data = editor.blob_storage.get(payload.id) if payload.id is not None else payload
    if data is None:
        return []
    return [f for f in (data.background, *(data.layers or []), data.composite) if f is not None]


def raw_path_upload(component: gr.Image) -> gr.Image:
    """Hand our handlers the uploaded file's path without Gradio opening it first.

    Gradio's own check opens every upload with Pillow and, for a file that is not an
    image (or a photo over Pillow's limit), shows its internal "Could not preprocess input
    component" text; our loader gives the reason in words instead.
    """
    original = component.preprocess

    def preprocess(payload):
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return str(payload.path)
        return original(payload)

    component.preprocess = preprocess
    return component


SERVER_PATH_REFUSAL = (
    "This app takes files only as uploads: send the file itself (gradio_client's handle_file "
    "uploads it), not a path or a file:// address on the server."
)


def refuse_server_paths(blocks: gr.Blocks) -> None:
    """Answer a call that names a file on the server with our own words.

    Gradio refuses such a file (good) with a message that echoes the path, and for a
    file:// address the app's working folder ("Cannot move /srv/app/file:/etc/passwd to
    the gradio cache dir because it was not uploaded by a user"). Its refusals come from
    Blocks.preprocess_data (gradio 6: processing_utils._check_allowed raises
    InvalidPathError, check_all_files_in_cache a gr.Error), before any handler of ours runs,
    so that is where they are replaced.
    """
    original = blocks.preprocess_data

    async def preprocess_data(*args, **kwargs):
        try:
            return await original(*args, **kwargs)
        except InvalidPathError:
            raise gr.Error(SERVER_PATH_REFUSAL, title="Not an upload") from None
        except gr.Error as exc:
            if "is not in the cache folder" in str(exc.message):
                raise gr.Error(SERVER_PATH_REFUSAL, title="Not an upload") from None
            raise

    blocks.preprocess_data = preprocess_data
