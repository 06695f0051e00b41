"""Several people press Paint at once: when does each see a picture, and the finished painting?

`python app.py` runs as its own process, exactly as deployed (its queue, concurrency and
warm-up); 1, 4 and 8 simulated users then each do what the page does on Paint, through
gradio_client: the instant event (which has its own lane in the queue) and then the
painting event (which waits its turn, one painting at a time by default). Per user:

  first picture   the instant painting has reached the client
  final           the painting's "Done in ..." update has reached the client

Each user uploads the same photo with the page's default controls. Prints p50/p95/max per
crowd size; nothing is checked.

    python bench/concurrency.py [--users 1 4 8] [--size 512] [--quality normal]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from common import ROOT, machine, save_json, table


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, server: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"app.py exited with {server.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("app.py did not come up")


def _page_inputs(photo: Path, size: int | None, quality: str) -> list:
    """The inputs both Paint events take, at the page's defaults, read from the app's blocks."""
    os.environ["STYLIZER_WARM"] = "0"  # this process only reads defaults; the server warms itself
    sys.path.insert(0, str(ROOT))
    import gradio as gr
    from gradio_client import handle_file

    import app
    from webapp import handlers

    paint = next(fn for fn in app.demo.fns.values() if fn.fn is handlers.paint)
    values = {block: getattr(block, "value", None) for block in paint.inputs}
    values[app.content] = handle_file(str(photo))
    values[app.quality] = quality
    if size:
        values[app.size] = size
    return [values[block] for block in paint.inputs if not isinstance(block, gr.State)]


def _user(url: str, inputs: list, results: list, start: threading.Barrier) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    start.wait()
    began = time.perf_counter()
    client.predict(*inputs, api_name="/instant")
    first = time.perf_counter() - began
    job = client.submit(*inputs, api_name="/paint")
    final = None
    while final is None:
        for picture, status, *_ in job.outputs():
            if str(status or "").startswith("Done in"):
                final = time.perf_counter() - began
        if job.done() and final is None:
            job.result()
            raise RuntimeError("the painting ended without a result")
        time.sleep(0.01)
    results.append((first, final))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--size", type=int, help="output long side (default: the page's)")
    parser.add_argument("--quality", default="normal", help="the page's Quality choice (default normal)")
    parser.add_argument("--photo", type=Path, default=ROOT / "examples" / "tubingen.jpg")
    args = parser.parse_args()
    inputs = _page_inputs(args.photo, args.size, args.quality)
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", "STYLIZER_WARM": "1"}
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    rows, data = [], {}
    try:
        _wait_up(url, server)
        time.sleep(20)  # let the server's preset warm-up finish before the first crowd
        for users in args.users:
            results: list[tuple[float, float]] = []
            start = threading.Barrier(users)
            threads = [threading.Thread(target=_user, args=(url, inputs, results, start)) for _ in range(users)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            firsts, finals = [r[0] for r in results], [r[1] for r in results]
            data[users] = {"first": firsts, "final": finals}
            rows.append([
                str(users),
                f"{statistics.median(firsts):.2f}", f"{_percentile(firsts, 0.95):.2f}",
                f"{statistics.median(finals):.1f}", f"{_percentile(finals, 0.95):.1f}", f"{max(finals):.1f}",
            ])
    finally:
        server.terminate()
        server.wait(30)
    print(f"app.py, quality {args.quality}, size {args.size or 'default'}; {machine()}")
    print(table(["users", "first picture p50 s", "p95 s", "final p50 s", "final p95 s", "final max s"], rows))
    save_json("concurrency", {"quality": args.quality, "size": args.size, "machine": machine(), "results": data})


if __name__ == "__main__":
    main()
