#!/usr/bin/env python3
"""Checks what `sam build` made of template.yaml (the built template and its artifacts).

* every AWS::Serverless::Function: Runtime provided.al2023, Architectures [arm64], Handler
  bootstrap (its own or Globals'); its CodeUri folder holds only `bootstrap`, an executable
  64-bit little-endian ELF file for aarch64; with --lambda-dir, the very binary cargo-lambda built
  for the function's Metadata.BuildProperties.Binary (so no function ships another's code);
* every AWS::Serverless::LayerVersion: built for arm64 (Metadata.BuildArchitecture, among its
  CompatibleArchitectures), its ContentUri folder holds only the files under model/ that the
  functions' CLASSIFIER_*_PATH variables name under /opt, none of them empty.

Exit code 0 when all holds, 1 with the reasons otherwise.
Usage: python tests/sam/check_build.py BUILT_TEMPLATE [--lambda-dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "localstack"))
from cfn_template import load_template  # noqa: E402

EM_AARCH64 = 183


def elf_problem(path: Path) -> str | None:
    """Why `path` is not an aarch64 executable, or None."""
    if not path.is_file():
        return "missing"
    if not os.access(path, os.X_OK):
        return "not executable"
    with path.open("rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return "not an ELF file"
    if header[4] != 2 or header[5] != 1:
        return "not a 64-bit little-endian ELF file"
    e_type = int.from_bytes(header[16:18], "little")
    if e_type not in (2, 3):  # ET_EXEC, ET_DYN (position-independent executables)
        return f"ELF type {e_type}, not an executable"
    machine = int.from_bytes(header[18:20], "little")
    if machine != EM_AARCH64:
        return f"built for ELF machine {machine}, not aarch64 ({EM_AARCH64})"
    return None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template", type=Path, help="the built template, e.g. .aws-sam/build/template.yaml")
    parser.add_argument("--lambda-dir", type=Path, help="cargo lambda's output folder (<dir>/<binary>/bootstrap)")
    args = parser.parse_args()
    built: Path = args.template
    root = built.parent
    template = load_template(built)
    glob = (template.get("Globals") or {}).get("Function") or {}
    resources = template.get("Resources", {})
    problems: list[str] = []
    functions, layers, digests = {}, {}, {}
    opt_paths: set[str] = set()

    for name, resource in resources.items():
        kind = resource.get("Type")
        props = resource.get("Properties") or {}
        metadata = resource.get("Metadata") or {}
        if kind == "AWS::Serverless::Function":
            def prop(key):
                return props.get(key, glob.get(key))

            for key, expected in (("Runtime", "provided.al2023"), ("Architectures", ["arm64"]), ("Handler", "bootstrap")):
                if prop(key) != expected:
                    problems.append(f"{name}: {key} is {prop(key)!r}, not {expected!r}")
            code = prop("CodeUri")
            if not isinstance(code, str):
                problems.append(f"{name}: CodeUri {code!r} is not a built folder")
                continue
            folder = root / code
            contents = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
            if contents != ["bootstrap"]:
                problems.append(f"{name}: {folder} holds {contents}, not just bootstrap")
            problem = elf_problem(folder / "bootstrap")
            if problem:
                problems.append(f"{name}: {folder / 'bootstrap'}: {problem}")
                continue
            digest = sha256(folder / "bootstrap")
            digests.setdefault(digest, []).append(name)
            binary = (metadata.get("BuildProperties") or {}).get("Binary")
            if not binary:
                problems.append(f"{name}: no Metadata.BuildProperties.Binary")
            elif args.lambda_dir:
                expected = args.lambda_dir / binary / "bootstrap"
                if not expected.is_file() or sha256(expected) != digest:
                    problems.append(f"{name}: bootstrap is not cargo-lambda's {binary} ({expected})")
            functions[name] = f"{binary}: {(folder / 'bootstrap').stat().st_size / 1e6:.1f} MB"
            variables = ((glob.get("Environment") or {}).get("Variables") or {}) | (
                (props.get("Environment") or {}).get("Variables") or {}
            )
            for key, value in variables.items():
                if key.startswith("CLASSIFIER_") and key.endswith("_PATH") and isinstance(value, str):
                    if not value.startswith("/opt/"):
                        problems.append(f"{name}: {key} {value} is not in a layer (/opt)")
                    opt_paths.add(value.removeprefix("/opt/"))
        elif kind == "AWS::Serverless::LayerVersion":
            if metadata.get("BuildArchitecture") != "arm64":
                problems.append(f"{name}: Metadata.BuildArchitecture is {metadata.get('BuildArchitecture')!r}, not arm64")
            if "arm64" not in (props.get("CompatibleArchitectures") or []):
                problems.append(f"{name}: arm64 is not among CompatibleArchitectures")
            content = props.get("ContentUri")
            if not isinstance(content, str) or not (root / content).is_dir():
                problems.append(f"{name}: ContentUri {content!r} is not a built folder")
                continue
            layers[name] = root / content

    for names in digests.values():
        if len(names) > 1:
            problems.append(f"{', '.join(names)} ship the same bootstrap")
    if not functions:
        problems.append(f"{built}: no functions")
    if len(layers) != 1:
        problems.append(f"{built}: {len(layers)} layers, expected the model layer only")
    for name, folder in layers.items():
        files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
        if files != opt_paths:
            problems.append(f"{name}: holds {sorted(files)}, the functions read {sorted(opt_paths)}")
        for path in sorted(files & opt_paths):
            if (folder / path).stat().st_size == 0:
                problems.append(f"{name}: {path} is empty")
        layers[name] = ", ".join(f"{p} {(folder / p).stat().st_size / 1e6:.1f} MB" for p in sorted(files))

    for name, summary in sorted(functions.items()):
        print(f"  {name:24} {summary}")
    for name, summary in layers.items():
        print(f"  {name:24} {summary}")
    if problems:
        print(f"\nFAILED: {len(problems)} problem(s) in {built}:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"OK: {len(functions)} functions (aarch64 bootstrap, provided.al2023, arm64) and the model layer in {built}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
