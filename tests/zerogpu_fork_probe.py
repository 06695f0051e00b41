"""Run zerogpu.stylize_stream through the real `spaces.GPU` fork, as on a ZeroGPU Space.

Started as its own process by tests/test_zerogpu.py (the `spaces` package reads its settings
at import, and patches torch for the whole process). The one thing that is not the real
Space is the device API: Hugging Face's scheduler, which hands out a GPU and an allow token.
A few lines below answer its four calls the way it does when a GPU is free. Everything else
is the package's own code: the fork, the pickled queues, the worker's CUDA start and the
copy of the network's weights onto the GPU.

Prints one JSON line: what came back through the fork.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class DeviceAPI(BaseHTTPRequestHandler):
    """/schedule grants GPU 0 at once; /allow, /release and /startup-report say OK."""

    def do_POST(self) -> None:
        granted = {"idle": True, "nvidiaIndex": 0, "nvidiaUUID": os.environ.get("ZEROGPU_PROBE_GPU", "0"),
                   "allowToken": "probe"}
        body = json.dumps(granted if self.path.startswith("/schedule") else {}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), DeviceAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ.update(SPACES_ZERO_GPU="1", SPACES_ZERO_DEVICE_API_URL=f"http://127.0.0.1:{server.server_port}/",
                      STYLIZER_WARM="0")
    import contextlib

    from webapp import settings, zerogpu
    from stylizer import Filter, Progress, Result, images

    photo = images.load(ROOT / "examples" / "tubingen.jpg")
    flt = Filter(styles=(ROOT / "presets" / "styles" / "starry_night.jpg",), size=64, scales=1, iterations=12)
    items = list(zerogpu.stylize_stream(photo, flt, "normal", None, 4))
    result = items[-1]
    # Closing the stream mid-painting (Gradio's Cancel on ZeroGPU) must end it, and the
    # worker must then take the next painting.
    long = flt.replace(iterations=100_000)
    with contextlib.closing(zerogpu.stylize_stream(photo, long)) as stream:
        first = next(stream)
    again = list(zerogpu.stylize_stream(photo, flt))[-1]
    print(json.dumps({
        "zero_gpu": settings.ZERO_GPU,
        "main_pid": os.getpid(),
        "previews": sum(isinstance(i, Progress) and i.preview is not None for i in items),
        "result": isinstance(result, Result),
        "device": result.stats.device,
        "size": list(result.image.size),
        "after_close": type(first).__name__,
        "again_device": again.stats.device,
    }))


if __name__ == "__main__":
    main()
