"""Several people press Paint at once: when does each see a picture, and the finished painting?
Is each told its true place in line, and how good is the estimate?

`python app.py` runs as its own process, exactly as deployed (its scheduler, budgets and
warm-up); 1, 4, 8 and 16 simulated users then each do what the page does on Paint, through
gradio_client: the instant event (which paints at once and puts the painting in the
scheduler's line, stylizer/scheduler.py) and then the painting event (which follows that job:
its place in line while it waits, then its progress). Per user:

  first picture   the instant painting has reached the client
  started         the first progress line has reached the client
  final           the painting's "Done in ..." update has reached the client
  told            the place in line the instant answer gave ("N paintings ahead of yours")
  estimate        the last "yours starts in about X s" before it started, against the real wait

Each user uploads the same photo with the page's default controls; they press Paint a few
milliseconds apart, in a known order. Then the abuse run: an API caller asks for the largest
painting the budget allows and goes away (its client closed) after 3 s; a person who pressed
Paint meanwhile waits for it: how long until their painting starts. Prints tables; nothing
is checked.

    python bench/concurrency.py [--users 1 4 8 16] [--size 512] [--quality normal]
"""

from __future__ import annotations

import argparse
import os
import re
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


def _inputs(photo: Path, size: int | None, quality: str) -> tuple[list, list]:
    """The inputs of the two Paint events (instant, paint), at the page's defaults, read
    from the app's blocks."""
    os.environ["STYLIZER_WARM"] = "0"  # this process only reads defaults; the server warms itself
    sys.path.insert(0, str(ROOT))
    import gradio as gr
    from gradio_client import handle_file

    import app
    from webapp import handlers

    lists = []
    for handler in (handlers.instant, handlers.paint):
        event = next(fn for fn in app.demo.fns.values() if fn.fn is handler)
        values = {block: getattr(block, "value", None) for block in event.inputs}
        values[app.content] = handle_file(str(photo))
        values[app.quality] = quality
        if size:
            values[app.size] = size
        lists.append([values[block] for block in event.inputs if not isinstance(block, gr.State) and block in values])
    return lists[0], lists[1]


AHEAD = re.compile(r"(\d+) paintings? ahead of yours(?:; yours starts in about (\d+) s)?")


def _user(url: str, inputs: tuple[list, list], results: list, start: threading.Barrier, order: int) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    start.wait()
    time.sleep(0.05 * order)  # pressed in a known order, 50 ms apart
    began = time.perf_counter()
    _, status, *_ = client.predict(*inputs[0], api_name="/instant")
    first = time.perf_counter() - began
    match = AHEAD.search(str(status))
    told = int(match.group(1)) if match else 0
    job = client.submit(*inputs[1], api_name="/paint")
    started = final = None
    estimates: list[tuple[float, float]] = []  # (when told, seconds until start it said)
    seen = 0
    while final is None:
        outputs = job.outputs()
        for picture, status, *_ in outputs[seen:]:
            now = time.perf_counter() - began
            text = str(status or "")
            match = AHEAD.search(text)
            if match and match.group(2) and started is None:
                estimates.append((now, float(match.group(2))))
            if started is None and "iteration" in text:
                started = now
            if text.startswith("Done in"):
                final = now
        seen = len(outputs)
        if job.done() and final is None:
            job.result()
            raise RuntimeError("the painting ended without a result")
        time.sleep(0.01)
    results.append({"order": order, "told": told, "first": first, "started": started, "final": final,
                    "estimates": estimates})


def _estimate_error(result: dict, first_done: float) -> float | None:
    """|estimate - real wait| / real wait, for the first estimate told after the crowd's
    first painting had finished (its speed measured by then; later ones count down)."""
    told = [(when, says) for when, says in result["estimates"] if when >= first_done]
    if not told or result["started"] is None:
        return None
    when, says = told[0]
    real = result["started"] - when
    return abs(says - real) / real if real > 1 else None


def _summary(result: dict, first_done: float) -> dict:
    """What the results file keeps of one person: their times, the place told, and the
    estimate that was scored (when told, what it said) out of how many they were told."""
    told = [(when, says) for when, says in result["estimates"] if when >= first_done]
    kept = {key: value for key, value in result.items() if key != "estimates"}
    return {**kept, "estimate_scored": list(told[0]) if told else None, "estimates_told": len(result["estimates"])}


def _abuse(url: str, inputs: tuple[list, list], photo: Path, size: int, iterations: int) -> float:
    """An API caller asks for the largest painting allowed and goes away after 3 s; a person
    pressed Paint 1 s after it. Seconds from the caller's going away until the person's
    painting started."""
    from gradio_client import Client, handle_file

    caller = Client(url, verbose=False)
    greedy = caller.submit(content=handle_file(str(photo)), preset="starry-night", style=None, strength=None, size=size, iterations=iterations, seed=0,
                           auto_strength=False, api_name="/stylize")
    time.sleep(1)
    person = Client(url, verbose=False)
    pressed = time.perf_counter()
    person.predict(*inputs[0], api_name="/instant")
    job = person.submit(*inputs[1], api_name="/paint")
    time.sleep(max(0.0, 2 - (time.perf_counter() - pressed)))
    greedy.cancel()  # what closing the client, or killing it, does too (tests/test_api_jobs.py)
    gone = time.perf_counter()
    seen = 0
    while True:
        outputs = job.outputs()
        if any("iteration" in str(status or "") for _, status, *_ in outputs[seen:]):
            started = time.perf_counter() - gone
            break
        seen = len(outputs)
        time.sleep(0.01)
    job.cancel()
    return started


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--size", type=int, help="output long side (default: the page's)")
    parser.add_argument("--quality", default="normal", help="the page's Quality choice (default normal)")
    parser.add_argument("--photo", type=Path, default=ROOT / "examples" / "tubingen.jpg")
    parser.add_argument("--no-abuse", action="store_true", help="skip the abuse run")
    args = parser.parse_args()
    inputs = _inputs(args.photo, args.size, args.quality)
    from webapp import settings

    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", "STYLIZER_WARM": "1"}
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    rows, data, abuse = [], {}, None
    try:
        _wait_up(url, server)
        time.sleep(20)  # let the server's preset warm-up finish before the first crowd
        for users in args.users:
            results: list[dict] = []
            start = threading.Barrier(users)
            threads = [threading.Thread(target=_user, args=(url, inputs, results, start, order))
                       for order in range(users)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            firsts, finals = [r["first"] for r in results], [r["final"] for r in results]
            by_start = sorted(results, key=lambda r: r["started"])
            true_places = sum(r["told"] == place for place, r in enumerate(by_start))
            first_done = min(finals)
            errors = [e for e in (_estimate_error(r, first_done) for r in results) if e is not None]
            paintings = sorted(r["final"] - r["started"] for r in results)
            data[users] = [_summary(r, first_done) for r in results]
            row = [
                str(users),
                f"{statistics.median(firsts):.2f}", f"{_percentile(firsts, 0.95):.2f}",
                f"{statistics.median(finals):.1f}", f"{_percentile(finals, 0.95):.1f}",
                f"{sum(paintings):.1f}",
                f"{true_places}/{users}",
                f"{statistics.median(errors):.0%} / {max(errors):.0%}" if errors else "-",
            ]
            rows.append(row)
            print(" | ".join(row), flush=True)  # as each crowd ends: a long run shows its progress
        if not args.no_abuse:
            abuse = _abuse(url, inputs, args.photo, settings.MAX_SIZE, settings.MAX_ITERATIONS)
    finally:
        server.terminate()
        server.wait(30)
    print(f"app.py, quality {args.quality}, size {args.size or 'default'}; {machine()}")
    print(table(["users", "first picture p50 s", "p95 s", "final p50 s", "final p95 s", "sum of paintings s",
                 "told place = start order", "estimate error p50 / max"], rows))
    if abuse is not None:
        print(f"abuse: an API caller asked for {settings.MAX_SIZE} px, {settings.MAX_ITERATIONS} iterations and went "
              f"away after 3 s; a person who had pressed Paint meanwhile started painting {abuse:.1f} s after it went away")
    save_json("concurrency", {"quality": args.quality, "size": args.size, "machine": machine(), "results": data,
                              "abuse_start_after_caller_gone_s": abuse})


if __name__ == "__main__":
    main()
