"""`pip install .` gives working commands and importable packages from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from conftest import PHOTO, ROOT


def test_the_wheel_installs_commands_packages_and_presets(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(wheels.glob("stylizer-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "presets/starry-night.yaml" in names and "presets/styles/starry_night.jpg" in names
    assert any(n.startswith("stylizer/") for n in names) and any(n.startswith("daemon/") for n in names)

    # A fresh environment that sees this one's packages (torch is gigabytes) but not the repository.
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    python, bin_dir = env_dir / "bin" / "python", env_dir / "bin"
    _see_packages_of_this_interpreter(python)
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert install.returncode == 0, install.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    clean = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}  # no PYTHONPATH to the repository

    presets = subprocess.run([str(bin_dir / "stylizer"), "presets"], capture_output=True, text=True,
                             timeout=300, cwd=elsewhere, env=clean)
    assert presets.returncode == 0, presets.stderr[-2000:]
    assert "starry-night" in presets.stdout and "the-scream" in presets.stdout
    located = subprocess.run([str(python), "-c", "import stylizer, daemon; print(stylizer.__file__)"],
                             capture_output=True, text=True, timeout=300, cwd=elsewhere, env=clean)
    assert str(env_dir) in located.stdout, "imported from the repository, not the installed package"
    painted = subprocess.run(
        [str(bin_dir / "stylizer"), str(PHOTO), "--preset", "great-wave", "--quality", "instant",
         "--size", "64", "-o", "out.png", "-q"],
        capture_output=True, text=True, timeout=300, cwd=elsewhere, env=clean,
    )
    assert painted.returncode == 0 and (elsewhere / "out.png").exists(), painted.stderr[-2000:]
    daemon_help = subprocess.run([str(bin_dir / "stylizer-daemon"), "--help"], capture_output=True, text=True,
                                 timeout=300, cwd=elsewhere, env=clean)
    assert daemon_help.returncode == 0 and "Watch folders" in daemon_help.stdout
    assert daemon_help.stdout.startswith("usage: stylizer-daemon "), "it names itself as it was run"
    refused = subprocess.run([str(bin_dir / "stylizer-daemon"), "in", "--out", "out", "--size", "0"],
                             capture_output=True, text=True, timeout=300, cwd=elsewhere, env=clean)
    assert refused.returncode == 2 and refused.stderr.startswith("stylizer-daemon: error: --size:"), refused.stderr


def _see_packages_of_this_interpreter(python) -> None:
    """Let the new environment import what the interpreter running the tests can.

    `system_site_packages=True` would show it the *base* interpreter's packages, which are
    not these when the tests run inside a virtual environment (as README says to run them).
    The site folders in use here are added after the new environment's own, through a .pth
    file, so the installed wheel is still the `stylizer` it imports.
    """
    sites = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in sites)
    (Path(purelib) / "_tests_see_outer_packages.pth").write_text(lines)
