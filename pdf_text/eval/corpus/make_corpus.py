#!/usr/bin/env python3
"""Writes the PDF text-extraction corpus.

    make_corpus.py OUT_DIR [--no-bomb]

For each PDF `OUT_DIR/<name>.pdf` it writes the exact ground-truth text `<name>.txt` and
`manifest.json` records producer, producer version, source text and what is expected
("text", "empty" for an image-only page, "error" for an encrypted file). Hostile files (a Flate
bomb, truncated and corrupted copies) go to `OUT_DIR/adversarial/` without ground truth.
Producers that are not installed are skipped and listed in the manifest.
"""

import json
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import adversarial  # noqa: E402
import handmade  # noqa: E402
import producers  # noqa: E402
from texts import TEXTS, pages_of  # noqa: E402


def version_of(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def versions(avail: dict[str, bool]) -> dict[str, str]:
    v = {}
    if avail["reportlab"]:
        import reportlab
        v["reportlab"] = f"reportlab {reportlab.Version}"
    if avail["fpdf2"]:
        import fpdf
        v["fpdf2"] = f"fpdf2 {fpdf.FPDF_VERSION}"
    if avail["libreoffice"]:
        v["libreoffice"] = version_of(["soffice", "--version"])
    if avail["chromium"]:
        v["chromium"] = version_of(["chromium", "--version"])
    if avail["ps2pdf"]:
        v["ps2pdf"] = "Ghostscript " + version_of(["gs", "--version"])
    if avail["groff"]:
        v["groff"] = version_of(["groff", "--version"]) + " + Ghostscript " + version_of(["gs", "--version"])
    if avail["pdftex"]:
        v["pdftex"] = version_of(["pdftex", "--version"])
    return v


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(args[0]).resolve()
    (out / "adversarial").mkdir(parents=True, exist_ok=True)
    avail = producers.available()
    manifest = {"producers": versions(avail), "skipped_producers": [p for p, ok in avail.items() if not ok],
                "files": {}, "failed": {}}

    def record(name, producer, source, expected_text, expect="text"):
        (out / f"{name}.txt").write_text(expected_text or "", encoding="utf-8")
        manifest["files"][name] = {"producer": producer, "text": source, "expect": expect}

    # Producers: (corpus producer label, availability key, function, extra kwargs, texts).
    src_dir = Path(tempfile.mkdtemp(prefix="corpus-src-"))
    jobs = [
        ("reportlab_core", "reportlab", producers.make_reportlab, {"ttf": False}, TEXTS),
        ("reportlab_ttf", "reportlab", producers.make_reportlab, {"ttf": True}, TEXTS),
        ("fpdf2_core", "fpdf2", producers.make_fpdf2, {"ttf": False}, TEXTS),
        ("fpdf2_ttf", "fpdf2", producers.make_fpdf2, {"ttf": True}, TEXTS),
        ("lo_docx", "libreoffice", producers.make_lo_docx, {"src_dir": src_dir}, TEXTS),
        ("lo_odt", "libreoffice", producers.make_lo_odt, {"src_dir": src_dir}, ["letter", "report"]),
        ("chromium", "chromium", producers.make_chromium, {"src_dir": src_dir}, TEXTS),
        ("ps2pdf", "ps2pdf", producers.make_ps2pdf, {"src_dir": src_dir}, TEXTS),
        ("groff", "groff", producers.make_groff, {"src_dir": src_dir}, TEXTS),
        ("pdftex", "pdftex", producers.make_pdftex, {"src_dir": src_dir}, TEXTS),
    ]
    for label, key, fn, kwargs, texts in jobs:
        if not avail[key]:
            continue
        for text in texts:
            name = f"{label}_{text}"
            pages = pages_of(text)
            if label == "pdftex":
                pages = producers.tex_text(pages)
            elif label == "fpdf2_core":
                pages = producers.latin1_text(pages)
            try:
                fn(out, name, pages, **kwargs)
                record(name, label, text, "\n".join(pages))
                print("wrote", name)
            except Exception as e:  # a producer failing is reported, not fatal
                manifest["failed"][name] = f"{type(e).__name__}: {e}"
                traceback.print_exc()

    for name, case in handmade.CASES.items():
        data, expected = case()
        (out / f"{name}.pdf").write_bytes(data)
        expect = "error" if expected is None else ("empty" if expected == "" else "text")
        record(name, "handmade", name, expected, expect)
        print("wrote", name)

    # Hostile files: damaged copies of a few readable files, and (unless --no-bomb) the bomb.
    for base in ["hw_objstm", "hw_type0_tounicode", "lo_docx_invoice", "chromium_invoice"]:
        if (out / f"{base}.pdf").exists():
            for name, data in adversarial.damaged(base, (out / f"{base}.pdf").read_bytes()).items():
                (out / "adversarial" / f"{name}.pdf").write_bytes(data)
    if "--no-bomb" not in sys.argv:
        (out / "adversarial" / "flate_bomb_1gib.pdf").write_bytes(adversarial.flate_bomb())

    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"{len(manifest['files'])} files, failed: {list(manifest['failed'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
