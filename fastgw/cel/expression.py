"""`Expression`: one CEL expression of the config, compiled once at load, evaluated per request.

    expr = Expression.compile('jwt.sub')           # CelSyntaxError with the engine's message
    value = expr.eval(vars_of(ctx))                # the value, or NO_VALUE

`references` says which variables (and which parts of `request`) the expression reads, so a
policy knows, at config load, whether it must buffer the body (`needs_body`) and the engine gets
only those roots converted. A route with no expression builds nothing per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fastgw.cel import engine
from fastgw.cel.fast import Bound, Evaluator, NoValue, build
from fastgw.cel.parse import Call, Comp, Ident, Index, ListLit, Lit, MapLit, Node, Select, Unsupported, parse, unparse
from fastgw.cel.vars import MISSING, ROOTS, LazyMap, Vars, plain

__all__ = ["NO_VALUE", "CelSyntaxError", "Expression", "References", "merge_references"]


class _NoValueType:
    """What an expression over something absent evaluates to: a log field or label is left out,
    an authorization rule does not match."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __bool__(self) -> bool:
        return False


NO_VALUE: Final = _NoValueType()

#: root -> the parts of it read (only tracked for `request`), None = all of it
References = Mapping[str, frozenset[str] | None]


class CelSyntaxError(ValueError):
    """An expression the engine rejects; the message is the engine's (position and caret)."""


class Expression:
    __slots__ = ("_evaluate", "errors", "references", "source")

    def __init__(self, source: str, evaluate: Evaluator, references: References) -> None:
        self.source = source
        self._evaluate = evaluate
        self.references = references
        #: evaluations that ended in a CEL error in this worker (a missing key included)
        self.errors = 0

    @classmethod
    def compile(cls, source: str) -> Expression:
        try:
            program = engine.compile_program(source)
        except ValueError as exc:
            raise CelSyntaxError(_engine_message(str(exc))) from None
        evaluate = None
        refs: dict[str, frozenset[str] | None]
        try:
            node = parse(source)
            refs = _references(node, frozenset())
            evaluate = build(node, frozenset(refs), _subtree_evaluator)
        except (Unsupported, RecursionError):
            pass
        if evaluate is None:
            # the whole expression is the engine's; it reads every root it names, wholly
            refs = {n: None for n in program.variables() if n in ROOTS}
            return cls(source, _engine_evaluator(program, refs, ()), refs)
        return cls(source, evaluate, refs)

    @property
    def roots(self) -> frozenset[str]:
        return frozenset(self.references)

    @property
    def needs_body(self) -> bool:
        """Whether evaluating it reads the request body (`request.body`, `llm.prompt`)."""
        refs = self.references
        if "request" in refs:
            parts = refs["request"]
            if parts is None or "body" in parts:
                return True
        return "llm" in refs

    def eval(self, variables: Vars) -> Any:
        """The expression's value for this request, or NO_VALUE."""
        try:
            return plain(self._evaluate(variables))
        except NoValue:
            self.errors += 1
            return NO_VALUE

    def matches(self, variables: Vars) -> bool:
        """True only when the expression evaluates to true (an error or a non-bool does not match)."""
        try:
            return self._evaluate(variables) is True
        except NoValue:
            self.errors += 1
            return False

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def _engine_message(text: str) -> str:
    # "Failed to parse expression '<src>': ERROR: <input>:1:4: Syntax error: ... | <src> | ...^"
    _, sep, rest = text.partition("ERROR: ")
    message = rest if sep else text
    return " ".join(line.strip() for line in message.splitlines() if line.strip() and not line.startswith("|"))


def merge_references(*groups: References) -> dict[str, frozenset[str] | None]:
    out: dict[str, frozenset[str] | None] = {}
    for refs in groups:
        for name, parts in refs.items():
            if name in out:
                have = out[name]
                out[name] = None if have is None or parts is None else have | parts
            else:
                out[name] = parts
    return out


def _references(node: Node, scope: frozenset[str]) -> dict[str, frozenset[str] | None]:
    """Roots `node` reads; for `request`, the fields read (None: the whole of it)."""
    found: dict[str, frozenset[str] | None] = {}

    def add(name: str, part: str | None) -> None:
        if name in found:
            have = found[name]
            found[name] = None if have is None or part is None else have | {part}
        else:
            found[name] = None if part is None else frozenset({part})

    def walk(n: Node, scope: frozenset[str]) -> None:
        if isinstance(n, Ident):
            if n.name in ROOTS and n.name not in scope:
                add(n.name, None)
            return
        if isinstance(n, Select | Index):
            inner = n.operand
            if isinstance(inner, Ident) and inner.name in ROOTS and inner.name not in scope:
                part: str | None = None
                if isinstance(n, Select):
                    part = n.field
                elif isinstance(n.index, Lit) and isinstance(n.index.value, str):
                    part = n.index.value
                else:
                    walk(n.index, scope)
                add(inner.name, part)
                return
            walk(inner, scope)
            if isinstance(n, Index):
                walk(n.index, scope)
            return
        if isinstance(n, Call):
            if n.target is not None:
                walk(n.target, scope)
            for a in n.args:
                walk(a, scope)
            return
        if isinstance(n, Comp):
            walk(n.range, scope)
            inner_scope = scope | {n.var}
            walk(n.body, inner_scope)
            if n.filter is not None:
                walk(n.filter, inner_scope)
            return
        if isinstance(n, ListLit):
            for i in n.items:
                walk(i, scope)
            return
        if isinstance(n, MapLit):
            for k, v in n.entries:
                walk(k, scope)
                walk(v, scope)
            return
        assert isinstance(n, Lit)

    walk(node, scope)
    # parts are tracked for `request` only (the one root whose parts cost differently)
    return {k: (v if k == "request" else None) for k, v in found.items()}


def _free_vars(node: Node) -> frozenset[str]:
    """Identifiers `node` reads that are not roots nor bound inside it: the comprehension variables
    of an enclosing macro (a namespace such as `base64` lands here too, and is never bound)."""
    names: set[str] = set()

    def walk(n: Node, bound: frozenset[str]) -> None:
        if isinstance(n, Ident):
            if n.name not in ROOTS and n.name not in bound:
                names.add(n.name)
        elif isinstance(n, Select):
            walk(n.operand, bound)
        elif isinstance(n, Index):
            walk(n.operand, bound)
            walk(n.index, bound)
        elif isinstance(n, Call):
            if n.target is not None:
                walk(n.target, bound)
            for a in n.args:
                walk(a, bound)
        elif isinstance(n, Comp):
            walk(n.range, bound)
            walk(n.body, bound | {n.var})
            if n.filter is not None:
                walk(n.filter, bound | {n.var})
        elif isinstance(n, ListLit):
            for i in n.items:
                walk(i, bound)
        elif isinstance(n, MapLit):
            for k, v in n.entries:
                walk(k, bound)
                walk(v, bound)

    walk(node, frozenset())
    return frozenset(names)


def _subtree_evaluator(node: Node) -> Evaluator:
    """An evaluator handing `node` to the engine, with the comprehension variables it reads bound."""
    program = engine.compile_program(unparse(node))
    refs = _references(node, frozenset())
    return _engine_evaluator(program, refs, tuple(sorted(_free_vars(node))))


def _engine_evaluator(program: engine.Program, refs: References, free: tuple[str, ...]) -> Evaluator:
    def evaluate(v: Any) -> Any:
        if free and isinstance(v, Bound):
            # inside a comprehension: the engine needs the loop variables bound, on a fresh context
            root = v.root_vars()
            bound = {k: val for k, val in v.bound().items() if k in free}
            context = engine.new_context({**_plain_roots(root, refs), **bound})
        else:
            root = v.root_vars() if isinstance(v, Bound) else v
            context = root.engine_context(refs)
        try:
            return engine.run(program, context)
        except engine.EngineError:
            raise NoValue from None

    return evaluate


def _plain_roots(root: Vars, refs: References) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, parts in refs.items():
        value = root.get(name)
        if value is MISSING:
            continue
        if isinstance(value, LazyMap):
            value = value.plain(parts if name == "request" else None)
        out[name] = value
    return out
