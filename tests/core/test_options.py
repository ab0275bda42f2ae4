"""Typed training options: the generated command line, --set, --config and the checks on values."""

import argparse
import json
from dataclasses import dataclass
from typing import Optional

import pytest

from multigan.core.options import RunOptions, add_options, option, parse_options, resolve_options, write_options


@dataclass
class ToyOptions(RunOptions):
    width: int = option(32, "network width")
    kind: str = option("a", "which kind", choices=("a", "b"))
    classes: Optional[list[str]] = option(None, "classes", group="data", nargs="+")
    folder: Optional[str] = option(None, "a folder", group="data")
    steps: int = option(100, "iterations", group="trainer")
    decay: Optional[float] = option(0.999, "EMA decay", group="trainer")
    flag: bool = option(False, "a switch")


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_options(parser, ToyOptions)
    return parse_options(ToyOptions, parser.parse_args(argv))


def test_flags_set_and_config_layer_in_order(tmp_path):
    assert _parse([]) == ToyOptions()
    o = _parse(["--width", "8", "--kind", "b", "--classes", "x", "y", "--no-flag", "--time-limit", "1h30m",
                "--decay", "none"])
    assert (o.width, o.kind, o.classes, o.flag, o.time_limit, o.decay) == (8, "b", ["x", "y"], False, 5400.0, None)
    o = _parse(["--width", "8", "--set", "width=4", "--set", "trainer.lr_d=1e-4", "--set", "trainer.steps=7",
                "--set", "data.classes=p,q", "--set", "flag=true"])
    assert (o.width, o.steps, o.classes, o.flag, o.trainer) == (4, 7, ["p", "q"], True, {"lr_d": 1e-4})
    penalised = _parse(["--set", 'trainer.penalties=[{"name": "r1", "weight": 5}]'])   # JSON: structured fields
    assert penalised.trainer == {"penalties": [{"name": "r1", "weight": 5}]}
    file = write_options(o, tmp_path)                                  # grouped, as a run writes it
    saved = json.loads(file.read_text())
    assert saved["model"]["width"] == 4 and saved["trainer"] == {"lr_d": 1e-4, "steps": 7, "decay": 0.999}
    assert _parse(["--config", str(file)]) == o                       # a saved run's options come back
    assert _parse(["--config", str(file), "--width", "16"]).width == 16   # flags beat the file
    (tmp_path / "flat.json").write_text(json.dumps({"width": 2, "run": {"resume": True}}))
    assert _parse(["--config", str(tmp_path / "flat.json")]).width == 2
    saved["run"]["resume"] = True                                      # a file never resumes by itself
    (tmp_path / "r.json").write_text(json.dumps(saved))
    assert _parse(["--config", str(tmp_path / "r.json")]).resume is False


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="unknown option 'widht'"):
        _parse(["--set", "widht=3"])
    with pytest.raises(ValueError, match="option width: invalid literal"):
        _parse(["--set", "width=three"])
    with pytest.raises(ValueError, match="must be one of"):
        _parse(["--set", "kind=c"])
    with pytest.raises(ValueError, match="trainer.lr_x is not a TrainerConfig field"):
        _parse(["--set", "trainer.lr_x=1"])
    with pytest.raises(ValueError, match="option trainer.penalties: .* is not valid JSON"):
        _parse(["--set", 'trainer.penalties=[{"name": r1}]'])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        _parse(["--set", "width"])
    with pytest.raises(FileNotFoundError, match="no such options file"):
        _parse(["--config", "/nonexistent/options.json"])
    with pytest.raises(SystemExit):
        _parse(["--kind", "c"])                                        # argparse names the choices
    with pytest.raises(ValueError, match="option width must be int"):
        resolve_options(ToyOptions, None, {"width": 2.5})
    with pytest.raises(ValueError, match="unknown option 'depth'"):
        resolve_options(ToyOptions, None, {"depth": 2})


def test_resolve_options_for_the_python_api():
    base = ToyOptions(width=8)
    o = resolve_options(ToyOptions, base, {"steps": 5, "time_limit": "2m", "decay": None})
    assert (o.width, o.steps, o.time_limit, o.decay) == (8, 5, 120.0, None) and base.steps == 100
    with pytest.raises(TypeError, match="options must be ToyOptions"):
        resolve_options(ToyOptions, RunOptions())


def test_a_music_run_writes_options_that_repeat_it(tmp_path):
    from multigan.music.cli import _parser
    from multigan.music.recipe import MusicOptions

    args = _parser("train").parse_args(["--out", "x", "--steps", "2", "--set", "trainer.lr_g=1e-3"])
    o = parse_options(MusicOptions, args)
    assert o.steps == 2 and o.trainer == {"lr_g": 1e-3}
    file = write_options(o, tmp_path)
    again = parse_options(MusicOptions, _parser("train").parse_args(["--out", "y", "--config", str(file)]))
    assert again == o
