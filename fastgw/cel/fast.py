"""fastgw's own evaluator for the common shapes of CEL, straight on the request's lazy variables.

An AST from `parse.py` becomes a tree of closures. Field and index reads, `&&`/`||`/`!`/`?:`,
comparisons of strings, numbers and booleans, `in`, `+`, `size`, `startsWith`/`endsWith`/
`contains`, `has()`, `default()` and the comprehension macros run here; anything else, and any
operator whose operands are of a kind this file does not decide (maps, lists, timestamps, mixed
kinds), is handed to the engine, which decides with the values bound. So a result is always the
engine's result: the differential tests (tests/cel/test_cel_twin.py) hold the two to that.

CEL errors (a missing key, no overload, overflow) raise `NoValue`. `&&` and `||` absorb an error
on one side when the other side decides (cel-spec "commutative logical operators").
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

from fastgw.cel import engine
from fastgw.cel.parse import Call, Comp, Ident, Index, ListLit, Lit, Node, Select, Unsupported, unparse
from fastgw.cel.vars import DIRECT_FIELDS, MISSING, ROOTS, LazyMap, Vars, header_value, plain

__all__ = ["Evaluator", "NoValue", "build"]

Evaluator = Callable[[Any], Any]

_V4_MAPPED = b"\0" * 10 + b"\xff\xff"
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_MISSING = MISSING


class NoValue(Exception):
    """The expression has no value for this request (a CEL error, or an absent variable)."""


class Bound:
    """A comprehension's scope: its variable, then the enclosing scope."""

    __slots__ = ("name", "parent", "value")

    def __init__(self, parent: Any, name: str, value: Any) -> None:
        self.parent = parent
        self.name = name
        self.value = value

    def get(self, name: str) -> Any:
        if name == self.name:
            return self.value
        return self.parent.get(name)

    def root_vars(self) -> Vars:
        p = self.parent
        return p.root_vars() if isinstance(p, Bound) else p

    def bound(self) -> dict[str, Any]:
        out = self.parent.bound() if isinstance(self.parent, Bound) else {}
        out[self.name] = plain(self.value)
        return out


def _is_map(v: Any) -> bool:
    return type(v) is dict or isinstance(v, LazyMap)


_SCALARS = (str, int, float, bool, type(None), bytes)
_NUMBERS = (int, float)


def _engine_op(name: str, *values: Any) -> Any:
    try:
        return engine.operator(name)(*(plain(v) for v in values))
    except engine.EngineError:
        raise NoValue from None


def _eq(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if ta is tb and ta in _SCALARS:
        return bool(a == b)
    if ta in _NUMBERS and tb in _NUMBERS:
        return bool(a == b)
    if ta in _SCALARS and tb in _SCALARS:
        return False  # heterogeneous scalars are unequal (cel-spec heterogeneous equality)
    return bool(_engine_op("_==_", a, b))


def _order(name: str, a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if (ta is tb and ta in (str, int, float, bool, bytes)) or (ta in _NUMBERS and tb in _NUMBERS):
        if name == "_<_":
            return bool(a < b)
        if name == "_<=_":
            return bool(a <= b)
        if name == "_>_":
            return bool(a > b)
        return bool(a >= b)
    return bool(_engine_op(name, a, b))


def _in(a: Any, b: Any) -> bool:
    tb = type(b)
    if tb is list:
        return any(_eq(a, item) for item in b)
    if _is_map(b) and type(a) is str:
        return a in b
    return bool(_engine_op("@in", a, b))


def _add(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is str or ta is float:
            return a + b
        if ta is int:
            r = a + b
            if _I64_MIN <= r <= _I64_MAX:
                return r
            raise NoValue
    return _engine_op("_+_", a, b)


def _size(v: Any) -> int:
    t = type(v)
    if t is str:
        if v.isascii():
            return len(v)
        return int(_engine_op("size", v))  # the engine's own rule for non-ASCII text
    if t is list or t is dict or t is bytes:
        return len(v)
    if isinstance(v, LazyMap):
        return len(v)
    raise NoValue


def _items(v: Any) -> Iterable[Any]:
    if type(v) is list:
        return v
    if type(v) is dict:
        return list(v.keys())
    if isinstance(v, LazyMap):
        return list(v.keys())
    raise NoValue


def build(node: Node, roots: frozenset[str], engine_ref: Callable[[Node], Evaluator]) -> Evaluator:
    """Closures evaluating `node`; `engine_ref(subtree)` makes an evaluator that hands a subtree
    to the engine (for functions and shapes this file does not cover)."""
    return _Builder(roots, engine_ref).build(node, frozenset())


class _Builder:
    def __init__(self, roots: frozenset[str], engine_ref: Callable[[Node], Evaluator]) -> None:
        self.roots = roots
        self.engine_ref = engine_ref

    def build(self, node: Node, scope: frozenset[str]) -> Evaluator:
        if isinstance(node, Lit):
            value = node.value
            return lambda v: value
        if isinstance(node, Ident):
            return self.ident(node.name, scope)
        if isinstance(node, Select):
            return self.select(node, scope)
        if isinstance(node, Index):
            return self.index(node, scope)
        if isinstance(node, ListLit):
            items = [self.build(i, scope) for i in node.items]
            return lambda v: [f(v) for f in items]
        if isinstance(node, Comp):
            return self.comp(node, scope)
        if isinstance(node, Call):
            return self.call(node, scope)
        return self.engine_ref(node)  # map literals: key kinds and duplicate keys are the engine's

    def ident(self, name: str, scope: frozenset[str]) -> Evaluator:
        if name not in scope and name not in ROOTS:
            # a type name (`int`, `map`), or a variable the engine reports undefined: its own
            raise Unsupported(f"identifier {name}")

        def ident(v: Any) -> Any:
            value = v.get(name)
            if value is _MISSING:
                raise NoValue
            return value

        return ident

    def select(self, node: Select, scope: frozenset[str]) -> Evaluator:
        key = node.field
        root = node.operand
        if not node.test and isinstance(root, Ident) and root.name in ROOTS and root.name not in scope:
            name = root.name
            fields = DIRECT_FIELDS.get(name)
            direct = fields.get(key) if fields is not None else None
            if direct is not None:
                getter = direct

                def direct_field(v: Any) -> Any:  # `request.path`: read off the request itself
                    if type(v) is Vars:
                        value = getter(v.ctx.request)
                    else:
                        m = v.get(name)
                        value = m.get(key, _MISSING) if type(m) is dict or isinstance(m, LazyMap) else _MISSING
                    if value is _MISSING:
                        raise NoValue
                    return value

                return direct_field

            def root_field(v: Any) -> Any:  # `request.path`: one call fewer on the common shape
                m = v.get(name)
                if type(m) is dict or isinstance(m, LazyMap):
                    value = m.get(key, _MISSING)
                    if value is not _MISSING:
                        return value
                raise NoValue

            return root_field
        operand = self.build(node.operand, scope)
        if node.test:

            def has(v: Any) -> bool:
                m = operand(v)
                if type(m) is dict or isinstance(m, LazyMap):
                    return key in m
                raise NoValue

            return has

        def select(v: Any) -> Any:
            m = operand(v)
            if type(m) is dict or isinstance(m, LazyMap):
                value = m.get(key, _MISSING)
                if value is not _MISSING:
                    return value
            raise NoValue

        return select

    def index(self, node: Index, scope: frozenset[str]) -> Evaluator:
        target, lit = node.operand, node.index
        if (
            isinstance(target, Select)
            and not target.test
            and target.field == "headers"
            and isinstance(target.operand, Ident)
            and target.operand.name == "request"
            and "request" not in scope
            and isinstance(lit, Lit)
            and type(lit.value) is str
        ):
            return self.request_header(lit.value, self.build(node.operand, scope))
        operand = self.build(node.operand, scope)
        index = self.build(node.index, scope)

        def index_(v: Any) -> Any:
            m = operand(v)
            i = index(v)
            if type(i) is str and (type(m) is dict or isinstance(m, LazyMap)):
                value = m.get(i, _MISSING)
                if value is _MISSING:
                    raise NoValue
                return value
            if type(m) is list and type(i) is int:
                if 0 <= i < len(m):
                    return m[i]
                raise NoValue
            return _engine_op("_[_]", m, i)

        return index_

    @staticmethod
    def request_header(field: str, headers: Evaluator) -> Evaluator:
        """`request.headers["x-team"]`: one scan of the request's fields, no header map."""
        name = field.lower().encode("utf-8", "replace")

        def header(v: Any) -> Any:
            if type(v) is Vars:
                value = header_value(v.ctx.request.headers, name)
            else:
                m = headers(v)
                value = m.get(field, _MISSING) if type(m) is dict or isinstance(m, LazyMap) else _MISSING
            if value is _MISSING:
                raise NoValue
            return value

        return header

    def comp(self, node: Comp, scope: frozenset[str]) -> Evaluator:
        rng = self.build(node.range, scope)
        inner = scope | {node.var}
        body = self.build(node.body, inner)
        cond = self.build(node.filter, inner) if node.filter is not None else None
        name = node.var
        macro = node.macro
        if macro in ("exists", "all", "exists_one"):

            def quantifier(v: Any) -> bool:
                items = _items(rng(v))
                errored = False
                hits = 0
                for item in items:
                    try:
                        r = body(Bound(v, name, item))
                    except NoValue:
                        errored = True
                        continue
                    if type(r) is not bool:
                        errored = True
                        continue
                    if macro == "exists" and r:
                        return True
                    if macro == "all" and not r:
                        return False
                    hits += r
                if errored:
                    raise NoValue
                if macro == "exists":
                    return False
                if macro == "all":
                    return True
                return hits == 1

            if macro == "exists_one":
                return self.engine_ref(node)  # its error rules differ between engines; rare
            return quantifier

        def collect(v: Any) -> list[Any]:
            out: list[Any] = []
            for item in _items(rng(v)):
                scope_v = Bound(v, name, item)
                if macro == "filter":
                    keep = body(scope_v)
                    if type(keep) is not bool:
                        raise NoValue
                    if keep:
                        out.append(item)
                    continue
                if cond is not None:
                    keep = cond(scope_v)
                    if type(keep) is not bool:
                        raise NoValue
                    if not keep:
                        continue
                out.append(plain(body(scope_v)))
            return out

        return collect

    def call(self, node: Call, scope: frozenset[str]) -> Evaluator:
        name, args = node.name, node.args
        target = node.target
        if target is None:
            if name == "_&&_" or name == "_||_":
                return self.logic(name == "_&&_", self.build(args[0], scope), self.build(args[1], scope))
            if name == "_?_:_":
                return self.ternary(*(self.build(a, scope) for a in args))
            if name == "!_":
                return self.not_(self.build(args[0], scope))
            if name in ("_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_", "@in", "_+_"):
                return self.binary(name, self.build(args[0], scope), self.build(args[1], scope), (args[0], args[1]))
            if name == "size" and len(args) == 1:
                f = self.build(args[0], scope)
                return lambda v: _size(f(v))
            if name == "default" and len(args) == 2:
                return self.default(self.build(args[0], scope), self.build(args[1], scope))
            return self.engine_ref(node)
        if isinstance(target, Ident) and target.name not in ROOTS and target.name not in scope:
            return self.engine_ref(node)  # a namespaced function: base64.encode(...)
        if name == "size" and not args:
            f = self.build(target, scope)
            return lambda v: _size(f(v))
        if (
            name == "containsIP"
            and len(args) == 1
            and isinstance(target, Call)
            and target.name == "cidr"
            and target.target is None
            and len(target.args) == 1
            and isinstance(target.args[0], Lit)
            and type(target.args[0].value) is str
        ):
            return self.contains_ip(target.args[0].value, self.build(args[0], scope))
        if name in ("startsWith", "endsWith", "contains") and len(args) == 1:
            return self.string_test(name, self.build(target, scope), self.build(args[0], scope))
        return self.engine_ref(node)

    @staticmethod
    def logic(is_and: bool, left: Evaluator, right: Evaluator) -> Evaluator:
        decides = not is_and  # `false && x` is false, `true || x` is true

        def logic(v: Any) -> bool:
            a: object
            try:
                a = left(v)
            except NoValue:
                a = _MISSING
            if a is decides:
                return decides
            b: object = right(v)  # raises NoValue: then the whole is an error
            if b is decides:
                return decides
            if type(b) is not bool or type(a) is not bool:
                raise NoValue
            return not decides

        return logic

    @staticmethod
    def ternary(cond: Evaluator, then: Evaluator, other: Evaluator) -> Evaluator:
        def ternary(v: Any) -> Any:
            c = cond(v)
            if c is True:
                return then(v)
            if c is False:
                return other(v)
            raise NoValue

        return ternary

    @staticmethod
    def not_(operand: Evaluator) -> Evaluator:
        def not_(v: Any) -> bool:
            a = operand(v)
            if type(a) is bool:
                return not a
            raise NoValue

        return not_

    @staticmethod
    def default(value: Evaluator, fallback: Evaluator) -> Evaluator:
        def default(v: Any) -> Any:
            try:
                r = value(v)
            except NoValue:
                return fallback(v)
            return fallback(v) if r is None else r

        return default

    def binary(self, name: str, left: Evaluator, right: Evaluator, consts: tuple[Node, Node]) -> Evaluator:
        if name in ("_==_", "_!=_"):
            # against a string or bool literal, any other kind of value is simply unequal
            # (heterogeneous equality): no engine, no type table
            const, other = (consts[1], left) if isinstance(consts[1], Lit) else (consts[0], right)
            if isinstance(const, Lit) and type(const.value) in (str, bool):
                c = const.value
                kind = type(c)
                if name == "_==_":
                    return lambda v: (x := other(v)) is c or (type(x) is kind and x == c)
                return lambda v: not ((x := other(v)) is c or (type(x) is kind and x == c))
        if name == "_==_":
            return lambda v: _eq(left(v), right(v))
        if name == "_!=_":
            return lambda v: not _eq(left(v), right(v))
        if name == "@in":
            return lambda v: _in(left(v), right(v))
        if name == "_+_":
            return lambda v: _add(left(v), right(v))
        return lambda v: _order(name, left(v), right(v))

    def contains_ip(self, network: str, address: Evaluator) -> Evaluator:
        """`cidr("10.0.0.0/8").containsIP(source.address)`: the network parsed once, the address
        by inet_pton (the same answers as functions.contains_ip, a tenth of the time)."""
        try:
            net = ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise Unsupported("invalid cidr: the engine reports it per request") from None
        family = socket.AF_INET if net.version == 4 else socket.AF_INET6
        base = int(net.network_address)
        mask = int(net.netmask)
        mapped = net.version == 4  # an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 one

        def contains(v: Any) -> bool:
            a = address(v)
            if type(a) is not str:
                raise NoValue
            text = a[1:-1] if a[:1] == "[" else a
            try:
                packed = socket.inet_pton(family, text)
            except OSError:
                if not mapped:
                    return False
                try:
                    packed = socket.inet_pton(socket.AF_INET6, text)
                except OSError:
                    return False
                if packed[:12] != _V4_MAPPED:
                    return False
                packed = packed[12:]
            return int.from_bytes(packed, "big") & mask == base

        return contains

    @staticmethod
    def string_test(name: str, target: Evaluator, arg: Evaluator) -> Evaluator:
        def test(v: Any) -> bool:
            s = target(v)
            a = arg(v)
            if type(s) is not str or type(a) is not str:
                raise NoValue
            if name == "startsWith":
                return s.startswith(a)
            if name == "endsWith":
                return s.endswith(a)
            return a in s

        return test


def source_of(node: Node) -> str:
    return unparse(node)
