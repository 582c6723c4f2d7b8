"""A renderer for the subset of Go templates (text/template + the Sprig/Helm functions) that
deploy/helm/fastgw uses, so the chart renders in tests and plain manifests are generated without
a helm binary. No maintained Python package renders Helm's templates (they are Go's text/template
plus Sprig, not Jinja), and this subset is small: actions with `{{-`/`-}}` trimming, pipelines,
variables, if/else if/else, range (lists and maps, in key order), with, define/include/template,
and the functions in FUNCS. Semantics follow Go where a chart could tell the difference: a
missing map key is empty, a field of nothing is an error, maps range in sorted key order, and
toYaml writes keys sorted as Helm's does.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from base64 import b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml


class TemplateError(Exception):
    pass


# -- lexing ---------------------------------------------------------------------------------------
_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(
    r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|
    (?P<num>-?\d+(?:\.\d+)?)|
    (?P<decl>:=)|(?P<assign>=)|
    (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|
    (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)|
    (?P<ident>[A-Za-z_][A-Za-z0-9_]*)|
    (?P<punct>[()|,])
    )""",
    re.X,
)


def _tokens(src: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = _TOKEN.match(src, pos)
        if m is None or m.end() == pos:
            raise TemplateError(f"cannot parse {src[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


# -- tree -----------------------------------------------------------------------------------------
@dataclass
class Pipeline:
    decl: list[str]  # variables declared (`$x :=`) or assigned (`$x =`)
    assign: bool
    commands: list[list[Any]]  # each command: operands; ("call", name) marks a function


@dataclass
class Node:
    kind: str  # text, action, if, range, with, template
    text: str = ""
    pipe: Pipeline | None = None
    branches: list[tuple[Pipeline, list[Node]]] = field(default_factory=list)
    body: list[Node] = field(default_factory=list)
    other: list[Node] = field(default_factory=list)
    name: str = ""


def _parse_pipeline(src: str) -> Pipeline:
    toks = _tokens(src)
    decl: list[str] = []
    assign = False
    for i, (k, _) in enumerate(toks):
        if k in ("decl", "assign"):
            names = [v for kk, v in toks[:i] if kk == "var"]
            if names and all(kk in ("var", "punct") for kk, _ in toks[:i]):
                decl, assign, toks = names, k == "assign", toks[i + 1 :]
            break
    commands, pos = _commands(toks, 0)
    if pos != len(toks):
        raise TemplateError(f"unexpected {toks[pos][1]!r} in {src!r}")
    return Pipeline(decl, assign, commands)


def _commands(toks: list[tuple[str, str]], pos: int) -> tuple[list[list[Any]], int]:
    commands: list[list[Any]] = [[]]
    while pos < len(toks):
        kind, value = toks[pos]
        if kind == "punct" and value == ")":
            break
        if kind == "punct" and value == "|":
            commands.append([])
            pos += 1
            continue
        if kind == "punct" and value == "(":
            inner, pos = _commands(toks, pos + 1)
            if pos >= len(toks) or toks[pos][1] != ")":
                raise TemplateError("unclosed (")
            commands[-1].append(("pipe", inner))
            pos += 1
            continue
        if kind == "str":
            commands[-1].append(("lit", json.loads(value)))
        elif kind == "raw":
            commands[-1].append(("lit", value[1:-1]))
        elif kind == "num":
            commands[-1].append(("lit", float(value) if "." in value else int(value)))
        elif kind == "ident":
            if value in ("true", "false"):
                commands[-1].append(("lit", value == "true"))
            elif value == "nil":
                commands[-1].append(("lit", None))
            else:
                commands[-1].append(("call", value))
        elif kind == "field":
            commands[-1].append(("field", [p for p in value.split(".") if p]))
        elif kind == "var":
            name, *path = value.split(".")
            commands[-1].append(("var", name, path))
        else:
            raise TemplateError(f"unexpected {value!r}")
        pos += 1
    if any(not c for c in commands):
        raise TemplateError("empty command in pipeline")
    return commands, pos


def parse(text: str, name: str = "template") -> tuple[list[Node], dict[str, list[Node]]]:
    """The template's nodes, and the templates it defines."""
    pieces: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION.finditer(text):
        before = text[pos : m.start()]
        if m.group(1):
            before = before.rstrip()
        pieces.append(("text", before))
        pieces.append(("action", m.group(2).strip()))
        pos = m.end()
        if m.group(3):
            rest = text[pos:]
            pos += len(rest) - len(rest.lstrip())
    pieces.append(("text", text[pos:]))
    defines: dict[str, list[Node]] = {}
    nodes, _, end = _parse_list(pieces, 0, defines, name)
    if end is not None:
        raise TemplateError(f"{name}: unexpected {{{{{end}}}}}")
    return nodes, defines


def _parse_list(
    pieces: list[tuple[str, str]], i: int, defines: dict[str, list[Node]], name: str
) -> tuple[list[Node], int, str | None]:
    nodes: list[Node] = []
    while i < len(pieces):
        kind, value = pieces[i]
        i += 1
        if kind == "text":
            if value:
                nodes.append(Node("text", text=value))
            continue
        if value.startswith("/*"):
            continue
        word = value.split(None, 1)[0] if value else ""
        rest = value[len(word) :].strip()
        if word in ("end", "else"):
            return nodes, i, value
        if word in ("if", "with"):
            node = Node(word)
            cond = rest
            while True:
                body, i, end = _parse_list(pieces, i, defines, name)
                node.branches.append((_parse_pipeline(cond), body))
                if end is None:
                    raise TemplateError(f"{name}: {word} without end")
                if end.startswith("else if") and word == "if":
                    cond = end[len("else if") :].strip()
                    continue
                if end == "else":
                    node.other, i, end = _parse_list(pieces, i, defines, name)
                if end != "end":
                    raise TemplateError(f"{name}: expected end, got {end}")
                break
            nodes.append(node)
        elif word == "range":
            node = Node("range", pipe=_parse_pipeline(rest))
            node.body, i, end = _parse_list(pieces, i, defines, name)
            if end == "else":
                node.other, i, end = _parse_list(pieces, i, defines, name)
            if end != "end":
                raise TemplateError(f"{name}: range without end")
            nodes.append(node)
        elif word == "define":
            tname = json.loads(rest)
            body, i, end = _parse_list(pieces, i, defines, name)
            if end != "end":
                raise TemplateError(f"{name}: define without end")
            defines[tname] = body
        elif word == "template":
            m = re.match(r'("(?:[^"\\]|\\.)*")\s*(.*)', rest, re.S)
            if m is None:
                raise TemplateError(f"{name}: bad template action {value!r}")
            arg = _parse_pipeline(m.group(2)) if m.group(2).strip() else None
            nodes.append(Node("template", name=json.loads(m.group(1)), pipe=arg))
        else:
            nodes.append(Node("action", pipe=_parse_pipeline(value)))
    return nodes, i, None


# -- evaluation -----------------------------------------------------------------------------------
def truthy(v: Any) -> bool:
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, (str, list, dict, tuple)):
        return len(v) > 0
    return True


def to_text(v: Any) -> str:
    if v is None:
        return ""  # Helm prints a missing value as nothing
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        raise TemplateError("a map or list printed directly: use toYaml or toJson")
    return str(v)


class Renderer:
    def __init__(self, defines: dict[str, list[Node]] | None = None) -> None:
        self.defines: dict[str, list[Node]] = dict(defines or {})
        self.funcs: dict[str, Callable[..., Any]] = {**FUNCS, "include": self._include, "tpl": self._tpl}

    def add(self, text: str, name: str) -> list[Node]:
        nodes, defines = parse(text, name)
        self.defines.update(defines)
        return nodes

    def render(self, nodes: list[Node], root: Any) -> str:
        out: list[str] = []
        self._run(nodes, root, {"$": root}, out)
        return "".join(out)

    def _include(self, name: str, data: Any) -> str:
        if name not in self.defines:
            raise TemplateError(f"no template {name!r}")
        out: list[str] = []
        self._run(self.defines[name], data, {"$": data}, out)
        return "".join(out)

    def _tpl(self, text: str, data: Any) -> str:
        return self.render(self.add(text, "tpl"), data)

    def _run(self, nodes: list[Node], dot: Any, vars: dict[str, Any], out: list[str]) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                assert node.pipe is not None
                value = self._pipe(node.pipe, dot, vars)
                if not node.pipe.decl:
                    out.append(to_text(value))
            elif node.kind in ("if", "with"):
                for pipe, body in node.branches:
                    value = self._pipe(pipe, dot, vars)
                    if truthy(value):
                        self._run(body, value if node.kind == "with" else dot, dict(vars), out)
                        break
                else:
                    self._run(node.other, dot, dict(vars), out)
            elif node.kind == "range":
                assert node.pipe is not None
                names = node.pipe.decl
                value = self._pipe(Pipeline([], False, node.pipe.commands), dot, vars)
                items = sorted(value.items()) if isinstance(value, dict) else list(enumerate(value or []))
                if not items:
                    self._run(node.other, dot, dict(vars), out)
                for key, item in items:
                    scope = dict(vars)
                    if len(names) == 1:
                        scope[names[0]] = item
                    elif len(names) == 2:
                        scope[names[0]], scope[names[1]] = key, item
                    self._run(node.body, item, scope, out)
            elif node.kind == "template":
                data = self._pipe(node.pipe, dot, vars) if node.pipe is not None else None
                out.append(self._include(node.name, data))

    def _pipe(self, pipe: Pipeline, dot: Any, vars: dict[str, Any]) -> Any:
        value: Any = None
        first = True
        for command in pipe.commands:
            value = self._command(command, dot, vars, None if first else (value,))
            first = False
        for name in pipe.decl:
            vars[name] = value
        return value

    def _command(self, cmd: list[Any], dot: Any, vars: dict[str, Any], piped: tuple[Any, ...] | None) -> Any:
        head = cmd[0]
        if head[0] == "call":
            fn = self.funcs.get(head[1])
            if fn is None:
                raise TemplateError(f"function {head[1]!r} not defined")
            if head[1] in ("and", "or") and piped is None:
                return self._short_circuit(head[1], cmd[1:], dot, vars)
            args = [self._operand(op, dot, vars) for op in cmd[1:]]
            return fn(*args, *(piped or ()))
        if len(cmd) > 1 or piped is not None:
            raise TemplateError("only functions take arguments")
        return self._operand(head, dot, vars)

    def _short_circuit(self, name: str, ops: list[Any], dot: Any, vars: dict[str, Any]) -> Any:
        value: Any = None
        for op in ops:
            value = self._operand(op, dot, vars)
            if truthy(value) != (name == "and"):
                return value
        return value

    def _operand(self, op: Any, dot: Any, vars: dict[str, Any]) -> Any:
        kind = op[0]
        if kind == "lit":
            return op[1]
        if kind == "field":
            return _walk(dot, op[1], "." + ".".join(op[1]))
        if kind == "var":
            if op[1] not in vars:
                raise TemplateError(f"undefined variable {op[1]}")
            return _walk(vars[op[1]], op[2], op[1] + "".join("." + p for p in op[2]))
        if kind == "pipe":
            return self._pipe(Pipeline([], False, op[1]), dot, vars)
        if kind == "call":  # a function used as a value: call it with no arguments
            return self._command([op], dot, vars, None)
        raise TemplateError(f"bad operand {op!r}")


def _walk(value: Any, path: list[str], text: str) -> Any:
    for part in path:
        if value is None:
            raise TemplateError(f"nil pointer evaluating {text}")
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            value = getattr(value, part, None)
    return value


# -- functions (Go builtins, Sprig, Helm) ---------------------------------------------------------
def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        return int(v)
    try:
        return int(float(str(v)))
    except ValueError:
        return 0  # Sprig's int: what it cannot convert is 0


def _printf(fmt: str, *args: Any) -> str:
    it = iter(args)

    def sub(m: re.Match[str]) -> str:
        verb = m.group(0)
        if verb == "%%":
            return "%"
        value = next(it)
        if verb == "%d":
            return str(_to_int(value))
        if verb == "%q":
            return json.dumps(to_text(value))
        return to_text(value)

    return re.sub(r"%[dsvq%]", sub, fmt)


def _to_yaml(v: Any) -> str:
    if v is None:
        return "null"
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True, width=1 << 30).rstrip("\n")


def _indent(n: int, s: str) -> str:
    pad = " " * n
    return "\n".join(pad + line for line in s.split("\n"))


def _merge(dst: dict[str, Any], *srcs: Any) -> dict[str, Any]:
    for src in srcs:
        for k, v in (src or {}).items():
            if k not in dst or dst[k] is None:
                dst[k] = v
            elif isinstance(dst[k], dict) and isinstance(v, dict):
                _merge(dst[k], v)
    return dst


def _required(msg: str, v: Any) -> Any:
    if not truthy(v) and v is not False and v != 0:
        raise TemplateError(msg)
    return v


def _fail(msg: str) -> Any:
    raise TemplateError(msg)


def _eq(a: Any, *bs: Any) -> bool:
    return any(a == b for b in bs)


_KINDS: dict[str, Any] = {
    "string": str,
    "map": dict,
    "slice": list,
    "bool": bool,
    "int": int,
    "float64": float,
}

FUNCS: dict[str, Callable[..., Any]] = {
    "and": lambda *a: next((x for x in a if not truthy(x)), a[-1]),
    "or": lambda *a: next((x for x in a if truthy(x)), a[-1]),
    "not": lambda a: not truthy(a),
    "eq": _eq,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "len": lambda a: len(a or []),
    "index": lambda m, *keys: _walk(m, [str(k) for k in keys], "index") if isinstance(m, dict) else m[keys[0]],
    "printf": _printf,
    "print": lambda *a: "".join(to_text(x) for x in a),
    "toYaml": _to_yaml,
    "toJson": lambda v: json.dumps(v, separators=(",", ":"), sort_keys=True),
    "nindent": lambda n, s: "\n" + _indent(n, s),
    "indent": _indent,
    "quote": lambda *a: " ".join(json.dumps(to_text(x)) for x in a),
    "squote": lambda *a: " ".join("'" + to_text(x) + "'" for x in a),
    "default": lambda d, *v: v[0] if v and truthy(v[0]) else d,
    "required": _required,
    "fail": _fail,
    "empty": lambda v: not truthy(v),
    "coalesce": lambda *a: next((x for x in a if truthy(x)), None),
    "ternary": lambda a, b, c: a if truthy(c) else b,
    "trunc": lambda n, s: s[:n] if n >= 0 else s[n:],
    "trimSuffix": lambda suf, s: s[: -len(suf)] if suf and s.endswith(suf) else s,
    "trimPrefix": lambda pre, s: s[len(pre) :] if pre and s.startswith(pre) else s,
    "trim": lambda s: s.strip(),
    "replace": lambda old, new, s: s.replace(old, new),
    "lower": lambda s: s.lower(),
    "upper": lambda s: s.upper(),
    "contains": lambda sub, s: sub in s,
    "hasPrefix": lambda pre, s: s.startswith(pre),
    "hasSuffix": lambda suf, s: s.endswith(suf),
    "join": lambda sep, items: sep.join(to_text(x) for x in items or []),
    "int": _to_int,
    "int64": _to_int,
    "float64": lambda v: float(v),
    "toString": to_text,
    "add": lambda *a: sum(_to_int(x) for x in a),
    "sub": lambda a, b: _to_int(a) - _to_int(b),
    "mul": lambda *a: math.prod(_to_int(x) for x in a),
    "div": lambda a, b: _to_int(a) // _to_int(b),
    "max": lambda *a: max(_to_int(x) for x in a),
    "min": lambda *a: min(_to_int(x) for x in a),
    "dict": lambda *a: {to_text(a[i]): a[i + 1] for i in range(0, len(a) - 1, 2)},
    "list": lambda *a: list(a),
    "merge": _merge,
    "hasKey": lambda m, k: isinstance(m, dict) and k in m,
    "deepCopy": copy.deepcopy,
    "kindIs": lambda kind, v: (
        _KINDS.get(kind, ()) != ()
        and isinstance(v, _KINDS[kind])
        and not (kind in ("int", "float64") and isinstance(v, bool))
    ),
    "omit": lambda m, *keys: {k: v for k, v in (m or {}).items() if k not in keys},
    "keys": lambda *ms: [k for m in ms for k in m],
    "b64enc": lambda s: b64encode(to_text(s).encode()).decode(),
    "sha256sum": lambda s: hashlib.sha256(to_text(s).encode()).hexdigest(),
}
