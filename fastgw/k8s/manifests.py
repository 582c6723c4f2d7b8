"""Kubernetes manifests read from files: the resources fastgw renders, with the line of every field.

Files hold YAML (or JSON) documents separated by `---`; a `kind: List` holds items. A resource
applied twice (same kind, namespace and name) is replaced by the later one, as `kubectl apply`
does, with a warning. Each kind fastgw reads is listed in `KINDS` with the API versions it
accepts; a known kind under a version it does not serve is an error (the API server would refuse
it too), a kind fastgw does not read is a warning.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fastgw.k8s.diagnostics import Diagnostics

GATEWAY_API = "gateway.networking.k8s.io"
AGENTGATEWAY = "agentgateway.dev"
KGATEWAY = "gateway.kgateway.dev"

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class KindInfo:
    group: str  # "" for the core group
    versions: frozenset[str]
    namespaced: bool = True


KINDS: Mapping[str, KindInfo] = {
    "GatewayClass": KindInfo(GATEWAY_API, frozenset({"v1", "v1beta1"}), namespaced=False),
    "Gateway": KindInfo(GATEWAY_API, frozenset({"v1", "v1beta1"})),
    "HTTPRoute": KindInfo(GATEWAY_API, frozenset({"v1", "v1beta1"})),
    "ReferenceGrant": KindInfo(GATEWAY_API, frozenset({"v1beta1", "v1"})),
    "Secret": KindInfo("", frozenset({"v1"})),
    "Namespace": KindInfo("", frozenset({"v1"}), namespaced=False),
    "AgentgatewayBackend": KindInfo(AGENTGATEWAY, frozenset({"v1alpha1"})),
    "Backend": KindInfo(KGATEWAY, frozenset({"v1alpha1"})),
    "TrafficPolicy": KindInfo(KGATEWAY, frozenset({"v1alpha1"})),
}


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def render_path(path: FieldPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass
class Resource:
    """One manifest: its identity, its whole object, and where each of its fields was written."""

    api_version: str
    kind: str
    namespace: str  # "" for cluster-scoped kinds
    name: str
    obj: dict[str, Any]
    file: str = "<manifest>"
    lines: dict[FieldPath, int] = field(default_factory=dict)

    @property
    def group(self) -> str:
        return split_api_version(self.api_version)[0]

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.obj.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.obj.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def generation(self) -> int:
        gen = self.metadata.get("generation")
        return gen if isinstance(gen, int) else 1

    def where(self, path: FieldPath = ()) -> str:
        """`file:line` of `path`, or of its nearest ancestor that has a line."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return f"{self.file}:{line}"
        return self.file


class ManifestSet:
    """The resources of one render, keyed by (group, kind, namespace, name)."""

    def __init__(self, default_namespace: str = "default") -> None:
        self.default_namespace = default_namespace
        self.diagnostics = Diagnostics()
        self._items: dict[tuple[str, str, str, str], Resource] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Resource]:
        return iter(self._items.values())

    def of_kind(self, kind: str) -> list[Resource]:
        return [r for r in self._items.values() if r.kind == kind]

    def get(self, kind: str, namespace: str, name: str) -> Resource | None:
        info = KINDS.get(kind)
        group = info.group if info is not None else ""
        ns = namespace if info is None or info.namespaced else ""
        return self._items.get((group, kind, ns, name))

    # -- loading ---------------------------------------------------------------------------------
    def add_object(self, obj: Any, file: str = "<manifest>", lines: dict[FieldPath, int] | None = None) -> None:
        """Add one decoded object (as a YAML document or an API server would give it)."""
        lines = lines or {}
        where = f"{file}:{lines[()]}" if () in lines else file
        if not isinstance(obj, dict):
            self.diagnostics.error("", "", "a manifest must be a mapping with apiVersion and kind", where)
            return
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if not isinstance(kind, str) or not isinstance(api_version, str):
            self.diagnostics.error("", "", "a manifest needs string apiVersion and kind fields", where)
            return
        if kind == "List" or (kind.endswith("List") and isinstance(obj.get("items"), list)):
            for i, item in enumerate(obj.get("items") or []):
                sub = {p[2:]: ln for p, ln in lines.items() if p[:2] == ("items", i)}
                self.add_object(item, file, sub)
            return
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not name:
            hint = " (a top-level `name` was found: is the YAML indented?)" if "name" in obj else ""
            self.diagnostics.error(kind, "metadata.name", f"missing{hint}", where)
            return
        group, version = split_api_version(api_version)
        info = KINDS.get(kind)
        label = f"{kind} {name}"
        if info is None or info.group != group:
            self.diagnostics.warning(
                label, "", f"kind {kind} ({api_version}) is not one fastgw renders; ignored", where
            )
            return
        if version not in info.versions:
            want = ", ".join(f"{group}/{v}" if group else v for v in sorted(info.versions))
            self.diagnostics.error(
                label, "apiVersion", f"{api_version} is not a version fastgw reads for {kind} (use {want})", where
            )
            return
        ns = ""
        if info.namespaced:
            ns_value = meta.get("namespace") if isinstance(meta, dict) else None
            ns = ns_value if isinstance(ns_value, str) and ns_value else self.default_namespace
        res = Resource(api_version, kind, ns, name, obj, file, lines)
        key = (info.group, kind, ns, name)
        old = self._items.get(key)
        if old is not None:
            self.diagnostics.warning(
                res.ref,
                "",
                f"defined again; this definition replaces the one at {old.where()} (as kubectl apply)",
                where,
            )
        self._items[key] = res

    def load_text(self, text: str, file: str) -> None:
        loader = yaml.SafeLoader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:
                    continue
                lines: dict[FieldPath, int] = {}
                _note_lines(node, (), lines)
                obj = loader.construct_document(node)
                if obj is None:
                    continue
                self.add_object(obj, file, lines)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{file}:{mark.line + 1}" if mark is not None else file
            self.diagnostics.error("", "", f"invalid YAML: {exc.problem or exc}", where)
        except yaml.YAMLError as exc:
            self.diagnostics.error("", "", f"invalid YAML: {exc}", file)
        finally:
            loader.dispose()

    def load_path(self, path: str) -> None:
        """A file, a directory (its *.yaml, *.yml and *.json, as kubectl -f), or '-' for stdin."""
        if path == "-":
            self.load_text(sys.stdin.read(), "<stdin>")
            return
        p = Path(path)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml", ".json") and f.is_file())
            if not files:
                self.diagnostics.error("", "", "no *.yaml, *.yml or *.json files in the directory", path)
            for f in files:
                self.load_path(str(f))
            return
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            self.diagnostics.error("", "", f"cannot read: {reason}", path)
            return
        self.load_text(text, os.path.relpath(path) if os.path.isabs(path) else path)


def _note_lines(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _note_lines(value_node, (*path, key_node.value), lines)
                lines[(*path, key_node.value)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _note_lines(item, (*path, i), lines)
