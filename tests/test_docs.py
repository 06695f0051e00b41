"""The documentation against the code: a flag renamed in a parser, a choice added or dropped,
a page moved or the CI command changed fails here, not in a reader's terminal.

Every `stylizer ...` and `stylizer-daemon ...` command line (also `python -m stylizer` and
`python -m daemon`) in the code blocks and inline code of README.md and docs/*.md is
checked against the real parsers: a plain command must parse; a synopsis (with [ ], { }
or |) must name only real flags, and its {choices} must be the parser's. No command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from daemon import __main__ as daemon_main
from stylizer import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")
SYNOPSIS = re.compile(r"[\[\]{}|]|\.\.\.")


# -- finding the commands ------------------------------------------------------------------


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def prose(text: str) -> str:
    """The text outside fenced blocks."""
    return FENCE.sub("", text)


def block_lines(body: str) -> list[str]:
    """Logical lines of a block: backslash continuations joined, and the indented lines
    after a command (a synopsis) joined to it."""
    lines: list[str] = []
    for raw in body.splitlines():
        if lines and (lines[-1].endswith("\\") or (raw[:1].isspace() and raw.strip() and _program(lines[-1]))):
            lines[-1] = lines[-1].rstrip("\\").rstrip() + " " + raw.strip()
        else:
            lines.append(raw)
    return lines


def _tokens(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return []


def _program(line: str) -> tuple[str, list[str]] | None:
    """("stylizer" | "daemon", its arguments) when the line runs one of our commands."""
    for part in line.split("&&"):
        tokens = _tokens(part)
        while tokens and re.match(r"^[A-Za-z_]\w*=", tokens[0]):  # VAR=value, or a unit's ExecStart=
            key, value = tokens[0].split("=", 1)
            if key in ("ExecStart", "ExecStop"):
                tokens[0] = value
                break
            tokens.pop(0)
        if tokens[:1] == ["sudo"]:
            tokens.pop(0)
        if not tokens or tokens[0].endswith("/"):  # a folder named in a layout, not a command
            continue
        name = Path(tokens[0]).name
        if name == "stylizer":
            return "stylizer", tokens[1:]
        if name == "stylizer-daemon":
            return "daemon", tokens[1:]
        if name.startswith("python") and tokens[1:2] == ["-m"] and tokens[2:3] in (["stylizer"], ["daemon"]):
            return tokens[2], tokens[3:]
    return None


def documented_commands(path: Path, text: str | None = None) -> list[tuple[str, str, list[str], str]]:
    """(where, program, arguments, line) for every command line of ours in a page."""
    text = path.read_text(encoding="utf-8") if text is None else text
    found = []
    for language, body in code_blocks(text):
        if language in ("yaml", "python"):
            continue
        for line in block_lines(body):
            program = _program(line)
            if program:
                found.append((f"{path.name} block", *program, line.strip()))
    for span in INLINE.findall(prose(text)):
        program = _program(span)
        if program and program[1]:  # a bare `python -m stylizer` names the command, not a use
            found.append((f"{path.name} inline", *program, span))
    return found


# -- checking one command against its parser ----------------------------------------------


def _stylizer_parser(arguments: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    command = arguments[0] if arguments and arguments[0] in cli.SUBCOMMANDS else None
    return cli._build_parser(command, "stylizer"), arguments[1:] if command else arguments


def _daemon_status_flags() -> set[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        daemon_main.main(["status", "--help"])
    return set(FLAG.findall(out.getvalue()))


def _flags_and_choices(parser: argparse.ArgumentParser) -> tuple[set[str], dict[str, set[str]]]:
    flags, choices = set(), {}
    for action in parser._actions:
        flags.update(action.option_strings)
        if action.choices is not None:
            for option in action.option_strings:
                choices[option] = {str(c) for c in action.choices}
    return flags, choices


def problems(program: str, arguments: list[str], line: str) -> list[str]:
    """What is wrong with one documented command; empty when it matches the code."""
    synopsis = bool(SYNOPSIS.search(line))
    if program == "daemon" and arguments[:1] == ["status"]:
        known = _daemon_status_flags()
        return [f"{flag} is not an option of `status`" for flag in FLAG.findall(" ".join(arguments[1:]))
                if flag not in known]
    if program == "stylizer":
        parser, rest = _stylizer_parser(arguments)
    else:
        parser, rest = daemon_main._run_parser(), arguments
    if not synopsis:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                if program == "daemon":
                    daemon_main._parse_run(rest)
                else:
                    parser.parse_args(rest)
        except SystemExit as exc:
            if exc.code not in (0, None):
                return [err.getvalue().strip() or f"exit {exc.code}"]
        return []
    flags, choices = _flags_and_choices(parser)
    found = []
    words = [w.strip("[]()") for w in " ".join(rest).split()]
    for index, word in enumerate(words):
        for flag in FLAG.findall(word) if word.startswith("-") else []:
            if flag not in flags:
                found.append(f"{flag} is not an option")
                continue
            following = words[index + 1] if index + 1 < len(words) else ""
            if flag in choices and ("{" in following or "|" in following):
                listed = set(following.strip("{}").replace("|", ",").split(","))
                if listed != choices[flag]:
                    found.append(f"{flag} lists {sorted(listed)}, the code has {sorted(choices[flag])}")
    return found


ALL_COMMANDS = [command for page in PAGES for command in documented_commands(page)]


def test_the_pages_document_commands():
    assert len(ALL_COMMANDS) >= 30, "the command extraction found too little: is it still working?"
    assert {program for _, program, _, _ in ALL_COMMANDS} == {"stylizer", "daemon"}


@pytest.mark.parametrize("where, program, arguments, line", ALL_COMMANDS, ids=[c[3][:60] for c in ALL_COMMANDS])
def test_each_documented_command_matches_its_parser(where, program, arguments, line):
    assert not problems(program, arguments, line), f"{where}: {line}"


def test_a_renamed_flag_or_a_missing_choice_fails_the_check():
    """The check can fail: a page with a flag the code does not have, and the synopsis the
    issue found (`--init` without `instant`), are both reported."""
    page = README.read_text(encoding="utf-8").replace("--preset starry-night -o painting.png",
                                                      "--preset starry-night --ouptut painting.png")
    bad = [c for c in documented_commands(README, page) if problems(*c[1:])]
    assert bad and "--ouptut" in bad[0][3]
    old_synopsis = "```\nstylizer CONTENT -o OUT [--init {content,noise,style}] [--colour-preserve luminance]\n```\n"
    (command,) = documented_commands(DOCS / "command-line.md", old_synopsis)
    found = problems(*command[1:])
    assert any("--init lists" in p for p in found) and any("--colour-preserve" in p for p in found), found
    daemon_line = "```\nstylizer-daemon INBOX --out OUTBOX --settle-seconds 2\n```\n"
    (command,) = documented_commands(DOCS / "daemon.md", daemon_line)
    assert problems(*command[1:])


def _inline_flags(path: Path) -> set[str]:
    return {flag for span in INLINE.findall(prose(path.read_text(encoding="utf-8")))
            for flag in FLAG.findall(span) if flag.startswith("--")}


def test_flags_named_in_the_command_line_and_daemon_pages_exist():
    stylizer_flags = set()
    for command in (None, *cli.SUBCOMMANDS):
        stylizer_flags |= _flags_and_choices(cli._build_parser(command, "stylizer"))[0]
    daemon_flags = _flags_and_choices(daemon_main._run_parser())[0] | _daemon_status_flags()
    assert _inline_flags(DOCS / "command-line.md") - stylizer_flags == set()
    assert _inline_flags(DOCS / "daemon.md") - daemon_flags == set()


# -- every option shows its default -------------------------------------------------------


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(f"stylizer {c or ''}".strip(), cli._build_parser(c, "stylizer")) for c in (None, *cli.SUBCOMMANDS)]
    return [*found, ("stylizer-daemon", daemon_main._run_parser())]


@pytest.mark.parametrize("name, parser", _parsers(), ids=[n for n, _ in _parsers()])
def test_every_option_in_help_says_its_default(name, parser):
    quiet = (argparse._HelpAction, argparse._StoreTrueAction, argparse._StoreFalseAction)
    missing = [action.option_strings[0] for action in parser._actions
               if action.option_strings and not isinstance(action, quiet) and not action.required
               and "default" not in (action.help or "").lower()]
    assert not missing, f"{name}: no default in the help of {missing}"


def test_daemon_status_help_says_what_its_options_default_to():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        daemon_main.main(["status", "--help"])
    assert out.getvalue().lower().count("default") >= 2


def test_quick_is_described_as_the_code_runs_it():
    """Quick: 15 iterations, all at full size up to 512 px; above, the schedule's extra scale."""
    from stylizer.quality import QUICK_ITERATIONS
    from stylizer.transfer import plan_scales

    assert [s.iterations for s in plan_scales(512, 384, 512, 1, QUICK_ITERATIONS)] == [15]
    half, full = plan_scales(1024, 768, 1024, 1, QUICK_ITERATIONS)
    assert (half.width, full.width) == (512, 1024) and half.iterations + full.iterations == QUICK_ITERATIONS
    help_text = cli._build_parser(None, "stylizer").format_help()
    assert f"{half.iterations} at half size and {full.iterations} at full size" in " ".join(help_text.split())
    assert f"{half.iterations} iterations at half size, then {full.iterations} at full size" in " ".join(
        (DOCS / "command-line.md").read_text(encoding="utf-8").split())


# -- the Quick start and the links ---------------------------------------------------------


def _block_after(text: str, heading_line: str) -> str:
    start = text.index(heading_line)
    return code_blocks(text[start:])[0][1].strip()


def test_normal_schedule_is_described_as_the_code_splits_it():
    """The default's iterations per scale, as the command-line page and how-it-works quote them."""
    from stylizer import Filter
    from stylizer.transfer import plan_scales

    total = Filter.iterations
    coarse, middle, finest = (s.iterations for s in plan_scales(512, 384, 512, Filter.scales, total))
    assert finest > middle / 2, "the finest scale gets more than half of the scale before it"
    command_line = " ".join((DOCS / "command-line.md").read_text(encoding="utf-8").split())
    assert f"(default {total}: {coarse}, {middle} and {finest} at 512 px)" in command_line
    how = " ".join((DOCS / "how-it-works.md").read_text(encoding="utf-8").split())
    assert f"({coarse}, {middle} and {finest} of {total}:" in how


def test_the_readme_test_command_is_what_ci_runs():
    readme = README.read_text(encoding="utf-8")
    command = _block_after(readme, "Run the tests:")
    install, run = (part.strip() for part in command.split("&&"))
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_lines = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for requirements in re.findall(r"-r\s+(\S+)", install):
        assert any("pip install" in line and requirements in line for line in ci_lines), requirements
    pytest_runs = [line for line in ci_lines if "-m pytest" in line]
    assert pytest_runs, ".ci/run runs no pytest"
    assert run.split("-m pytest", 1)[1].split() == pytest_runs[-1].split("-m pytest", 1)[1].split()
    assert re.fullmatch(r"python3? -m pytest.*", run)


def test_the_readme_app_command_names_real_files():
    command = _block_after(README.read_text(encoding="utf-8"), "Set up and start the web app")
    assert command == "pip install -r requirements.txt && python app.py"
    assert (ROOT / "requirements.txt").is_file() and (ROOT / "app.py").is_file()


def _anchors(path: Path) -> set[str]:
    anchors = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_links_between_pages_lead_somewhere(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve()
        assert path.exists(), f"{page.name}: {target}"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"{page.name}: {target}"


def test_the_readme_links_every_docs_page_and_has_its_space_header():
    readme = README.read_text(encoding="utf-8")
    linked = {Path(t.partition("#")[0]).name for t in LINK.findall(readme) if t.startswith("docs/")}
    pages = {p.name for p in DOCS.glob("*.md")}
    assert pages <= linked, pages - linked
    assert readme.startswith("---\ntitle: Stylizer\n") and "app_file: app.py\n" in readme.split("---")[1]
    assert len(readme.splitlines()) <= 260, "the README is meant to be read in five minutes"


def test_daemon_yaml_in_the_docs_uses_only_real_fields():
    import yaml

    from daemon.config import RAY_FIELDS, RULE_FIELDS, TOP_FIELDS

    checked = 0
    for page in PAGES:
        for language, body in code_blocks(page.read_text(encoding="utf-8")):
            data = yaml.safe_load(body) if language == "yaml" else None
            if not isinstance(data, dict) or not {"watch", "output", "rules", "ray"} & set(data):
                continue
            checked += 1
            assert set(data) <= set(TOP_FIELDS), f"{page.name}: {set(data) - set(TOP_FIELDS)}"
            for rule in data.get("rules", []):
                assert set(rule) <= set(RULE_FIELDS), f"{page.name}: {set(rule) - set(RULE_FIELDS)}"
            assert set(data.get("ray", {})) <= set(RAY_FIELDS), page.name
    assert checked >= 2
