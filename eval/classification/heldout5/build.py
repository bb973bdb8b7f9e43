#!/usr/bin/env python3
"""Build the PDF and DOCX documents of this corpus from their text sources.

For every line `doc_NN.pdf` / `doc_NN.docx` in labels.tsv, reads sources/doc_NN.txt
and writes doc_NN.pdf / doc_NN.docx next to this script.

Light markup in the sources:
  '# '  title          '## ' heading
  lines starting with '|'  table rows (cells separated by '|'; first row = header)
  blank line           paragraph break (single newlines are kept as line breaks)
  '- ' lines           bullet list
  **text**             bold
Usage: .venv/bin/python build.py
"""
import os, re, html
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet, ParagraphStyle
from reportlab.lib.enums import TA_CENTER
from reportlab.lib import colors
from reportlab.lib.units import cm
from reportlab.platypus import SimpleDocTemplate, Paragraph, Spacer, Table, TableStyle, ListFlowable, ListItem
import docx
from docx.shared import Pt

HERE = os.path.dirname(os.path.abspath(__file__))


def parse(text):
    """Return a list of blocks: (kind, payload)."""
    blocks, para = [], []

    def flush():
        if para:
            if all(l.startswith('- ') for l in para):
                blocks.append(('bullets', [l[2:] for l in para]))
            else:
                blocks.append(('para', list(para)))
            para.clear()

    lines = text.rstrip('\n').split('\n')
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if line.startswith('# '):
            flush(); blocks.append(('title', line[2:]))
        elif line.startswith('## '):
            flush(); blocks.append(('heading', line[3:]))
        elif line.startswith('|'):
            flush()
            rows = []
            while i < len(lines) and lines[i].startswith('|'):
                cells = [c.strip() for c in lines[i].strip().strip('|').split('|')]
                if any(cells):
                    rows.append(cells)
                i += 1
            width = max(len(r) for r in rows)
            rows = [r + [''] * (width - len(r)) for r in rows]
            blocks.append(('table', rows))
            continue
        elif not line.strip():
            flush()
        else:
            para.append(line)
        i += 1
    flush()
    return blocks


def rl_inline(s):
    s = html.escape(s, quote=False)
    return re.sub(r'\*\*(.+?)\*\*', r'<b>\1</b>', s)


def build_pdf(blocks, path):
    ss = getSampleStyleSheet()
    certificate = any(k == 'title' and 'certificate' in p.lower() for k, p in blocks)
    body = ParagraphStyle('body', parent=ss['BodyText'], fontName='Helvetica', fontSize=10, leading=13.5, spaceAfter=6)
    title = ParagraphStyle('t', parent=ss['Title'], fontName='Helvetica-Bold', fontSize=18, spaceAfter=10)
    head = ParagraphStyle('h', parent=ss['Heading2'], fontName='Helvetica-Bold', fontSize=12.5, spaceBefore=8, spaceAfter=4)
    cell = ParagraphStyle('c', parent=body, fontSize=8.5, leading=10.5, spaceAfter=0)
    cellb = ParagraphStyle('cb', parent=cell, fontName='Helvetica-Bold')
    if certificate:
        body = ParagraphStyle('bc', parent=body, alignment=TA_CENTER, fontSize=12, leading=17, spaceAfter=10)
        head = ParagraphStyle('hc', parent=head, alignment=TA_CENTER)
    story = []
    for kind, p in blocks:
        if kind == 'title':
            story.append(Paragraph(rl_inline(p), title))
        elif kind == 'heading':
            story.append(Paragraph(rl_inline(p), head))
        elif kind == 'para':
            story.append(Paragraph('<br/>'.join(rl_inline(l) for l in p), body))
        elif kind == 'bullets':
            story.append(ListFlowable([ListItem(Paragraph(rl_inline(l), body), leftIndent=12) for l in p],
                                      bulletType='bullet', start='\u2022', leftIndent=12))
        elif kind == 'table':
            data = [[Paragraph(rl_inline(c), cellb if r == 0 else cell) for c in row] for r, row in enumerate(p)]
            t = Table(data, repeatRows=1, hAlign='LEFT',
                      colWidths=[(A4[0] - 4 * cm) / len(p[0])] * len(p[0]))
            t.setStyle(TableStyle([
                ('GRID', (0, 0), (-1, -1), 0.4, colors.grey),
                ('BACKGROUND', (0, 0), (-1, 0), colors.HexColor('#e8e8e8')),
                ('VALIGN', (0, 0), (-1, -1), 'TOP'),
            ]))
            story += [t, Spacer(1, 8)]
    if certificate:
        story.insert(0, Spacer(1, 3 * cm))
    doc = SimpleDocTemplate(path, pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm,
                            topMargin=2 * cm, bottomMargin=2 * cm,
                            title=next((p for k, p in blocks if k == 'title'), ''))
    doc.build(story)


def add_runs(par, text):
    for j, part in enumerate(re.split(r'\*\*(.+?)\*\*', text)):
        if part:
            par.add_run(part).bold = (j % 2 == 1)


def build_docx(blocks, path):
    d = docx.Document()
    d.styles['Normal'].font.name = 'Calibri'
    d.styles['Normal'].font.size = Pt(11)
    for kind, p in blocks:
        if kind == 'title':
            d.add_heading(p, level=0)
        elif kind == 'heading':
            d.add_heading(p, level=1)
        elif kind == 'para':
            par = d.add_paragraph()
            for n, line in enumerate(p):
                if n:
                    par.add_run().add_break()
                add_runs(par, line)
        elif kind == 'bullets':
            for line in p:
                add_runs(d.add_paragraph(style='List Bullet'), line)
        elif kind == 'table':
            t = d.add_table(rows=len(p), cols=len(p[0]))
            t.style = 'Table Grid'
            for r, row in enumerate(p):
                for c, val in enumerate(row):
                    cellpar = t.cell(r, c).paragraphs[0]
                    add_runs(cellpar, val)
                    if r == 0:
                        for run in cellpar.runs:
                            run.bold = True
            d.add_paragraph()
    d.save(path)


def main():
    n = 0
    for line in open(os.path.join(HERE, 'labels.tsv'), encoding='utf-8'):
        name = line.split('\t')[0]
        stem, ext = name.rsplit('.', 1)
        if ext not in ('pdf', 'docx'):
            continue
        src = os.path.join(HERE, 'sources', stem + '.txt')
        blocks = parse(open(src, encoding='utf-8').read())
        (build_pdf if ext == 'pdf' else build_docx)(blocks, os.path.join(HERE, name))
        n += 1
    print(f'built {n} documents')


if __name__ == '__main__':
    main()
