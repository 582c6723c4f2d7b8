"""A CEL parser: source text -> a small AST, and the AST back to source.

The compiled engine (`common-expression-language`) checks every expression and evaluates what
fastgw's own evaluator does not cover; this parser exists so that fastgw can (1) tell which
variables, and which parts of them, an expression reads (`request.headers` vs `request.body`), and
(2) evaluate the common shapes directly on the request, without converting it into engine values
(`fast.py`). It follows the cel-spec grammar (langdef.md); shapes it does not know raise
`Unsupported` and the caller leaves the whole expression to the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Call", "Comp", "Ident", "Index", "ListLit", "Lit", "MapLit", "Node", "Select", "Unsupported", "parse"]


class Unsupported(Exception):
    """A construct this parser leaves to the engine (the engine has already accepted the text)."""


@dataclass(frozen=True, slots=True)
class Lit:
    value: object


@dataclass(frozen=True, slots=True)
class Ident:
    name: str


@dataclass(frozen=True, slots=True)
class Select:
    operand: Node
    field: str
    test: bool = False  # has(operand.field)


@dataclass(frozen=True, slots=True)
class Index:
    operand: Node
    index: Node


@dataclass(frozen=True, slots=True)
class Call:
    """A function or operator: `target` is the receiver of a method call (None for a global)."""

    name: str
    args: tuple[Node, ...]
    target: Node | None = None


@dataclass(frozen=True, slots=True)
class Comp:
    """A comprehension macro: `range.all(var, body)`, exists, exists_one, map (with an optional
    filter), filter."""

    macro: str
    range: Node
    var: str
    body: Node
    filter: Node | None = None


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class MapLit:
    entries: tuple[tuple[Node, Node], ...]


Node = Lit | Ident | Select | Index | Call | Comp | ListLit | MapLit

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*)
  | (?P<num>0x[0-9a-fA-F]+u?|[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+
      |\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+u?)
  | (?P<str>[rRbB]{0,2}(?:\"\"\"|'''|"|'))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/%!<>?:.,()\[\]{}])
    """,
    re.VERBOSE,
)
_RESERVED = frozenset(
    {
        *("as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop"),
        *("package", "namespace", "return", "var", "void", "while"),
    }
)
_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "?": "?",
}
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


def _string(src: str, pos: int, prefix: str, quote: str) -> tuple[str, int]:
    """The value of a string literal whose quote starts at `pos`, and the position after it."""
    if "b" in prefix.lower():
        raise Unsupported("bytes literal")
    raw = "r" in prefix.lower()
    out: list[str] = []
    i = pos + len(quote)
    n = len(src)
    while i < n:
        if src.startswith(quote, i):
            return "".join(out), i + len(quote)
        c = src[i]
        if c == "\\" and not raw:
            if i + 1 >= n:
                break
            e = src[i + 1]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                i += 2
                continue
            if e in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[e]
                digits = src[i + 2 : i + 2 + width]
                if len(digits) != width or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
                    raise Unsupported("escape")
                out.append(chr(int(digits, 16)))
                i += 2 + width
                continue
            if e in "0123":
                digits = src[i + 1 : i + 4]
                if len(digits) != 3 or not all(ch in "01234567" for ch in digits):
                    raise Unsupported("escape")
                out.append(chr(int(digits, 8)))
                i += 4
                continue
            raise Unsupported("escape")
        if c == "\n" and len(quote) == 1:
            break
        out.append(c)
        i += 1
    raise Unsupported("unterminated string")


def _tokens(src: str) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    pos = 0
    n = len(src)
    while pos < n:
        m = _TOKEN.match(src, pos)
        if m is None:
            raise Unsupported(f"character {src[pos]!r}")
        kind = m.lastgroup
        text = m.group()
        if kind == "ws":
            pos = m.end()
            continue
        if kind == "str":
            quote = text.lstrip("rRbB")
            value, pos = _string(src, m.start() + len(text) - len(quote), text[: len(text) - len(quote)], quote)
            out.append(("lit", value))
            continue
        pos = m.end()
        if kind == "num":
            if text.endswith("u"):
                raise Unsupported("uint literal")  # Python has one integer type: the engine keeps uint apart
            if text.startswith("0x"):
                out.append(("lit", int(text, 16)))
            elif "." in text or "e" in text or "E" in text:
                out.append(("lit", float(text)))
            else:
                out.append(("lit", int(text)))
        elif kind == "ident":
            if text in ("true", "false"):
                out.append(("lit", text == "true"))
            elif text == "null":
                out.append(("lit", None))
            elif text == "in":
                out.append(("op", "in"))
            elif text in _RESERVED:
                raise Unsupported(f"reserved word {text}")
            else:
                out.append(("ident", text))
        else:
            out.append(("op", text))
    out.append(("end", None))
    return out


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokens(src)
        self.i = 0

    def peek(self) -> tuple[str, object]:
        return self.toks[self.i]

    def take(self) -> tuple[str, object]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, op: str) -> bool:
        if self.toks[self.i] == ("op", op):
            self.i += 1
            return True
        return False

    def expect(self, op: str) -> None:
        if not self.accept(op):
            raise Unsupported(f"expected {op}")

    def expr(self) -> Node:
        cond = self.or_()
        if self.accept("?"):
            then = self.or_()
            self.expect(":")
            other = self.expr()
            return Call("_?_:_", (cond, then, other))
        return cond

    def or_(self) -> Node:
        left = self.and_()
        while self.accept("||"):
            left = Call("_||_", (left, self.and_()))
        return left

    def and_(self) -> Node:
        left = self.relation()
        while self.accept("&&"):
            left = Call("_&&_", (left, self.relation()))
        return left

    def relation(self) -> Node:
        left = self.addition()
        while True:
            kind, op = self.peek()
            if kind == "op" and op in ("<", "<=", ">", ">=", "==", "!=", "in"):
                self.i += 1
                left = Call(f"_{op}_" if op != "in" else "@in", (left, self.addition()))
            else:
                return left

    def addition(self) -> Node:
        left = self.multiplication()
        while True:
            kind, op = self.peek()
            if kind == "op" and op in ("+", "-"):
                self.i += 1
                left = Call(f"_{op}_", (left, self.multiplication()))
            else:
                return left

    def multiplication(self) -> Node:
        left = self.unary()
        while True:
            kind, op = self.peek()
            if kind == "op" and op in ("*", "/", "%"):
                self.i += 1
                left = Call(f"_{op}_", (left, self.unary()))
            else:
                return left

    def unary(self) -> Node:
        if self.accept("!"):
            return Call("!_", (self.unary(),))
        if self.accept("-"):
            kind, value = self.peek()
            if kind == "lit" and type(value) in (int, float):
                self.i += 1
                return self.member(Lit(-value))  # type: ignore[operator]
            return Call("-_", (self.unary(),))
        return self.member(self.primary())

    def member(self, node: Node) -> Node:
        while True:
            if self.accept("."):
                kind, name = self.take()
                if kind != "ident":
                    raise Unsupported("selector")
                assert isinstance(name, str)
                if self.accept("("):
                    args = self.args(")")
                    node = self.macro(name, node, args) if name in _MACROS else Call(name, tuple(args), node)
                else:
                    node = Select(node, name)
            elif self.accept("["):
                node = Index(node, self.expr())
                self.expect("]")
            else:
                return node

    def macro(self, name: str, target: Node, args: list[Node]) -> Node:
        if not args or not isinstance(args[0], Ident):
            raise Unsupported("macro")
        var = args[0].name
        if name == "map" and len(args) == 3:
            return Comp("map", target, var, args[2], args[1])
        if len(args) != 2:
            raise Unsupported("macro arity")
        return Comp(name, target, var, args[1])

    def args(self, close: str) -> list[Node]:
        out: list[Node] = []
        if self.accept(close):
            return out
        while True:
            out.append(self.expr())
            if self.accept(close):
                return out
            self.expect(",")
            if self.accept(close):  # trailing comma
                return out

    def primary(self) -> Node:
        kind, value = self.take()
        if kind == "lit":
            return Lit(value)
        if kind == "ident":
            assert isinstance(value, str)
            if self.accept("("):
                args = self.args(")")
                if value == "has":
                    if len(args) != 1 or not isinstance(args[0], Select):
                        raise Unsupported("has() needs a field selection")
                    return Select(args[0].operand, args[0].field, test=True)
                return Call(value, tuple(args))
            if self.peek() == ("op", "{"):
                raise Unsupported("message construction")
            return Ident(value)
        if kind == "op":
            if value == "(":
                inner = self.expr()
                self.expect(")")
                return inner
            if value == "[":
                return ListLit(tuple(self.args("]")))
            if value == "{":
                entries: list[tuple[Node, Node]] = []
                if not self.accept("}"):
                    while True:
                        k = self.expr()
                        self.expect(":")
                        entries.append((k, self.expr()))
                        if self.accept("}"):
                            break
                        self.expect(",")
                        if self.accept("}"):
                            break
                return MapLit(tuple(entries))
            if value == ".":
                raise Unsupported("leading dot")
        raise Unsupported(f"unexpected {value!r}")


def parse(src: str) -> Node:
    """The AST of `src`; raises Unsupported for what this parser leaves to the engine."""
    p = _Parser(src)
    node = p.expr()
    if p.peek()[0] != "end":
        raise Unsupported("trailing input")
    return node


# -- back to source (the engine evaluates subtrees fastgw's evaluator does not cover) -----------
_INFIX = {
    "_||_": "||",
    "_&&_": "&&",
    "_<_": "<",
    "_<=_": "<=",
    "_>_": ">",
    "_>=_": ">=",
    "_==_": "==",
    "_!=_": "!=",
    "@in": "in",
    "_+_": "+",
    "_-_": "-",
    "_*_": "*",
    "_/_": "/",
    "_%_": "%",
}


def _lit(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        escaped = value.encode("unicode_escape").decode("ascii").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, float):
        text = repr(value)
        return text if ("." in text or "e" in text or "n" in text) else text + ".0"
    return repr(value)


def unparse(node: Node) -> str:
    """CEL source for `node` (fully parenthesized)."""
    if isinstance(node, Lit):
        return _lit(node.value)
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Select):
        inner = f"{unparse(node.operand)}.{node.field}"
        return f"has({inner})" if node.test else inner
    if isinstance(node, Index):
        return f"{unparse(node.operand)}[{unparse(node.index)}]"
    if isinstance(node, ListLit):
        return "[" + ", ".join(unparse(i) for i in node.items) + "]"
    if isinstance(node, MapLit):
        return "{" + ", ".join(f"{unparse(k)}: {unparse(v)}" for k, v in node.entries) + "}"
    if isinstance(node, Comp):
        parts = [node.var] + ([unparse(node.filter)] if node.filter is not None else []) + [unparse(node.body)]
        return f"{unparse(node.range)}.{node.macro}({', '.join(parts)})"
    name, args = node.name, node.args
    if name in _INFIX:
        return f"({unparse(args[0])} {_INFIX[name]} {unparse(args[1])})"
    if name == "_?_:_":
        return f"({unparse(args[0])} ? {unparse(args[1])} : {unparse(args[2])})"
    if name == "!_":
        return f"(!{unparse(args[0])})"
    if name == "-_":
        return f"(-{unparse(args[0])})"
    inner = ", ".join(unparse(a) for a in args)
    if node.target is not None:
        return f"{unparse(node.target)}.{name}({inner})"
    return f"{name}({inner})"
