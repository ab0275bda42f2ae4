"""Training checkpoints: everything needed for a bit-exact resume, with no pickle.

Layout of one checkpoint folder (written atomically: temp folder + rename)::

    step-0001000/
      model/config.json          constructor arguments (ModelMixin.save_pretrained)
      model/model.safetensors    all network weights
      ema.safetensors            EMA generator weights (when EMA is on)
      training_state.pt          optimizers, GradScaler, every RNG state, counters
                                 (tensors and plain containers only: loaded with weights_only=True)
"""

from __future__ import annotations

import random
import shutil
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.distributed as dist

from .atomic import atomic_dir

__all__ = ["save_training_checkpoint", "config_differences", "load_training_checkpoint", "latest_checkpoint", "checkpoints_newest_first",
           "remove_stale_temporaries", "prune_checkpoints", "rng_state", "set_rng_state", "gather_rng_states",
           "load_state", "UnreadableStateError", "first_line"]

STATE_NAME = "training_state.pt"
EMA_NAME = "ema.safetensors"


def rng_state() -> dict[str, Any]:
    """This process's python, numpy, torch CPU and CUDA RNG states as weights_only-safe values."""
    np_state = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {"python": [version, list(internal), gauss],
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                      int(np_state[3]), float(np_state[4])],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states captured by :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def gather_rng_states(ctx) -> list[dict[str, Any]]:
    """Every process's RNG state, in rank order (a one-element list without torchrun)."""
    mine = rng_state()
    if not ctx.is_distributed:
        return [mine]
    states: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(states, mine)
    return states


def save_training_checkpoint(path: str | Path, model, state: dict[str, Any], *, ema=None) -> Path:
    """Write model weights + config, EMA weights and the training state into folder ``path``."""
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp / "model")
        if ema is not None:
            save_file({k: v.detach().cpu().contiguous().clone() for k, v in ema.state_dict().items()},
                      str(tmp / EMA_NAME))
        torch.save(state, tmp / STATE_NAME)
    return path


def load_training_checkpoint(path: str | Path, model, *, ema=None,
                             map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load weights into ``model`` (and ``ema``) and return the training-state dict."""
    from safetensors.torch import load_file
    from .module import read_config

    path = Path(path)
    if not (path / STATE_NAME).is_file():
        raise FileNotFoundError(f"{path}: not a training checkpoint (no {STATE_NAME})")
    meta = read_config(path / "model")
    if meta["model_type"] != model.model_type:
        raise ValueError(f"{path} holds a {meta['model_type']!r} checkpoint; this trainer trains {model.model_type!r}")
    if not _same_config(meta["config"], model):
        raise ValueError(f"{path}: model configuration differs from the checkpoint's "
                         f"({meta['config']} vs {model.config}); build the model with the checkpoint's config")
    model.load_weights(path / "model" / "model.safetensors", map_location=map_location)
    if ema is not None:
        if (path / EMA_NAME).is_file():
            ema.load_state_dict(load_file(str(path / EMA_NAME), device=str(map_location)))
        else:                                   # EMA switched on for a run trained without it
            warnings.warn(f"{path} has no {EMA_NAME} (trained without EMA): the EMA starts from the "
                          "checkpoint's generator", RuntimeWarning, stacklevel=2)
            ema.load_state_dict(model.generator.state_dict())
    return load_state(path / STATE_NAME)


class UnreadableStateError(RuntimeError):
    """A training-state file that is damaged or holds more than tensors and plain values."""


def load_state(path: str | Path) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with one clear line when the file cannot be read:
    :class:`UnreadableStateError` for a damaged file or one holding other objects (refused, as
    unpickling them could run code; multigan never retries without ``weights_only``)."""
    import pickle

    path = Path(path)
    try:
        with warnings.catch_warnings():            # torch's notice about a foreign pickle protocol: the error says it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as err:
        raise UnreadableStateError(f"{path} is damaged or holds objects other than tensors and plain values "
                                   "(refused: loading them could run code)") from err
    except Exception as err:                    # noqa: BLE001 - truncated zip, bad header, …
        raise UnreadableStateError(f"{path} is damaged ({type(err).__name__}: {first_line(err, 200)})") from err


def first_line(err: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type name when empty), cut to ``limit`` characters."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:limit]


def _jsonable(config: dict) -> Any:
    import json
    return json.loads(json.dumps(config))


def _same_config(saved: dict, model) -> bool:
    """True if ``model`` was built with the checkpoint's config (:func:`config_differences` is empty)."""
    return not config_differences(saved, model)


def config_differences(saved: dict, model, ignore: tuple[str, ...] = ()) -> list[str]:
    """The constructor arguments in which ``model`` differs from a checkpoint's config, sorted.

    A key the checkpoint lacks counts as equal when the model holds that argument's default: the
    checkpoint was written before the option existed, and the default keeps the old behaviour.
    Keys in the model's ``inference_options`` (post-processing only) and in ``ignore`` are not compared.
    """
    import inspect

    ignored = set(getattr(model, "inference_options", ())) | set(ignore)
    current = {k: v for k, v in _jsonable(model.config).items() if k not in ignored}
    saved = {k: v for k, v in saved.items() if k not in ignored}
    params = inspect.signature(type(model).__init__).parameters

    def at_default(key: str, value: Any) -> bool:
        default = params[key].default if key in params else inspect.Parameter.empty
        return default is not inspect.Parameter.empty and _jsonable({key: default})[key] == value

    return sorted({k for k in saved if k not in current} | {
        k for k, v in current.items() if not (saved[k] == v if k in saved else at_default(k, v))})


def latest_checkpoint(folder: str | Path) -> Optional[Path]:
    """The newest complete ``step-*`` checkpoint in ``folder`` (temp folders are ignored)."""
    found = checkpoints_newest_first(folder)
    return found[0] if found else None


def checkpoints_newest_first(folder: str | Path) -> list[Path]:
    """Every complete ``step-*`` checkpoint in ``folder``, the newest first."""
    return sorted((p for p in Path(folder).glob("step-*") if (p / STATE_NAME).is_file()), reverse=True)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete what an interrupted checkpoint write left in ``folder`` (``.step-*.tmp`` and
    ``.step-*.old-*`` folders of :func:`~multigan.core.atomic.atomic_dir`); return what was removed.
    Call it only when no other process is writing there (a run starting or resuming)."""
    stale = sorted(p for p in Path(folder).glob(".step-*")
                   if p.is_dir() and (p.name.endswith(".tmp") or ".old-" in p.name))
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def prune_checkpoints(folder: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest ``step-*`` checkpoints."""
    found = sorted(p for p in Path(folder).glob("step-*") if p.is_dir())
    for old in found[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
