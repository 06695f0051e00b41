import json
import os
import re
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest
from PIL import Image

from conftest import PAINTING, PHOTO, ROOT, SECOND_PAINTING
from stylizer import Filter, images
from stylizer.cli import TerminalProgress, main
from stylizer.presets import load_presets
from stylizer.progname import program_name

TINY = ["--size", "48", "--iterations", "6", "--scales", "1"]


def test_module_entry_point_writes_image_and_json(tmp_path):
    out = tmp_path / "out.png"
    done = subprocess.run(
        [sys.executable, "-m", "stylizer", str(PHOTO), "--style", str(PAINTING), "-o", str(out), "--json", *TINY],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["iterations"] == 6 and report["seconds"] > 0
    assert set(report["losses"]) >= {"content", "style", "total"}
    with Image.open(out) as image:
        assert image.size == (48, 36)
    assert images.read_metadata(out)["filter"]["iterations"] == 6


def test_flags_reach_the_filter(tmp_path, capsys):
    out = tmp_path / "out.png"
    code = main([
        str(PHOTO), "--style", str(PAINTING), "--style", str(SECOND_PAINTING), "--style-weights", "2", "1",
        "--style-scale", "0.5", "-o", str(out), "--json", "--ratio", "1e-4",
        "--layer-weights", "1", "2", "3", "4", "5", "--tv-weight", "0.5", "--init", "noise", "--optimizer", "adam",
        "--learning-rate", "3", "--preserve-color", "histogram", "--pooling", "max",
        "--seed", "3", "--device", "cpu", "--precision", "fp32", "-q", *TINY,
    ])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["device"], report["precision"], report["iterations"]) == ("cpu", "fp32", 6)
    used = images.read_metadata(out)["filter"]  # what the painting was really made with
    assert used["ratio"] == 1e-4 and used["layer_weights"] == [1, 2, 3, 4, 5] and used["tv_weight"] == 0.5
    assert (used["init"], used["optimizer"], used["learning_rate"]) == ("noise", "adam", 3)
    assert (used["preserve_color"], used["pooling"], used["seed"]) == ("histogram", "max", 3)
    assert (used["size"], used["iterations"], used["scales"]) == (48, 6, 1)
    assert used["styles"] == [
        {"image": "starry_night.jpg", "weight": 2, "scale": 0.5},
        {"image": "great_wave.jpg", "weight": 1, "scale": 0.5},
    ]


def test_the_output_format_follows_the_extension(tmp_path):
    for suffix, name in ((".jpg", "JPEG"), (".webp", "WEBP"), (".png", "PNG")):
        out = tmp_path / f"out{suffix}"
        assert main([str(PHOTO), "--style", str(PAINTING), "--quality", "instant", "--size", "48", "-o", str(out), "-q"]) == 0
        with Image.open(out) as image:
            assert image.format == name


def test_progress_bar_goes_to_stderr(tmp_path, capsys):
    assert main([str(PHOTO), "--style", str(PAINTING), "-o", str(tmp_path / "o.png"), *TINY]) == 0
    err = capsys.readouterr().err
    assert "100% 6/6" in err and "wrote" in err


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.jpg", "--style", str(PAINTING)], "missing.jpg: no such file"),
        ([str(PHOTO), "--style", str(ROOT / "examples" / "SOURCES.md")], "SOURCES.md: not an image"),
        ([str(PHOTO)], "a style is needed"),
        ([str(PHOTO), "--style", str(PAINTING), "--ratio", "-1"], "ratio: expected a positive number"),
        ([str(PHOTO), "--style", str(PAINTING), "--iterations", "many"], "--iterations: invalid int value"),
        ([str(PHOTO), "--style", str(PAINTING), "--init", "zeros"], "--init: invalid choice"),
        ([str(PHOTO), "--style", str(PAINTING), "--style-weights", "1", "2"], "2 weights for 1 style"),
        ([str(PHOTO), "--preset", "no-such-preset"], "unknown preset 'no-such-preset'"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) if "invalid" in message else nullcontext():
        code = main([*args, "-o", str(tmp_path / "o.png"), *TINY])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_bad_output_path_fails_before_work(tmp_path, capsys):
    assert main([str(PHOTO), "--style", str(PAINTING), "-o", str(tmp_path / "o.gif")]) == 2
    assert "unsupported output extension" in capsys.readouterr().err
    assert main([str(PHOTO), "--style", str(PAINTING), "-o", str(tmp_path / "no" / "o.png")]) == 2


def test_ratio_sweep_experiment_writes_labelled_grid(tmp_path):
    out = tmp_path / "sweep.png"
    assert main(["experiment", "ratio-sweep", str(PHOTO), str(PAINTING), "-o", str(out), "-q", *TINY]) == 0
    with Image.open(out) as figure:
        assert figure.width > 7 * 48 and figure.height > 48  # content, style and five ratios side by side


@pytest.mark.parametrize("name", ["noise-init", "swap"])
def test_other_experiments_write_figures(tmp_path, name):
    out = tmp_path / f"{name}.png"
    assert main(["experiment", name, str(PHOTO), str(PAINTING), "-o", str(out), "-q", *TINY]) == 0
    assert out.stat().st_size > 1000



@pytest.mark.parametrize(
    "flag, message",
    [
        ("--strength=-3", "--strength: expected a number from 0 to 10, or auto; got '-3'"),
        ("--strength=11", "--strength: expected a number from 0 to 10, or auto; got '11'"),
        ("--strength=nan", "--strength: expected a number from 0 to 10, or auto; got 'nan'"),
        ("--ratio=nan", "--ratio: expected a positive number, got nan"),
        ("--ratio=-1e-6", "--ratio: expected a positive number, got -1e-06"),
        ("--max-memory=-2", "--max-memory: expected a positive number of GB, got -2.0"),
    ],
)
def test_out_of_range_strength_and_ratio_name_the_flag_given(tmp_path, capsys, flag, message):
    out = tmp_path / "out.png"
    assert main([str(PHOTO), "--style", str(PAINTING), flag, "-o", str(out), *TINY]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists(), "nothing may run on a refused value"


# -- the headline modes ------------------------------------------------------------------

BUILT_IN_PRESETS = sorted(load_presets([]).presets)


def _launcher(tmp_path):
    """The script pip installs as `stylizer` ([project.scripts] in pyproject.toml), as pip writes it."""
    script = tmp_path / "bin" / "stylizer"
    script.parent.mkdir()
    script.write_text(
        "import re\nimport sys\nfrom stylizer.cli import main\n"
        "if __name__ == '__main__':\n"
        "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
        "    sys.exit(main())\n"
    )
    return script


def _run(command, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("preset", BUILT_IN_PRESETS)
def test_every_built_in_preset_paints_instantly_and_says_what_auto_did(tmp_path, capsys, preset):
    """The built-in presets say strength: auto, which an instant painting cannot measure."""
    out = tmp_path / "out.png"
    assert main([str(PHOTO), "--preset", preset, "--quality", "instant", "--size", "64", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "strength auto: an instant painting has one strength, painted at 6.0" in err
    assert "Traceback" not in err and out.exists()


def test_the_installed_command_paints_instantly_with_strength_auto_and_names_itself(tmp_path):
    script = _launcher(tmp_path)
    out = tmp_path / "out.png"
    done = _run([sys.executable, str(script), str(PHOTO), "--style", str(PAINTING), "--strength", "auto",
                 "--quality", "instant", "--size", "64", "-o", str(out)], tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "strength auto: an instant painting has one strength, painted at 6.0" in done.stderr
    # What ran is what the file says: no optimization schedule that never ran.
    metadata = images.read_metadata(out)
    assert metadata["quality"] == "instant" and metadata["stats"]["iterations"] == 0
    assert not {"iterations", "scales", "init", "optimizer", "auto_strength"} & set(metadata["filter"])
    assert metadata["stats"]["strength"] == 6.0
    refused = _run([sys.executable, str(script), str(PHOTO), "--bogus"], tmp_path)
    assert refused.returncode == 2 and refused.stderr.startswith("stylizer: error: ")
    usage = _run([sys.executable, str(script), "presets", "--help"], tmp_path)
    assert usage.stdout.startswith("usage: stylizer presets ")


def test_run_as_a_module_it_calls_itself_python_m_stylizer(tmp_path):
    done = _run([sys.executable, "-m", "stylizer", str(PHOTO), "--bogus"], tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("python -m stylizer: error: ")


@pytest.mark.parametrize(
    "argv0, name",
    [("/usr/local/bin/stylizer", "stylizer"), ("C:\\venv\\Scripts\\stylizer.exe", "stylizer"),
     ("stylizer-script.py", "stylizer"), ("/src/stylizer/__main__.py", "python -m stylizer"), ("-m", "python -m stylizer")],
)
def test_the_program_name_follows_how_it_was_run(argv0, name):
    assert program_name("stylizer", argv0.replace("\\", "/")) == name


def test_a_normal_painting_with_auto_counts_its_scales_as_the_docs_do(tmp_path, capsys):
    """Auto splits its measured scale in two; progress and metadata still count it once."""
    out = tmp_path / "out.png"
    args = [str(PHOTO), "--style", str(PAINTING), "--strength", "auto", "--size", "256", "--iterations", "18"]
    assert main([*args, "--device", "cpu", "-o", str(out)]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if " scale " in line]
    counted = [tuple(map(int, re.search(r" scale (\d+)/(\d+) ", line).groups())) for line in lines]
    assert {total for _, total in counted} == {2}, lines  # 128 and 256 px: two scales
    assert counted[-1] == (2, 2)
    stats = images.read_metadata(out)["stats"]
    assert [scale[0] for scale in stats["scales"]] == [128, 256] and sum(s[2] for s in stats["scales"]) == 18
    assert stats["auto_level"] > 0, "auto measured between the two halves of its coarsest scale"


def test_a_budget_that_forces_tiny_tiles_says_what_it_costs_before_the_work(tmp_path, capsys):
    out = tmp_path / "out.png"
    args = [str(PHOTO), "--style", str(PAINTING), "--size", "256", "--iterations", "1", "--scales", "1"]
    assert main([*args, "--max-memory", "1", "-o", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    warning = next(i for i, line in enumerate(err) if "warning:" in line)
    assert "a memory budget of 1 GB paints 256x192 in 12 tiles of 64 px" in err[warning]
    assert "--max-memory 1.5 paints it in one piece" in err[warning]
    assert warning < min(i for i, line in enumerate(err) if " scale " in line), "said before the work"
    assert main([*args, "--max-memory", "8", "-o", str(out), "-q"]) == 0
    assert "warning" not in capsys.readouterr().err, "a painting in one piece needs no warning"


def test_away_from_a_terminal_tiles_show_progress_within_an_iteration(stylizer, capsys):
    """In a log, a finely tiled iteration can take minutes: lines come at least every heartbeat."""
    filter = Filter(styles=(PAINTING,), size=128, scales=1, iterations=1, tile=64)
    progress = TerminalProgress(heartbeat_s=0)  # a line for every report, as a long-silent log would get
    stylizer.stylize(PHOTO, filter, on_progress=progress)
    err = capsys.readouterr().err
    tiles = re.findall(r" tile (\d+)/4\b.* \d+s$", err, re.MULTILINE)
    assert [int(done) for done in tiles] == [1, 2, 3, 4], err
    assert "nan" not in err, "no loss is shown before there is one"


def test_several_photos_are_painted_into_a_folder_and_a_bad_one_is_reported(tmp_path, capsys):
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    rocket = ROOT / "examples" / "rocket.jpg"
    code = main([str(PHOTO), str(notes), str(rocket), str(PHOTO), "--style", str(PAINTING), "--size", "64",
                 "--scales", "1", "--iterations", "3", "--out-dir", str(tmp_path / "out"), "--json"])
    assert code == 2, "a photo that could not be painted makes the exit code say so"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["rocket.png", "tubingen-2.png", "tubingen.png"]
    captured = capsys.readouterr()
    assert captured.err.count("error:") == 1 and "notes.jpg" in captured.err and "not an image" in captured.err
    written = [json.loads(line)["output"] for line in captured.out.splitlines()]
    assert [Path(w).name for w in written] == ["tubingen.png", "rocket.png", "tubingen-2.png"]
    assert images.read_metadata(tmp_path / "out" / "rocket.png")["stats"]["iterations"] == 3


@pytest.mark.parametrize(
    "extra, message",
    [(["-o", "x.png"], "-o names one painting, but 2 photos were given"),
     (["--out-dir", "d", "--mask", "m.png"], "--mask belongs to one photo"),
     ([], "-o OUTPUT (one photo) or --out-dir DIR")],
)
def test_several_photos_need_a_folder_and_no_mask(tmp_path, capsys, extra, message):
    code = main([str(PHOTO), str(PHOTO), "--style", str(PAINTING), *extra])
    assert code == 2 and message in capsys.readouterr().err
