"""Cost of one optimizer iteration against the bare network it is built on, same run.

"Bare": VGG-19 forward to conv5_1 and the backward pass from there to the pixels, nothing
else. "Iteration": one real iteration of `Stylizer.stylize` (forward, content + Gram losses,
backward, L-BFGS update, bookkeeping), timed between consecutive progress callbacks. The
ratio says how much the losses and optimizer add on top of the network. Both are printed
for channels-last (our CPU default) and plain NCHW, so the layout choice stays measured.

    python bench/iteration.py [--size 512] [--repeats 5]
"""

from __future__ import annotations

import argparse
from itertools import pairwise

import torch
from common import PAIRS, best_of, machine, save_json, table

from stylizer import Filter, Stylizer, images
from stylizer.vgg import CONTENT_LAYER, STYLE_LAYERS, VGGFeatures


def bare(network: VGGFeatures, pixels: torch.Tensor, repeats: int) -> tuple[float, float]:
    def step() -> None:
        x = pixels.detach().requires_grad_(True)
        deepest = network(x)[network.stack[-1]]
        deepest.backward(torch.ones_like(deepest))

    return best_of(step, repeats)


def iteration(stylizer: Stylizer, photo, painting, size: int, repeats: int) -> tuple[float, float]:
    """Seconds between consecutive iterations of a one-scale run (the first two are warm-up)."""
    stamps: list[float] = []
    filter = Filter(styles=(painting,), size=size, scales=1, iterations=repeats + 2)
    stylizer.stylize(photo, filter, on_progress=lambda p: stamps.append(p.elapsed))
    gaps = [b - a for a, b in pairwise(stamps[1:])]
    return min(gaps), sum(gaps) / len(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    photo, painting = PAIRS["tubingen-starry"]
    image = images.fit(images.load(photo), args.size)
    pixels = images.to_tensor(image)
    layers = (*STYLE_LAYERS, CONTENT_LAYER)
    rows, results = [], {"machine": machine(), "size": list(image.size)}
    for layout, channels_last in (("channels-last", True), ("NCHW", False)):
        network = VGGFeatures(layers, channels_last=channels_last)
        stylizer = Stylizer(device="cpu", precision="fp32")
        # Same network the library would build, in the layout under test.
        stylizer._networks[(layers, "avg")] = network
        bare_min, bare_mean = bare(network, pixels, args.repeats)
        iter_min, iter_mean = iteration(stylizer, photo, painting, args.size, args.repeats)
        results[layout] = {"bare": [bare_min, bare_mean], "iteration": [iter_min, iter_mean]}
        rows.append([layout, bare_min, bare_mean, iter_min, iter_mean, f"{iter_min / bare_min:.2f}x"])
    print(f"machine: {machine()}; image {image.size[0]}x{image.size[1]}, fp32")
    print(table(["layout", "bare fwd+bwd s (best)", "(mean)", "iteration s (best)", "(mean)", "iteration / bare"], rows))
    save_json(f"iteration-{args.size}", results)


if __name__ == "__main__":
    main()
