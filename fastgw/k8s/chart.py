"""Render a Helm chart's templates without helm (the subset of Go templates in gotemplate.py):

    python -m fastgw.k8s.chart deploy/helm/fastgw [-f values.yaml] [--set mode=controller] \
        [--name fastgw] [--namespace fastgw]

prints the objects as `helm template` would (one `# Source:` document per template output). Used
by the chart's tests and to generate deploy/manifests/; install in a cluster with helm itself.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from fastgw.k8s.gotemplate import Renderer, TemplateError, _merge


def set_value(values: dict[str, Any], assignment: str) -> None:
    """`--set a.b=c`, with helm's typing of the value (true/false/null/integers)."""
    path, sep, raw = assignment.partition("=")
    if not sep or not path:
        raise ValueError(f"--set {assignment!r}: expected key=value")
    value: Any = raw
    if raw in ("true", "false"):
        value = raw == "true"
    elif raw == "null":
        value = None
    elif raw.lstrip("-").isdigit():
        value = int(raw)
    keys = path.split(".")
    target = values
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


def deep_override(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_override(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def render_chart(
    chart_dir: str | Path,
    values: dict[str, Any] | None = None,
    release: str = "fastgw",
    namespace: str = "default",
) -> list[tuple[str, str]]:
    """(template path, rendered text) for every template with output."""
    chart = Path(chart_dir)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    defaults = yaml.safe_load((chart / "values.yaml").read_text()) or {}
    merged = deep_override(defaults, values or {})
    root = {
        "Values": merged,
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": True},
        "Chart": {"Name": meta["name"], "Version": meta["version"], "AppVersion": meta.get("appVersion", "")},
        "Capabilities": {"KubeVersion": {"Version": "v1.31.0"}},
    }
    renderer = Renderer()
    templates = sorted((chart / "templates").glob("*"))
    for t in templates:
        if t.name.startswith("_"):
            renderer.add(t.read_text(), t.name)
    out = []
    for t in templates:
        if t.name.startswith("_") or t.suffix not in (".yaml", ".yml"):
            continue
        name = f"{meta['name']}/templates/{t.name}"
        try:
            text = renderer.render(renderer.add(t.read_text(), name), {**root, "Template": {"Name": name}})
        except TemplateError as exc:
            raise TemplateError(f"{name}: {exc}") from None
        if text.strip():
            out.append((name, text))
    return out


def objects(rendered: list[tuple[str, str]]) -> list[dict[str, Any]]:
    docs = []
    for name, text in rendered:
        for doc in yaml.safe_load_all(text):
            if doc:
                doc.setdefault("__source__", name)
                docs.append(doc)
    return docs


def as_manifest(rendered: list[tuple[str, str]]) -> str:
    parts = []
    for name, text in rendered:
        for chunk in text.split("\n---\n"):
            if chunk.strip():
                parts.append(f"---\n# Source: {name}\n{chunk.strip()}\n")
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastgw.k8s.chart", description=__doc__.splitlines()[0])
    parser.add_argument("chart")
    parser.add_argument("-f", "--values", action="append", default=[])
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--name", default="fastgw")
    parser.add_argument("--namespace", default="default")
    args = parser.parse_args(argv)
    values: dict[str, Any] = {}
    for f in args.values:
        values = deep_override(values, yaml.safe_load(Path(f).read_text()) or {})
    for s in args.set:
        set_value(values, s)
    try:
        sys.stdout.write(as_manifest(render_chart(args.chart, values, args.name, args.namespace)))
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


__all__ = ["_merge", "as_manifest", "main", "objects", "render_chart", "set_value"]

if __name__ == "__main__":
    sys.exit(main())
