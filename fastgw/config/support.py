"""What the compiler enforces: a policy or setting that parses but is not implemented is an error
("not supported yet"), never silently dropped."""

from __future__ import annotations

from typing import Any

import msgspec


def reject_unsupported(spec: Any, supported: frozenset[str], path: str, errors: list[str], where: str = "") -> None:
    """An error for every field set on `spec` (a config Struct) that is not in `supported`."""
    if spec is None:
        return
    for f in msgspec.structs.fields(spec):
        if f.name not in supported and getattr(spec, f.name) is not None:
            errors.append(f"{path}.{f.encode_name}: not supported yet{where}: {f.encode_name}")
