"""`multigan bench` knows the DVD-GAN presets and times a two-headed discriminator."""

import torch

from multigan.bench import BENCHMARKS, BenchConfig, default_benchmarks, register_benchmark, run_benchmark
from multigan.video import DVDGAN


def test_video_presets_registered():
    assert {"video32", "video64", "video128-paper"} <= set(BENCHMARKS)
    assert not {"video32", "video128-paper"} & set(default_benchmarks("cpu"))    # minutes per run on a CPU
    model = BENCHMARKS["video32"].build()
    assert (model.frames, model.size) == (16, 32)
    assert BENCHMARKS["video32"].data().shape[1:] == (16, 1, 32, 32)


def test_bench_runs_dual_discriminator():
    register_benchmark(BenchConfig("video-tiny-test",
                                   lambda: DVDGAN(frames=4, size=16, width=4, channel_mult=(2, 2, 1), k_frames=2),
                                   lambda: torch.rand(8, 4, 1, 16, 16) * 2 - 1, 2))
    try:
        row = run_benchmark("video-tiny-test", device="cpu", steps=2, warmup=1, rounds=1)
    finally:
        BENCHMARKS.pop("video-tiny-test")
    assert row["config"] == "video-tiny-test" and row["batch"] == 2
    assert row["trainer_it_s"] > 0 and row["bare_it_s"] > 0
