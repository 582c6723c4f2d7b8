"""The ``llm:`` block's backend: the client's model picks a configured model entry (and its provider).

``/v1/models`` (and ``/models``, ``/v1/models/<id>``) is answered locally from the configured names
that are models: a pattern (``claude-*``) routes every model it matches but names none, so it is not
listed. Router errors use the OpenAI envelope whatever the path, as agentgateway's model router does.

A stored Responses API response (``GET``/``DELETE /v1/responses/{id}``, ``.../cancel``) names no
model: it goes to the first configured model whose provider has the Responses API itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

import orjson

from fastgw.backends.llm.backend import read_view, serve_target
from fastgw.backends.llm.failover import serve_virtual
from fastgw.backends.llm.routes import RESPONSES_PREFIX, RouteTable, RouteType, llm_mode_routes
from fastgw.backends.llm.target import Target
from fastgw.backends.llm.types import WireFormat
from fastgw.balance.select import Balancer
from fastgw.cel.vars import vars_of
from fastgw.context import RequestContext
from fastgw.errors import Dialect, GatewayError

if TYPE_CHECKING:
    from fastgw.cel.expression import Expression

_JSON: Final = (b"content-type", b"application/json")


# a client picks the model it names: the echo in the error message is bounded
_MODEL_ECHO_CHARS: Final = 256


class ModelNotFound(GatewayError):
    status = 404
    reason = "model_not_found"
    metric_reason = "NotFound"
    api_type = "invalid_request_error"
    text = "Model not found"

    @classmethod
    def of(cls, model: str) -> ModelNotFound:
        """Naming the model, in OpenAI's words; control characters escaped, long names cut."""
        if len(model) > _MODEL_ECHO_CHARS:
            model = model[:_MODEL_ECHO_CHARS] + "..."
        if not model.isprintable():
            model = "".join(c if c.isprintable() else repr(c)[1:-1] for c in model)
        return cls(f"The model `{model}` does not exist or you do not have access to it.")


class ModelPattern:
    """``name`` of an ``llm.models[]`` entry: exact, ``prefix*``, ``*suffix`` or ``*``."""

    __slots__ = ("exact", "prefix", "suffix")

    def __init__(self, name: str) -> None:
        if "*" in name:
            self.exact: str | None = None
            self.prefix, _, self.suffix = name.partition("*")
        else:
            self.exact, self.prefix, self.suffix = name, "", ""

    def matches(self, model: str) -> bool:
        if self.exact is not None:
            return model == self.exact
        return (
            len(model) >= len(self.prefix) + len(self.suffix)
            and model.startswith(self.prefix)
            and model.endswith(self.suffix)
        )


class NoMatchingTarget(GatewayError):
    status = 400
    reason = "virtual_model_no_matching_target"
    api_type = "invalid_request_error"
    text = "no target of the virtual model matches the request"


#: a conditional virtual model: (CEL `when` over `llmRequest`, None for the fallback; its target)
Conditional = tuple[tuple["Expression | None", Target], ...]


class LlmRouter:
    """Serves every path of the ``llm:`` port; models are tried in config order, after the
    virtual models (``failover``: priority tiers, ``weighted``: one tier with weights; each a
    `Balancer` over the models' targets, with the models' ``health`` rules)."""

    __slots__ = ("_conditional", "_list", "_models", "_objects", "_responses", "_routes", "_virtual")

    name = "llm"

    def __init__(
        self,
        models: Sequence[tuple[str, Target]],
        created: int,
        virtual: Mapping[str, Balancer[Target]] | None = None,
        internal: frozenset[str] = frozenset(),
        conditional: Mapping[str, Conditional] | None = None,
    ) -> None:
        self._conditional = dict(conditional or {})
        self._models = tuple((ModelPattern(name), target) for name, target in models if name not in internal)
        self._virtual = dict(virtual or {})
        objects = {
            name: {"id": name, "object": "model", "created": created, "owned_by": target.spec.telemetry_name}
            for name, target in models
            if "*" not in name and name not in internal
        }
        for name, balancer in self._virtual.items():
            owner = balancer.endpoints[0].value.spec.telemetry_name
            objects[name] = {"id": name, "object": "model", "created": created, "owned_by": owner}
        for name, choices in self._conditional.items():
            owner = choices[0][1].spec.telemetry_name
            objects[name] = {"id": name, "object": "model", "created": created, "owned_by": owner}
        self._objects = {name: orjson.dumps(obj) for name, obj in objects.items()}
        self._list = orjson.dumps({"object": "list", "data": list(objects.values())})
        self._routes: RouteTable = llm_mode_routes()
        #: where requests about a stored response go (they carry no model)
        self._responses = next(
            (t for _, t in models if t.spec.formats.get(RouteType.RESPONSES) is WireFormat.RESPONSES), None
        )

    def find(self, model: str) -> Target | None:
        for pattern, target in self._models:
            if pattern.matches(model):
                return target
        return None

    def start_fast(self, ctx: RequestContext) -> bool:
        return False  # the model is in the body: it must be read first

    async def serve(self, ctx: RequestContext) -> None:
        ctx.dialect = Dialect.OPENAI
        path = ctx.path.decode("latin-1")
        if path in ("/v1/models", "/models"):
            ctx.respond(200, [_JSON], self._list)
            return
        if path.startswith(("/v1/models/", "/models/")):
            model = path.split("/models/", 1)[1]
            found = self._objects.get(model)
            if found is None:
                raise ModelNotFound.of(model)
            ctx.respond(200, [_JSON], found)
            return
        # (a retry's try: the pipeline holds the body)
        body = ctx.body_bytes if ctx.body_bytes is not None else await ctx.request.body.read_all()
        if not body and RESPONSES_PREFIX in path:
            stored = self._responses
            if stored is None:
                raise ModelNotFound("no configured model's provider stores responses (the OpenAI Responses API)")
            await serve_target(ctx, stored, RouteType.PASSTHROUGH, body)
            return
        view = read_view(body)
        model = view.model or ""
        balancer = self._virtual.get(model)
        if balancer is not None:
            await serve_virtual(ctx, balancer, self._routes.resolve(path), body, view)
            return
        choices = self._conditional.get(model)
        if choices is not None:
            await serve_target(ctx, _choose(ctx, choices, body), self._routes.resolve(path), body, view)
            return
        target = self.find(model)
        if target is None:
            raise ModelNotFound.of(model)
        await serve_target(ctx, target, self._routes.resolve(path), body, view)


def _choose(ctx: RequestContext, choices: Conditional, body: bytes) -> Target:
    """The first target whose `when` holds over the request body (`llmRequest`), else the fallback."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    variables = vars_of(ctx)
    variables.set("llmRequest", data if isinstance(data, dict) else {})
    for when, target in choices:
        if when is None or when.matches(variables):
            return target
    raise NoMatchingTarget()
