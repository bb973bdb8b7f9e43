"""Evaluation harness for document classifiers.

A classifier is a function `(text, topics) -> (best_topic_key or None, score)` where `topics` is the
list of dicts from corpus/topics.json (`key`, `name`, `description`). `None` means unclassified.

    venv/bin/python eval.py                 # baseline (today's TermMatchClassifier) summary
    venv/bin/python eval.py --per-doc       # ... plus per-document scores

Other scripts import `load_corpus`, `evaluate`, `report` and `term_match_scores`.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter, defaultdict
from pathlib import Path

import snowballstemmer

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


def load_corpus(corpus: Path = CORPUS):
    topics = json.loads((corpus / "topics.json").read_text(encoding="utf-8"))
    docs = []
    for line in (corpus / "labels.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        name, label = line.split("\t")
        docs.append({"file": name, "label": None if label == "none" else label, "text": (corpus / name).read_text(encoding="utf-8")})
    return topics, docs


# --------------------------------------------------------------------------------------------
# Today's classifier, reimplemented from /work/main/shared/src/classify.rs
# --------------------------------------------------------------------------------------------
STOP_WORDS = {
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it", "its", "of", "on",
    "or", "that", "the", "this", "to", "was", "were", "will", "with", "all", "any", "about", "into", "our", "your",
}
K1 = 1.2
_stemmer = snowballstemmer.stemmer("english")
_stem_cache: dict[str, str] = {}


def _split_alnum(text: str):
    word = []
    for ch in text:
        if ch.isalnum():
            word.append(ch)
        elif word:
            yield "".join(word)
            word = []
    if word:
        yield "".join(word)


def terms(text: str) -> list[str]:
    out = []
    for w in _split_alnum(text):
        if len(w) <= 1:
            continue
        w = w.lower()
        if w in STOP_WORDS:
            continue
        s = _stem_cache.get(w)
        if s is None:
            s = _stem_cache[w] = _stemmer.stemWord(w)
        out.append(s)
    return out


def term_match_scores(text: str, topics: list[dict]) -> list[float]:
    """Normalised 0..1 score per topic, exactly as TermMatchClassifier computes it."""
    freq = Counter(terms(text))
    profiles = []
    for t in topics:
        w: dict[str, float] = defaultdict(float)
        for term in terms(t["name"]):
            w[term] += 2.0
        for term in terms(t["description"]):
            w[term] += 1.0
        profiles.append(w)
    df: Counter = Counter()
    for w in profiles:
        df.update(w.keys())
    n = len(profiles)
    scores = []
    for w in profiles:
        score = best = 0.0
        for term, weight in w.items():
            imp = weight * math.log(1.0 + (n - df[term] + 0.5) / (df[term] + 0.5))
            tf = freq.get(term, 0.0)
            score += imp * tf * (K1 + 1.0) / (tf + K1)
            best += imp * (K1 + 1.0)
        scores.append(score / best if best > 0 else 0.0)
    return scores


def pick(scores: list[float], topics: list[dict]):
    """Highest score; ties go to the earlier (older) topic."""
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return topics[best]["key"], scores[best]


def term_match_classifier(text: str, topics: list[dict], min_score: float = 0.15):
    key, score = pick(term_match_scores(text, topics), topics)
    return (key if score >= min_score else None), score


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------
def evaluate(classify, topics, docs, timing: bool = True):
    """Runs `classify` over `docs`; returns a dict of metrics plus per-document rows."""
    rows = []
    t0 = time.perf_counter()
    for d in docs:
        pred, score = classify(d["text"], topics)
        rows.append({"file": d["file"], "label": d["label"], "pred": pred, "score": score})
    elapsed = time.perf_counter() - t0
    return metrics(rows, [t["key"] for t in topics], elapsed / max(1, len(docs)) if timing else None)


def metrics(rows, keys, per_doc_seconds=None):
    classes = list(keys) + [None]
    correct = sum(r["pred"] == r["label"] for r in rows)
    f1s = {}
    for c in classes:
        tp = sum(r["pred"] == c and r["label"] == c for r in rows)
        fp = sum(r["pred"] == c and r["label"] != c for r in rows)
        fn = sum(r["pred"] != c and r["label"] == c for r in rows)
        p = tp / (tp + fp) if tp + fp else 0.0
        rcl = tp / (tp + fn) if tp + fn else 0.0
        f1s[c or "none"] = 2 * p * rcl / (p + rcl) if p + rcl else 0.0
    off = [r for r in rows if r["label"] is None]
    on = [r for r in rows if r["label"] is not None]
    return {
        "n": len(rows),
        "accuracy": correct / len(rows),
        "macro_f1": sum(f1s.values()) / len(f1s),
        "per_class_f1": f1s,
        "off_topic_false_filing": sum(r["pred"] is not None for r in off) / max(1, len(off)),
        "off_topic_filed": sum(r["pred"] is not None for r in off),
        "off_topic_n": len(off),
        "on_topic_unclassified": sum(r["pred"] is None for r in on),
        "on_topic_misfiled": sum(r["pred"] is not None and r["pred"] != r["label"] for r in on),
        "on_topic_n": len(on),
        "confusions": sorted(Counter((r["label"] or "none", r["pred"] or "none") for r in rows if r["pred"] != r["label"]).items(), key=lambda kv: -kv[1]),
        "per_doc_ms": None if per_doc_seconds is None else per_doc_seconds * 1000,
        "rows": rows,
    }


def report(name: str, m: dict, per_doc: bool = False) -> str:
    lines = [
        f"== {name}",
        f"accuracy {m['accuracy']:.3f} ({round(m['accuracy'] * m['n'])}/{m['n']})   macro-F1 {m['macro_f1']:.3f}   "
        f"off-topic false filing {m['off_topic_false_filing']:.3f} ({m['off_topic_filed']}/{m['off_topic_n']})   "
        f"on-topic unclassified {m['on_topic_unclassified']}/{m['on_topic_n']}, misfiled {m['on_topic_misfiled']}/{m['on_topic_n']}"
        + (f"   {m['per_doc_ms']:.2f} ms/doc" if m["per_doc_ms"] is not None else ""),
        "per-class F1: " + ", ".join(f"{k} {v:.2f}" for k, v in m["per_class_f1"].items()),
        "confusions (label -> predicted: count): " + (", ".join(f"{a}->{b}: {c}" for (a, b), c in m["confusions"]) or "none"),
    ]
    if per_doc:
        lines.append(f"{'file':44s} {'label':9s} {'predicted':9s} score")
        for r in m["rows"]:
            mark = "" if r["pred"] == r["label"] else "   <-- wrong"
            lines.append(f"{r['file']:44s} {r['label'] or 'none':9s} {r['pred'] or 'none':9s} {r['score']:.3f}{mark}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-doc", action="store_true")
    args = ap.parse_args()
    topics, docs = load_corpus()
    n_off = sum(d["label"] is None for d in docs)
    words = [len(d["text"].split()) for d in docs]
    print(f"corpus: {len(docs)} documents, {len(topics)} topics, {len(docs) - n_off} on-topic, {n_off} off-topic; "
          f"words per doc min {min(words)} median {sorted(words)[len(words) // 2]} max {max(words)}")
    m = evaluate(term_match_classifier, topics, docs)
    print(report("baseline: TermMatchClassifier (min score 0.15)", m, args.per_doc))
    # The baseline at other thresholds, for reference.
    for thr in (0.05, 0.10, 0.20, 0.30):
        m2 = evaluate(lambda t, tp: term_match_classifier(t, tp, thr), topics, docs, timing=False)
        print(f"   threshold {thr:.2f}: accuracy {m2['accuracy']:.3f} macro-F1 {m2['macro_f1']:.3f} off-topic false filing {m2['off_topic_false_filing']:.3f}")


if __name__ == "__main__":
    main()
