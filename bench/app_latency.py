"""How long a web-app user waits: time to the first live preview and to the finished painting.

Measured the way the page gets them: the app (`app.demo`) is launched in this process and
its Paint event is called through gradio_client's `submit`, i.e. through Gradio's queue,
the server-sent event stream, the app's own `paint` generator (worker thread, previews,
PNG encoding) and the download of every image. The clock starts just before `submit`,
and an event counts when its update has reached the client with its files:

  first status    the first progress line ("Scale 1/3 ... iteration 1/100")
  first preview   the first update that carries a picture while the run is still going
  final           the update whose status says "Done in ..." (the result, download, slider)

Calling `paint` directly would leave out the queue, encoding and transport that a user also
waits for; a browser would add page rendering on top, which is small next to the painting.

Every control starts at the page's own default (preset, strength, quality, size, colours,
advanced settings: read from the app's components), so with no flags this measures what a
first-time user gets by uploading a photo and pressing Paint. --size and --iterations make
it short. With STYLIZER_WARM left on (as in production) the presets' style targets are
precomputed at start, and the measurement waits for that first; --no-warm skips it, so the
first run also pays for them. --quality takes the page's Quality choices (instant, quick,
draft, normal, high). Prints numbers only; nothing is checked. The instant painting that
the page shows first is measured by bench/concurrency.py.

  python bench/app_latency.py                              # defaults: ~35 s on 2 CPU cores
  python bench/app_latency.py --size 128 --quality draft --no-warm --runs 2
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photo", type=Path, default=ROOT / "examples" / "tubingen.jpg")
    parser.add_argument("--preset", help="preset id (default: the page's default)")
    parser.add_argument("--size", type=int, help="output long side in px (default: the page's)")
    parser.add_argument("--quality", help="one of the page's Quality choices (default: the page's)")
    parser.add_argument("--runs", type=int, default=1, help="paint this many times, one after another")
    parser.add_argument("--no-warm", action="store_true", help="do not precompute the presets' style targets")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    if args.no_warm:
        os.environ["STYLIZER_WARM"] = "0"
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    import gradio as gr
    from gradio_client import Client, handle_file

    import app
    from webapp import handlers, services, settings

    if args.quality and args.quality not in dict(settings.QUALITY).values():
        raise SystemExit(f"--quality must be one of the page's Quality choices: {list(dict(settings.QUALITY).values())}")
    print(f"app imported in {time.perf_counter() - started:.1f} s ({services.stylizer.description})")
    warm = [t for t in threading.enumerate() if t.name == "warm-presets"]
    if warm:
        started = time.perf_counter()
        warm[0].join()
        print(f"preset warm-up finished {time.perf_counter() - started:.1f} s later")

    paint = next(fn for fn in app.demo.fns.values() if fn.fn is handlers.paint)
    values = {block: getattr(block, "value", None) for block in paint.inputs}
    values[app.content] = handle_file(str(args.photo))
    if args.preset:
        values[app.preset] = args.preset
    if args.size:
        values[app.size] = args.size
    if args.quality:
        values[app.quality] = args.quality
    inputs = [values[block] for block in paint.inputs if not isinstance(block, gr.State)]  # the server keeps those
    print(f"settings: preset {values[app.preset]}, size {values[app.size]} px, "
          f"quality {values[app.quality]}, photo {args.photo.name}")

    port = _free_port()
    app.demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=app.CSS)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for run in range(1, args.runs + 1):
            _measure(client, paint.api_name, inputs, run)
    finally:
        app.demo.close()


def _measure(client, api_name: str, inputs: list, run: int) -> None:
    times: dict[str, float] = {}
    seen = 0
    started = time.perf_counter()
    job = client.submit(*inputs, api_name=f"/{api_name}")
    while "final" not in times:
        outputs = job.outputs()
        for picture, status, *_ in outputs[seen:]:
            now = time.perf_counter() - started
            status = str(status or "")
            if "iteration" in status:
                times.setdefault("first status", now)
                if picture is not None:
                    times.setdefault("first preview", now)
            if status.startswith("Done in"):
                times["final"] = now
                print(f"run {run}: app says: {status.replace('**', '')}")
        seen = len(outputs)
        if job.done() and "final" not in times:
            job.result()  # raises the app's error, if there was one
            raise SystemExit(f"run {run}: the app finished without a result")
        time.sleep(0.005)
    print(f"run {run}: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in times.items()))


if __name__ == "__main__":
    main()
