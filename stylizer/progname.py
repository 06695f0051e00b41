"""The name a command calls itself in its usage and error lines: the one it was run by.

argparse's own default is the script's file name, which for `python -m package` is
`__main__.py`; a fixed "python -m package" is wrong for the installed console script
(`stylizer`, `stylizer-daemon`), whose users never typed it. Shared by the command line
and the daemon so both answer the same way.
"""

from __future__ import annotations

import os
import sys

# How sys.argv[0] looks when Python ran a module rather than a script: the module's
# __main__.py path, or "-m"/"-c" while the interpreter is still starting it.
_MODULE_RUNS = {"__main__.py", "-m", "-c", ""}
# pip's console-script launchers on Windows: stylizer.exe, stylizer-script.py(w).
_LAUNCHER_SUFFIXES = (".exe", "-script.pyw", "-script.py")


def program_name(module: str, argv0: str | None = None) -> str:
    """`python -m <module>` when run as a module, else the command's own name.

    `argv0` defaults to `sys.argv[0]`, what the process was started with.
    """
    name = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    if name in _MODULE_RUNS:
        return f"python -m {module}"
    for suffix in _LAUNCHER_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


__all__ = ["program_name"]
