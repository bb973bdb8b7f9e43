#!/usr/bin/env python3
"""Runs every candidate binary on every corpus file, one process per extraction, and scores it.

    measure.py CORPUS_DIR BIN_DIR OUT_DIR [--repeat N]

Candidates are the `c_*` binaries in BIN_DIR (plus poppler's `pdftotext` as a reference oracle
when installed; it is not a candidate). For each run: word recall against `<name>.txt`
(tokens are \\w+ runs of the NFKC-normalised, case-folded text, counted as a multiset, so the
ligature ﬁ counts as "fi"), wall time, the child's peak RSS (getrusage via wait4) and the exit
status. Limits per run: 30 s and 3 GiB of address space. Writes results.json and results.md.
"""

import collections
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

TIMEOUT_S = 30
MEM_LIMIT = 3 << 30


def tokens(text: str) -> collections.Counter:
    norm = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return collections.Counter(re.findall(r"\w+", norm))


def recall(truth: str, got: str) -> float | None:
    want, have = tokens(truth), tokens(got)
    total = sum(want.values())
    return sum(min(n, have[w]) for w, n in want.items()) / total if total else None


def run(cmd: list[str]) -> dict:
    """One extraction in its own process; rusage of exactly that child."""
    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (MEM_LIMIT, MEM_LIMIT))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, preexec_fn=limits)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > TIMEOUT_S:
                proc.kill()
                timed_out = True
            time.sleep(0.0005)
        ms = (time.perf_counter() - start) * 1000
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    code = proc.returncode
    state = ("timeout" if timed_out else "ok" if code == 0 else "error" if code == 2 else
             "panic" if code == 101 else f"crash({code})")
    if state == "panic" and ("memory allocation" in stderr or "capacity overflow" in stderr):
        state = "oom"
    if code == -6 and "memory allocation" in stderr:
        state = "oom"
    return {"state": state, "ms": ms, "rss_mb": usage.ru_maxrss / 1024, "text": text,
            "stderr": stderr.strip().splitlines()[-1][:160] if stderr.strip() else ""}


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
    if "--repeat" in sys.argv:
        args.remove(str(repeat))
    if "--only" in sys.argv:
        args.remove(sys.argv[sys.argv.index("--only") + 1])
    corpus, bins, out_dir = (Path(a) for a in args)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((corpus / "manifest.json").read_text())
    cands = {p.name[2:]: [str(p)] for p in sorted(bins.glob("c_*")) if p.is_file() and os.access(p, os.X_OK) and p.name != "c_baseline"}
    if shutil.which("pdftotext"):
        cands["(oracle) pdftotext"] = ["pdftotext", "-enc", "UTF-8", "{}", "-"]
    # --only a,b measures just those candidates and merges them into an existing results.json.
    if "--only" in sys.argv:
        only = sys.argv[sys.argv.index("--only") + 1].split(",")
        cands = {k: v for k, v in cands.items() if k in only}
    old = out_dir / "results.json"
    results = json.loads(old.read_text()) if old.exists() and "--only" in sys.argv else {"files": {}, "adversarial": {}}
    for cand, cmd in cands.items():
        for name, meta in manifest["files"].items():
            path = str(corpus / f"{name}.pdf")
            argv = [a.replace("{}", path) for a in cmd] if "{}" in cmd else cmd + [path]
            runs = [run(argv) for _ in range(repeat)]
            r = runs[0]
            truth = (corpus / f"{name}.txt").read_text(encoding="utf-8")
            if meta["expect"] == "text":
                score = recall(truth, r["text"]) if r["state"] == "ok" else 0.0
            elif meta["expect"] == "empty":
                score = 1.0 if r["state"] == "ok" and not tokens(r["text"]) else 0.0
            else:  # an encrypted file: only a clear error is right
                score = 1.0 if r["state"] == "error" else 0.0
            results["files"].setdefault(cand, {})[name] = {
                "producer": meta["producer"], "expect": meta["expect"], "score": score, "state": r["state"],
                "ms": statistics.median(x["ms"] for x in runs), "rss_mb": max(x["rss_mb"] for x in runs),
                "stderr": r["stderr"], "chars": len(r["text"]),
                "missing": [w for w, n in tokens(truth).items() if tokens(r["text"])[w] < n][:8]}
            (out_dir / "text" / cand).mkdir(parents=True, exist_ok=True)
            (out_dir / "text" / cand / f"{name}.txt").write_text(r["text"], encoding="utf-8")
        for path in sorted((corpus / "adversarial").glob("*.pdf")):
            argv = [a.replace("{}", str(path)) for a in cmd] if "{}" in cmd else cmd + [str(path)]
            r = run(argv)
            results["adversarial"].setdefault(cand, {})[path.stem] = {
                k: r[k] for k in ("state", "ms", "rss_mb", "stderr")}
        print("measured", cand, file=sys.stderr)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    (out_dir / "results.md").write_text(report(results, manifest))
    return 0


def report(results: dict, manifest: dict) -> str:
    producers = sorted({m["producer"] for m in manifest["files"].values() if m["producer"] != "handmade"})
    hand = [n for n, m in manifest["files"].items() if m["producer"] == "handmade"]
    lines = ["## Recall by producer (min recall over the producer's files; mean ms; max peak RSS MB)", "",
             "| candidate | " + " | ".join(producers) + " | handmade (min, excl. unreadable) |",
             "|---|" + "---|" * (len(producers) + 1)]
    for cand, files in results["files"].items():
        cells = []
        for p in producers + ["handmade"]:
            rows = [r for n, r in files.items() if r["producer"] == p and r["expect"] == "text"]
            cells.append(f"{min(r['score'] for r in rows):.2f} / {statistics.mean(r['ms'] for r in rows):.0f} ms / "
                         f"{max(r['rss_mb'] for r in rows):.0f} MB")
        lines.append(f"| {cand} | " + " | ".join(cells) + " |")
    lines += ["", "## Hand-written cases (score; state)", "", "| candidate | " + " | ".join(
        n.removeprefix("hw_") for n in hand) + " |", "|---|" + "---|" * len(hand)]
    for cand, files in results["files"].items():
        lines.append(f"| {cand} | " + " | ".join(
            f"{files[n]['score']:.2f}" + ("" if files[n]["state"] == "ok" else f" {files[n]['state']}") for n in hand)
            + " |")
    adv = sorted({n for c in results["adversarial"].values() for n in c})
    lines += ["", "## Hostile files (state, ms, peak RSS MB)", "", "| candidate | " + " | ".join(adv) + " |",
              "|---|" + "---|" * len(adv)]
    for cand, files in results["adversarial"].items():
        lines.append(f"| {cand} | " + " | ".join(
            f"{files[n]['state']} {files[n]['ms']:.0f}ms {files[n]['rss_mb']:.0f}MB" for n in adv) + " |")
    lines += ["", "## Every file below 0.98 (candidate, file, score, state, missing words / error)", ""]
    for cand, files in results["files"].items():
        for n, r in files.items():
            if r["score"] < 0.98:
                lines.append(f"- {cand} `{n}`: {r['score']:.2f} {r['state']} {r['missing'] or ''} {r['stderr']}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
