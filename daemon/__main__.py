"""`python -m daemon`: watch folders and stylize what lands there.

    python -m daemon INBOX --out OUTBOX          # zero-config: INBOX/<preset-id>/ -> OUTBOX/<preset-id>/
    python -m daemon --config daemon.yaml        # rules, formats, sizes, several folders
    python -m daemon INBOX --out OUTBOX --ray auto   # paint on the Ray cluster of this machine
    python -m daemon status --out OUTBOX         # what it is doing (or --config daemon.yaml)
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from stylizer.devices import DEVICES, PRECISIONS
from stylizer.errors import StylizerError
from stylizer.progname import program_name
from stylizer.quality import QUALITIES

from .config import (
    DEFAULT_QUALITY,
    DEFAULT_SETTLE_SECONDS,
    FORMATS,
    ORIGINALS,
    flag_settings,
    output_of_broken_config,
    ray_settings,
    read_config,
    state_dir_for,
    zero_config,
)
from .status import describe, read_status, recall_output

PROG = program_name("daemon")  # `stylizer-daemon` when installed, `python -m daemon` otherwise


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["status"]:
        return _status(argv[1:])
    args = _parse_run(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    source = _config_source(args)
    # Blocked here, before any thread exists, the stop signals stay blocked in every thread
    # the daemon starts and reach only `sigwait` below. A Python handler would run only when
    # the main thread next wakes up, and a signal landing in a worker thread left it asleep.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        from .service import WatchService  # imports torch: after argument errors are out of the way

        service = WatchService(source)
        service.start()
    except StylizerError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    signal.sigwait(stop_signals)
    service.stop()
    return 0


def _config_source(args: argparse.Namespace):
    """A function that (re)reads the configuration: the YAML file, or the command line's."""
    ray = args.ray_settings
    if args.config is not None:
        path = args.config.resolve()
        if ray is None:
            return lambda: read_config(path)
        return lambda: dataclasses.replace(read_config(path), ray=ray)  # the flag wins over the file
    settings = dict(
        originals=args.originals,
        device=args.device,
        precision=args.precision,
        settle_seconds=args.settle_seconds,
        defaults=args.defaults,
        ray=ray,
        follow_links=args.follow_links,
    )
    return lambda: zero_config(args.inbox, args.out, tuple(args.presets), **settings)


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Watch folders and stylize every photo dropped into them.",
        epilog="Also: `python -m daemon status --out OUTBOX` shows what a running daemon is doing.",
    )
    parser.add_argument("inbox", nargs="?", type=Path, help="folder to watch; drop photos into INBOX/<preset-id>/ (no default: give INBOX --out OUTBOX, or --config)")
    parser.add_argument("--out", type=Path, metavar="OUTBOX", help="where the paintings go: OUTBOX/<preset-id>/ (no default)")
    parser.add_argument("--config", type=Path, metavar="YAML",
                        help="daemon.yaml with watch folders, rules and settings (default: none, INBOX --out OUTBOX)")
    parser.add_argument("--presets", type=Path, action="append", default=[], metavar="DIR", help="extra presets folder (repeatable; default: the built-in presets and STYLIZER_PRESETS)")
    parser.add_argument("--originals", choices=ORIGINALS, default="keep",
                        help="keep originals in place (default), or move them to INBOX/processed/ once painted")
    parser.add_argument("--format", choices=FORMATS, default="same", help="output format (default: same as the photo)")
    parser.add_argument("--quality", choices=QUALITIES, default="normal",
                        help="how much painting: instant (under a second), quick (the instant painting refined by 15 iterations), "
                        "normal (default), high (3x the iterations)")
    parser.add_argument("--jpeg-quality", type=int, default=DEFAULT_QUALITY, metavar="Q",
                        help=f"JPEG/WebP quality, 1 to 100 (default {DEFAULT_QUALITY})")
    parser.add_argument("--size", type=int, metavar="PX", help="long side of the outputs, up to 8192 (default: each preset's)")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="default auto: cuda, then mps, then cpu")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="default auto: bf16 where the hardware runs it natively, else fp32")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="paint on a Ray cluster: auto (the one this machine belongs to) or HOST:PORT "
                        "(default: paint in this process)")
    parser.add_argument("--workers", type=int, metavar="N", help="with --ray: workers to start (default: one per GPU, or one per 2 cores without GPUs)")
    parser.add_argument("--settle", type=float, default=DEFAULT_SETTLE_SECONDS, metavar="SECONDS",
                        help=f"how long a file must stay unchanged before it is read, 0 to 600 (default {DEFAULT_SETTLE_SECONDS:g})")
    parser.add_argument("--follow-links", action="store_true",
                        help="paint files reached through symbolic links that lead out of the watch folder (default: refuse them)")
    return parser


def _parse_run(argv: Sequence[str]) -> argparse.Namespace:
    parser = _run_parser()
    args = parser.parse_args(argv)
    if args.config is not None:
        if args.inbox is not None or args.out is not None:
            parser.error("give either --config or INBOX --out OUTBOX, not both")
    elif args.inbox is None or args.out is None:
        parser.error("give INBOX --out OUTBOX (or --config daemon.yaml)")
    if args.workers is not None and not args.ray:
        parser.error("--workers needs --ray ADDRESS")
    try:
        args.defaults, args.settle_seconds = flag_settings(
            format=args.format, quality=args.quality, jpeg_quality=args.jpeg_quality, size=args.size,
            settle_seconds=args.settle,
        )
    except StylizerError as exc:  # one line, as for the same value in daemon.yaml
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    args.ray_settings = None
    if args.ray:
        try:
            args.ray_settings = ray_settings({"address": args.ray, "workers": "auto" if args.workers is None else args.workers})
        except StylizerError as exc:
            parser.error(str(exc).removeprefix("ray: ").replace("workers:", "--workers:"))
    return args


def _status(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"{PROG} status", description="Show what a daemon is doing.")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, metavar="OUTBOX", help="the daemon's output folder (no default: give --out or --config)")
    where.add_argument("--config", type=Path, metavar="YAML", help="the daemon's daemon.yaml (no default)")
    args = parser.parse_args(argv)
    try:
        output = read_config(args.config).output if args.config else args.out.resolve()
    except StylizerError as exc:
        # A running daemon keeps its last good settings after a broken edit, so its status
        # still matters: find its output folder in what can be read of the file.
        output = output_of_broken_config(args.config) or recall_output(args.config)
        if output is None:
            print(f"{PROG} status: error: {exc}", file=sys.stderr)
            return 2
        print(f"warning: {exc}\n(a running daemon keeps its last good settings until this is fixed; "
              f"its output folder: {output})\n")
    state_dir = state_dir_for(output)
    status = read_status(state_dir)
    print(describe(status, state_dir))
    return 0 if status is not None else 1


if __name__ == "__main__":
    sys.exit(main())
