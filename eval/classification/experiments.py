"""Approaches a (full MiniLM), b (static distilled tables) and c (combinations), with threshold
selection by cross-validation and a leave-one-topic-out check. Writes results/experiments.txt.

    venv/bin/python experiments.py            # everything (~5-10 min on one core, first run)
"""
from __future__ import annotations

import itertools
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from eval import load_corpus, metrics, term_match_scores  # noqa: E402

OUT = []


def log(s=""):
    print(s, flush=True)
    OUT.append(s)


topics, docs = load_corpus()
KEYS = [t["key"] for t in topics]
LABELS = [d["label"] for d in docs]
N, K = len(docs), len(topics)


def topic_texts(t, mode):
    if mode == "name":
        return [t["name"]]
    if mode == "desc":
        return [t["description"]]
    if mode == "both":
        return [f"{t['name']}: {t['description']}"]
    if mode == "max3":
        return [t["name"], t["description"], f"{t['name']}: {t['description']}"]
    raise ValueError(mode)


# ------------------------------------------------------------------ decisions and metrics
def decide(S, T, M=0.0, topic_mask=None):
    """S: [N,K] scores. Returns list of predicted keys (None = unclassified)."""
    preds = []
    for i in range(S.shape[0]):
        s = S[i].copy()
        if topic_mask is not None:
            s[~topic_mask] = -np.inf
        order = np.argsort(-s, kind="stable")
        b = s[order[0]]
        second = s[order[1]] if np.isfinite(s[order[1]]) else -np.inf
        preds.append(KEYS[order[0]] if (b >= T and b - second >= M) else None)
    return preds


def score_rows(S, preds, idx=None, labels=None):
    idx = range(S.shape[0]) if idx is None else idx
    labels = LABELS if labels is None else labels
    rows = [{"file": docs[i]["file"], "label": labels[i], "pred": preds[i], "score": float(S[i].max())} for i in idx]
    return rows


def acc_of(S, T, M, idx):
    preds = decide(S[idx], T, M)
    return sum(p == LABELS[i] for p, i in zip(preds, idx)) / len(idx)


def choose_threshold(S, idx, margins=(0.0,)):
    """Best accuracy on docs idx; T is the midpoint of the best plateau (not its edge)."""
    best = None
    cands = np.unique(np.round(S[idx].max(1), 4))
    grid = np.concatenate([[cands[0] - 0.01], (cands[:-1] + cands[1:]) / 2, [cands[-1] + 0.01]])
    for M in margins:
        accs = [acc_of(S, T, M, idx) for T in grid]
        top = max(accs)
        # contiguous plateau of the best accuracy with the largest width
        runs, cur = [], []
        for T, a in zip(grid, accs):
            if a == top:
                cur.append(T)
            elif cur:
                runs.append(cur)
                cur = []
        if cur:
            runs.append(cur)
        run = max(runs, key=lambda r: (r[-1] - r[0], -r[0]))
        T = float((run[0] + run[-1]) / 2)
        cand = (top, -M, T, M)
        if best is None or cand[:2] > best[:2]:
            best = cand
    return best[2], best[3]


def folds(seed, n_folds=2):
    rng = random.Random(seed)
    by = {}
    for i, l in enumerate(LABELS):
        by.setdefault(l, []).append(i)
    fs = [[] for _ in range(n_folds)]
    for l, ids in sorted(by.items(), key=lambda kv: str(kv[0])):
        ids = ids[:]
        rng.shuffle(ids)
        for j, i in enumerate(ids):
            fs[j % n_folds].append(i)
    return fs


def cross_validate(S, margins=(0.0,), repeats=20):
    """Repeated stratified 2-fold CV: threshold (and margin) chosen on one half, scored on the other."""
    accs, ffs, ts = [], [], []
    for r in range(repeats):
        a, b = folds(r)
        for train, test in ((a, b), (b, a)):
            T, M = choose_threshold(S, train, margins)
            preds = decide(S[test], T, M)
            accs.append(sum(p == LABELS[i] for p, i in zip(preds, test)) / len(test))
            off = [p for p, i in zip(preds, test) if LABELS[i] is None]
            ffs.append(sum(p is not None for p in off) / len(off))
            ts.append(T)
    return float(np.mean(accs)), float(np.mean(ffs)), float(np.std(ts))


def leave_one_topic_out(S, T, M):
    """For each topic k: the user has no topic k; k's documents must now stay unclassified."""
    filed, total, acc = 0, 0, []
    for k in range(K):
        mask = np.ones(K, bool)
        mask[k] = False
        preds = decide(S, T, M, mask)
        labels = [None if l == KEYS[k] else l for l in LABELS]
        filed += sum(p is not None for p, l in zip(preds, LABELS) if l == KEYS[k])
        total += sum(l == KEYS[k] for l in LABELS)
        acc.append(sum(p == l for p, l in zip(preds, labels)) / N)
    return filed / total, float(np.mean(acc))


RESULTS = {}


def summarise(name, S, margins=(0.0,), extra="", per_doc_ms=None, size_mb=None):
    T, M = choose_threshold(S, list(range(N)), margins)
    preds = decide(S, T, M)
    m = metrics(score_rows(S, preds), KEYS)
    cv_acc, cv_ff, t_sd = cross_validate(S, margins)
    loto_ff, loto_acc = leave_one_topic_out(S, T, M)
    RESULTS[name] = dict(T=T, M=M, acc=m["accuracy"], f1=m["macro_f1"], ff=m["off_topic_false_filing"], cv_acc=cv_acc, cv_ff=cv_ff, loto_ff=loto_ff, loto_acc=loto_acc, ms=per_doc_ms, mb=size_mb)
    log(f"{name:58s} T={T:.3f} M={M:.2f} | acc {m['accuracy']:.3f} F1 {m['macro_f1']:.3f} offFF {m['off_topic_false_filing']:.3f} "
        f"| CV acc {cv_acc:.3f} offFF {cv_ff:.3f} (T sd {t_sd:.3f}) | LOTO filed {loto_ff:.3f}"
        + (f" | {per_doc_ms:.1f} ms/doc" if per_doc_ms is not None else "") + (f" | {size_mb:.1f} MB" if size_mb else "") + extra)
    return m, T, M


def cos_matrix(D, Tv):
    Dn = D / np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1e-12)
    Tn = Tv / np.maximum(np.linalg.norm(Tv, axis=1, keepdims=True), 1e-12)
    return Dn @ Tn.T


def topic_scores(embed, D, mode):
    """[N,K] cosine of docs vs topics, with topic text variants combined by max."""
    S = np.full((N, K), -np.inf)
    for k, t in enumerate(topics):
        for s in topic_texts(t, mode):
            v = embed(s)[None]
            S[:, k] = np.maximum(S[:, k], cos_matrix(D, v)[:, 0])
    return S


# ------------------------------------------------------------------ baseline
def baseline():
    S = np.array([term_match_scores(d["text"], topics) for d in docs])
    preds = decide(S, 0.15)
    m = metrics(score_rows(S, preds), KEYS)
    log(f"{'baseline TermMatch, T=0.15 (today)':58s} acc {m['accuracy']:.3f} F1 {m['macro_f1']:.3f} offFF {m['off_topic_false_filing']:.3f}")
    summarise("baseline TermMatch, threshold re-tuned", S)
    return S


# ------------------------------------------------------------------ a. full model
def full_model():
    from bert_np import MiniLM

    model = MiniLM()
    res = {}
    for variant in ("first256", "chunked"):
        cache = HERE / "cache" / f"full_{variant}.npy"
        t0 = time.perf_counter()
        if cache.exists():
            D = np.load(cache)
            ms = json.loads((HERE / "cache" / f"full_{variant}.json").read_text())["ms"]
        else:
            D = np.stack([model.encode(d["text"], 256, chunked=(variant == "chunked")) for d in docs])
            ms = (time.perf_counter() - t0) / N * 1000
            np.save(cache, D)
            (HERE / "cache" / f"full_{variant}.json").write_text(json.dumps({"ms": ms}))
        for mode in ("name", "both", "max3"):
            S = topic_scores(lambda s: model.encode(s), D, mode)
            summarise(f"a. MiniLM full, doc {variant}, topic {mode}", S, per_doc_ms=ms, size_mb=90.9)
            summarise(f"a. MiniLM full, doc {variant}, topic {mode} +margin", S, margins=(0.0, 0.02, 0.04, 0.06))
            res[(variant, mode)] = S
    return res


# ------------------------------------------------------------------ b. static tables
def static_tables():
    import distill
    from static_model import Table

    res = {}
    tdir = HERE / "cache" / "tables"
    configs = [
        # dims, pool, weighting, a
        (256, "mean", "sif", 1e-3),
        (256, "mean", "sif", 1e-4),
        (256, "mean", "zipf", 1e-4),
        (256, "mean", "none", 0),
        (256, "token", "sif", 1e-3),
        (0, "mean", "sif", 1e-3),
        (128, "mean", "sif", 1e-3),
        (64, "mean", "sif", 1e-3),
    ]
    for dims, pool, weighting, a in configs:
        name = f"{dims or 384}-{pool}-{weighting}-{a:g}"
        path = tdir / f"{name}.bin"
        if not path.exists():
            distill.build(dims, pool, weighting, a, path)
        table = Table(path)
        t0 = time.perf_counter()
        D = np.stack([table.embed(d["text"], center=False) for d in docs])
        ms = (time.perf_counter() - t0) / N * 1000
        for mode in ("both", "max3"):
            S = topic_scores(lambda s: table.embed(s, center=False), D, mode)
            summarise(f"b. static {name}, topic {mode}", S, per_doc_ms=ms, size_mb=path.stat().st_size / 1e6)
            if mode == "max3" or dims == 256:
                summarise(f"b. static {name}, topic {mode} +margin", S, margins=(0.0, 0.02, 0.04, 0.06))
            res[(name, mode)] = S
    return res


def combos(static, base):
    for (name, mode), S in static.items():
        if not name.startswith(("256-mean-sif-0.001", "128-mean-sif-0.001")):
            continue
        for lam in (0.25, 0.5, 1.0):
            C = S + lam * base
            summarise(f"c. static {name} {mode} + {lam} x term score", C)
            summarise(f"c. static {name} {mode} + {lam} x term score +margin", C, margins=(0.0, 0.02, 0.04, 0.06))


def main():
    base = baseline()
    log()
    full_model()
    log()
    st = static_tables()
    log()
    combos(st, base)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "experiments.txt").write_text("\n".join(OUT) + "\n")
    (HERE / "results" / "experiments.json").write_text(json.dumps(RESULTS, indent=1))


if __name__ == "__main__":
    main()
