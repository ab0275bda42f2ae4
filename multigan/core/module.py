"""Base classes of every multigan model: recorded config, safetensors save/load, GAN hooks.

:class:`ModelMixin` records the constructor arguments of every subclass automatically, so
``save_pretrained(dir)`` can write ``config.json`` + ``model.safetensors`` (no pickle) and
``from_pretrained(dir_or_name)`` can rebuild the same model. Names (not paths) resolve to shipped
checkpoints under ``multigan/assets/checkpoints/<modality>/<name>/``.

:class:`AdversarialModel` is what the shared :class:`~multigan.core.trainer.Trainer` drives. A
modality supplies the networks and a few small hooks (how a batch splits into data and condition,
how G and D are called, extra generator losses, how samples become files); the trainer owns the
loop, objectives, penalties, precision, EMA, logging and checkpoints.

Example:
    >>> class ToyGAN(AdversarialModel):
    ...     def __init__(self, latent_dim: int = 2, hidden: int = 16):
    ...         super().__init__()
    ...         self.latent_dim = latent_dim
    ...         self.generator = torch.nn.Sequential(torch.nn.Linear(latent_dim, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2))
    ...         self.discriminator = torch.nn.Sequential(torch.nn.Linear(2, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    >>> ToyGAN(hidden=8).config
    {'latent_dim': 2, 'hidden': 8}
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, NamedTuple, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from .atomic import atomic_dir

if TYPE_CHECKING:
    from .objectives import Objective

__all__ = ["ModelMixin", "AdversarialModel", "DiscriminatorOutput", "FORMAT_VERSION", "assets_dir",
           "model_class", "run_folder_model"]

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
#: beside ``config.json``: the model's ``inference_options`` (how it is used, not what it is)
INFERENCE_NAME = "inference.json"
WEIGHTS_NAME = "model.safetensors"

_MODEL_TYPES: dict[str, type] = {}


def assets_dir() -> Path:
    """Folder of shipped data and checkpoints: ``$MULTIGAN_ASSETS``, else the package's own ``multigan/assets/``
    (package data, so editable installs, ``pip install .`` and wheels all carry it)."""
    return Path(os.environ.get("MULTIGAN_ASSETS", Path(__file__).resolve().parents[1] / "assets"))


def model_class(model_type: str) -> type:
    """The registered :class:`ModelMixin` subclass called ``model_type``."""
    try:
        return _MODEL_TYPES[model_type]
    except KeyError:
        raise ValueError(f"unknown model type {model_type!r}; known: {', '.join(sorted(_MODEL_TYPES)) or 'none'}") from None


def _record_config(init):
    """Wrap ``__init__`` so the outermost call stores its bound arguments in ``self._init_config``."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        outermost = "_init_config" not in self.__dict__
        if outermost:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            config = {}
            for name, value in list(bound.arguments.items())[1:]:
                kind = signature.parameters[name].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    config.update(value)
                elif kind is inspect.Parameter.VAR_POSITIONAL:
                    if value:
                        raise TypeError(f"{type(self).__name__}: *args cannot be recorded in a config")
                else:
                    config[name] = value
            object.__setattr__(self, "_init_config", config)
        init(self, *args, **kwargs)

    return wrapper


class ModelMixin(nn.Module):
    """An ``nn.Module`` whose constructor arguments are recorded for ``save_pretrained``.

    Class attributes:
        model_type:  name written to ``config.json`` (defaults to the class name).
        modality:    subfolder of ``assets/`` holding shipped checkpoints for ``from_pretrained(name)``.
        config_limits: ``{argument: (low, high)}`` for the integer constructor arguments that size the
                     networks (a list's every element is checked). :meth:`from_pretrained` checks a
                     ``config.json`` against them before building anything, so a damaged or hostile
                     file (``width: 100000``) is one clear error, not gigabytes of allocation.
    """

    model_type: ClassVar[str] = "ModelMixin"
    modality: ClassVar[Optional[str]] = None
    config_limits: ClassVar[dict[str, tuple[int, int]]] = {}

    @classmethod
    def check_config(cls, config: dict[str, Any], source: str = "config") -> None:
        """Raise ValueError naming the first entry of ``config`` outside :attr:`config_limits`."""
        for key, (low, high) in cls.config_limits.items():
            value = config.get(key)
            if value is None:
                continue
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
                    raise ValueError(f"{source}: {key} = {value!r} is outside what {cls.__name__} allows "
                                     f"(integers {low}–{high}); the file is damaged or not a model of this kind")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "model_type" not in cls.__dict__:
            cls.model_type = cls.__name__
        if "__init__" in cls.__dict__:
            cls.__init__ = _record_config(cls.__dict__["__init__"])
        _MODEL_TYPES[cls.model_type] = cls

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments this model was built with (a copy)."""
        return dict(self.__dict__.get("_init_config", {}))

    # -- saving ----------------------------------------------------------------------------------

    def save_pretrained(self, path: str | os.PathLike, *, dtype: Optional[torch.dtype] = None,
                        state_dict: Optional[dict[str, Tensor]] = None,
                        components: Optional[Sequence[str]] = None,
                        extra_files: Optional[dict[str, str]] = None) -> Path:
        """Write ``config.json`` + ``model.safetensors`` to the folder ``path`` atomically.

        ``config.json`` holds the architecture (constructor arguments); the arguments named by the
        model's ``inference_options`` (how it scores or post-processes, e.g. AnoGAN's map smoothing)
        go to ``inference.json`` beside it, as diffusers keeps scheduler settings apart.

        Args:
            dtype:        cast floating tensors (e.g. ``torch.float16`` for shipped checkpoints).
            state_dict:   weights to write instead of ``self.state_dict()`` (e.g. EMA weights).
            components:   keep only these top-level submodules (e.g. ``["generator"]``).
            extra_files:  ``{file name: text}`` written beside the weights (e.g. ``training.json``).
        """
        from safetensors.torch import save_file

        usage = set(getattr(self, "inference_options", ()))
        meta = {"model_type": self.model_type, "format_version": FORMAT_VERSION, "multigan_version": _version(),
                "components": list(components or []),
                "config": {k: v for k, v in self.config.items() if k not in usage}}
        inference = {k: v for k, v in self.config.items() if k in usage}
        try:
            json.dumps(meta)
        except TypeError as err:
            raise TypeError(f"{self.model_type}: constructor arguments must be JSON-serialisable to save: {err}") from None
        tensors = _prepare_state(state_dict if state_dict is not None else self.state_dict(), dtype, components)
        with atomic_dir(path) as tmp:
            save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"model_type": self.model_type})
            meta["weights_sha256"] = file_sha256(tmp / WEIGHTS_NAME)      # checked by from_pretrained
            (tmp / CONFIG_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
            if inference:
                (tmp / INFERENCE_NAME).write_text(json.dumps(inference, indent=2, sort_keys=True) + "\n")
            for name, text in (extra_files or {}).items():
                (tmp / name).write_text(text)
        return Path(path)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, *, map_location: str | torch.device = "cpu",
                        ema: bool = True):
        """Rebuild a model saved by :meth:`save_pretrained`, from a folder or a shipped name.

        The model comes back in ``eval()`` mode. Calling it on a base class (``ModelMixin``) builds
        whatever model type the folder holds.

        A training checkpoint (``run/checkpoints/step-N``) or a run folder (see
        :func:`run_folder_model`) loads too, to evaluate a run part-way: the generator gets the
        checkpoint's EMA weights when it has them (then
        :meth:`AdversarialModel.prepare_averaged_generator` runs, as the modality's export would),
        or its raw training weights with ``ema=False`` (which loads a run folder's newest
        checkpoint even when its export is newer).

        Example:
            >>> model = DVDGAN.from_pretrained("runs/mmnist/checkpoints/step-0003000")  # doctest: +SKIP
        """
        from .checkpoint import EMA_NAME, STATE_NAME

        path = run_folder_model(name_or_path, prefer_checkpoint=not ema)
        if (path / STATE_NAME).is_file():
            model = cls.from_pretrained(path / "model", map_location=map_location)
            if ema and (path / EMA_NAME).is_file():
                from safetensors.torch import load_file

                model.generator.load_state_dict(load_file(str(path / EMA_NAME), device=str(map_location)))
                model.prepare_averaged_generator()
            return model
        folder = cls._resolve_pretrained(path)
        meta = read_config(folder)
        if cls.model_type not in ("ModelMixin", "AdversarialModel") and meta["model_type"] != cls.model_type:
            raise ValueError(f"{folder} holds a {meta['model_type']!r} model, not {cls.model_type!r}; "
                             f"load it with {meta['model_type']}.from_pretrained")
        kind = model_class(meta["model_type"])
        config = {**meta["config"], **read_inference(folder, kind)}
        kind.check_config(config, str(folder / CONFIG_NAME))
        model = kind(**config)
        _check_weights_file(folder / WEIGHTS_NAME, meta.get("weights_sha256"))
        model.load_weights(folder / WEIGHTS_NAME, components=meta.get("components") or None,
                           map_location=map_location)
        return model.eval()

    def load_weights(self, file: str | os.PathLike, *, components: Optional[Sequence[str]] = None,
                     map_location: str | torch.device = "cpu") -> None:
        """Load a ``model.safetensors`` file (strictly, within ``components`` when given)."""
        from safetensors.torch import load_file

        loaded = load_file(str(file), device=str(map_location))
        own = self.state_dict()
        expected = {k for k in own if not components or k.split(".")[0] in components}
        missing, unexpected = sorted(expected - loaded.keys()), sorted(loaded.keys() - own.keys())
        if missing or unexpected:
            raise ValueError(f"{file}: weights do not match {self.model_type}: "
                             f"missing {missing[:5]}{'…' if len(missing) > 5 else ''}, "
                             f"unexpected {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}")
        for key, value in loaded.items():
            if value.shape != own[key].shape:
                raise ValueError(f"{file}: {key} has shape {tuple(value.shape)}, model expects {tuple(own[key].shape)}")
        self.load_state_dict({k: v.to(own[k].dtype) for k, v in loaded.items()}, strict=not components)

    @classmethod
    def _resolve_pretrained(cls, name_or_path: str | os.PathLike) -> Path:
        path = Path(name_or_path)
        if (path / CONFIG_NAME).is_file():
            return path
        if cls.modality is not None and not path.is_absolute() and len(path.parts) == 1:
            shipped = assets_dir() / "checkpoints" / cls.modality / str(name_or_path)
            if (shipped / CONFIG_NAME).is_file():
                return shipped
            available = sorted(p.name for p in (assets_dir() / "checkpoints" / cls.modality).glob("*")
                               if (p / CONFIG_NAME).is_file())
            raise FileNotFoundError(f"no checkpoint folder {str(path)!r} and no shipped {cls.modality} model of that "
                                    f"name; shipped: {', '.join(available) or 'none'}")
        if path.is_file():
            raise FileNotFoundError(f"{path}: a file; pass the folder that holds {CONFIG_NAME}")
        if path.is_dir():
            raise FileNotFoundError(f"{path}: neither a model folder ({CONFIG_NAME}) nor a run folder (checkpoints/, "
                                    "final/ or stage*/checkpoints/)")
        raise FileNotFoundError(f"{path}: not a checkpoint folder (expected {path / CONFIG_NAME})")


def run_folder_model(path: str | os.PathLike, *, prefer_checkpoint: bool = False) -> Path:
    """The folder to load for ``path``: ``path`` itself when it holds a model (``config.json``) or
    is not a folder. For a run folder (a training command's ``--out``): its export ``final/`` when
    that is at least as new as its newest checkpoint (the export of a finished run can hold more
    than a checkpoint: f-AnoGAN's encoder and thresholds, StackGAN's stages), else the newest
    checkpoint, of ``checkpoints/`` or of the last stage's (``stage2/``, ``stage1/``).
    ``prefer_checkpoint``: the newest checkpoint whenever there is one (raw training weights live
    only there)."""
    from .checkpoint import STATE_NAME, latest_checkpoint

    path = Path(path)
    if (path / CONFIG_NAME).is_file() or not path.is_dir():
        return path
    folders = [path / "checkpoints", *sorted(path.glob("stage*/checkpoints"), reverse=True)]
    newest = next((found for found in map(latest_checkpoint, folders) if found is not None), None)
    final = path / "final" / CONFIG_NAME
    if final.is_file() and not (prefer_checkpoint and newest is not None):
        if newest is None or final.stat().st_mtime >= (newest / STATE_NAME).stat().st_mtime:
            return final.parent
    return newest if newest is not None else path


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_weights_file(file: Path, expected: Optional[str]) -> None:
    """Warn when ``file`` is not the weights its ``config.json`` recorded (changed or damaged since)."""
    if expected and file.is_file() and file_sha256(file) != expected:
        warnings.warn(f"{file} is not the file its config.json records (SHA-256 differs): it was changed or "
                      "damaged after it was saved; its outputs may not be the model's", RuntimeWarning, stacklevel=3)


def read_inference(folder: str | os.PathLike, kind: type) -> dict[str, Any]:
    """The ``inference.json`` beside a checkpoint's config (``{}`` without one), checked against
    ``kind.inference_options``."""
    file = Path(folder) / INFERENCE_NAME
    if not file.is_file():
        return {}
    try:
        values = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{file}: not valid JSON ({err})") from None
    allowed = set(getattr(kind, "inference_options", ()))
    if not isinstance(values, dict) or set(values) - allowed:
        extra = sorted(set(values) - allowed) if isinstance(values, dict) else values
        raise ValueError(f"{file}: {kind.__name__} has no inference options {extra}; it takes {sorted(allowed)}")
    return values


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check a checkpoint's ``config.json``."""
    file = Path(folder) / CONFIG_NAME
    try:
        meta = json.loads(file.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{file}: missing; not a multigan checkpoint folder") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{file}: not valid JSON ({err})") from None
    if not isinstance(meta, dict) or "model_type" not in meta or "config" not in meta:
        raise ValueError(f"{file}: not a multigan config (needs 'model_type' and 'config')")
    if int(meta.get("format_version", 1)) > FORMAT_VERSION:
        raise ValueError(f"{file}: written by a newer multigan (format {meta['format_version']}, this one reads "
                         f"≤ {FORMAT_VERSION}, version {meta.get('multigan_version')}); upgrade multigan")
    return meta


def _prepare_state(state: dict[str, Tensor], dtype: Optional[torch.dtype],
                   components: Optional[Sequence[str]]) -> dict[str, Tensor]:
    out = {}
    for key, value in state.items():
        if components and key.split(".")[0] not in components:
            continue
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        out[key] = value.contiguous().clone()            # safetensors refuses shared storage
    return out


def _version() -> str:
    from multigan import __version__
    return __version__


def resolve_labels(label: Any, n: int, classes: Sequence[str], what: str = "samples") -> Optional[Tensor]:
    """Resolve a user's ``label`` for ``n`` samples of a model with ``classes`` to int64 indices.

    ``label`` is a class name, an index, or one of either per sample (list or tensor). An
    unconditional model (no ``classes``) takes ``None`` and returns ``None``; anything else is a
    clear ``ValueError``.
    """
    classes = list(classes)
    if not classes:
        if label is not None:
            raise ValueError("this model is unconditional; do not pass a label")
        return None
    if label is None:
        raise ValueError(f"this model is class-conditional; pass label= one of {classes}")
    items = label.tolist() if isinstance(label, Tensor) else label
    items = [items] * n if isinstance(items, (int, str)) else list(items)
    if len(items) != n:
        raise ValueError(f"got {len(items)} labels for {n} {what}")
    out = []
    for item in items:
        if isinstance(item, str):
            if item not in classes:
                raise ValueError(f"unknown label {item!r}; this model knows {classes}")
            out.append(classes.index(item))
        elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item < len(classes):
            out.append(item)
        else:
            raise ValueError(f"label {item!r} is neither a class name nor an index in 0..{len(classes) - 1}")
    return torch.tensor(out, dtype=torch.long)


class DiscriminatorOutput(NamedTuple):
    """What ``run_discriminator`` may return when it also exposes features for feature matching."""

    logits: Union[Tensor, Sequence[Tensor]]
    features: Union[Tensor, Sequence[Tensor], None] = None


class AdversarialModel(ModelMixin):
    """Base class of a modality GAN driven by the shared trainer.

    Subclasses set ``self.generator``, ``self.discriminator`` (any ``nn.Module``; several
    discriminators go in one container module whose forward returns a list of logits) and
    ``self.latent_dim``, and override the hooks below where the defaults do not fit.
    ``inference_options`` names constructor arguments that change only how a trained model is
    used (e.g. how its outputs are post-processed), never its weights or training: resuming a
    checkpoint ignores them, so they can be changed when the run is resumed to export.
    ``data_options`` names constructor arguments that only record how the training data were
    prepared; ``--init-from`` (:meth:`Trainer.warm_start`) ignores them, so a model can be
    fine-tuned on data prepared otherwise. ``training_options`` names constructor arguments that
    only change the training losses, not the networks; ``--init-from`` ignores them too.
    ``growth_options`` names constructor arguments in which ``--init-from`` may differ when the
    model can be grown from a smaller one (:meth:`load_grown_weights`).
    """

    latent_dim: int = 0
    inference_options: tuple[str, ...] = ()
    data_options: tuple[str, ...] = ()
    training_options: tuple[str, ...] = ()
    growth_options: tuple[str, ...] = ()

    def load_grown_weights(self, file: str | os.PathLike, config: dict[str, Any], *,
                           map_location: str | torch.device = "cpu") -> list[str]:
        """Load the weights of a smaller model of this kind (its ``config``) into the layers they fit,
        leaving the others as initialised; return the names of the tensors left so. Called by
        :meth:`Trainer.warm_start` when the exported model differs from this one only in
        ``growth_options``. Default: not supported."""
        raise NotImplementedError(f"{self.model_type} cannot be grown from a smaller model")

    @staticmethod
    def warm_start_iterations(info: dict[str, Any]) -> int:
        """The iteration ``--init-from`` (:meth:`Trainer.warm_start`) counts on from, read from the
        exported model's ``training.json`` (``info``): its ``iterations``. A model trained in stages
        overrides it (StackGAN: Stage-I's iterations)."""
        return int(info.get("iterations", 0))

    def prepare_averaged_generator(self) -> None:
        """Called by :meth:`from_pretrained` once a checkpoint's EMA weights are in ``self.generator``.

        The EMA copies the raw network's BatchNorm buffers as they are; a modality whose export
        re-estimates them for the averaged weights does the same here, so a checkpoint loads as its
        export would. Default: nothing.
        """

    # -- hooks the trainer calls ------------------------------------------------------------------

    def split_batch(self, batch: Any) -> tuple[Tensor, Any]:
        """Split a data-loader batch into (real data, condition). Default: tensor, or (x, y) pairs."""
        if isinstance(batch, Tensor):
            return batch, None
        if isinstance(batch, (list, tuple)) and len(batch) == 2:
            return batch[0], batch[1]
        if isinstance(batch, (list, tuple)) and len(batch) == 1:
            return batch[0], None
        raise TypeError(f"{self.model_type}.split_batch: cannot split a batch of type {type(batch).__name__}; "
                        "override split_batch for this data")

    def sample_latent(self, n: int, *, generator: Optional[torch.Generator] = None,
                      device: torch.device | str = "cpu") -> Tensor:
        """``n`` latent vectors, N(0, I) by default, drawn on ``generator``'s device and moved to ``device``."""
        gen_device = generator.device if generator is not None else device
        return torch.randn(n, self.latent_dim, generator=generator, device=gen_device).to(device)

    @torch.no_grad()
    def generate_batched(self, n: int, labels: Optional[Tensor] = None, *, seed: Optional[int] = None,
                         z: Optional[Tensor] = None, batch_size: int = 64) -> Tensor:
        """Raw generator output for ``n`` samples (float32, CPU), in ``eval()`` mode, ``batch_size`` at a time.

        ``z`` defaults to :meth:`sample_latent` seeded by ``seed``; ``labels`` (int64, length ``n``)
        condition class-conditional generators. The model's training mode is restored afterwards.
        The modalities' ``generate()`` wrap the result in their sample type.
        """
        if int(n) < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        n, batch_size = int(n), int(batch_size)
        device = next(self.parameters()).device
        if z is None:
            gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
            z = self.sample_latent(n, generator=gen)
        elif tuple(z.shape) != (n, self.latent_dim):
            raise ValueError(f"z must have shape ({n}, {self.latent_dim}), got {tuple(z.shape)}")
        was_training = self.training
        self.eval()
        try:
            parts = []
            for i in range(0, n, batch_size):
                y = None if labels is None else labels[i:i + batch_size].to(device)
                parts.append(self.generator(z[i:i + batch_size].to(device), y).float().cpu())
        finally:
            self.train(was_training)
        return torch.cat(parts)

    def run_generator(self, generator: nn.Module, z: Tensor, cond: Any) -> Tensor:
        """Generate a fake batch (``generator`` may be the DDP-wrapped or EMA copy)."""
        return generator(z) if cond is None else generator(z, cond)

    def run_discriminator(self, discriminator: nn.Module, x: Tensor, cond: Any):
        """Return logits, or a :class:`DiscriminatorOutput` with features for feature matching."""
        return discriminator(x) if cond is None else discriminator(x, cond)

    def extra_generator_losses(self, real: Tensor, fake: Tensor, cond: Any) -> dict[str, Tensor]:
        """Model-specific generator loss terms, already weighted (e.g. MidiNet's mean-matching)."""
        return {}

    def discriminator_loss(self, objective: "Objective", real_logits: Any, fake_logits: Any, *, real: Tensor,
                           cond: Any, discriminate: Callable[[Tensor, Any], Any], real_features: Any = None) -> Tensor:
        """The discriminator's adversarial loss on one batch (the trainer adds penalties to it).

        Default: ``objective.d_loss(real_logits, fake_logits)``. Override for terms that need more
        discriminator calls: ``discriminate(x, cond)`` returns logits through the trained (possibly
        DDP-wrapped) discriminator, e.g. real data under mismatched text for a matching-aware
        discriminator (Reed et al. 2016). ``real_features`` are the features
        :meth:`run_discriminator` returned with the real logits (``None`` without), so such a term
        can reuse D's work on the real batch.
        """
        return objective.d_loss(real_logits, fake_logits)

    def extra_adversarial_losses(self, objective: "Objective", cond: Any, *, generate: Callable[[Tensor, Any], Tensor],
                                 discriminate: Callable[[Tensor, Any], Any]) -> dict[str, Tensor]:
        """Further adversarial generator terms, already weighted (e.g. GAN-INT's interpolated text).

        Called in the generator phase with ``generate(z, cond)`` and ``discriminate(x, cond)`` going
        through the trained networks; draw latents with :meth:`sample_latent`. Default: none.
        """
        return {}

    def snapshot_condition(self, cond: Any, n: int) -> Any:
        """Condition for the fixed snapshot batch, taken from a training batch's condition."""
        if cond is None:
            return None
        if isinstance(cond, Tensor):
            return cond[:n]
        raise NotImplementedError(f"{self.model_type}: override snapshot_condition for {type(cond).__name__}")

    def training_metrics(self, dataset: Any, *, n: int, seed: int) -> dict[str, float]:
        """Numbers to track during training (``TrainerConfig.eval_every``): ``{name: value}``.

        Called by :meth:`Trainer.evaluate` with the training ``dataset``, the model in ``eval()``
        mode and the EMA generator (if any) swapped in; generate ``n`` samples seeded by ``seed``.
        Default: not available (the trainer warns once and goes on without).
        """
        raise NotImplementedError(f"{self.model_type} defines no training_metrics")

    def write_samples(self, samples: Tensor, path: Path) -> list[Path]:
        """Write a batch of samples as files named after ``path`` (no suffix); return the files.

        Default: an image grid PNG for (N, C, H, W) samples. Modalities override this with their
        writer (MIDI, mesh, video…).
        """
        if samples.dim() != 4 or samples.shape[1] not in (1, 3):
            raise NotImplementedError(f"{self.model_type}: no writer for samples of shape {tuple(samples.shape)}")
        from multigan.io.image import write_image
        return [write_image(((samples.float().clamp(-1, 1) + 1) / 2).cpu(), path.with_suffix(".png"))]

    # -- user API ---------------------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int, cond: Any = None, *, seed: Optional[int] = None,
               z: Optional[Tensor] = None) -> Tensor:
        """Generate ``n`` samples in eval mode (seeded when ``seed`` is given)."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        if z is None:
            gen = torch.Generator().manual_seed(seed) if seed is not None else None
            z = self.sample_latent(n, generator=gen, device=device)
        try:
            return self.run_generator(self.generator, z.to(device), cond)
        finally:
            self.train(was_training)
