"""Load a config file: read, expand ${ENV}, parse YAML/JSON with line numbers, validate, build Structs.

    config = load_config("config.yaml")          # raises ConfigError listing every problem
    loaded = load("config.yaml")                 # Config + source map, for compile-time errors with lines
    raise ConfigError([loaded.issue(("binds", 0, "port"), "port already in use")])

JSON is YAML, so one parser serves both. PyYAML's composer (libyaml when available) gives each node
its position; the plain Python values are built here with a (key path -> line) map beside them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import msgspec
import yaml

from fastgw.config.envsubst import Expansion, expand
from fastgw.config.errors import ConfigError, ConfigIssue, Path, parse_path, render_path
from fastgw.config.schema import Config
from fastgw.config.validate import validate

__all__ = ["ConfigError", "ConfigIssue", "LoadedConfig", "SourceMap", "load", "load_config"]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class SourceMap:
    """Where each key path of a loaded file is, and whether its value came from the environment."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[Path, int] = {}
        self.secret: set[Path] = set()

    def line(self, path: Path) -> int | None:
        """Line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def is_secret(self, path: Path) -> bool:
        return path in self.secret

    def issue_at(self, rendered: str, message: str) -> ConfigIssue:
        """Like issue(), for a path already rendered as text (`binds[0].listeners[0]`)."""
        return self.issue(parse_path(rendered), message)

    def issue(self, path: Path, message: str, at: Path | None = None) -> ConfigIssue:
        """A ConfigIssue for `path` (YAML key names, list indexes); `at` picks another path's line."""
        return ConfigIssue(
            file=self.file,
            line=self.line(path if at is None else at),
            path=render_path(path),
            message=message,
        )


class LoadedConfig(msgspec.Struct, frozen=True):
    """A validated config with its source map (compile uses it to report errors at the right line)."""

    config: Config
    source: SourceMap

    def issue(self, path: Path, message: str) -> ConfigIssue:
        return self.source.issue(path, message)


def load_config(source: str, *, text: str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate a config. `source` is a path or "-" (stdin); `text` skips reading;
    `env` defaults to os.environ. Raises ConfigError with every problem found."""
    return load(source, text=text, env=env).config


def load(source: str, *, text: str | None = None, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Like load_config, also returning the source map."""
    name = "<stdin>" if source == "-" else source
    if text is None:
        text = _read(source, name)
    smap = SourceMap(name)
    issues: list[ConfigIssue] = []
    expansion = expand(text, os.environ if env is None else env)
    issues.extend(ConfigIssue(file=name, line=p.line, path="", message=p.message) for p in expansion.problems)
    data = _parse(expansion, smap, issues)
    if data is _FAILED:
        raise ConfigError(issues)

    # A value still holding an unexpanded reference would only repeat the unset-variable error.
    env_lines = {p.line for p in expansion.problems}

    def report(path: Path, message: str, at: Path) -> None:
        issue = smap.issue(path, message, at)
        if issue.line not in env_lines:
            issues.append(issue)

    config = validate(data, Config, report, smap.is_secret)
    if issues or config is None:
        raise ConfigError(issues)
    _cross_check(config, smap, issues)
    if issues:
        raise ConfigError(issues)
    return LoadedConfig(config, smap)


def _read(source: str, name: str) -> str:
    try:
        if source == "-":
            return sys.stdin.read()
        with open(source, encoding="utf-8-sig") as f:  # tolerate a BOM from Windows editors
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([ConfigIssue(file=name, line=None, path="", message=f"cannot read: {reason}")]) from None


_FAILED: Any = object()
# Aliases let a small file describe an exponential tree ("billion laughs"); a real config is far below.
_MAX_NODES = 200_000


def _parse(expansion: Expansion, smap: SourceMap, issues: list[ConfigIssue]) -> Any:
    try:
        root = yaml.compose(expansion.text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        issues.append(_yaml_issue(exc, expansion, smap.file))
        return _FAILED
    except yaml.YAMLError as exc:
        issues.append(ConfigIssue(file=smap.file, line=None, path="", message=f"invalid YAML: {exc}"))
        return _FAILED
    if root is None:
        return {}
    builder = _Builder(expansion, smap, issues)
    data = builder.value(root, ())
    if builder.failed:
        return _FAILED
    if not isinstance(data, dict):
        issues.append(ConfigIssue(file=smap.file, line=1, path="", message="the top level must be a mapping"))
        return _FAILED
    return data


def _yaml_issue(exc: yaml.MarkedYAMLError, expansion: Expansion, file: str) -> ConfigIssue:
    # The message is rebuilt from problem/context only: PyYAML's str() quotes the offending source
    # line, which may hold an expanded secret.
    mark = exc.problem_mark or exc.context_mark
    line = expansion.line_of(mark.index) if mark is not None else None
    message = f"invalid YAML: {exc.problem or 'syntax error'}"
    if exc.context and exc.context_mark is not None:
        message += f" ({exc.context} that starts at line {expansion.line_of(exc.context_mark.index)})"
    if exc.problem and ("expected key" in exc.problem or "block end" in exc.problem):
        message += "; check the indentation of this line"
    if mark is not None and _tab_indented(expansion.text, mark.index):
        # PyYAML's wording ("cannot start any token") does not say what is wrong: YAML forbids tabs
        # in indentation (YAML 1.2 section 6.1).
        message = "invalid YAML: a tab in the indentation (YAML indents with spaces only)"
    return ConfigIssue(file=file, line=line, path="", message=message)


def _tab_indented(text: str, index: int) -> bool:
    """Whether the line holding `index` has a tab in its leading whitespace."""
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", start)
    line = text[start : end if end >= 0 else len(text)]
    return "\t" in line[: len(line) - len(line.lstrip(" \t"))]


class _Builder:
    """Turns composed YAML nodes into plain values, filling the source map."""

    def __init__(self, expansion: Expansion, smap: SourceMap, issues: list[ConfigIssue]) -> None:
        self._expansion = expansion
        self._smap = smap
        self._issues = issues
        self._scalars = yaml.constructor.SafeConstructor()
        self.failed = False
        self._budget = _MAX_NODES

    def _fail(self, node: yaml.Node, path: Path, message: str) -> None:
        self.failed = True
        line = self._expansion.line_of(node.start_mark.index)
        self._issues.append(ConfigIssue(file=self._smap.file, line=line, path=render_path(path), message=message))

    def _note(self, node: yaml.Node, path: Path) -> None:
        self._smap.lines.setdefault(path, self._expansion.line_of(node.start_mark.index))
        if self._expansion.is_secret(node.start_mark.index, node.end_mark.index):
            self._smap.secret.add(path)

    def value(self, node: yaml.Node, path: Path, depth: int = 0) -> Any:
        self._budget -= 1
        if self._budget < 0:
            if self._budget == -1:
                self._fail(node, path, f"document too large: over {_MAX_NODES} values (alias expansion?)")
            return None
        if depth > 64:
            self._fail(node, path, "nesting too deep (recursive alias?)")
            return None
        if isinstance(node, yaml.ScalarNode):
            self._note(node, path)
            if _yaml11_only(node):
                return node.value
            try:
                return self._scalars.construct_object(node)
            except yaml.YAMLError as exc:
                self._fail(node, path, f"invalid value: {getattr(exc, 'problem', None) or exc}")
                return None
        if isinstance(node, yaml.SequenceNode):
            self._note(node, path)
            return [self.value(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            self._note(node, path)
            return self._mapping(node, path, depth)
        self._fail(node, path, "unsupported YAML node")
        return None

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.update(self._merge_source(value_node, path, depth))
                continue
            key = self.value(key_node, path, depth + 1) if not isinstance(key_node, yaml.ScalarNode) else None
            if isinstance(key_node, yaml.ScalarNode):
                key = self._scalars.construct_object(key_node)
            if not isinstance(key, str | int | float | bool) and key is not None:
                self._fail(key_node, path, "mapping keys must be scalars")
                continue
            child = (*path, key if isinstance(key, str) else str(key))
            line = self._expansion.line_of(key_node.start_mark.index)
            if key in seen:
                self._fail(key_node, child, f"duplicate key (first defined at line {seen[key]})")
                continue
            seen[key] = line
            self._smap.lines[child] = line
            if self._expansion.is_secret(key_node.start_mark.index, key_node.end_mark.index):
                self._smap.secret.add(child)
            out[key] = self.value(value_node, child, depth + 1)
            self._smap.lines[child] = line  # the key's line, not the value's, names the entry
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def _merge_source(self, node: yaml.Node, path: Path, depth: int) -> dict[Any, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for src in sources:
            if not isinstance(src, yaml.MappingNode):
                self._fail(src, path, "a merge key (<<) needs a mapping or a list of mappings")
                continue
            for key, value in self._mapping(src, path, depth + 1).items():
                merged.setdefault(key, value)
        return merged


def _yaml11_only(node: yaml.ScalarNode) -> bool:
    """Plain scalars that YAML 1.1 (PyYAML) types but YAML 1.2 (agentgateway's serde_yaml) reads as
    strings: `on`/`off`/`yes`/`no`, `1_000`, sexagesimal `1:30`. They stay strings here too."""
    if node.style:  # quoted or block scalars are already strings; plain style is None or ""
        return False
    if node.tag == _BOOL_TAG:
        return node.value.lower() not in ("true", "false")
    return node.tag in _NUMBER_TAGS and ("_" in node.value or ":" in node.value)


def _cross_check(config: Config, smap: SourceMap, issues: list[ConfigIssue]) -> None:
    """Checks that span sections: named backend references."""
    names = {b.name for b in config.backends}
    for bi, bind in enumerate(config.binds):
        for li, listener in enumerate(bind.listeners):
            for ri, route in enumerate(listener.routes):
                for ki, backend in enumerate(route.backends):
                    if backend.backend is not None and backend.backend not in names:
                        path: Path = ("binds", bi, "listeners", li, "routes", ri, "backends", ki, "backend")
                        issues.append(smap.issue(path, f"no backend named {backend.backend!r} in backends"))
