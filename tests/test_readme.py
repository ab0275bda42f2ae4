"""Every command and Python block of README.md runs as written, in one empty folder.

Lines whose comment says ``long-running`` (full training runs) and ``pip install`` lines are
skipped; everything else must exit 0 without a traceback. ``examples/`` is copied in, as in a
checkout. The first block (``multigan demo``, whose files later blocks read) runs first; the other
blocks then run two at a time, the lines of one block in order.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)

Step = tuple[str, str]      # ("python", block) or ("shell", one command line)


def readme_blocks(text: str) -> list[list[Step]]:
    """The runnable steps of each fenced ``python`` / ``bash`` block, in README order (empty blocks dropped)."""
    blocks = []
    for language, body in FENCE.findall(text):
        steps: list[Step] = []
        if language == "python":
            steps.append(("python", body))
        elif language == "bash":
            for line in body.splitlines():
                command = line.strip()
                if not command or command.startswith("#") or "long-running" in line:
                    continue
                if command.startswith("pip install"):
                    continue                                 # the environment under test is installed already
                steps.append(("shell", command))
        if steps:
            blocks.append(steps)
    return blocks


BLOCKS = readme_blocks(README.read_text())
STEPS = [(b, s) for b, block in enumerate(BLOCKS) for s in range(len(block))]


def _run(kind: str, code: str, cwd: Path, threads: int | None = None) -> tuple[int, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)        # two blocks at once: one thread each, no oversubscription
    args = [sys.executable, "-c", code] if kind == "python" else code
    run = subprocess.run(args, shell=kind == "shell", cwd=cwd, env=env, capture_output=True, text=True)
    failed = run.returncode != 0 or "Traceback" in run.stderr
    return (1 if failed else 0), f"exit {run.returncode}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"


def _run_block(block: list[Step], cwd: Path, threads: int | None = None) -> list[tuple[int, str]]:
    results = []
    for kind, code in block:
        if results and results[-1][0]:
            results.append((1, "not run: an earlier line of its block failed"))
        else:
            results.append(_run(kind, code, cwd, threads))
    return results


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory) -> tuple[Path, dict[tuple[int, int], tuple[int, str]]]:
    """The folder the README ran in, and ``(failed, output)`` per ``(block, line)``."""
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", folder / "examples")
    done = {0: _run_block(BLOCKS[0], folder)}
    with ThreadPoolExecutor(2) as pool:
        futures = {b: pool.submit(_run_block, BLOCKS[b], folder, 1) for b in range(1, len(BLOCKS))}
        done.update({b: f.result() for b, f in futures.items()})
    return folder, {(b, s): result for b, block in done.items() for s, result in enumerate(block)}


def test_readme_parsing_finds_every_kind_of_step():
    steps = [step for block in BLOCKS for step in block]
    commands = [code for kind, code in steps if kind == "shell"]
    assert {kind for kind, _ in steps} == {"python", "shell"} and BLOCKS[0] == [("shell", "multigan demo --out outputs/")]
    assert not any("long-running" in c or c.startswith("pip") for c in commands)
    assert any(c.startswith("python examples/") for c in commands)
    sample = "```bash\nmultigan a  # quick\nmultigan b   # long-running: skip\n\n# note\n```\n```python\nx = 1\n```\n"
    assert readme_blocks(sample) == [[("shell", "multigan a  # quick")], [("python", "x = 1\n")]]


@pytest.mark.parametrize("block, step", STEPS,
                         ids=[f"{b:02d}.{s}-{BLOCKS[b][s][1].splitlines()[0][:50]}" for b, s in STEPS])
def test_readme_step_runs_as_written(block, step, readme_run):
    failed, output = readme_run[1][(block, step)]
    assert not failed, f"{BLOCKS[block][step][1]}\n{output}"


def test_demo_writes_every_kind_the_readme_lists(readme_run):
    folder, results = readme_run
    out = folder / "outputs"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    overlays = [f"anomaly/overlays/brain_mri_test_{name}.png" for name in
                ("00000_z031", "00001_z111", "00002_z059", "00003_z119", "00004_z091", "00005_z127",
                 "00006_z127", "00010_z043")]                      # 4 normal + 4 lesioned test slices
    slices = [o.replace("overlays/", "slices/") for o in overlays]          # the inputs, to score again
    assert written == [*overlays, "anomaly/scores.csv", *slices, "index.html", "music/melody.mid", "music/melody.wav",
                       "music/roll.png", "text2image/emoji.png", "text2image/grid.png", "video/clip.mp4", "video/grid.gif",
                       "voxel/chair.glb", "voxel/preview.png", "voxel/table.mtl", "voxel/table.obj"]   # no test patterns
    assert all((out / w).stat().st_size > 100 for w in written)
    assert "wrote 29 files" in results[(0, 0)][1]
    page = (out / "index.html").read_text()                      # every output shown by a player of its kind
    for w in written:
        if w != "index.html":
            assert f'href="{w}"' in page, w
    assert page.count('data-kind="mesh"') == 2 and page.count("<iframe") == 2 and "srcdoc=" in page
    assert page.count("<video ") == 1 and page.count("<audio ") == 1 and page.count('data-kind="table"') == 1
    assert page.count("<img ") == 16 + 5                         # overlays, slices, roll, 2 grids, preview, gif
    from multigan.anomaly import brain_mri, read_images
    again, test = read_images(out / "anomaly" / "slices", preprocess="none"), brain_mri("test", size=64)
    assert again.names[0] == "brain_mri_test_00000_z031.png" and again.images.shape == (8, 1, 64, 64)
    assert (again.images[0] - test.images[0]).abs().max() <= 1 / 255 + 1e-6      # the same slice, 8-bit
    rows = list(csv.DictReader(open(out / "anomaly" / "scores.csv")))
    flagged = [r["truth"] for r in rows if r["label"] == "anomalous"]
    assert len(rows) == 8 and flagged.count("anomalous") >= 2                  # the shipped model finds lesions
    score = {r["name"]: float(r["score"]) for r in rows}
    assert min(score[r["name"]] for r in rows if r["label"] == "anomalous") > \
        max(score[r["name"]] for r in rows if r["label"] == "normal")          # one threshold splits them
    mean = {t: sum(score[r["name"]] for r in rows if r["truth"] == t) / 4 for t in ("normal", "anomalous")}
    assert mean["anomalous"] > mean["normal"]
