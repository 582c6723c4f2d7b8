"""CEL: agentgateway's expression language, compiled once at config load, evaluated per request.

`Expression.compile(text)` checks an expression (the engine's message on a syntax error);
`expr.eval(vars_of(ctx))` gives its value or `NO_VALUE`; `expr.matches(...)` is true only for a
true result. See `engine.py` (the compiled engine and why), `fast.py` (fastgw's evaluator for the
common shapes), `vars.py` (the lazy per-request variables) and `functions.py`.
"""

from fastgw.cel.expression import NO_VALUE, CelSyntaxError, Expression, References, merge_references
from fastgw.cel.vars import Vars, vars_of

__all__ = ["NO_VALUE", "CelSyntaxError", "Expression", "References", "Vars", "merge_references", "vars_of"]
