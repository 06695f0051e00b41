"""`stylizer` (or `python -m stylizer`): flags in, one `Filter` out, progress on the terminal.

Only argument parsing and printing live here; everything else is the library's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import NoReturn, Sequence

from . import images
from .devices import DEVICES, PRECISIONS
from .engine import Result, Stylizer
from .errors import Cancelled, StylizerError
from .experiments import EXPERIMENTS, run_with
from .filter import COLOR_MODES, INITS, LOSSES, OPTIMIZERS, POOLINGS, Filter, StyleImage
from .strength import strength_fields
from .masks import Mask
from .presets import load_presets
from .progname import program_name
from .quality import HIGH_FACTOR, QUALITIES, QUICK_ITERATIONS, for_quality
from .sheet import contact_sheet
from .transfer import Progress, plan_scales

MODULE = "stylizer"
SUBCOMMANDS = ("experiment", "presets", "sheet")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line, without the usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    prog = program_name(MODULE)  # as it was run: `stylizer` installed, `python -m stylizer` from a checkout
    parser = _build_parser(command, prog)
    args = parser.parse_args(argv[1:] if command else argv)
    args.prog = prog
    try:
        if command == "experiment":
            return _experiment(args)
        if command == "presets":
            return _list_presets(args)
        if command == "sheet":
            return _sheet(args)
        return _stylize(args)
    except Cancelled:
        print(f"{prog}: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    except StylizerError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


# -- commands ----------------------------------------------------------------------------


def _stylize(args: argparse.Namespace) -> int:
    outputs = _outputs(args)
    filter = _filter_from_args(args)
    mask = _mask_from_args(args)
    if args.max_memory is not None and not 0 < args.max_memory < float("inf"):
        raise StylizerError(f"--max-memory: expected a positive number of GB, got {args.max_memory!r}")
    stylizer = Stylizer(args.device, args.precision, args.max_memory)
    if args.quality != "instant":  # said before the work, even with -q: it may take hours instead of minutes
        note = stylizer.tiling_note(args.content[0], filter)
        if note:
            print(f"{args.prog}: warning: {note}", file=sys.stderr)
    progress = None if args.quiet else TerminalProgress()
    if len(args.content) == 1:
        if args.quality == "instant":  # the filter already carries the other qualities (and the user's flags)
            result = stylizer.paint(args.content[0], filter, "instant", mask=mask)
        else:
            result = stylizer.stylize(args.content[0], filter, on_progress=progress, mask=mask)
            result = dataclasses.replace(result, quality=args.quality)
        results: list[Result | Exception] = [result]
    else:  # several photos: batched through one network pass where their sizes match
        report = (lambda index, update: progress(update)) if progress else None
        # The filter already has the quality's schedule (and the flags over it): used as it is.
        results = stylizer.paint_many(args.content, filter, "instant" if args.quality == "instant" else None,
                                      on_progress=report)
        results = [r if isinstance(r, Exception) else dataclasses.replace(r, quality=args.quality) for r in results]
    if progress:
        progress.close()
    failed = 0
    for content, output, result in zip(args.content, outputs, results):
        if isinstance(result, Exception):
            if isinstance(result, Cancelled) or not isinstance(result, StylizerError):
                raise result
            said = str(result) if str(content) in str(result) else f"{content}: {result}"
            print(f"{args.prog}: error: {said}", file=sys.stderr)
            failed += 1
            continue
        _write(args, output, result)
    return 2 if failed else 0


def _outputs(args: argparse.Namespace) -> list[Path]:
    """Where each photo's painting goes: -o for one photo, --out-dir for several (each as
    its name with .png, which carries the parameters; a repeated name gets -2, -3 ...)."""
    if args.output is not None and args.out_dir is not None:
        raise StylizerError("give either -o OUTPUT (one photo) or --out-dir DIR (several), not both")
    if args.output is not None:
        if len(args.content) > 1:
            raise StylizerError(f"-o names one painting, but {len(args.content)} photos were given; use --out-dir DIR")
        images.output_format(args.output)  # fail before the model loads, not after the work
        return [args.output]
    if args.out_dir is None:
        raise StylizerError("say where the painting goes: -o OUTPUT (one photo) or --out-dir DIR")
    if args.mask is not None and len(args.content) > 1:
        raise StylizerError("--mask belongs to one photo; paint masked photos one at a time")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    outputs, taken = [], set()
    for content in args.content:
        stem, number = Path(content).stem, 1
        while (name := f"{stem}{'' if number == 1 else f'-{number}'}.png") in taken:
            number += 1
        taken.add(name)
        outputs.append(args.out_dir / name)
    return outputs


def _write(args: argparse.Namespace, output: Path, result: Result) -> None:
    images.save(result.image, output, metadata=result.metadata())
    if args.json:
        print(json.dumps({"output": str(output), **result.stats.as_dict()}))
    elif not args.quiet:
        stats = result.stats
        print(
            f"wrote {output} ({result.image.width}x{result.image.height}) in {stats.seconds:.1f} s, "
            f"{stats.iterations} iterations on {stats.device}/{stats.precision}"
            + _auto_note(result),
            file=sys.stderr,
        )


def _auto_note(result: Result) -> str:
    """What strength: auto chose, for the summary line; nothing for a fixed strength.

    Auto measures a picture partway through the coarsest scale; an instant painting
    and a one-scale painting have no such picture, so they say what they painted at.
    """
    if not result.filter.auto_strength:
        return ""
    painted = "" if result.stats.strength is None else f", painted at {result.stats.strength:.1f}"
    if result.quality == "instant":
        return f", strength auto: an instant painting has one strength{painted}"
    if result.stats.auto_level is None:
        return f", strength auto: nothing to measure in a one-scale painting{painted}"
    return f", strength auto: {result.stats.strength:.1f}"


def _experiment(args: argparse.Namespace) -> int:
    images.output_format(args.output)  # fail before the model loads, not after the work
    args.style = [args.style_image]
    filter = _filter_from_args(args)
    stylizer = Stylizer(args.device, args.precision)
    announce = _RunAnnouncer(args.name, args.quiet)
    figure = EXPERIMENTS[args.name](run_with(stylizer, announce), Path(args.content), filter)
    announce.close()
    images.save(figure, args.output, metadata={"experiment": args.name, "filter": filter.describe()})
    if not args.quiet:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _list_presets(args: argparse.Namespace) -> int:
    registry = load_presets(args.presets)
    if args.json:
        for preset in registry.presets.values():
            print(json.dumps({"id": preset.id, "name": preset.name, "credit": preset.credit}))
    else:
        width = max((len(p) for p in registry.presets), default=0)
        for preset in registry.presets.values():
            print(f"{preset.id:<{width}}  {preset.name} — {preset.credit}".rstrip(" —"))
    for error in registry.errors:
        print(f"skipped {error}", file=sys.stderr)
    return 1 if registry.errors and not registry.presets else 0


def _sheet(args: argparse.Namespace) -> int:
    images.output_format(args.output)  # fail before the model loads, not after the work
    registry = load_presets(args.presets)
    for error in registry.errors:
        print(f"skipped {error}", file=sys.stderr)
    overrides = _overrides(args)
    stylizer = Stylizer(args.device, args.precision)
    announce = _RunAnnouncer("sheet", args.quiet)
    figure = contact_sheet(run_with(stylizer, announce), args.photo, list(registry.presets.values()), overrides)
    announce.close()
    images.save(figure, args.output)
    if not args.quiet:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


# -- building the filter -----------------------------------------------------------------


def _filter_from_args(args: argparse.Namespace) -> Filter:
    if args.preset and args.style:
        raise StylizerError("give either --preset or --style, not both")
    if args.preset:
        base = load_presets(args.presets).get(args.preset).filter
        if args.style_weights:
            raise StylizerError("--style-weights applies to --style images, not to a preset")
        styles = base.styles
    elif args.style:
        weights = args.style_weights or [1.0] * len(args.style)
        if len(weights) != len(args.style):
            raise StylizerError(f"--style-weights: {len(weights)} weights for {len(args.style)} style images")
        for path in args.style:
            images.load(path)  # fail now, with the file's name, rather than after model loading
        styles = tuple(StyleImage(path, weight) for path, weight in zip(args.style, weights))
        base = Filter(styles=styles)
    else:
        raise StylizerError("a style is needed: --style IMAGE (repeatable) or --preset ID")
    if args.style_scale is not None:
        styles = tuple(StyleImage(s.source, s.weight, args.style_scale) for s in styles)
    return for_quality(base.replace(styles=styles), getattr(args, "quality", "normal")).replace(**_overrides(args))


def _mask_from_args(args: argparse.Namespace) -> Mask | None:
    """--mask, and --mask-style as a painting file or else a preset id."""
    if args.mask is None:
        if args.mask_style:
            raise StylizerError("--mask-style needs --mask (which part it paints)")
        return None
    outside = None
    if args.mask_style:
        if Path(args.mask_style).is_file():
            images.load(args.mask_style)  # a broken painting says so now, with its name
            outside = Filter(styles=(Path(args.mask_style),))
        else:
            registry = load_presets(args.presets)
            if args.mask_style not in registry.presets:
                raise StylizerError(f"--mask-style: {args.mask_style} is neither an image file nor a preset id")
            outside = registry.get(args.mask_style).filter
    return Mask(args.mask, outside)


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    """Filter fields the user set on the command line (unset flags keep the filter's own)."""
    if args.ratio is not None and args.strength is not None:
        raise StylizerError("give either --ratio or --strength, not both")
    ratio, auto = args.ratio, None
    if args.strength is not None:
        strength = strength_fields(args.strength, "--strength")  # the flag the user typed, not the field
        ratio, auto = strength["ratio"], strength["auto_strength"]
    elif ratio is not None:
        if not (0 < ratio < float("inf")):
            raise StylizerError(f"--ratio: expected a positive number, got {ratio!r}")
        auto = False  # a ratio given is the balance wanted, also over a preset's strength: auto
    fields = {
        "ratio": ratio,
        "auto_strength": auto,
        "layer_weights": tuple(args.layer_weights) if args.layer_weights else None,
        "tv_weight": args.tv_weight,
        "size": args.size,
        "tile": args.tile,
        "iterations": args.iterations,
        "scales": args.scales,
        "init": args.init,
        "optimizer": args.optimizer,
        "learning_rate": args.learning_rate,
        "preserve_color": args.preserve_color,
        "pooling": args.pooling,
        "seed": args.seed,
        "losses": args.losses,
    }
    return {name: value for name, value in fields.items() if value is not None}


# -- progress ----------------------------------------------------------------------------


# Not a terminal (a log, a pipe): the longest a run stays silent while progress comes in.
# Lines every 10% alone left a finely tiled painting silent for minutes per iteration.
HEARTBEAT_S = 30.0


class TerminalProgress:
    """A one-line progress bar on stderr; when not a terminal, plain lines every 10% and at
    least every `heartbeat_s` seconds (with the tile and the elapsed time)."""

    WIDTH = 30

    def __init__(self, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.tty = sys.stderr.isatty()
        self.heartbeat_s = heartbeat_s
        self.last_decile = -1
        self.last_draw = 0.0
        self.last_line = time.monotonic()
        self.drawn = False

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        done = progress.iteration == progress.iterations
        if self.tty:
            if not done and now - self.last_draw < 0.1:
                return
            self.last_draw = now
            filled = round(self.WIDTH * progress.fraction)
            bar = "█" * filled + "·" * (self.WIDTH - filled)
            sys.stderr.write(f"\r{bar} {self._text(progress)}\033[K")
            sys.stderr.flush()
            self.drawn = True
        else:
            decile = int(progress.fraction * 10)
            if decile != self.last_decile or now - self.last_line >= self.heartbeat_s:
                self.last_decile = decile
                self.last_line = now
                print(f"{progress.fraction:4.0%} {self._text(progress)}", file=sys.stderr)

    @staticmethod
    def _text(progress: Progress) -> str:
        width, height = progress.size
        total = progress.losses.get("total")
        loss = "" if total is None else f" loss {total:.4g}"  # none yet during the first tiled iteration
        tiles = f" tile {progress.tiles[0]}/{progress.tiles[1]}" if progress.tiles else ""
        return (
            f"{progress.iteration}/{progress.iterations} scale {progress.scale}/{progress.scales} "
            f"{width}x{height}{tiles}{loss} {progress.elapsed:.0f}s"
        )

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            self.drawn = False


class _RunAnnouncer:
    """For commands that make several images: names each run and gives it a fresh bar."""

    def __init__(self, prefix: str, quiet: bool) -> None:
        self.prefix, self.quiet = prefix, quiet
        self.bar: TerminalProgress | None = None

    def __call__(self, label: str, _filter: Filter) -> TerminalProgress | None:
        self.close()
        if self.quiet:
            return None
        print(f"{self.prefix}: {label}", file=sys.stderr)
        self.bar = TerminalProgress()
        return self.bar

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# -- parsers -----------------------------------------------------------------------------


def _build_parser(command: str | None, prog: str) -> argparse.ArgumentParser:
    if command == "experiment":
        parser = _Parser(prog=f"{prog} experiment", description="Reproduce one of the paper's experiments as a figure.")
        parser.add_argument("name", choices=sorted(EXPERIMENTS), help="which experiment")
        parser.add_argument("content", type=Path, help="content photo")
        parser.add_argument("style_image", type=Path, metavar="style", help="style painting")
        parser.add_argument("-o", "--output", type=Path, required=True, help="figure to write (.png/.jpg/.webp)")
        _add_filter_flags(parser, with_styles=False)
        parser.set_defaults(preset=None, style_weights=None)
        return parser
    if command == "presets":
        parser = _Parser(prog=f"{prog} presets", description="List the presets found, with any load errors.")
        parser.add_argument("--presets", action="append", default=[], metavar="DIR", help="extra presets folder (repeatable; default: the built-in presets and STYLIZER_PRESETS)")
        parser.add_argument("--json", action="store_true", help="one JSON object per preset")
        return parser
    if command == "sheet":
        parser = _Parser(prog=f"{prog} sheet", description="Render every preset on one photo as a contact sheet.")
        parser.add_argument("photo", type=Path, help="content photo")
        parser.add_argument("-o", "--output", type=Path, required=True, help="sheet to write (.png/.jpg/.webp)")
        _add_filter_flags(parser, with_styles=False)
        return parser
    parser = _Parser(
        prog=prog,
        description="Paint a photo in the style of an artwork (Gatys, Ecker & Bethge).",
        epilog="Other commands: experiment {ratio-sweep,noise-init,swap}, presets, sheet "
        "(use '<command> --help').",
    )
    parser.add_argument("content", type=Path, nargs="+", help="content photo(s)")
    parser.add_argument("-o", "--output", type=Path, help="image to write (.png/.jpg/.webp), for one photo (no default: give -o or --out-dir)")
    parser.add_argument("--out-dir", type=Path, metavar="DIR",
                        help="folder for the paintings of several photos (NAME.png each), painted in batches (no default)")
    _add_filter_flags(parser, with_styles=True)
    where = parser.add_argument_group("where the style goes")
    where.add_argument("--mask", type=Path, metavar="MASK", help="paint only where MASK is white (or opaque); any size (default: paint everywhere)")
    where.add_argument("--mask-style", metavar="IMG_OR_PRESET",
                       help="with --mask: paint the black part with this painting or preset (default: keep the photo)")
    return parser


def _add_filter_flags(parser: argparse.ArgumentParser, with_styles: bool) -> None:
    if with_styles:
        style = parser.add_argument_group("style")
        style.add_argument("--style", action="append", type=Path, default=[], metavar="IMG", help="style image (repeatable; no default: give --style or --preset)")
        style.add_argument("--style-weights", type=float, nargs="+", metavar="W", help="blend weight per --style (default: 1 each)")
        style.add_argument("--preset", metavar="ID", help="a preset filter instead of --style (no default; list them with 'presets')")
    parser.add_argument("--presets", action="append", default=[], metavar="DIR", help="extra presets folder (repeatable; default: the built-in presets and STYLIZER_PRESETS)")
    algo = parser.add_argument_group("algorithm (defaults: the paper's, or the preset's)")
    if with_styles:
        quick_half, quick_full = (s.iterations for s in plan_scales(1024, 768, 1024, 1, QUICK_ITERATIONS))
        algo.add_argument(
            "--quality", choices=QUALITIES, default="normal",
            help="instant: the feed-forward painting alone (under a second); quick: that painting refined by "
            f"{QUICK_ITERATIONS} iterations, at full size up to 512 px (larger sizes add a half-size scale per "
            f"doubling: {quick_half} at half size and {quick_full} at full size up to 1024 px); normal (default): the filter's own "
            f"schedule; high: {HIGH_FACTOR}x the iterations",
        )
    algo.add_argument("--style-scale", type=float, metavar="S", help="style image size relative to the output (default 1)")
    algo.add_argument("--size", type=int, metavar="PX", help=f"long side of the output in pixels (default {Filter.size}, up to 8192)")
    algo.add_argument("--tile", type=int, metavar="PX",
                      help="paint print sizes tile by tile, PX per tile (default 0: only when the image would not fit --max-memory)")
    algo.add_argument("--iterations", type=int, metavar="N", help=f"total iterations over all scales (default {Filter.iterations})")
    algo.add_argument("--scales", type=int, metavar="N", help=f"coarse-to-fine scales up to 512 px; larger sizes add one per doubling (default {Filter.scales})")
    algo.add_argument("--ratio", type=float, metavar="R", help="content/style ratio alpha/beta (default 1e-6, or the preset's)")
    algo.add_argument("--strength", metavar="S", help="style strength 0..10 instead of --ratio (6 = 1e-6), or auto: "
                      "chosen for this photo and painting, so every pair is about equally painted "
                      "(default 6, or the preset's: auto for the built-in ones)")
    algo.add_argument("--layer-weights", type=float, nargs=5, metavar="W", help="conv1_1..conv5_1 weights (default 1 0.8 0.5 0.3 0.1)")
    algo.add_argument("--tv-weight", type=float, metavar="W", help="total-variation smoothing (default 0)")
    algo.add_argument("--init", choices=INITS, help="start from the photo (content, the default), smooth noise, the style painting or the instant painting")
    algo.add_argument("--optimizer", choices=OPTIMIZERS, help="lbfgs (default) or adam")
    algo.add_argument("--learning-rate", type=float, metavar="LR", help="Adam step size in pixel units (default 5)")
    algo.add_argument("--preserve-color", choices=COLOR_MODES, help="keep the photo's colours (default none)")
    algo.add_argument("--pooling", choices=POOLINGS, help="VGG pooling (default avg, as in the paper)")
    algo.add_argument("--seed", type=int, metavar="N", help="random seed (default 0)")
    algo.add_argument("--losses", choices=LOSSES,
                      help="normalized (default: the same balance at every size) or paper (Gatys et al.'s sums, eqs. 1-3)")
    run = parser.add_argument_group("running")
    run.add_argument("--device", choices=DEVICES, default="auto", help="default auto: cuda, then mps, then cpu")
    run.add_argument("--precision", choices=PRECISIONS, default="auto", help="default auto: bf16 where the hardware runs it natively (CUDA, CPUs with AMX or AVX-512-BF16), else fp32")
    run.add_argument("--max-memory", type=float, metavar="GB",
                     help="memory a painting may use before it is tiled (default: 60%% of RAM, or 80%% of the GPU's)")
    run.add_argument("--json", action="store_true", help="print one JSON line with time, iterations and final losses (default: a summary line)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar (default: a bar on a terminal, a line every 10%% otherwise)")
