"""Reference implementation of the run-time side (what the Rust port does): read the table written
by distill.py, tokenise with the spec in distill.py's docstring (pure Python, no `tokenizers`),
embed texts as weighted sums of token vectors, and score topics.
"""
from __future__ import annotations

import struct
import unicodedata
from pathlib import Path

import numpy as np

_CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def _is_cjk(cp: int) -> bool:
    return any(a <= cp <= b for a, b in _CJK)


def _is_ws(c: str) -> bool:
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def _is_control(c: str) -> bool:
    if c in "\t\n\r":
        return False
    return unicodedata.category(c) in ("Cc", "Cf")


def _is_punct(c: str) -> bool:
    o = ord(c)
    if 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126:
        return True
    return unicodedata.category(c).startswith("P")


class Table:
    def __init__(self, path: str | Path):
        data = Path(path).read_bytes()
        assert data[:4] == b"SEMB", "bad magic"
        version, V, D, unk, max_chars, flags, _ = struct.unpack_from("<7I", data, 4)
        assert version == 1
        off = 32
        vocab = []
        for _ in range(V):
            (n,) = struct.unpack_from("<H", data, off)
            off += 2
            vocab.append(data[off : off + n].decode("utf-8"))
            off += n
        self.weights = np.frombuffer(data, "<f4", V, off).astype(np.float32)
        off += 4 * V
        self.scales = np.frombuffer(data, "<f4", V, off).astype(np.float32)
        off += 4 * V
        self.center = np.frombuffer(data, "<f4", D, off).astype(np.float32)
        off += 4 * D
        q = np.frombuffer(data, np.int8, V * D, off).reshape(V, D)
        off += V * D
        assert off == len(data), "trailing bytes"
        self.vectors = q.astype(np.float32) * self.scales[:, None]
        self.vocab = {t: i for i, t in enumerate(vocab)}
        self.unk, self.max_chars, self.dims, self.size = unk, max_chars, D, len(data)
        self._cache: dict[str, list[int]] = {}

    # ---- tokeniser (spec in distill.py) ----
    def basic_words(self, text: str) -> list[str]:
        out = []
        for c in text:
            o = ord(c)
            if o == 0 or o == 0xFFFD or _is_control(c):
                continue
            if _is_ws(c):
                out.append(" ")
            elif _is_cjk(o):
                out.append(" " + c + " ")
            else:
                out.append(c)
        s = unicodedata.normalize("NFD", "".join(out))
        s = "".join(c for c in s if unicodedata.category(c) != "Mn").lower()
        words = []
        for chunk in s.split():
            cur = []
            for c in chunk:
                if _is_punct(c):
                    if cur:
                        words.append("".join(cur))
                        cur = []
                    words.append(c)
                else:
                    cur.append(c)
            if cur:
                words.append("".join(cur))
        return words

    def wordpiece(self, word: str) -> list[int]:
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        if len(word) > self.max_chars:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    found = self.vocab[sub]
                    break
                end -= 1
            if found is None:
                ids = [self.unk]
                break
            ids.append(found)
            start = end
        self._cache[word] = ids
        return ids

    def tokenize(self, text: str) -> list[int]:
        ids = []
        for w in self.basic_words(text):
            ids.extend(self.wordpiece(w))
        return ids

    # ---- embedding ----
    def embed(self, text: str, max_tokens: int = 0, center: bool = True) -> np.ndarray:
        """(sum_i w_i v_i) / (sum_i w_i) - center; zero vector when there is nothing to average.
        center=False gives the plain weighted sum (used for the un-centred rows of experiments.py)."""
        ids = self.tokenize(text)
        if max_tokens:
            ids = ids[:max_tokens]
        if not ids:
            return np.zeros(self.dims, np.float32)
        ids = np.asarray(ids)
        w = self.weights[ids]
        total = float(w.sum(dtype=np.float32))
        s = (w[:, None] * self.vectors[ids]).sum(0, dtype=np.float32)
        if not center:
            return s
        if total <= 0.0:
            return np.zeros(self.dims, np.float32)
        return s / np.float32(total) - self.center


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b) / (na * nb) if na > 0 and nb > 0 else 0.0
