"""Images per minute: the daemon painting in its own process, and on a Ray cluster's workers.

Starts a private one-node Ray cluster on 127.0.0.1 (token authentication on, its own
token), then runs the real daemon (`python -m daemon --config daemon.yaml`) on the same
batch once per setup:

- in process: the single-machine default, one painting at a time with every core;
- Ray, 1 worker: one actor with every core (what the cluster adds: scheduling, pickling);
- Ray, 2 workers: two actors with half the cores each, two paintings at once.

Only the batch is timed (from the first file dropped to the last painting written), not
start-up. On a 2-core machine two workers share the same two cores, so they cannot be
much faster than one: the table shows what the cluster costs; the speed-up comes from
nodes with cores (or GPUs) of their own.

    python bench/throughput.py                  # 6 photos at 256 px, starry-night
    python bench/throughput.py --count 8 --size 512
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from daemon_throughput import PHOTOS, ROOT, status, wait

RESULTS = ROOT / "bench" / "results"


def start_cluster(work: Path, cpus: int) -> tuple[str, dict]:
    token = work / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ray = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    subprocess.run(
        [ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", str(cpus),
         "--num-gpus", "0", "--include-dashboard", "false", "--disable-usage-stats"],
        env=env, check=True, capture_output=True,
    )
    return f"127.0.0.1:{port}", env


def run_batch(work: Path, name: str, ray: dict | None, args, env: dict) -> dict:
    folder = work / name
    inbox, out = folder / "in", folder / "out"
    config = {"watch": str(inbox), "output": str(out), "settle_seconds": 0.5}
    if args.size:
        config["size"] = args.size
    if ray:
        config["ray"] = ray
    folder.mkdir(parents=True)
    (folder / "daemon.yaml").write_text(json.dumps(config))  # JSON is YAML
    log = open(folder / "daemon.log", "wb")
    daemon = subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(folder / "daemon.yaml")],
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait(lambda: status(out).get("state") == "watching", 600, f"the daemon ({name}) to start")
        started = time.monotonic()
        for i in range(args.count):
            photo = PHOTOS[i % len(PHOTOS)]
            shutil.copy(photo, inbox / args.preset / f"{i:03d}-{photo.name}")
        wait(lambda: status(out).get("done", 0) + status(out).get("failed", 0) >= args.count, 3600, "the batch")
        seconds = time.monotonic() - started
        done = status(out)["done"]
    finally:
        daemon.terminate()
        daemon.wait(60)
        log.close()
    return {"setup": name, "workers": ray["workers"] if ray else 1, "done": done, "seconds": seconds,
            "per_minute": done / seconds * 60}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=6, help="photos in the batch")
    parser.add_argument("--preset", default="starry-night")
    parser.add_argument("--size", type=int, default=256, help="output long side")
    args = parser.parse_args()

    cores = os.cpu_count() or 2
    work = Path(tempfile.mkdtemp(prefix="throughput-bench-"))
    address, env = start_cluster(work, cores)
    rows = []
    try:
        setups = [
            ("in process", None),
            ("Ray, 1 worker", {"address": address, "workers": 1, "cpus_per_worker": cores}),
            ("Ray, 2 workers", {"address": address, "workers": 2, "cpus_per_worker": max(1, cores // 2)}),
        ]
        for name, ray in setups:
            rows.append(run_batch(work, name.replace(" ", "-").replace(",", ""), ray, args, env))
            rows[-1]["setup"] = name
    finally:
        subprocess.run([shutil.which("ray") or "ray", "stop", "--force"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    print(f"{cpu}, {cores} cores; {args.count} photos, preset {args.preset}, {args.size} px, quality normal")
    base = rows[0]["per_minute"]
    print(f"{'setup':<18}{'workers':>8}{'done':>6}{'batch s':>10}{'images/min':>12}{'vs in process':>15}")
    for row in rows:
        print(f"{row['setup']:<18}{row['workers']:>8}{row['done']:>6}{row['seconds']:>10.1f}"
              f"{row['per_minute']:>12.2f}{row['per_minute'] / base:>14.2f}x")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps({"cpu": cpu, "cores": cores, "args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
