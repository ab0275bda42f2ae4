"""Training options as one typed dataclass per modality, and the ``multigan train`` command line made from it.

A modality declares its options once, each with a type, a default, a help line and a group
(``model``, ``data``, ``trainer``, ``scoring`` or ``run``)::

    @dataclass
    class MusicOptions(RunOptions):
        steps: int = option(12000, "training iterations", group="trainer")
        midi_folder: Optional[str] = option(None, "train on these 4/4 MIDI files", group="data")

``train(out, options, **overrides)`` takes them (``train(out, steps=100)`` still works), and the
command line is generated from the same class (:func:`add_options`, :func:`parse_options`): one
``--flag`` per field, plus

* ``--set KEY=VALUE`` (repeatable) for any field, and ``--set trainer.FIELD=VALUE`` for any
  :class:`~multigan.core.trainer.TrainerConfig` field the modality does not name (applied last,
  over the paper rules; e.g. ``--set trainer.lr_d=1e-4``);
* ``--config FILE``: a JSON file of options, flat or grouped as a run writes it
  (``<out>/options.json``), so ``multigan train music --config runs/a/options.json --out runs/b``
  repeats a run.

Precedence: defaults < ``--config`` < flags < ``--set``. Unknown names, wrong types and values
outside a field's choices are refused with one message naming the option.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar, Union

__all__ = ["option", "common", "COMMON", "RunOptions", "add_options", "parse_options", "resolve_options", "grouped", "write_options",
           "GROUPS"]

#: option groups, in the order ``options.json`` and ``--help`` list them (``scoring``: how a trained
#: model scores and is calibrated, e.g. AnoGAN's; it does not change training)
GROUPS = ("model", "data", "trainer", "scoring", "run")

T = TypeVar("T", bound="RunOptions")


def option(default: Any, help: str, *, group: str = "model", choices: Optional[tuple] = None,
           parse: Optional[Callable[[str], Any]] = None, flag: Optional[str] = None, metavar: Optional[str] = None,
           nargs: Optional[str] = None) -> Any:
    """A dataclass field of a :class:`RunOptions` class: default, help line, group and how a string becomes a value.

    ``choices`` restricts the value; ``parse`` converts command-line text (default: from the type);
    ``flag`` overrides the generated ``--field-name``; ``nargs="+"`` takes a list as separate
    words (``--set`` and files take it comma-separated or as a list). Mutable defaults are copied.
    """
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, got {group!r}")
    meta = {"help": help, "group": group, "choices": choices, "parse": parse, "flag": flag, "metavar": metavar,
            "nargs": nargs}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _parse_duration(text: Any) -> float:
    from .trainer import parse_duration
    return parse_duration(text)


#: options several modalities share: ``name: (help, group, metavar)``; declare them with :func:`common`
COMMON: dict[str, tuple[str, str, Optional[str]]] = {
    "steps": ("training iterations", "trainer", None),
    "batch_size": ("examples per batch", "trainer", None),
    "ema_decay": ("decay of the generator's moving average, which is what gets exported (none: off)", "trainer",
                  None),
    "lr_g": ("generator's Adam learning rate (none: the paper's)", "trainer", None),
    "lr_d": ("discriminator's Adam learning rate (none: the paper's)", "trainer", None),
    "n_critic": ("discriminator steps per generator step (none: the paper's)", "trainer", None),
    "log_every": ("iterations between log lines", "run", "N"),
    "checkpoint_every": ("iterations between checkpoints (and sample snapshots)", "run", "N"),
    "init_from": ("start from an exported model's weights (a folder or a shipped name) with fresh optimizers, "
                  "counting iterations on from it; built with the same options", "run", "MODEL"),
    "eval_every": ("score the averaged generator every N iterations into eval.jsonl (training stays "
                   "bit-identical)", "run", "N"),
    "eval_size": ("samples per --eval-every score", "run", "N"),
    "eval_n": ("samples scored at the end for training.json's metric table", "run", "N"),
}


def common(name: str, default: Any, help: Optional[str] = None) -> Any:
    """The field of a shared option (:data:`COMMON`) with this modality's default (and help, if given)."""
    text, group, metavar = COMMON[name]
    return option(default, help or text, group=group, metavar=metavar)


@dataclasses.dataclass
class RunOptions:
    """Options every ``multigan train`` has: how a run goes, not what it trains."""

    seed: int = option(0, "seed of initialisation, data order and latents", group="run")
    device: str = option("auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps", group="run")
    precision: str = option("auto", "auto (bf16 on CUDA GPUs that support it, else fp32), fp32, bf16 (also on "
                            "CPUs with native bf16, see multigan info: 1.2-1.8x faster there) or fp16 (GPU only)",
                            group="run", choices=("auto", "fp32", "bf16", "fp16"))
    resume: bool = option(False, "continue from the newest checkpoint in --out", group="run")
    overwrite: bool = option(False, "start afresh in an --out that holds a run, deleting its checkpoints and export",
                             group="run")
    time_limit: Optional[float] = option(None, "stop after this much training (e.g. 2h30m, 45m, 600) with a "
                                         "checkpoint and an export; --resume continues", group="run",
                                         parse=_parse_duration, metavar="DURATION")
    trainer: dict = option({}, "TrainerConfig fields set over the paper rules (--set trainer.FIELD=VALUE)",
                           group="trainer")

    def grouped(self) -> dict[str, dict[str, Any]]:
        """The options by group, as ``options.json`` holds them."""
        return grouped(self)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _base_type(hint: Any) -> tuple[Any, bool]:
    """``(type, optional)`` of a hint: ``Optional[int]`` → ``(int, True)``."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is Union or type(hint).__name__ == "UnionType":
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else Union[tuple(rest)]), type(None) in args
    return hint, False


def _bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _converter(hint: Any, f: Optional[dataclasses.Field] = None) -> Callable[[str], Any]:
    """How command-line text becomes a value of ``hint`` (``"none"`` for an optional field)."""
    if f is not None and f.metadata.get("parse"):
        inner: Callable[[str], Any] = f.metadata["parse"]
    else:
        base, _ = _base_type(hint)
        origin = typing.get_origin(base)
        if base is bool:
            inner = _bool
        elif base in (int, float):
            inner = base
        elif origin in (list, tuple, typing.get_origin(typing.Sequence[int])) or base is list:
            item = (typing.get_args(base) or (str,))[0]
            item_conv = _converter(item)

            def inner(text: str) -> list:
                return [item_conv(t) for t in str(text).split(",") if t.strip()]
        else:
            inner = str
    _, optional = _base_type(hint)

    structured = inner is not str and inner is not _bool and inner not in (int, float)

    def convert(text: Any) -> Any:
        if optional and isinstance(text, str) and text.strip().lower() in ("none", "null", ""):
            return None
        if structured and isinstance(text, str) and text.strip()[:1] in ("[", "{"):    # JSON: lists of dicts
            try:
                return json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"{text!r} is not valid JSON ({err})") from None
        return inner(text)
    return convert


def _check_value(cls: type, name: str, value: Any) -> Any:
    """``value`` for field ``name``: strings converted, then checked against the type and choices."""
    f = {x.name: x for x in dataclasses.fields(cls)}[name]
    hint = _hints(cls)[name]
    if isinstance(value, str) and hint is not str:
        try:
            value = _converter(hint, f)(value)
        except (TypeError, ValueError) as err:
            raise ValueError(f"option {name}: {err}") from None
    base, optional = _base_type(hint)
    if value is None:
        if not optional and f.default is not None:
            raise ValueError(f"option {name} cannot be None")
        return value
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = {int: lambda v: isinstance(v, int) and not isinstance(v, bool), float: lambda v: isinstance(v, float),
          bool: lambda v: isinstance(v, bool), str: lambda v: isinstance(v, str)}.get(base)
    if ok is not None and not ok(value):
        raise ValueError(f"option {name} must be {base.__name__}, got {value!r}")
    choices = f.metadata.get("choices")
    if choices is not None and value not in choices:
        raise ValueError(f"option {name} must be one of {list(choices)}, got {value!r}")
    return value


def _trainer_value(key: str, value: Any) -> Any:
    from .trainer import TrainerConfig

    fields = {f.name for f in dataclasses.fields(TrainerConfig)}
    if key not in fields:
        raise ValueError(f"trainer.{key} is not a TrainerConfig field; see docs/trainer.md")
    if isinstance(value, str):
        hint = _hints(TrainerConfig)[key]
        try:
            value = _converter(hint)(value)
        except (TypeError, ValueError) as err:
            raise ValueError(f"option trainer.{key}: {err}") from None
    return value


def _apply(cls: type[T], values: dict[str, Any], current: dict[str, Any], where: str) -> None:
    """Set ``values`` (flat, grouped, or with ``trainer.X`` keys) into ``current``."""
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if key in GROUPS and key != "trainer" and isinstance(value, dict):      # a grouped file
            _apply(cls, value, current, where)
            continue
        if key == "trainer" and isinstance(value, dict):                         # the trainer group itself
            for k, v in value.items():
                if k in names and k != "trainer":
                    current[k] = _check_value(cls, k, v)
                else:
                    current["trainer"] = {**current["trainer"], k: _trainer_value(k, v)}
            continue
        if key.startswith("trainer."):
            sub = key[len("trainer."):]
            if sub in names and sub != "trainer":
                current[sub] = _check_value(cls, sub, value)
            else:
                current["trainer"] = {**current["trainer"], sub: _trainer_value(sub, value)}
            continue
        if "." in key and key.split(".", 1)[0] in GROUPS:
            key = key.split(".", 1)[1]
        if key not in names:
            close = sorted(n for n in names if n.split("_")[0] == key.split("_")[0])
            raise ValueError(f"{where}: unknown option {key!r}" + (f" (did you mean {', '.join(close)}?)" if close
                                                                     else f"; options: {', '.join(sorted(names))}"))
        current[key] = _check_value(cls, key, value)


def resolve_options(cls: type[T], options: Optional[T] = None, overrides: Optional[dict[str, Any]] = None) -> T:
    """``options`` (default: ``cls()``) with keyword ``overrides`` applied and every value checked."""
    if options is not None and not isinstance(options, cls):
        raise TypeError(f"options must be {cls.__name__}, got {type(options).__name__}")
    current = dataclasses.asdict(options if options is not None else cls())
    _apply(cls, {k: v for k, v in current.items()}, current, cls.__name__)        # check what was given
    _apply(cls, dict(overrides or {}), current, "train()")
    return cls(**current)


def grouped(options: RunOptions) -> dict[str, dict[str, Any]]:
    """``{group: {field: value}}`` (JSON types; ``trainer`` fields next to the trainer group's)."""
    out: dict[str, dict[str, Any]] = {g: {} for g in GROUPS}
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if f.name == "trainer":
            out["trainer"].update(value)
        else:
            out[f.metadata.get("group", "model")][f.name] = value
    return {g: v for g, v in out.items() if v}


def write_options(options: RunOptions, out: str | Path) -> Path:
    """Write ``out/options.json`` (grouped; ``--config`` reads it back)."""
    from .atomic import atomic_file

    path = Path(out) / "options.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        Path(tmp).write_text(json.dumps(grouped(options), indent=2, default=str) + "\n")
    return path


# -- the command line ------------------------------------------------------------------------------

def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_options(parser: argparse.ArgumentParser, cls: type[RunOptions]) -> None:
    """One flag per field of ``cls`` (in argument groups), ``--set KEY=VALUE`` and ``--config FILE``.

    Flags default to "not given" so :func:`parse_options` can layer them over ``--config``.
    """
    hints = _hints(cls)
    sections = {g: parser.add_argument_group(f"{g} options") for g in GROUPS}
    for f in dataclasses.fields(cls):
        if f.name == "trainer":
            continue
        hint, default = hints[f.name], (f.default_factory() if f.default is dataclasses.MISSING else f.default)
        base, _ = _base_type(hint)
        shown = default if not isinstance(default, (list, tuple)) else ",".join(map(str, default)) or "none"
        text = f"{f.metadata.get('help', '')} (default: {shown})"
        group = sections[f.metadata.get("group", "model")]
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": text.replace("%", "%%")}
        if base is bool:
            group.add_argument(_flag(f), action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if f.metadata.get("choices"):
            kwargs["choices"] = list(f.metadata["choices"])
        if f.metadata.get("metavar"):
            kwargs["metavar"] = f.metadata["metavar"]
        if f.metadata.get("nargs"):                  # a list as separate words: --classes chair table
            item = (typing.get_args(base) or (str,))[0]
            group.add_argument(_flag(f), type=_converter(item), nargs=f.metadata["nargs"], **kwargs)
            continue
        group.add_argument(_flag(f), type=_converter(hint, f), **kwargs)
    parser.add_argument("--set", action="append", default=None, metavar="KEY=VALUE", dest="set_options",
                        help="set any option, or trainer.FIELD for any TrainerConfig field (docs/trainer.md); "
                             "repeatable, applied last")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="options from a JSON file (a run's options.json); flags and --set override it")


def parse_options(cls: type[T], args: argparse.Namespace) -> T:
    """The options of a parsed ``multigan train`` command line: defaults < ``--config`` < flags < ``--set``."""
    current = dataclasses.asdict(cls())
    if getattr(args, "config", None):
        path = Path(args.config)
        if not path.is_file():
            raise FileNotFoundError(f"no such options file: {str(path)!r}")
        try:
            values = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"options file {str(path)!r} is not valid JSON: {err}") from None
        if not isinstance(values, dict):
            raise ValueError(f"options file {str(path)!r} must hold a JSON object")
        for run_only in ("resume", "overwrite"):               # a saved run's state, not a choice to repeat
            values.get("run", {}).pop(run_only, None)
        _apply(cls, values, current, f"--config {path}")
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    _apply(cls, given, current, "command line")
    for item in getattr(args, "set_options", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        _apply(cls, {key.strip(): value.strip()}, current, "--set")
    return cls(**current)
