"""Real PDF producers. Each `make_*` writes `<out>/<name>.pdf` from a list of page texts (one string
per page, lines separated by newlines). Producers that are not installed are skipped by the caller
(`available()` says which are)."""

import html
import os
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--no-pdf-header-footer"]


def _run(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=180, **kw)


def _wrap(line: str, width: int = 80) -> list[str]:
    return textwrap.wrap(line, width) or [""]


def make_reportlab(out: Path, name: str, pages: list[str], ttf: bool):
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    font = "Helvetica"
    if ttf:
        pdfmetrics.registerFont(TTFont("DejaVuSans", DEJAVU))
        font = "DejaVuSans"
    c = canvas.Canvas(str(out / f"{name}.pdf"))
    for page in pages:
        c.setFont(font, 10)
        y = 780
        for line in page.split("\n"):
            for part in _wrap(line, 90):
                c.drawString(60, y, part)
                y -= 14
        c.showPage()
    c.save()


def make_fpdf2(out: Path, name: str, pages: list[str], ttf: bool):
    from fpdf import FPDF

    pdf = FPDF()
    if ttf:
        pdf.add_font("DejaVuSans", fname=DEJAVU)
        pdf.set_font("DejaVuSans", size=10)
    else:
        pdf.set_font("helvetica", size=10)
    for page in pages:
        pdf.add_page()
        for line in page.split("\n"):
            pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(out / f"{name}.pdf"))


def _lo_convert(out: Path, src: Path):
    with tempfile.TemporaryDirectory() as profile:
        _run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
              "--outdir", str(out), str(src)])


def make_lo_docx(out: Path, name: str, pages: list[str], src_dir: Path):
    import docx
    from docx.enum.text import WD_BREAK

    d = docx.Document()
    for i, page in enumerate(pages):
        for j, line in enumerate(page.split("\n")):
            p = d.add_paragraph()
            if i and not j:
                p.add_run().add_break(WD_BREAK.PAGE)
            p.add_run(line)
    src = src_dir / f"{name}.docx"
    d.save(src)
    _lo_convert(out, src)


def make_lo_odt(out: Path, name: str, pages: list[str], src_dir: Path):
    from odf.opendocument import OpenDocumentText
    from odf.style import ParagraphProperties, Style
    from odf.text import P

    d = OpenDocumentText()
    brk = Style(name="PageBreak", family="paragraph")
    brk.addElement(ParagraphProperties(breakbefore="page"))
    d.automaticstyles.addElement(brk)
    for i, page in enumerate(pages):
        for j, line in enumerate(page.split("\n")):
            d.text.addElement(P(stylename=brk, text=line) if i and not j else P(text=line))
    src = src_dir / f"{name}.odt"
    d.save(str(src))
    _lo_convert(out, src)


def make_chromium(out: Path, name: str, pages: list[str], src_dir: Path):
    body = "".join(
        f'<section style="{"break-before: page" if i else ""}">'
        + "".join(f"<p>{html.escape(line)}</p>" for line in page.split("\n")) + "</section>"
        for i, page in enumerate(pages))
    src = src_dir / f"{name}.html"
    src.write_text('<!doctype html><meta charset="utf-8"><style>body{font-family:"DejaVu Sans";font-size:11pt}'
                   f"</style>{body}", encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        _run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={out / (name + '.pdf')}",
              src.as_uri()])


# PostScript: Helvetica re-encoded with a Windows-1252 vector (ISOLatin1Encoding plus the 0x80-0x9F
# glyphs the texts use, and ASCII quotes where Latin-1 PostScript has typographic ones).
PS_PROLOG = b"""%!PS-Adobe-3.0
/WinVec ISOLatin1Encoding 256 array copy def
WinVec 39 /quotesingle put WinVec 96 /grave put WinVec 128 /Euro put
WinVec 150 /endash put WinVec 151 /emdash put WinVec 146 /quoteright put
/Helvetica findfont dup length dict begin {1 index /FID ne {def} {pop pop} ifelse} forall
/Encoding WinVec def currentdict end /HelvWin exch definefont pop
/HelvWin findfont 10 scalefont setfont
"""


def _ps_string(data: bytes) -> bytes:
    return b"(" + b"".join(b"\\%03o" % c if c > 126 or c in b"()\\" else bytes([c]) for c in data) + b")"


def make_ps2pdf(out: Path, name: str, pages: list[str], src_dir: Path):
    ps = bytearray(PS_PROLOG)
    for page in pages:
        y = 780
        for line in page.split("\n"):
            for part in _wrap(line, 90):
                ps += b"60 %d moveto %s show\n" % (y, _ps_string(part.encode("cp1252")))
                y -= 14
        ps += b"showpage\n"
    src = src_dir / f"{name}.ps"
    src.write_bytes(bytes(ps))
    _run(["ps2pdf", str(src), str(out / f"{name}.pdf")])


def make_groff(out: Path, name: str, pages: list[str], src_dir: Path):
    """groff -ms (Times, with fi/fl ligatures and justified lines) to PostScript, then ps2pdf.
    Hyphenation is off so the words of the ground truth stay whole."""
    # Raw troff requests: Debian's groff-base has no -ms macro package (that is the bigger `groff`).
    lines = [".ll 6.5i", ".nh", ".na", ".ps 10", ".vs 13"]
    for i, page in enumerate(pages):
        if i:
            lines.append(".bp")
        for line in page.split("\n"):
            # \& keeps a leading '.' or "'" from being read as a request.
            lines += ["\\&" + line.replace("\\", "\\e"), ".br"]
    src = src_dir / f"{name}.ms"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ps = src_dir / f"{name}.groff.ps"
    with open(ps, "wb") as f:
        subprocess.run(["groff", "-k", "-Tps", str(src)], check=True, stdout=f, timeout=60)
    _run(["ps2pdf", str(ps), str(out / f"{name}.pdf")])


def latin1_text(pages: list[str]) -> list[str]:
    """fpdf2's core fonts accept Latin-1 only (it raises on €, — and –), so that ground truth is
    transliterated."""
    table = str.maketrans({"€": "EUR", "—": "-", "–": "-"})
    return [p.translate(table) for p in pages]


def tex_text(pages: list[str]) -> list[str]:
    """Plain TeX's Computer Modern fonts draw accents as separate glyphs over the letter, so
    the pdfTeX ground truth is written without accents (and without €, which CM lacks)."""
    import unicodedata
    table = str.maketrans({"ß": "ss", "€": "EUR", "—": "--", "–": "-"})
    return ["".join(c for c in unicodedata.normalize("NFKD", p.translate(table)) if not unicodedata.combining(c))
            for p in pages]


def make_pdftex(out: Path, name: str, pages: list[str], src_dir: Path):
    """Plain TeX: no space characters at all (words are positioned) and Type 1 fonts with their
    built-in encoding (ligatures fi, fl, ff at codes 12-14), no ToUnicode."""
    special = str.maketrans({c: "\\" + c for c in "&%$#_{}"})
    body = "\\parindent=0pt \\hsize=6.5in \\vsize=9in \\hyphenpenalty=10000 \\exhyphenpenalty=10000\n"
    body += "\\eject\n".join("".join(line.translate(special).replace("--", "{-}{-}") + "\\par\n"
                                     for line in page.split("\n")) for page in pages)
    src = src_dir / f"{name}.tex"
    src.write_text(body + "\\bye\n", encoding="ascii")
    _run(["pdftex", "-interaction=nonstopmode", f"-output-directory={out}", str(src)], cwd=src_dir)
    for ext in (".log",):
        (out / f"{name}{ext}").unlink(missing_ok=True)


def available() -> dict[str, bool]:
    def has(mod):
        try:
            __import__(mod)
            return True
        except ImportError:
            return False
    return {
        "reportlab": has("reportlab"),
        "fpdf2": has("fpdf"),
        "libreoffice": shutil.which("soffice") is not None and has("docx") and has("odf"),
        "chromium": shutil.which("chromium") is not None and os.path.exists(DEJAVU),
        "ps2pdf": shutil.which("ps2pdf") is not None,
        "groff": shutil.which("groff") is not None and shutil.which("ps2pdf") is not None,
        "pdftex": shutil.which("pdftex") is not None,
    }
