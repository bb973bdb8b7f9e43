#!/usr/bin/env python3
"""Binary size of each candidate harness (release profile of the Lambda workspace: opt-level "s",
LTO, one codegen unit, stripped), raw and zipped (deflate level 9, as a Lambda zip), and what it
adds over c_baseline, the same harness without any PDF code.

    sizes.py BIN_DIR > sizes.md
"""
import io
import sys
import zipfile
from pathlib import Path


def zipped(path: Path) -> int:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(path, "bootstrap")
    return len(buf.getvalue())


bins = {p.name[2:]: p for p in sorted(Path(sys.argv[1]).glob("c_*")) if p.is_file() and not p.suffix}
base = bins.get("baseline")
b_raw, b_zip = (base.stat().st_size, zipped(base)) if base else (0, 0)
print("| candidate | binary KiB | zipped KiB | added over baseline, binary KiB | added, zipped KiB |")
print("|---|---|---|---|---|")
for name, path in sorted(bins.items(), key=lambda kv: kv[1].stat().st_size):
    raw, z = path.stat().st_size, zipped(path)
    print(f"| {name} | {raw / 1024:.0f} | {z / 1024:.0f} | {(raw - b_raw) / 1024:.0f} | {(z - b_zip) / 1024:.0f} |")
