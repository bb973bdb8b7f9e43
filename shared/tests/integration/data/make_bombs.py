#!/usr/bin/env python3
"""Writes the decompression bombs the failure tests upload (run once; the outputs are committed).

  bomb.pdf   a valid one-page PDF whose content stream is Flate-compressed twice: 3 KB that
             inflate to 1.5 GB of text-showing operators inside a parser
  bomb.docx  a valid DOCX whose word/document.xml is 200 MB of one text run, zip-compressed

Both must fail one document with a reason (or be cut at the configured caps), never the function.
"""

import io
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def deflate_repeated(chunk: bytes, times: int) -> bytes:
    compressor = zlib.compressobj(9)
    out = [compressor.compress(chunk) for _ in range(times)]
    out.append(compressor.flush())
    return b"".join(out)


def pdf_bomb() -> bytes:
    line = b"BT /F1 12 Tf 72 720 Td (bomb bomb bomb bomb bomb bomb bomb bomb bomb) Tj ET\n"
    inner = deflate_repeated(line * 13107, 1500)  # ~1 MB x 1500 = 1.5 GB
    stream = zlib.compress(inner, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter [/FlateDecode /FlateDecode] >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(pdf)


def docx_bomb() -> bytes:
    head = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document '
            b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r>'
            b'<w:t xml:space="preserve">')
    tail = b"</w:t></w:r></w:p></w:body></w:document>"
    parts = {
        "[Content_Types].xml": b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        "_rels/.rels": b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
        with archive.open("word/document.xml", "w", force_zip64=True) as document:
            document.write(head)
            chunk = b"lorem ipsum dolor sit amet " * 40000  # ~1 MB
            for _ in range(200):
                document.write(chunk)
            document.write(tail)
    return buffer.getvalue()


if __name__ == "__main__":
    for name, make in [("bomb.pdf", pdf_bomb), ("bomb.docx", docx_bomb)]:
        data = make()
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")
