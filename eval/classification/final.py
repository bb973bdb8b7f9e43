"""The recommended classifier and the final figures (writes results/final.txt, results/golden.json).

    venv/bin/python final.py

Recommended scoring (static-128 table + today's term score), per topic k with texts
name_k, desc_k, both_k = f"{name}: {description}":
    sem_k   = max(cos(vec(doc), vec(name_k)), cos(vec(doc), vec(desc_k)), cos(vec(doc), vec(both_k)))
    score_k = sem_k + 0.5 * term_k                 (term_k: TermMatchClassifier's normalised score)
    best    = argmax_k score_k (ties: older topic)
    filed under best if score_best >= T, else unclassified
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import distill  # noqa: E402
from eval import evaluate, load_corpus, report, term_match_scores  # noqa: E402
from static_model import Table, cosine  # noqa: E402

LAMBDA = 0.5
OUT = []


def log(s=""):
    print(s, flush=True)
    OUT.append(s)


def topic_variants(t):
    return [t["name"], t["description"], f"{t['name']}: {t['description']}"]


def static_scores(table: Table, text: str, topics, lam=LAMBDA, mode="max3"):
    d = table.embed(text)
    sem = []
    for t in topics:
        texts = topic_variants(t) if mode == "max3" else [f"{t['name']}: {t['description']}"]
        sem.append(max(cosine(d, table.embed(s)) for s in texts))
    sem = np.array(sem)
    if lam:
        sem = sem + lam * np.array(term_match_scores(text, topics))
    return sem


def make_classifier(score_fn, T):
    def classify(text, topics):
        s = score_fn(text, topics)
        best = max(range(len(s)), key=lambda i: (s[i], -i))
        return (topics[best]["key"] if s[best] >= T else None), float(s[best])

    return classify


# ---------------------------------------------------------------- threshold selection
def acc_ff(S, labels, keys, T, idx):
    ok = filed = off = 0
    for i in idx:
        k = int(np.argmax(S[i]))
        pred = keys[k] if S[i, k] >= T else None
        ok += pred == labels[i]
        if labels[i] is None:
            off += 1
            filed += pred is not None
    return ok / len(idx), filed / max(1, off)


def choose_T(S, labels, keys, idx, max_ff=None):
    """Accuracy-optimal T (midpoint of the widest best plateau), optionally subject to FF <= max_ff."""
    c = np.unique(np.round(S[idx].max(1), 4))
    grid = np.concatenate([[c[0] - 0.01], (c[:-1] + c[1:]) / 2, [c[-1] + 0.01]])
    res = [(T,) + acc_ff(S, labels, keys, T, idx) for T in grid]
    if max_ff is not None:
        res = [r for r in res if r[2] <= max_ff + 1e-12]
    top = max(r[1] for r in res)
    best = [r[0] for r in res if r[1] == top]
    # widest contiguous run among grid points
    runs, cur = [], [best[0]]
    gl = list(grid)
    for a, b in zip(best, best[1:]):
        if gl.index(b) == gl.index(a) + 1:
            cur.append(b)
        else:
            runs.append(cur)
            cur = [b]
    runs.append(cur)
    run = max(runs, key=lambda r: r[-1] - r[0])
    return float((run[0] + run[-1]) / 2)


def cv(S, labels, keys, max_ff=None, repeats=25):
    import random

    accs, ffs = [], []
    for r in range(repeats):
        rng = random.Random(r)
        by = {}
        for i, l in enumerate(labels):
            by.setdefault(l, []).append(i)
        a, b = [], []
        for l, ids in sorted(by.items(), key=lambda kv: str(kv[0])):
            ids = ids[:]
            rng.shuffle(ids)
            for j, i in enumerate(ids):
                (a if j % 2 == 0 else b).append(i)
        for tr, te in ((a, b), (b, a)):
            T = choose_T(S, labels, keys, tr, max_ff)
            acc, ff = acc_ff(S, labels, keys, T, te)
            accs.append(acc)
            ffs.append(ff)
    return float(np.mean(accs)), float(np.mean(ffs))


def loto(S, labels, keys, T):
    """Leave one topic out: the user has no topic k; how many of k's documents get filed anyway."""
    filed = total = 0
    for k in range(len(keys)):
        S2 = S.copy()
        S2[:, k] = -np.inf
        for i, l in enumerate(labels):
            if l == keys[k]:
                total += 1
                filed += S2[i].max() >= T
    return filed / total


def full_model_scores(topics, docs, lam):
    from bert_np import MiniLM

    m = MiniLM()
    cache = HERE / "cache" / "full_first256.npy"
    D = np.load(cache) if cache.exists() else np.stack([m.encode(d["text"], 256) for d in docs])
    tv = [[m.encode(s) for s in topic_variants(t)] for t in topics]
    S = np.array([[max(float(D[i] @ v) for v in tv[k]) for k in range(len(topics))] for i in range(len(docs))])
    if lam:
        S = S + lam * np.array([term_match_scores(d["text"], topics) for d in docs])
    return S


def main():
    topics, docs = load_corpus()
    keys = [t["key"] for t in topics]
    labels = [d["label"] for d in docs]
    tables = {}
    for dims in (256, 128):
        path = HERE / "model" / f"static-{dims}.bin"
        if not path.exists():
            distill.build(dims, "mean", "sif", 1e-3, path, number_weight=0.1)
        tables[dims] = Table(path)

    candidates = {
        "today: TermMatch alone": (lambda x, tp: np.array(term_match_scores(x, tp)), None),
        "b. static-256 alone (max3 topic texts)": (lambda x, tp: static_scores(tables[256], x, tp, 0.0), 256),
        "b. static-128 alone (max3 topic texts)": (lambda x, tp: static_scores(tables[128], x, tp, 0.0), 128),
        "c. static-256 + 0.5 x term": (lambda x, tp: static_scores(tables[256], x, tp, LAMBDA), 256),
        "c. static-128 + 0.5 x term (RECOMMENDED)": (lambda x, tp: static_scores(tables[128], x, tp, LAMBDA), 128),
        "c. static-256 + 0.5 x term, single topic text": (lambda x, tp: static_scores(tables[256], x, tp, LAMBDA, "both"), 256),
    }
    summary = {}
    for name, (fn, dims) in candidates.items():
        S = np.array([fn(d["text"], topics) for d in docs])
        T_bal = choose_T(S, labels, keys, list(range(len(docs))))
        T_con = choose_T(S, labels, keys, list(range(len(docs))), max_ff=0.05)
        cv_bal = cv(S, labels, keys)
        cv_con = cv(S, labels, keys, max_ff=0.05)
        top1 = np.mean([keys[int(np.argmax(S[i]))] == labels[i] for i in range(len(docs)) if labels[i]])
        size = tables[dims].size / 1e6 if dims else 0.0
        log(f"#### {name}   (model {size:.2f} MB; top-1 among on-topic docs, ignoring the threshold: {top1:.3f})")
        for label, T, cvr in (("balanced", T_bal, cv_bal), ("conservative (FF<=0.05)", T_con, cv_con)):
            m = evaluate(make_classifier(fn, T), topics, docs)
            log(report(f"{label}: T = {T:.3f}", m))
            log(f"   2-fold CV x25 (T chosen on one half, scored on the other): accuracy {cvr[0]:.3f}, off-topic false filing {cvr[1]:.3f}")
            log(f"   leave-one-topic-out: {loto(S, labels, keys, T):.3f} of the removed topic's documents still get filed")
            summary[f"{name} / {label}"] = dict(T=T, acc=m["accuracy"], f1=m["macro_f1"], ff=m["off_topic_false_filing"], ms=m["per_doc_ms"], cv_acc=cvr[0], cv_ff=cvr[1], mb=size)
            if "RECOMMENDED" in name:
                (HERE / "results").mkdir(exist_ok=True)
                (HERE / "results" / f"final_per_doc_{label.split()[0]}.txt").write_text(report(f"{name}, {label}, T={T:.3f}", m, per_doc=True) + "\n")
        log()

    # operating curve of the recommended classifier, and threshold transfer to differently worded topics
    rec = candidates["c. static-128 + 0.5 x term (RECOMMENDED)"][0]
    S = np.array([rec(d["text"], topics) for d in docs])
    alt = json.loads((HERE / "corpus" / "topics_alt.json").read_text())
    Salt = np.array([rec(d["text"], alt) for d in docs])
    log("#### operating curve, recommended classifier (static-128 + 0.5 x term): threshold -> figures on the whole corpus")
    log("   T     accuracy  off-topic filed  on-topic unclassified  on-topic misfiled  leave-one-topic-out filed | same T, topics_alt.json wording: accuracy, off-topic filed")
    for T in (0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75):
        def figs(M):
            preds = [keys[int(np.argmax(M[i]))] if M[i].max() >= T else None for i in range(len(docs))]
            acc = np.mean([p == l for p, l in zip(preds, labels)])
            off = sum(p is not None for p, l in zip(preds, labels) if l is None)
            unc = sum(p is None for p, l in zip(preds, labels) if l is not None)
            mis = sum(p is not None and p != l for p, l in zip(preds, labels) if l is not None)
            return acc, off, unc, mis
        acc, off, unc, mis = figs(S)
        acc2, off2, _, _ = figs(Salt)
        log(f"   {T:.2f}  {acc:.3f}     {off:2d}/18 ({off / 18:.3f})   {unc:2d}/56                 {mis}/56                {loto(S, labels, keys, T):.3f}                    | {acc2:.3f}, {off2}/18")
    log()

    log("#### a. upper bound: full all-MiniLM-L6-v2 (first 256 tokens, max3 topic texts), numpy forward pass")
    for lam in (0.0, LAMBDA):
        S = full_model_scores(topics, docs, lam)
        for label, mf in (("balanced", None), ("conservative (FF<=0.05)", 0.05)):
            T = choose_T(S, labels, keys, list(range(len(docs))), mf)
            acc, ff = acc_ff(S, labels, keys, T, range(len(docs)))
            c = cv(S, labels, keys, mf)
            log(f"  + {lam} x term, {label}: T={T:.3f} accuracy {acc:.3f} off-topic FF {ff:.3f} | CV accuracy {c[0]:.3f} FF {c[1]:.3f}")
    log()

    # golden values for the Rust port's tests
    t = tables[128]
    golden = []
    for text in ["Invoice #42: payment due to the vendor", "Crème brûlée, naïve café — £5.00!", "Preheat the oven to 180°C.", ""]:
        v = t.embed(text)
        golden.append({"text": text, "ids": t.tokenize(text), "vec_first8": [round(float(x), 6) for x in v[:8]], "norm": round(float(np.linalg.norm(v)), 6),
                       "scores": [round(float(x), 6) for x in static_scores(t, text, topics)] if text else None})
    (HERE / "results" / "golden.json").write_text(json.dumps({"topics": topics, "cases": golden}, ensure_ascii=False, indent=1))
    # timing of the recommended classifier alone, topics embedded each call (as the Lambda would)
    fn = candidates["c. static-128 + 0.5 x term (RECOMMENDED)"][0]
    t0 = time.perf_counter()
    for d in docs:
        fn(d["text"], topics)
    log(f"recommended classifier, Python reference: {(time.perf_counter() - t0) / len(docs) * 1000:.1f} ms/doc (7 topics, embedding the 21 topic texts on every call)")
    t0 = time.perf_counter()
    tb = Table(HERE / "model" / "static-128.bin")
    log(f"loading static-128.bin in Python: {(time.perf_counter() - t0) * 1000:.0f} ms")
    (HERE / "results" / "final.txt").write_text("\n".join(OUT) + "\n")
    (HERE / "results" / "final.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
