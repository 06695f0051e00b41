import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTO
from stylizer import ImageError, images


def _save(image: Image.Image, path, **kwargs):
    image.save(path, **kwargs)
    return path


def test_exif_orientation_is_applied(tmp_path):
    wide = Image.new("RGB", (40, 20), "red")
    wide.paste(Image.new("RGB", (10, 20), "blue"), (0, 0))  # blue band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = _save(wide, tmp_path / "rotated.jpg", exif=exif, quality=95)
    loaded = images.load(path)
    assert loaded.size == (20, 40)
    top = np.asarray(loaded)[:5].mean((0, 1))
    assert top[2] > 150 and top[0] < 100  # the blue band is now on top


@pytest.mark.parametrize(
    "mode,colour,rgb",
    [
        ("L", 128, (128, 128, 128)),
        ("1", 1, (255, 255, 255)),
        ("CMYK", (0, 255, 255, 0), (255, 0, 0)),
        ("RGBA", (255, 0, 0, 255), (255, 0, 0)),
        ("LA", (200, 255), (200, 200, 200)),
    ],
)
def test_modes_become_rgb(tmp_path, mode, colour, rgb):
    suffix = ".jpg" if mode == "CMYK" else ".png"
    path = _save(Image.new(mode, (8, 6), colour), tmp_path / f"img{suffix}", **({"quality": 95} if suffix == ".jpg" else {}))
    loaded = images.load(path)
    assert loaded.mode == "RGB" and loaded.size == (8, 6)
    tolerance = 12 if suffix == ".jpg" else 0  # JPEG's own rounding; PNG is exact
    assert np.abs(np.asarray(loaded, dtype=int) - np.array(rgb)).max() <= tolerance, np.asarray(loaded)[0, 0]


def test_cmyk_red_stays_red(tmp_path):
    path = _save(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), tmp_path / "red.jpg", quality=95)
    r, g, b = np.asarray(images.load(path), dtype=float).mean((0, 1))
    assert r > 200 and g < 60 and b < 60


def test_transparency_is_flattened_on_white(tmp_path):
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert np.asarray(images.load(_save(clear, tmp_path / "a.png"))).min() == 255
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 0, 0] * 256)
    palette.info["transparency"] = 0
    assert np.asarray(images.load(_save(palette, tmp_path / "p.png"))).min() == 255


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 8).astype(np.uint16).reshape(8, 64)
    path = _save(Image.fromarray(ramp), tmp_path / "deep.png")
    loaded = np.asarray(images.load(path))[..., 0]
    assert loaded.min() == 0 and loaded.max() == 255
    assert abs(float(loaded.mean()) - 127.5) < 3


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ("green", "red")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    r, g, b = np.asarray(images.load(path), dtype=float).mean((0, 1))
    assert g > r


def test_missing_file_and_non_image_give_clear_errors(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        images.load(tmp_path / "missing.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    with pytest.raises(ImageError, match="notes.jpg: not an image"):
        images.load(text)
    with pytest.raises(ImageError, match="folder"):
        images.load(tmp_path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty.png"):
        images.load(empty)


def test_truncated_jpeg_is_refused(tmp_path):
    data = PHOTO.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="cut.jpg: cannot decode"):
        images.load(cut)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares huge dimensions: refused before any pixel is decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n"
    for kind, data in ((b"IHDR", ihdr), (b"IDAT", zlib.compress(b"\0" * 64)), (b"IEND", b"")):
        out += struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return out


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(100_000, 100_000))
    with pytest.raises(ImageError, match="bomb.png: .*too large"):
        images.load(bomb)
    moderate = tmp_path / "moderate.png"  # below Pillow's own limit, above ours
    moderate.write_bytes(_png_header_only(9000, 9000))
    with pytest.raises(ImageError, match="moderate.png: 9000x9000 is too large"):
        images.load(moderate)
    with pytest.raises(ImageError, match="too large"):
        images.load(PHOTO, max_pixels=1000)


def test_bytes_and_pil_inputs(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (5, 3), "white").save(buffer, "PNG")
    assert images.load(buffer.getvalue()).size == (5, 3)
    assert images.load(Image.new("L", (2, 2))).mode == "RGB"


def test_fit_keeps_aspect():
    assert images.fit(Image.new("RGB", (1024, 768)), 512).size == (512, 384)
    assert images.fit(Image.new("RGB", (300, 600)), 100).size == (50, 100)


@pytest.mark.parametrize("suffix,fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".jpeg", "JPEG"), (".webp", "WEBP")])
def test_save_format_follows_extension(tmp_path, suffix, fmt):
    path = images.save(Image.new("RGB", (8, 8), "blue"), tmp_path / f"out{suffix}", metadata={"a": 1})
    with Image.open(path) as saved:
        assert saved.format == fmt


def test_png_metadata_round_trip_and_bad_extension(tmp_path):
    path = images.save(Image.new("RGB", (8, 8)), tmp_path / "out.png", metadata={"ratio": 1e-6, "init": "noise"})
    assert images.read_metadata(path) == {"ratio": 1e-6, "init": "noise"}
    with pytest.raises(ImageError, match="unsupported output extension '.gif'"):
        images.save(Image.new("RGB", (8, 8)), tmp_path / "out.gif")
    with pytest.raises(ImageError, match="does not exist"):
        images.save(Image.new("RGB", (8, 8)), tmp_path / "nowhere" / "out.png")


def test_tensor_round_trip_is_exact():
    array = np.random.default_rng(0).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    image = Image.fromarray(array)
    tensor = images.to_tensor(image)
    assert tensor.shape == (1, 3, 6, 9) and tensor.is_contiguous()
    assert np.array_equal(np.asarray(images.to_image(tensor)), array)
