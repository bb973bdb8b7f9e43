#!/usr/bin/env python3
"""Build the PDF and DOCX documents of this corpus from their text sources.

Sources live in sources/doc_NN.md (light Markdown: '# ' title, '## '/'### ' headings,
'- ' bullets, '| a | b |' table rows, blank lines between paragraphs).
The target format of each source is taken from labels.tsv.
Run with the corpus venv:  .venv/bin/python build.py
"""
import os, re, sys
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib import colors
from reportlab.lib.styles import getSampleStyleSheet, ParagraphStyle
from reportlab.platypus import SimpleDocTemplate, Paragraph, Spacer, Table, TableStyle, ListFlowable, ListItem
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
import docx
from docx.shared import Pt

HERE = os.path.dirname(os.path.abspath(__file__))
FONT_DIR = '/usr/share/fonts/truetype/dejavu'
pdfmetrics.registerFont(TTFont('DejaVu', f'{FONT_DIR}/DejaVuSans.ttf'))
pdfmetrics.registerFont(TTFont('DejaVu-Bold', f'{FONT_DIR}/DejaVuSans-Bold.ttf'))
from reportlab.pdfbase.pdfmetrics import registerFontFamily
registerFontFamily('DejaVu', normal='DejaVu', bold='DejaVu-Bold', italic='DejaVu', boldItalic='DejaVu-Bold')


def parse(text):
    """Return a list of blocks: ('title'|'h2'|'h3', str), ('para', [lines]), ('bullets', [items]), ('table', [[cells]])."""
    blocks = []
    para, bullets, table = [], [], []

    def flush():
        nonlocal para, bullets, table
        if para: blocks.append(('para', para)); para = []
        if bullets: blocks.append(('bullets', bullets)); bullets = []
        if table: blocks.append(('table', table)); table = []

    for raw in text.splitlines():
        line = raw.rstrip()
        s = line.strip()
        if not s:
            flush(); continue
        if s.startswith('### '):
            flush(); blocks.append(('h3', s[4:])); continue
        if s.startswith('## '):
            flush(); blocks.append(('h2', s[3:])); continue
        if s.startswith('# '):
            flush(); blocks.append(('title', s[2:])); continue
        if s.startswith('|'):
            if para or bullets:
                f_t = table; table = []; flush(); table = f_t
            if re.fullmatch(r'\|[\s\-:|]+\|', s):
                continue
            cells = [c.strip() for c in s.strip('|').split('|')]
            table.append(cells); continue
        if s.startswith('- '):
            if para or table:
                b = bullets; bullets = []; flush(); bullets = b
            bullets.append(s[2:]); continue
        if bullets or table:
            flush()
        para.append(s)
    flush()
    return blocks


def inline_pdf(s):
    s = escape(s)
    return re.sub(r'\*\*(.+?)\*\*', r'<b>\1</b>', s)


def build_pdf(blocks, out):
    ss = getSampleStyleSheet()
    body = ParagraphStyle('body', parent=ss['Normal'], fontName='DejaVu', fontSize=10, leading=14, spaceAfter=6)
    title = ParagraphStyle('title', parent=ss['Title'], fontName='DejaVu-Bold', fontSize=16, leading=20, spaceAfter=10, alignment=0)
    h2 = ParagraphStyle('h2', parent=ss['Heading2'], fontName='DejaVu-Bold', fontSize=12, leading=15, spaceBefore=8, spaceAfter=4)
    h3 = ParagraphStyle('h3', parent=ss['Heading3'], fontName='DejaVu-Bold', fontSize=10.5, leading=13, spaceBefore=6, spaceAfter=3)
    cell = ParagraphStyle('cell', parent=body, fontSize=8.5, leading=11, spaceAfter=0)
    cellb = ParagraphStyle('cellb', parent=cell, fontName='DejaVu-Bold')
    doc_title = next((t for k, t in blocks if k == 'title'), 'Document')
    story = []
    width = A4[0] - 40 * mm
    for kind, val in blocks:
        if kind == 'title':
            story.append(Paragraph(inline_pdf(val), title))
        elif kind == 'h2':
            story.append(Paragraph(inline_pdf(val), h2))
        elif kind == 'h3':
            story.append(Paragraph(inline_pdf(val), h3))
        elif kind == 'para':
            story.append(Paragraph('<br/>'.join(inline_pdf(l) for l in val), body))
        elif kind == 'bullets':
            story.append(ListFlowable([ListItem(Paragraph(inline_pdf(b), body), leftIndent=12) for b in val],
                                      bulletType='bullet', start='•', leftIndent=12, bulletFontName='DejaVu'))
        elif kind == 'table':
            ncol = max(len(r) for r in val)
            rows = [r + [''] * (ncol - len(r)) for r in val]
            lens = [max(max(min(len(r[i]), 60) for r in rows),
                        max((len(w) for r in rows for w in r[i].split()), default=0) + 2) + 4 for i in range(ncol)]
            tot = sum(lens)
            colw = [width * l / tot for l in lens]
            data = [[Paragraph(inline_pdf(c), cellb if ri == 0 else cell) for c in r] for ri, r in enumerate(rows)]
            t = Table(data, colWidths=colw, repeatRows=1)
            t.setStyle(TableStyle([
                ('GRID', (0, 0), (-1, -1), 0.4, colors.grey),
                ('BACKGROUND', (0, 0), (-1, 0), colors.HexColor('#e8e8e8')),
                ('VALIGN', (0, 0), (-1, -1), 'TOP'),
                ('TOPPADDING', (0, 0), (-1, -1), 3), ('BOTTOMPADDING', (0, 0), (-1, -1), 3),
            ]))
            story.append(t)
            story.append(Spacer(1, 6))
    pdf = SimpleDocTemplate(out, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=20 * mm,
                            bottomMargin=20 * mm, title=doc_title, author='', creator='', producer='')
    pdf.build(story)


def add_inline(par, s, bold=False):
    parts = re.split(r'(\*\*.+?\*\*)', s)
    for p in parts:
        if p.startswith('**') and p.endswith('**') and len(p) > 4:
            par.add_run(p[2:-2]).bold = True
        elif p:
            r = par.add_run(p)
            if bold: r.bold = True


def build_docx(blocks, out):
    d = docx.Document()
    st = d.styles['Normal']; st.font.name = 'Calibri'; st.font.size = Pt(11)
    d.core_properties.author = ''
    d.core_properties.comments = ''
    for kind, val in blocks:
        if kind == 'title':
            d.add_heading(val, level=0)
            d.core_properties.title = val
        elif kind == 'h2':
            d.add_heading(val, level=1)
        elif kind == 'h3':
            d.add_heading(val, level=2)
        elif kind == 'para':
            p = d.add_paragraph()
            for i, l in enumerate(val):
                if i: p.add_run().add_break()
                add_inline(p, l)
        elif kind == 'bullets':
            for b in val:
                add_inline(d.add_paragraph(style='List Bullet'), b)
        elif kind == 'table':
            ncol = max(len(r) for r in val)
            t = d.add_table(rows=0, cols=ncol)
            t.style = 'Table Grid'
            for ri, r in enumerate(val):
                cells = t.add_row().cells
                for ci in range(ncol):
                    txt = r[ci] if ci < len(r) else ''
                    par = cells[ci].paragraphs[0]
                    add_inline(par, txt, bold=(ri == 0))
            d.add_paragraph()
    d.save(out)


def main():
    targets = {}
    with open(os.path.join(HERE, 'labels.tsv')) as f:
        for line in f:
            name = line.split('\t')[0]
            stem, ext = name.rsplit('.', 1)
            if ext in ('pdf', 'docx'):
                targets[stem] = ext
    n = 0
    for stem, ext in sorted(targets.items()):
        src = None
        for e in ('md', 'txt'):
            p = os.path.join(HERE, 'sources', f'{stem}.{e}')
            if os.path.exists(p): src = p; break
        if not src:
            sys.exit(f'missing source for {stem}')
        blocks = parse(open(src, encoding='utf-8').read())
        out = os.path.join(HERE, f'{stem}.{ext}')
        (build_pdf if ext == 'pdf' else build_docx)(blocks, out)
        n += 1
    print(f'built {n} documents')


if __name__ == '__main__':
    main()
