"""ARCHITECTURE.md stays true to the tree: every module its "Where each concern lives" table names
exists (a move or a rename must update the table)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_TABLE = "## Where each concern lives"


def _named_paths() -> list[tuple[str, list[str]]]:
    """(table row's concern, where the path may be, relative to the repository) for every file or
    folder named in the module column. A path is under fastgw/ unless it starts with a top-level
    folder of the repository (`native/`); a bare name (`jwks.py`) is beside or inside the folder
    named before it in the cell, or at the top of fastgw/."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    table = text.split(_TABLE, 1)[1].split("\n## ", 1)[0]
    out = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or set(cells[1]) <= {"-", " "} or cells[1] == "module":
            continue
        folders: list[str] = []
        for token in re.findall(r"`([^`]+)`", cells[1]):
            if not re.fullmatch(r"[\w./*-]+", token) or not (token.endswith((".py", "/")) or "/" in token):
                continue
            if "/" in token:
                path = token if (ROOT / token.split("/")[0]).is_dir() else f"fastgw/{token}"
                out.append((cells[0], [path]))
                inner = path.rstrip("/")
                folders = [inner, inner.rsplit("/", 1)[0]] if token.endswith("/") else [inner.rsplit("/", 1)[0]]
            else:
                out.append((cells[0], [*(f"{f}/{token}" for f in folders), f"fastgw/{token}"]))
    return out


def test_the_module_table_names_files_that_exist() -> None:
    named = _named_paths()
    assert len(named) > 40, "the table was not found or not parsed"
    missing = [f"{concern}: {paths[0]}" for concern, paths in named if not any(list(ROOT.glob(p)) for p in paths)]
    assert not missing, "ARCHITECTURE.md names files that do not exist:\n" + "\n".join(missing)
