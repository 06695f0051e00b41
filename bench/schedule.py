"""How the iteration schedule trades time for quality: the evidence behind the defaults.

Runs one (photo, painting) pair through several explicit per-scale iteration counts
(coarse to fine, each scale twice the side of the one before) and prints time, style and
content distance (same metric as bench/compare.py) and the number of network evaluations.

    python bench/schedule.py --size 512 --plans 171,85,44 57,28,15 40,20,10
"""

from __future__ import annotations

import argparse
import time

from common import PAIRS, RESULTS, machine, paint_with_counts, quality, save_json, table

from stylizer import Filter, Stylizer, engine, images


def run(stylizer: Stylizer, scorer: Stylizer, pair: str, size: int, counts: list[int]) -> dict:
    photo, painting = PAIRS[pair]

    paint_with_counts(counts)  # the library splits `iterations` by a rule; here each scale's count is given
    filter = Filter(styles=(painting,), size=size, scales=len(counts), iterations=sum(counts))
    start = time.perf_counter()
    result = stylizer.stylize(photo, filter)
    seconds = time.perf_counter() - start
    path = RESULTS / "images" / f"schedule-{pair}-{size}-{'_'.join(map(str, counts))}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    result.image.save(path)
    style, content = quality(scorer, images.load(path), photo, painting)
    return {"plan": counts, "seconds": seconds, "style": style, "content": content,
            "evaluations": result.stats.evaluations, "scales": result.stats.scales}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", choices=sorted(PAIRS), default="tubingen-starry")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--plans", nargs="+", default=["171,85,44", "100,50,25", "57,28,15", "40,20,10"],
                        help="per-scale iteration counts, coarse to fine")
    args = parser.parse_args()
    original = engine.plan_scales
    runner, scorer = Stylizer(device="cpu", precision="auto"), Stylizer(device="cpu", precision="fp32")
    runner.stylize(PAIRS[args.pair][0], Filter(styles=(PAIRS[args.pair][1],), size=64, iterations=2))  # warm up
    try:
        rows = [run(runner, scorer, args.pair, args.size, [int(n) for n in plan.split(",")]) for plan in args.plans]
    finally:
        engine.plan_scales = original
    print(f"machine: {machine()}; pair {args.pair}, {args.size} px")
    print(table(["iterations per scale", "seconds", "style distance", "content distance", "evaluations"],
                ([" / ".join(map(str, r["plan"])), r["seconds"], r["style"], r["content"], r["evaluations"]]
                 for r in rows)))
    save_json(f"schedule-{args.pair}-{args.size}", {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
