"""Bundles the document-type bank (`model/document-types/`) into the one JSON file the classifier
reads (`make model`; in AWS, next to the embedding table in the model layer):

    {"types": [{"key": "invoice", "names": ["Invoices", ...], "examples": ["text", ...]}, ...]}

`names.json` maps each type (a folder) to the names a user might give a topic of that kind; the
examples are the folder's files, in name order. The classifier learns from the text itself
(`shared/src/classifier/document_types.rs`), so nothing is computed here.

    python3 bundle_document_types.py model/document-types target/model/document-types.json
"""
import json
import sys
from pathlib import Path


def main(bank: Path, out: Path) -> None:
    names = json.loads((bank / "names.json").read_text(encoding="utf-8"))
    folders = sorted(p.name for p in bank.iterdir() if p.is_dir())  # README.md and names.json are not kinds
    if sorted(names) != folders:
        sys.exit(f"names.json and the folders disagree: {sorted(set(names) ^ set(folders))}")
    types = []
    for key in folders:
        examples = [f.read_text(encoding="utf-8") for f in sorted((bank / key).iterdir()) if f.is_file()]
        types.append({"key": key, "names": names[key], "examples": examples})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"types": types}, ensure_ascii=False), encoding="utf-8")
    print(f"{out}: {len(types)} types, {sum(len(t['examples']) for t in types)} examples")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
