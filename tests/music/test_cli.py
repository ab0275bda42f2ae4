"""The music command line: sample, eval and train end to end on tiny inputs."""

import json

import pytest
import torch

from multigan.cli import main
from multigan.music import MidiNet

from test_data import _write_song


@pytest.fixture()
def tiny_model(tmp_path):
    torch.manual_seed(0)
    MidiNet(latent_dim=8, generator_channels=16, fc_dim=32, cond_channels=4).save_pretrained(tmp_path / "tiny")
    return tmp_path / "tiny"


def test_sample_writes_midi_audio_and_plot(tmp_path, tiny_model, capsys):
    out = tmp_path / "o"
    assert main(["sample", "music", "--chords", "C G Am F", "--out", str(out / "m.mid"), "--model", str(tiny_model),
                 "--seed", "1", "--audio", str(out / "m.wav"), "--plot", str(out / "r.png")]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["m.mid", "m.wav", "r.png"]
    assert main(["sample", "music", "--chords", "C Xm", "--out", str(out / "x.mid"), "--model", str(tiny_model)]) == 2
    assert "unknown chord symbol 'Xm'" in capsys.readouterr().err
    assert not (out / "x.mid").exists()


def test_eval_prints_data_and_generated(tiny_model, capsys):
    assert main(["eval", "music", "--model", str(tiny_model), "--n", "3"]) == 0
    out = capsys.readouterr().out
    assert "| chord_tone_ratio |" in out and "| metric | data | generated |" in out


def test_train_on_a_midi_folder(tmp_path):
    progression = [[48, 52, 55], [43, 47, 50], [45, 48, 52], [41, 45, 48]] * 2
    (tmp_path / "midi").mkdir()
    _write_song(tmp_path / "midi" / "song.mid", progression)
    assert main(["train", "music", "--midi-folder", str(tmp_path / "midi"), "--out", str(tmp_path / "run"),
                 "--steps", "2", "--device", "cpu", "--eval-every", "2", "--eval-size", "4", "--eval-n", "4"]) == 0
    info = json.loads((tmp_path / "run" / "final" / "training.json").read_text())
    assert info["iterations"] == 2 and "chord_tone_ratio" in info["metrics"]["generated"]
    row = json.loads((tmp_path / "run" / "eval.jsonl").read_text())      # one in-training score, at 2
    assert row["step"] == 2 and 0 <= row["chord_tone_ratio"] <= 1 and row["empty_bar_rate"] >= 0
    assert info["trainer"]["eval_every"] == 2 and info["trainer"]["eval_size"] == 4 and info["eval"] == row
    assert MidiNet.from_pretrained(tmp_path / "run" / "final").config["latent_dim"] == 100
    saved = json.loads((tmp_path / "run" / "options.json").read_text())   # the options, grouped, for --config
    assert saved["data"]["midi_folder"] == str(tmp_path / "midi") and saved["trainer"]["steps"] == 2
    assert info["options"] == saved
    assert main(["train", "music", "--midi-folder", str(tmp_path / "midi"), "--out", str(tmp_path / "cut"),
                 "--steps", "3", "--device", "cpu", "--time-limit", "0.000001", "--eval-n", "2"]) == 0
    info = json.loads((tmp_path / "cut" / "final" / "training.json").read_text())
    assert info["iterations"] == 1 and info["stopped_by_time_limit"] is True


def test_ctrl_c_in_train_checkpoints_prints_the_resume_command_and_exits_130(tmp_path, monkeypatch, capsys):
    import os
    import shlex
    import signal

    from multigan.core.trainer import Trainer

    step = Trainer.train_step

    def interrupted_step(self, data):
        logs = step(self, data)
        if self.step == 1:
            os.kill(os.getpid(), signal.SIGINT)           # as a terminal's Ctrl-C, mid-run
        return logs

    monkeypatch.setattr(Trainer, "train_step", interrupted_step)
    out = tmp_path / "run"
    penalty = 'trainer.penalties=[{"name": "r1", "weight": 1}]'             # an argument with spaces and quotes
    args = ["--out", str(out), "--steps", "50", "--device", "cpu", "--set", penalty]
    assert main(["train", "music", *args]) == 130
    err = capsys.readouterr().err
    assert (out / "checkpoints" / "step-0000001").is_dir() and not (out / "final").exists()
    line = next(x for x in err.splitlines() if x.startswith("continue with: "))
    assert shlex.split(line.removeprefix("continue with: ")) == ["multigan", "train", "music", *args, "--resume"]
    assert "Traceback" not in err
    monkeypatch.setattr(Trainer, "train_step", step)
    assert main(["train", "music", "--out", str(tmp_path / "typo"), "--steps", "2", "--resume"]) == 2
    assert "nothing to resume: no checkpoint in" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()
