"""Derives the vocabulary-free estimator's tables from a calibration corpus counted exactly.

The corpus is whatever text the machine has lying around (Python's standard library sources and
docstrings, JSON data files, the CJK codec test texts), deliberately not tests/native/data/, which the
tests use to measure the estimator's error. Prints the tables for native/tokens_estimate.h and
fastgw/_twins/tokens.py.

    python bench/tokens_calibrate.py --vocab .../cl100k_base.tiktoken
"""

from __future__ import annotations

import argparse
import ast
import collections
import glob
import json
import os
import pathlib
import sys
import sysconfig

import numpy as np

from fastgw._twins import tokens as tokens_twin
from fastgw.tokens import Vocabulary

WORD_MAX = 24
PUNCT_MAX = 12


def corpus() -> dict[str, list[str]]:
    stdlib = sysconfig.get_paths()["stdlib"]
    py_files = sorted(glob.glob(os.path.join(stdlib, "*.py")))[:120]
    sites = [p for p in sys.path if p.endswith("site-packages")]
    code, prose = [], []
    for path in py_files:
        with open(path, encoding="utf-8", errors="replace") as f:
            src = f.read()
        code.append(src)
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Module):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 200:
                    prose.append(doc)
    metadata = sorted({f for site in sites for f in glob.glob(os.path.join(site, "*.dist-info", "METADATA"))})
    for path in metadata:
        with open(path, encoding="utf-8", errors="replace") as f:
            body = f.read().partition("\n\n")[2]
        # Package descriptions: Markdown/reST prose; keep the paragraphs that read like sentences.
        prose += [p for p in body.split("\n\n") if p.count(". ") >= 2 and "```" not in p and "    " not in p]
    code += [pathlib.Path(p).read_text(errors="replace") for p in sorted(glob.glob("/usr/include/*.h"))[:60]]
    json_paths = sorted({f for site in sites for f in glob.glob(os.path.join(site, "**", "*.json"), recursive=True)})
    json_texts = []
    for path in json_paths[:: max(1, len(json_paths) // 400)]:
        try:
            with open(path, encoding="utf-8") as f:
                obj = json.load(f)
        except (ValueError, OSError, UnicodeDecodeError):
            continue
        text = json.dumps(obj, indent=2 if len(json_texts) % 2 else None)
        json_texts.append(text[:20000])
    cjk = [
        pathlib.Path(p).read_text(encoding="utf-8")
        for p in sorted(glob.glob(os.path.join(stdlib, "test", "cjkencodings", "*-utf8.txt")))
    ]
    return {"prose": prose, "code": code, "json": json_texts, "cjk": cjk}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vocab", required=True)
    args = parser.parse_args()
    vocab = Vocabulary.load(args.vocab)
    words: dict[tuple[int, int], list[int]] = collections.defaultdict(list)
    puncts: dict[int, list[int]] = collections.defaultdict(list)
    spaces: dict[int, list[int]] = collections.defaultdict(list)
    rows: list[list[float]] = []
    targets: list[int] = []
    texts_by_kind = corpus()
    for texts in texts_by_kind.values():
        for text in texts:
            for piece in tokens_twin.pieces(text)[0]:
                n = vocab.count(piece)
                kind, key, groups = tokens_twin.estimate_features(piece)
                if kind == "word":
                    words[key].append(n)
                elif kind == "punct":
                    puncts[key[0]].append(n)
                elif kind == "space":
                    spaces[min(key[0], 4)].append(n)
                elif kind == "mixed":
                    rows.append([1.0, *groups])
                    targets.append(n)
    for mixed_case in (0, 1, 2):
        table = []
        for length in range(WORD_MAX + 1):
            seen = words.get((mixed_case, length), [])
            table.append(round(sum(seen) / len(seen), 3) if len(seen) >= 20 else None)
        print(f"WORD[{mixed_case}] =", table)
    print(
        "PUNCT =",
        [round(sum(v) / len(v), 3) if v else None for v in (puncts[k] for k in range(PUNCT_MAX + 1))],
    )
    print("SPACE =", [round(sum(v) / len(v), 3) if v else None for v in (spaces[k] for k in range(5))])
    # No intercept: a piece's cost is what its characters cost (a lone CJK comma is one token).
    fit, *_ = np.linalg.lstsq(np.array(rows)[:, 1:], np.array(targets, dtype=float), rcond=None)
    print("GROUP (intercept 0) =", [0, *(round(float(x), 3) for x in fit)])
    print(
        f"{len(targets)} non-ASCII pieces; prose {sum(map(len, texts_by_kind['prose']))} chars",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
