"""A tiny PDF writer: objects written byte by byte with a correct classic xref table, an incremental
update appended to an existing file, or PDF 1.5 object streams plus a cross-reference stream.

Nothing here depends on a PDF library, so the hand-written corpus files are exactly what the
generator says they are.
"""

import zlib


def lit(data: bytes) -> bytes:
    """A PDF literal string, escaping what the lexer would otherwise misread."""
    out = bytearray(b"(")
    for c in data:
        if c in b"()\\":
            out += b"\\" + bytes([c])
        elif c < 32 or c > 126:
            out += b"\\%03o" % c
        else:
            out.append(c)
    out += b")"
    return bytes(out)


def hexstr(data: bytes) -> bytes:
    return b"<" + data.hex().upper().encode() + b">"


def stream(dict_src: bytes, data: bytes, compress: bool = False) -> bytes:
    """The body of a stream object; `compress` applies FlateDecode."""
    if compress:
        data = zlib.compress(data, 9)
        dict_src += b" /Filter /FlateDecode"
    return b"<< %s /Length %d >>\nstream\n" % (dict_src, len(data)) + data + b"\nendstream"


class Writer:
    """Collects numbered objects (bodies without `n 0 obj`/`endobj`) and serialises them."""

    def __init__(self, version: str = "1.4"):
        self.version = version
        self.objects: dict[int, bytes] = {}
        self.next_num = 1

    def reserve(self) -> int:
        num = self.next_num
        self.next_num += 1
        return num

    def add(self, body: bytes, num: int | None = None) -> int:
        if num is None:
            num = self.reserve()
        self.objects[num] = body
        return num

    def _header(self) -> bytearray:
        # The binary comment line tells transfer tools the file is binary (PDF 32000 7.5.2).
        return bytearray(b"%%PDF-%s\n%%\xe2\xe3\xcf\xd3\n" % self.version.encode())

    def build(self, root: int, trailer_extra: bytes = b"") -> bytes:
        """Classic layout: objects, an xref table with 20-byte entries, trailer, startxref."""
        out = self._header()
        offsets = {}
        for num in sorted(self.objects):
            offsets[num] = len(out)
            out += b"%d 0 obj\n" % num + self.objects[num] + b"\nendobj\n"
        xref_at = len(out)
        size = max(self.objects) + 1
        out += b"xref\n0 %d\n" % size
        for num in range(size):
            if num in offsets:
                out += b"%010d 00000 n \n" % offsets[num]
            else:
                out += b"0000000000 65535 f \n"
        out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (size, root, trailer_extra, xref_at)
        return bytes(out)

    def build_compressed(self, root: int) -> bytes:
        """PDF 1.5 layout: every non-stream object inside one object stream, and a cross-reference
        stream (type 1 = offset, type 2 = in object stream) instead of the xref table."""
        out = self._header()
        in_objstm = [n for n in sorted(self.objects) if b"stream\n" not in self.objects[n]]
        plain = [n for n in sorted(self.objects) if n not in in_objstm]
        offsets = {}
        for num in plain:
            offsets[num] = len(out)
            out += b"%d 0 obj\n" % num + self.objects[num] + b"\nendobj\n"
        # The object stream: "num offset" pairs, then the bodies at /First.
        pairs, bodies = [], bytearray()
        for num in in_objstm:
            pairs.append(b"%d %d" % (num, len(bodies)))
            bodies += self.objects[num] + b"\n"
        head = b" ".join(pairs) + b"\n"
        objstm_num = max(self.objects) + 1
        offsets[objstm_num] = len(out)
        body = stream(b"/Type /ObjStm /N %d /First %d" % (len(in_objstm), len(head)), head + bytes(bodies), True)
        out += b"%d 0 obj\n" % objstm_num + body + b"\nendobj\n"
        xref_num = objstm_num + 1
        offsets[xref_num] = len(out)
        size = xref_num + 1
        rows = bytearray()
        for num in range(size):
            if num in offsets:
                rows += bytes([1]) + offsets[num].to_bytes(4, "big") + (0).to_bytes(2, "big")
            elif num in in_objstm:
                rows += bytes([2]) + objstm_num.to_bytes(4, "big") + in_objstm.index(num).to_bytes(2, "big")
            else:
                rows += bytes([0, 0, 0, 0, 0, 0xFF, 0xFF])
        xref = stream(b"/Type /XRef /Size %d /W [1 4 2] /Root %d 0 R" % (size, root), bytes(rows), True)
        out += b"%d 0 obj\n" % xref_num + xref + b"\nendobj\n"
        out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_num]
        return bytes(out)


def append_update(base: bytes, objects: dict[int, bytes], root: int) -> bytes:
    """An incremental update (PDF 32000 7.5.6): new versions of `objects` appended after the
    original file, with their own xref section whose trailer points back with /Prev."""
    prev = int(base.rsplit(b"startxref", 1)[1].split()[0])
    size = int(base.split(b"/Size", 1)[1].split()[0])
    out = bytearray(base)
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n"
    for num in sorted(offsets):
        out += b"%d 1\n%010d 00000 n \n" % (num, offsets[num])
    size = max(size, max(objects) + 1)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, prev, xref_at)
    return bytes(out)
