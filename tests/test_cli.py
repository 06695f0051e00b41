import json
from contextlib import nullcontext
import subprocess
import sys

import pytest
from PIL import Image

from conftest import PAINTING, PHOTO, ROOT, SECOND_PAINTING
from stylizer import images
from stylizer.cli import main

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
    ],
)
def test_out_of_range_strength_and_ratio_name_the_flag_given(tmp_path, capsys, flag, message):
    out = tmp_path / "out.png"
    assert main([str(PHOTO), "--style", str(PAINTING), flag, "-o", str(out), *TINY]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists(), "nothing may run on a refused value"
