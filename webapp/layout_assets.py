"""The page's CSS and browser-side JavaScript (Gradio 6 takes the CSS in launch())."""

# Paint's own scroll, in the browser: only when the painting is mostly out of view (a phone).
SCROLL_TO_PAINTING = """() => {
    const painting = document.querySelector('#painting');
    if (!painting) return;
    const box = painting.getBoundingClientRect();
    if (box.top > window.innerHeight * 0.5 || box.bottom < 0) painting.scrollIntoView({block: 'center'});
}"""

# On a phone: three paintings a row with their whole names, the gallery as tall as it needs.
CSS = """
@media (max-width: 640px) {
  #preset-gallery .grid-container { --grid-cols: 3 !important; }
  #preset-gallery, #preset-gallery .grid-wrap { height: auto !important; max-height: none !important; }
}
#preset-gallery .caption-label { white-space: normal; overflow: visible; text-overflow: clip; line-height: 1.2; }
"""
