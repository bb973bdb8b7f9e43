"""Hostile inputs for the robustness checks (not part of the recall table): a Flate bomb and
truncated / corrupted copies of readable corpus files."""

import random
import zlib

from pdfwriter import Writer
from handmade import HELV_WINANSI, MEDIA

BOMB_BYTES = 1 << 30  # 1 GiB of inflated content


def _deflate_zeros(total: int) -> bytes:
    comp = zlib.compressobj(9)
    chunk = b"\x00" * (1 << 20)
    out = bytearray()
    for _ in range(total // len(chunk)):
        out += comp.compress(chunk)
    return bytes(out + comp.flush())


def flate_bomb() -> bytes:
    """A page whose content stream is 1 GiB of zeros deflated twice (/Filter [/FlateDecode
    /FlateDecode]): deflate alone caps out near 1:1000, a second pass over the very repetitive
    first output brings the file to a few KB."""
    twice = zlib.compress(_deflate_zeros(BOMB_BYTES), 9)
    w = Writer()
    catalog, pages, font = w.reserve(), w.reserve(), w.add(HELV_WINANSI)
    content = w.add(b"<< /Filter [/FlateDecode /FlateDecode] /Length %d >>\nstream\n" % len(twice) + twice +
                    b"\nendstream")
    page = w.add(b"<< /Type /Page /Parent %d 0 R %s /Contents %d 0 R /Resources << /Font << /F1 %d 0 R >> >> >>"
                 % (pages, MEDIA, content, font))
    w.add(b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % page, pages)
    w.add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages, catalog)
    return w.build(catalog)


def damaged(name: str, data: bytes) -> dict[str, bytes]:
    """Truncated at 50% and 90%, 20 random bytes overwritten, and the xref offset pointing
    nowhere; seeded so reruns give the same files."""
    rng = random.Random(name)
    flipped = bytearray(data)
    for _ in range(20):
        flipped[rng.randrange(len(flipped))] = rng.randrange(256)
    head, _, tail = data.rpartition(b"startxref")
    return {
        f"{name}_trunc50": data[: len(data) // 2],
        f"{name}_trunc90": data[: len(data) * 9 // 10],
        f"{name}_flipped": bytes(flipped),
        f"{name}_badxref": head + b"startxref\n999999" + tail.split(b"%%EOF")[-1] + b"\n%%EOF\n",
    }
