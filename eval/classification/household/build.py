#!/usr/bin/env python3
"""Build the PDF and DOCX documents of the household corpus.

For every line `doc_NN.pdf` / `doc_NN.docx` in labels.tsv, the text is read
from sources/doc_NN.md (a small subset of Markdown: headings, paragraphs,
**bold**, *italic*, bullet/numbered lists, tables, block quotes, rules) and
rendered with reportlab (PDF) or python-docx (DOCX).

Usage:  .venv/bin/python build.py
"""
import os
import re
import sys
from html import escape

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "sources")


# ---------------------------------------------------------------- parsing
def parse(md):
    """Return a list of blocks: (kind, payload)."""
    lines = md.splitlines()
    blocks, para = [], []
    i = 0

    def flush():
        if para:
            blocks.append(("p", list(para)))
            para.clear()

    while i < len(lines):
        line = lines[i].rstrip()
        s = line.strip()
        if not s:
            flush(); i += 1; continue
        if s.startswith("```"):
            flush(); i += 1; code = []
            while i < len(lines) and not lines[i].strip().startswith("```"):
                code.append(lines[i]); i += 1
            blocks.append(("code", code)); i += 1; continue
        m = re.match(r"^(#{1,6})\s+(.*)$", s)
        if m:
            flush(); blocks.append(("h%d" % len(m.group(1)), m.group(2))); i += 1; continue
        if re.match(r"^(-{3,}|\*{3,})$", s):
            flush(); blocks.append(("hr", None)); i += 1; continue
        if s.startswith("|"):
            flush(); rows = []
            first = [c.strip() for c in lines[i].strip().strip("|").split("|")]
            has_header = any(first)
            while i < len(lines) and lines[i].strip().startswith("|"):
                r = lines[i].strip().strip("|")
                cells = [c.strip() for c in r.split("|")]
                is_sep = all(re.match(r"^:?-{2,}:?$", c) for c in cells)
                if not is_sep and any(cells):  # skip separator and empty header rows
                    rows.append(cells)
                i += 1
            blocks.append(("table", (rows, has_header))); continue
        if s.startswith(">"):
            flush(); q = []
            while i < len(lines) and lines[i].strip().startswith(">"):
                q.append(lines[i].strip()[1:].strip()); i += 1
            blocks.append(("quote", q)); continue
        m = re.match(r"^(?:[-*]|\d+\.)\s+(.*)$", s)
        if m:
            flush(); items = []
            numbered = bool(re.match(r"^\d+\.", s))
            while i < len(lines):
                mm = re.match(r"^\s*(?:[-*]|\d+\.)\s+(.*)$", lines[i])
                if not mm:
                    break
                items.append(mm.group(1).strip()); i += 1
            blocks.append(("ol" if numbered else "ul", items)); continue
        para.append(s); i += 1
    flush()
    return blocks


INLINE = re.compile(r"(\*\*[^*]+\*\*|\*[^*\s][^*]*\*)")


def runs(text):
    """Split inline markdown into (text, bold, italic) runs."""
    out = []
    for part in INLINE.split(text):
        if not part:
            continue
        if part.startswith("**") and part.endswith("**"):
            out.append((part[2:-2], True, False))
        elif part.startswith("*") and part.endswith("*") and len(part) > 2:
            out.append((part[1:-1], False, True))
        else:
            out.append((part, False, False))
    return out


# ---------------------------------------------------------------- PDF
def build_pdf(md, path, title):
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import (HRFlowable, ListFlowable, ListItem, Paragraph,
                                    Preformatted, SimpleDocTemplate, Spacer, Table,
                                    TableStyle)

    font, bold, ital, mono = "Helvetica", "Helvetica-Bold", "Helvetica-Oblique", "Courier"
    d = "/usr/share/fonts/truetype/dejavu/"
    if os.path.exists(d + "DejaVuSans.ttf"):
        for name, f in [("DV", "DejaVuSans.ttf"), ("DV-B", "DejaVuSans-Bold.ttf"),
                        ("DV-I", "DejaVuSans-Oblique.ttf"), ("DV-BI", "DejaVuSans-BoldOblique.ttf"),
                        ("DVM", "DejaVuSansMono.ttf")]:
            if name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(name, d + f))
        pdfmetrics.registerFontFamily("DV", normal="DV", bold="DV-B", italic="DV-I", boldItalic="DV-BI")
        font, bold, ital, mono = "DV", "DV-B", "DV-I", "DVM"

    def clean(t):  # drop emoji etc. that the font cannot draw
        return "".join(ch for ch in t if ord(ch) < 0x2600 or 0x2700 <= ord(ch) < 0x27C0 and ch in "✔✓")

    def fmt(t):
        t = clean(t)
        return "".join(("<b>%s</b>" if b else "<i>%s</i>" if it else "%s") % escape(x)
                       for x, b, it in runs(t))

    ss = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=ss["BodyText"], fontName=font, fontSize=10, leading=13.5, spaceAfter=6)
    st = {
        "h1": ParagraphStyle("h1", parent=body, fontName=bold, fontSize=17, leading=21, spaceAfter=8, spaceBefore=4),
        "h2": ParagraphStyle("h2", parent=body, fontName=bold, fontSize=13, leading=16, spaceBefore=10, spaceAfter=5),
        "h3": ParagraphStyle("h3", parent=body, fontName=bold, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4),
    }
    cell = ParagraphStyle("cell", parent=body, fontSize=8.8, leading=11, spaceAfter=0)
    quote = ParagraphStyle("quote", parent=body, leftIndent=14, textColor=colors.HexColor("#333333"), fontName=ital)

    story = []
    first_h1 = True
    for kind, pl in parse(md):
        if kind in ("h1", "h2", "h3", "h4", "h5", "h6"):
            s = st.get(kind, st["h3"])
            if kind == "h1" and not first_h1:
                s = ParagraphStyle("h1c", parent=s, alignment=TA_CENTER)
            first_h1 = False if kind == "h1" else first_h1
            story.append(Paragraph(fmt(pl), s))
        elif kind == "p":
            story.append(Paragraph("<br/>".join(fmt(l) for l in pl), body))
        elif kind in ("ul", "ol"):
            items = [ListItem(Paragraph(fmt(re.sub(r"^\[( |x)\]\s*", lambda m: "[x] " if m.group(1) == "x" else "[ ] ", it)), body)) for it in pl]
            story.append(ListFlowable(items, bulletType="1" if kind == "ol" else "bullet",
                                      bulletFontName=font, leftIndent=14, bulletFontSize=8))
        elif kind == "quote":
            story.append(Paragraph("<br/>".join(fmt(l) for l in pl), quote))
        elif kind == "code":
            story.append(Preformatted(clean("\n".join(pl)), ParagraphStyle("code", parent=body, fontName=mono, fontSize=8)))
        elif kind == "hr":
            story.append(HRFlowable(width="100%", thickness=0.6, color=colors.grey, spaceBefore=6, spaceAfter=6))
        elif kind == "table":
            pl, has_header = pl
            ncol = max(len(r) for r in pl)
            rows = [[Paragraph(fmt(c), cell) for c in r] + [""] * (ncol - len(r)) for r in pl]
            header = has_header and len(pl) > 1
            t = Table(rows, repeatRows=1 if header else 0, hAlign="LEFT",
                      colWidths=[(A4[0] - 40 * mm) / ncol] * ncol if ncol > 2 else None)
            style = [("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
                     ("VALIGN", (0, 0), (-1, -1), "TOP"),
                     ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]
            if header:
                style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E4E8EE")))
            t.setStyle(TableStyle(style))
            story.append(t)
            story.append(Spacer(1, 6))
    doc = SimpleDocTemplate(path, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm,
                            topMargin=18 * mm, bottomMargin=18 * mm, title=title, author="")
    doc.build(story)


# ---------------------------------------------------------------- DOCX
def build_docx(md, path, title):
    import docx
    from docx.shared import Pt

    document = docx.Document()
    document.core_properties.title = title
    document.core_properties.author = ""
    document.styles["Normal"].font.name = "Calibri"
    document.styles["Normal"].font.size = Pt(11)

    def add_runs(par, text):
        for x, b, it in runs(text):
            r = par.add_run(x)
            r.bold = b or None
            r.italic = it or None

    for kind, pl in parse(md):
        if kind.startswith("h") and kind != "hr":
            level = int(kind[1])
            h = document.add_heading("", level=min(level, 4))
            add_runs(h, pl)
        elif kind == "p":
            par = document.add_paragraph()
            for n, l in enumerate(pl):
                if n:
                    par.add_run().add_break()
                add_runs(par, l)
        elif kind in ("ul", "ol"):
            for it in pl:
                par = document.add_paragraph(style="List Number" if kind == "ol" else "List Bullet")
                add_runs(par, it)
        elif kind == "quote":
            par = document.add_paragraph(style="Quote")
            for n, l in enumerate(pl):
                if n:
                    par.add_run().add_break()
                add_runs(par, l)
        elif kind == "code":
            par = document.add_paragraph()
            r = par.add_run("\n".join(pl)); r.font.name = "Courier New"; r.font.size = Pt(8)
        elif kind == "hr":
            document.add_paragraph("_" * 40)
        elif kind == "table":
            pl, has_header = pl
            ncol = max(len(r) for r in pl)
            t = document.add_table(rows=0, cols=ncol)
            t.style = "Table Grid"
            for r in pl:
                cells = t.add_row().cells
                for j, c in enumerate(r):
                    cells[j].paragraphs[0].text = ""
                    add_runs(cells[j].paragraphs[0], c)
                    if has_header and r is pl[0]:
                        for run in cells[j].paragraphs[0].runs:
                            run.bold = True
            document.add_paragraph()
    document.save(path)


def main():
    targets = []
    with open(os.path.join(HERE, "labels.tsv"), encoding="utf-8") as f:
        for line in f:
            name = line.split("\t")[0].strip()
            if name.endswith((".pdf", ".docx")):
                targets.append(name)
    for name in targets:
        stem, ext = name.rsplit(".", 1)
        src = None
        for cand in (stem + ".md", stem + ".txt"):
            if os.path.exists(os.path.join(SRC, cand)):
                src = os.path.join(SRC, cand)
        if not src:
            sys.exit("missing source for " + name)
        md = open(src, encoding="utf-8").read()
        first = next((l for l in md.splitlines() if l.strip()), stem)
        title = re.sub(r"^[#*\s]+|[*]+", "", first).strip()[:120]
        out = os.path.join(HERE, name)
        (build_pdf if ext == "pdf" else build_docx)(md, out, title)
        print("built", name)


if __name__ == "__main__":
    main()
