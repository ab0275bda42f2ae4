"""Stability/diversity yardstick: each objective fits 8 Gaussians on a ring within a fixed budget.

The four objectives train in two worker processes (one thread each) so the whole check stays
around a minute on 2 cores. Recipe: ``multigan.core.toys.EIGHT_GAUSSIANS_RECIPES``.
"""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

OBJECTIVES = ["nonsaturating", "hinge", "lsgan", "wgan-gp"]
STEPS = 4000


def _train(objective: str) -> dict:
    import torch
    torch.set_num_threads(1)
    from multigan.core.toys import train_eight_gaussians
    return train_eight_gaussians(objective, steps=STEPS, seed=0)


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        return dict(zip(OBJECTIVES, pool.map(_train, OBJECTIVES)))


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_covers_modes_with_quality(results, objective):
    stats = results[objective]
    assert stats["modes"] >= 7, stats
    assert stats["high_quality"] >= 0.80, stats
