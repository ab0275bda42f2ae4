"""How the music modality trains: :class:`MusicOptions` and :func:`train` — MidiNet's paper rules
as one stage of :func:`multigan.core.recipe.run_stages`, then the metric table and the export.
The command line is in :mod:`.cli`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from multigan.core.options import RunOptions, common, option, resolve_options

from .evaluate import evaluate_model

__all__ = ["MusicOptions", "train"]


@dataclass
class MusicOptions(RunOptions):
    """``multigan train music`` options (MidiNet's architecture is fixed: the paper's model)."""

    midi_folder: Optional[str] = option(None, "train on these 4/4 MIDI files instead of the Bach chorales",
                                        group="data")
    steps: int = common("steps", 12000)
    ema_decay: Optional[float] = common("ema_decay", 0.999)
    log_every: int = common("log_every", 200)
    checkpoint_every: int = common("checkpoint_every", 1000)
    init_from: Optional[str] = common("init_from", None)
    eval_every: Optional[int] = common("eval_every", None)
    eval_size: int = common("eval_size", 64, "8-bar melodies per --eval-every score")
    eval_n: int = common("eval_n", 200, "8-bar melodies scored at the end for training.json's metric table")


def train(out: str | Path, options: Optional[MusicOptions] = None, *, command: str = "", **overrides: Any) -> Path:
    """Train MidiNet with its paper rules through the shared trainer; export the EMA generator.

    ``options`` (:class:`MusicOptions`; keyword ``overrides`` by field name, e.g. ``steps=100``)
    say what to train and how. Writes ``out/options.json``, ``out/checkpoints/`` (resumable),
    ``out/metrics.jsonl`` and ``out/final/`` (fp16 EMA generator + ``training.json`` with the
    command, iterations, time and the metric table of ``eval_n`` generated 8-bar melodies).
    ``time_limit`` (seconds or ``"2h30m"``) ends training early with a checkpoint; ``resume`` goes on.
    ``eval_every`` scores ``eval_size`` 8-bar melodies every that many iterations into
    ``out/eval.jsonl`` (:meth:`MidiNet.training_metrics`; training stays bit-identical).
    """
    o = resolve_options(MusicOptions, options, overrides)
    from multigan.core.recipe import Stage, run_stages

    from .data import BarDataset
    from .models import MidiNet

    dataset = BarDataset.from_midi_folder(o.midi_folder) if o.midi_folder else BarDataset.bach_chorales()
    torch.manual_seed(o.seed)
    model = MidiNet()
    stage = {**MidiNet.trainer_defaults(), "steps": o.steps, "seed": o.seed, "device": o.device,
             "precision": o.precision, "ema_decay": o.ema_decay, "log_every": o.log_every,
             "checkpoint_every": o.checkpoint_every, "snapshot_every": o.checkpoint_every, "snapshot_size": 8,
             "eval_every": o.eval_every, "eval_size": o.eval_size, **o.trainer}
    run = run_stages(model, [Stage("train", dataset, stage)], out, resume=o.resume, overwrite=o.overwrite,
                     init_from=o.init_from, time_limit=o.time_limit, command=command, options=o)
    with run.averaged():
        table = evaluate_model(model, dataset, n=o.eval_n, seed=o.seed)
    return run.export(components=["generator"], data=o.midi_folder or "bach_chorales (multigan/assets/music)",
                      examples=len(dataset), metrics=table)

