"""The web app's parts, one job a module; app.py (the Space's entry point) lays out the page
and wires these to it.

  settings       environment settings and the page's constants
  services       the one Stylizer, its painter and the job scheduler in front of it (where
                 every painting waits, starts and is cancelled), the preset registry, the warm-up
  zerogpu        the ZeroGPU adapter: a painter whose paintings run in the GPU worker, and
                 the GPU time each requests
  uploads        upload checks and refusals in people's words
  controls       controls -> Filter and mask; preset controls and notes
  results        saved results and their clean-up
  gallery        thumbnails and examples
  handlers       Paint (instant, then the painting's job followed), Cancel, a closed tab
  api            the /stylize endpoint
  layout_assets  the page's CSS and browser-side JS
"""
