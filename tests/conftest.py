"""Suite-wide settings.

The suite runs in two pytest-xdist workers, one test file per worker at a time (``-n 2 --dist
loadfile`` in pyproject.toml). Each worker's torch uses one thread, so the two processes share two
cores without oversubscribing them, and the README's commands (the longest file) start first.
"""

from __future__ import annotations

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items) -> None:
    """README tests first (a stable sort: every other test keeps its order)."""
    items.sort(key=lambda item: 0 if item.nodeid.startswith("tests/test_readme.py") else 1)
