"""Helpers for the Ray tests: a real local cluster that only these tests can join, and waits
sized from what this machine measured, so a loaded machine is slower without failing."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def ray_command() -> str:
    """The `ray` of the interpreter running the tests: a cluster started by another
    environment's Ray runs another Python, which Ray refuses to mix with this one's."""
    own = Path(sys.executable).parent / "ray"
    return str(own) if own.exists() else shutil.which("ray") or str(own)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# One token for every cluster of a test session: Ray reads it once per process, so a second
# cluster with another token could not be joined from the same pytest process.
TOKEN = secrets.token_hex(32)


@contextmanager
def local_cluster(folder: Path, cpus: int) -> Iterator[str]:
    """A head node on 127.0.0.1 offering `cpus` CPUs and no GPU, with a token only these
    tests know (set in this process's environment while it runs); its address."""
    folder.mkdir(parents=True, exist_ok=True)
    token = folder / "auth_token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    address = f"127.0.0.1:{free_port()}"
    start = [ray_command(), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", address.split(":")[1],
             "--num-cpus", str(cpus), "--num-gpus", "0", "--include-dashboard", "false", "--disable-usage-stats"]
    subprocess.run(start, env={**os.environ, **auth}, check=True, capture_output=True)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in auth.items():
            patch.setenv(name, value)
        try:
            yield address
        finally:
            subprocess.run([ray_command(), "stop", "--force"], capture_output=True)


@dataclass
class Pace:
    """How long this machine took, measured by the tests themselves: how long a pool of
    workers took to start (each loads the network) and one painting's iteration."""

    start_s: float = 60.0  # until measured: START_TIMEOUT_S's half
    iteration_s: float = 0.5

    def patience(self, iterations: int = 0, starts: int = 1) -> float:
        """A wait for `starts` worker (re)starts and `iterations` of painting: three times
        what they took when measured, and never under a minute. A step that never happens
        still fails the test; a machine that got busier does not."""
        return max(60.0, 3 * (starts * self.start_s + iterations * self.iteration_s) + 10)


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.started
