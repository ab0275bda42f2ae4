"""The ``multigan`` command line.

    multigan demo --out outputs/                 write example files from every shipped model
    multigan info                                versions, devices, modalities, objectives
    multigan bench [--configs ...] [--scoring]   training-step throughput and trainer overhead (+ anomaly scoring)
    multigan train|sample|score|eval MODALITY …  handed to the modality (see ``multigan MODALITY --help``)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

__all__ = ["main", "HelpFormatter", "modality_parser"]

MODALITY_COMMANDS = ("train", "sample", "score", "eval")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` that shows each option's default, except where there is none to show (None, False)
    or the help text already names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose options without a help text still show their default in ``--help``."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.help is None and action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            action.help = "(default: %(default)s)"
        return action


def modality_parser(command: str, modality: str) -> argparse.ArgumentParser:
    """The argument parser of ``multigan COMMAND MODALITY`` (defaults shown in ``--help``)."""
    return _Parser(prog=f"multigan {command} {modality}", formatter_class=HelpFormatter)


def add_count_arguments(parser: argparse.ArgumentParser, default: int, cap: int, what: str) -> None:
    """``-n`` (how many ``what`` a ``sample`` command makes) and ``--max-n``, the bound on it that
    keeps a typo (``-n 100000``) from filling a disk; :func:`checked_count` applies both."""
    parser.add_argument("-n", type=int, default=default, help=f"{what} to generate")
    parser.add_argument("--max-n", type=int, default=cap,
                        help="refuse an -n above this (bounds time and disk use; raise it to make more)")


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    """``--json FILE`` of every ``eval`` command: the metric table, as printed, also as JSON;
    :func:`print_metrics` prints the table and writes the file."""
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the metric table as JSON here")


def print_metrics(table: dict[str, Any], text: str, json_file: Optional[str]) -> None:
    """Print an ``eval`` command's formatted table ``text``; with ``json_file``, write ``table`` there
    too (atomically: a failed write leaves no file)."""
    print(text)
    if json_file:
        from multigan.io.utils import atomic_file

        Path(json_file).parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(json_file) as tmp:
            Path(tmp).write_text(json.dumps(table, indent=2, default=float) + "\n")
        print(json_file)


def add_seed_argument(parser: argparse.ArgumentParser) -> None:
    """``--seed`` of a ``sample`` command; :func:`chosen_seed` picks and reports one when it is not given."""
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the samples (default: a new one, printed so the samples can be made again)")


def chosen_seed(args: argparse.Namespace) -> int:
    """``args.seed``, or a fresh random seed that is printed (stderr) with the flag that repeats it, so
    two outputs of one sampling (say ``--format glb`` and ``--format obj``) can show the same samples."""
    if args.seed is None:
        import secrets

        args.seed = secrets.randbelow(2**31)
        print(f"seed {args.seed} (add --seed {args.seed} to make the same samples again)", file=sys.stderr)
    return args.seed


def checked_count(args: argparse.Namespace, what: str) -> int:
    """``args.n``, once it is between 1 and ``args.max_n`` (else one ``ValueError`` naming the flag to change)."""
    if args.n < 1:
        raise ValueError(f"-n must be >= 1, got {args.n}")
    if args.n > args.max_n:
        raise ValueError(f"-n {args.n} asks for more {what} than --max-n {args.max_n}; pass --max-n {args.n} "
                         "to make that many")
    return args.n


def _parser() -> argparse.ArgumentParser:
    from multigan import MODALITIES, __version__

    parser = argparse.ArgumentParser(prog="multigan", description="Adversarial generation beyond images.",
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"multigan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="write example outputs (MIDI, WAV, meshes, video, images)",
                          formatter_class=HelpFormatter)
    demo.add_argument("--out", default="outputs", help="output folder")
    demo.add_argument("--seed", type=int, default=0, help="seed of every modality's samples")
    demo.add_argument("--patterns", action="store_true",
                      help="also write the writers' test patterns (scale, torus, moving square, image grid)")

    sub.add_parser("info", help="versions, devices, modalities and objectives")

    bench = sub.add_parser("bench", help="training-step it/s, peak memory and trainer overhead",
                           formatter_class=HelpFormatter)
    bench.add_argument("--configs", nargs="+", default=None, help="benchmark names (default: all)")
    bench.add_argument("--device", default="auto")
    bench.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    bench.add_argument("--steps", type=int, default=None,
                       help="timed iterations per round (default: as many as fill about 1.5 s; --full: 100)")
    bench.add_argument("--rounds", type=int, default=None, help="alternating rounds, median reported (default 3; "
                                                                 "--full: 5)")
    bench.add_argument("--full", action="store_true", help="long paired medians: 100 iterations x 5 rounds each")
    bench.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="override a TrainerConfig option of every configuration, e.g. reuse_fake=true "
                            "(repeatable; VALUE is read as JSON, else as text)")
    bench.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    bench.add_argument("--scoring", action="store_true",
                       help="also time anomaly scoring: images/s of f-AnoGAN and of AnoGAN's search (64x64, width 32)")
    bench.add_argument("--scoring-images", type=int, default=16, help="images scored in one batch (--scoring)")
    bench.add_argument("--scoring-iterations", type=int, default=500, help="Γ of AnoGAN's search (--scoring)")

    for command in MODALITY_COMMANDS:
        p = sub.add_parser(command, help=f"{command} with a modality model ({', '.join(MODALITIES)})",
                           add_help=False)
        p.add_argument("modality", help=f"one of: {', '.join(MODALITIES)}")
        p.add_argument("args", nargs=argparse.REMAINDER, help="the modality's own options")
    return parser


def _demo(out: Path, seed: int, patterns: bool = False) -> int:
    """Run every modality's demo; one failing modality never hides the others.

    A failure prints ``multigan demo: MODALITY failed: error`` (one line), the files written are
    listed either way, and the exit status is 1 when any modality failed."""
    from multigan import available_modalities, load_modality

    files: list[Path] = []
    failed: list[str] = []
    if patterns:
        from multigan.io.patterns import write_test_patterns

        files += list(write_test_patterns(out))
    for name in available_modalities():
        module = load_modality(name)
        if not hasattr(module, "demo"):
            continue
        try:
            files += list(module.demo(out / name, seed=seed))
        except Exception as err:                       # noqa: BLE001 - reported, then the next modality runs
            failed.append(name)
            print(f"multigan demo: {name} failed: {type(err).__name__}: {_one_line(err)}", file=sys.stderr)
            files += sorted(p for p in (out / name).rglob("*") if p.is_file() and p not in files)
    if files:
        from multigan.io.preview import write_preview_page

        files.append(write_preview_page(out, files, title="multigan demo"))
    for f in files:
        print(f)
    print(f"wrote {len(files)} files under {out}/ (open {out / 'index.html'} to see them all)")
    if failed:
        print(f"multigan demo: {len(failed)} of the modalities failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _user_error(err: BaseException) -> bool:
    """Errors a user's arguments, files or disk cause (not a bug of multigan's)."""
    return (isinstance(err, (ValueError, NotImplementedError, TypeError, OSError, RuntimeError, EOFError))
            or type(err).__name__ in ("SafetensorError", "UnpicklingError"))


def _describe(err: BaseException) -> str:
    """One line for an error a user can cause: a bad argument, a file that is missing, unreadable or
    corrupt, a full or read-only disk (``MULTIGAN_DEBUG=1`` shows the traceback instead)."""
    import errno

    if isinstance(err, OSError) and err.errno is not None:
        where = f" ({err.filename})" if err.filename else ""
        if err.errno == errno.ENOSPC and str(err.strerror).startswith("not enough free space"):
            return f"{err.strerror} in {err.filename}; free space or choose another --out"
        if err.errno == errno.ENOSPC:
            return f"disk full while writing{where or ' the output'}; free space or choose another --out"
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"cannot write{where or ' there'}: {err.strerror.lower()}"
        return f"{err.strerror or err}{where}"
    text = _one_line(err)
    if "enforce fail" in text and "unexpected pos" in text:        # torch.save on a full disk
        return "disk full while writing a checkpoint; free space or choose another --out"
    if type(err).__name__ in ("SafetensorError", "UnpicklingError") or isinstance(err, EOFError):
        return f"a file is corrupt or not what it should be ({type(err).__name__}: {text})"
    return text


def _one_line(err: BaseException) -> str:
    """An exception's message on one line (its first line, when it has several)."""
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def _info() -> int:
    import platform

    import torch

    from multigan import MODALITIES, __version__, available_modalities
    from multigan.core.device import cpu_bf16, resolve_device, resolve_precision
    from multigan.core.objectives import available_objectives

    device = resolve_device("auto")
    print(f"multigan {__version__} | python {platform.python_version()} | torch {torch.__version__}")
    print(f"auto device: {device} | auto precision: {resolve_precision('auto', device)}")
    native = cpu_bf16()
    said = f"{native} (--precision bf16 is faster on the CPU)" if native else "not native (fp32 is faster)"
    print(f"CPU bf16: {said}")
    for i in range(torch.cuda.device_count()):
        print(f"  cuda:{i} {torch.cuda.get_device_name(i)}")
    built = set(available_modalities())
    print("modalities: " + ", ".join(f"{m}{'' if m in built else ' (not built yet)'}" for m in MODALITIES))
    print("objectives: " + ", ".join(available_objectives()))
    from multigan.core.module import CONFIG_NAME, assets_dir
    shipped = sorted(f"{p.parent.parent.name}/{p.parent.name}" for p in assets_dir().glob(f"checkpoints/*/*/{CONFIG_NAME}"))
    print("shipped models: " + (", ".join(shipped) if shipped else "none") + f" (in {assets_dir() / 'checkpoints'})")
    return 0


def _bench_options(pairs: list[str]) -> dict[str, Any]:
    """``["reuse_fake=true", "n_critic=2"]`` → ``{"reuse_fake": True, "n_critic": 2}``, checked against TrainerConfig."""
    import dataclasses

    from multigan.core.trainer import TrainerConfig

    known = {f.name for f in dataclasses.fields(TrainerConfig)}
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in known:
            raise ValueError(f"--option {pair!r}: expected KEY=VALUE with KEY a TrainerConfig field "
                             f"({', '.join(sorted(known))})")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    return options


def _bench(args: argparse.Namespace) -> int:
    from multigan import available_modalities, load_modality
    from multigan.bench import BENCHMARKS, default_benchmarks, format_table, run_benchmarks

    for name in available_modalities():                 # modalities register their benchmarks on import
        load_modality(name)
    names = args.configs or default_benchmarks(args.device)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"multigan bench: unknown config(s) {', '.join(unknown)}; available: {', '.join(BENCHMARKS)}",
              file=sys.stderr)
        return 2
    scoring = []
    if args.scoring:            # first, so a bad --scoring-* value fails before the training benchmarks run
        from multigan.anomaly.evaluate import format_scoring_speed, scoring_speed
        from multigan.core.device import resolve_device

        scoring = scoring_speed(n=args.scoring_images, iterations=args.scoring_iterations,
                                device=str(resolve_device(args.device)))
    options = _bench_options(args.option)
    timing = {k: v for k, v in (("steps", args.steps), ("rounds", args.rounds)) if v is not None}
    rows = run_benchmarks(names, full=args.full, device=args.device, precision=args.precision, options=options,
                          **timing)
    print(format_table(rows))
    if scoring:
        print("\nanomaly scoring (untrained AnoGAN, 64x64, width 32):\n" + format_scoring_speed(scoring))
        rows = rows + [{"config": "anomaly-scoring", **r} for r in scoring]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def _modality_command(command: str, modality: str, argv: list[str]) -> int:
    from multigan import load_modality

    module = load_modality(modality)
    handler = getattr(module, "cli", None)
    if handler is None:
        raise NotImplementedError(f"modality {modality!r} has no command line yet")
    return int(handler(command, argv) or 0)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``multigan`` command; returns the exit status."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")   # transformers' "Loading weights" bar: noise here
    args = _parser().parse_args(argv)
    import warnings

    previous = warnings.formatwarning

    def one_line(message, category, filename, lineno, line=None):
        if os.environ.get("MULTIGAN_DEBUG") or not str(filename).startswith(str(Path(__file__).parent)):
            return previous(message, category, filename, lineno, line)         # a library's: as it is
        return f"multigan {args.command}: warning: {message}\n"               # ours: one line, no source

    warnings.formatwarning = one_line
    try:
        if args.command == "demo":
            return _demo(Path(args.out), args.seed, args.patterns)
        if args.command == "info":
            return _info()
        if args.command == "bench":
            return _bench(args)
        return _modality_command(args.command, args.modality, list(args.args))
    except Exception as err:                            # noqa: BLE001 - user errors get one line, the rest re-raise
        if os.environ.get("MULTIGAN_DEBUG") or not _user_error(err):
            raise
        print(f"multigan {args.command}: error: {_describe(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        from multigan.core.trainer import TrainingInterrupted

        if not isinstance(err, TrainingInterrupted):  # the trainer has said where its checkpoint is
            print(f"\nmultigan {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = previous


if __name__ == "__main__":
    sys.exit(main())
