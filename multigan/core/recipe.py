"""One training run for every modality: stages of the shared :class:`~multigan.core.Trainer`,
then evaluation with the averaged generator, provenance and the export.

A modality's ``train()`` builds its model, its data and its :class:`TrainerConfig` options (the
paper rules), names its stages and hands them to :func:`run_stages`; everything that is the same
for every modality happens here, once:

1. the run folder is checked (:func:`~multigan.core.trainer.prepare_run_folder`: runs are never
   mixed; ``--overwrite`` starts afresh);
2. each stage gets a :class:`Trainer` in its own folder, resumes from its newest checkpoint (or
   warm-starts from an exported model), and trains; one time limit covers all stages, and a stage
   whose successor already has a checkpoint is done (that checkpoint holds the whole model);
3. :class:`Run` then evaluates with the averaged generator (:meth:`Run.averaged`), writes
   ``training.json`` (commands of the whole lineage, seconds, device, the trainer config, the
   modality's fields) and exports the fp16 model to ``out/final`` (:meth:`Run.export`).

    stages = [Stage("train", dataset, {**MidiNet.trainer_defaults(), "steps": 12000, ...})]
    run = run_stages(model, stages, out, resume=resume, command=command, time_limit=time_limit)
    with run.averaged():
        table = evaluate_model(model, dataset)
    return run.export(components=["generator"], data="bach_chorales", metrics=table)

StackGAN has two stages (Stage-I, then Stage-II with Stage-I frozen); f-AnoGAN's GAN stage is
a stage here and its encoder stage follows in :mod:`multigan.anomaly.recipe`.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch

from . import checkpoint as ckpt
from .options import grouped, write_options
from .trainer import Trainer, TrainerConfig, parse_duration, prepare_run_folder

__all__ = ["Stage", "Run", "run_stages"]


@dataclass
class Stage:
    """One phase of a run: a :class:`Trainer` over ``data`` with the :class:`TrainerConfig` options
    ``options`` (``steps`` among them), its checkpoints in ``out/folder`` (``""``: ``out`` itself).

    ``data`` may be a callable that builds the dataset once the stage starts (after ``before``);
    ``before()`` prepares the model for the stage (e.g. StackGAN's ``set_stage``) and runs for
    skipped stages too; ``after(trainer)`` runs when the stage has trained to its end and another
    stage follows (e.g. Stage-II starts from the averaged Stage-I generator).
    """

    name: str
    data: Any
    options: dict[str, Any]
    folder: str = ""
    before: Optional[Callable[[], None]] = None
    after: Optional[Callable[[Trainer], None]] = None


@dataclass
class Run:
    """A finished (or time-limited) run: the last stage's trainer and the run's provenance."""

    model: Any
    trainer: Trainer
    out: Path
    command: str
    history: dict[str, Any]              # the lineage before this command (Trainer.resume_run)
    seconds: float                       # this command's training seconds, all stages
    steps: dict[str, int] = field(default_factory=dict)      # iterations reached per stage
    stopped_by_time_limit: bool = False
    options: Optional[dict[str, Any]] = None                 # the modality's options, grouped (options.json)

    @contextlib.contextmanager
    def averaged(self, module: str = "generator") -> Iterator[Any]:
        """The model with the EMA weights in ``model.<module>`` (as trained when there is no EMA)."""
        ema = self.trainer.ema
        with (ema.swapped_into(getattr(self.model, module)) if ema is not None else contextlib.nullcontext()):
            yield self.model

    def info(self, **fields: Any) -> dict[str, Any]:
        """``training.json``'s content: :meth:`Trainer.run_info` plus ``fields``."""
        extra = {"options": self.options} if self.options is not None else {}
        return self.trainer.run_info(self.command, self.history, self.seconds,
                                     **{"stopped_by_time_limit": self.stopped_by_time_limit, **extra, **fields})

    def export(self, *, components: Optional[list[str]] = None, dtype: torch.dtype = torch.float16,
               **fields: Any) -> Path:
        """Write ``out/final`` (weights in ``dtype``, the EMA generator in place of G's, with
        ``training.json`` from :meth:`info`), leave the process group and return the folder."""
        text = json.dumps(self.info(**fields), indent=2, default=str) + "\n"
        final = self.trainer.export(self.out / "final", dtype=dtype, components=components,
                                    extra_files={"training.json": text})
        self.trainer.close()                              # torchrun: leave the process group (no-op alone)
        return final


def _has_checkpoint(folder: Path) -> bool:
    return ckpt.latest_checkpoint(folder / "checkpoints") is not None


def run_stages(model: Any, stages: list[Stage], out: str | Path, *, resume: bool = False, overwrite: bool = False,
               init_from: Optional[str] = None, time_limit: Optional[float | str] = None,
               command: str = "", options: Any = None) -> Run:
    """Train ``model`` through ``stages`` in the run folder ``out`` and return the :class:`Run`.

    ``resume`` goes on from the newest checkpoints (``FileNotFoundError`` when there is none and no
    ``init_from``); ``overwrite`` deletes a previous run in ``out`` first; ``init_from`` (an exported
    model) starts the first stage from its weights when there is nothing to resume; ``time_limit``
    (seconds or ``"2h30m"``) covers all stages: the stage running when it is spent checkpoints and
    stops, later stages wait for ``resume``. ``command`` joins the run's lineage (default: ``sys.argv``).
    ``options`` (the modality's :class:`~multigan.core.options.RunOptions`) are written to
    ``out/options.json`` (``--config`` reads it back) and into ``training.json``.
    """
    if not stages:
        raise ValueError("a run needs at least one stage")
    out = Path(out)
    command = command or shlex.join(sys.argv)
    folders = [out / s.folder if s.folder else out for s in stages]
    prepare_run_folder(out, resume=resume, overwrite=overwrite)      # before any stage's trainer looks
    started = [resume and _has_checkpoint(f) for f in folders]
    if resume and init_from is None and not any(started):
        where = folders[0] / "checkpoints" if len(stages) == 1 else f"any stage's checkpoints under {out}"
        raise FileNotFoundError(f"nothing to resume: no checkpoint in {where} (check --out, or drop --resume "
                                "to start a new run)")
    last_started = max((k for k, s in enumerate(started) if s), default=-1)
    clock = time.perf_counter()
    deadline = None if time_limit is None else clock + parse_duration(time_limit)
    trainer: Optional[Trainer] = None
    history: Optional[dict[str, Any]] = None
    lineage: tuple[list[str], float] = ([], 0.0)
    steps: dict[str, int] = {}
    seconds, stopped = 0.0, False
    for k, (stage, folder) in enumerate(zip(stages, folders)):
        if stage.before is not None:
            stage.before()
        if k < last_started:                 # a later stage's checkpoint holds this stage's weights
            steps[stage.name] = int(stage.options["steps"])
            continue
        if deadline is not None and trainer is not None and trainer.dist.all_true(time.perf_counter() >= deadline,
                                                                                 trainer.device):
            stopped = True                   # the time went to earlier stages (every rank agrees): resume goes on
            break
        if trainer is not None:
            trainer.close()                  # the next stage's trainer joins a fresh process group
        limit = time_limit if trainer is None else max(deadline - time.perf_counter(), 1e-9) if deadline else None
        data = stage.data() if callable(stage.data) else stage.data
        trainer = Trainer(model, data, TrainerConfig(**{**stage.options, "out_dir": str(folder),
                                                        "time_limit": limit}))
        first = history is None
        prior = trainer.resume_run(started[k] or (first and resume and init_from is not None), command,
                                   init_from=init_from if first else None)
        if first:                            # the run's lineage: from the first stage trained now
            history = prior
            if options is not None and trainer.dist.is_main:      # once the run is sure to start
                write_options(options, out)
        elif not prior["commands"]:          # a fresh later stage carries the earlier stages' lineage on
            trainer.commands, trainer.train_seconds = lineage
        fit_start = time.perf_counter()
        trainer.fit()
        seconds += time.perf_counter() - fit_start
        lineage = (trainer.commands, trainer.train_seconds)
        steps[stage.name] = trainer.step
        if trainer.stopped_by_time_limit:
            stopped = True
            break
        if stage.after is not None and k + 1 < len(stages):
            stage.after(trainer)
    assert trainer is not None and history is not None   # the last stage always trains or is cut by the deadline
    return Run(model, trainer, out, command, history, seconds, steps, stopped,
               grouped(options) if options is not None else None)
