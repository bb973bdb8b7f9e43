"""Hand-written PDFs, each exercising one part of the text model (operators, encodings, font types,
file structure). Every function returns (pdf_bytes, expected_text); expected_text None means the
file is deliberately unreadable and the right answer is an error."""

import hashlib
import textwrap
import zlib

from pdfwriter import Writer, append_update, hexstr, lit, stream
from texts import INVOICE, LETTER, RECIPE, REPORT_PAGES

MEDIA = b"/MediaBox [0 0 612 792]"
HELV_WINANSI = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"

# Adobe glyph names of the non-ASCII characters the texts use (and the ligatures).
GLYPH_NAMES = {
    "é": "eacute", "ü": "udieresis", "ß": "germandbls", "ö": "odieresis", "ä": "adieresis",
    "É": "Eacute", "ë": "edieresis", "ï": "idieresis", "è": "egrave", "î": "icircumflex",
    "ç": "ccedilla", "€": "Euro", "—": "emdash", "–": "endash",
    "ﬁ": "fi", "ﬂ": "fl", "ﬀ": "ff", "ﬃ": "ffi", "ﬄ": "ffl",
}
LIGATURES = [("ffi", "ﬃ"), ("ffl", "ﬄ"), ("ff", "ﬀ"), ("fi", "ﬁ"), ("fl", "ﬂ")]


def ligate(text: str) -> str:
    """What a typesetter draws: ligature glyphs instead of letter pairs."""
    for seq, lig in LIGATURES:
        text = text.replace(seq, lig)
    return text


def wrapped(text: str, width: int = 85) -> list[str]:
    return [part for line in text.split("\n") for part in (textwrap.wrap(line, width) or [""])]


def winansi(s: str) -> bytes:
    return s.encode("cp1252")


def one_page(content: bytes, font: bytes | int = HELV_WINANSI, version: str = "1.4", compress: bool = False,
             extra_resources: bytes = b"", w: Writer | None = None) -> tuple[Writer, int]:
    """A document with a single page drawing `content` with font /F1 (a dict, or the number of a
    font object already in `w`)."""
    w = w or Writer(version)
    catalog, pages = w.reserve(), w.reserve()
    font_num = font if isinstance(font, int) else w.add(font)
    content_num = w.add(stream(b"", content, compress))
    page = w.add(b"<< /Type /Page /Parent %d 0 R %s /Contents %d 0 R /Resources << /Font << /F1 %d 0 R >> %s >> >>"
                 % (pages, MEDIA, content_num, font_num, extra_resources))
    w.add(b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % page, pages)
    w.add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages, catalog)
    return w, catalog


def lines_with_tstar(lines: list[bytes], size: int = 11) -> bytes:
    out = b"BT /F1 %d Tf %d TL 72 740 Td\n" % (size, size + 3)
    for line in lines:
        out += lit(line) + b" Tj T*\n"
    return out + b"ET\n"


def helvetica_winansi():
    """The shape of the failing invoice: Helvetica, WinAnsiEncoding, no /Widths, no ToUnicode
    (exactly what lopdf-made PDFs in shared/tests/common/mod.rs look like)."""
    w, root = one_page(lines_with_tstar([winansi(l) for l in wrapped(INVOICE)]), version="1.5")
    return w.build(root), INVOICE


def helvetica_standard():
    """Helvetica without /Encoding: the font's built-in StandardEncoding. ASCII text only, since
    StandardEncoding has no accented letters at their Latin-1 codes."""
    text = INVOICE.translate(str.maketrans({"ü": "ue", "ö": "oe", "ß": "ss", "é": "e", "ë": "e", "É": "E", "€": "EUR ",
                                            "—": "-"}))
    text = text.replace("EUR ", "EUR")
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    w, root = one_page(lines_with_tstar([l.encode("ascii") for l in wrapped(text)]), font)
    return w.build(root), text


def tj_kerning():
    """TJ arrays with small kerning inside words (not spaces) and large negative adjustments as the
    only word separators; also the ' and " operators and Tc/Tw."""
    out = b"BT /F1 11 Tf 15 TL 72 740 Td\n"
    for i, line in enumerate(wrapped(LETTER, 80)):
        if i % 3 == 0:
            parts = []
            for word in line.split(" "):
                b = winansi(word)
                # Kern every second letter pair a little, as a typesetter does (|adjustment| < 100).
                pieces = [lit(b[j:j + 2]) for j in range(0, len(b), 2)]
                parts.append(b" -12 ".join(pieces))
            # ' and " move to the next line before showing, so TJ lines move first too.
            out += (b"T* " if i else b"") + b"[" + b" -300 ".join(parts) + b"] TJ\n"
        elif i % 3 == 1:
            out += lit(winansi(line)) + b" '\n"
        else:
            out += b"1 0.2 " + lit(winansi(line)) + b' "\n0 Tc 0 Tw\n'
    out += b"ET\n"
    w, root = one_page(out)
    return w.build(root), LETTER


def line_moves():
    """Lines placed with Tm, TD (which also sets the leading), T*, and Td; some lines split into
    two Tj with an x gap (Td) but no space character, as table cells are."""
    lines = [winansi(l) for l in wrapped(RECIPE, 70)]
    out = b"BT /F1 10 Tf\n"
    y = 740
    for i, line in enumerate(lines):
        kind = i % 4
        if kind == 0:
            out += b"1 0 0 1 72 %d Tm\n" % y
        elif kind == 1:
            out += b"0 -14 TD\n"
        elif kind == 2:
            out += b"T*\n"
        else:
            out += b"0 -14 Td\n"
        y -= 14
        words = line.split(b" ")
        if len(words) > 3 and i % 2 == 1:
            half = len(words) // 2
            first, second = b" ".join(words[:half]), b" ".join(words[half:])
            # Helvetica letters are at most ~0.9 em wide: the gap below is at least one em.
            gap = (len(first) + 2) * 10 * 0.6
            out += lit(first) + b" Tj %.1f 0 Td " % gap + lit(second) + b" Tj %.1f 0 Td\n" % -gap
        else:
            out += lit(line) + b" Tj\n"
    out += b"ET\n"
    w, root = one_page(out)
    return w.build(root), RECIPE


def positioned_words():
    """Every word placed on its own with Tm, no space characters at all (invoice generators that
    lay out table cells do this)."""
    out = b"BT /F1 10 Tf\n"
    y = 740
    for line in wrapped(INVOICE, 70):
        x = 72.0
        for word in line.split(" "):
            out += b"1 0 0 1 %.2f %d Tm " % (x, y) + lit(winansi(word)) + b" Tj\n"
            x += (len(word) + 1.5) * 10 * 0.6
        y -= 14
    out += b"ET\n"
    w, root = one_page(out)
    return w.build(root), INVOICE


def differences():
    """A /Differences array over WinAnsiEncoding that puts ligatures and accented letters at
    low codes, with Adobe names and uniXXXX names."""
    names = ["fi", "fl", "ff", "ffi", "ffl", "eacute", "egrave", "uni00EE", "uni00E8", "emdash", "endash"]
    code_of = {}
    for code, name in enumerate(names, start=1):
        code_of[{"uni00EE": "î", "uni00E8": "è"}.get(name) or
                next(ch for ch, n in GLYPH_NAMES.items() if n == name)] = code
    diffs = b"1 " + b" ".join(b"/" + n.encode() for n in names)
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Type /Encoding " \
           b"/BaseEncoding /WinAnsiEncoding /Differences [%s] >> >>" % diffs

    def enc(s: str) -> bytes:
        return bytes(code_of[c] if c in code_of else c.encode("cp1252")[0] for c in ligate(s))

    w, root = one_page(lines_with_tstar([enc(l) for l in wrapped(RECIPE)]), font)
    return w.build(root), RECIPE


def to_unicode_cmap(bfchar: list[tuple[bytes, str]], bfrange: list[tuple[bytes, bytes, object]], code_bytes: int) -> bytes:
    """A ToUnicode CMap; bfrange destinations are a start string or a list of strings (array form)."""
    def u(s: str) -> bytes:
        return hexstr(s.encode("utf-16-be"))
    out = b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CMapName /Adobe-Identity-UCS def\n"
    out += b"/CMapType 2 def\n1 begincodespacerange\n%s %s\nendcodespacerange\n" % (
        hexstr(b"\x00" * code_bytes), hexstr(b"\xff" * code_bytes))
    out += b"%d beginbfchar\n" % len(bfchar)
    for code, s in bfchar:
        out += hexstr(code) + b" " + u(s) + b"\n"
    out += b"endbfchar\n%d beginbfrange\n" % len(bfrange)
    for lo, hi, dst in bfrange:
        if isinstance(dst, list):
            out += hexstr(lo) + b" " + hexstr(hi) + b" [" + b" ".join(u(s) for s in dst) + b"]\n"
        else:
            out += hexstr(lo) + b" " + hexstr(hi) + b" " + u(dst) + b"\n"
    return out + b"endbfrange\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"


def code_table(text: str, code_bytes: int, first: int):
    """Codes for each distinct character (and ligature) in code-point order, so that runs of
    consecutive letters become bfrange entries; the rest are bfchar, plus one array-form range."""
    chars = sorted(set(ligate(text).replace("\n", "")))
    codes = {c: (first + i).to_bytes(code_bytes, "big") for i, c in enumerate(chars)}
    bfchar, bfrange, i = [], [], 0
    while i < len(chars):
        j = i
        while j + 1 < len(chars) and ord(chars[j + 1]) == ord(chars[j]) + 1 and ord(chars[j]) < 0xFB00:
            j += 1
        if j - i >= 2:
            bfrange.append((codes[chars[i]], codes[chars[j]], chars[i]))
        elif j - i == 1 and ord(chars[i]) > 127:
            bfrange.append((codes[chars[i]], codes[chars[j]], [chars[i], chars[j]]))
        else:
            bfchar.extend((codes[c], c) for c in chars[i:j + 1])
        i = j + 1
    # Ligature glyphs map to their letters, as real producers write them.
    bfchar = [(code, {"ﬁ": "fi", "ﬂ": "fl", "ﬀ": "ff", "ﬃ": "ffi", "ﬄ": "ffl"}.get(c, c)) for code, c in bfchar]
    return codes, bfchar, bfrange


def type0_font(w: Writer, to_unicode: int | None) -> bytes:
    cid = w.add(b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /DejaVuSans /CIDSystemInfo << /Registry (Adobe) "
                b"/Ordering (Identity) /Supplement 0 >> /DW 600 /CIDToGIDMap /Identity /FontDescriptor << /Type "
                b"/FontDescriptor /FontName /DejaVuSans /Flags 32 /FontBBox [0 -200 1000 900] /ItalicAngle 0 "
                b"/Ascent 900 /Descent -200 /CapHeight 700 /StemV 80 >> >>")
    tu = b" /ToUnicode %d 0 R" % to_unicode if to_unicode else b""
    return b"<< /Type /Font /Subtype /Type0 /BaseFont /DejaVuSans /Encoding /Identity-H /DescendantFonts [%d 0 R]%s >>" % (
        cid, tu)


def type0_tounicode():
    """Type0 font, Identity-H (2-byte codes), ToUnicode with bfchar, bfrange and array-form
    bfrange; ligature glyphs; words separated by TJ adjustments on every other line."""
    codes, bfchar, bfrange = code_table(INVOICE, 2, 3)
    w = Writer()
    tu = w.add(stream(b"", to_unicode_cmap(bfchar, bfrange, 2), True))
    font = w.add(type0_font(w, tu))
    out = b"BT /F1 10 Tf 14 TL 72 740 Td\n"
    for i, line in enumerate(wrapped(INVOICE)):
        if i % 2:
            words = [hexstr(b"".join(codes[c] for c in ligate(word))) for word in line.split(" ")]
            out += b"[" + b" -350 ".join(words) + b"] TJ T*\n"
        else:
            out += hexstr(b"".join(codes[c] for c in ligate(line))) + b" Tj T*\n"
    w, root = one_page(out + b"ET\n", font=font, w=w)
    return w.build(root), INVOICE


def type0_no_tounicode():
    """Type0 Identity-H without ToUnicode, where the producer used Unicode code points as CIDs:
    only a last-resort guess can read it (the report notes it as heuristic)."""
    w = Writer()
    font = w.add(type0_font(w, None))
    out = b"BT /F1 10 Tf 14 TL 72 740 Td\n"
    for line in wrapped(LETTER):
        out += hexstr(line.encode("utf-16-be")) + b" Tj T*\n"
    w, root = one_page(out + b"ET\n", font=font, w=w)
    return w.build(root), LETTER


def simple_tounicode():
    """A simple TrueType font with 1-byte codes 1..n that mean nothing without its ToUnicode CMap
    (what subsetting producers write); bfchar, bfrange and array-form bfrange."""
    codes, bfchar, bfrange = code_table(RECIPE, 1, 1)
    w = Writer()
    tu = w.add(stream(b"", to_unicode_cmap(bfchar, bfrange, 1)))
    font = w.add(b"<< /Type /Font /Subtype /TrueType /BaseFont /AAAAAA+DejaVuSans /FirstChar 1 /LastChar %d "
                 b"/Widths [%s] /ToUnicode %d 0 R >>" % (len(codes), b" ".join([b"600"] * len(codes)), tu))
    body = [b"".join(codes[c] for c in ligate(line)) for line in wrapped(RECIPE)]
    w, root = one_page(lines_with_tstar(body), font=font, w=w)
    return w.build(root), RECIPE


def flate():
    w, root = one_page(lines_with_tstar([winansi(l) for l in wrapped(LETTER)]), compress=True)
    return w.build(root), LETTER


def objstm():
    """PDF 1.5: objects in a compressed object stream, located by a cross-reference stream."""
    w, root = one_page(lines_with_tstar([winansi(l) for l in wrapped(INVOICE)]), version="1.5", compress=True)
    return w.build_compressed(root), INVOICE


def multipage():
    """Three pages under a two-level page tree; the font resources are inherited from the root
    /Pages node, and the second page's /Contents is an array of two streams."""
    w = Writer()
    catalog, pages, inner = w.reserve(), w.reserve(), w.reserve()
    font = w.add(HELV_WINANSI)
    kids = []
    for i, text in enumerate(REPORT_PAGES):
        lines = [winansi(l) for l in wrapped(text)]
        if i == 1:
            a = w.add(stream(b"", lines_with_tstar(lines[:2])))
            b = w.add(stream(b"", lines_with_tstar(lines[2:]).replace(b"740 Td", b"700 Td"), True))
            contents = b"[%d 0 R %d 0 R]" % (a, b)
        else:
            contents = b"%d 0 R" % w.add(stream(b"", lines_with_tstar(lines)))
        kids.append(w.add(b"<< /Type /Page /Parent %d 0 R /Contents %s >>" % (inner if i < 2 else pages, contents)))
    w.add(b"<< /Type /Pages /Parent %d 0 R /Kids [%d 0 R %d 0 R] /Count 2 >>" % (pages, kids[0], kids[1]), inner)
    w.add(b"<< /Type /Pages /Kids [%d 0 R %d 0 R] /Count 3 %s /Resources << /Font << /F1 %d 0 R >> >> >>"
          % (inner, kids[2], MEDIA, font), pages)
    w.add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages, catalog)
    return w.build(catalog), "\n".join(REPORT_PAGES)


def incremental():
    """Revision 1 draws a draft; an appended revision 2 replaces the page's content stream. Only the
    last revision's text is expected (the draft words are all absent from it)."""
    draft = "Zebra xylophone quagga draft wording superseded yesterday"
    w, root = one_page(lines_with_tstar([draft.encode()]))
    base = w.build(root)
    content_num = next(n for n, body in w.objects.items() if body.startswith(b"<<  /Length"))
    update = {content_num: stream(b"", lines_with_tstar([winansi(l) for l in wrapped(INVOICE)]))}
    return append_update(base, update, root), INVOICE


def form_xobject():
    """Text drawn inside form XObjects (Do), one nested in another, with their own resources."""
    lines = [winansi(l) for l in wrapped(LETTER)]
    w = Writer()
    font = w.add(HELV_WINANSI)
    res = b"/Resources << /Font << /F1 %d 0 R >> >>" % font
    inner = w.add(stream(b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] " + res,
                         lines_with_tstar(lines[4:]).replace(b"740 Td", b"600 Td")))
    outer = w.add(stream(b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> "
                         b"/XObject << /Fx2 %d 0 R >> >>" % (font, inner),
                         lines_with_tstar(lines[:4]) + b"q /Fx2 Do Q\n"))
    content = b"q 1 0 0 1 0 0 cm /Fx1 Do Q\n"
    w, root = one_page(content, font=font, w=w, extra_resources=b"/XObject << /Fx1 %d 0 R >>" % outer)
    return w.build(root), LETTER


def image_only():
    """A 'scan': one page with only an image. The right answer is empty text."""
    w = Writer()
    pixels = bytes((x * 16 + y) % 256 for y in range(32) for x in range(32))
    img = w.add(stream(b"/Type /XObject /Subtype /Image /Width 32 /Height 32 /ColorSpace /DeviceGray "
                       b"/BitsPerComponent 8", pixels, True))
    w, root = one_page(b"q 400 0 0 500 100 150 cm /Im1 Do Q\n", w=w, extra_resources=b"/XObject << /Im1 %d 0 R >>" % img)
    return w.build(root), ""


def _rc4(key: bytes, data: bytes) -> bytes:
    s, j = list(range(256)), 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out, i, j = bytearray(), 0, 0
    for c in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(c ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def encrypted():
    """Standard security handler, RC4 40-bit (V1 R2), user password "secret": without it the text
    cannot be read, so an extractor must say so rather than return garbage."""
    pad = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")
    padded = lambda pw: (pw + pad)[:32]  # noqa: E731
    owner = _rc4(hashlib.md5(padded(b"owner")).digest()[:5], padded(b"secret"))
    file_id = hashlib.md5(b"corpus-encrypted").digest()
    perms = -44
    key = hashlib.md5(padded(b"secret") + owner + perms.to_bytes(4, "little", signed=True) + file_id).digest()[:5]
    user = _rc4(key, pad)
    w = Writer()
    content_plain = lines_with_tstar([winansi(l) for l in wrapped(INVOICE)])
    catalog, pages, font, content = w.reserve(), w.reserve(), w.reserve(), w.reserve()
    obj_key = hashlib.md5(key + content.to_bytes(3, "little") + b"\x00\x00").digest()[:10]
    w.add(HELV_WINANSI, font)
    w.add(stream(b"", _rc4(obj_key, content_plain)), content)
    page = w.add(b"<< /Type /Page /Parent %d 0 R %s /Contents %d 0 R /Resources << /Font << /F1 %d 0 R >> >> >>"
                 % (pages, MEDIA, content, font))
    w.add(b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % page, pages)
    w.add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages, catalog)
    enc = w.add(b"<< /Filter /Standard /V 1 /R 2 /O %s /U %s /P %d >>" % (hexstr(owner), hexstr(user), perms))
    return w.build(catalog, b"/Encrypt %d 0 R /ID [%s %s] " % (enc, hexstr(file_id), hexstr(file_id))), None


CASES = {
    "hw_helvetica_winansi": helvetica_winansi,
    "hw_helvetica_standard": helvetica_standard,
    "hw_tj_kerning": tj_kerning,
    "hw_line_moves": line_moves,
    "hw_positioned_words": positioned_words,
    "hw_differences": differences,
    "hw_type0_tounicode": type0_tounicode,
    "hw_type0_no_tounicode": type0_no_tounicode,
    "hw_simple_tounicode": simple_tounicode,
    "hw_flate": flate,
    "hw_objstm": objstm,
    "hw_multipage": multipage,
    "hw_incremental": incremental,
    "hw_form_xobject": form_xobject,
    "hw_image_only": image_only,
    "hw_encrypted": encrypted,
}
