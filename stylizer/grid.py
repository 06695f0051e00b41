"""Labelled image grids: the figures of the paper's experiments and the preset sheet."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from .images import fit

LABEL_HEIGHT = 28
GAP = 6


def labelled_grid(
    cells: list[tuple[Image.Image, str]], columns: int, cell_side: int = 256, title: str | None = None
) -> Image.Image:
    """Cells fitted into `cell_side` boxes in rows of `columns`, each with a caption below.

    Boxes are only as tall as the tallest fitted image, so landscape photos do not float
    in empty squares far from their captions.
    """
    columns = max(1, min(columns, len(cells)))
    rows = -(-len(cells) // columns)
    font = _font(16)
    thumbs = [fit(image, cell_side) for image, _ in cells]
    cell_height = max(thumb.height for thumb in thumbs)
    title_height = LABEL_HEIGHT + GAP if title else 0
    width = columns * (cell_side + GAP) + GAP
    height = title_height + rows * (cell_height + LABEL_HEIGHT + GAP) + GAP
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((GAP, GAP + 4), title, fill="black", font=_font(18))
    for index, (thumb, (_, label)) in enumerate(zip(thumbs, cells)):
        row, column = divmod(index, columns)
        x0 = GAP + column * (cell_side + GAP)
        y0 = title_height + GAP + row * (cell_height + LABEL_HEIGHT + GAP)
        sheet.paste(thumb, (x0 + (cell_side - thumb.width) // 2, y0 + (cell_height - thumb.height) // 2))
        text = _ellipsize(draw, label, font, cell_side)
        text_width = draw.textlength(text, font=font)
        draw.text((x0 + (cell_side - text_width) / 2, y0 + cell_height + 5), text, fill="black", font=font)
    return sheet


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _ellipsize(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
