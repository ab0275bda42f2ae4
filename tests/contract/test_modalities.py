"""One contract for every modality: save/load round-trip, seeded generation, the CLI writes its file,
every command's ``--help`` works. A new modality gets these tests by adding its :class:`Spec`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

import multigan
from multigan.cli import MODALITY_COMMANDS, main


@dataclass
class Spec:
    make: Callable[[], Any]                       # a tiny model of the modality's main class
    output: Callable[[Any, int], torch.Tensor]    # the model's seeded output (generate or score) as a tensor
    cli: Callable[[Path, Path], list[str]]        # (model folder, out folder) -> argv of a command writing files
    writes: list[str]                             # files that command writes, relative to the out folder
    commands: tuple[str, ...]                     # the modality's CLI commands
    seeded: bool = True                           # the output depends on the seed (scoring does not)


def _music() -> Spec:
    from multigan.music import MidiNet

    return Spec(lambda: MidiNet(latent_dim=8, generator_channels=16, fc_dim=32, cond_channels=4),
                lambda m, seed: torch.from_numpy(m.generate(["C", "G", "Am"], seed=seed).roll.astype("float32")),
                lambda model, out: ["sample", "music", "--chords", "C G", "--model", str(model), "--seed", "0",
                                    "--out", str(out / "m.mid")],
                ["m.mid"], ("train", "sample", "eval"))


def _voxel() -> Spec:
    from multigan.voxel import GAN3D

    return Spec(lambda: GAN3D(resolution=16, latent_dim=8, channels=(16, 8), embed_dim=4, classes=["a", "b"]),
                lambda m, seed: m.generate(2, label="b", seed=seed).probs,
                lambda model, out: ["sample", "voxel", "--model", str(model), "--label", "a", "-n", "1", "--seed", "0",
                                    "--format", "obj", "--out", str(out)],
                ["a_0.obj"], ("train", "sample", "eval"))


def _video() -> Spec:
    from multigan.video import DVDGAN

    return Spec(lambda: DVDGAN(frames=4, size=16, width=4, latent_dim=8, embed_dim=8, k_frames=2, classes=["x", "y"]),
                lambda m, seed: m.generate(2, label="y", seed=seed).clips,
                lambda model, out: ["sample", "video", "--model", str(model), "--label", "x", "--seed", "0",
                                    "--out", str(out / "c.gif")],
                ["c.gif"], ("train", "sample", "eval"))


def _text2image() -> Spec:
    from multigan.text2image import TextConditionalGAN

    def make():
        model = TextConditionalGAN(z_dim=8, text_dim=16, text_proj_dim=8, ngf=4, ndf=4, text_encoder="words")
        model.set_text_encoder(_WordEncoder("words", 16))
        return model

    def output(model, seed):
        if "_encoder_instance" not in model.__dict__:             # a reloaded model: give it the encoder again
            model.set_text_encoder(_WordEncoder("words", 16))
        return model.generate(["a red circle", "a blue square"], n=2, seed=seed).images

    return Spec(make, output, None, [], ("train", "sample", "eval"))


def _anomaly() -> Spec:
    from multigan.anomaly import AnoGAN

    images = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def write_inputs(folder: Path) -> Path:
        from multigan.io.image import write_image

        for i, image in enumerate(images):
            write_image((image + 1) / 2, folder / "scans" / f"s{i}.png")
        return folder / "scans"

    return Spec(lambda: AnoGAN(image_size=16, width=4, latent_dim=8),
                lambda m, seed: m.score(images, method="izif").maps,
                lambda model, out: ["score", "anomaly", str(write_inputs(out)), "--model", str(model),
                                    "--out", str(out / "report")],
                ["report/scores.csv", "report/overlays/s0.png"], ("train", "score", "eval"), seeded=False)


class _WordEncoder:
    """A stand-in text encoder: one fixed random vector per word, averaged."""

    def __init__(self, name: str, dim: int):
        self.name, self.dim = name, dim

    def encode(self, captions):
        import zlib
        return torch.stack([torch.stack([torch.randn(self.dim, generator=torch.Generator().manual_seed(
            zlib.crc32(w.encode()))) for w in c.split()]).mean(0) for c in captions])


SPECS: dict[str, Callable[[], Spec]] = {"music": _music, "voxel": _voxel, "video": _video,
                                        "text2image": _text2image, "anomaly": _anomaly}


def test_every_modality_has_a_spec():
    assert sorted(SPECS) == sorted(multigan.available_modalities())


@pytest.mark.parametrize("modality", sorted(SPECS))
def test_save_load_round_trip_and_seeded_output(modality, tmp_path):
    spec = SPECS[modality]()
    torch.manual_seed(0)
    model = spec.make().eval()
    first, again, other = spec.output(model, 3), spec.output(model, 3), spec.output(model, 4)
    assert torch.equal(first, again) and torch.equal(first, other) != spec.seeded   # the seed, and only it, decides
    model.save_pretrained(tmp_path / "m")
    loaded = type(model).from_pretrained(tmp_path / "m")
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.config == json.loads(json.dumps(model.config))                   # as config.json holds it
    saved = model.state_dict()
    assert loaded.state_dict().keys() == saved.keys()
    for key, value in loaded.state_dict().items():                                # bit-equal (NaN: unset)
        torch.testing.assert_close(value, saved[key], rtol=0, atol=0, equal_nan=True, msg=key)
    assert torch.equal(spec.output(loaded, 3), first)


@pytest.mark.parametrize("modality", sorted(m for m in SPECS if SPECS[m]().cli is not None))
def test_cli_writes_its_files(modality, tmp_path, capsys):
    spec = SPECS[modality]()
    torch.manual_seed(0)
    spec.make().save_pretrained(tmp_path / "model")
    (tmp_path / "out").mkdir()
    assert main(spec.cli(tmp_path / "model", tmp_path / "out")) == 0, capsys.readouterr().err
    for name in spec.writes:
        assert (tmp_path / "out" / name).is_file() and (tmp_path / "out" / name).stat().st_size > 0, name


@pytest.mark.parametrize("modality", sorted(SPECS))
def test_every_command_has_help_and_others_are_refused(modality, capsys):
    spec = SPECS[modality]()
    for command in spec.commands:
        with pytest.raises(SystemExit) as code:
            main([command, modality, "--help"])
        assert code.value.code == 0
        text = capsys.readouterr().out
        assert text.startswith(f"usage: multigan {command} {modality}") and "(default: " in text, command
    for command in set(MODALITY_COMMANDS) - set(spec.commands):
        assert main([command, modality]) == 2
        assert f"multigan {command} {modality}" in capsys.readouterr().err


@pytest.mark.parametrize("modality", sorted(SPECS))
def test_config_outside_limits_is_refused_before_building(modality, tmp_path):
    spec = SPECS[modality]()
    model = spec.make()
    model.save_pretrained(tmp_path / "m")
    limits = type(model).config_limits
    key = next(k for k in limits if isinstance(model.config.get(k), int) and not isinstance(model.config[k], bool))
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    meta["config"][key] = 100_000 * limits[key][1]
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=f"config.json: {key} = {100_000 * limits[key][1]} is outside"):
        type(model).from_pretrained(tmp_path / "m")


FILE_ROLES = ("models.py", "pipeline.py", "data.py", "metrics.py", "evaluate.py", "recipe.py", "cli.py", "README.md")


@pytest.mark.parametrize("modality", sorted(multigan.MODALITIES))
def test_every_modality_folder_has_the_same_files_and_layers(modality):
    """The same file roles everywhere, and the layers import downwards only: networks and pipelines
    never reach the training recipe or the command line."""
    import ast
    import importlib

    folder = Path(importlib.import_module(multigan.MODALITIES[modality]).__file__).parent
    assert [name for name in FILE_ROLES if not (folder / name).is_file()] == []
    for lower in ("models.py", "pipeline.py", "data.py", "metrics.py", "evaluate.py", "recipe.py"):
        tree = ast.parse((folder / lower).read_text())
        imported = {node.module.rsplit(".", 1)[-1] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module and (node.level or node.module.startswith(
                        multigan.MODALITIES[modality]))}
        upper = {"cli"} | ({"recipe"} if lower != "recipe.py" else set())
        assert not imported & upper, f"{modality}/{lower} imports {imported & upper}"
