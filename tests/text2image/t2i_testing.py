"""Shared pieces of the text2image tests: a stand-in text encoder and a one-thread fixture."""

import zlib

import pytest
import torch


class WordEncoder:
    """Stand-in for the transformer: the mean of one fixed random vector per word (crc32-seeded)."""

    def __init__(self, name: str, dim: int):
        self.name, self.dim = name, dim

    def encode(self, captions):
        vectors = [torch.stack([torch.randn(self.dim, generator=torch.Generator().manual_seed(zlib.crc32(w.encode())))
                                for w in c.split()]).mean(0) for c in captions]
        return torch.stack(vectors)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tests' tiny networks run fastest (and beside background jobs) on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
