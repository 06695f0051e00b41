"""The web app's parts, one job a module; app.py (the Space's entry point) lays out the page
and wires these to it.

  settings       environment settings and the page's constants
  services       the one Stylizer, the painter, the preset registry, the warm-up
  line           who waits and who paints: tickets, cancel flags, the queue sentence
  zerogpu        the ZeroGPU adapter: stylize_stream and its GPU time request
  uploads        upload checks and refusals in people's words
  controls       controls -> Filter and mask; preset controls and notes
  results        saved results and their clean-up
  gallery        thumbnails and examples
  handlers       Paint (instant, then the painting), Cancel
  api            the /stylize endpoint
  layout_assets  the page's CSS and browser-side JS
"""
