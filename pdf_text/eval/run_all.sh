#!/usr/bin/env bash
# Regenerates the extractor evaluation (see REPORT.md): producers, corpus, candidate binaries,
# measurements. Writes into a work directory (default: /tmp/pdf-eval), never into the repository.
# Debian 12, as root (apt). Takes about 30 minutes on 2 cores, mostly compiling the candidates.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${1:-/tmp/pdf-eval}"
mkdir -p "$work"
export CARGO_TARGET_DIR="$work/target"

# 1. Producers. chromium, groff-base and fonts-dejavu-core may already be there.
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  ghostscript libreoffice-writer-nogui texlive-binaries texlive-base poppler-utils \
  chromium groff-base fonts-dejavu-core
[ -x "$work/venv/bin/python" ] || python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q reportlab fpdf2 python-docx odfpy   # fonttools comes with fpdf2

# 2. Corpus (PDF + ground truth .txt + manifest.json; hostile files in adversarial/).
rm -rf "$work/corpus_out" && "$work/venv/bin/python" "$here/corpus/make_corpus.py" "$work/corpus_out"

# 3. Candidates, with the release profile of the Lambda workspace.
(cd "$here/harness" && cargo build --release)

# 4. Recall, time and peak memory per file (one process per extraction), and binary sizes.
"$work/venv/bin/python" "$here/measure.py" "$work/corpus_out" "$CARGO_TARGET_DIR/release" "$work/results" --repeat 3
"$work/venv/bin/python" "$here/sizes.py" "$CARGO_TARGET_DIR/release" > "$work/results/sizes.md"
